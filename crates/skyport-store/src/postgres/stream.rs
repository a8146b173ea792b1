//! Streaming reads and bulk writes on PostgreSQL.
//!
//! A read runs in its own task on a reader connection: a transaction (read-only once the
//! upload tables are filled), the statement bound to a portal, and rows fetched from the
//! portal in batches sent through a bounded channel. The task stops the query when the
//! consumer drops the stream (the server is told to cancel a fetch in progress) or when the
//! deadline passes (a `statement_timeout` on the server as well as our own clock).

use std::time::Duration;

use bytes::Bytes;
use futures_util::pin_mut;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::values::Param;
use super::{backend, cells, describe};
use crate::ddl::{self, quote_ident};
use crate::stream::{
    deliver, Batch, ColumnKind, QueryRequest, RowStream, StreamEnd, TempTable, BATCHES_IN_FLIGHT,
    BATCH_ROWS,
};
use crate::{Dialect, StoreError, Value};

fn sql_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Integer => "BIGINT",
        ColumnKind::Real => "DOUBLE PRECISION",
        ColumnKind::Text => "TEXT",
    }
}

/// The name of an upload table in the session's temporary schema (`TAP_UPLOAD.t` → `t`).
pub fn temp_table_name(name: &str) -> &str {
    name.strip_prefix("TAP_UPLOAD.").unwrap_or(name)
}

async fn create_temp_tables(
    tx: &deadpool_postgres::Transaction<'_>,
    tables: &[TempTable],
) -> Result<(), StoreError> {
    for t in tables {
        let name = quote_ident(temp_table_name(&t.name));
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|(c, kind)| format!("{} {}", quote_ident(c), sql_type(*kind)))
            .collect();
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE {name} ({}) ON COMMIT DROP",
            columns.join(", ")
        ))
        .await
        .map_err(backend)?;
        let names: Vec<String> = t.columns.iter().map(|(c, _)| c.clone()).collect();
        copy_into(tx, &format!("pg_temp.{name}"), &names, &t.rows).await?;
    }
    Ok(())
}

/// Writes `rows` into `schema.table` with COPY (binary), inside the caller's transaction.
pub(crate) async fn copy_in(
    tx: &deadpool_postgres::Transaction<'_>,
    schema: &str,
    table: &str,
    columns: &[String],
    rows: &[Vec<Value>],
) -> Result<u64, StoreError> {
    copy_into(
        tx,
        &ddl::table_name(Dialect::Postgres, schema, table),
        columns,
        rows,
    )
    .await
    .map_err(|e| match e {
        StoreError::Backend(m) => {
            StoreError::Backend(format!("copying into {schema}.{table}: {m}"))
        }
        other => other,
    })
}

async fn copy_into(
    tx: &deadpool_postgres::Transaction<'_>,
    table_sql: &str,
    columns: &[String],
    rows: &[Vec<Value>],
) -> Result<u64, StoreError> {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let cols = cols.join(", ");
    // The column types, from the table itself, tell the binary format what to send.
    let probe = tx
        .prepare(&format!("SELECT {cols} FROM {table_sql} LIMIT 0"))
        .await
        .map_err(backend)?;
    let types: Vec<_> = probe.columns().iter().map(|c| c.type_().clone()).collect();
    let sink = tx
        .copy_in::<_, Bytes>(&format!(
            "COPY {table_sql} ({cols}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .map_err(backend)?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    crate::migration::check_widths(columns, rows)?;
    for (n, row) in rows.iter().enumerate() {
        let values: Vec<Param<'_>> = row.iter().map(Param).collect();
        writer
            .as_mut()
            .write_raw(values)
            .await
            .map_err(|e| StoreError::Backend(format!("row {}: {}", n + 1, describe(&e))))?;
    }
    writer.finish().await.map_err(backend)
}

/// Starts `request` on `client`; returns once the statement is prepared and bound.
pub(super) async fn start(
    client: deadpool_postgres::Object,
    request: QueryRequest,
) -> Result<RowStream, StoreError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (rows_tx, rows_rx) = mpsc::channel(BATCHES_IN_FLIGHT);
    let end = StreamEnd::default();
    tokio::spawn(run(client, request, ready_tx, rows_tx, end.clone()));
    match ready_rx.await {
        Ok(Ok(columns)) => Ok(RowStream::new(columns, rows_rx, end)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StoreError::Backend(
            "the query task ended unexpectedly".into(),
        )),
    }
}

/// What ended a fetch that did not deliver rows.
enum Stop {
    Consumer,
    Deadline,
}

async fn prepare(
    tx: &deadpool_postgres::Transaction<'_>,
    request: &QueryRequest,
    limit: Option<Duration>,
) -> Result<(Vec<String>, tokio_postgres::Portal), StoreError> {
    if let Some(limit) = limit {
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = {}",
            limit.as_millis().max(1)
        ))
        .await
        .map_err(backend)?;
    }
    create_temp_tables(tx, &request.temp_tables).await?;
    // Uploads are in; from here the transaction cannot write anything.
    tx.batch_execute("SET TRANSACTION READ ONLY")
        .await
        .map_err(backend)?;
    let stmt = tx.prepare(&request.sql).await.map_err(backend)?;
    let columns: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let values: Vec<Param<'_>> = request.params.iter().map(Param).collect();
    let portal = tx.bind_raw(&stmt, values).await.map_err(backend)?;
    Ok((columns, portal))
}

