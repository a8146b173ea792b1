//! The HTTP layer of skyport: routing, middleware, DALI parameter handling and the service
//! endpoints. Handlers stay thin: they parse parameters into typed values and call the store or
//! service functions, which know nothing about HTTP.

pub mod access;
mod cache;
mod caller;
pub mod consdb;
pub mod dali;
pub mod datalink;
pub mod delivery;
pub mod descriptors;
pub mod discovery;
mod files;
pub mod hips;
pub mod landing;
mod limits;
mod listener;
pub mod metrics;
pub mod moc;
mod objects;
pub mod obslog;
pub mod obsplan;
pub mod portal;
mod previews;
pub mod releases;
mod routes;
pub mod sia;
pub mod soda;
mod state;
pub mod tap;
pub mod uws_http;
pub mod vosi;
pub mod webdav;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use caller::{Caller, RequestCaller};
pub use dali::{DaliError, DaliParams, Fault};
pub use limits::Limits;
pub use listener::{serve_with, ConnectionSettings};
pub use state::{AppState, ObjectAccess, ServerSettings, StartError};
pub use tap::UploadAllow;

/// The `Server` header value (taplint asks services to name their software).
pub const SERVER_NAME: &str = concat!("skyport/", env!("CARGO_PKG_VERSION"));

/// Every route pattern of the application (`/tap/async/{id}`…), for tests that walk every
/// route against the access rules.
pub fn route_patterns(state: &Arc<AppState>) -> Vec<String> {
    routes(state).into_parts().1
}

/// The route patterns a data release serves under `/releases/<name>` (`/tap/sync`…).
pub fn release_route_patterns(state: &Arc<AppState>) -> Vec<String> {
    data_routes(state).into_parts().1
}

fn routes(state: &Arc<AppState>) -> routes::Routes<Arc<AppState>> {
    routes::Routes::new()
        .route("/", get(landing_page))
        .route("/metrics", get(metrics_page))
        .route("/portal", get(portal::redirect))
        .route("/portal/", get(portal::index))
        .route("/portal/{*path}", get(portal::file))
        .route("/repertoire/discovery", get(discovery::discovery))
        .route("/hips/list", get(hips::list))
        .route("/hips/{id}", get(hips::base))
        .route("/hips/{id}/", get(hips::base))
        .route("/hips/{id}/{*path}", get(hips::file))
        .merge(data_routes(state))
        // Where Rubin's Science Platform serves ConsDB's TAP, which Rubin's clients
        // (rubin_nights) ask for by that path: the same service.
        .merge(tap_routes(state, access::rules::RSP_CONSDB_TAP))
        .merge(consdb::routes())
        .route("/obsplan", axum::routing::post(obsplan::load))
        .merge(obslog::routes())
        .route(
            "/auth/tokens",
            get(access::tokens::list).post(access::tokens::create),
        )
        .route(
            "/auth/tokens/{key}",
            axum::routing::delete(access::tokens::revoke),
        )
        .merge(webdav::routes())
        .merge(tap::user_tables::routes(state))
        .route("/releases", get(releases::list))
        .route(
            "/releases/{release}/{*rest}",
            axum::routing::any(releases::forward),
        )
}

/// The routes a data release serves too: the image services over its rows.
fn data_routes(state: &Arc<AppState>) -> routes::Routes<Arc<AppState>> {
    routes::Routes::new()
        .route("/moc", get(moc::list))
        .route("/moc/{collection}", get(moc::collection_moc))
        .merge(tap_routes(state, "/tap"))
        .route("/sia/query", get(sia::http::query).post(sia::http::query))
        .route("/sia/capabilities", get(sia::http::capabilities))
        .route("/sia/availability", get(availability))
        .route(
            "/datalink/links",
            get(datalink::http::links).post(datalink::http::links),
        )
        .route("/datalink/capabilities", get(datalink::http::capabilities))
        .route("/datalink/availability", get(availability))
        .route("/soda/sync", get(soda::http::sync).post(soda::http::sync))
        .route("/soda/capabilities", get(soda::http::capabilities))
        .route("/soda/availability", get(availability))
        .merge(uws_http::routes(
            "/soda/async",
            Arc::clone(&state.soda_jobs),
        ))
        .route("/files/{root}/{*path}", get(files::serve_file))
        .route("/previews/{root}/{*path}", get(previews::serve_preview))
}

/// The TAP service's routes under `base` (`/tap`).
fn tap_routes(state: &Arc<AppState>, base: &str) -> routes::Routes<Arc<AppState>> {
    routes::Routes::new()
        .route(&format!("{base}/availability"), get(availability))
        .route(&format!("{base}/capabilities"), get(tap_capabilities))
        .route(base, get(tap::http::index))
        .route(
            &format!("{base}/sync"),
            get(tap::http::sync).post(tap::http::sync),
        )
        .route(&format!("{base}/tables"), get(tap::http::tables))
        .route(&format!("{base}/tables/{{name}}"), get(tap::http::table))
        .route(&format!("{base}/examples"), get(tap::http::examples))
        .merge(uws_http::routes(
            &format!("{base}/async"),
            Arc::clone(&state.tap_jobs),
        ))
}

/// The application of one data release (served under `/releases/<name>/` by the live
/// archive's, whose outer layers — compression, limits, deadlines — it runs within): its
/// image services behind the same access rules.
fn release_app(state: Arc<AppState>) -> Router {
    let (router, _) = data_routes(&state).into_parts();
    let max_body = state.settings.limits.max_request_bytes;
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn(plain_rejections))
        // The request arrives anew: the archive's body limit is set again.
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            access::http::guard,
        ))
        .with_state(state)
}

