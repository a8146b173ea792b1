//! `/auth/tokens`: skyport's API tokens over REST, for holders of `admin:token` (the same
//! records `skyport token` manages on the command line).
//!
//! - `GET /auth/tokens[?user=NAME]`: the tokens, never their secrets;
//! - `POST /auth/tokens` with `{"user", "scopes": [...], "groups": [...], "expires": "30d"}`:
//!   makes one and answers it, once, in `"token"`;
//! - `DELETE /auth/tokens/{key}`: revokes one (at once on this server; others stop accepting
//!   it within their cache time).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use chrono::Utc;
use serde_json::{json, Value};
use skyport_auth::{parse_duration, ApiToken};
use skyport_store::StoredToken;

use super::scopes;
use crate::caller::RequestCaller;
use crate::state::AppState;

/// An error answer: `{"detail": …}` with its status.
fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": detail.into() }))).into_response()
}

fn describe(t: &StoredToken) -> Value {
    json!({
        "key": t.key,
        "user": t.user,
        "scopes": t.scopes,
        "groups": t.groups,
        "created": t.created.to_rfc3339(),
        "expires": t.expires.map(|e| e.to_rfc3339()),
        "revoked": t.revoked.map(|e| e.to_rfc3339()),
    })
}

/// `GET /auth/tokens`.
pub async fn list(State(state): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Response {
    let user = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned());
    match state.access.accounts().tokens(user.as_deref()).await {
        Ok(tokens) => Json(tokens.iter().map(describe).collect::<Vec<_>>()).into_response(),
        Err(e) => {
            tracing::error!("listing tokens: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the tokens cannot be read now",
            )
        }
    }
}

/// `POST /auth/tokens`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    let strings = |name: &str| -> Result<Vec<String>, String> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= 1000 => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .filter(|s| !s.is_empty() && s.len() <= 256)
                        .map(str::to_string)
                        .ok_or_else(|| format!("{name}: a list of names (1 to 256 characters)"))
                })
                .collect(),
            Some(_) => Err(format!("{name}: a list of at most 1000 names")),
        }
    };
    let user = match body.get("user").and_then(Value::as_str) {
        Some(u) if !u.trim().is_empty() && u.len() <= 256 => u.to_string(),
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "user: a name of 1 to 256 characters",
            )
        }
    };
    let (granted, groups) = match (strings("scopes"), strings("groups")) {
        (Ok(s), Ok(g)) => (s, g),
        (Err(m), _) | (_, Err(m)) => return problem(StatusCode::BAD_REQUEST, m),
    };
    if let Some(bad) = granted.iter().find(|s| !scopes::ALL.contains(&s.as_str())) {
        return problem(
            StatusCode::BAD_REQUEST,
            format!(
                "scopes: unknown scope {bad:?} (known: {})",
                scopes::ALL.join(", ")
            ),
        );
    }
    let now = Utc::now();
    let expires = match body.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match parse_duration(text)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| now.checked_add_signed(d))
        {
            Some(t) => Some(t),
            None => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    format!("expires: {text:?} is not a lifetime like 30d, 12h or 1w"),
                )
            }
        },
        Some(_) => return problem(StatusCode::BAD_REQUEST, "expires: a lifetime like \"30d\""),
    };
    let made = match ApiToken::generate() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("making a token: {e}");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no token can be made now",
            );
        }
    };
    let record = StoredToken {
        key: made.key.clone(),
        secret_hash: made.secret_hash,
        user,
        scopes: granted,
        groups,
        created: now,
        expires,
        revoked: None,
    };
    let by = caller.user.clone().unwrap_or_else(|| "anonymous".into());
    if let Err(e) = state.access.accounts().add_token(&record, &by).await {
        tracing::error!("storing a token: {e}");
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the token cannot be stored now",
        );
    }
    tracing::info!(key = %record.key, user = %record.user, scopes = ?record.scopes, by = %by, "API token created");
    let mut answer = describe(&record);
    answer["token"] = Value::String(made.token);
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// `DELETE /auth/tokens/{key}`.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(key): Path<String>,
) -> Response {
    let by = caller.user.clone().unwrap_or_else(|| "anonymous".into());
    match state
        .access
        .accounts()
        .revoke_token(&key, Utc::now(), &by)
        .await
    {
        Ok(true) => {
            state.access.forget_token(&key);
            tracing::info!(key = %key, by = %by, "API token revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => problem(StatusCode::NOT_FOUND, "no valid token has this key"),
        Err(e) => {
            tracing::error!("revoking a token: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the token cannot be revoked now",
            )
        }
    }
}
