//! All seven ConsDB schemas created on SQLite and on PostgreSQL (when `SKYPORT_PG_URL` is set):
//! every table, `visit1`/`ccdvisit1` as views that show the exposures, TAP_SCHEMA rows that
//! agree between the backends, and a second migration that changes nothing.

use std::sync::Arc;

use skyport_store::postgres::scratch::{test_url, ScratchDatabase};
use skyport_store::{ddl, Dialect, PostgresStore, Row, SqliteStore, Store, Value};

fn all_schemas() -> Vec<skyport_schema::Schema> {
    let mut schemas = skyport_schema::builtin_schemas();
    schemas.extend(skyport_consdb::schemas::builtin());
    schemas
}

/// One LSSTCam exposure and one of its detectors, as a client would write them.
async fn write_exposure(store: &dyn Store) {
    let mut exposure = Row::default();
    for (c, v) in [
        ("exposure_id", Value::Int(2025120100042)),
        ("day_obs", Value::Int(20251201)),
        ("seq_num", Value::Int(42)),
        ("exposure_name", Value::Text("MC_O_20251201_000042".into())),
        ("controller", Value::Text("O".into())),
        ("band", Value::Text("r".into())),
        ("s_ra", Value::Float(53.1)),
        ("obs_start", Value::Text("2025-12-02T03:04:05.123".into())),
    ] {
        exposure.push(c, v);
    }
    let columns: Vec<String> = exposure.0.iter().map(|(c, _)| c.clone()).collect();
    let values: Vec<Value> = exposure.0.iter().map(|(_, v)| v.clone()).collect();
    store
        .insert_rows("cdb_lsstcam", "exposure", columns, vec![values])
        .await
        .expect("exposure");
    store
        .insert_rows(
            "cdb_lsstcam",
            "ccdexposure",
            [
                "ccdexposure_id",
                "exposure_id",
                "day_obs",
                "seq_num",
                "detector",
            ]
            .map(String::from)
            .to_vec(),
            vec![vec![
                Value::Int(202512010004294),
                Value::Int(2025120100042),
                Value::Int(20251201),
                Value::Int(42),
                Value::Int(94),
            ]],
        )
        .await
        .expect("ccdexposure");
}

async fn check(store: Arc<dyn Store>) {
    let steps = store.migrate(&all_schemas()).await.expect("migrate");
    let lsstcam = steps
        .iter()
        .find(|s| s.schema == "cdb_lsstcam")
        .expect("cdb_lsstcam migrated");
    assert_eq!(lsstcam.to_version, "1.9.1");
    assert!(lsstcam
        .created_tables
        .iter()
        .any(|t| t == "cdb_lsstcam.exposure"));
    assert!(
        !lsstcam
            .created_tables
            .iter()
            .any(|t| t.ends_with(".visit1")),
        "visit1 is a view, not a table"
    );
    let again = store.migrate(&all_schemas()).await.expect("again");
    assert!(again
        .iter()
        .all(|s| s.created_tables.is_empty() && s.added_columns.is_empty()));

    write_exposure(store.as_ref()).await;
    let d = store.dialect();
    let visits = store
        .query(
            format!(
                "SELECT visit_id, day_obs, seq_num, band, obs_start FROM {}",
                ddl::table_name(d, "cdb_lsstcam", "visit1")
            ),
            vec![],
        )
        .await
        .expect("visit1");
    assert_eq!(
        visits.rows,
        vec![vec![
            Value::Int(2025120100042),
            Value::Int(20251201),
            Value::Int(42),
            Value::Text("r".into()),
            Value::Text("2025-12-02T03:04:05.123".into()),
        ]]
    );
    let ccdvisits = store
        .query(
            format!(
                "SELECT ccdvisit_id, visit_id, detector FROM {}",
                ddl::table_name(d, "cdb_lsstcam", "ccdvisit1")
            ),
            vec![],
        )
        .await
        .expect("ccdvisit1");
    assert_eq!(
        ccdvisits.rows,
        vec![vec![
            Value::Int(202512010004294),
            Value::Int(2025120100042),
            Value::Int(94)
        ]]
    );
    // TAP_SCHEMA: every declared table of every instrument, visits as views.
    let tables = store
        .query(
            format!(
                "SELECT table_name, table_type FROM {} WHERE schema_name LIKE 'cdb%' ORDER BY table_name",
                ddl::table_name(d, "TAP_SCHEMA", "tables")
            ),
            vec![],
        )
        .await
        .expect("tables");
    let declared: usize = skyport_consdb::schemas::builtin()
        .iter()
        .map(|s| s.tables.len())
        .sum();
    assert_eq!(tables.rows.len(), declared);
    assert!(tables.rows.contains(&vec![
        Value::Text("cdb_latiss.visit1".into()),
        Value::Text("view".into())
    ]));
    assert!(tables.rows.contains(&vec![
        Value::Text("cdb_startrackerwide.exposure".into()),
        Value::Text("table".into())
    ]));
}

#[tokio::test]
async fn consdb_schemas_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(&dir.path().join("a.sqlite"), 1).expect("open");
    check(Arc::new(store)).await;
}

#[tokio::test]
async fn consdb_schemas_on_postgres() {
    let Some(url) = test_url("consdb schemas") else {
        return;
    };
    let db = ScratchDatabase::create(&url, "consdb_schemas")
        .await
        .expect("db");
    let store = PostgresStore::connect(&db.url, 1).await.expect("connect");
    check(Arc::new(store)).await;
}

#[tokio::test]
async fn tap_schema_rows_agree_between_backends() {
    let Some(url) = test_url("consdb TAP_SCHEMA") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let lite = SqliteStore::open(&dir.path().join("a.sqlite"), 1).expect("open");
    lite.migrate(&all_schemas()).await.expect("sqlite");
    let db = ScratchDatabase::create(&url, "consdb_tap")
        .await
        .expect("db");
    let pg = PostgresStore::connect(&db.url, 1).await.expect("connect");
    pg.migrate(&all_schemas()).await.expect("pg");
    let sql = |d: Dialect| {
        format!(
            "SELECT * FROM {} WHERE table_name LIKE 'cdb%' ORDER BY table_name, column_name",
            ddl::table_name(d, "TAP_SCHEMA", "columns")
        )
    };
    let a = lite.query(sql(Dialect::Sqlite), vec![]).await.expect("a");
    let b = pg.query(sql(Dialect::Postgres), vec![]).await.expect("b");
    assert!(a.rows.len() > 1000, "{} columns", a.rows.len());
    assert_eq!(a.rows, b.rows);
}
