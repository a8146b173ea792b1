//! `POST /obsplan`: the scheduler sends its plan for ObsLocTAP's `ivoa.obsplan` (JSON, or CSV
//! with `Content-Type: text/csv`), written all or nothing and then matched against the
//! exposures ConsDB holds. Reading the plan is TAP's (`SELECT … FROM ivoa.obsplan`). Writes
//! need the `write:consdb` scope, as ConsDB's do: the plan is the observatory's operational
//! metadata (see `access::rules`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;
use skyport_consdb::obsplan::{self, Format, PlanError};

use crate::caller::RequestCaller;
use crate::state::AppState;

/// `POST /obsplan`.
pub async fn load(
    State(state): State<Arc<AppState>>,
    caller: RequestCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let format = if csv { Format::Csv } else { Format::Json };
    let loaded = match obsplan::parse(&body, format) {
        Ok(rows) => {
            obsplan::load(
                state.consdb.store(),
                rows,
                &state.consdb.catalog().instruments(),
                &caller.author(),
                chrono::Utc::now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match loaded {
        Ok(done) => Json(json!({
            "written": done.written,
            "kept": done.kept,
            "performed": done.reconciled.performed,
            "aborted": done.reconciled.aborted,
        }))
        .into_response(),
        Err(PlanError::Row { row, field, reason }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "detail": [{
                "type": "value_error",
                "loc": ["body", row, field],
                "msg": format!("row {row}: {field}: {reason}; nothing was loaded"),
            }]})),
        )
            .into_response(),
        Err(PlanError::Format(why)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "detail": [{
                "type": "value_error",
                "loc": ["body"],
                "msg": format!("{why}; nothing was loaded"),
            }]})),
        )
            .into_response(),
        Err(PlanError::Store(e)) => {
            tracing::error!(error = %e, "loading the observation plan failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "message": "the database failed; the error has been logged" })),
            )
                .into_response()
        }
    }
}
