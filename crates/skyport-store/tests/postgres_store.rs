//! The PostgreSQL backend against a real server (scripts/test starts one; see
//! `skyport_store::postgres::scratch`): the same behaviours the SQLite tests check, plus what
//! only PostgreSQL has (the reader role, COPY, server-side cancellation).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{image, text};
use skyport_schema::builtin_schemas;
use skyport_store::postgres::scratch::{test_url, ScratchDatabase};
use skyport_store::{
    ColumnKind, JobRow, PostgresStore, QueryRequest, SqliteStore, Store, StoreError, TempTable,
    UpsertOutcome, Value,
};

async fn open(label: &str) -> Option<(ScratchDatabase, PostgresStore)> {
    let url = test_url(label)?;
    let db = ScratchDatabase::create(&url, label)
        .await
        .expect("scratch database");
    let store = PostgresStore::connect(&db.url, 2).await.expect("connect");
    store.migrate(&builtin_schemas()).await.expect("migrate");
    Some((db, store))
}

async fn collect(store: &dyn Store, request: QueryRequest) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut stream = store.stream(request).await?;
    let mut all = Vec::new();
    while let Some(batch) = stream.next_batch().await {
        all.extend(batch?);
    }
    Ok(all)
}

#[tokio::test]
async fn migration_matches_sqlite_tap_schema_and_is_idempotent() {
    let Some((_db, pg)) = open("migration").await else {
        return;
    };
    let again = pg.migrate(&builtin_schemas()).await.expect("again");
    assert!(again
        .iter()
        .all(|s| s.created_tables.is_empty() && s.added_columns.is_empty()));
    // Bookkeeping stays in public even though the account is called like a published schema.
    let stray = pg
        .query(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'skyport\\_%' AND schemaname <> 'public'"
                .into(),
            vec![],
        )
        .await
        .expect("stray tables");
    assert_eq!(stray.rows, vec![vec![Value::Int(0)]]);
    let dir = tempfile::tempdir().expect("dir");
    let lite = SqliteStore::open(&dir.path().join("a.sqlite"), 1).expect("sqlite");
    lite.migrate(&builtin_schemas())
        .await
        .expect("migrate sqlite");
    // TAP_SCHEMA holds the same rows on both backends, value for value.
    for (table, order) in [
        ("schemas", "schema_name"),
        ("tables", "table_name"),
        ("columns", "table_name, column_name"),
        ("keys", "key_id"),
        ("key_columns", "key_id, from_column"),
    ] {
        let sql = |d| {
            format!(
                "SELECT * FROM {} ORDER BY {order}",
                skyport_store::ddl::table_name(d, "TAP_SCHEMA", table)
            )
        };
        let a = lite
            .query(sql(skyport_store::Dialect::Sqlite), vec![])
            .await
            .expect("sqlite rows");
        let b = pg
            .query(sql(skyport_store::Dialect::Postgres), vec![])
            .await
            .expect("pg rows");
        assert_eq!(a.columns, b.columns, "{table}");
        assert_eq!(a.rows, b.rows, "TAP_SCHEMA.{table}");
    }
}

#[tokio::test]
async fn upsert_is_idempotent_and_replaces_changed_content() {
    let Some((_db, store)) = open("upsert").await else {
        return;
    };
    let did = "ivo://x/test?a";
    assert_eq!(
        store
            .upsert_image(image(did, "h1", 10.0))
            .await
            .expect("insert"),
        UpsertOutcome::Inserted
    );
    assert_eq!(
        store
            .upsert_image(image(did, "h1", 10.0))
            .await
            .expect("same"),
        UpsertOutcome::Unchanged
    );
    assert_eq!(
        store
            .upsert_image(image(did, "h2", 20.0))
            .await
            .expect("changed"),
        UpsertOutcome::Updated
    );
    let rows = store
        .query(
            "SELECT o.s_ra, f.ingested_at, h.has_wcs FROM ivoa.\"ObsCore\" o \
             JOIN skyport.image_file f USING (obs_publisher_did) \
             JOIN skyport.image_hdu h USING (obs_publisher_did) WHERE obs_publisher_did = $1"
                .into(),
            vec![text(did)],
        )
        .await
        .expect("query");
    assert_eq!(
        rows.rows,
        vec![vec![
            Value::Float(20.0),
            text("2026-11-20T01:02:03.500"),
            Value::Bool(true)
        ]]
    );
    // A row the database refuses (a non-polygon footprint cannot be indexed) writes nothing.
    let mut bad = image("ivo://x/test?b", "h3", 30.0);
    bad.obscore.0.retain(|(c, _)| c != "s_region");
    bad.obscore.push("s_region", text("CIRCLE ICRS 1 2 3"));
    let err = store.upsert_image(bad).await.expect_err("refused");
    assert!(err.to_string().contains("not a POLYGON"), "{err}");
    assert_eq!(
        store.count("skyport", "image_file").await.expect("count"),
        1
    );
}

