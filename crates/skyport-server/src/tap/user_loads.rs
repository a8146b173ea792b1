//! User-table loads in structured formats: a FITS binary table (`application/fits`, pyvo's
//! `FITSTable`), Parquet or a VOTable. FITS and Parquet keep their index at the end or in
//! headers read before any row, and no load should hold the archive's writer while a slow
//! client sends it, so the body is first spooled to a file (bounded in size), then read a
//! batch of rows at a time on a blocking thread and handed to the load's transaction through
//! a channel of two batches: memory is that of a batch or two, whatever the table's length.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::StatusCode;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use skyport_store::user_tables::{UserTable, UserType};
use skyport_store::{StoreError, Value};
use tokio::io::AsyncWriteExt;

use crate::dali::DaliError;

/// Batches of rows, in a table's column order, as a load's transaction takes them.
pub type RowBatches = BoxStream<'static, Result<Vec<Vec<Value>>, StoreError>>;

/// Rows read and written per batch.
const BATCH_ROWS: usize = 2_000;

/// A binary format rows are loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryFormat {
    /// A FITS file's first binary table.
    Fits,
    /// Parquet.
    Parquet,
    /// A VOTable's first table (TABLEDATA, BINARY or BINARY2).
    VoTable,
}

impl BinaryFormat {
    /// The format a MIME type names, if binary.
    pub fn of(mime: &str) -> Option<BinaryFormat> {
        match mime {
            "application/fits" | "application/x-fits" | "image/fits" => Some(BinaryFormat::Fits),
            "application/vnd.apache.parquet" | "application/x-parquet" | "application/parquet" => {
                Some(BinaryFormat::Parquet)
            }
            "application/x-votable+xml" | "text/xml" | "application/xml" => {
                Some(BinaryFormat::VoTable)
            }
            _ => None,
        }
    }
}

/// A spooled body, removed when dropped.
pub(crate) struct Spool(PathBuf);