async fn run(
    mut client: deadpool_postgres::Object,
    request: QueryRequest,
    ready: oneshot::Sender<Result<Vec<String>, StoreError>>,
    rows_tx: mpsc::Sender<Batch>,
    end: StreamEnd,
) {
    let deadline = request.timeout.map(|t| (Instant::now() + t, t));
    let cancel = client.cancel_token();
    let tx = match client.build_transaction().read_only(false).start().await {
        Ok(tx) => tx,
        Err(e) => {
            let _ = ready.send(Err(backend(e)));
            return;
        }
    };
    let (columns, portal) = match prepare(&tx, &request, deadline.map(|d| d.1)).await {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(columns)).is_err() {
        return;
    }
    loop {
        let fetch = tx.query_portal(&portal, BATCH_ROWS as i32);
        let outcome = tokio::select! {
            r = fetch => Ok(r),
            () = rows_tx.closed() => Err(Stop::Consumer),
            () = sleep_until(deadline.map(|d| d.0)) => Err(Stop::Deadline),
        };
        let rows = match outcome {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                let timed_out = e.code() == Some(&SqlState::QUERY_CANCELED)
                    && deadline
                        .is_some_and(|(at, _)| Instant::now() + Duration::from_millis(50) >= at);
                let error = match (timed_out, deadline) {
                    (true, Some((_, limit))) => StoreError::Timeout(limit),
                    _ => backend(e),
                };
                deliver(&rows_tx, Err(error), request.stall, &end).await;
                return;
            }
            Err(stop) => {
                // The fetch may still be running on the server: ask it to stop.
                if let Err(e) = cancel.cancel_query(NoTls).await {
                    tracing::warn!("cannot cancel a PostgreSQL query: {}", describe(&e));
                }
                if let (Stop::Deadline, Some((_, limit))) = (stop, deadline) {
                    deliver(
                        &rows_tx,
                        Err(StoreError::Timeout(limit)),
                        request.stall,
                        &end,
                    )
                    .await;
                }
                return;
            }
        };
        let last = rows.len() < BATCH_ROWS;
        let batch: Result<Vec<Vec<Value>>, StoreError> = rows.iter().map(cells).collect();
        let failed = batch.is_err();
        if !rows.is_empty() || failed {
            let send = tokio::select! {
                sent = deliver(&rows_tx, batch, request.stall, &end) => sent,
                () = sleep_until(deadline.map(|d| d.0)) => {
                    if let Some((_, limit)) = deadline {
                        // The channel is full: the consumer finds the error after the last
                        // batch it holds.
                        end.set(StoreError::Timeout(limit));
                    }
                    false
                }
            };
            if !send || failed {
                return;
            }
        }
        if last {
            break;
        }
    }
    // Read-only: nothing to keep; ending it drops the upload tables too.
    let _ = tx.rollback().await;
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
