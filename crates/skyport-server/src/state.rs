//! The state the handlers share: the store, the services built over it, the settings and the
//! `[limits]` they enforce.

use std::path::PathBuf;
use std::sync::Arc;

use skyport_store::{ImageIndex, Store};

use crate::limits::Limits;
use crate::{datalink, metrics, sia, soda, tap, uws_http};

/// What the server needs besides the store.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Public base URL (scheme, host, port, optional path) without trailing slash.
    pub public_url: String,
    /// Title shown on the landing page.
    pub title: String,
    /// Data roots by name, for `/files/{root}/…`.
    pub roots: Vec<(String, PathBuf)>,
    /// Limits.
    pub limits: Limits,
    /// Where async jobs keep their uploads and results.
    pub jobs_dir: PathBuf,
    /// Where rendered previews and extracted planes are kept.
    pub cache_dir: PathBuf,
    /// Certificates (PEM) trusted for https uploads besides the system's roots.
    pub upload_ca_pem: Option<Vec<u8>>,
    /// Hosts and networks uploads may be fetched from although they are not public (none by
    /// default: only public addresses are fetched).
    pub upload_allow: tap::UploadAllow,
    /// Schemas the archive holds beyond the built-in ones (ConsDB's), queryable through TAP.
    pub extra_schemas: Vec<skyport_schema::Schema>,
    /// Peers (an authenticating proxy in front of skyport) whose `X-Auth-Request-User` header
    /// names the user; from anyone else the header is ignored. Empty by default.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Who may see which collections, rows and tables.
    pub rights: Arc<skyport_store::Rights>,
    /// How callers are identified, what they may do, and their quotas.
    pub auth: crate::access::AuthSettings,
    /// The archive's named bands (SIA's self-description lists them for `BAND`).
    pub bands: Vec<skyport_consdb::Band>,
    /// The name clients of Rubin's service discovery know the archive by (its dataset label).
    pub dataset: String,
    /// Where the archive's HiPS are kept (`[hips] dir`); none served when `None`.
    pub hips_dir: Option<PathBuf>,
    /// Where users keep their own files (`[workspace]`); none kept when `None`.
    pub workspace: Option<skyport_workspace::WorkspaceSettings>,
    /// The roots in an object store, and how their files are handed out; none when `None`.
    pub objects: Option<ObjectAccess>,
}

/// The object-store roots' client and how `/files/…` hands their objects out.
#[derive(Clone)]
pub struct ObjectAccess {
    /// The client (cfitsio reads through it too).
    pub objects: Arc<skyport_objects::Objects>,
    /// `Some(ttl)`: a redirect to a URL pre-signed for `ttl`; `None`: the bytes passed on.
    pub signed_links: Option<std::time::Duration>,
}

impl std::fmt::Debug for ObjectAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectAccess")
            .field("signed_links", &self.signed_links)
            .finish_non_exhaustive()
    }
}

