//! `/webdav/<user>/…`: each user's own files over WebDAV (dav-server's protocol over the
//! workspace's file system), and `/workspace/<user>`: what they keep against their quota and
//! what they share.
//!
//! Who reaches which tree is decided by [`skyport_workspace::Workspace::grant`] from the path
//! as dav-server will see it (decoded, `..` resolved), never from the router's match: a
//! request for `/webdav/alice/../bob/x` is a request for bob's tree.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dav_server::davpath::DavPath;
use dav_server::fakels::FakeLs;
use dav_server::DavHandler;
use skyport_workspace::{Grant, Share, Workspace, WorkspaceError};

use crate::caller::{current_groups, Caller, RequestCaller};
use crate::state::AppState;

/// Where users' trees are served.
pub const BASE: &str = "/webdav";

/// The routes.
pub(crate) fn routes() -> crate::routes::Routes<Arc<AppState>> {
    crate::routes::Routes::new()
        .route(BASE, axum::routing::any(serve))
        .route(&format!("{BASE}/"), axum::routing::any(serve))
        .route(&format!("{BASE}/{{user}}"), axum::routing::any(serve))
        .route(&format!("{BASE}/{{user}}/"), axum::routing::any(serve))
        .route(
            &format!("{BASE}/{{user}}/{{*path}}"),
            axum::routing::any(serve),
        )
        .route("/workspace/{user}", axum::routing::get(summary))
        .route(
            "/workspace/{user}/shares",
            axum::routing::get(shares).put(set_shares),
        )
}

/// The methods that change nothing.
fn reads(method: &Method) -> bool {
    matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "PROPFIND")
}

/// A refusal, answered as plain text (what WebDAV clients show).
struct Plain(StatusCode, String);

fn plain(status: StatusCode, message: impl Into<String>) -> Plain {
    Plain(status, message.into())
}

impl IntoResponse for Plain {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.1),
        )
            .into_response()
    }
}

fn workspace(state: &AppState) -> Result<Arc<Workspace>, Plain> {
    state
        .workspace
        .clone()
        .ok_or_else(|| plain(StatusCode::NOT_FOUND, "this server keeps no user files"))
}

fn error_response(e: WorkspaceError) -> Plain {
    match e {
        WorkspaceError::NotFound => plain(StatusCode::NOT_FOUND, e.to_string()),
        WorkspaceError::Forbidden(m) => plain(StatusCode::FORBIDDEN, m),
        WorkspaceError::Invalid(m) => plain(StatusCode::BAD_REQUEST, m),
        WorkspaceError::Full(m) => plain(StatusCode::INSUFFICIENT_STORAGE, m),
        WorkspaceError::Io(e) => {
            tracing::error!(error = %e, "workspace storage");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the workspace storage failed; it has been logged",
            )
        }
    }
}

/// The owner and the path within their tree that `uri_path` names, as dav-server resolves
/// it.
fn target(uri_path: &str) -> Result<(String, String), Plain> {
    let bad = || {
        plain(
            StatusCode::BAD_REQUEST,
            "the path is not a valid WebDAV path",
        )
    };
    let path = DavPath::new(uri_path).map_err(|_| bad())?;
    let full = String::from_utf8_lossy(path.as_bytes()).into_owned();
    let rest = full
        .strip_prefix(BASE)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            plain(
                StatusCode::NOT_FOUND,
                "a user's files are at /webdav/<user>/",
            )
        })?;
    let (owner, within) = match rest.split_once('/') {
        Some((owner, within)) => (owner, format!("/{within}")),
        None => (rest, "/".to_string()),
    };
    Ok((owner.to_string(), within))
}

/// Every WebDAV method on a user's tree.
pub(crate) async fn serve(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    request: Request<Body>,
) -> Response {
    serve_grant(&state, &caller, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn serve_grant(
    state: &AppState,
    caller: &Caller,
    request: Request<Body>,
) -> Result<Response, Plain> {
    let ws = workspace(state)?;
    let Some(user) = caller.user.as_deref() else {
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "user files need credentials",
        ));
    };
    let (owner, within) = target(request.uri().path())?;
    let (user, groups, who) = (user.to_string(), current_groups(caller), owner.clone());
    let (grant, fs) = blocking(ws, move |ws| {
        let grant = ws.grant(Some(&user), &groups, &who, &within)?;
        let fs = ws.file_system(&grant)?;
        Ok((grant, fs))
    })
    .await?;
    if !grant.writable && !reads(request.method()) {
        return Err(plain(
            StatusCode::FORBIDDEN,
            format!("{owner} shares this with you read-only"),
        ));
    }
    let prefix = prefix(&grant);
    if let Some(destination) = request.headers().get("destination") {
        if !destination_within(destination.to_str().unwrap_or(""), &prefix) {
            return Err(plain(
                StatusCode::FORBIDDEN,
                "the Destination is outside the files this request reaches",
            ));
        }
    }
    let handler = DavHandler::builder()
        .filesystem(Box::new(fs))
        // Clients that lock before writing (macOS, Windows) are told they hold the lock:
        // a whole-file PUT is atomic here anyway.
        .locksystem(FakeLs::new())
        .strip_prefix(prefix)
        .build_handler();
    let response = handler.handle(request).await;
    Ok(response.map(|body| Body::new(Fused(Some(body)))))
}

