//! Writing planned cutouts: one file each (async results), or all in one stream — a
//! multi-extension FITS file ending in an `INDEX` table, or a tar of FITS files ending in
//! `index.csv`. Cutouts are made a few at a time (one per core) in order, each into a
//! temporary file that is copied out and removed, so memory holds at most a few cutouts
//! whatever the number asked for.
//!
//! Every cut runs on a blocking thread that stops when the [`Cutter`]'s token is cancelled;
//! dropping a cut's future (the request, body or job gone) cancels the token, so no cut
//! outlives the one who asked for it.

use std::path::{Path, PathBuf};

use futures_util::{stream, StreamExt};
use skyport_fits::{
    format_card, write_cutout, write_table, Cancel, Cancelled, Card, Column, Compression,
    CutoutSpec, FitsError, HeaderValue, Written,
};
use skyport_uws::{JobResult, ProgressReporter};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use super::plan::{Item, Outcome};
use super::request::{Package, FITS_MIME};
use super::Soda;

/// Where and under which token cutouts are made.
pub struct Cutter<'a> {
    /// The service (it counts the work in progress).
    pub soda: &'a Soda,
    /// Where cutouts are written.
    pub dir: &'a Path,
    /// Stops the work.
    pub cancel: &'a Cancel,
}

/// Why a cutout was not made.
#[derive(Debug)]
pub enum CutError {
    /// Its token was cancelled: the whole request or job stops.
    Cancelled(Cancelled),
    /// It failed (the message starts with SODA's label); other cutouts go on.
    Failed(String),
}

impl CutError {
    /// The message for an index or an error document.
    pub fn message(&self) -> String {
        match self {
            CutError::Cancelled(c) => format!("Error: {c}"),
            CutError::Failed(m) => m.clone(),
        }
    }
}

/// A cutout written to a temporary file (removed when dropped).
pub struct TempCutout {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub written: Written,
}

impl Drop for TempCutout {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn temp_name(dir: &Path, suffix: &str) -> PathBuf {
    dir.join(format!("{:016x}{suffix}", rand::random::<u64>()))
}

/// Cuts a ready item into a temporary file in the cutter's directory. Dropping the future
/// cancels the cutter's token (nobody waits for this cutout, nor for the ones beside it).
pub async fn cut(
    cutter: &Cutter<'_>,
    item: &Item,
    compression: Option<Compression>,
    extensions_only: bool,
) -> Result<TempCutout, CutError> {
    let Outcome::Ready {
        source,
        planes,
        pixels,
    } = &item.outcome
    else {
        return Err(CutError::Failed("Error: nothing to cut".into()));
    };
    let path = temp_name(cutter.dir, ".fits");
    let (src, planes, pixels) = (source.path.clone(), planes.clone(), *pixels);
    let history = format!(
        "skyport SODA cutout {pixels} of {} ({})",
        source.did, item.label
    );
    let dest = path.clone();
    let token = cutter.cancel.clone();
    let guard = cutter.cancel.on_drop();
    let working = cutter.soda.working();
    let done = tokio::task::spawn_blocking(move || {
        let _working = working;
        write_cutout(
            &src,
            &CutoutSpec {
                planes: &planes,
                pixels,
                compression,
                extensions_only,
                history: Some(history),
            },
            &dest,
            &token,
        )
    })
    .await;
    guard.disarm();
    let written = done
        .map_err(|e| CutError::Failed(format!("Error: the cutout task failed: {e}")))?
        .map_err(|e| match e {
            FitsError::Cancelled(c) => CutError::Cancelled(c),
            e => CutError::Failed(format!("Error: {e}")),
        })?;
    Ok(TempCutout { path, written })
}

/// The short status word of an item for indexes.
fn status_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ready { .. } => "ok",
        Outcome::Empty(_) => "empty",
        Outcome::Failed { .. } => "error",
    }
}

fn message(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ready { .. } => String::new(),
        Outcome::Empty(m) | Outcome::Failed { message: m, .. } => m.clone(),
    }
}

