//! The access middleware: every request is identified, checked against its route's rule and
//! counted against its caller's quota before its handler runs; refusals are answered in the
//! service's own error format (DALI VOTable, SODA text, ConsDB JSON) with the standard
//! headers (`WWW-Authenticate` with the Bearer and IVOA `ivoa_bearer` challenges on 401,
//! `Retry-After` and `X-RateLimit-*` on 429).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use skyport_auth::RateDecision;
use skyport_store::Caller;

use super::{Refusal, Rule};
use crate::caller::proxy_user;
use crate::dali::DaliError;
use crate::state::AppState;

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn guard(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(pattern) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        // No route: the fallback answers 404 whoever asks.
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let admitted = admit(
        &state,
        request.method(),
        request.uri().path(),
        request.headers(),
        peer,
        &pattern,
    )
    .await;
    let (caller, decision) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => return after_unread_body(request, refused).await,
    };
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if let Some(d) = decision {
        rate_headers(response.headers_mut(), &d);
    }
    if response.status() == StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        challenge(&state, response.headers_mut(), None);
    }
    response
}

/// Whether a request (`method`, `path`, `headers`, from `peer`) to the route `pattern` may
/// reach its handler: its caller and the count it was charged, or the refusal to answer with.
async fn admit(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    pattern: &str,
) -> Result<(Caller, Option<RateDecision>), Response> {
    let Some(rule) = super::rule_for(method, pattern) else {
        tracing::error!(route = %pattern, "BUG: a route without an access rule");
        return Err(refusal_response(
            path,
            StatusCode::INTERNAL_SERVER_ERROR,
            "this resource has no access rule (a bug; it has been logged)".into(),
        ));
    };
    // The open doors (landing page, VOSI, metrics) use no caller: their credentials are not
    // looked at, so a bad or slow token costs them nothing.
    if rule == Rule::Open {
        return Ok((Caller::anonymous(), None));
    }
    let caller = identify(state, headers, peer)
        .await
        .map_err(|refusal| refuse(state, path, refusal))?;
    if let Rule::Scope(scope) = rule {
        if !caller.has_scope(scope) {
            let refusal = if caller.user.is_none() {
                Refusal::Unauthenticated {
                    message: format!("this resource needs credentials (scope {scope})"),
                    bearer_error: None,
                }
            } else {
                Refusal::Forbidden(format!(
                    "your credentials do not carry the scope {scope} this resource needs"
                ))
            };
            return Err(refuse(state, path, refusal));
        }
    }
    // ConsDB's TAP under Rubin's path counts as the TAP service it is.
    let service = pattern
        .strip_prefix(super::rules::RSP_CONSDB_TAP)
        .map_or(pattern, |_| "/tap")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let decision = state
        .access
        .count_request(&caller, peer, service)
        .map_err(|refusal| refuse(state, path, refusal))?;
    Ok((caller, decision))
}

/// The most of a refused request's body that is read to keep its connection, and how long it
/// is awaited.
const UNREAD_BODY_LIMIT: usize = 64 * 1024;
const UNREAD_BODY_WAIT: Duration = Duration::from_secs(2);

