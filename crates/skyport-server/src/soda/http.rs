//! HTTP handlers of `/soda/sync` and `/soda/capabilities`, and SODA's `text/plain` errors.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use skyport_fits::{Cancel, CancelOnDrop};
use skyport_uws::ProgressReporter;
use skyport_votable::escape_xml;
use tokio::io::DuplexStream;
use tokio_util::io::ReaderStream;

use super::package::{CutError, Cutter};
use super::plan::{self, Item, Outcome};
use super::request::{self, Package, SodaRequest, FITS_MIME, TAR_MIME};
use super::{package, stamps_upload, Soda, SODA_ASYNC_STANDARD_ID, SODA_SYNC_STANDARD_ID};
use crate::caller::{Caller, RequestCaller};
use crate::dali::{DaliError, DaliParams};
use crate::limits::RequestDeadline;
use crate::state::AppState;

/// A [`DaliError`] as SODA's `text/plain` error (UsageFault becomes UsageError, other faults
/// Error).
pub fn soda_error(e: DaliError) -> Response {
    text_error(e.status, format!("{}: {}", e.kind.soda_label(), e.detail))
}

fn text_error(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// `/soda/sync` (GET and POST). The work stops when the client goes away (this future or the
/// streaming body is dropped) or the request's deadline passes.
pub async fn sync(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    deadline: Option<Extension<RequestDeadline>>,
    params: DaliParams,
) -> Response {
    let cancel = Cancel::with_deadline(deadline.map(|Extension(RequestDeadline(d))| d));
    // Dropped with this future: the client went away or the deadline middleware answered.
    let gone = cancel.on_drop();
    match run_sync(&state.soda, &caller, &params, &cancel, gone).await {
        Ok(r) => r,
        Err(e) => soda_error(e),
    }
}

async fn run_sync(
    soda: &Arc<Soda>,
    caller: &Caller,
    params: &DaliParams,
    cancel: &Cancel,
    gone: CancelOnDrop,
) -> Result<Response, DaliError> {
    let request = request::parse(
        params,
        stamps_upload(params),
        soda.limits.soda_sync_max_cutouts,
    )?;
    let items = plan::plan(
        soda,
        caller,
        &request,
        soda.limits.soda_sync_max_cutouts,
        cancel,
    )
    .await?;
    plan::within_budget(
        &items,
        soda.limits.soda_max_pixels.saturating_mul(SYNC_PLANES),
        "a synchronous request",
    )?;
    match (items.as_slice(), request.package) {
        ([item], None | Some(Package::Mef)) => single(soda, item, &request, cancel).await,
        _ if items.iter().all(|i| matches!(i.outcome, Outcome::Empty(_))) => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Ok(packaged(
            Arc::clone(soda),
            items,
            request.compression,
            request.package.unwrap_or(Package::Mef),
            cancel.clone(),
            gone,
        )),
    }
}

/// One cutout: the FITS file, 204 when there is nothing to cut, or the error.
async fn single(
    soda: &Soda,
    item: &Item,
    request: &SodaRequest,
    cancel: &Cancel,
) -> Result<Response, DaliError> {
    match &item.outcome {
        Outcome::Empty(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::Failed { status, message } => Ok(text_error(*status, message.clone())),
        Outcome::Ready { .. } => {
            let cutter = Cutter {
                soda,
                dir: &soda.tmp_dir,
                cancel,
            };
            let cut = package::cut(&cutter, item, request.compression, false)
                .await
                .map_err(|e| match e {
                    CutError::Cancelled(c) => super::stopped(c),
                    CutError::Failed(m) => DaliError::internal(m),
                })?;
            // Open, then let the temporary file go: the open handle keeps the data readable.
            let file = tokio::fs::File::open(&cut.path)
                .await
                .map_err(|e| DaliError::internal(format!("reading the cutout: {e}")))?;
            let size = cut.written.size;
            drop(cut);
            let mut response = Body::from_stream(ReaderStream::new(file)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FITS_MIME));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"cutout.fits\""),
            );
            Ok(response)
        }
    }
}