/// Cuts items a few at a time, in order.
fn cuts<'a>(
    cutter: &'a Cutter<'a>,
    items: &'a [Item],
    compression: Option<Compression>,
    extensions_only: bool,
) -> impl futures_util::Stream<Item = (&'a Item, Option<Result<TempCutout, CutError>>)> + 'a {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    stream::iter(items)
        .map(move |item| async move {
            match item.outcome {
                Outcome::Ready { .. } => (
                    item,
                    Some(cut(cutter, item, compression, extensions_only).await),
                ),
                _ => (item, None),
            }
        })
        .buffered(parallel)
}

/// Reports progress every 1% (and at the end).
async fn report(progress: &ProgressReporter, done: usize, total: usize) {
    let step = (total / 100).max(1);
    if done.is_multiple_of(step) || done == total {
        progress.report(done as u64, total as u64).await;
    }
}

/// Writes each item to its own file in the cutter's directory (`cutout-N.fits`, or
/// `cutout-N.txt` holding the error): one UWS result per combination, as SODA async asks.
/// Each result is reported to `progress` as soon as its file is complete, so a job stopped
/// in the middle keeps them.
pub async fn write_separate(
    cutter: &Cutter<'_>,
    items: &[Item],
    compression: Option<Compression>,
    progress: &ProgressReporter,
) -> Result<Vec<JobResult>, String> {
    let dir = cutter.dir;
    let mut results = Vec::with_capacity(items.len());
    let mut done = cuts(cutter, items, compression, false);
    let mut count = 0;
    while let Some((item, cutout)) = done.next().await {
        let id = format!("cutout-{}", item.number);
        if let Some(Err(CutError::Cancelled(c))) = cutout {
            return Err(format!("Error: {c}"));
        }
        let result = match cutout {
            Some(Ok(c)) => {
                let file = format!("{id}.fits");
                tokio::fs::rename(&c.path, dir.join(&file))
                    .await
                    .map_err(|e| format!("Error: cannot keep a cutout: {e}"))?;
                JobResult {
                    id,
                    file,
                    mime: FITS_MIME.into(),
                    size: c.written.size,
                }
            }
            other => {
                let text = match other {
                    Some(Err(e)) => e.message(),
                    _ => message(&item.outcome),
                };
                let file = format!("{id}.txt");
                let body = format!("{text}\n");
                tokio::fs::write(dir.join(&file), &body)
                    .await
                    .map_err(|e| format!("Error: cannot write a result: {e}"))?;
                JobResult {
                    id,
                    file,
                    mime: "text/plain".into(),
                    size: body.len() as u64,
                }
            }
        };
        progress.result(result.clone()).await;
        results.push(result);
        count += 1;
        report(progress, count, items.len()).await;
    }
    Ok(results)
}

/// One row of the index of a packaged response.
struct IndexRow {
    file: String,
    first_hdu: i64,
    hdus: i64,
    status: &'static str,
    message: String,
}

/// Copies `file` from byte `from` to `out`.
async fn copy_from<W: AsyncWrite + Unpin>(
    file: &Path,
    from: u64,
    out: &mut W,
) -> Result<u64, String> {
    let mut f = tokio::fs::File::open(file)
        .await
        .map_err(|e| format!("Error: reading a cutout: {e}"))?;
    f.seek(std::io::SeekFrom::Start(from))
        .await
        .map_err(|e| format!("Error: reading a cutout: {e}"))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| format!("Error: reading a cutout: {e}"))?;
        if n == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..n])
            .await
            .map_err(|e| format!("Error: sending: {e}"))?;
        total += n as u64;
    }
}

/// The primary header of a packaged multi-extension file.
fn mef_primary(count: usize) -> Vec<u8> {
    let cards = [
        ("SIMPLE", HeaderValue::Logical(true), "conforms to FITS"),
        ("BITPIX", HeaderValue::Int(8), "no data here"),
        ("NAXIS", HeaderValue::Int(0), "no data here"),
        ("EXTEND", HeaderValue::Logical(true), "cutouts follow"),
        (
            "ORIGIN",
            HeaderValue::Str(crate::SERVER_NAME.into()),
            "SODA service",
        ),
        (
            "NCUTOUT",
            HeaderValue::Int(count as i64),
            "cutouts asked for; see the INDEX table",
        ),
    ];
    let mut out = String::new();
    for (key, value, comment) in cards {
        out.push_str(&format_card(&Card {
            key: key.into(),
            value: Some(value),
            comment: Some(comment.into()),
        }));
    }
    out.push_str(&format!("{:<80}", "END"));
    let mut bytes = out.into_bytes();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes
}

fn tar_header(name: &str, size: u64) -> Result<Vec<u8>, String> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| format!("Error: tar entry name {name:?}: {e}"))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h.as_bytes().to_vec())
}

async fn tar_entry<W: AsyncWrite + Unpin>(
    out: &mut W,
    name: &str,
    body: &[u8],
) -> Result<(), String> {
    out.write_all(&tar_header(name, body.len() as u64)?)
        .await
        .map_err(|e| format!("Error: sending: {e}"))?;
    out.write_all(body)
        .await
        .map_err(|e| format!("Error: sending: {e}"))?;
    pad(out, body.len() as u64, 512).await
}