/// A body that, once ended, stays ended: dav-server's bodies panic when polled after their
/// end, which the compression layer does.
struct Fused<B>(Option<B>);

impl<B> http_body::Body for Fused<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let Some(inner) = self.0.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let polled = std::pin::Pin::new(inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.0 = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// Whether a `Destination` (a URL or a path) lies at or below `prefix` (a decoded URL path),
/// as dav-server will resolve it. dav-server compares prefixes byte by byte, so
/// `/webdav/alicex/…` would pass for `/webdav/alice` there: it must not reach it.
fn destination_within(destination: &str, prefix: &str) -> bool {
    let path = match destination.find("://") {
        Some(i) => {
            let rest = &destination[i + 3..];
            match rest.find('/') {
                Some(j) => &rest[j..],
                None => return false,
            }
        }
        None => destination,
    };
    let Ok(path) = DavPath::new(path) else {
        return false;
    };
    let full = String::from_utf8_lossy(path.as_bytes());
    let full = full.trim_end_matches('/');
    full == prefix || full.starts_with(&format!("{prefix}/"))
}

/// The URL path (decoded) a grant's top is served at.
fn prefix(grant: &Grant) -> String {
    if grant.base == "/" {
        format!("{BASE}/{}", grant.owner)
    } else {
        format!("{BASE}/{}{}", grant.owner, grant.base)
    }
}

/// Only the owner reads or changes what they keep and share.
fn owner_only<'a>(caller: &Caller, user: &'a str) -> Result<&'a str, Plain> {
    if caller.user.as_deref() == Some(user) {
        Ok(user)
    } else if caller.user.is_none() {
        Err(plain(StatusCode::UNAUTHORIZED, "this needs credentials"))
    } else {
        Err(plain(StatusCode::NOT_FOUND, "no such user workspace"))
    }
}

/// `GET /workspace/<user>`: what they keep, their quota and their shares.
pub(crate) async fn summary(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(user): Path<String>,
) -> Response {
    let result = async {
        let ws = workspace(&state)?;
        let user = owner_only(&caller, &user)?;
        let owner = user.to_string();
        let (usage, shares) =
            blocking(ws, move |ws| Ok((ws.usage(&owner)?, ws.shares(&owner)?))).await?;
        Ok::<_, Plain>(
            Json(serde_json::json!({
                "user": user,
                "webdav": format!("{}{BASE}/{user}/", state.archive_url),
                "usage": usage,
                "shares": shares,
            }))
            .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /workspace/<user>/shares`.
pub(crate) async fn shares(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(user): Path<String>,
) -> Response {
    let result = async {
        let ws = workspace(&state)?;
        let user = owner_only(&caller, &user)?.to_string();
        let list = blocking(ws, move |ws| ws.shares(&user)).await?;
        Ok::<_, Plain>(Json(list).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `PUT /workspace/<user>/shares` with a JSON list of `{"path", "group", "access"}`:
/// replaces what they share.
pub(crate) async fn set_shares(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(user): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let ws = workspace(&state)?;
        let user = owner_only(&caller, &user)?.to_string();
        let list: Vec<Share> = serde_json::from_slice(&body).map_err(|e| {
            plain(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be a JSON list of {{\"path\", \"group\", \"access\": \"read\" or \"write\"}}: {e}"
                ),
            )
        })?;
        let saved = blocking(ws, move |ws| {
            ws.set_shares(&user, list)?;
            ws.shares(&user)
        })
        .await?;
        Ok::<_, Plain>(Json(saved).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Runs workspace disk work (a JSON file, a tree's walk) on a blocking thread.
async fn blocking<T: Send + 'static>(
    ws: Arc<Workspace>,
    work: impl FnOnce(&Workspace) -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, Plain> {
    tokio::task::spawn_blocking(move || work(&ws))
        .await
        .map_err(|_| {
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the workspace task failed",
            )
        })?
        .map_err(error_response)
}
