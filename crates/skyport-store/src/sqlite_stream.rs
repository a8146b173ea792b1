//! Streaming queries on a SQLite reader connection: temporary upload tables, a progress
//! handler that stops the statement when the consumer is gone or the deadline has passed,
//! and rows sent in batches through a bounded channel.

use std::time::Instant;

use rusqlite::{params_from_iter, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::ddl::quote_ident;
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
    // Compiling the SQL is a large part of a small query, and clients repeat queries.
    let prepared = conn.prepare_cached(&request.sql);
    let mut stmt = match prepared {
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
    let mut cursor = match stmt.query(params_from_iter(request.params.iter())) {
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
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    match row.get_ref(i) {
                        Ok(v) => values.push(super::sqlite::from_ref(v)),
                        Err(e) => {
                            let _ = send(Err(classify(e, rows)));
                            return;
                        }
                    }
                }
                batch.push(values);
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
