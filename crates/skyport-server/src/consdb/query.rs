//! `POST /consdb/query`: `{"query": …}` → `{"columns": […], "data": [[…], …]}`, as pqserver
//! answers. Unlike pqserver, which runs any SQL (DELETE, DROP…) on a writing connection, the
//! query is ADQL, translated for the store and run on a read-only connection, so it can never
//! write; `commit` is accepted and has nothing to commit. Rows stream as they are read; past
//! the row cap the answer ends with `"truncated": true` instead of dropping rows silently.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use skyport_adql::AdqlType;
use skyport_store::{QueryRequest, RowStream, Value as Cell};

use super::{body_object, int_param, ApiError};
use crate::AppState;

/// Most rows one answer carries (pqserver's cap).
pub const MAX_ROWS: u64 = 1_000_000;

/// pqserver's statement timeout.
const TIMEOUT: Duration = Duration::from_secs(600);

fn failure(message: String) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "message": message })),
    )
        .into_response()
}

fn cell_json(ty: Option<&AdqlType>, v: &Cell) -> Value {
    match (v, ty) {
        (Cell::Null, _) => Value::Null,
        (Cell::Int(i), Some(AdqlType::Boolean)) => Value::Bool(*i != 0),
        (Cell::Bool(b), _) => Value::Bool(*b),
        (Cell::Int(i), _) => Value::from(*i),
        (Cell::Float(f), Some(AdqlType::Real)) => skyport_consdb::convert::single_precision(*f),
        (Cell::Float(f), _) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        (Cell::Text(s), _) => Value::String(s.clone()),
    }
}

struct Output {
    rows: RowStream,
    pending: Option<Vec<Vec<Cell>>>,
    types: Vec<AdqlType>,
    sent: u64,
    state: Phase,
}

#[derive(PartialEq)]
enum Phase {
    Rows,
    Done,
}

impl Output {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.state == Phase::Done {
            return None;
        }
        let next = match self.pending.take() {
            Some(first) => Some(Ok(first)),
            None => self.rows.next_batch().await,
        };
        let batch = match next {
            None => {
                self.state = Phase::Done;
                return Some(Bytes::from_static(b"]}"));
            }
            Some(Ok(batch)) => batch,
            Some(Err(e)) => {
                // The status is sent; the document ends with the error instead.
                self.state = Phase::Done;
                let tail = json!({ "message": format!("the query failed while reading: {e}") });
                return Some(Bytes::from(format!("], \"error\": {tail}}}")));
            }
        };
        let mut out = Vec::new();
        for row in batch {
            if self.sent == MAX_ROWS {
                self.state = Phase::Done;
                out.extend_from_slice(b"], \"truncated\": true}");
                return Some(Bytes::from(out));
            }
            if self.sent > 0 {
                out.push(b',');
            }
            let cells: Vec<Value> = row
                .iter()
                .enumerate()
                .map(|(i, v)| cell_json(self.types.get(i), v))
                .collect();
            // Serialising plain JSON values cannot fail.
            out.extend(serde_json::to_vec(&cells).unwrap_or_default());
            self.sent += 1;
        }
        Some(Bytes::from(out))
    }
}

/// The handler.
pub async fn run(
    State(state): State<Arc<AppState>>,
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
    let translation = match state.tap.translate(&query) {
        Ok(t) => t,
        Err(e) => {
            return Ok(failure(format!(
                "the query is not valid ADQL (ConsDB queries here are ADQL, read-only): {e}"
            )))
        }
    };
    let sql = format!(
        "SELECT * FROM ({}) AS _capped LIMIT {}",
        translation.sql,
        MAX_ROWS + 1
    );
    let mut request = QueryRequest::new(sql);
    request.timeout = Some(TIMEOUT);
    let mut rows = match state.store.stream(request).await {
        Ok(rows) => rows,
        Err(e) => return Ok(failure(format!("the query failed: {e}"))),
    };
    // The first batch decides between an error answer and rows.
    let first = match rows.next_batch().await {
        None => Vec::new(),
        Some(Ok(batch)) => batch,
        Some(Err(e)) => return Ok(failure(format!("the query failed: {e}"))),
    };
    let columns: Vec<&str> = translation
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let head = format!(
        "{{\"columns\": {}, \"data\": [",
        serde_json::to_string(&columns).unwrap_or_else(|_| "[]".into())
    );
    let output = Output {
        rows,
        pending: Some(first),
        types: translation.columns.iter().map(|c| c.ty).collect(),
        sent: 0,
        state: Phase::Rows,
    };
    let rest = futures_util::stream::unfold(output, |mut o| async move {
        o.next_chunk().await.map(|chunk| (chunk, o))
    });
    let body = futures_util::stream::once(async move { Bytes::from(head) })
        .chain(rest)
        .map(Ok::<Bytes, std::convert::Infallible>);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}
