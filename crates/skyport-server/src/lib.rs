//! The HTTP layer of skyport: routing, middleware, DALI parameter handling and the service
//! endpoints. Handlers stay thin: they parse parameters into typed values and call the store or
//! service functions, which know nothing about HTTP.

pub mod consdb;
pub mod dali;
pub mod datalink;
pub mod descriptors;
mod files;
pub mod landing;
pub mod metrics;
mod previews;
mod shapes;
pub mod sia;
pub mod soda;
pub mod tap;
pub mod uws_http;
pub mod vosi;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use skyport_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use dali::{DaliError, DaliParams};

/// Limits announced in capabilities and enforced by the services (the `[limits]` section of
/// the configuration file).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Default MAXREC.
    pub maxrec_default: u64,
    /// Hard MAXREC cap.
    pub maxrec_hard: u64,
    /// Default execution duration of a query, seconds.
    pub execution_seconds_default: u64,
    /// Hard execution duration, seconds.
    pub execution_seconds_hard: u64,
    /// How long async results are kept, seconds.
    pub retention_seconds: u64,
    /// Largest request body accepted, bytes.
    pub max_request_bytes: usize,
    /// Time limit of one HTTP request, seconds.
    pub request_timeout_seconds: u64,
    /// Largest uploaded table, bytes.
    pub upload_max_bytes: usize,
    /// Most rows of an uploaded table.
    pub upload_max_rows: usize,
    /// Async jobs executing at once.
    pub async_workers: usize,
    /// Most IDs one DataLink request answers; the rest are left out with an OVERFLOW.
    pub datalink_max_ids: usize,
    /// Most pixels in one plane of one cutout.
    pub soda_max_pixels: u64,
    /// Most cutouts one sync SODA request makes.
    pub soda_sync_max_cutouts: usize,
    /// Most cutouts one async SODA job makes.
    pub soda_async_max_cutouts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            maxrec_default: 100_000,
            maxrec_hard: 10_000_000,
            execution_seconds_default: 600,
            execution_seconds_hard: 3600,
            retention_seconds: 172_800,
            max_request_bytes: 100 * 1024 * 1024,
            request_timeout_seconds: 3600,
            upload_max_bytes: 16 * 1024 * 1024,
            upload_max_rows: 100_000,
            async_workers: 2,
            datalink_max_ids: 1000,
            soda_max_pixels: 64 * 1024 * 1024,
            soda_sync_max_cutouts: 1000,
            soda_async_max_cutouts: 100_000,
        }
    }
}

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
    /// Schemas the archive holds beyond the built-in ones (ConsDB's), queryable through TAP.
    pub extra_schemas: Vec<skyport_schema::Schema>,
}

/// Shared state of the handlers.
pub struct AppState {
    /// The archive database.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub settings: ServerSettings,
    /// Request counters.
    pub metrics: metrics::Metrics,
    /// Start time (ISO 8601 UTC), for VOSI upSince.
    pub started_at: String,
    /// The TAP query service.
    pub tap: Arc<tap::TapService>,
    /// Async TAP jobs.
    pub tap_jobs: Arc<uws_http::UwsEndpoint>,
    /// The cutout service.
    pub soda: Arc<soda::Soda>,
    /// Async SODA jobs.
    pub soda_jobs: Arc<uws_http::UwsEndpoint>,
    /// The consolidated database (ConsDB) service, over the ConsDB schemas among
    /// `settings.extra_schemas`.
    pub consdb: Arc<skyport_consdb::ConsDb>,
    /// Previews rendering at once (one per core: rendering is CPU-bound).
    pub renders: tokio::sync::Semaphore,
}

