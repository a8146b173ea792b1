//! Two `skyport serve` processes on one PostgreSQL database and one shared job directory,
//! behind the same clients: async TAP and SODA jobs created on one server run on either and
//! are served, with the same phases, by both; a job deleted through one is gone from the other.
//! Needs `SKYPORT_PG_URL` (scripts/test starts a server); skipped otherwise.

use super::common;

use std::ffi::OsStr;
use std::time::Duration;

use common::{client, config, run_ok, serve, small_demo, Server};
use skyport_store::postgres::scratch::{test_url, ScratchDatabase};

/// Creates and starts a job at `endpoint` of `server`; returns its id.
async fn submit(server: &Server, endpoint: &str, form: &[(&str, &str)]) -> String {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("PHASE", "RUN"));
    let r = client()
        .post(format!("{}{endpoint}", server.base))
        .form(&form)
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status().as_u16(), 303, "job creation redirects");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    location.rsplit('/').next().expect("job id").to_string()
}

async fn phase(server: &Server, endpoint: &str, id: &str) -> String {
    let r = client()
        .get(format!("{}{endpoint}/{id}/phase", server.base))
        .send()
        .await
        .expect("phase");
    if r.status().as_u16() == 404 {
        return "GONE".into();
    }
    r.text().await.expect("body").trim().to_string()
}

async fn finished(server: &Server, endpoint: &str, id: &str) -> String {
    for _ in 0..300 {
        let p = phase(server, endpoint, id).await;
        if !matches!(p.as_str(), "PENDING" | "QUEUED" | "EXECUTING") {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never finished")
}

async fn bytes(url: String) -> Vec<u8> {
    let r = client().get(url).send().await.expect("get");
    assert!(r.status().is_success(), "{}", r.status());
    r.bytes().await.expect("body").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_postgres_database() {
    let Some(url) = test_url("two servers") else {
        return;
    };
    let db = ScratchDatabase::create(&url, "two_servers")
        .await
        .expect("db");
    let dir = tempfile::tempdir().expect("tmp");
    let demo = small_demo(dir.path());
    let jobs = dir.path().join("shared-jobs");
    let database = format!(
        "url = \"{}\"\njobs = {:?}",
        db.url,
        jobs.display().to_string()
    );
    let (config_a, base_a) = config(&demo, "a", &database);
    let (config_b, base_b) = config(&demo, "b", &database);
    run_ok(&[
        OsStr::new("ingest"),
        OsStr::new("--config"),
        config_a.as_os_str(),
        demo.join("data").as_os_str(),
    ]);
    let a = serve(&config_a, base_a).await;
    let b = serve(&config_b, base_b).await;

    let query =
        "SELECT obs_publisher_did, s_ra, s_dec FROM ivoa.ObsCore ORDER BY obs_publisher_did";
    let sync = |server: &Server| {
        format!(
            "{}/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
            server.base,
            query.replace(' ', "+")
        )
    };
    let expected = bytes(sync(&a)).await;
    assert_eq!(
        bytes(sync(&b)).await,
        expected,
        "both servers read the same archive"
    );
    let rows = String::from_utf8_lossy(&expected).lines().count() - 1;
    assert!(rows >= 10, "{rows} ObsCore rows");

    // Jobs created on each server, followed and read through the other.
    let mut ids = Vec::new();
    for i in 0..6 {
        let (on, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let id = submit(
            on,
            "/tap/async",
            &[("LANG", "ADQL"), ("FORMAT", "csv"), ("QUERY", query)],
        )
        .await;
        ids.push((id, other));
    }
    for (id, other) in &ids {
        assert_eq!(finished(other, "/tap/async", id).await, "COMPLETED", "{id}");
        let result = bytes(format!("{}/tap/async/{id}/results/result", other.base)).await;
        assert_eq!(result, expected, "{id}");
    }

    // A SODA cutout job the same way.
    let first = String::from_utf8_lossy(&expected)
        .lines()
        .nth(1)
        .expect("a row")
        .to_string();
    let fields: Vec<&str> = first.split(',').collect();
    let circle = format!("{} {} 0.01", fields[1], fields[2]);
    let id = submit(
        &a,
        "/soda/async",
        &[("ID", fields[0]), ("CIRCLE", circle.as_str())],
    )
    .await;
    assert_eq!(finished(&b, "/soda/async", &id).await, "COMPLETED");
    assert_eq!(phase(&a, "/soda/async", &id).await, "COMPLETED");
    let listing =
        String::from_utf8(bytes(format!("{}/soda/async/{id}/results", b.base)).await).expect("xml");
    let href = listing
        .split("xlink:href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a result link")
        .replace("&amp;", "&");
    let path = href.splitn(4, '/').nth(3).expect("path");
    let fits = bytes(format!("{}/{path}", b.base)).await;
    assert!(fits.starts_with(b"SIMPLE  ="), "a FITS cutout");

    // Deleted through one server, gone from both.
    let (gone, _) = &ids[0];
    let r = client()
        .post(format!("{}/tap/async/{gone}", b.base))
        .form(&[("ACTION", "DELETE")])
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(phase(&a, "/tap/async", gone).await, "GONE");
    assert!(!jobs.join(gone).exists(), "its files are removed");
    drop((a, b));
}
