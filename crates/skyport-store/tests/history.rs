//! History tables on both backends (PostgreSQL when `SKYPORT_PG_URL` is set): every insert,
//! update and delete of the base table leaves a version, an update that changes nothing leaves
//! none, past states read back "as of" each time, concurrent writers never lose a version, and
//! a failed write leaves nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use skyport_schema::history::{self, as_of_condition};
use skyport_schema::Schema;

use common::backends;
use skyport_store::{ddl, Dialect, Statement, Store, StoreError, Value};

const SCHEMA: &str = "
name: hist
version: '1.0.0'
tables:
- name: obs
  '@id': '#obs'
  primaryKey: ['#obs.day_obs', '#obs.seq_num']
  columns:
  - {name: day_obs, '@id': '#obs.day_obs', datatype: int, nullable: false}
  - {name: seq_num, '@id': '#obs.seq_num', datatype: int, nullable: false}
  - {name: band, '@id': '#obs.band', datatype: char, length: 8}
  - {name: airmass, '@id': '#obs.airmass', datatype: double}
";

fn schema() -> Schema {
    let mut schema = Schema::from_yaml(SCHEMA, "test").expect("schema");
    let history = history::history_table(schema.table("obs").expect("obs")).expect("history");
    schema.tables.push(history);
    schema
}

fn p(dialect: Dialect, n: usize) -> String {
    ddl::placeholder(dialect, n)
}

fn upsert(dialect: Dialect, seq: i64, airmass: f64) -> Statement {
    let t = ddl::table_name(dialect, "hist", "obs");
    Statement::new(
        format!(
            "INSERT INTO {t} (day_obs, seq_num, band, airmass) VALUES ({}, {}, 'r', {}) \
             ON CONFLICT (day_obs, seq_num) DO UPDATE SET airmass = excluded.airmass",
            p(dialect, 1),
            p(dialect, 2),
            p(dialect, 3)
        ),
        vec![Value::Int(20240101), Value::Int(seq), Value::Float(airmass)],
    )
}

/// An insert of observation (20240101, `seq`) with nothing else.
fn insert_seq(dialect: Dialect, seq: i64) -> Statement {
    Statement::new(
        format!(
            "INSERT INTO {} (day_obs, seq_num) VALUES (20240101, {})",
            ddl::table_name(dialect, "hist", "obs"),
            p(dialect, 1)
        ),
        vec![Value::Int(seq)],
    )
}

async fn airmass_as_of(store: &dyn Store, seq: i64, at: &str) -> Option<f64> {
    let d = store.dialect();
    let sql = format!(
        "SELECT airmass FROM {} WHERE seq_num = {} AND {}",
        ddl::table_name(d, "hist", "obs_history"),
        p(d, 1),
        as_of_condition(&p(d, 2))
    );
    let rows = store
        .query(sql, vec![Value::Int(seq), Value::Text(at.into())])
        .await
        .expect("as of");
    assert!(rows.rows.len() <= 1, "one version at a time: {rows:?}");
    rows.rows.first().and_then(|r| r[0].as_f64())
}

/// (version, recorded_at, superseded_at, recorded_by, deleted) of one key, oldest first.
async fn versions(store: &dyn Store, seq: i64) -> Vec<Vec<Value>> {
    let d = store.dialect();
    let sql = format!(
        "SELECT version, recorded_at, superseded_at, recorded_by, deleted, airmass FROM {} \
         WHERE seq_num = {} ORDER BY version",
        ddl::table_name(d, "hist", "obs_history"),
        p(d, 1)
    );
    store
        .query(sql, vec![Value::Int(seq)])
        .await
        .expect("versions")
        .rows
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        other => panic!("expected a timestamp, got {other:?}"),
    }
}

fn is_true(v: &Value) -> bool {
    matches!(v, Value::Bool(true) | Value::Int(1))
}

