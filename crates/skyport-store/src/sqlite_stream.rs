//! Streaming queries on a SQLite reader connection: temporary upload tables, a progress
//! handler that stops the statement when the consumer is gone or the deadline has passed,
//! and rows sent in batches through a bounded channel.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params_from_iter, CachedStatement, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::ddl::quote_ident;
use crate::sqlite_literals::lift_numbers;
use crate::stream::{
    blocking_deliver, Batch, ColumnKind, QueryRequest, StreamEnd, TempTable, BATCH_ROWS,
};
use crate::{StoreError, Value};

/// SQLite virtual-machine steps between two checks of the deadline and the consumer.
const STEPS_BETWEEN_CHECKS: i32 = 20_000;

fn sql_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Integer => "INTEGER",
        ColumnKind::Real => "REAL",
        ColumnKind::Text => "TEXT",
    }
}

/// Creates the temporary tables. Reader connections are `query_only`; temporary tables live in
/// the connection's own temp database, so allowing writes for this step cannot touch the archive
/// (the connection is also opened read-only).
fn create_temp_tables(conn: &mut Connection, tables: &[TempTable]) -> Result<(), StoreError> {
    if tables.is_empty() {
        return Ok(());
    }
    conn.execute_batch("PRAGMA query_only=0")
        .map_err(super::sqlite::backend)?;
    let result = (|| {
        let tx = conn.transaction().map_err(super::sqlite::backend)?;
        for t in tables {
            let columns: Vec<String> = t
                .columns
                .iter()
                .map(|(name, kind)| format!("{} {}", quote_ident(name), sql_type(*kind)))
                .collect();
            tx.execute_batch(&format!(
                "CREATE TEMP TABLE {} ({})",
                quote_ident(&t.name),
                columns.join(", ")
            ))
            .map_err(super::sqlite::backend)?;
            let placeholders: Vec<String> =
                (1..=t.columns.len()).map(|i| format!("?{i}")).collect();
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO temp.{} VALUES ({})",
                    quote_ident(&t.name),
                    placeholders.join(", ")
                ))
                .map_err(super::sqlite::backend)?;
            for row in &t.rows {
                insert
                    .execute(params_from_iter(row.iter()))
                    .map_err(super::sqlite::backend)?;
            }
        }
        tx.commit().map_err(super::sqlite::backend)
    })();
    let restored = conn
        .execute_batch("PRAGMA query_only=1")
        .map_err(super::sqlite::backend);
    result.and(restored)
}

fn drop_temp_tables(conn: &mut Connection, tables: &[TempTable]) {
    if tables.is_empty() {
        return;
    }
    let mut sql = String::from("PRAGMA query_only=0;");
    for t in tables {
        sql.push_str(&format!(
            "DROP TABLE IF EXISTS temp.{};",
            quote_ident(&t.name)
        ));
    }
    sql.push_str("PRAGMA query_only=1;");
    if let Err(e) = conn.execute_batch(&sql) {
        tracing::error!("cannot drop temporary upload tables: {e}");
    }
    // Statements over the dropped tables are not kept for the next query.
    conn.flush_prepared_statement_cache();
}

/// Runs `request` on `conn`: the column names (or the preparation error) go to `ready`, then
/// the rows in batches to `rows`.
pub(crate) fn run(
    conn: &mut Connection,
    request: &QueryRequest,
    ready: oneshot::Sender<Result<Vec<String>, StoreError>>,
    rows: mpsc::Sender<Batch>,
    end: &StreamEnd,
) {
    if let Err(e) = create_temp_tables(conn, &request.temp_tables) {
        drop_temp_tables(conn, &request.temp_tables);
        let _ = ready.send(Err(e));
        return;
    }
    // A limit too far away to represent is no limit.
    let deadline = request.timeout.and_then(|t| Instant::now().checked_add(t));
    let watcher = rows.clone();
    conn.progress_handler(
        STEPS_BETWEEN_CHECKS,
        Some(move || watcher.is_closed() || deadline.is_some_and(|d| Instant::now() >= d)),
    )
    .unwrap_or_else(|e| tracing::warn!("cannot install the query watchdog: {e}"));
    let classify = |e: rusqlite::Error, rows: &mpsc::Sender<Batch>| {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            StoreError::Timeout(request.timeout.unwrap_or_default())
        } else if rows.is_closed() {
            StoreError::Cancelled
        } else {
            super::sqlite::backend(e)
        }
    };
    let send = |batch: Batch| blocking_deliver(&rows, batch, request.stall, end);
    stream_rows(conn, request, ready, &rows, &send, &classify);
    conn.progress_handler(0, None::<fn() -> bool>)
        .unwrap_or_else(|e| tracing::warn!("cannot remove the query watchdog: {e}"));
    drop_temp_tables(conn, &request.temp_tables);
}

