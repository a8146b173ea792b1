//! `skyport ingest`: many files, in parallel where it helps, with a progress bar and a summary.
//!
//! Reading and hashing files runs on blocking threads, as many at once as there are cores;
//! writes go one transaction per file through the store's single writer, so a failure affects
//! only its own file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use skyport_consdb::{build_record, is_fits_name, IngestSettings};
use skyport_store::{Store, UpsertOutcome};

/// What an ingest run did.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// New images.
    pub inserted: usize,
    /// Changed images rewritten.
    pub updated: usize,
    /// Images already there with the same content.
    pub unchanged: usize,
    /// Files that failed, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Rows written (file, HDUs and ObsCore rows of inserted or updated images).
    pub rows_written: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl IngestSummary {
    /// Files processed.
    pub fn files(&self) -> usize {
        self.inserted + self.updated + self.unchanged + self.failed.len()
    }

    /// One-line report with throughput.
    pub fn report(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "{} files: {} new, {} updated, {} unchanged, {} failed; {} rows written in {:.2} s ({:.1} files/s, {:.0} rows/s)",
            self.files(),
            self.inserted,
            self.updated,
            self.unchanged,
            self.failed.len(),
            self.rows_written,
            secs,
            self.files() as f64 / secs,
            self.rows_written as f64 / secs
        )
    }
}

/// Expands directories into the FITS files below them (sorted); explicit files are kept as
/// given; a path that does not exist is reported as a failure.
pub fn expand(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() && is_fits_name(e.path()) => {
                        files.push(e.into_path())
                    }
                    Ok(_) => {}
                    Err(e) => missing.push((p.clone(), e.to_string())),
                }
            }
        } else if p.exists() || p.is_symlink() {
            files.push(p.clone());
        } else {
            missing.push((p.clone(), "no such file or directory".into()));
        }
    }
    (files, missing)
}

/// Ingests `paths` (files or directories) into `store`.
pub async fn ingest(
    store: Arc<dyn Store>,
    settings: Arc<IngestSettings>,
    paths: &[PathBuf],
    progress: bool,
) -> IngestSummary {
    let started = Instant::now();
    let (files, missing) = expand(paths);
    let mut summary = IngestSummary {
        failed: missing,
        ..Default::default()
    };
    let bar = if progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut records = futures_util::stream::iter(files.into_iter().map(|path| {
        let settings = Arc::clone(&settings);
        async move {
            let p = path.clone();
            let result = tokio::task::spawn_blocking(move || build_record(&settings, &p)).await;
            (path, result)
        }
    }))
    .buffered(workers);
    while let Some((path, built)) = records.next().await {
        bar.set_message(short_name(&path));
        let record = match built {
            Ok(Ok(record)) => record,
            Ok(Err(e)) => {
                summary.failed.push((path, e.to_string()));
                bar.inc(1);
                continue;
            }
            Err(e) => {
                summary
                    .failed
                    .push((path, format!("BUG: ingest task failed: {e}")));
                bar.inc(1);
                continue;
            }
        };
        let rows = 2 + record.hdus.len();
        match store.upsert_image(record).await {
            Ok(UpsertOutcome::Inserted) => {
                summary.inserted += 1;
                summary.rows_written += rows;
            }
            Ok(UpsertOutcome::Updated) => {
                summary.updated += 1;
                summary.rows_written += rows;
            }
            Ok(UpsertOutcome::Unchanged) => summary.unchanged += 1,
            Err(e) => summary.failed.push((path, e.to_string())),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.elapsed = started.elapsed();
    summary
}

fn short_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