#[tokio::test]
async fn every_version_is_kept_and_readable_as_of_its_time() {
    for b in backends("history_versions", vec![schema()]).await {
        let store = b.store.as_ref();
        let d = store.dialect();
        let mut between = Vec::new();
        for (n, airmass) in [1.1, 1.2, 1.3, 1.4].into_iter().enumerate() {
            store
                .write(&format!("writer{n}"), vec![upsert(d, 7, airmass)])
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(5)).await;
            between.push(
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The same value again changes nothing, so it records nothing.
        store
            .write("noop", vec![upsert(d, 7, 1.4)])
            .await
            .expect("write");
        let v = versions(store, 7).await;
        assert_eq!(v.len(), 4, "{d:?}: {v:?}");
        for (n, row) in v.iter().enumerate() {
            assert_eq!(row[0].as_i64(), Some(n as i64 + 1));
            assert_eq!(row[3], Value::Text(format!("writer{n}")), "{d:?}");
            assert!(!is_true(&row[4]));
            if n + 1 < v.len() {
                // Each version ends exactly when the next begins.
                assert_eq!(text(&row[2]), text(&v[n + 1][1]), "{d:?}");
            } else {
                assert_eq!(row[2], Value::Null, "the last version is current");
            }
        }
        for (at, expected) in between.iter().zip([1.1, 1.2, 1.3, 1.4]) {
            assert_eq!(
                airmass_as_of(store, 7, at).await,
                Some(expected),
                "{d:?} at {at}"
            );
        }
        assert_eq!(airmass_as_of(store, 7, "2000-01-01T00:00:00").await, None);

        // A delete is a tombstone: the row is gone now, still there as of before.
        let t = ddl::table_name(d, "hist", "obs");
        store
            .write(
                "deleter",
                vec![Statement::new(
                    format!("DELETE FROM {t} WHERE seq_num = {}", p(d, 1)),
                    vec![Value::Int(7)],
                )],
            )
            .await
            .expect("delete");
        let v = versions(store, 7).await;
        assert_eq!(v.len(), 5);
        assert!(is_true(&v[4][4]), "tombstone: {:?}", v[4]);
        assert_eq!(v[4][3], Value::Text("deleter".into()));
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string();
        assert_eq!(airmass_as_of(store, 7, &now).await, None);
        assert_eq!(airmass_as_of(store, 7, &between[3]).await, Some(1.4));
    }
}

#[tokio::test]
async fn a_failed_write_leaves_nothing() {
    for b in backends("history_atomic", vec![schema()]).await {
        let store = b.store.as_ref();
        let d = store.dialect();
        let insert = |seq: i64| insert_seq(d, seq);
        store.write("a", vec![insert(1)]).await.expect("first");
        let err = store
            .write("a", vec![insert(2), insert(3), insert(1)])
            .await
            .expect_err("duplicate key");
        assert!(
            matches!(&err, StoreError::Constraint(m) if m.starts_with("statement 3")),
            "{d:?}: {err:?}"
        );
        assert_eq!(store.count("hist", "obs").await.expect("count"), 1);
        assert_eq!(store.count("hist", "obs_history").await.expect("count"), 1);
    }
}

#[tokio::test]
async fn a_write_in_batches_commits_at_its_end_and_rolls_back_on_any_failure() {
    use futures_util::StreamExt;
    for b in backends("history_batches", vec![schema()]).await {
        let store = b.store.as_ref();
        let d = store.dialect();
        let insert = |seq: i64| insert_seq(d, seq);
        let batches = |from: i64, to: i64| {
            (from..to)
                .step_by(10)
                .map(move |start| Ok((start..(start + 10).min(to)).map(insert).collect()))
                .collect::<Vec<Result<Vec<Statement>, StoreError>>>()
        };
        // Three batches of ten: all in, numbered across batches, one version each.
        let written = store
            .write_batches(
                "batcher",
                futures_util::stream::iter(batches(0, 30)).boxed(),
            )
            .await
            .expect("batches");
        assert_eq!(written, 30, "{d:?}");
        assert_eq!(store.count("hist", "obs").await.expect("count"), 30);
        assert_eq!(store.count("hist", "obs_history").await.expect("count"), 30);
        // A statement failing in the third batch takes the first two with it.
        let mut failing = batches(100, 120);
        failing.push(Ok(vec![insert(200), insert(5)]));
        let err = store
            .write_batches("batcher", futures_util::stream::iter(failing).boxed())
            .await
            .expect_err("duplicate key");
        assert!(
            matches!(&err, StoreError::Constraint(m) if m.starts_with("statement 22")),
            "{d:?}: {err:?}"
        );
        assert_eq!(store.count("hist", "obs").await.expect("count"), 30);
        // So does an error of the stream itself, after batches have run.
        let mut refused = batches(300, 320);
        refused.push(Err(StoreError::Backend("the caller refused a row".into())));
        let err = store
            .write_batches("batcher", futures_util::stream::iter(refused).boxed())
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("refused a row"), "{d:?}: {err}");
        assert_eq!(store.count("hist", "obs").await.expect("count"), 30);
        // And a write dropped before its end (the client went away).
        let endless = futures_util::stream::iter(batches(400, 420))
            .chain(futures_util::stream::pending())
            .boxed();
        let dropped = tokio::time::timeout(
            Duration::from_millis(300),
            store.write_batches("batcher", endless),
        )
        .await;
        assert!(dropped.is_err(), "{d:?}: the write waits for its end");
        // The writer is free again and nothing of the dropped write is left.
        store
            .write("a", vec![insert(500)])
            .await
            .expect("the writer is free");
        assert_eq!(
            store.count("hist", "obs").await.expect("count"),
            31,
            "{d:?}"
        );
        assert_eq!(store.count("hist", "obs_history").await.expect("count"), 31);
    }
}

#[tokio::test]
async fn concurrent_writers_to_one_row_both_leave_a_version() {
    for b in backends("history_concurrent", vec![schema()]).await {
        let store = Arc::clone(&b.store);
        let d = store.dialect();
        store
            .write("setup", vec![upsert(d, 9, 1.0)])
            .await
            .expect("setup");
        let mut tasks = Vec::new();
        for n in 0..20 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store
                    .write(&format!("w{n}"), vec![upsert(d, 9, 2.0 + n as f64)])
                    .await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("write");
        }
        let v = versions(store.as_ref(), 9).await;
        assert_eq!(v.len(), 21, "{d:?}: every write is a version");
        let current: Vec<_> = v.iter().filter(|r| r[2] == Value::Null).collect();
        assert_eq!(current.len(), 1, "{d:?}: one current version");
        // Versions follow each other in time without gaps or overlaps.
        for pair in v.windows(2) {
            assert_eq!(text(&pair[0][2]), text(&pair[1][1]), "{d:?}: {pair:?}");
            assert!(text(&pair[0][1]) <= text(&pair[1][1]), "{d:?}: {pair:?}");
        }
        let now = ddl::table_name(d, "hist", "obs");
        let rows = store
            .query(
                format!("SELECT airmass FROM {now} WHERE seq_num = 9"),
                Vec::new(),
            )
            .await
            .expect("current");
        assert_eq!(
            rows.rows[0][0], v[20][5],
            "{d:?}: the table holds the last version"
        );
    }
}