fn stream_rows(
    conn: &Connection,
    request: &QueryRequest,
    ready: oneshot::Sender<Result<Vec<String>, StoreError>>,
    rows: &mpsc::Sender<Batch>,
    send: &dyn Fn(Batch) -> bool,
    classify: &dyn Fn(rusqlite::Error, &mpsc::Sender<Batch>) -> StoreError,
) {
    let (mut stmt, params) = match prepare(conn, request) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(classify(e, rows)));
            return;
        }
    };
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let n = columns.len();
    if ready.send(Ok(columns)).is_err() {
        return;
    }
    let mut cursor = match stmt.query(params_from_iter(params.iter())) {
        Ok(c) => c,
        Err(e) => {
            let _ = send(Err(classify(e, rows)));
            return;
        }
    };
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH_ROWS);
    loop {
        match cursor.next() {
            Ok(Some(row)) => {
                match super::sqlite::row_values(row, n) {
                    Ok(values) => batch.push(values),
                    Err(e) => {
                        let _ = send(Err(classify(e, rows)));
                        return;
                    }
                }
                if batch.len() == BATCH_ROWS {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                    if !send(Ok(full)) {
                        return;
                    }
                }
            }
            Ok(None) => {
                if !batch.is_empty() {
                    let _ = send(Ok(batch));
                }
                return;
            }
            Err(e) => {
                let _ = send(Err(classify(e, rows)));
                return;
            }
        }
    }
}

/// `request`'s compiled statement, from the connection's cache, and the values to bind to it.
/// Compiling is a large part of a small query, and clients repeat queries, often with other
/// numbers (a cone elsewhere): a text's numbers are made parameters ([`lift_numbers`]) so that
/// those share one statement. When the lifted text does not compile, the text as given is
/// compiled instead, so that a failing query reports its own error.
fn prepare<'c>(
    conn: &'c Connection,
    request: &'c QueryRequest,
) -> rusqlite::Result<(CachedStatement<'c>, Cow<'c, [Value]>)> {
    if request.params.is_empty() {
        if let Some((sql, values)) = lift_numbers(&request.sql) {
            if let Ok(stmt) = conn.prepare_cached(&sql) {
                return Ok((stmt, Cow::Owned(values)));
            }
        }
    }
    let stmt = conn.prepare_cached(&request.sql)?;
    Ok((stmt, Cow::Borrowed(request.params.as_slice())))
}

/// SQLite virtual-machine steps between two looks at the clock of a query run inline: a
/// step is usually well under a microsecond, but one that reads a page from disk takes what
/// the disk takes, and no budget can interrupt that wait.
const INLINE_STEPS_BETWEEN_CHECKS: i32 = 100;

/// What running a query on the calling thread came to.
pub(crate) enum Inline {
    /// It ended within the budget: its column names and every batch (the last one may be the
    /// error that ended it, as a streamed query delivers it).
    Done(Vec<String>, Vec<Batch>),
    /// It could not be compiled.
    Failed(StoreError),
    /// It needed more than the budget of time or rows: it is to run on a blocking thread.
    TooLong,
}

/// Runs `request` (without temporary tables) on `conn`, on this thread, for at most `budget`
/// and `max_rows` rows. Most queries a service answers are small, and a query handed to a
/// blocking thread costs several thread wake-ups (the start, the columns, each batch, the end)
/// that take longer than the query itself; one that turns out long is stopped and started
/// again where it may take its time, so at most `budget` is spent twice.
pub(crate) fn run_inline(
    conn: &mut Connection,
    request: &QueryRequest,
    budget: Duration,
    max_rows: usize,
) -> Inline {
    let Some(limit) = Instant::now().checked_add(budget) else {
        return Inline::TooLong;
    };
    let exceeded = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&exceeded);
    if let Err(e) = conn.progress_handler(
        INLINE_STEPS_BETWEEN_CHECKS,
        Some(move || {
            let over = Instant::now() >= limit;
            if over {
                flag.store(true, Ordering::Relaxed);
            }
            over
        }),
    ) {
        tracing::warn!("cannot install the inline query's budget: {e}");
        return Inline::TooLong;
    }
    // Removed however the collection ends, a panic included: a pooled connection must not
    // keep a budget that has run out.
    let budget = BudgetGuard(conn);
    collect_inline(&*budget.0, request, &exceeded, max_rows)
}

