//! `/previews/{root}/{path}`: PNG pictures of an image's science plane.
//!
//! `size=preview` (default, at most [`PREVIEW_SIDE`] pixels a side) or `size=thumbnail` (at
//! most [`THUMBNAIL_SIDE`]); `stretch=asinh` (default) or `zscale`. Rendered once, in a
//! blocking task limited to one per core, then served from the cache directory; the ETag is
//! the file's SHA-256 with the size and stretch, and clients may cache for a day.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use skyport_fits::preview::{render_png, Stretch};

use crate::cache::{matches_etag, not_modified, write_once};
use crate::caller::{Caller, RequestCaller};
use crate::dali::{DaliError, DaliParams};
use crate::files::lookup;
use crate::state::AppState;

/// Longest side of a preview, pixels.
pub const PREVIEW_SIDE: usize = 1024;
/// Longest side of a thumbnail, pixels.
pub const THUMBNAIL_SIDE: usize = 128;

pub(crate) async fn serve_preview(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path((root, rel_path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, DaliError> {
    respond(
        &state,
        &caller,
        &root,
        &rel_path,
        query.as_deref(),
        &headers,
    )
    .await
}

async fn respond(
    state: &AppState,
    caller: &Caller,
    root: &str,
    rel_path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, DaliError> {
    let params = DaliParams::read_urlencoded(query.unwrap_or("").as_bytes())?;
    let (size_name, side) = match params.single("size")? {
        None | Some("preview") => ("preview", PREVIEW_SIDE),
        Some("thumbnail") => ("thumbnail", THUMBNAIL_SIDE),
        Some(other) => {
            return Err(DaliError::usage(format!(
                "size={other:?}: use preview or thumbnail"
            )))
        }
    };
    let (stretch_name, stretch) = match params.single("stretch")? {
        None | Some("asinh") => ("asinh", Stretch::Asinh),
        Some("zscale") => ("zscale", Stretch::Zscale),
        Some(other) => {
            return Err(DaliError::usage(format!(
                "stretch={other:?}: use asinh or zscale"
            )))
        }
    };
    let file = lookup(state, caller, root, rel_path).await?;
    let etag = format!("\"{}-{size_name}-{stretch_name}\"", file.image.sha256);
    if matches_etag(headers, &etag) {
        return Ok(not_modified(&etag));
    }
    let cached = state.settings.cache_dir.join("previews").join(format!(
        "{}-{size_name}-{stretch_name}.png",
        file.image.sha256
    ));
    let png = match tokio::fs::read(&cached).await {
        Ok(bytes) => bytes,
        Err(_) => {
            // One render per preview at a time: a request arriving while the same preview is
            // rendered waits for it and reads the cached file.
            let key = cached.to_string_lossy().into_owned();
            let lock = state.preview_renders.lock_for(&key);
            let _rendering = lock.lock().await;
            match tokio::fs::read(&cached).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    let _permit = state
                        .renders
                        .acquire()
                        .await
                        .map_err(|e| DaliError::internal(e.to_string()))?;
                    let path = file.path.clone();
                    let science = file.image.science_hdu.max(0) as usize;
                    let mask = file.image.plane("mask");
                    let target = cached.clone();
                    let png = tokio::task::spawn_blocking(move || {
                        render(&path, science, mask, stretch, side, &target)
                    })
                    .await
                    .map_err(|e| DaliError::internal(format!("rendering: {e}")))?
                    .map_err(|e| DaliError::internal(format!("rendering {rel_path}: {e}")))?;
                    state.metrics.preview_rendered();
                    png
                }
            }
        }
    };
    let mut response = ([(header::CONTENT_TYPE, "image/png")], png).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(response)
}

/// Renders the PNG and stores it in the cache (a failure to cache is logged, not fatal).
fn render(
    path: &std::path::Path,
    science: usize,
    mask: Option<usize>,
    stretch: Stretch,
    side: usize,
    cached: &std::path::Path,
) -> Result<Vec<u8>, String> {
    let summary = skyport_fits::read_summary(path).map_err(|e| e.to_string())?;
    let wcs = summary
        .hdus
        .get(science)
        .and_then(|h| skyport_fits::Wcs::from_header(&h.header).ok());
    let png =
        render_png(path, science, mask, wcs.as_ref(), stretch, side).map_err(|e| e.to_string())?;
    if let Err(e) = write_once(cached, |tmp| {
        std::fs::write(tmp, &png).map_err(|e| e.to_string())
    }) {
        tracing::warn!("cannot cache the preview at {}: {e}", cached.display());
    }
    Ok(png)
}
