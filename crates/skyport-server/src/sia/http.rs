//! HTTP handlers of `/sia/query` and `/sia/capabilities`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use skyport_votable::{Chosen, Format};

use super::SIA_STANDARD_ID;
use crate::caller::RequestCaller;
use crate::dali::format::output_format;
use crate::dali::{DaliError, DaliParams};
use crate::state::AppState;

/// `/sia/query` (GET and POST).
pub async fn query(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    params: DaliParams,
) -> Response {
    let format = match params
        .single("RESPONSEFORMAT")
        .and_then(|f| output_format("RESPONSEFORMAT", f))
    {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match state.sia.query(&caller, &params, &format).await {
        Ok(out) => {
            let content_type = out.content_type.clone();
            (
                [(header::CONTENT_TYPE, content_type)],
                out.into_body(()).await,
            )
                .into_response()
        }
        Err(e) => error_response(&format, e),
    }
}

/// SIA 2.0 §2.3: an error is a VOTable, except for CSV and TSV requests, which get plain text.
fn error_response(format: &Chosen, e: DaliError) -> Response {
    match format.format {
        Format::Csv | Format::Tsv => (
            e.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", e.message()),
        )
            .into_response(),
        _ => e.into_response(),
    }
}

/// `/sia/capabilities`.
pub async fn capabilities(State(state): State<Arc<AppState>>) -> Response {
    crate::vosi::capabilities_response(
        &state,
        crate::vosi::service_capabilities(
            &format!("{}/sia", state.settings.public_url),
            SIA_STANDARD_ID,
            "2.0",
            "query",
        ),
    )
}
