//! SODA 1.0 cutouts: `/soda/sync`, `/soda/async` (UWS), `/soda/capabilities`,
//! `/soda/availability`.
//!
//! Every combination of an `ID` and a region is one cutout ([`plan`]); without `ID`, a region
//! is cut from every image whose footprint holds its centre (bulk stamps). A single sync cutout
//! is a FITS file (204 when the region misses the image); several are one multi-extension FITS
//! file with an `INDEX` table, or a tar (`RESPONSEFORMAT`). An async job gives one result per
//! combination, or one packaged result when `RESPONSEFORMAT` asks for one. Errors are
//! `text/plain` starting with SODA's labels (`UsageError: …`, `Error: …`).

pub mod http;
pub mod package;
pub mod plan;
pub mod request;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
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
        })
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
        let items = plan::plan(
            &self.soda,
            &crate::caller::job_caller(job),
            &request,
            self.soda.limits.soda_async_max_cutouts,
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
        match request.package {
            None => package::write_separate(dir, &items, request.compression, &progress).await,
            Some(p) => {
                let (name, mime) = match p {
                    Package::Tar => ("cutouts.tar", TAR_MIME),
                    _ => ("cutouts.fits", FITS_MIME),
                };
                let path = dir.join(name);
                let mut file = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| format!("Error: cannot create the result: {e}"))?;
                package::write_package(dir, &items, request.compression, p, &mut file, &progress)
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
