//! `kill -9` of a `skyport serve` in the middle of a ConsDB bulk insert leaves nothing half
//! written: after a restart the table holds none of the request's rows (or, had the commit
//! won the race, all of them), and every row has exactly one current history version. On
//! SQLite always; on PostgreSQL too when `SKYPORT_PG_URL` is set.

use super::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{client, client_with_token, config, serve, small_demo};
use serde_json::{json, Map, Value};
use skyport_store::postgres::scratch::{test_url, ScratchDatabase};

const ROWS: i64 = 60_000;
const DAY_OBS: i64 = 20251201;

fn body() -> Value {
    let mut obs_dict = Map::new();
    for seq in 1..=ROWS {
        obs_dict.insert(
            (DAY_OBS * 100_000 + seq).to_string(),
            json!({
                "exposure_name": format!("MC_O_{DAY_OBS}_{seq:06}"),
                "controller": "O",
                "day_obs": DAY_OBS,
                "seq_num": seq,
                "band": "r",
                "airmass": 1.2,
                "s_ra": 10.0,
                "s_dec": -30.0,
                "obs_start": "2025-12-02T03:04:05.123456",
            }),
        );
    }
    json!({ "obs_dict": obs_dict })
}

async fn count(base: &str, adql: &str) -> i64 {
    let r = client()
        .post(format!("{base}/consdb/query"))
        .json(&json!({ "query": adql }))
        .send()
        .await
        .expect("query");
    let v: Value = r.json().await.expect("json");
    v["data"][0][0].as_i64().unwrap_or_else(|| panic!("{v}"))
}

/// Sends the bulk insert, kills the server once `writing()` says the transaction is under
/// way, restarts it and checks what the database holds.
async fn crash_and_check(
    config: &Path,
    base: &str,
    writing: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
) {
    // Writes need write:consdb.
    let writer = client_with_token(config, "write:consdb,read:tap");
    let mut server = serve(config, base.to_string()).await;
    let url = format!("{base}/consdb/insert/lsstcam/exposure");
    let request = tokio::spawn({
        let writer = writer.clone();
        async move {
            writer
                .post(url)
                .json(&body())
                .send()
                .await
                .map(|r| r.status())
        }
    });
    let started = Instant::now();
    let mut caught = false;
    while started.elapsed() < Duration::from_secs(120) && !request.is_finished() {
        if writing().await {
            caught = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(caught, "the insert finished before the kill could catch it");
    // SIGKILL: no shutdown, no rollback by the server.
    let _ = server.child.kill();
    let _ = server.child.wait();
    let outcome = request.await.expect("join");
    assert!(
        outcome.is_err(),
        "the client saw the connection drop: {outcome:?}"
    );
    drop(server);

    let _server = serve(config, base.to_string()).await;
    let rows = count(
        base,
        &format!("SELECT COUNT(*) FROM cdb_lsstcam.exposure WHERE day_obs = {DAY_OBS}"),
    )
    .await;
    assert!(
        rows == 0 || rows == ROWS,
        "half written: {rows} of {ROWS} rows"
    );
    let versions = count(
        base,
        &format!(
            "SELECT COUNT(*) FROM cdb_lsstcam.exposure_history WHERE day_obs = {DAY_OBS} AND superseded_at IS NULL"
        ),
    )
    .await;
    assert_eq!(versions, rows, "one current history version per row");
    // The archive still takes the same request, whole.
    let r = writer
        .post(format!("{base}/consdb/insert/lsstcam/exposure?u=1"))
        .json(&body())
        .send()
        .await
        .expect("retry");
    let status = r.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        r.text().await.unwrap_or_default()
    );
    let rows = count(
        base,
        &format!("SELECT COUNT(*) FROM cdb_lsstcam.exposure WHERE day_obs = {DAY_OBS}"),
    )
    .await;
    assert_eq!(rows, ROWS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_bulk_insert_leaves_nothing_half_written_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let demo = small_demo(dir.path());
    let (config_path, base) = config(&demo, "crash", "sqlite = \"crash.sqlite\"");
    let wal = demo.join("crash.sqlite-wal");
    // The transaction is under way once its pages spill into the write-ahead log.
    let baseline = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    crash_and_check(&config_path, &base, move || {
        let wal = wal.clone();
        Box::pin(async move {
            std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > baseline + 2_000_000
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_bulk_insert_leaves_nothing_half_written_on_postgres() {
    let Some(url) = test_url("consdb_crash") else {
        return;
    };
    let scratch = ScratchDatabase::create(&url, "consdb_crash")
        .await
        .expect("scratch");
    let dir = tempfile::tempdir().expect("dir");
    let demo = small_demo(dir.path());
    let (config_path, base) = config(&demo, "crash", &format!("url = {:?}", scratch.url));
    let (watcher, connection) = tokio_postgres::connect(&scratch.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let watcher = std::sync::Arc::new(watcher);
    crash_and_check(&config_path, &base, move || {
        let watcher = std::sync::Arc::clone(&watcher);
        Box::pin(async move {
            // The server's transaction has written rows (the history trigger's inserts show
            // as the writer's activity; its row count is not visible before the commit).
            watcher
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' \
                     AND query LIKE 'INSERT INTO \"cdb_lsstcam\".\"exposure\"%' \
                     AND now() - xact_start > interval '200 milliseconds'",
                    &[],
                )
                .await
                .map(|r| r.get::<_, i64>(0) > 0)
                .unwrap_or(false)
        })
    })
    .await;
}