impl Spool {
    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Spool {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `body` to a new file in `dir`, refusing more than `max_bytes`.
pub(crate) async fn spool(body: Body, dir: &Path, max_bytes: u64) -> Result<Spool, DaliError> {
    let failed = |e: std::io::Error| {
        tracing::error!("spooling a table load: {e}");
        DaliError::internal("the load could not be kept for reading (logged)")
    };
    tokio::fs::create_dir_all(dir).await.map_err(failed)?;
    let spooled = Spool(dir.join(format!("{}.load", uuid::Uuid::new_v4().simple())));
    let mut file = tokio::fs::File::create(&spooled.0).await.map_err(failed)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DaliError::usage(format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(DaliError::usage(format!(
                "a load is at most {max_bytes} bytes; nothing was added"
            ))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.flush().await.map_err(failed)?;
    Ok(spooled)
}

/// The rows of `body` in `format`, in batches in `t`'s column order, each value read as its
/// column's type; the first error (a column missing or extra, a value of the wrong type, a
/// file that is not what it says) ends the stream.
pub async fn binary_rows(
    format: BinaryFormat,
    body: Body,
    t: &UserTable,
    spool_dir: &Path,
    max_bytes: u64,
) -> Result<RowBatches, DaliError> {
    let spooled = spool(body, spool_dir, max_bytes).await?;
    file_rows(format, spooled, t)
}

/// The fields of the VOTable at `path` (read on a blocking thread).
pub async fn votable_fields(path: PathBuf) -> Result<Vec<skyport_votable::Field>, String> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        skyport_votable::VotableRows::open(std::io::BufReader::new(file), usize::MAX)
            .map(|r| r.fields().to_vec())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The rows of the file at `file` in `format`, in batches in `t`'s column order, as
/// [`binary_rows`] gives them; `file` is held until the rows are read.
pub fn file_rows<P: AsRef<Path> + Send + 'static>(
    format: BinaryFormat,
    file: P,
    t: &UserTable,
) -> Result<RowBatches, DaliError> {
    let types: Vec<UserType> = t
        .columns
        .iter()
        .map(|c| c.user_type().map_err(DaliError::usage))
        .collect::<Result<_, _>>()?;
    let table = t.clone();
    // `Some(batch)` carries rows, `None` says the file was read to its end: a channel that
    // closes without it (the reader panicked) fails the load instead of committing part of it.
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Option<Result<Vec<Vec<Value>>, StoreError>>>(2);
    tokio::task::spawn_blocking(move || {
        let failed = |m: String| StoreError::Query(format!("{m}; nothing was added"));
        let result = (|| -> Result<(), StoreError> {
            let mut source = Source::open(format, file.as_ref()).map_err(failed)?;
            let order = super::user_tables::header_order(&table, &source.names())
                .map_err(|e| StoreError::Query(e.detail))?;
            let mut line = 0u64;
            while let Some(batch) = source.next().map_err(failed)? {
                let mut rows = Vec::with_capacity(batch.len());
                for cells in batch {
                    line += 1;
                    let mut row = Vec::with_capacity(order.len());
                    for (c, &i) in order.iter().enumerate() {
                        let v = types[c].coerce(cells[i].clone()).map_err(|e| {
                            failed(format!("row {line}, column {}: {e}", table.columns[c].name))
                        })?;
                        row.push(v);
                    }
                    rows.push(row);
                }
                if sender.blocking_send(Some(Ok(rows))).is_err() {
                    // The load stopped (an error, or the client gone).
                    return Ok(());
                }
            }
            Ok(())
        })();
        let _ = sender.blocking_send(match result {
            Ok(()) => None,
            Err(e) => Some(Err(e)),
        });
    });
    Ok(
        futures_util::stream::unfold(Some(receiver), |r| async move {
            let mut r = r?;
            match r.recv().await {
                Some(Some(batch)) => Some((batch, Some(r))),
                Some(None) => None,
                None => {
                    tracing::error!("BUG: a table load's reader stopped without finishing");
                    Some((
                        Err(StoreError::Backend(
                            "the table could not be read to its end".into(),
                        )),
                        None,
                    ))
                }
            }
        })
        .boxed(),
    )
}

/// A binary table open for reading.
enum Source {
    Fits(skyport_fits::bintable::BinTableReader),
    Parquet(skyport_votable::ParquetRows),
    VoTable(Box<skyport_votable::VotableRows<std::io::BufReader<std::fs::File>>>),
}

impl Source {
    fn open(format: BinaryFormat, path: &Path) -> Result<Source, String> {
        match format {
            BinaryFormat::Fits => skyport_fits::bintable::BinTableReader::open(path)
                .map(Source::Fits)
                .map_err(|e| format!("the FITS file: {e}")),
            BinaryFormat::Parquet => {
                let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
                skyport_votable::read_parquet(file, BATCH_ROWS)
                    .map(Source::Parquet)
                    .map_err(|e| format!("the Parquet file: {e}"))
            }
            BinaryFormat::VoTable => {
                let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
                // The row quota, checked as batches are written, bounds the rows.
                skyport_votable::VotableRows::open(
                    std::io::BufReader::with_capacity(1 << 16, file),
                    usize::MAX,
                )
                .map(|r| Source::VoTable(Box::new(r)))
                .map_err(|e| format!("the VOTable: {e}"))
            }
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            Source::Fits(r) => r.names(),
            Source::Parquet(r) => r.names().to_vec(),
            Source::VoTable(r) => r.fields().iter().map(|f| f.name.clone()).collect(),
        }
    }

    fn next(&mut self) -> Result<Option<Vec<Vec<Value>>>, String> {
        use skyport_fits::bintable::TableCell;
        match self {
            Source::Fits(r) => r
                .next_batch(BATCH_ROWS)
                .map(|b| {
                    b.map(|rows| {
                        rows.into_iter()
                            .map(|row| {
                                row.into_iter()
                                    .map(|c| match c {
                                        TableCell::Bool(b) => Value::Bool(b),
                                        TableCell::Int(i) => Value::Int(i),
                                        TableCell::Float(f) => Value::Float(f),
                                        TableCell::Text(t) => Value::Text(t),
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                })
                .map_err(|e| format!("the FITS file: {e}")),
            Source::Parquet(r) => r
                .next_batch()
                .map(|b| b.map(values))
                .map_err(|e| format!("the Parquet file: {e}")),
            Source::VoTable(r) => r
                .next_batch(BATCH_ROWS)
                .map(|b| b.map(values))
                .map_err(|e| format!("the VOTable: {e}")),
        }
    }
}

/// Rows of read cells as values.
fn values(rows: Vec<Vec<skyport_votable::Datum>>) -> Vec<Vec<Value>> {
    rows.into_iter()
        .map(|row| row.into_iter().map(super::upload::value).collect())
        .collect()
}
