//! Coverage maps (IVOA MOC 2.0) of the archive's collections: `/moc` lists them, and
//! `/moc/{collection}` serves one as FITS (the default), JSON or ASCII, as a space MOC or a
//! space-time MOC, of one band or all, at the stored order or a coarser one.
//!
//! The maps are kept by [`skyport_store::coverage::Coverage`]; which one a caller sees is the
//! rights' decision ([`skyport_store::Rights::coverage_view`]): a collection the caller may
//! not see is answered as one that does not exist.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use skyport_sky::{SpaceMoc, SpaceTimeMoc};
use skyport_store::coverage::{CoverageMap, SPACE_ORDER};

use crate::caller::{Caller, RequestCaller};
use crate::dali::{DaliError, DaliParams};
use crate::state::AppState;

/// How a map is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MocFormat {
    /// MOC 2.0 FITS.
    Fits,
    /// MOC JSON (Aladin's and mocpy's).
    Json,
    /// MOC 2.0 ASCII.
    Ascii,
}

impl MocFormat {
    fn parse(value: &str) -> Result<MocFormat, DaliError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "fits" | "application/fits" => Ok(MocFormat::Fits),
            "json" | "application/json" => Ok(MocFormat::Json),
            "ascii" | "text" | "text/plain" => Ok(MocFormat::Ascii),
            other => Err(DaliError::usage(format!(
                "format={other:?} is not a MOC format this service writes: fits, json or ascii"
            ))),
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            MocFormat::Fits => "application/fits",
            MocFormat::Json => "application/json",
            MocFormat::Ascii => "text/plain; charset=utf-8",
        }
    }
}

/// Which map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MocKind {
    /// Where (a space MOC).
    Space,
    /// When and where (a space-time MOC).
    SpaceTime,
}

/// The parameters of `/moc/{collection}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MocRequest {
    /// One band's map, or (`None`) all bands'.
    pub band: Option<String>,
    /// The space order wanted (at most the stored one).
    pub order: u8,
    /// How to write it.
    pub format: MocFormat,
    /// Which map.
    pub kind: MocKind,
}

impl MocRequest {
    /// Reads `band`, `order` (0 to the stored order), `format` (fits, json, ascii) and
    /// `type` (space, space-time); each at most once.
    pub fn parse(params: &DaliParams) -> Result<MocRequest, DaliError> {
        let band = params.single("band")?.map(|b| b.trim().to_string());
        if band.as_ref().is_some_and(|b| b.is_empty() || b.len() > 64) {
            return Err(DaliError::usage(
                "band must name a band (1 to 64 characters)",
            ));
        }
        let order = params
            .integer("order", 0, i64::from(SPACE_ORDER))?
            .map_or(SPACE_ORDER, |o| o as u8);
        let format = params
            .single("format")?
            .map_or(Ok(MocFormat::Fits), MocFormat::parse)?;
        let kind = match params
            .single("type")?
            .map(|t| t.trim().to_ascii_lowercase())
        {
            None => MocKind::Space,
            Some(t) if t == "space" || t == "smoc" => MocKind::Space,
            Some(t) if t == "space-time" || t == "stmoc" => MocKind::SpaceTime,
            Some(t) => {
                return Err(DaliError::usage(format!(
                    "type={t:?} is not a map this service keeps: space or space-time"
                )))
            }
        };
        Ok(MocRequest {
            band,
            order,
            format,
            kind,
        })
    }
}

/// `GET /moc/{collection}`.
pub(crate) async fn collection_moc(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, DaliError> {
    let params = DaliParams::read_urlencoded(query.unwrap_or_default().as_bytes())?;
    let request = MocRequest::parse(&params)?;
    let map = visible_map(&state, &caller, &collection, request.band.as_deref()).await?;
    let body = write_map(&map, &request)?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(request.format.media_type()),
    );
    // Maps grow as images arrive, and what a caller sees depends on who they are.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(response)
}

/// `GET /moc`: the collections with a map the caller may see, their bands and sky fractions.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
) -> Result<Response, DaliError> {
    let now = chrono::Utc::now();
    let collections = state
        .coverage
        .collections(now)
        .await
        .map_err(|e| DaliError::internal(format!("coverage maps: {e}")))?;
    let mut entries = Vec::new();
    for (collection, bands) in collections {
        let Ok(map) = visible_map(&state, &caller, &collection, None).await else {
            continue;
        };
        let base = format!(
            "{}/moc/{}",
            state.settings.public_url,
            urlencoding(&collection)
        );
        let mut named = Vec::new();
        for band in bands.into_iter().flatten() {
            if visible_map(&state, &caller, &collection, Some(&band))
                .await
                .is_ok()
            {
                named.push(band);
            }
        }
        entries.push(serde_json::json!({
            "collection": collection,
            "bands": named,
            "moc_sky_fraction": map.space.sky_fraction(),
            "moc_order": map.space.order(),
            "url": base,
            "space_time": map.space_time.is_some(),
        }));
    }
    Ok(axum::Json(serde_json::json!({ "collections": entries })).into_response())
}

/// The map of `collection` (and `band`) that `caller` may see; not found otherwise, the same
/// answer for a hidden collection as for an absent one.
async fn visible_map(
    state: &AppState,
    caller: &Caller,
    collection: &str,
    band: Option<&str>,
) -> Result<CoverageMap, DaliError> {
    let now = chrono::Utc::now();
    let absent = || DaliError::not_found(format!("no coverage map of collection {collection:?}"));
    let view = state
        .settings
        .rights
        .coverage_view(caller, collection, now)
        .ok_or_else(absent)?;
    let map = state
        .coverage
        .map(collection, band, view, now)
        .await
        .map_err(|e| DaliError::internal(format!("coverage maps: {e}")))?;
    match (map, band) {
        (Some(m), _) => Ok(m),
        (None, Some(b)) => Err(DaliError::not_found(format!(
            "no coverage map of band {b:?} in collection {collection:?}"
        ))),
        (None, None) => Err(absent()),
    }
}

fn write_map(map: &CoverageMap, request: &MocRequest) -> Result<Vec<u8>, DaliError> {
    let failed = |e: skyport_sky::MocError| DaliError::internal(format!("writing the map: {e}"));
    match request.kind {
        MocKind::Space => {
            let space: SpaceMoc = map.space.degraded(request.order);
            match request.format {
                MocFormat::Fits => space.to_fits(),
                MocFormat::Json => space.to_json().map(String::into_bytes),
                MocFormat::Ascii => space.to_ascii().map(String::into_bytes),
            }
            .map_err(failed)
        }
        MocKind::SpaceTime => {
            let empty;
            let st: &SpaceTimeMoc = match &map.space_time {
                Some(st) => st,
                None => {
                    empty = SpaceTimeMoc::build(&[], skyport_store::coverage::TIME_ORDER, 0)
                        .map_err(failed)?;
                    &empty
                }
            };
            match request.format {
                MocFormat::Fits => st.to_fits(),
                MocFormat::Json => st.to_json().map(String::into_bytes),
                MocFormat::Ascii => Err(skyport_sky::MocError::Write(String::new())),
            }
            .map_err(|e| match request.format {
                MocFormat::Ascii => DaliError::usage("space-time maps are served as fits or json"),
                _ => failed(e),
            })
        }
    }
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
