//! HTTP handlers of `/datalink/links` and `/datalink/capabilities`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use skyport_votable::Format;

use crate::caller::RequestCaller;
use crate::dali::format::output_format;
use crate::dali::{DaliError, DaliParams};
use crate::descriptors::{DATALINK_MIME, DATALINK_STANDARD_ID};
use crate::state::AppState;

/// `/datalink/links` (GET and POST).
pub async fn links(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let chosen = output_format("RESPONSEFORMAT", params.single("RESPONSEFORMAT")?)?;
    // Every VOTable request gets the standard DataLink MIME type (DataLink 1.1 §3.3).
    let content_type = match chosen.format {
        Format::VotableTabledata | Format::VotableBinary2 => DATALINK_MIME.to_string(),
        _ => chosen.content_type.clone(),
    };
    let body = state
        .datalink
        .document(&caller, &params.all("ID"), chosen.format)
        .await?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// `/datalink/capabilities`.
pub async fn capabilities(State(state): State<Arc<AppState>>) -> Response {
    crate::vosi::capabilities_response(
        &state,
        crate::vosi::service_capabilities(
            &format!("{}/datalink", state.settings.public_url),
            DATALINK_STANDARD_ID,
            "1.1",
            "links",
        ),
    )
}