/// `response`, to a request refused before its handler read its body.
///
/// An HTTP/1.1 connection can carry the next request only once this one's body has been read
/// off it. Clients write a form's body after its head (urllib3 in a write of its own), so it
/// may not have arrived when the refusal is ready; hyper then closes the connection after the
/// answer without saying so, and a client that sends its next request on it (pyvo after a
/// 429) sees "connection closed without response". So a short body is awaited and dropped;
/// a long or slow one is not read, and the answer says `Connection: close`. Nor is a body the
/// client waits to be asked for (`Expect: 100-continue`): reading it would ask for it.
/// (HTTP/2 ends the one stream instead.)
async fn after_unread_body(request: Request, mut response: Response) -> Response {
    if request.version() >= Version::HTTP_2 || request.body().is_end_stream() {
        return response;
    }
    let awaits_continue = request.headers().contains_key(header::EXPECT);
    if awaits_continue || !discard(request.into_body()).await {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and drops `body` if it is at most [`UNREAD_BODY_LIMIT`] bytes and ends within
/// [`UNREAD_BODY_WAIT`]: whether it was read whole.
async fn discard(body: Body) -> bool {
    if body.size_hint().lower() > UNREAD_BODY_LIMIT as u64 {
        return false;
    }
    let read = async move {
        let mut data = body.into_data_stream();
        let mut seen = 0usize;
        while let Some(chunk) = data.next().await {
            let Ok(chunk) = chunk else { return false };
            seen += chunk.len();
            if seen > UNREAD_BODY_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(UNREAD_BODY_WAIT, read)
        .await
        .unwrap_or(false)
}

async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Caller, Refusal> {
    let proxy_user = proxy_user(headers, peer, &state.settings.trusted_proxies);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    state.access.identify(authorization, proxy_user).await
}

/// The response to a refusal, counted.
fn refuse(state: &AppState, path: &str, refusal: Refusal) -> Response {
    let counts = &state.access.refused;
    match refusal {
        Refusal::Unauthenticated {
            message,
            bearer_error,
        } => {
            counts.unauthenticated.fetch_add(1, Ordering::Relaxed);
            let mut r = refusal_response(path, StatusCode::UNAUTHORIZED, message.clone());
            challenge(
                state,
                r.headers_mut(),
                bearer_error.map(|e| (e, message.as_str())),
            );
            r
        }
        Refusal::Forbidden(message) => {
            counts.forbidden.fetch_add(1, Ordering::Relaxed);
            refusal_response(path, StatusCode::FORBIDDEN, message)
        }
        Refusal::RateLimited(decision) => {
            let wait = decision
                .retry_after_seconds
                .unwrap_or(decision.reset_seconds)
                .max(1);
            let message = format!(
                "over the limit of {} requests per minute to this service; retry in {wait} s",
                decision.limit
            );
            // Plain text, not a DALI document: a refusal to run is not a query's result, and
            // clients (pyvo's DALRateLimitError) recognise a 429 by its status only when the
            // body does not parse as a VOTable. ConsDB and token clients still get JSON.
            let mut r = match path.trim_start_matches('/').split('/').next() {
                Some("consdb" | "auth") => {
                    refusal_response(path, StatusCode::TOO_MANY_REQUESTS, message)
                }
                _ => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!("TransientFault: {message}\n"),
                )
                    .into_response(),
            };
            rate_headers(r.headers_mut(), &decision);
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Refusal::IssuerUnavailable(message) => refusal_response(
            path,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("credentials cannot be checked now: {message}"),
        ),
    }
}

/// An error answer in the format of the service at `path`.
pub fn refusal_response(path: &str, status: StatusCode, message: String) -> Response {
    let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let dali = DaliError::usage(message.clone()).with_status(status);
    match service {
        "consdb" | "auth" => {
            (status, axum::Json(serde_json::json!({ "detail": message }))).into_response()
        }
        "soda" if !path.starts_with("/soda/async") => crate::soda::http::soda_error(dali),
        // WebDAV clients show a plain message.
        "webdav" | "workspace" => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response(),
        _ => dali.into_response(),
    }
}

/// Adds the 401 challenges: RFC 6750 Bearer (with the token's fault, if one was presented)
/// and the IVOA SSO `ivoa_bearer` one saying where a token is had.
fn challenge(state: &AppState, headers: &mut HeaderMap, fault: Option<(&str, &str)>) {
    let settings = state.access.settings();
    let quote = |s: &str| {
        s.replace(['"', '\\'], "'")
            .replace(|c: char| c.is_control(), " ")
    };
    let mut bearer = format!("Bearer realm=\"{}\"", quote(&settings.realm));
    if let Some((error, description)) = fault {
        bearer.push_str(&format!(
            ", error=\"{error}\", error_description=\"{}\"",
            quote(description)
        ));
    }
    let login = if settings.login_url.is_empty() {
        format!("{}/", state.archive_url)
    } else {
        settings.login_url.clone()
    };
    let ivoa = format!(
        "ivoa_bearer standard_id=\"ivo://ivoa.net/sso#token\", access_url=\"{}\"",
        quote(&login)
    );
    // The same tokens are taken as the password of HTTP Basic, so curl and browsers may ask.
    let basic = format!("Basic realm=\"{}\"", quote(&settings.realm));
    for value in [bearer, ivoa, basic] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
    }
}

fn rate_headers(headers: &mut HeaderMap, d: &RateDecision) {
    for (name, value) in [
        ("x-ratelimit-limit", d.limit.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
        ("x-ratelimit-reset", d.reset_seconds.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}
