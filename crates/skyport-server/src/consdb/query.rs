//! `POST /consdb/query`: `{"query": …}` → `{"columns": […], "data": [[…], …]}`, as pqserver
//! answers. Unlike pqserver, which runs any SQL (DELETE, DROP…) on a writing connection, the
//! query is ADQL, translated for the store and run on a read-only connection, so it can never
//! write; `commit` is accepted and has nothing to commit. The query runs through the TAP
//! query pipeline ([`crate::tap::TapService`]) with pqserver's JSON as the output format:
//! rows stream as they are read, and past the row cap the answer ends with
//! `"truncated": true` instead of dropping rows silently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};
use skyport_votable::{Chosen, Format};

use super::{body_object, int_param, ApiError};
use crate::caller::RequestCaller;
use crate::state::AppState;
use crate::tap::TapRequest;

/// Most rows one answer carries (pqserver's cap).
pub const MAX_ROWS: u64 = 1_000_000;

/// pqserver's statement timeout.
const TIMEOUT: Duration = Duration::from_secs(600);

/// An error answer in pqserver's shape (`{"message"}`). pqserver gives 500 for every failed
/// query; here the status is the query service's own: 4xx for a query the client got wrong,
/// 5xx only for a failure of ours.
fn failure(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// The handler.
pub async fn run(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    int_param(&raw, "commit", 1)?;
    let body = body_object(&body)?;
    let query = match body.get("query") {
        Some(Value::String(q)) => q.clone(),
        Some(other) => {
            return Err(ApiError::one(
                "string_type",
                &["body", "query"],
                "Input should be a valid string",
                other.clone(),
            ))
        }
        None => {
            return Err(ApiError::one(
                "missing",
                &["body", "query"],
                "Field required",
                Value::Object(body),
            ))
        }
    };
    let request = TapRequest {
        query,
        maxrec: MAX_ROWS,
        format: Chosen {
            format: Format::PqJson,
            content_type: Format::PqJson.mime().to_string(),
        },
        uploads: Vec::new(),
        run_id: None,
    };
    match state
        .tap
        .execute(&caller, &request, &HashMap::new(), Some(TIMEOUT))
        .await
    {
        Ok(out) => {
            let content_type = out.content_type.clone();
            Ok((
                [(header::CONTENT_TYPE, content_type)],
                out.into_body(()).await,
            )
                .into_response())
        }
        Err(e) => Ok(failure(
            e.status,
            format!("{} (ConsDB queries here are ADQL, read-only)", e.detail),
        )),
    }
}