/// Shared state of the handlers.
pub struct AppState {
    /// The archive database.
    pub store: Arc<dyn Store>,
    /// Where images, files and their relations are found (the one image lookup of every
    /// service).
    pub images: ImageIndex,
    /// Settings.
    pub settings: ServerSettings,
    /// Request counters.
    pub metrics: metrics::Metrics,
    /// Start time (ISO 8601 UTC), for VOSI upSince.
    pub started_at: String,
    /// The TAP query service.
    pub tap: Arc<tap::TapService>,
    /// The SIA service.
    pub sia: sia::Sia,
    /// The DataLink service.
    pub datalink: datalink::DataLink,
    /// Async TAP jobs.
    pub tap_jobs: Arc<uws_http::UwsEndpoint>,
    /// The cutout service.
    pub soda: Arc<soda::Soda>,
    /// Async SODA jobs.
    pub soda_jobs: Arc<uws_http::UwsEndpoint>,
    /// The consolidated database (ConsDB) service, over the ConsDB schemas among
    /// `settings.extra_schemas`.
    pub consdb: Arc<skyport_consdb::ConsDb>,
    /// The exposure log (Rubin's exposurelog service).
    pub exposure_log: skyport_consdb::obslog::ObsLog,
    /// The night log (Rubin's narrativelog service).
    pub narrative_log: skyport_consdb::obslog::ObsLog,
    /// Previews rendering at once (one per core: rendering is CPU-bound).
    pub renders: tokio::sync::Semaphore,
    /// One render per preview at a time.
    pub(crate) preview_renders: crate::cache::KeyedLocks,
    /// Identity, scopes and quotas (one for the live archive and its releases: a caller's
    /// quota is the same wherever they query).
    pub access: Arc<crate::access::Access>,
    /// The collections' coverage maps (`/moc`, SIA's early answers).
    pub coverage: Arc<skyport_store::coverage::Coverage>,
    /// The HiPS sky maps served.
    pub hips: Arc<crate::hips::HipsService>,
    /// The data releases served under `/releases/<name>/` (none in a release's own state).
    pub releases: crate::releases::Releases,
    /// The live archive's base URL (a release's own is below it): where its login, ConsDB
    /// and logs are.
    pub archive_url: String,
    /// Users' own files (`/webdav`), where the archive keeps them.
    pub workspace: Option<Arc<skyport_workspace::Workspace>>,
    /// Users' own tables (`/tap/tables/user_…`), kept with their files.
    pub user_tables: Option<Arc<tap::user_tables::UserTableService>>,
    /// Index jobs on users' tables (`/tap/table-update`).
    pub table_updates: Option<Arc<uws_http::UwsEndpoint>>,
}

/// The live archive, as the states of its releases share it: where job records are kept,
/// its base URL, its identity and quota service.
#[derive(Clone)]
struct LiveArchive {
    store: Arc<dyn Store>,
    url: String,
    access: Arc<crate::access::Access>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The async job managers.
    #[error(transparent)]
    Jobs(#[from] skyport_uws::UwsError),
    /// The archive's user records.
    #[error("the archive's user records: {0}")]
    Accounts(#[from] skyport_store::StoreError),
    /// The `[auth]` settings.
    #[error("{0}")]
    Auth(String),
    /// A directory the services keep files in.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The users' workspace directory.
    #[error("the user workspace: {0}")]
    Workspace(#[from] skyport_workspace::WorkspaceError),
}

impl AppState {
    /// Builds the state and starts the async job workers (recovering jobs a previous run left).
    pub async fn start(
        store: Arc<dyn Store>,
        settings: ServerSettings,
    ) -> Result<Arc<AppState>, StartError> {
        AppState::start_with_releases(store, settings, Vec::new()).await
    }

    /// [`AppState::start`], serving `releases` beside the live archive, each under
    /// `/releases/<name>/`: a frozen one from its snapshot, a label from the live archive
    /// bounded to its collections. Their async jobs are kept in the live archive (a snapshot
    /// is never written), as services of their own (`tap@dr1`).
    pub async fn start_with_releases(
        store: Arc<dyn Store>,
        settings: ServerSettings,
        releases: Vec<crate::releases::ReleaseSpec>,
    ) -> Result<Arc<AppState>, StartError> {
        let accounts = skyport_store::Accounts::open(Arc::clone(&store)).await?;
        let access = Arc::new(
            crate::access::Access::new(settings.auth.clone(), accounts)
                .map_err(StartError::Auth)?,
        );
        let archive = LiveArchive {
            store: Arc::clone(&store),
            url: settings.public_url.clone(),
            access,
        };
        // One set of coverage maps per database: a label reads the live archive's.
        let live_coverage = Arc::new(skyport_store::coverage::Coverage::new(Arc::clone(&store)));
        let mut served = Vec::new();
        for release in releases {
            let release_settings = crate::releases::settings_for(&settings, &release);
            let (data, coverage) = match &release.snapshot {
                Some(s) => (
                    Arc::clone(&s.store),
                    Arc::new(skyport_store::coverage::Coverage::new(Arc::clone(&s.store))),
                ),
                None => (Arc::clone(&store), Arc::clone(&live_coverage)),
            };
            let state = AppState::build(
                data,
                coverage,
                archive.clone(),
                release_settings,
                &format!("@{}", release.name),
                crate::releases::Releases::default(),
            )
            .await?;
            served.push(crate::releases::ServedRelease::new(release, state));
        }
        AppState::build(
            store,
            live_coverage,
            archive,
            settings,
            "",
            crate::releases::Releases::new(served),
        )
        .await
    }

    /// Folds the live archive's coverage maps on a background task. They are otherwise folded
    /// from every image's footprint when first asked, which for a million images takes
    /// seconds that SIA's first query would wait; a server calls this as it starts.
    pub fn fold_coverage_in_background(&self) {
        let coverage = Arc::clone(&self.coverage);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match coverage.refresh(chrono::Utc::now()).await {
                Ok(()) => tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "coverage maps folded"
                ),
                Err(e) => tracing::warn!(error = %e, "coverage maps not folded at start"),
            }
        });
    }

