//! The portal at `/portal/`: a page for people in a browser — the sky (Aladin Lite over the
//! archive's HiPS, coverage and footprints), a search form, previews, DataLink links and
//! cutouts, an ADQL editor and the ConsDB. It is static files compiled into the binary, so
//! nothing is fetched from the internet; the page reads the archive only through the public
//! services (TAP, DataLink, SODA, HiPS, MOC, ConsDB), with the caller's own token, so it never
//! holds more rights than its user.
//!
//! Every value the page shows comes from the archive and is set as text, never as markup; the
//! Content-Security-Policy below backs that up by refusing any script but the portal's own
//! files (Aladin Lite's WebAssembly core needs `'wasm-unsafe-eval'` and loads from a `data:`
//! URL; its workers start from `blob:` URLs).

use std::sync::OnceLock;

use axum::extract::Path as UrlPath;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use crate::dali::DaliError;

/// The policy every portal file is served with. Scripts only from the portal itself (no
/// inline script, no `eval`); styles may be inline because Aladin Lite sets them on its own
/// elements; images from the archive or made in the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; \
     connect-src 'self' data: blob:; \
     worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file of the portal.
struct PortalFile {
    /// Its path below `/portal/`.
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! portal_file {
    ($path:literal, $type:expr) => {
        PortalFile {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../portal/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file of the portal (the vendored Aladin Lite with its licence and provenance).
static FILES: [PortalFile; 15] = [
    portal_file!("index.html", "text/html; charset=utf-8"),
    portal_file!("sw.js", JS),
    portal_file!("portal.css", "text/css; charset=utf-8"),
    portal_file!("js/app.js", JS),
    portal_file!("js/net.js", JS),
    portal_file!("js/dom.js", JS),
    portal_file!("js/table.js", JS),
    portal_file!("js/sky.js", JS),
    portal_file!("js/search.js", JS),
    portal_file!("js/adql.js", JS),
    portal_file!("js/consdb.js", JS),
    portal_file!("vendor/aladin-lite/aladin.js", JS),
    portal_file!("vendor/aladin-lite/COPYING", TEXT),
    portal_file!("vendor/aladin-lite/LICENSE", TEXT),
    portal_file!("vendor/aladin-lite/SOURCES.md", TEXT),
];

/// Entity tags of [`FILES`], in order: a digest of each file, made once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|f| {
                let digest = Sha256::digest(f.bytes);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// The portal file at `path` (below `/portal/`), if there is one.
fn find(path: &str) -> Option<usize> {
    FILES.iter().position(|f| f.path == path)
}

/// `GET /portal`: the portal's address ends in a slash, so its relative links resolve.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/portal/")
}

/// `GET /portal/`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /portal/{*path}`: one of the portal's files; 404 for any other name.
pub async fn file(UrlPath(path): UrlPath<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(index) = find(path) else {
        return DaliError::not_found("no such file in the portal").into_response();
    };
    let file = &FILES[index];
    let etag = &etags()[index];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, file.content_type)], file.bytes).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidated on every load (a 304 costs nothing), so a new build's page is never mixed
    // with an old build's scripts.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_and_nothing_else() {
        for f in &FILES {
            assert_eq!(find(f.path).map(|i| FILES[i].path), Some(f.path));
            assert!(!f.bytes.is_empty(), "{} is empty", f.path);
        }
        for bad in [
            "",
            "..",
            "../Cargo.toml",
            "js",
            "js/",
            "/index.html",
            "index.html/",
        ] {
            assert_eq!(find(bad), None, "{bad}");
        }
    }

    #[test]
    fn scripts_are_served_as_javascript() {
        for f in FILES.iter().filter(|f| f.path.ends_with(".js")) {
            assert_eq!(f.content_type, JS, "{}", f.path);
        }
        for f in FILES
            .iter()
            .filter(|f| f.path.starts_with("vendor/") && !f.path.ends_with(".js"))
        {
            assert_eq!(f.content_type, TEXT, "{}", f.path);
        }
    }

    #[test]
    fn the_policy_allows_no_inline_script() {
        let script = CONTENT_SECURITY_POLICY
            .split(';')
            .find(|d| d.trim_start().starts_with("script-src"))
            .unwrap_or_default();
        assert!(!script.contains("unsafe-inline"));
        assert!(!script.contains("'unsafe-eval'"));
        assert!(!script.contains("data:"));
    }
}