/// Builds the application with every route and middleware.
pub fn app(state: Arc<AppState>) -> Router {
    let limits = state.settings.limits.clone();
    let (router, _) = routes(&state).into_parts();
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn(plain_rejections))
        // Inner to the counter, so refusals are counted by route too.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            access::http::guard,
        ))
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
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_secs(limits.request_timeout_seconds.max(1)),
            deadline,
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

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight
/// finish, with the default [`ConnectionSettings`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ConnectionSettings::default()).await
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

/// Ends a request that takes longer than the limit (dropping its work, which stops queries
/// and cutouts on their way) and answers with the service's own error document, not a bare
/// status. The deadline is also given to the handlers ([`limits::RequestDeadline`]), for work
/// that goes on while the response streams.
async fn deadline(State(limit): State<Duration>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    // A limit too far off for the clock has no deadline to hand over.
    if let Some(at) = std::time::Instant::now().checked_add(limit) {
        request.extensions_mut().insert(limits::RequestDeadline(at));
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path = %path, "request over the time limit, stopped");
            access::http::refusal_response(
                &path,
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request took longer than this service's limit of {} s and was stopped",
                    limit.as_secs()
                ),
            )
        }
    }
}

/// A bare `text/plain` rejection from an extractor (a body over the size limit, say) made
/// into the service's own error document, so that every client mistake reads alike.
async fn plain_rejections(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    // SODA's own errors are text/plain by design; only its extractor rejections lack the
    // SODA label.
    if !status.is_client_error() || !plain || path.starts_with("/soda/sync") {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this service accepts",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "the request body has a Content-Type this resource does not take"
        }
        StatusCode::LENGTH_REQUIRED => "the request needs a Content-Length",
        _ => return response,
    };
    access::http::refusal_response(&path, status, message.into())
}

/// The number of images anyone may see: the landing page and `/metrics` are open to all, so
/// they must not tell how many proprietary images there are.
async fn public_images(state: &AppState) -> Option<u64> {
    let rows = state
        .tap
        .rows(&Caller::anonymous(), "SELECT COUNT(*) FROM ivoa.ObsCore")
        .await
        .ok()?;
    rows.first()?.first()?.as_i64().map(|n| n.max(0) as u64)
}

async fn not_found() -> Response {
    DaliError::not_found("no such resource; the landing page at / lists the services")
        .into_response()
}

async fn landing_page(State(state): State<Arc<AppState>>) -> Html<String> {
    let images = public_images(&state).await;
    Html(landing::page(
        &state.settings.title,
        &state.settings.public_url,
        images,
    ))
}

async fn metrics_page(State(state): State<Arc<AppState>>) -> Response {
    let images = public_images(&state).await;
    let mut text = state.metrics.render(images);
    text.push_str(&format!(
        "# HELP skyport_soda_cutouts_running SODA cutouts being planned or cut (blocking work in progress).\n\
         # TYPE skyport_soda_cutouts_running gauge\n\
         skyport_soda_cutouts_running {}\n",
        state.soda.cutouts_running()
    ));
    text.push_str(&format!(
        "# HELP skyport_tap_early_answers_total Queries over ObsCore answered from the coverage maps without reading the table.\n\
         # TYPE skyport_tap_early_answers_total counter\n\
         skyport_tap_early_answers_total {}\n",
        state.tap.early_answers()
    ));
    if let Some(access) = &state.settings.objects {
        use std::sync::atomic::Ordering::Relaxed;
        let c = access.objects.counters();
        for (name, help, value) in [
            (
                "skyport_object_store_range_requests_total",
                "Ranged GETs of image bytes from the object store (block-cache misses).",
                c.range_requests.load(Relaxed),
            ),
            (
                "skyport_object_store_range_bytes_total",
                "Bytes those ranged GETs brought.",
                c.range_bytes.load(Relaxed),
            ),
            (
                "skyport_object_store_range_microseconds_total",
                "Time spent waiting for those ranged GETs.",
                c.range_micros.load(Relaxed),
            ),
            (
                "skyport_object_store_head_requests_total",
                "HEAD requests (an object's size and version).",
                c.head_requests.load(Relaxed),
            ),
            (
                "skyport_object_store_disk_hits_total",
                "Blocks read from the local disk cache instead of the store.",
                c.disk_hits.load(Relaxed),
            ),
        ] {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        }
    }
    let refused = &state.access.refused;
    text.push_str(
        "# HELP skyport_refusals_total Requests refused by the access layer, by reason.\n\
         # TYPE skyport_refusals_total counter\n",
    );
    for (reason, count) in [
        ("unauthenticated", &refused.unauthenticated),
        ("forbidden", &refused.forbidden),
        ("rate_limited", &refused.rate_limited),
        ("concurrent_queries", &refused.concurrency),
        ("jobs", &refused.jobs),
    ] {
        text.push_str(&format!(
            "skyport_refusals_total{{reason=\"{reason}\"}} {}\n",
            count.load(Ordering::Relaxed)
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// VOSI availability of every service: they all stand or fall with the archive database.
async fn availability(State(state): State<Arc<AppState>>) -> Response {
    // Answered promptly even when user queries hold every database connection: a monitor
    // must not queue behind them.
    let (ok, note) = match tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await {
        Ok(Ok(())) => (true, "service is accepting queries".to_string()),
        Ok(Err(e)) => (false, format!("the archive database does not answer: {e}")),
        Err(_) => (
            false,
            "every database connection is busy with queries; try again shortly".to_string(),
        ),
    };
    vosi::xml_response(vosi::availability(ok, &state.started_at, &note))
}

async fn tap_capabilities(State(state): State<Arc<AppState>>) -> Response {
    vosi::capabilities_response(
        &state,
        vosi::tap_capabilities(
            &format!("{}/tap", state.settings.public_url),
            &state.settings.limits,
        ),
    )
}
