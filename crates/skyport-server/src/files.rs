//! `/files/{root}/{path}`: whole images, with HTTP ranges and an ETag (the file's SHA-256);
//! `?hdu=N` gives one mask or variance plane alone as a FITS file.
//!
//! Only files the archive has ingested are served: the path is looked up in
//! `skyport.image_file`, never used to reach the disk on its own, so no request can read a
//! file outside the archive. Extracted planes are written once to the cache directory.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use skyport_store::images::Image;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::cache::{matches_etag, not_modified, write_once};
use crate::caller::{Caller, RequestCaller};
use crate::dali::{DaliError, DaliParams};
use crate::state::AppState;

/// An ingested file, found through the image index, and where it is on disk.
pub(crate) struct ArchivedFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// What the archive knows of it.
    pub image: Image,
}

pub(crate) async fn serve_file(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path((root, rel_path)): Path<(String, String)>,
    request: Request<Body>,
) -> Result<Response, DaliError> {
    let params = DaliParams::read_urlencoded(request.uri().query().unwrap_or("").as_bytes())?;
    let file = lookup(&state, &caller, &root, &rel_path).await?;
    let hdu = params.integer("hdu", 0, 9999)?;
    let sha256 = &file.image.sha256;
    let (path, etag) = match hdu {
        None => (file.path.clone(), format!("\"{sha256}\"")),
        Some(h) => (
            plane_file(&state, &file, h as usize).await?,
            format!("\"{sha256}-{h}\""),
        ),
    };
    if matches_etag(request.headers(), &etag) {
        return Ok(not_modified(&etag));
    }
    if let (None, Some(access)) = (hdu, &state.settings.objects) {
        if skyport_fits::remote::remote_name(&path).is_some() {
            let range = request.headers().get(header::RANGE).cloned();
            if request.method() == axum::http::Method::HEAD {
                return Ok(crate::objects::head(&file, &etag));
            }
            return crate::objects::serve(access, &file, &root, &rel_path, range.as_ref(), &etag)
                .await;
        }
    }
    let mut response = ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|e| DaliError::internal(format!("reading {rel_path}: {e}")))?
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fits"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    Ok(response)
}

/// The file of plane `hdu` (a mask or variance HDU of `file`), extracted once into the cache.
async fn plane_file(
    state: &AppState,
    file: &ArchivedFile,
    hdu: usize,
) -> Result<PathBuf, DaliError> {
    let Some(role) = file
        .image
        .hdus
        .iter()
        .find(|h| h.index == hdu as i64)
        .map(|h| h.role.clone())
    else {
        return Err(DaliError::not_found(format!(
            "hdu={hdu}: the file has no such HDU"
        )));
    };
    if role != "mask" && role != "variance" {
        return Err(DaliError::usage(format!(
            "hdu={hdu}: only mask and variance planes are served alone (this HDU is {role}); the whole file has every HDU"
        )));
    }
    let dest = state
        .settings
        .cache_dir
        .join("planes")
        .join(format!("{}-{hdu}.fits", file.image.sha256));
    if dest.exists() {
        return Ok(dest);
    }
    let src = file.path.clone();
    let target = dest.clone();
    tokio::task::spawn_blocking(move || {
        write_once(&target, |tmp| {
            skyport_fits::copy_hdu(&src, hdu, tmp).map_err(|e| e.to_string())
        })
    })
    .await
    .map_err(|e| DaliError::internal(format!("extracting HDU {hdu}: {e}")))?
    .map_err(|e| DaliError::internal(format!("extracting HDU {hdu}: {e}")))?;
    Ok(dest)
}

/// Finds an ingested file by root name and path below the root, through the image index
/// (so `caller` sees only what it may).
pub(crate) async fn lookup(
    state: &AppState,
    caller: &Caller,
    root: &str,
    rel_path: &str,
) -> Result<ArchivedFile, DaliError> {
    let missing = || DaliError::not_found(format!("no image {rel_path:?} in {root:?}"));
    let Some((_, dir)) = state.settings.roots.iter().find(|(name, _)| name == root) else {
        return Err(missing());
    };
    let image = state
        .images
        .image_at(caller, root, rel_path)
        .await
        .map_err(|e| DaliError::internal(format!("looking up {rel_path:?}: {e}")))?
        .ok_or_else(missing)?;
    if !image.data_readable {
        return Err(DaliError::not_allowed(
            caller,
            format!("{rel_path:?} in {root:?}: its metadata is visible to you but not its pixels"),
        ));
    }
    Ok(ArchivedFile {
        path: dir.join(rel_path),
        image,
    })
}
