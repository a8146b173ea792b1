//! HiPS (HiPS 1.0) as served: `/hips/list` (§4.4.4, every HiPS the caller may see) and
//! `/hips/{id}/…`, the files of a HiPS's current version (`skyport-hips` builds them).
//!
//! Only the file names a HiPS is made of are served — `properties`, `Moc.fits`,
//! `Norder{k}/Allsky.{fits,png}` and `Norder{k}/Dir{d}/Npix{n}.{fits,png}` with consistent
//! numbers — so no path, however encoded, reaches outside the HiPS. A HiPS shows a collection's
//! pixels: it is served to those who may read the collection's data, and is absent for others.
//!
//! A PNG tile the HiPS lacks (no image touches that cell), at an order the HiPS has, is
//! answered with a transparent tile rather than 404. Viewers ask for every tile of their view
//! and draw nothing for both, but browsers log each failed image load as an error, so a
//! sparse survey's page would fill its console; PNG carries no values, so transparent means
//! exactly "no data". FITS tiles, read for their values, stay 404 where absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use skyport_hips::{Layout, Manifest};
use skyport_store::Caller;

use crate::caller::RequestCaller;
use crate::dali::DaliError;
use crate::state::AppState;

/// The HiPS of an archive, as served.
pub struct HipsService {
    layout: Option<Layout>,
    /// Manifests by version directory (a version never changes once published).
    manifests: Mutex<HashMap<PathBuf, Arc<Manifest>>>,
    /// Transparent PNG tiles by width, made once.
    empty_tiles: Mutex<HashMap<usize, bytes::Bytes>>,
}

/// One file of a HiPS, as named in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HipsFile {
    /// `index.html` (or the HiPS's base URL): a page describing the HiPS, made from its
    /// properties.
    Index,
    /// `properties`.
    Properties,
    /// `Moc.fits`.
    Moc,
    /// `Norder{k}/Allsky.{ext}`.
    Allsky {
        /// The order.
        order: u8,
        /// `fits` or `png`.
        ext: &'static str,
    },
    /// `Norder{k}/Dir{d}/Npix{n}.{ext}`.
    Tile {
        /// The order.
        order: u8,
        /// The cell.
        npix: u64,
        /// `fits` or `png`.
        ext: &'static str,
    },
}

impl HipsFile {
    /// Reads a request path below a HiPS; `None` for anything a HiPS does not hold.
    pub fn parse(path: &str) -> Option<HipsFile> {
        let parts: Vec<&str> = path.split('/').collect();
        let ext_of = |name: &str, stem: &str| -> Option<(&'static str, String)> {
            let rest = name.strip_prefix(stem)?;
            let (number, ext) = rest.rsplit_once('.')?;
            let ext = match ext {
                "fits" => "fits",
                "png" => "png",
                _ => return None,
            };
            Some((ext, number.to_string()))
        };
        let number = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        match parts.as_slice() {
            [""] | ["index.html"] => Some(HipsFile::Index),
            ["properties"] => Some(HipsFile::Properties),
            ["Moc.fits"] => Some(HipsFile::Moc),
            [norder, file] => {
                let order = u8::try_from(number(norder.strip_prefix("Norder")?)?).ok()?;
                let (ext, rest) = ext_of(file, "Allsky")?;
                (rest.is_empty() && order <= 29).then_some(HipsFile::Allsky { order, ext })
            }
            [norder, dir, file] => {
                let order = u8::try_from(number(norder.strip_prefix("Norder")?)?).ok()?;
                let d = number(dir.strip_prefix("Dir")?)?;
                let (ext, n) = ext_of(file, "Npix")?;
                let npix = number(&n)?;
                let tile = skyport_hips::tile::TileId { order, npix };
                (tile.is_valid() && d == npix / 10_000 * 10_000).then_some(HipsFile::Tile {
                    order,
                    npix,
                    ext,
                })
            }
            _ => None,
        }
    }

    /// The file's path below the HiPS directory.
    pub fn relative_path(&self) -> PathBuf {
        match self {
            HipsFile::Index | HipsFile::Properties => PathBuf::from("properties"),
            HipsFile::Moc => PathBuf::from("Moc.fits"),
            HipsFile::Allsky { order, ext } => {
                PathBuf::from(format!("Norder{order}")).join(format!("Allsky.{ext}"))
            }
            HipsFile::Tile { order, npix, ext } => skyport_hips::tile::TileId {
                order: *order,
                npix: *npix,
            }
            .path(ext),
        }
    }