async fn pad<W: AsyncWrite + Unpin>(out: &mut W, len: u64, block: u64) -> Result<(), String> {
    let fill = (block - len % block) % block;
    out.write_all(&vec![0u8; fill as usize])
        .await
        .map_err(|e| format!("Error: sending: {e}"))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn box_of(item: &Item) -> [i64; 4] {
    match &item.outcome {
        Outcome::Ready { pixels, .. } => [
            pixels.x0 as i64,
            pixels.x1 as i64,
            pixels.y0 as i64,
            pixels.y1 as i64,
        ],
        _ => [0; 4],
    }
}

/// Writes every item into one stream: a multi-extension FITS file or a tar. A cancelled
/// token ends it with an error (the stream is then incomplete).
pub async fn write_package<W: AsyncWrite + Unpin>(
    cutter: &Cutter<'_>,
    items: &[Item],
    compression: Option<Compression>,
    package: Package,
    out: &mut W,
    progress: &ProgressReporter,
) -> Result<(), String> {
    let mef = package != Package::Tar;
    if mef {
        out.write_all(&mef_primary(items.len()))
            .await
            .map_err(|e| format!("Error: sending: {e}"))?;
    }
    let mut index = Vec::with_capacity(items.len());
    let mut next_hdu = 1i64;
    let dir = cutter.dir;
    let mut done = cuts(cutter, items, compression, mef);
    let mut count = 0;
    while let Some((item, cutout)) = done.next().await {
        let row = match cutout {
            Some(Err(CutError::Cancelled(c))) => return Err(format!("Error: {c}")),
            Some(Ok(c)) => {
                let planes = match &item.outcome {
                    Outcome::Ready { planes, .. } => planes.len() as i64,
                    _ => 0,
                };
                if mef {
                    copy_from(&c.path, c.written.first_extension, out).await?;
                    next_hdu += planes;
                    IndexRow {
                        file: String::new(),
                        first_hdu: next_hdu - planes,
                        hdus: planes,
                        status: "ok",
                        message: String::new(),
                    }
                } else {
                    let name = format!("cutout-{}.fits", item.number);
                    out.write_all(&tar_header(&name, c.written.size)?)
                        .await
                        .map_err(|e| format!("Error: sending: {e}"))?;
                    copy_from(&c.path, 0, out).await?;
                    pad(out, c.written.size, 512).await?;
                    IndexRow {
                        file: name,
                        first_hdu: 0,
                        hdus: planes,
                        status: "ok",
                        message: String::new(),
                    }
                }
            }
            Some(Err(CutError::Failed(e))) => IndexRow {
                file: String::new(),
                first_hdu: -1,
                hdus: 0,
                status: "error",
                message: e,
            },
            None => IndexRow {
                file: String::new(),
                first_hdu: -1,
                hdus: 0,
                status: status_word(&item.outcome),
                message: message(&item.outcome),
            },
        };
        index.push(row);
        count += 1;
        report(progress, count, items.len()).await;
    }
    drop(done);
    if mef {
        let path = temp_name(dir, ".fits");
        let text = |f: &dyn Fn(usize) -> String| (0..items.len()).map(f).collect::<Vec<_>>();
        let int = |f: &dyn Fn(usize) -> i64| (0..items.len()).map(f).collect::<Vec<_>>();
        let columns = vec![
            ("CUTOUT", Column::Int(int(&|i| items[i].number as i64))),
            ("ID", Column::Text(text(&|i| items[i].id.clone()))),
            ("REGION", Column::Text(text(&|i| items[i].label.clone()))),
            (
                "STATUS",
                Column::Text(text(&|i| index[i].status.to_string())),
            ),
            ("MESSAGE", Column::Text(text(&|i| index[i].message.clone()))),
            ("HDU", Column::Int(int(&|i| index[i].first_hdu))),
            ("NHDU", Column::Int(int(&|i| index[i].hdus))),
            ("X0", Column::Int(int(&|i| box_of(&items[i])[0]))),
            ("X1", Column::Int(int(&|i| box_of(&items[i])[1]))),
            ("Y0", Column::Int(int(&|i| box_of(&items[i])[2]))),
            ("Y1", Column::Int(int(&|i| box_of(&items[i])[3]))),
        ];
        let dest = path.clone();
        let written = tokio::task::spawn_blocking(move || write_table(&dest, "INDEX", &columns))
            .await
            .map_err(|e| format!("Error: the index task failed: {e}"))?
            .map_err(|e| format!("Error: writing the index: {e}"))?;
        let table = TempCutout { path, written };
        copy_from(&table.path, table.written.first_extension, out).await?;
    } else {
        let mut csv = String::from("cutout,id,region,status,message,file,hdus,x0,x1,y0,y1\n");
        for (item, row) in items.iter().zip(&index) {
            let b = box_of(item);
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                item.number,
                csv_field(&item.id),
                csv_field(&item.label),
                row.status,
                csv_field(&row.message),
                row.file,
                row.hdus,
                b[0],
                b[1],
                b[2],
                b[3]
            ));
        }
        tar_entry(out, "index.csv", csv.as_bytes()).await?;
        out.write_all(&[0u8; 1024])
            .await
            .map_err(|e| format!("Error: sending: {e}"))?;
    }
    out.flush()
        .await
        .map_err(|e| format!("Error: sending: {e}"))
}
