//! HTTP handlers of `/tap`, `/tap/sync`, `/tap/tables` and `/tap/examples`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;

use super::examples;
use super::request;
use super::tables::{Detail, TableSet};
use crate::caller::{Caller, RequestCaller};
use crate::dali::{DaliError, DaliParams};
use crate::state::AppState;

/// How long a sync query waits for one of its caller's share of readers before a 429.
const READER_WAIT: Duration = Duration::from_secs(3);

/// `/tap/sync` (GET and POST): the result in the body, streamed.
pub async fn sync(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let timeout = Duration::from_secs(state.tap.limits().execution_seconds_default.max(1));
    // Held until the last byte of the result has gone (or the client has left), which for a
    // client that stops reading is when the connection is ended: so a query waits only a few
    // seconds for one of its caller's readers.
    let peer = peer.map(|p| p.0 .0.ip());
    let wait = timeout.min(READER_WAIT);
    let slot = match state.access.sync_slot(&caller, peer, wait).await {
        Ok(slot) => slot,
        // Plain text, as every 429 of the DALI services (see access::http).
        Err(limit) => {
            return Ok((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!(
                    "TransientFault: you have {limit} synchronous queries running, as many as you may; wait for one to end, or use /tap/async\n"
                ),
            )
                .into_response())
        }
    };
    let req = request::parse(&params, state.tap.limits())?;
    tracing::debug!(runid = ?req.run_id, maxrec = req.maxrec, "sync TAP query");
    let inline: HashMap<String, Bytes> = params
        .uploads
        .iter()
        .map(|u| (u.name.clone(), u.bytes.clone()))
        .collect();
    let out = state
        .tap
        .execute(&caller, &req, &inline, Some(timeout))
        .await?;
    let content_type = out.content_type.clone();
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        out.into_body(slot).await,
    )
        .into_response())
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// `/tap/tables?detail=min|max`.
pub async fn tables(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let detail = match params.single("detail")? {
        Some(d) if d.eq_ignore_ascii_case("min") => Detail::Min,
        Some(d) if d.eq_ignore_ascii_case("max") => Detail::Max,
        None => Detail::Max,
        Some(d) => return Err(DaliError::usage(format!("detail={d:?}: use min or max"))),
    };
    Ok(xml(table_set(&state, &caller).await?.tableset(detail)))
}

/// `/tap/tables/{name}`: one table at full detail.
pub async fn table(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
) -> Result<Response, DaliError> {
    table_set(&state, &caller)
        .await?
        .table(&name)
        .map(xml)
        .ok_or_else(|| DaliError::not_found(format!("no table {name:?}; /tap/tables lists them")))
}

/// The tables `caller` may see.
async fn table_set(state: &AppState, caller: &Caller) -> Result<TableSet, DaliError> {
    let (users, not_theirs) = match &state.user_tables {
        Some(service) => service
            .partition(caller)
            .await
            .map_err(|e| DaliError::internal(format!("cannot read the user tables: {e}")))?,
        None => Default::default(),
    };
    let mut hidden = state.tap.hidden_tables(caller);
    hidden.extend(not_theirs);
    Ok(TableSet::load(state.store.as_ref())
        .await
        .map_err(|e| DaliError::internal(format!("cannot read TAP_SCHEMA: {e}")))?
        .without(&hidden)
        .described(|schema| state.settings.rights.schema_described(schema))
        .with_user_tables(&users))
}

/// `/tap/examples`.
pub async fn examples(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xhtml+xml; charset=utf-8")],
        examples::page(&state.settings.title),
    )
        .into_response()
}

/// `/tap`: a page for people.
pub async fn index(State(state): State<Arc<AppState>>) -> Html<String> {
    let base = skyport_votable::escape_xml(&format!("{}/tap", state.settings.public_url));
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>TAP — {title}</title></head><body>\n\
         <h1>Table Access Protocol service</h1>\n\
         <p>Base URL: <code>{base}</code>. Point TOPCAT, pyvo or any TAP client here.</p>\n<ul>\n\
         <li><a href=\"{base}/capabilities\">capabilities</a></li>\n\
         <li><a href=\"{base}/tables\">tables</a></li>\n\
         <li><a href=\"{base}/examples\">example queries</a></li>\n\
         <li><a href=\"{base}/availability\">availability</a></li>\n\
         <li><code>{base}/sync</code> and <code>{base}/async</code> take queries (LANG=ADQL, QUERY, MAXREC, RESPONSEFORMAT, UPLOAD).</li>\n\
         </ul></body></html>\n",
        title = skyport_votable::escape_xml(&state.settings.title),
    ))
}
