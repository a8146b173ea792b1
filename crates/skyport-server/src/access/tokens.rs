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

/// What a new API token is for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// Whom it identifies.
    pub user: String,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// The groups it makes its user a member of.
    pub groups: Vec<String>,
    /// Its lifetime (`30d`, `12h`…); `None`: until revoked.
    pub expires: Option<String>,
}

/// Why a token was not made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The request is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The token could not be made or stored.
    #[error("{0}")]
    Failed(String),
}

/// Checks `request`, makes a token for it and stores it in `accounts` (written by `author`):
/// the one way tokens are issued, from the command line and over REST. Returns the token —
/// shown once, never stored — and its record.
pub async fn issue(
    accounts: &skyport_store::Accounts,
    request: TokenRequest,
    author: &str,
) -> Result<(String, StoredToken), IssueError> {
    let invalid = |m: String| Err(IssueError::Invalid(m));
    if request.user.trim().is_empty() || request.user.len() > 256 {
        return invalid("user: a name of 1 to 256 characters".into());
    }
    if let Some(bad) = request
        .scopes
        .iter()
        .find(|s| !scopes::ALL.contains(&s.as_str()))
    {
        return invalid(format!(
            "scopes: unknown scope {bad:?} (known: {})",
            scopes::ALL.join(", ")
        ));
    }
    if request.groups.len() > 1000 || request.groups.iter().any(|g| g.is_empty() || g.len() > 256) {
        return invalid("groups: at most 1000 names of 1 to 256 characters".into());
    }
    let now = Utc::now();
    let expires = match &request.expires {
        None => None,
        Some(text) => match parse_duration(text)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| now.checked_add_signed(d))
        {
            Some(t) => Some(t),
            None => {
                return invalid(format!(
                    "expires: {text:?} is not a lifetime like 30d, 12h or 1w"
                ))
            }
        },
    };
    let made =
        ApiToken::generate().map_err(|e| IssueError::Failed(format!("making a token: {e}")))?;
    let record = StoredToken {
        key: made.key,
        secret_hash: made.secret_hash,
        user: request.user,
        scopes: request.scopes,
        groups: request.groups,
        created: now,
        expires,
        revoked: None,
    };
    accounts
        .add_token(&record, author)
        .await
        .map_err(|e| IssueError::Failed(format!("storing a token: {e}")))?;
    tracing::info!(key = %record.key, user = %record.user, scopes = ?record.scopes, by = %author, "API token created");
    Ok((made.token, record))
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
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{name}: a list of names"))
                })
                .collect(),
            Some(_) => Err(format!("{name}: a list of names")),
        }
    };
    let expires = match body.get("expires") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err("expires: a lifetime like \"30d\"".to_string()),
    };
    let request = match (strings("scopes"), strings("groups"), expires) {
        (Ok(scopes), Ok(groups), Ok(expires)) => TokenRequest {
            user: body
                .get("user")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            scopes,
            groups,
            expires,
        },
        (Err(m), _, _) | (_, Err(m), _) | (_, _, Err(m)) => {
            return problem(StatusCode::BAD_REQUEST, m)
        }
    };
    let by = caller.user.clone().unwrap_or_else(|| "anonymous".into());
    match issue(state.access.accounts(), request, &by).await {
        Ok((token, record)) => {
            let mut answer = describe(&record);
            answer["token"] = Value::String(token);
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(IssueError::Invalid(m)) => problem(StatusCode::BAD_REQUEST, m),
        Err(IssueError::Failed(m)) => {
            tracing::error!("{m}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the token cannot be made now",
            )
        }
    }
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
