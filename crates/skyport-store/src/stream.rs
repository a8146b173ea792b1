//! Streaming reads: the rows of a query arrive in small batches through a bounded channel, so a
//! result of any size flows from the database cursor to the client in constant memory. Dropping
//! the [`RowStream`] cancels the query; a deadline stops it with [`StoreError::Timeout`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{StoreError, Value};

/// SQL storage class of a temporary table's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Integers and booleans.
    Integer,
    /// Floating point.
    Real,
    /// Text (strings, timestamps, arrays as DALI text).
    Text,
}

/// A table that exists only while one query runs (a TAP upload).
#[derive(Debug, Clone, PartialEq)]
pub struct TempTable {
    /// Physical table name, as the translated SQL names it.
    pub name: String,
    /// Column names and kinds.
    pub columns: Vec<(String, ColumnKind)>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

/// A read-only query to stream.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// SQL text in the store's dialect.
    pub sql: String,
    /// Bound parameters.
    pub params: Vec<Value>,
    /// Tables created for this query only.
    pub temp_tables: Vec<TempTable>,
    /// Longest the query may run (from the first step to the last row).
    pub timeout: Option<Duration>,
    /// Longest the query waits for its consumer to take a batch (a client not reading its
    /// result) before it stops with [`StoreError::Stalled`], freeing its connection.
    pub stall: Option<Duration>,
}

impl QueryRequest {
    /// A request for `sql` without parameters, uploads or time limit.
    pub fn new(sql: impl Into<String>) -> QueryRequest {
        QueryRequest {
            sql: sql.into(),
            params: Vec::new(),
            temp_tables: Vec::new(),
            timeout: None,
            stall: None,
        }
    }
}

/// Rows per batch sent through the channel.
pub const BATCH_ROWS: usize = 512;
/// Batches buffered between the database thread and the consumer.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// A batch of rows or the error that ended the query.
pub type Batch = Result<Vec<Vec<Value>>, StoreError>;

/// The rows of a running query.
#[derive(Debug)]
pub struct RowStream {
    /// Column names of the result.
    pub columns: Vec<String>,
    receiver: mpsc::Receiver<Batch>,
    end: StreamEnd,
}

impl RowStream {
    /// Wraps a receiver filled by a backend, with the [`StreamEnd`] it reports through when
    /// the channel has no room.
    pub fn new(columns: Vec<String>, receiver: mpsc::Receiver<Batch>, end: StreamEnd) -> RowStream {
        RowStream {
            columns,
            receiver,
            end,
        }
    }

    /// A stream of batches already read (a query that ended before it was handed out).
    pub fn ready(columns: Vec<String>, batches: Vec<Batch>) -> RowStream {
        let (tx, receiver) = mpsc::channel(batches.len().max(1));
        for batch in batches {
            // The channel holds them all: it was made as long as the list.
            let _ = tx.try_send(batch);
        }
        RowStream {
            columns,
            receiver,
            end: StreamEnd::default(),
        }
    }

    /// The next batch; `None` once every row has been delivered.
    pub async fn next_batch(&mut self) -> Option<Batch> {
        match self.receiver.recv().await {
            Some(batch) => Some(batch),
            None => self.end.take().map(Err),
        }
    }

    /// The next batch, for callers on a blocking thread.
    pub fn blocking_next_batch(&mut self) -> Option<Batch> {
        match self.receiver.blocking_recv() {
            Some(batch) => Some(batch),
            None => self.end.take().map(Err),
        }
    }
}

/// The error that ended a stream when its channel had no room for it (the consumer was not
/// taking batches): the consumer finds it after the last batch, so a stopped query never reads
/// as a complete result.
#[derive(Debug, Clone, Default)]
pub struct StreamEnd(Arc<Mutex<Option<StoreError>>>);

impl StreamEnd {
    /// Records the error that ended the stream.
    pub fn set(&self, error: StoreError) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(error);
        }
    }

    fn take(&self) -> Option<StoreError> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Sends `batch` to the consumer from async code, waiting at most `stall` for room; when there
/// is none in time, records why the stream ends in `end`. True when the batch went.
pub(crate) async fn deliver(
    rows: &mpsc::Sender<Batch>,
    batch: Batch,
    stall: Option<Duration>,
    end: &StreamEnd,
) -> bool {
    let Some(stall) = stall else {
        return rows.send(batch).await.is_ok();
    };
    let permit = match tokio::time::timeout(stall, rows.reserve()).await {
        Ok(Ok(permit)) => permit,
        // The consumer is gone.
        Ok(Err(_)) => return false,
        Err(_) => {
            end.set(match batch {
                Err(e) => e,
                Ok(_) => StoreError::Stalled(stall),
            });
            return false;
        }
    };
    permit.send(batch);
    true
}

/// [`deliver`] for a producer on a blocking thread (`spawn_blocking`, which has the runtime's
/// handle for the stall timer). Like `blocking_send`, it must not be called on an async worker.
pub(crate) fn blocking_deliver(
    rows: &mpsc::Sender<Batch>,
    batch: Batch,
    stall: Option<Duration>,
    end: &StreamEnd,
) -> bool {
    match (stall, tokio::runtime::Handle::try_current()) {
        (Some(_), Ok(runtime)) => runtime.block_on(deliver(rows, batch, stall, end)),
        _ => rows.blocking_send(batch).is_ok(),
    }
}

/// A stored UWS job: the fields the store filters on, and the job itself as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Job id.
    pub id: String,
    /// Creation time, ISO 8601 UTC (sorts as text).
    pub created: String,
    /// UWS phase.
    pub phase: String,
    /// The service whose job it is (`tap`, `soda`).
    pub service: String,
    /// The whole job, serialised by its owner.
    pub document: String,
}

/// A change to one stored job, decided while its row is locked: given the stored row, the row
/// to write instead, or `None` to leave it as it is.
pub type JobEdit = Box<dyn FnOnce(&JobRow) -> Option<JobRow> + Send>;
