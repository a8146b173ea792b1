//! `/exposurelog/messages` and `/narrativelog/messages`: the observers' logs, laid out as
//! Rubin's exposurelog and narrativelog services lay them out (paths, bodies, status codes,
//! `{"detail": …}` errors). The handlers parse and answer; `skyport_consdb::obslog` does the
//! work. Reads need `read:tap`, writes `write:consdb` (see `access::rules`).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use skyport_consdb::obslog::{LogError, ObsLog};

use crate::caller::RequestCaller;
use crate::routes::Routes;
use crate::state::AppState;

/// The routes of both logs.
pub fn routes() -> Routes<Arc<AppState>> {
    let mut r = Routes::new();
    for (prefix, pick) in [
        ("/exposurelog", exposure as fn(&AppState) -> &ObsLog),
        ("/narrativelog", narrative as fn(&AppState) -> &ObsLog),
    ] {
        let list = get(move |s, c, q| find(s, c, q, pick)).post(move |s, c, b| add(s, c, b, pick));
        r = r
            .route(&format!("{prefix}/messages"), list.clone())
            .route(&format!("{prefix}/messages/"), list)
            .route(
                &format!("{prefix}/messages/{{id}}"),
                get(move |s, c, p| read(s, c, p, pick))
                    .patch(move |s, c, p, b| edit(s, c, p, b, pick))
                    .delete(move |s, c, p| delete(s, c, p, pick)),
            )
            .route(
                &format!("{prefix}/configuration"),
                get(move |s| configuration(s, pick)),
            );
    }
    r
}

fn exposure(s: &AppState) -> &ObsLog {
    &s.exposure_log
}

fn narrative(s: &AppState) -> &ObsLog {
    &s.narrative_log
}

type Pick = fn(&AppState) -> &ObsLog;

/// The log `pick` chooses, with the access layer's condition on its table for `caller`.
fn scoped<'a>(
    state: &'a AppState,
    caller: &skyport_store::Caller,
    pick: Pick,
) -> (&'a ObsLog, Option<String>) {
    let log = pick(state);
    (log, visible(state, caller, log))
}

/// The access layer's condition on the log's table for `caller`: an exposure-log message about
/// an exposure holding an image the caller may not see is hidden like the exposure (and like
/// a message that does not exist).
fn visible(state: &AppState, caller: &skyport_store::Caller, log: &ObsLog) -> Option<String> {
    let shape = skyport_store::rights::TableShape {
        schema: log.kind().name(),
        table: "message",
        columns: log.columns(),
    };
    state.tap.rights().row_filter(
        caller,
        &shape,
        &std::collections::BTreeSet::new(),
        state.consdb.store().dialect(),
        chrono::Utc::now(),
        &format!("{}.", skyport_consdb::obslog::ALIAS),
    )
}

/// A log error as Rubin's services (FastAPI) answer it.
struct ApiError(LogError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self.0 {
            LogError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "detail": m })),
            LogError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "detail": m })),
            LogError::Invalid { loc, msg } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "detail": [{ "loc": loc, "msg": msg, "type": "value_error" }] }),
            ),
            LogError::Store(e) => {
                tracing::error!(error = %e, "observers' log: the database failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "detail": "the database failed; the error has been logged" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        ApiError(e)
    }
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(ApiError(LogError::Invalid {
            loc: vec!["body".into()],
            msg: "the body must be a JSON object".into(),
        })),
    }
}

/// A message id: a UUID, or no message has it (a 404, not a database error).
fn checked_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError(LogError::NotFound(format!("No message found with id={id}"))))
}

async fn find(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    RawQuery(raw): RawQuery,
    pick: Pick,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (log, visible) = scoped(&state, &caller, pick);
    Ok(Json(log.find(&params, visible.as_deref()).await?).into_response())
}

async fn add(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    body: Bytes,
    pick: Pick,
) -> Result<Response, ApiError> {
    let body = body_object(&body)?;
    let (log, visible) = scoped(&state, &caller, pick);
    Ok(Json(log.add(&body, visible.as_deref()).await?).into_response())
}

async fn read(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(id): Path<String>,
    pick: Pick,
) -> Result<Response, ApiError> {
    let id = checked_id(&id)?;
    let (log, visible) = scoped(&state, &caller, pick);
    Ok(Json(log.get(&id, visible.as_deref()).await?).into_response())
}

async fn edit(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(id): Path<String>,
    body: Bytes,
    pick: Pick,
) -> Result<Response, ApiError> {
    let id = checked_id(&id).map_err(|_| {
        ApiError(LogError::NotFound(format!(
            "Message with id={id} not found"
        )))
    })?;
    let body = body_object(&body)?;
    let (log, visible) = scoped(&state, &caller, pick);
    Ok(Json(log.edit(&id, &body, visible.as_deref()).await?).into_response())
}

async fn delete(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(id): Path<String>,
    pick: Pick,
) -> Result<Response, ApiError> {
    let id = checked_id(&id)?;
    let (log, visible) = scoped(&state, &caller, pick);
    log.delete(&id, visible.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn configuration(State(state): State<Arc<AppState>>, pick: Pick) -> Response {
    Json(json!({ "site_id": pick(&state).site_id() })).into_response()
}
