//! Data releases served beside the live archive (LDM-542 §5.4.1). `/releases` lists them; each
//! release's TAP, SIA, DataLink, SODA, files, previews and MOC answer under
//! `/releases/<name>/` (its TAP at `/releases/dr1/tap`), from the release's frozen snapshot,
//! or — for a label of unreleased data such as `prompt` — from the live archive bounded to the
//! label's collections. Either way a release is its own [`AppState`]: the same services over
//! other data, its data rights bounded to its collections ([`skyport_store::Rights::within`]),
//! its links under its own base URL; identity and quotas are the live archive's.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use skyport_store::Store;
use tower::ServiceExt;

use crate::{AppState, Caller, DaliError, ServerSettings};

/// A release to serve, as the archive's configuration and its snapshot describe it.
pub struct ReleaseSpec {
    /// Its name, a path segment (`dr1`, `prompt`).
    pub name: String,
    /// What it is, for people.
    pub description: String,
    /// The collections it holds.
    pub collections: Vec<String>,
    /// Its frozen snapshot; `None` for a label served from the live archive.
    pub snapshot: Option<Snapshot>,
}

/// A frozen release's snapshot.
pub struct Snapshot {
    /// The snapshot database (never written after it was frozen).
    pub store: Arc<dyn Store>,
    /// When it was frozen (ISO 8601 UTC).
    pub frozen_at: String,
    /// How many images it holds.
    pub images: u64,
}

/// A release being served.
pub struct ServedRelease {
    name: String,
    description: String,
    collections: Vec<String>,
    frozen: Option<(String, u64)>,
    router: axum::Router,
}

impl ServedRelease {
    /// `spec` served by `state`.
    pub(crate) fn new(spec: ReleaseSpec, state: Arc<AppState>) -> ServedRelease {
        ServedRelease {
            router: crate::release_app(state),
            frozen: spec.snapshot.map(|s| (s.frozen_at, s.images)),
            name: spec.name,
            description: spec.description,
            collections: spec.collections,
        }
    }
}

/// The releases of an archive, by name.
#[derive(Default)]
pub struct Releases(BTreeMap<String, ServedRelease>);

impl Releases {
    /// These releases.
    pub(crate) fn new(served: Vec<ServedRelease>) -> Releases {
        Releases(served.into_iter().map(|r| (r.name.clone(), r)).collect())
    }

    /// The release called `name`.
    pub fn get(&self, name: &str) -> Option<&ServedRelease> {
        self.0.get(name)
    }
}

/// The settings of the state serving `release` of the archive served with `live`.
pub(crate) fn settings_for(live: &ServerSettings, release: &ReleaseSpec) -> ServerSettings {
    let mut settings = live.clone();
    settings.public_url = format!("{}/releases/{}", live.public_url, release.name);
    // The release serves the image tables (ObsCore as the archive declares it, CAOM2,
    // skyport's image tables) and the plans of its collections; ConsDB, the EFD and the logs
    // stay with the live archive.
    settings
        .extra_schemas
        .retain(|s| skyport_store::release::SNAPSHOT_SCHEMAS.contains(&s.name.as_str()));
    settings.rights = Arc::new(
        (*live.rights)
            .clone()
            .within(release.collections.iter().cloned())
            .within_schemas(
                skyport_store::release::SNAPSHOT_SCHEMAS
                    .iter()
                    .map(|s| s.to_string()),
            )
            // The observatory's records, whose rows no collection bounds (a night-log entry,
            // the coverage maps' epochs), stay with the live archive.
            .hiding(
                ["exposurelog.*", "narrativelog.*", "skyport.coverage_epoch"].map(str::to_string),
            ),
    );
    settings.jobs_dir = live.jobs_dir.join("releases").join(&release.name);
    // HiPS are made of the live archive's images.
    settings.hips_dir = None;
    // Users' files are the live archive's.
    settings.workspace = None;
    settings
}

/// `GET /releases`: every release, with its collections the caller may see and its services.
pub async fn list(State(state): State<Arc<AppState>>, caller: crate::RequestCaller) -> Response {
    let caller: Caller = caller.0;
    let now = chrono::Utc::now();
    let rights = &state.settings.rights;
    let base = &state.settings.public_url;
    let releases: Vec<serde_json::Value> = state
        .releases
        .0
        .values()
        .map(|r| {
            let collections: Vec<&str> = r
                .collections
                .iter()
                .filter(|c| rights.coverage_view(&caller, c, now).is_some())
                .map(String::as_str)
                .collect();
            let url = format!("{base}/releases/{}", r.name);
            serde_json::json!({
                "name": r.name,
                "description": r.description,
                "collections": collections,
                "frozen": r.frozen.is_some(),
                "frozen_at": r.frozen.as_ref().map(|(at, _)| at),
                "tap": format!("{url}/tap"),
                "sia": format!("{url}/sia/query"),
                "datalink": format!("{url}/datalink/links"),
                "soda": format!("{url}/soda/sync"),
            })
        })
        .collect();
    Json(serde_json::json!({ "releases": releases })).into_response()
}

/// `/releases/<name>/<rest>`: the request, its path made `/<rest>`, answered by the release's
/// own services (whose access layer checks it by their routes).
pub async fn forward(
    State(state): State<Arc<AppState>>,
    Path((name, _rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(release) = state.releases.get(&name) else {
        return DaliError::not_found("no such release; /releases lists them").into_response();
    };
    // The path as sent (still percent-encoded) without `/releases/<name>`.
    let path = request.uri().path();
    let rest_at = path
        .match_indices('/')
        .nth(2)
        .map_or(path.len(), |(i, _)| i);
    let rest = match request.uri().query() {
        Some(q) => format!("{}?{q}", &path[rest_at..]),
        None => path[rest_at..].to_string(),
    };
    let Ok(uri) = rest.parse::<Uri>() else {
        return DaliError::not_found("no such resource").into_response();
    };
    // The release's router matches the request afresh, as a new request: its access layer
    // must see its own route and identify the caller itself, and its handlers their own path
    // parameters (axum would append them to this route's). What the layers outside gave the
    // request (the peer's address, the deadline) goes along.
    let (parts, body) = request.into_parts();
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers;
    let extensions = request.extensions_mut();
    if let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        extensions.insert(*peer);
    }
    if let Some(deadline) = parts.extensions.get::<crate::limits::RequestDeadline>() {
        extensions.insert(*deadline);
    }
    match release.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
