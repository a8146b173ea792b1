//! Streaming reads, upload tables, time limits, cancellation and job persistence on SQLite.

use std::time::Duration;

use skyport_store::{
    ColumnKind, JobRow, QueryRequest, SqliteStore, Store, StoreError, TempTable, Value,
};

async fn store(dir: &tempfile::TempDir) -> SqliteStore {
    let store = SqliteStore::open(&dir.path().join("a.sqlite"), 2).expect("open");
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    store
}

async fn collect(
    store: &SqliteStore,
    request: QueryRequest,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut stream = store.stream(request).await?;
    let mut all = Vec::new();
    while let Some(batch) = stream.next_batch().await {
        all.extend(batch?);
    }
    Ok(all)
}

/// A query that counts to `n` without touching any table.
fn counting(n: u64) -> String {
    format!("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<{n}) SELECT i, i*0.5 FROM c")
}

#[tokio::test]
async fn rows_arrive_in_order_across_batches() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let rows = collect(&store, QueryRequest::new(counting(2000)))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2000);
    assert_eq!(rows[1999], vec![Value::Int(2000), Value::Float(1000.0)]);
    let err = store
        .stream(QueryRequest::new("SELECT nosuch FROM nowhere"))
        .await
        .expect_err("bad SQL fails before any row");
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[tokio::test]
async fn queries_too_long_or_too_big_to_run_inline_are_answered_whole_all_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    // More rows than a query run on the calling thread may hold.
    let rows = collect(&store, QueryRequest::new(counting(5000)))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 5000);
    assert_eq!(rows[4999], vec![Value::Int(5000), Value::Float(2500.0)]);
    // One row, after far longer than the inline budget (about 100 ms of counting).
    let sum = collect(
        &store,
        QueryRequest::new(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<1000000) \
             SELECT SUM(i) FROM c",
        ),
    )
    .await
    .expect("rows");
    assert_eq!(sum, vec![vec![Value::Int(500_000_500_000)]]);
}

#[tokio::test]
async fn upload_tables_live_for_one_query_on_a_read_only_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let table = TempTable {
        name: "TAP_UPLOAD.t1".into(),
        columns: vec![
            ("a".into(), ColumnKind::Integer),
            ("s".into(), ColumnKind::Text),
        ],
        rows: vec![
            vec![Value::Int(1), Value::Text("x".into())],
            vec![Value::Null, Value::Text("y".into())],
        ],
    };
    let mut request = QueryRequest::new("SELECT a, s FROM \"TAP_UPLOAD.t1\" ORDER BY s");
    request.temp_tables = vec![table];
    let rows = collect(&store, request.clone()).await.expect("rows");
    assert_eq!(
        rows,
        vec![
            vec![Value::Int(1), Value::Text("x".into())],
            vec![Value::Null, Value::Text("y".into())]
        ]
    );
    // Both reader connections: the table is gone afterwards, and the archive stays read-only.
    for _ in 0..2 {
        let err = collect(&store, QueryRequest::new("SELECT * FROM \"TAP_UPLOAD.t1\""))
            .await
            .expect_err("dropped");
        assert!(err.to_string().contains("no such table"), "{err}");
        let err = collect(&store, QueryRequest::new("DELETE FROM \"ivoa.ObsCore\""))
            .await
            .expect_err("read-only");
        assert!(err.to_string().to_lowercase().contains("read"), "{err}");
    }
    // The same upload twice in a row works (the names do not collide).
    assert_eq!(collect(&store, request).await.expect("again").len(), 2);
}

#[tokio::test]
async fn a_query_over_its_time_limit_is_stopped() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let mut request = QueryRequest::new(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c) SELECT count(*) FROM c",
    );
    request.timeout = Some(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = collect(&store, request).await.expect_err("endless");
    assert!(matches!(err, StoreError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection is usable afterwards.
    assert_eq!(
        collect(&store, QueryRequest::new("SELECT 1"))
            .await
            .expect("ok")
            .len(),
        1
    );
}

#[tokio::test]
async fn dropping_the_stream_frees_the_reader() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    for _ in 0..5 {
        let mut s = store
            .stream(QueryRequest::new(counting(10_000_000)))
            .await
            .expect("start");
        let first = s.next_batch().await.expect("a batch").expect("rows");
        assert!(!first.is_empty());
        drop(s);
    }
    // Two readers; five abandoned queries; a new one still gets a connection promptly.
    let rows = tokio::time::timeout(
        Duration::from_secs(10),
        collect(&store, QueryRequest::new("SELECT 2")),
    )
    .await
    .expect("not starved")
    .expect("rows");
    assert_eq!(rows, vec![vec![Value::Int(2)]]);
}

#[tokio::test]
async fn jobs_persist_across_reopening() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let store = store(&dir).await;
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
    let store = store(&dir).await;
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
    assert!(!store.delete_job("a").await.expect("again"));
    assert_eq!(store.load_job("a").await.expect("load"), None);
}