#[tokio::test]
async fn rows_stream_in_batches_and_errors_come_before_rows() {
    let Some((_db, store)) = open("stream").await else {
        return;
    };
    let rows = collect(
        &store,
        QueryRequest::new(
            "SELECT i, i * 0.5, avg(i) OVER () FROM generate_series(1, 2000) i ORDER BY i",
        ),
    )
    .await
    .expect("rows");
    assert_eq!(rows.len(), 2000);
    assert_eq!(
        rows[1999],
        vec![Value::Int(2000), Value::Float(1000.0), Value::Float(1000.5)]
    );
    let err = store
        .stream(QueryRequest::new("SELECT nosuch FROM nowhere"))
        .await
        .expect_err("bad SQL fails before any row");
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[tokio::test]
async fn readers_cannot_write_or_see_internal_tables() {
    let Some((_db, store)) = open("readonly").await else {
        return;
    };
    for sql in [
        "DELETE FROM ivoa.\"ObsCore\"",
        "CREATE TABLE ivoa.x (a int)",
        "SELECT * FROM skyport_uws_job",
    ] {
        let err = collect(&store, QueryRequest::new(sql))
            .await
            .expect_err(sql);
        let m = err.to_string();
        assert!(
            m.contains("read-only") || m.contains("permission denied"),
            "{sql}: {m}"
        );
    }
    assert!(store.readers_use_role(), "readers run as skyport_reader");
    let who = store
        .query("SELECT current_user::text".into(), vec![])
        .await
        .expect("who");
    assert_eq!(who.rows, vec![vec![text("skyport_reader")]]);
}

#[tokio::test]
async fn upload_tables_live_for_one_query() {
    let Some((_db, store)) = open("upload").await else {
        return;
    };
    let table = TempTable {
        name: "TAP_UPLOAD.t1".into(),
        columns: vec![
            ("a".into(), ColumnKind::Integer),
            ("s".into(), ColumnKind::Text),
            ("x".into(), ColumnKind::Real),
        ],
        rows: vec![
            vec![Value::Int(1), text("x"), Value::Float(0.25)],
            vec![Value::Null, text("y"), Value::Int(3)],
        ],
    };
    let mut request = QueryRequest::new("SELECT a, s, x FROM pg_temp.\"t1\" ORDER BY s");
    request.temp_tables = vec![table];
    let rows = collect(&store, request.clone()).await.expect("rows");
    assert_eq!(
        rows,
        vec![
            vec![Value::Int(1), text("x"), Value::Float(0.25)],
            vec![Value::Null, text("y"), Value::Float(3.0)]
        ]
    );
    for _ in 0..2 {
        let err = collect(&store, QueryRequest::new("SELECT * FROM pg_temp.\"t1\""))
            .await
            .expect_err("dropped");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
    assert_eq!(collect(&store, request).await.expect("again").len(), 2);
}

#[tokio::test]
async fn a_query_over_its_time_limit_is_stopped_on_the_server() {
    let Some((_db, store)) = open("timeout").await else {
        return;
    };
    let mut request = QueryRequest::new("SELECT count(*) FROM generate_series(1, 10000000000)");
    request.timeout = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = collect(&store, request).await.expect_err("endless");
    assert!(matches!(err, StoreError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        collect(&store, QueryRequest::new("SELECT 1"))
            .await
            .expect("ok"),
        vec![vec![Value::Int(1)]]
    );
}

/// Queries of this database the server is running now, other than the asking one.
async fn active_queries(store: &PostgresStore, marker: &str) -> i64 {
    // A fresh session on the writer side: pg_stat_activity shows every role's query text
    // only to superusers and members of pg_read_all_stats.
    let rows = store
        .query(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()"
                .into(),
            vec![text(&format!("%{marker}%"))],
        )
        .await
        .expect("activity");
    rows.rows[0][0].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_query_and_frees_the_reader() {
    let Some((_db, store)) = open("cancel").await else {
        return;
    };
    let store = Arc::new(store);
    for _ in 0..5 {
        // Sorting needs the whole input before the first row: the server is busy when we leave.
        let s = store
            .stream(QueryRequest::new(
                "SELECT /*cancel-me*/ i FROM generate_series(1, 50000000) i ORDER BY -i",
            ))
            .await
            .expect("start");
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
    }
    let rows = tokio::time::timeout(
        Duration::from_secs(10),
        collect(store.as_ref(), QueryRequest::new("SELECT 2")),
    )
    .await
    .expect("not starved")
    .expect("rows");
    assert_eq!(rows, vec![vec![Value::Int(2)]]);
    let mut left = -1;
    for _ in 0..50 {
        left = active_queries(&store, "cancel-me").await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "abandoned queries were cancelled on the server");
}

#[tokio::test]
async fn bulk_rows_go_in_whole_or_not_at_all() {
    let Some((_db, store)) = open("copy").await else {
        return;
    };
    let columns: Vec<String> = [
        "obs_publisher_did",
        "obs_collection",
        "obs_id",
        "calib_level",
        "s_ra",
        "obs_release_date",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let row = |i: i64| {
        vec![
            text(&format!("ivo://x/c?{i}")),
            text("c"),
            text(&format!("{i}")),
            Value::Int(2),
            Value::Int(i), // an integer into a double column
            text("2026-01-02T03:04:05"),
        ]
    };
    let rows: Vec<Vec<Value>> = (0..5000).map(row).collect();
    let n = store
        .insert_rows("ivoa", "ObsCore", columns.clone(), rows)
        .await
        .expect("copy");
    assert_eq!(n, 5000);
    let back = store
        .query(
            "SELECT s_ra, obs_release_date FROM ivoa.\"ObsCore\" WHERE obs_id = '4321'".into(),
            vec![],
        )
        .await
        .expect("q");
    assert_eq!(
        back.rows,
        vec![vec![Value::Float(4321.0), text("2026-01-02T03:04:05")]]
    );
    // A duplicate key in the middle of a batch: none of the batch is kept.
    let mut rows: Vec<Vec<Value>> = (5000..6000).map(row).collect();
    rows.push(row(10));
    let err = store
        .insert_rows("ivoa", "ObsCore", columns.clone(), rows)
        .await
        .expect_err("duplicate");
    assert!(err.to_string().contains("duplicate key"), "{err}");
    // A value of the wrong kind is named with its row.
    let mut bad = row(7000);
    bad[3] = text("two");
    let err = store
        .insert_rows("ivoa", "ObsCore", columns, vec![row(6999), bad])
        .await
        .expect_err("bad value");
    assert!(err.to_string().contains("row 2"), "{err}");
    assert_eq!(store.count("ivoa", "ObsCore").await.expect("count"), 5000);
}

#[tokio::test]
async fn jobs_persist_across_reconnecting() {
    let Some(url) = test_url("jobs") else {
        return;
    };
    let db = ScratchDatabase::create(&url, "jobs").await.expect("db");
    {
        let store = PostgresStore::connect(&db.url, 1).await.expect("connect");
        store.migrate(&builtin_schemas()).await.expect("migrate");
        for (id, created) in [
            ("b", "2026-01-02T00:00:00.000Z"),
            ("a", "2026-01-01T00:00:00.000Z"),
        ] {
            store
                .save_job(JobRow {
                    id: id.into(),
                    created: created.into(),
                    phase: "PENDING".into(),
                    service: "tap".into(),
                    document: "{}".into(),
                })
                .await
                .expect("save");
        }
        store
            .save_job(JobRow {
                id: "b".into(),
                created: "ignored".into(),
                phase: "QUEUED".into(),
                service: "tap".into(),
                document: "{\"x\":1}".into(),
            })
            .await
            .expect("update");
    }
    let store = PostgresStore::connect(&db.url, 1).await.expect("again");
    let jobs = store.load_jobs().await.expect("jobs");
    assert_eq!(
        jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let b = store.load_job("b").await.expect("load").expect("exists");
    assert_eq!(
        (b.phase.as_str(), b.document.as_str(), b.created.as_str()),
        ("QUEUED", "{\"x\":1}", "2026-01-02T00:00:00.000Z")
    );
    assert!(store.delete_job("a").await.expect("delete"));
    assert!(!store.delete_job("a").await.expect("gone"));
}
