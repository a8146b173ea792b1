//! One-way logical replication between two PostgreSQL clusters on loopback (DMTN-227's merge
//! tree): the archive published on one, a replica subscribed on a second cluster this test
//! starts with scripts/pg-cluster, skyport serving the replica read-only with the same answers,
//! and a later ingest at the source arriving at the replica. Needs `SKYPORT_PG_URL`.

use super::common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{config, run_ok, serve, small_demo};
use skyport_store::postgres::scratch::{test_url, ScratchDatabase};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A second PostgreSQL cluster, stopped and removed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    url: String,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("dir");
        let out = Command::new(repo().join("scripts/pg-cluster"))
            .arg("start")
            .arg(dir.path().join("cluster"))
            .output()
            .expect("scripts/pg-cluster");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Cluster { dir, url }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/pg-cluster"))
            .arg("stop")
            .arg(self.dir.path().join("cluster"))
            .output();
    }
}

async fn tap(base: &str, query: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!("{base}/tap/sync"))
        .form(&[("LANG", "ADQL"), ("FORMAT", "csv"), ("QUERY", query)])
        .send()
        .await
        .expect("tap")
        .text()
        .await
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_on_another_cluster_serves_the_same_archive() {
    let Some(url) = test_url("replication") else {
        return;
    };
    let source = ScratchDatabase::create(&url, "replication")
        .await
        .expect("db");
    let replica_cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("tmp");
    let demo = small_demo(dir.path());
    let (source_config, _) = config(&demo, "source", &format!("url = \"{}\"", source.url));
    let (replica_config, replica_base) = config(
        &demo,
        "replica",
        &format!(
            "url = \"{}\"\njobs = \"jobs-replica\"\nread_only = true",
            replica_cluster.url
        ),
    );
    let os = OsStr::new;
    run_ok(&[
        os("ingest"),
        os("--config"),
        source_config.as_os_str(),
        demo.join("data").as_os_str(),
    ]);
    run_ok(&[
        os("replicate"),
        os("publish"),
        os("--config"),
        source_config.as_os_str(),
    ]);
    let name = "skyport_replica_test";
    let subscribed = run_ok(&[
        os("replicate"),
        os("subscribe"),
        os("--publisher"),
        os(&source.url),
        os("--name"),
        os(name),
        os("--config"),
        replica_config.as_os_str(),
    ]);
    assert!(subscribed.contains("is replicating"), "{subscribed}");

    // The replica is read-only for skyport: ingest is refused there.
    let refused = Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(["ingest", "--config"])
        .arg(&replica_config)
        .arg(demo.join("data"))
        .output()
        .expect("ingest on the replica");
    let refused_text = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(
        !refused.status.success() && refused_text.contains("read-only"),
        "{refused_text}"
    );

    let server = serve(&replica_config, replica_base.clone()).await;
    let query = "SELECT obs_publisher_did, s_ra, s_dec, s_region FROM ivoa.ObsCore ORDER BY obs_publisher_did";
    let served = tap(&replica_base, query).await;
    // What the source holds that an anonymous caller may see (the demo's proprietary images are
    // released only in 2099), read straight from it.
    let source_rows = {
        let (client, connection) = tokio_postgres::connect(&source.url, tokio_postgres::NoTls)
            .await
            .expect("connect source");
        tokio::spawn(connection);
        client
            .query(
                "SELECT obs_publisher_did FROM ivoa.\"ObsCore\" \
                 WHERE obs_release_date IS NULL OR obs_release_date <= now() ORDER BY obs_publisher_did",
                &[],
            )
            .await
            .expect("source rows")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    let served_ids: Vec<&str> = served
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert!(source_rows.len() >= 10);
    assert_eq!(
        served_ids, source_rows,
        "the replica serves every public source row"
    );

    // A cone search on the replica uses its own GiST index and finds the same images.
    let cone = "SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE INTERSECTS(s_region, CIRCLE(53.1, -28.1, 1)) = 1";
    let n = tap(&replica_base, cone).await;
    assert!(
        n.lines()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v > 0),
        "{n}"
    );

    // Ingest at the source arrives at the replica.
    let extra = demo.join("data/real/extra-m13.fits");
    std::fs::copy(repo().join("testdata/fits/pypi_astropy/m13.fits"), &extra).expect("copy");
    run_ok(&[
        os("ingest"),
        os("--config"),
        source_config.as_os_str(),
        extra.as_os_str(),
    ]);
    let mut arrived = false;
    for _ in 0..100 {
        if tap(
            &replica_base,
            "SELECT obs_id FROM ivoa.ObsCore WHERE obs_id = 'extra-m13'",
        )
        .await
        .contains("extra-m13")
        {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(arrived, "a new image reaches the replica");

    // ConsDB rows and their history reach the replica: header ingest at the source, then a
    // correction made straight in SQL (its history version comes from the source's trigger;
    // the replica's triggers do not fire for replicated rows, so nothing is recorded twice).
    let detectors: Vec<std::path::PathBuf> = std::fs::read_dir(demo.join("data/lsst"))
        .expect("lsst data")
        .flatten()
        .flat_map(|day| {
            std::fs::read_dir(day.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .flat_map(|exp| {
            std::fs::read_dir(exp.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|f| f.path())
        .collect();
    assert!(!detectors.is_empty());
    let mut args = vec![
        os("consdb").to_os_string(),
        os("ingest-headers").to_os_string(),
        os("--config").to_os_string(),
        source_config.as_os_str().to_os_string(),
        os("--instrument").to_os_string(),
        os("lsstcam").to_os_string(),
    ];
    args.extend(detectors.iter().map(|d| d.as_os_str().to_os_string()));
    let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_ok(&refs);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    {
        let (client, connection) = tokio_postgres::connect(&source.url, tokio_postgres::NoTls)
            .await
            .expect("connect source");
        tokio::spawn(connection);
        client
            .execute(
                "UPDATE cdb_lsstcam.exposure SET airmass = 2.5 WHERE seq_num = 100",
                &[],
            )
            .await
            .expect("correction");
    }
    let history = "SELECT version, airmass, superseded_at FROM cdb_lsstcam.exposure_history WHERE seq_num = 100 ORDER BY version";
    let mut replicated = String::new();
    for _ in 0..100 {
        replicated = tap(&replica_base, history).await;
        if replicated.lines().count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines: Vec<&str> = replicated.lines().collect();
    assert_eq!(lines.len(), 3, "two versions on the replica: {replicated}");
    assert!(
        lines[1].starts_with("1,") && !lines[1].ends_with(','),
        "version 1 superseded: {replicated}"
    );
    assert!(
        lines[2].starts_with("2,2.5,") && lines[2].ends_with(','),
        "version 2 current: {replicated}"
    );
    let current = tap(
        &replica_base,
        "SELECT COUNT(*) AS n FROM cdb_lsstcam.exposure WHERE airmass = 2.5",
    )
    .await;
    assert_eq!(current.lines().nth(1), Some("1"), "{current}");
    // The replica answers as_of from the replicated history.
    let exposure_id: i64 = 2025120100100;
    let then: serde_json::Value = common::client()
        .get(format!(
            "{replica_base}/consdb/query/lsstcam/exposure/obs/{exposure_id}?as_of={between}"
        ))
        .send()
        .await
        .expect("as_of")
        .json()
        .await
        .expect("json");
    let before = then["airmass"].as_f64().expect("airmass then");
    assert!(
        (before - 2.5).abs() > 0.1,
        "the value before the correction: {then}"
    );
    drop(server);
    // The slot on the source goes with the subscription, so the source database can be dropped.
    run_ok(&[
        os("replicate"),
        os("unsubscribe"),
        os("--name"),
        os(name),
        os("--config"),
        replica_config.as_os_str(),
    ]);
}