/// Many cutouts streamed as one file while they are made. The work stops when the body is
/// dropped (the client went away) or `cancel`'s deadline passes; a package that stops early
/// ends its body with an error, so the client sees a broken transfer, not a short file.
fn packaged(
    soda: Arc<Soda>,
    items: Vec<Item>,
    compression: Option<skyport_fits::Compression>,
    package: Package,
    cancel: Cancel,
    gone: CancelOnDrop,
) -> Response {
    let (mut writer, reader) = tokio::io::duplex(256 * 1024);
    let failed = Arc::new(AtomicBool::new(false));
    let failed_here = Arc::clone(&failed);
    tokio::spawn(async move {
        let cutter = Cutter {
            soda: &soda,
            dir: &soda.tmp_dir,
            cancel: &cancel,
        };
        let result = package::write_package(
            &cutter,
            &items,
            compression,
            package,
            &mut writer,
            &ProgressReporter::none(),
        )
        .await;
        if let Err(e) = result {
            // The status is sent already: the body ends in an error.
            failed_here.store(true, Ordering::Release);
            tracing::warn!("packaged cutouts stopped: {e}");
        }
    });
    let body = PackageBody {
        reader: ReaderStream::new(reader),
        failed,
        _gone: gone,
    };
    let (mime, name) = match package {
        Package::Tar => (TAR_MIME, "cutouts.tar"),
        _ => (FITS_MIME, "cutouts.fits"),
    };
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// The body of a packaged response: the bytes the writing task sends, an error at the end if
/// it stopped early, and the guard that stops it when the body is dropped.
struct PackageBody {
    reader: ReaderStream<DuplexStream>,
    failed: Arc<AtomicBool>,
    _gone: CancelOnDrop,
}

impl Stream for PackageBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.reader).poll_next(cx) {
            // The writer is dropped after `failed` is set, so the end is seen after it.
            Poll::Ready(None) if self.failed.swap(false, Ordering::Acquire) => Poll::Ready(Some(
                Err(std::io::Error::other("the cutouts stopped before the end")),
            )),
            other => other,
        }
    }
}

/// Most pixels (all cutouts and planes together) one synchronous request cuts out, in
/// whole-plane cutouts at the per-plane limit: 16 (1 Gpixel, 4 GB of 32-bit pixels, by
/// default).
pub const SYNC_PLANES: u64 = 16;

/// The same for an async job: 256 whole-plane cutouts at the per-plane limit.
pub const ASYNC_PLANES: u64 = 256;

/// `/soda/capabilities`: sync and async, with the limits.
pub async fn capabilities(State(state): State<Arc<AppState>>) -> Response {
    let base = format!("{}/soda", state.settings.public_url);
    let l = &state.settings.limits;
    let limits = format!(
        "Limits: at most {} pixels per cutout plane; at most {} cutouts and {} pixels in all per sync request, {} cutouts and {} pixels per async job; POLYGONs of at most {} vertices.",
        l.soda_max_pixels,
        l.soda_sync_max_cutouts,
        l.soda_max_pixels.saturating_mul(SYNC_PLANES),
        l.soda_async_max_cutouts,
        l.soda_max_pixels.saturating_mul(ASYNC_PLANES),
        crate::dali::shapes::MAX_POLYGON_VERTICES
    );
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\"\n\
         \x20   xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\"\n\
         \x20   xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    for (id, resource) in [
        (SODA_SYNC_STANDARD_ID, "sync"),
        (SODA_ASYNC_STANDARD_ID, "async"),
    ] {
        s.push_str(&format!(
            "  <capability standardID=\"{}\">\n\
             \x20   <description>{}</description>\n\
             \x20   <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.0\">\n\
             \x20     <accessURL use=\"base\">{}</accessURL>\n\
             \x20   </interface>\n\
             \x20 </capability>\n",
            escape_xml(id),
            escape_xml(&limits),
            escape_xml(&format!("{base}/{resource}"))
        ));
    }
    s.push_str(&crate::vosi::vosi_capabilities_and_availability(&base));
    s.push_str("</vosi:capabilities>\n");
    crate::vosi::capabilities_response(&state, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn errors_are_text_with_soda_labels() {
        for (e, start) in [
            (DaliError::usage("POS: bad"), "UsageError: POS: bad"),
            (DaliError::not_found("no such"), "Error: no such"),
            (DaliError::internal("broke"), "Error: broke"),
        ] {
            let status = e.status;
            let r = soda_error(e);
            assert_eq!(r.status(), status);
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/plain; charset=utf-8"
            );
            let body = to_bytes(r.into_body(), 1 << 16).await.expect("body");
            assert!(body.starts_with(start.as_bytes()), "{body:?}");
        }
    }
}