/// Removes a connection's progress handler when dropped.
struct BudgetGuard<'a>(&'a mut Connection);

impl Drop for BudgetGuard<'_> {
    fn drop(&mut self) {
        self.0
            .progress_handler(0, None::<fn() -> bool>)
            .unwrap_or_else(|e| tracing::warn!("cannot remove the inline query's budget: {e}"));
    }
}

fn collect_inline(
    conn: &Connection,
    request: &QueryRequest,
    exceeded: &AtomicBool,
    max_rows: usize,
) -> Inline {
    let over = || exceeded.load(Ordering::Relaxed);
    let (mut stmt, params) = match prepare(conn, request) {
        Ok(s) => s,
        Err(_) if over() => return Inline::TooLong,
        Err(e) => return Inline::Failed(super::sqlite::backend(e)),
    };
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let n = columns.len();
    let mut batches: Vec<Batch> = Vec::new();
    let mut cursor = match stmt.query(params_from_iter(params.iter())) {
        Ok(c) => c,
        Err(_) if over() => return Inline::TooLong,
        Err(e) => {
            batches.push(Err(super::sqlite::backend(e)));
            return Inline::Done(columns, batches);
        }
    };
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut total = 0usize;
    loop {
        match cursor.next() {
            Ok(Some(row)) => {
                total += 1;
                if total > max_rows {
                    return Inline::TooLong;
                }
                match super::sqlite::row_values(row, n) {
                    Ok(values) => batch.push(values),
                    Err(e) => {
                        batches.push(Err(super::sqlite::backend(e)));
                        return Inline::Done(columns, batches);
                    }
                }
                if batch.len() == BATCH_ROWS {
                    batches.push(Ok(std::mem::take(&mut batch)));
                }
            }
            Ok(None) => {
                if !batch.is_empty() {
                    batches.push(Ok(batch));
                }
                return Inline::Done(columns, batches);
            }
            Err(_) if over() => return Inline::TooLong,
            Err(e) => {
                if !batch.is_empty() {
                    batches.push(Ok(batch));
                }
                batches.push(Err(super::sqlite::backend(e)));
                return Inline::Done(columns, batches);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    fn counting(n: u64) -> QueryRequest {
        QueryRequest::new(format!(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) \
             SELECT i, 'row ' || i AS label FROM c"
        ))
    }

    fn rows_of(batches: &[Batch]) -> Vec<Vec<Value>> {
        batches
            .iter()
            .flat_map(|b| b.as_ref().ok().cloned().unwrap_or_default())
            .collect()
    }

    #[test]
    fn a_small_query_ends_here_with_its_rows_in_batches() {
        let mut conn = Connection::open_in_memory().expect("db");
        let Inline::Done(columns, batches) =
            run_inline(&mut conn, &counting(1100), Duration::from_secs(5), 2048)
        else {
            panic!("1100 rows within 5 s and 2048 rows ended here");
        };
        assert_eq!(columns, ["i", "label"]);
        assert_eq!(
            batches
                .iter()
                .map(|b| b.as_ref().map(Vec::len).ok())
                .collect::<Vec<_>>(),
            [
                Some(BATCH_ROWS),
                Some(BATCH_ROWS),
                Some(1100 - 2 * BATCH_ROWS)
            ]
        );
        let rows = rows_of(&batches);
        assert_eq!(rows.len(), 1100);
        assert_eq!(
            rows[1099],
            [Value::Int(1100), Value::Text("row 1100".into())]
        );
    }

    #[test]
    fn a_long_query_is_given_up_within_its_budget_and_the_connection_stays_usable() {
        let mut conn = Connection::open_in_memory().expect("db");
        // Counting to 10^9 without a row out: far beyond 20 ms.
        let long = QueryRequest::new(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000000000) \
             SELECT COUNT(*) FROM c",
        );
        let started = Instant::now();
        assert!(matches!(
            run_inline(&mut conn, &long, Duration::from_millis(20), 2048),
            Inline::TooLong
        ));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // No budget left behind on the connection: a query longer than 20 ms now ends.
        let n: i64 = conn
            .query_row(
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300000) \
                 SELECT COUNT(*) FROM c",
                [],
                |r| r.get(0),
            )
            .expect("the connection answers");
        assert_eq!(n, 300_000);
    }

    #[test]
    fn more_rows_than_allowed_go_elsewhere() {
        let mut conn = Connection::open_in_memory().expect("db");
        assert!(matches!(
            run_inline(&mut conn, &counting(2049), Duration::from_secs(5), 2048),
            Inline::TooLong
        ));
        assert!(matches!(
            run_inline(&mut conn, &counting(2048), Duration::from_secs(5), 2048),
            Inline::Done(..)
        ));
    }

    #[test]
    fn errors_come_as_a_streamed_query_gives_them() {
        let mut conn = Connection::open_in_memory().expect("db");
        let bad = QueryRequest::new("SELECT nothing FROM nowhere");
        assert!(matches!(
            run_inline(&mut conn, &bad, Duration::from_secs(5), 10),
            Inline::Failed(_)
        ));
        // A failure while stepping ends the rows, after those read before it.
        let failing = QueryRequest::new(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5) \
             SELECT CASE WHEN i < 5 THEN i ELSE abs(-9223372036854775807 - 1) END FROM c",
        );
        let Inline::Done(_, batches) = run_inline(&mut conn, &failing, Duration::from_secs(5), 10)
        else {
            panic!("the failure is an answer");
        };
        assert_eq!(rows_of(&batches).len(), 4);
        assert!(
            batches.last().is_some_and(|b| b.is_err()),
            "ends with the error"
        );
    }

    #[test]
    fn texts_differing_in_numbers_each_get_their_own_answer() {
        let mut conn = Connection::open_in_memory().expect("db");
        for n in [3u64, 7, 1, 7] {
            let Inline::Done(_, batches) =
                run_inline(&mut conn, &counting(n), Duration::from_secs(5), 100)
            else {
                panic!("{n} rows end here");
            };
            let rows = rows_of(&batches);
            assert_eq!(rows.len() as u64, n);
            assert_eq!(
                rows.last().map(|r| r[0].clone()),
                Some(Value::Int(n as i64))
            );
        }
    }

    #[test]
    fn a_number_that_cannot_be_a_parameter_is_read_as_written() {
        let mut conn = Connection::open_in_memory().expect("db");
        // A parameter in a type name does not compile; the text as given does.
        let request = QueryRequest::new("SELECT CAST(12345 AS VARCHAR(3)) AS v, 4 AS w");
        let Inline::Done(columns, batches) =
            run_inline(&mut conn, &request, Duration::from_secs(5), 10)
        else {
            panic!("the query answers");
        };
        assert_eq!(columns, ["v", "w"]);
        assert_eq!(
            rows_of(&batches),
            [[Value::Text("12345".into()), Value::Int(4)]]
        );
    }

    #[test]
    fn cones_at_other_positions_run_one_statement_compiled_once() {
        let conn = Connection::open_in_memory().expect("db");
        crate::sqlite_functions::register(&conn).expect("functions");
        conn.execute_batch(
            "CREATE TABLE t(ra REAL, dec REAL); \
             CREATE VIRTUAL TABLE r USING rtree(id, minX, maxX, minY, maxY); \
             INSERT INTO t VALUES (10, 20), (30, 40); \
             INSERT INTO r VALUES (1, 9, 11, 19, 21), (2, 29, 31, 39, 41);",
        )
        .expect("schema");
        // The shape of a translated cone: an R*Tree box, a circle, the server's row limit.
        let cone = |ra: f64, dec: f64| {
            QueryRequest::new(format!(
                "SELECT ra FROM t AS _t1 WHERE (_t1.rowid IN (SELECT id FROM r WHERE \
                 maxX >= {} AND minX <= {} AND maxY >= {} AND minY <= {}) \
                 AND adql_contains(adql_point(ra, dec), adql_circle({ra}, {dec}, 0.5)) = 1) \
                 LIMIT 101",
                ra - 1.0,
                ra + 1.0,
                dec - 1.0,
                dec + 1.0
            ))
        };
        for (run, (ra, dec)) in [(10.0, 20.0), (30.0, 40.0), (50.0, -10.0)]
            .into_iter()
            .enumerate()
        {
            let request = cone(ra, dec);
            let (mut stmt, params) = prepare(&conn, &request).expect("compiles");
            let mut rows = stmt.query(params_from_iter(params.iter())).expect("runs");
            let mut found = Vec::new();
            while let Some(row) = rows.next().expect("steps") {
                found.push(row.get::<_, f64>(0).expect("ra"));
            }
            drop(rows);
            let expected: Vec<f64> = [10.0, 30.0].into_iter().filter(|&r| r == ra).collect();
            assert_eq!(found, expected, "the cone at {ra} {dec}");
            // Counters belong to a statement: one kept in the cache counts every run.
            assert_eq!(stmt.get_status(StatementStatus::Run), run as i32 + 1);
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
        }
    }
}