impl AppState {
    /// Builds the state and starts the async job workers (recovering jobs a previous run left).
    pub async fn start(
        store: Arc<dyn Store>,
        settings: ServerSettings,
    ) -> Result<Arc<AppState>, skyport_uws::UwsError> {
        let manager = |service: &str, dir: PathBuf| skyport_uws::ManagerSettings {
            workers: limits_of(&settings).async_workers,
            execution_default: limits_of(&settings).execution_seconds_default,
            execution_hard: limits_of(&settings).execution_seconds_hard,
            retention: limits_of(&settings).retention_seconds,
            ..skyport_uws::ManagerSettings::new(service, dir)
        };
        let limits = settings.limits.clone();
        let tap = Arc::new(tap::TapService::new(
            Arc::clone(&store),
            limits.clone(),
            &settings.public_url,
            settings.upload_ca_pem.as_deref(),
            &settings.extra_schemas,
        ));
        let jobs = skyport_uws::JobManager::start(
            Arc::clone(&store),
            Arc::new(tap::jobs::TapRunner {
                tap: Arc::clone(&tap),
            }),
            manager("tap", settings.jobs_dir.clone()),
        )
        .await?;
        let soda = Arc::new(soda::Soda::new(
            Arc::clone(&store),
            Arc::clone(&tap),
            settings.roots.clone(),
            limits.clone(),
            settings.cache_dir.join("soda-tmp"),
        )?);
        let soda_jobs = skyport_uws::JobManager::start(
            Arc::clone(&store),
            Arc::new(soda::SodaRunner {
                soda: Arc::clone(&soda),
            }),
            manager("soda", settings.jobs_dir.join("soda")),
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
        Ok(Arc::new(AppState {
            consdb,
            store,
            settings,
            metrics: Default::default(),
            started_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            tap,
            tap_jobs: Arc::new(uws_http::UwsEndpoint {
                jobs,
                jobs_url: format!("{public_url}/tap/async"),
                check: tap::request::check_uploads,
            }),
            soda,
            soda_jobs: Arc::new(uws_http::UwsEndpoint {
                jobs: soda_jobs,
                jobs_url: format!("{public_url}/soda/async"),
                check: soda::check_job_parameters,
            }),
            renders: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }))
    }
}

fn limits_of(settings: &ServerSettings) -> &Limits {
    &settings.limits
}

/// The `Server` header value (taplint asks services to name their software).
pub const SERVER_NAME: &str = concat!("skyport/", env!("CARGO_PKG_VERSION"));

/// Builds the application with every route and middleware.
pub fn app(state: Arc<AppState>) -> Router {
    let limits = state.settings.limits.clone();
    Router::new()
        .route("/", get(landing_page))
        .route("/metrics", get(metrics_page))
        .route("/tap/availability", get(availability))
        .route("/tap/capabilities", get(tap_capabilities))
        .route("/tap", get(tap::http::index))
        .route("/tap/sync", get(tap::http::sync).post(tap::http::sync))
        .route("/tap/tables", get(tap::http::tables))
        .route("/tap/tables/{name}", get(tap::http::table))
        .route("/tap/examples", get(tap::http::examples))
        .route("/sia/query", get(sia::query).post(sia::query))
        .route("/sia/capabilities", get(sia::capabilities))
        .route("/sia/availability", get(availability))
        .route(
            "/datalink/links",
            get(datalink::links).post(datalink::links),
        )
        .route("/datalink/capabilities", get(datalink::capabilities))
        .route("/datalink/availability", get(availability))
        .route("/soda/sync", get(soda::sync).post(soda::sync))
        .route("/soda/capabilities", get(soda::capabilities))
        .route("/soda/availability", get(availability))
        .merge(uws_http::routes("/tap/async", Arc::clone(&state.tap_jobs)))
        .merge(uws_http::routes(
            "/soda/async",
            Arc::clone(&state.soda_jobs),
        ))
        .merge(consdb::routes())
        .route("/files/{root}/{*path}", get(files::serve_file))
        .route("/previews/{root}/{*path}", get(previews::serve_preview))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_requests,
        ))
        .with_state(state)
        .layer(CorsLayer::permissive())
        .layer(CompressionLayer::new())
        // The limit applies where a body is read (DALI parameters), so a request over it gets a
        // DALI error document with status 413 rather than a bare rejection.
        .layer(axum::extract::DefaultBodyLimit::max(
            limits.max_request_bytes,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(limits.request_timeout_seconds),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(SetResponseHeaderLayer::overriding(
            header::SERVER,
            HeaderValue::from_static(SERVER_NAME),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(
            SequentialRequestId::default(),
        ))
}

/// Serves `app` on `listener` with TCP_NODELAY until `shutdown` completes, then lets requests
/// in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Request ids: a process-unique counter, in hex.
#[derive(Clone, Default)]
struct SequentialRequestId(Arc<AtomicU64>);

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{n:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// A panic is a bug: log it as one and answer with a DALI error, never a dropped connection.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "BUG: handler panicked");
    DaliError::internal("internal error (a bug; it has been logged)").into_response()
}

async fn count_requests(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let _in_flight = state.metrics.start_request();
    let response = next.run(request).await;
    state.metrics.record(&route, response.status().as_u16());
    response
}

async fn not_found() -> Response {
    DaliError::not_found("no such resource; the landing page at / lists the services")
        .into_response()
}

async fn landing_page(State(state): State<Arc<AppState>>) -> Html<String> {
    let images = state.store.count("ivoa", "ObsCore").await.ok();
    Html(landing::page(
        &state.settings.title,
        &state.settings.public_url,
        images,
    ))
}

async fn metrics_page(State(state): State<Arc<AppState>>) -> Response {
    let images = state.store.count("ivoa", "ObsCore").await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(images),
    )
        .into_response()
}

/// A `text/xml` response (VOSI documents).
pub(crate) fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// VOSI availability of every service: they all stand or fall with the archive database.
async fn availability(State(state): State<Arc<AppState>>) -> Response {
    let (ok, note) = match state.store.ping().await {
        Ok(()) => (true, "service is accepting queries".to_string()),
        Err(e) => (false, format!("the archive database does not answer: {e}")),
    };
    xml(vosi::availability(ok, &state.started_at, &note))
}

async fn tap_capabilities(State(state): State<Arc<AppState>>) -> Response {
    xml(vosi::tap_capabilities(
        &format!("{}/tap", state.settings.public_url),
        &state.settings.limits,
    ))
}
