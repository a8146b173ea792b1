//! `/files/{root}/{path}`: whole images, with HTTP ranges.
//!
//! Only files the archive has ingested are served: the path is looked up in
//! `skyport.image_file`, never used to reach the disk on its own, so no request can read a
//! file outside the archive.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use skyport_store::Value;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::{AppState, DaliError};

pub(crate) async fn serve_file(
    State(state): State<Arc<AppState>>,
    Path((root, rel_path)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    match lookup(&state, &root, &rel_path).await {
        Ok(path) => {
            let mut response = match ServeFile::new(&path).oneshot(request).await {
                Ok(r) => r.into_response(),
                Err(e) => {
                    return DaliError::internal(format!("reading {rel_path}: {e}")).into_response()
                }
            };
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/fits"),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn lookup(
    state: &AppState,
    root: &str,
    rel_path: &str,
) -> Result<std::path::PathBuf, DaliError> {
    let Some((_, dir)) = state.settings.roots.iter().find(|(name, _)| name == root) else {
        return Err(DaliError::not_found(format!("no data root named {root:?}")));
    };
    let rows = state
        .store
        .query(
            "SELECT rel_path FROM \"skyport.image_file\" WHERE root_name = ?1 AND rel_path = ?2"
                .into(),
            vec![
                Value::Text(root.to_string()),
                Value::Text(rel_path.to_string()),
            ],
        )
        .await
        .map_err(|e| DaliError::internal(e.to_string()))?;
    if rows.rows.is_empty() {
        return Err(DaliError::not_found(format!(
            "no image {rel_path:?} in {root:?}"
        )));
    }
    Ok(dir.join(rel_path))
}
