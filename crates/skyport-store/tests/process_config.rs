//! SQLite with the process-wide options `skyport` sets (`configure_process`): its memory from
//! Rust's allocator. A file of its own, so that this test process configures SQLite before
//! anything else uses it.

use skyport_schema::builtin_schemas;
use skyport_store::{SqliteStore, Store, Value};

#[test]
fn sqlite_runs_on_the_configured_allocator() {
    assert!(
        skyport_store::configure_process(),
        "SQLite refused the options before any use"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("archive.sqlite"), 4).expect("open");
        store.migrate(&builtin_schemas()).await.expect("migrate");
        // Values that grow by reallocation, and large ones, read by several readers at once.
        let queries = (0..16).map(|i| {
            let store = &store;
            async move {
                let n = 1000 * (i + 1);
                let rows = store
                    .query(
                        format!(
                            "SELECT length(group_concat(column_name, ',')), \
                             length(printf('%.*c', {n}, 'x')), length(zeroblob({n})) \
                             FROM \"TAP_SCHEMA.columns\""
                        ),
                        vec![],
                    )
                    .await
                    .expect("query");
                (n, rows.rows)
            }
        });
        let answers = futures_util::future::join_all(queries).await;
        let names = store
            .query(
                "SELECT column_name FROM \"TAP_SCHEMA.columns\"".into(),
                vec![],
            )
            .await
            .expect("names");
        let joined: usize = names
            .rows
            .iter()
            .map(|row| match &row[0] {
                Value::Text(name) => name.len(),
                other => panic!("a column name that is not text: {other:?}"),
            })
            .sum::<usize>()
            + names.rows.len()
            - 1;
        for (n, rows) in answers {
            assert_eq!(
                rows,
                vec![vec![
                    Value::Int(joined as i64),
                    Value::Int(n as i64),
                    Value::Int(n as i64)
                ]]
            );
        }
    });
    // Once SQLite has been used it refuses them, and that is not mistaken for success.
    assert!(!skyport_store::configure_process());
}
