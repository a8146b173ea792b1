//! `/files/…` of an image in an object store: a redirect to a short-lived pre-signed URL, or
//! the object's bytes passed on (with a single HTTP range), as `[object_store] links` says.
//! The caller's data rights were checked by the lookup before either (`files::lookup`): a
//! caller who may not read the pixels never receives a link.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::dali::DaliError;
use crate::files::ArchivedFile;
use crate::state::ObjectAccess;

/// The answer to a HEAD of an object, from what the archive knows of it (a pre-signed URL is
/// for GET only, and a HEAD should not start a transfer).
pub(crate) fn head(file: &ArchivedFile, etag: &str) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fits"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(u64::try_from(file.image.file_size).unwrap_or(0)),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    response
}

/// The response for object `rel_path` of `root`.
pub(crate) async fn serve(
    access: &ObjectAccess,
    file: &ArchivedFile,
    root: &str,
    rel_path: &str,
    range: Option<&HeaderValue>,
    etag: &str,
) -> Result<Response, DaliError> {
    let failed = |e: skyport_objects::ObjectError| {
        tracing::warn!(root, object = rel_path, "object store: {e}");
        match e {
            skyport_objects::ObjectError::NotFound(_) => {
                DaliError::not_found(format!("{rel_path:?} in {root:?} is gone from the store"))
            }
            _ => DaliError::internal(format!(
                "the object store did not give {rel_path:?} (logged); try again"
            ))
            .with_status(StatusCode::SERVICE_UNAVAILABLE),
        }
    };
    if let Some(ttl) = access.signed_links {
        let url = access
            .objects
            .signed_url(root, rel_path, ttl)
            .await
            .map_err(failed)?;
        let mut response = (
            StatusCode::TEMPORARY_REDIRECT,
            [
                (header::CACHE_CONTROL, "private, no-store"),
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            "the image is at the URL in Location, for a short while\n",
        )
            .into_response();
        let location = HeaderValue::from_str(&url).map_err(|_| {
            tracing::error!(
                root,
                object = rel_path,
                "a pre-signed URL that is no header value"
            );
            DaliError::internal("the link to the image could not be made (logged)")
        })?;
        response.headers_mut().insert(header::LOCATION, location);
        return Ok(response);
    }
    let size = u64::try_from(file.image.file_size).unwrap_or(0);
    let wanted = range
        .and_then(|r| r.to_str().ok())
        .and_then(|r| single_range(r, size));
    if range.is_some() && wanted == Some(None) {
        return Ok((
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        )
            .into_response());
    }
    let wanted = wanted.flatten();
    let partial = wanted.is_some();
    let streamed = access
        .objects
        .stream(root, rel_path, wanted)
        .await
        .map_err(failed)?;
    let (total, got) = (streamed.size, streamed.range.clone());
    let mut response = Response::new(Body::from_stream(streamed.bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fits"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    // The lengths the store says it sends: the object may be shorter now than at ingest.
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(got.end - got.start),
    );
    if partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{total}",
            got.start,
            got.end.saturating_sub(1)
        )) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// The one byte range `bytes=A-B`, `bytes=A-` or `bytes=-N` asks for, of a file of `size`
/// bytes: `None` when the header is not one such range (the whole file is sent, as RFC 9110
/// allows), `Some(None)` when it cannot be satisfied.
fn single_range(header: &str, size: u64) -> Option<Option<std::ops::Range<u64>>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n: u64 = b.parse().ok()?;
            size.saturating_sub(n)..size
        }
        (false, true) => a.parse().ok()?..size,
        (false, false) => {
            let (start, end): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if end < start {
                return None;
            }
            start..end.saturating_add(1).min(size)
        }
        (true, true) => return None,
    };
    Some((range.start < range.end).then_some(range))
}

#[cfg(test)]
mod tests {
    use super::single_range;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(single_range("bytes=0-99", 1000), Some(Some(0..100)));
        assert_eq!(single_range("bytes=990-2000", 1000), Some(Some(990..1000)));
        assert_eq!(single_range("bytes=-10", 1000), Some(Some(990..1000)));
        assert_eq!(single_range("bytes=500-", 1000), Some(Some(500..1000)));
        assert_eq!(single_range("bytes=1000-", 1000), Some(None));
        assert_eq!(single_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(single_range("bytes=9-3", 1000), None);
        assert_eq!(single_range("items=0-1", 1000), None);
    }
}
