//! SODA 1.0 cutouts: `/soda/sync`, `/soda/async` (UWS), `/soda/capabilities`,
//! `/soda/availability`.
//!
//! Every combination of an `ID` and a region is one cutout ([`plan`]); without `ID`, a region
//! is cut from every image whose footprint holds its centre (bulk stamps). A single sync cutout
//! is a FITS file (204 when the region misses the image); several are one multi-extension FITS
//! file with an `INDEX` table, or a tar (`RESPONSEFORMAT`). An async job gives one result per
//! combination, or one packaged result when `RESPONSEFORMAT` asks for one. Errors are
//! `text/plain` starting with SODA's labels (`UsageError: …`, `Error: …`).
//!
//! Cutout work (outline tracing, pixel copying) runs on blocking threads and looks at a
//! [`Cancel`] token between pieces of work: the token is cancelled when nobody waits for the
//! result any more — the request's future or its streaming body is dropped (the client went
//! away, the request deadline answered), an async job is aborted or passes its execution
//! duration — and carries the request's deadline, so the work stops within a strip of rows of
//! either. [`Soda::cutouts_running`] counts the work in progress (`/metrics`).

pub mod http;
pub mod package;
pub mod plan;
pub mod request;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use skyport_fits::{Cancel, Cancelled};
use skyport_store::ImageIndex;
use skyport_uws::{Job, JobResult, ProgressReporter, Runner};

use crate::dali::{DaliError, DaliParams};
use crate::limits::Limits;
use crate::tap::TapService;
use plan::WcsCache;
use request::{Package, FITS_MIME, TAR_MIME};

/// standardID of SODA sync.
pub const SODA_SYNC_STANDARD_ID: &str = "ivo://ivoa.net/std/SODA#sync-1.0";
/// standardID of SODA async.
pub const SODA_ASYNC_STANDARD_ID: &str = "ivo://ivoa.net/std/SODA#async-1.0";

/// What the cutout service needs (shared by the sync handler and the async runner).
pub struct Soda {
    /// Where the images are.
    pub images: ImageIndex,
    /// ObsCore queries (images holding a position).
    pub tap: Arc<TapService>,
    /// Data roots by name.
    pub roots: Vec<(String, PathBuf)>,
    /// Limits.
    pub limits: Limits,
    /// WCS of images already seen.
    pub wcs_cache: WcsCache,
    /// Where sync cutouts are written before they are sent.
    pub tmp_dir: PathBuf,
    /// Blocking cutout work in progress (see [`Soda::cutouts_running`]).
    running: Arc<AtomicI64>,
}

/// One piece of blocking cutout work, counted while it lives (moved into the blocking task,
/// so it counts the work until the thread is done with it, whoever stopped waiting).
pub(crate) struct Working(Arc<AtomicI64>);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request stopped by its [`Cancel`] token answers (if anyone still listens): past the
/// deadline, the service's error for a request over its time limit.
pub(crate) fn stopped(c: Cancelled) -> DaliError {
    match c {
        Cancelled::DeadlinePassed => DaliError::usage(
            "the request took longer than this service's time limit and was stopped",
        )
        .with_status(StatusCode::SERVICE_UNAVAILABLE),
        Cancelled::Stopped => DaliError::internal("the request was stopped"),
    }
}

impl Soda {
    /// Creates the service; its temporary directory is emptied of anything a previous run
    /// left.
    pub fn new(
        images: ImageIndex,
        tap: Arc<TapService>,
        roots: Vec<(String, PathBuf)>,
        limits: Limits,
        tmp_dir: PathBuf,
    ) -> std::io::Result<Soda> {
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir)?;
        }
        std::fs::create_dir_all(&tmp_dir)?;
        Ok(Soda {
            images,
            tap,
            roots,
            limits,
            wcs_cache: Default::default(),
            tmp_dir,
            running: Arc::new(AtomicI64::new(0)),
        })
    }

    /// Planning and cutting tasks running on blocking threads now (each counts from when its
    /// thread starts the work until it returns, finished or stopped).
    pub fn cutouts_running(&self) -> i64 {
        self.running.load(Ordering::Relaxed)
    }

    /// Counts one piece of blocking work until the guard is dropped.
    pub(crate) fn working(&self) -> Working {
        self.running.fetch_add(1, Ordering::Relaxed);
        Working(Arc::clone(&self.running))
    }
}

pub(crate) fn stamps_upload(params: &DaliParams) -> Option<&[u8]> {
    params
        .uploads
        .iter()
        .find(|u| u.name.eq_ignore_ascii_case("STAMPS"))
        .map(|u| u.bytes.as_ref())
}

/// Checks the parameters of a new or changed async job (a region may still be added later);
/// a job makes at most `max_cutouts` cutouts.
pub fn check_job_parameters(params: &DaliParams, max_cutouts: usize) -> Result<(), DaliError> {
    request::parse_parts(params, stamps_upload(params), max_cutouts).map(|_| ())
}

/// Runs SODA async jobs.
pub struct SodaRunner {
    /// The service.
    pub soda: Arc<Soda>,
}

#[async_trait]
impl Runner for SodaRunner {
    async fn run(
        &self,
        job: &Job,
        dir: &Path,
        progress: ProgressReporter,
    ) -> Result<Vec<JobResult>, String> {
        let params = DaliParams::from_pairs(
            job.parameters
                .iter()
                .map(|p| (p.name.clone(), p.value.clone())),
        );
        // An uploaded STAMPS part is kept as `param-<name as sent>`, in any letter case.
        let mut stamps = None;
        if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("param-STAMPS"))
                {
                    stamps = tokio::fs::read(entry.path()).await.ok();
                    break;
                }
            }
        }
        let request = request::parse(
            &params,
            stamps.as_deref(),
            self.soda.limits.soda_async_max_cutouts,
        )
        .map_err(|e| e.message())?;
        // The manager drops this future when the job is aborted or passes its execution
        // duration; the guards of the work below then cancel the token.
        let cancel = Cancel::new();
        let items = plan::plan(
            &self.soda,
            &crate::caller::job_caller(job),
            &request,
            self.soda.limits.soda_async_max_cutouts,
            &cancel,
        )
        .await
        .map_err(|e| e.message())?;
        plan::within_budget(
            &items,
            self.soda
                .limits
                .soda_max_pixels
                .saturating_mul(http::ASYNC_PLANES),
            "an async job",
        )
        .map_err(|e| e.message())?;
        tracing::info!(job = %job.id, cutouts = items.len(), "async SODA job");
        let cutter = package::Cutter {
            soda: &self.soda,
            dir,
            cancel: &cancel,
        };
        match request.package {
            None => package::write_separate(&cutter, &items, request.compression, &progress).await,
            Some(p) => {
                let (name, mime) = match p {
                    Package::Tar => ("cutouts.tar", TAR_MIME),
                    _ => ("cutouts.fits", FITS_MIME),
                };
                let path = dir.join(name);
                let mut file = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| format!("Error: cannot create the result: {e}"))?;
                package::write_package(
                    &cutter,
                    &items,
                    request.compression,
                    p,
                    &mut file,
                    &progress,
                )
                .await?;
                let size = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| format!("Error: cannot read the result: {e}"))?
                    .len();
                Ok(vec![JobResult {
                    id: "cutouts".into(),
                    file: name.into(),
                    mime: mime.into(),
                    size,
                }])
            }
        }
    }
}
