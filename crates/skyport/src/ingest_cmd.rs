//! `skyport ingest`: many files, in parallel where it helps, with a progress bar and a summary.
//!
//! Reading and hashing files runs on blocking threads, as many at once as there are cores;
//! writes go one transaction per file through the store's single writer, so a failure affects
//! only its own file. Arguments `s3://BUCKET/PREFIX` name objects of a root in an object store:
//! they are listed, their headers read in ranges, and their ETag and size stand for the
//! content hash (an object is not read whole).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use skyport_consdb::{build_record, build_record_of, is_fits_name, IngestSettings};
use skyport_objects::Objects;
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

/// One thing to ingest.
enum Source {
    /// A local file.
    File(PathBuf),
    /// An object of an object-store root.
    Object {
        /// The root's name.
        root: String,
        /// Its path below the root.
        rel_path: String,
        /// `s3://…`, for messages.
        url: String,
        /// ETag and size.
        fingerprint: String,
    },
}

impl Source {
    fn shown(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::Object { url, .. } => PathBuf::from(url),
        }
    }
}

/// The FITS objects below each `s3://` argument, of the object-store roots holding them; an
/// argument no root holds, or a listing that fails, is a failure of its own.
async fn list_objects(
    objects: Option<&Objects>,
    urls: &[&PathBuf],
) -> (Vec<Source>, Vec<(PathBuf, String)>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for url in urls {
        let text = url.to_string_lossy();
        let Some(objects) = objects else {
            failed.push((
                (*url).clone(),
                "no root of this archive is in an object store".into(),
            ));
            continue;
        };
        let wanted = text.trim_end_matches('/');
        let root = objects.roots().find(|r| {
            let base = format!("s3://{}/{}", r.bucket, r.prefix);
            let base = base.trim_end_matches('/');
            wanted == base || wanted.starts_with(&format!("{base}/"))
        });
        let Some(root) = root else {
            failed.push(((*url).clone(), "no [[archive.roots]] url holds it".into()));
            continue;
        };
        let base = format!("s3://{}/{}", root.bucket, root.prefix);
        let below = wanted
            .strip_prefix(base.trim_end_matches('/'))
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        match objects.list(&root.name).await {
            Ok(listed) => {
                let before = found.len() + failed.len();
                for o in listed {
                    let inside = below.is_empty()
                        || o.rel_path == below
                        || o.rel_path.starts_with(&format!("{below}/"));
                    if !inside || !is_fits_name(std::path::Path::new(&o.rel_path)) {
                        continue;
                    }
                    let url = format!("{}/{}", base.trim_end_matches('/'), o.rel_path);
                    if o.rel_path.to_ascii_lowercase().ends_with(".gz") {
                        failed.push((
                            PathBuf::from(url),
                            "a gzip-compressed object cannot be read in ranges: store it uncompressed or tile-compressed".into(),
                        ));
                        continue;
                    }
                    found.push(Source::Object {
                        root: root.name.clone(),
                        fingerprint: format!("{} {}", o.version, o.size),
                        rel_path: o.rel_path,
                        url,
                    });
                }
                if found.len() + failed.len() == before {
                    failed.push(((*url).clone(), "no FITS object there".into()));
                }
            }
            Err(e) => failed.push(((*url).clone(), e.to_string())),
        }
    }
    (found, failed)
}

/// Ingests `paths` (files, directories, or `s3://` prefixes of the roots in `objects`) into
/// `store`.
pub async fn ingest(
    store: Arc<dyn Store>,
    settings: Arc<IngestSettings>,
    paths: &[PathBuf],
    objects: Option<&Objects>,
    progress: bool,
) -> IngestSummary {
    let started = Instant::now();
    let (urls, local): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
        .iter()
        .partition(|p| p.to_string_lossy().starts_with("s3://"));
    let local: Vec<PathBuf> = local.into_iter().cloned().collect();
    let (files, missing) = expand(&local);
    let (listed, unlisted) = list_objects(objects, &urls).await;
    let mut summary = IngestSummary {
        failed: missing.into_iter().chain(unlisted).collect(),
        ..Default::default()
    };
    let files: Vec<Source> = files.into_iter().map(Source::File).chain(listed).collect();
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
    let mut records = futures_util::stream::iter(files.into_iter().map(|source| {
        let settings = Arc::clone(&settings);
        async move {
            let path = source.shown();
            let result = tokio::task::spawn_blocking(move || match source {
                Source::File(p) => build_record(&settings, &p),
                Source::Object {
                    root,
                    rel_path,
                    fingerprint,
                    ..
                } => {
                    let Some(data_root) = settings.roots.iter().find(|r| r.name == root) else {
                        return Err(skyport_consdb::IngestError::NotUnderRoot(PathBuf::from(
                            &rel_path,
                        )));
                    };
                    let name =
                        PathBuf::from(format!("{}{root}/{rel_path}", skyport_fits::remote::PREFIX));
                    build_record_of(&settings, data_root, rel_path, &name, Some(fingerprint))
                }
            })
            .await;
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
