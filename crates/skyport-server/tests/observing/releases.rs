//! Data releases, on the suite's backend: a frozen release answers with the rows it had when
//! it was frozen while the live archive gains images; a label answers from the live archive
//! bounded to its collections; a release's links stay under its own base URL and answer; and
//! nothing of another collection can be reached through a release (hidden is absent).

use super::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{call, call_bytes, get};
use serde_json::Value;
use skyport_consdb::{build_record, default_bands, DataRoot, IngestSettings};
use skyport_server::releases::{ReleaseSpec, Snapshot};
use skyport_server::{app, AppState, ServerSettings};
use skyport_store::{SqliteStore, Store};

const BASE: &str = "http://127.0.0.1:8080";

fn q(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// ObsCore's rows through `prefix`'s TAP (`""` or `/releases/dr1`), by DID.
async fn obscore(app: &axum::Router, prefix: &str) -> Vec<(String, Value)> {
    let rows = common::tap_rows(
        app,
        prefix,
        "SELECT * FROM ivoa.ObsCore ORDER BY obs_publisher_did",
    )
    .await;
    rows.into_iter()
        .map(|r| {
            let did = r["obs_publisher_did"].as_str().expect("did").to_string();
            (did, Value::Object(r))
        })
        .collect()
}

fn root(name: &str, path: &Path, collection: &str, released: Option<&str>) -> DataRoot {
    DataRoot {
        name: name.into(),
        path: path.to_path_buf(),
        collection: collection.into(),
        calib_level: 2,
        instrument: None,
        obscore: Vec::new(),
        release_date: released.map(str::to_string),
    }
}

/// Copies `file` into `dir` and ingests it into `store`.
async fn ingest(store: &Arc<dyn Store>, settings: &IngestSettings, dir: &Path, file: &str) {
    let source = common::testdata(file);
    let copy = dir.join(source.file_name().expect("name"));
    std::fs::copy(&source, &copy).expect("copy");
    store
        .upsert_image(build_record(settings, &copy).expect("record"))
        .await
        .expect("upsert");
}

#[tokio::test]
async fn a_frozen_release_keeps_its_rows_and_a_label_follows_the_archive() {
    let dir = tempfile::tempdir().expect("dir");
    let survey = dir.path().join("survey");
    let prompt = dir.path().join("prompt");
    std::fs::create_dir_all(&survey).expect("mkdir");
    std::fs::create_dir_all(&prompt).expect("mkdir");
    let (store, _database) = common::test_store(dir.path()).await;
    let settings = IngestSettings {
        authority: "skyport.test".into(),
        roots: vec![
            // A release date in the past: the snapshot must keep it as the live archive
            // compares it (PostgreSQL's text of it differs from SQLite's).
            root(
                "survey",
                &survey,
                "survey",
                Some("2020-01-01T00:00:00.000000"),
            ),
            root("prompt", &prompt, "prompt-images", None),
        ],
        bands: default_bands(),
        require_wcs: true,
    };
    ingest(&store, &settings, &survey, "pypi_astropy/m13.fits").await;
    ingest(&store, &settings, &survey, "pypi_astropy/comp.fits").await;
    ingest(&store, &settings, &prompt, "pypi_astropy/sip-wcs.fits").await;

    // Freeze dr1 (the survey collection) as `skyport release freeze` does.
    let snapshot_path: PathBuf = dir.path().join("releases/dr1.sqlite");
    std::fs::create_dir_all(snapshot_path.parent().expect("dir")).expect("mkdir");
    let bands = default_bands();
    let copied = skyport_store::release::freeze_into(
        store.as_ref(),
        &snapshot_path,
        &skyport_schema::builtin_schemas(),
        &["survey".to_string()],
        &move |lo, hi| skyport_consdb::band_of_range(&bands, lo, hi),
    )
    .await
    .expect("freeze");
    assert_eq!(copied.images, 2);
    // A snapshot is only ever written anew.
    assert!(skyport_store::release::freeze_into(
        store.as_ref(),
        &snapshot_path,
        &skyport_schema::builtin_schemas(),
        &["survey".to_string()],
        &|_, _| None,
    )
    .await
    .is_err());

    let snapshot: Arc<dyn Store> = Arc::new(SqliteStore::open(&snapshot_path, 2).expect("open"));
    let releases = vec![
        ReleaseSpec {
            name: "dr1".into(),
            description: "data release 1".into(),
            collections: vec!["survey".into()],
            snapshot: Some(Snapshot {
                store: snapshot,
                frozen_at: "2026-12-06T00:00:00Z".into(),
                images: copied.images,
            }),
        },
        ReleaseSpec {
            name: "prompt".into(),
            description: "prompt processing".into(),
            collections: vec!["prompt-images".into()],
            snapshot: None,
        },
    ];
    let state = AppState::start_with_releases(
        Arc::clone(&store),
        ServerSettings {
            ..common::server_settings(
                dir.path(),
                vec![
                    ("survey".into(), survey.clone()),
                    ("prompt".into(), prompt.clone()),
                ],
                skyport_server::Limits::default(),
            )
        },
        releases,
    )
    .await
    .expect("state");
    let app = app(Arc::clone(&state));

    let live_before = obscore(&app, "").await;
    assert_eq!(live_before.len(), 3);
    let dr1_before = obscore(&app, "/releases/dr1").await;
    let dids: Vec<&str> = dr1_before.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        dids,
        [
            "ivo://skyport.test/survey?comp",
            "ivo://skyport.test/survey?m13"
        ]
    );
    // The release's rows are the live rows of its collection, with links under its own base.
    for (did, row) in &dr1_before {
        let (_, live) = live_before
            .iter()
            .find(|(d, _)| d == did)
            .expect("live row");
        for (column, value) in row.as_object().expect("row") {
            if column == "access_url" {
                let path = live[column].as_str().expect("url").strip_prefix(BASE);
                assert_eq!(
                    value.as_str(),
                    path.map(|p| format!("{BASE}/releases/dr1{p}")).as_deref()
                );
            } else if column == "obs_release_date" {
                // The same instant; each backend writes its text its own way.
                let instant = |v: &Value| v.as_str().and_then(skyport_schema::time::parse_iso);
                assert!(instant(value).is_some(), "{did}: {value}");
                assert_eq!(instant(value), instant(&live[column]), "{did}");
            } else {
                assert_eq!(value, &live[column], "{did} {column}");
            }
        }
    }
    let prompt_before = obscore(&app, "/releases/prompt").await;
    assert_eq!(prompt_before.len(), 1);

    // The live archive gains an image in each collection.
    ingest(&store, &settings, &survey, "pypi_astropy/m13_rice.fits").await;
    ingest(
        &store,
        &settings,
        &prompt,
        "pypi_reproject/test_small_cutout.fits",
    )
    .await;
    assert_eq!(obscore(&app, "").await.len(), 5);
    assert_eq!(
        obscore(&app, "/releases/dr1").await,
        dr1_before,
        "the frozen release answers as before"
    );
    let prompt_after = obscore(&app, "/releases/prompt").await;
    assert_eq!(prompt_after.len(), 2, "a label follows the live archive");
    assert!(prompt_after
        .iter()
        .all(|(d, _)| d.starts_with("ivo://skyport.test/prompt-images?")));

    // SIA and the coverage maps see the release's images only.
    let (status, _, body) = call(&app, get("/releases/dr1/sia/query?MAXREC=100")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.matches("<TR>").count(), 2, "{body}");
    let (_, _, body) = call(&app, get("/releases/dr1/moc")).await;
    let mocs: Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = mocs["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["collection"].as_str())
        .collect();
    assert_eq!(names, ["survey"]);

    // DataLink: every link under the release's base, and its file answers with the bytes.
    let m13 = "ivo://skyport.test/survey?m13";
    let (status, _, links) = call(
        &app,
        get(&format!("/releases/dr1/datalink/links?ID={}", q(m13))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{links}");
    let urls: Vec<&str> = links
        .split(['<', '>'])
        .filter(|t| t.starts_with("http://127.0.0.1:8080/"))
        .collect();
    assert!(!urls.is_empty(), "{links}");
    assert!(
        urls.iter()
            .all(|u| u.starts_with(&format!("{BASE}/releases/dr1/"))),
        "{urls:?}"
    );
    let file = format!("{BASE}/releases/dr1/files/survey/m13.fits");
    assert!(urls.contains(&file.as_str()), "{urls:?}");
    let (status, _, bytes) = call_bytes(&app, get(&file[BASE.len()..])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, std::fs::read(survey.join("m13.fits")).expect("read"));
    let (status, _, cutout) = call_bytes(
        &app,
        get(&format!(
            "/releases/dr1/soda/sync?ID={}&CIRCLE=250.4226+36.4602+0.01",
            q(m13)
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(cutout.starts_with(b"SIMPLE  ="));

    // An image of another collection is, through the release, what an absent one is.
    let other = "ivo://skyport.test/prompt-images?sip-wcs";
    let absent = "ivo://skyport.test/survey?nothing";
    for (service, suffix) in [
        ("datalink/links", ""),
        ("soda/sync", "&CIRCLE=250.4226+36.4602+0.01"),
    ] {
        let of = |did: &str| format!("/releases/dr1/{service}?ID={}{suffix}", q(did));
        let (s1, _, b1) = call(&app, get(&of(other))).await;
        let (s2, _, b2) = call(&app, get(&of(absent))).await;
        assert_eq!(s1, s2, "{service}");
        assert_eq!(b1.replace(other, "X"), b2.replace(absent, "X"), "{service}");
    }
    let (status, _, _) = call(&app, get("/releases/dr1/files/prompt/sip-wcs.fits")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Async jobs of a release run on its data and are recorded in the live archive.
    let (status, headers, body) = call(
        &app,
        Request::post("/releases/dr1/tap/async")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "LANG=ADQL&PHASE=RUN&FORMAT=csv&QUERY={}",
                q("SELECT COUNT(*) AS n FROM ivoa.ObsCore")
            )))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = headers["location"].to_str().expect("location").to_string();
    assert!(location.starts_with(&format!("{BASE}/releases/dr1/tap/async/")));
    let job = &location[BASE.len()..];
    let document = common::wait_final(&app, job).await;
    assert!(document.contains("COMPLETED"), "{document}");
    let (_, _, result) = call(&app, get(&format!("{job}/results/result"))).await;
    assert_eq!(result.lines().nth(1), Some("2"), "{result}");
    let jobs = store.load_jobs().await.expect("jobs");
    assert!(jobs.iter().any(|j| j.service == "tap@dr1"), "{jobs:?}");

    // A body over axum's own default limit (2 MiB) but within the archive's is read alike by
    // the archive and by a release.
    let big = format!("LANG=ADQL&QUERY=SELECT+1+{}", "-".repeat(3 << 20));
    let mut statuses = Vec::new();
    for prefix in ["", "/releases/dr1"] {
        let (status, _, body) = call(
            &app,
            Request::post(format!("{prefix}/tap/sync"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(big.clone()))
                .expect("request"),
        )
        .await;
        assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{prefix}: {body}");
        statuses.push(status);
    }
    assert_eq!(statuses[0], statuses[1]);

    // The list, and a release that does not exist.
    let (status, _, body) = call(&app, get("/releases")).await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&body).expect("json");
    let releases = list["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[0]["name"], "dr1");
    assert_eq!(releases[0]["frozen"], true);
    assert_eq!(releases[0]["tap"], format!("{BASE}/releases/dr1/tap"));
    assert_eq!(releases[1]["frozen"], false);
    let (status, _, _) = call(&app, get("/releases/dr9/tap/sync?LANG=ADQL&QUERY=SELECT+1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
