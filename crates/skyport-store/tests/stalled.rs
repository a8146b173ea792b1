//! A query whose consumer stops taking rows (a client that stopped reading) gives its reader
//! connection back after its stall bound, and the consumer then finds
//! [`StoreError::Stalled`] after the rows it already had, never a complete-looking result.
//! Without a bound the readers stay taken, which is what the bound is for. Both backends
//! (PostgreSQL when `SKYPORT_PG_URL` is set), two readers each.

mod common;

use std::time::Duration;

use common::backends;
use skyport_store::{QueryRequest, Store, StoreError, Value};

const ROWS: u64 = 2_000_000;

fn counting(stall: Option<Duration>) -> QueryRequest {
    let mut request = QueryRequest::new(format!(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<{ROWS}) SELECT i FROM c"
    ));
    request.stall = stall;
    request
}

async fn quick_query(store: &dyn Store) -> Option<Vec<Vec<Value>>> {
    let run = async {
        let mut s = store.stream(QueryRequest::new("SELECT 2")).await.ok()?;
        let mut rows = Vec::new();
        while let Some(batch) = s.next_batch().await {
            rows.extend(batch.ok()?);
        }
        Some(rows)
    };
    tokio::time::timeout(Duration::from_secs(3), run)
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_consumer_frees_its_reader_and_learns_its_result_was_cut() {
    for b in backends("stalled", Vec::new()).await {
        let store = b.store.as_ref();
        let d = store.dialect();
        // Unbounded: two streams nobody reads hold both readers.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = store.stream(counting(None)).await.expect("start");
            s.next_batch().await.expect("batch").expect("rows");
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(
            quick_query(store).await.is_none(),
            "{d:?}: two unread unbounded streams should hold both readers"
        );
        drop(held);

        // Bounded at 300 ms: the readers come back while the streams are still unread.
        let mut stalled = Vec::new();
        for _ in 0..2 {
            let mut s = store
                .stream(counting(Some(Duration::from_millis(300))))
                .await
                .expect("start");
            s.next_batch().await.expect("batch").expect("rows");
            stalled.push(s);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            quick_query(store).await,
            Some(vec![vec![Value::Int(2)]]),
            "{d:?}: the stalled streams gave their readers back"
        );
        for mut s in stalled {
            let mut rows = 0;
            let end = loop {
                match s.next_batch().await {
                    Some(Ok(batch)) => rows += batch.len(),
                    Some(Err(e)) => break Some(e),
                    None => break None,
                }
            };
            assert!(
                matches!(end, Some(StoreError::Stalled(_))),
                "{d:?}: after {rows} rows the stream ended with {end:?}"
            );
            assert!((rows as u64) < ROWS, "{d:?}: {rows} rows");
        }
    }
}