    /// The state of one archive or release: `store` holds what its services read (`coverage`
    /// its coverage maps), `archive` is the live archive's; job services are named with
    /// `suffix`.
    async fn build(
        store: Arc<dyn Store>,
        coverage: Arc<skyport_store::coverage::Coverage>,
        archive: LiveArchive,
        settings: ServerSettings,
        suffix: &str,
        releases: crate::releases::Releases,
    ) -> Result<Arc<AppState>, StartError> {
        let manager = |service: &str, dir: PathBuf| skyport_uws::ManagerSettings {
            workers: limits_of(&settings).async_workers,
            execution_default: limits_of(&settings).execution_seconds_default,
            execution_hard: limits_of(&settings).execution_seconds_hard,
            retention: limits_of(&settings).retention_seconds,
            ..skyport_uws::ManagerSettings::new(service, dir)
        };
        let limits = settings.limits.clone();
        let workspace = match &settings.workspace {
            Some(w) => Some(Arc::new(skyport_workspace::Workspace::open(w.clone())?)),
            None => None,
        };
        // Users' tables are kept where their files are: in the live archive.
        let user_tables = match &settings.workspace {
            Some(w) => Some(Arc::new(tap::user_tables::UserTableService::new(
                skyport_store::user_tables::UserTables::open(Arc::clone(&store)).await?,
                tap::user_tables::UserTableLimits {
                    rows_per_user: w.quota_table_rows,
                    tables_per_user: 1000,
                    max_document_bytes: limits.upload_max_bytes,
                    max_votable_rows: limits.upload_max_rows,
                    max_binary_bytes: 16 << 30,
                    spool_dir: settings.cache_dir.join("table-loads"),
                },
            ))),
            None => None,
        };
        // Async jobs may deliver their results to the owner's files or tables (`DEST`).
        let delivering = |inner: Arc<dyn skyport_uws::Runner>| {
            Arc::new(crate::delivery::Delivering {
                inner,
                workspace: workspace.clone(),
                tables: user_tables.clone(),
                rights: Arc::clone(&settings.rights),
            })
        };
        let tap = Arc::new(tap::TapService::new(
            Arc::clone(&store),
            limits.clone(),
            &settings.public_url,
            settings.upload_ca_pem.as_deref(),
            settings.upload_allow.clone(),
            &settings.extra_schemas,
            Arc::clone(&settings.rights),
        ));
        if let Some(service) = &user_tables {
            tap.serve_user_tables(Arc::clone(service));
        }
        let jobs = skyport_uws::JobManager::start(
            Arc::clone(&archive.store),
            delivering(Arc::new(tap::jobs::TapRunner {
                tap: Arc::clone(&tap),
            })),
            manager(&format!("tap{suffix}"), settings.jobs_dir.clone()),
        )
        .await?;
        let images = ImageIndex::with_rights(Arc::clone(&store), Arc::clone(&settings.rights));
        let soda = Arc::new(soda::Soda::new(
            images.clone(),
            Arc::clone(&tap),
            settings.roots.clone(),
            limits.clone(),
            settings.cache_dir.join("soda-tmp"),
        )?);
        let soda_jobs = skyport_uws::JobManager::start(
            Arc::clone(&archive.store),
            delivering(Arc::new(soda::SodaRunner {
                soda: Arc::clone(&soda),
            })),
            manager(&format!("soda{suffix}"), settings.jobs_dir.join("soda")),
        )
        .await?;
        let public_url = settings.public_url.clone();
        let consdb_schemas: Vec<_> = settings
            .extra_schemas
            .iter()
            .filter(|s| s.name.starts_with("cdb_"))
            .cloned()
            .collect();
        let consdb = Arc::new(skyport_consdb::ConsDb::new(
            Arc::clone(&store),
            &consdb_schemas,
        ));
        tap.answer_early_from(Arc::clone(&coverage));
        let hips = Arc::new(crate::hips::HipsService::new(settings.hips_dir.clone()));
        let bands = settings.bands.clone();
        let written = coverage
            .backfill(&move |lo, hi| skyport_consdb::band_of_range(&bands, lo, hi))
            .await?;
        if written > 0 {
            tracing::info!(
                images = written,
                "coverage written for images ingested before it was kept"
            );
        }
        let keeps_files = workspace.is_some();
        // Index jobs on users' tables.
        let table_updates = match &user_tables {
            Some(service) => {
                let jobs = skyport_uws::JobManager::start(
                    Arc::clone(&archive.store),
                    Arc::new(tap::user_tables::IndexRunner {
                        service: Arc::clone(service),
                    }),
                    manager("table-update", settings.jobs_dir.join("table-update")),
                )
                .await?;
                Some(Arc::new(uws_http::UwsEndpoint {
                    jobs,
                    jobs_url: format!("{public_url}/tap/table-update"),
                    check: Box::new(tap::user_tables::check_update),
                }))
            }
            None => None,
        };
        Ok(Arc::new(AppState {
            user_tables,
            table_updates,
            workspace,
            access: Arc::clone(&archive.access),
            sia: sia::Sia::new(
                Arc::clone(&tap),
                &public_url,
                settings.bands.clone(),
                Arc::clone(&coverage),
            ),
            coverage,
            hips: Arc::clone(&hips),
            releases,
            archive_url: archive.url.clone(),
            datalink: datalink::DataLink::new(
                images.clone(),
                &public_url,
                limits.datalink_max_ids,
                Arc::clone(&hips),
                settings.bands.clone(),
            )
            .with_records_url(&archive.url),
            exposure_log: skyport_consdb::obslog::ObsLog::new(
                Arc::clone(consdb.store()),
                skyport_consdb::obslog::Kind::Exposure,
                &settings.dataset,
                consdb.catalog().instruments(),
            ),
            narrative_log: skyport_consdb::obslog::ObsLog::new(
                Arc::clone(consdb.store()),
                skyport_consdb::obslog::Kind::Narrative,
                &settings.dataset,
                consdb.catalog().instruments(),
            ),
            consdb,
            store,
            images,
            settings,
            metrics: Default::default(),
            started_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            tap,
            tap_jobs: Arc::new(uws_http::UwsEndpoint {
                jobs,
                jobs_url: format!("{public_url}/tap/async"),
                check: {
                    let limits = limits.clone();
                    Box::new(move |params| {
                        tap::request::check_uploads(params, &limits)?;
                        crate::delivery::check(params, keeps_files)
                    })
                },
            }),
            soda,
            soda_jobs: Arc::new(uws_http::UwsEndpoint {
                jobs: soda_jobs,
                jobs_url: format!("{public_url}/soda/async"),
                check: {
                    let max_cutouts = limits.soda_async_max_cutouts;
                    Box::new(move |params| {
                        soda::check_job_parameters(params, max_cutouts)?;
                        crate::delivery::check(params, keeps_files)
                    })
                },
            }),
            preview_renders: Default::default(),
            renders: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }))
    }
}

fn limits_of(settings: &ServerSettings) -> &Limits {
    &settings.limits
}