    fn media_type(&self) -> &'static str {
        match self {
            HipsFile::Index => "text/html; charset=utf-8",
            HipsFile::Properties => "text/plain; charset=utf-8",
            HipsFile::Moc => "application/fits",
            HipsFile::Allsky { ext, .. } | HipsFile::Tile { ext, .. } => {
                if *ext == "png" {
                    "image/png"
                } else {
                    "application/fits"
                }
            }
        }
    }
}

impl HipsService {
    /// HiPS kept below `dir` (none when `None`).
    pub fn new(dir: Option<PathBuf>) -> HipsService {
        HipsService {
            layout: dir.map(Layout::new),
            manifests: Mutex::new(HashMap::new()),
            empty_tiles: Mutex::new(HashMap::new()),
        }
    }

    /// A transparent PNG tile `width` pixels wide.
    fn empty_tile(&self, width: usize) -> Option<bytes::Bytes> {
        let mut cache = self.empty_tiles.lock().ok()?;
        if let Some(t) = cache.get(&width) {
            return Some(t.clone());
        }
        let tile = bytes::Bytes::from(skyport_hips::render::empty_png(width).ok()?);
        cache.insert(width, tile.clone());
        Some(tile)
    }

    /// The current version of HiPS `id` and its manifest, if `caller` may see it at `now`.
    pub fn visible(
        &self,
        rights: &skyport_store::Rights,
        caller: &Caller,
        id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<(PathBuf, Arc<Manifest>)> {
        let layout = self.layout.as_ref()?;
        if id.is_empty() || id.starts_with('.') || id.contains('/') {
            return None;
        }
        let dir = layout.current(id)?;
        let manifest = self.manifest(&dir)?;
        rights
            .data_visible(caller, &manifest.collection, now)
            .then_some((dir, manifest))
    }

    fn manifest(&self, dir: &Path) -> Option<Arc<Manifest>> {
        if let Some(m) = self.manifests.lock().ok()?.get(dir) {
            return Some(Arc::clone(m));
        }
        let text = std::fs::read_to_string(dir.join(skyport_hips::build::MANIFEST)).ok()?;
        let manifest: Arc<Manifest> = Arc::new(serde_json::from_str(&text).ok()?);
        if let Ok(mut cache) = self.manifests.lock() {
            if cache.len() > 1024 {
                cache.clear();
            }
            cache.insert(dir.to_path_buf(), Arc::clone(&manifest));
        }
        Some(manifest)
    }

    /// The ids of every HiPS `caller` may see.
    pub fn ids(
        &self,
        rights: &skyport_store::Rights,
        caller: &Caller,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(String, Arc<Manifest>, PathBuf)> {
        let Some(layout) = &self.layout else {
            return Vec::new();
        };
        layout
            .ids()
            .into_iter()
            .filter_map(|id| {
                let (dir, m) = self.visible(rights, caller, &id, now)?;
                Some((id, m, dir))
            })
            .collect()
    }

    /// The HiPS of `collection` and `band` that `caller` may see, if there is one (for
    /// DataLink).
    pub fn id_for(
        &self,
        rights: &skyport_store::Rights,
        caller: &Caller,
        collection: &str,
        band: Option<&str>,
    ) -> Option<String> {
        let key = skyport_hips::HipsKey {
            collection: collection.to_string(),
            band: band.map(str::to_string),
        };
        let id = key.id();
        self.visible(rights, caller, &id, chrono::Utc::now())
            .map(|_| id)
    }
}

/// `GET /hips/list`: the HiPS list (HiPS 1.0 §4.4.4): each visible HiPS's properties with its
/// `hips_service_url`, separated by blank lines.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
) -> Response {
    let base = &state.settings.public_url;
    let mut out = String::new();
    for (id, _, dir) in state
        .hips
        .ids(&state.settings.rights, &caller, chrono::Utc::now())
    {
        let Ok(props) = std::fs::read_to_string(dir.join("properties")) else {
            continue;
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&props);
        out.push_str(&format!("{:<22}= {base}/hips/{id}\n", "hips_service_url"));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response()
}

/// `GET /hips/{id}`: the HiPS's page (what its base URL, linked from DataLink, shows).
pub(crate) async fn base(
    state: State<Arc<AppState>>,
    caller: RequestCaller,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, DaliError> {
    file(state, caller, UrlPath((id, String::new())), headers).await
}

/// The HTML page of a HiPS, from its `properties` text.
fn index_page(id: &str, properties: &str) -> String {
    use skyport_votable::escape_xml;
    let title = properties
        .lines()
        .find_map(|l| l.strip_prefix("obs_title"))
        .and_then(|l| l.split_once('='))
        .map_or(id, |(_, v)| v.trim());
    let rows: String = properties
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                escape_xml(k.trim()),
                escape_xml(v.trim())
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\n\
         <body><h1>{t}</h1><p>A HiPS (IVOA HiPS 1.0): open this page's address in Aladin or \
         another HiPS viewer. Files: <a href=\"properties\">properties</a>, \
         <a href=\"Moc.fits\">Moc.fits</a>, <a href=\"Norder3/Allsky.png\">Norder3/Allsky.png</a>.</p>\n\
         <table>\n{rows}</table></body></html>\n",
        t = escape_xml(title)
    )
}

/// `GET /hips/{id}/{*path}`: one file of a HiPS.
pub(crate) async fn file(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    UrlPath((id, path)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, DaliError> {
    let Some((dir, manifest)) =
        state
            .hips
            .visible(&state.settings.rights, &caller, &id, chrono::Utc::now())
    else {
        return Err(DaliError::not_found(format!("no HiPS {id:?}")));
    };
    let Some(file) = HipsFile::parse(&path) else {
        return Err(DaliError::not_found(format!(
            "HiPS {id:?} has no file {path:?}: properties, Moc.fits, Norder<k>/Allsky.<fits|png> \
             and Norder<k>/Dir<d>/Npix<n>.<fits|png> are its files"
        )));
    };
    let full = dir.join(file.relative_path());
    let missing = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DaliError::not_found(format!("HiPS {id:?} has no data at {path}"))
        } else {
            DaliError::internal(format!("reading a HiPS file: {e}"))
        }
    };
    // Tiles are streamed from the file, not read whole: a viewer asks for many at once.
    let (body, etag) = if file == HipsFile::Index {
        let properties = tokio::fs::read_to_string(&full).await.map_err(missing)?;
        let page = index_page(&id, &properties);
        let etag = format!("\"index-{}\"", page.len());
        (Body::from(page), etag)
    } else {
        let opened = match tokio::fs::File::open(&full).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return match file {
                    HipsFile::Tile {
                        order, ext: "png", ..
                    } if order <= manifest.order => {
                        let tile = state
                            .hips
                            .empty_tile(manifest.tile_width)
                            .ok_or_else(|| DaliError::internal("making an empty HiPS tile"))?;
                        Ok((
                            [
                                (header::CONTENT_TYPE, "image/png"),
                                (header::CACHE_CONTROL, "private, max-age=60"),
                            ],
                            tile,
                        )
                            .into_response())
                    }
                    _ => Err(missing(e)),
                };
            }
            opened => opened.map_err(missing)?,
        };
        let length = opened.metadata().await.map_err(missing)?.len();
        let version = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        (
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                opened,
                64 << 10,
            )),
            format!("\"{version}-{length}\""),
        )
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.media_type()),
    );
    // Tiles change only when an update publishes a new version; a minute of caching keeps
    // viewers fast and updates visible soon. Private: what is served depends on the caller.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hips_files_are_named() {
        assert_eq!(HipsFile::parse("properties"), Some(HipsFile::Properties));
        assert_eq!(HipsFile::parse("index.html"), Some(HipsFile::Index));
        assert_eq!(HipsFile::parse(""), Some(HipsFile::Index));
        assert_eq!(
            HipsFile::parse("Norder3/Dir0/Npix300.png"),
            Some(HipsFile::Tile {
                order: 3,
                npix: 300,
                ext: "png"
            })
        );
        assert_eq!(
            HipsFile::parse("Norder3/Allsky.fits"),
            Some(HipsFile::Allsky {
                order: 3,
                ext: "fits"
            })
        );
        for bad in [
            "../properties",
            "Norder3/../../etc/passwd",
            "Norder3/Dir10000/Npix300.png", // wrong directory for the cell
            "Norder1/Dir0/Npix48.fits",     // no such cell at order 1
            "Norder3/Dir0/Npix300.jpg",
            "Norder3/Dir0/Npix-1.fits",
            "Norder99/Dir0/Npix0.fits",
            "Norder3/Dir0/Npix+1.fits",
            "hips.json",
            "/properties",
            "Norder3/Dir0/Npix300.fits/",
        ] {
            assert_eq!(HipsFile::parse(bad), None, "{bad}");
        }
    }
}
