//! Rows the store tests of both backends write.
#![allow(dead_code)]

use skyport_store::{ImageRecord, Row, Value};

/// A text value.
pub fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// One image's records: file, one HDU, an ObsCore row with a 1° square footprint at `ra`.
pub fn image(did: &str, hash: &str, ra: f64) -> ImageRecord {
    let mut file = Row::default();
    for (c, v) in [
        ("obs_publisher_did", text(did)),
        ("obs_collection", text("test")),
        ("obs_id", text(did)),
        ("root_name", text("data")),
        ("rel_path", text(&format!("{did}.fits"))),
        ("file_size", Value::Int(2880)),
        ("content_sha256", text(hash)),
        ("science_hdu", Value::Int(0)),
        ("ingested_at", text("2026-11-20T01:02:03.5")),
    ] {
        file.push(c, v);
    }
    let mut hdu = Row::default();
    for (c, v) in [
        ("obs_publisher_did", text(did)),
        ("hdu_index", Value::Int(0)),
        ("kind", text("image")),
        ("role", text("image")),
        ("has_wcs", Value::Bool(true)),
        ("header", text("SIMPLE  =                    T")),
    ] {
        hdu.push(c, v);
    }
    let mut obscore = Row::default();
    for (c, v) in [
        ("obs_publisher_did", text(did)),
        ("obs_collection", text("test")),
        ("obs_id", text(did)),
        ("dataproduct_type", text("image")),
        ("calib_level", Value::Int(1)),
        ("s_ra", Value::Float(ra)),
        ("s_dec", Value::Float(-30.0)),
        (
            "s_region",
            text(&format!(
                "POLYGON ICRS {} -30.5 {} -30.5 {} -29.5 {} -29.5",
                ra - 0.5,
                ra + 0.5,
                ra + 0.5,
                ra - 0.5
            )),
        ),
    ] {
        obscore.push(c, v);
    }
    ImageRecord {
        publisher_did: did.into(),
        content_sha256: hash.into(),
        file,
        hdus: vec![hdu],
        obscore,
        coverage: None,
    }
}

/// A store of one backend, with what keeps it alive.
pub struct Backend {
    pub store: std::sync::Arc<dyn skyport_store::Store>,
    _scratch: Option<skyport_store::postgres::scratch::ScratchDatabase>,
    _dir: Option<tempfile::TempDir>,
}

/// A SQLite store, and a PostgreSQL one when `SKYPORT_PG_URL` is set, each migrated with the
/// built-in schemas and `extra`.
pub async fn backends(label: &str, extra: Vec<skyport_schema::Schema>) -> Vec<Backend> {
    use skyport_store::postgres::scratch::{test_url, ScratchDatabase};
    use skyport_store::{PostgresStore, SqliteStore};
    let dir = tempfile::tempdir().expect("tmp");
    let lite = SqliteStore::open(&dir.path().join("store.sqlite"), 2).expect("open");
    let mut out = vec![Backend {
        store: std::sync::Arc::new(lite),
        _scratch: None,
        _dir: Some(dir),
    }];
    if let Some(url) = test_url(label) {
        let scratch = ScratchDatabase::create(&url, label).await.expect("scratch");
        let pg = PostgresStore::connect(&scratch.url, 2).await.expect("pg");
        out.push(Backend {
            store: std::sync::Arc::new(pg),
            _scratch: Some(scratch),
            _dir: None,
        });
    }
    for b in &out {
        let mut all = skyport_schema::builtin_schemas();
        all.extend(extra.iter().cloned());
        b.store.migrate(&all).await.expect("migrate");
    }
    out
}
