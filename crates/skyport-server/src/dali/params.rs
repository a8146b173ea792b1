//! DALI 1.1 request parameters, read alike from GET and POST.
//!
//! Parameter names are case-insensitive, values are not. GET query strings and POST bodies
//! (`application/x-www-form-urlencoded` or `multipart/form-data`) are read the same way; file
//! parts of multipart bodies are kept for UPLOAD. A single-valued parameter given twice is an
//! error naming it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, Method, StatusCode};

use super::DaliError;

/// One urlencoded name (`of` is `None`) or value (`of` names its parameter), decoded.
fn decode_component(raw: &[u8], of: Option<&str>) -> Result<String, DaliError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let what = || match of {
        Some(name) => format!("the value of parameter {}", name.to_ascii_uppercase()),
        None => "a parameter name".to_string(),
    };
    let text = percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map_err(|_| {
            DaliError::usage(format!(
                "{} is not UTF-8 text (its percent-encoded bytes must spell UTF-8)",
                what()
            ))
        })?
        .into_owned();
    check_text(&text, &what())?;
    Ok(text)
}

/// Refuses text holding a NUL character, which no parameter has a use for.
fn check_text(text: &str, what: &str) -> Result<(), DaliError> {
    if text.contains('\0') {
        return Err(DaliError::usage(format!("{what} contains a NUL character")));
    }
    Ok(())
}

/// A request body that could not be read: too large (413) or malformed (400). `path` is
/// the request's: TAP announces its upload limit in its capabilities, so its message says
/// where to look.
fn body_error(status: StatusCode, detail: &str, path: &str) -> DaliError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        let hint = if path.starts_with("/tap/") {
            "; the limit is in /tap/capabilities (uploadLimit)"
        } else {
            ""
        };
        DaliError::usage(format!(
            "the request body is larger than this service accepts ({detail}){hint}"
        ))
        .with_status(status)
    } else {
        DaliError::usage(format!("the request body cannot be read: {detail}"))
    }
}

/// An uploaded file part of a multipart request.
#[derive(Debug, Clone)]
pub struct UploadedPart {
    /// The part's form name, as sent.
    pub name: String,
    /// Its content.
    pub bytes: Bytes,
}

/// The parameters of a DALI request.
#[derive(Debug, Clone, Default)]
pub struct DaliParams {
    /// (name as sent, value) pairs in request order.
    pairs: Vec<(String, String)>,
    /// File parts of a multipart body.
    pub uploads: Vec<UploadedPart>,
}

impl DaliParams {
    /// Builds parameters from name/value pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> DaliParams
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        DaliParams {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            uploads: Vec::new(),
        }
    }

    /// Reads a query string or urlencoded body strictly: a name or value whose percent-encoded
    /// bytes are not UTF-8, or that holds a NUL character, is the client's mistake, named,
    /// rather than text silently changed (`%FF` would otherwise become U+FFFD).
    pub fn read_urlencoded(bytes: &[u8]) -> Result<DaliParams, DaliError> {
        let mut pairs = Vec::new();
        for piece in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &b""[..]),
            };
            let name = decode_component(name, None)?;
            let value = decode_component(value, Some(&name))?;
            pairs.push((name, value));
        }
        Ok(DaliParams {
            pairs,
            uploads: Vec::new(),
        })
    }

    /// Every value of a parameter, in order (name compared case-insensitively).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of a single-valued parameter: `None` when absent, an error when repeated.
    pub fn single(&self, name: &str) -> Result<Option<&str>, DaliError> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [v] => Ok(Some(v)),
            many => Err(DaliError::usage(format!(
                "parameter {} may be given once, but was given {} times",
                name.to_ascii_uppercase(),
                many.len()
            ))),
        }
    }

    /// A single-valued integer parameter within `[min, max]`.
    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, DaliError> {
        let Some(raw) = self.single(name)? else {
            return Ok(None);
        };
        let value: i64 = raw.trim().parse().map_err(|_| {
            DaliError::usage(format!(
                "parameter {} must be an integer, got {raw:?}",
                name.to_ascii_uppercase()
            ))
        })?;
        if !(min..=max).contains(&value) {
            return Err(DaliError::usage(format!(
                "parameter {} must be between {min} and {max}, got {value}",
                name.to_ascii_uppercase()
            )));
        }
        Ok(Some(value))
    }

    /// Every (name as sent, value) pair, in request order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of name/value pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl<S: Send + Sync> FromRequest<S> for DaliParams {
    type Rejection = DaliError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_string();
        let mut params = DaliParams::read_urlencoded(req.uri().query().unwrap_or("").as_bytes())?;
        if req.method() != Method::POST {
            return Ok(params);
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|e| body_error(e.status(), &e.body_text(), &path))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| body_error(e.status(), &e.body_text(), &path))?
            {
                let name = field.name().unwrap_or("").to_string();
                let is_file = field.file_name().is_some();
                let bytes = field.bytes().await.map_err(|e| {
                    body_error(
                        e.status(),
                        &format!("reading part {name}: {}", e.body_text()),
                        &path,
                    )
                })?;
                if is_file {
                    params.uploads.push(UploadedPart { name, bytes });
                } else {
                    let value = String::from_utf8(bytes.to_vec()).map_err(|_| {
                        DaliError::usage(format!("parameter {name} is not UTF-8 text"))
                    })?;
                    check_text(
                        &value,
                        &format!("the value of parameter {}", name.to_ascii_uppercase()),
                    )?;
                    params.pairs.push((name, value));
                }
            }
        } else if content_type.is_empty()
            || content_type.starts_with("application/x-www-form-urlencoded")
        {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|e| body_error(e.status(), &e.body_text(), &path))?;
            params
                .pairs
                .extend(DaliParams::read_urlencoded(&body)?.pairs);
        } else {
            return Err(DaliError::usage(format!(
                "unsupported Content-Type {content_type:?}: use application/x-www-form-urlencoded or multipart/form-data"
            )));
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[test]
    fn names_are_case_insensitive_values_are_not() {
        let p = DaliParams::read_urlencoded(b"MaxRec=10&lang=ADQL&Query=SELECT+%27A%27")
            .expect("params");
        assert_eq!(p.single("MAXREC").expect("ok"), Some("10"));
        assert_eq!(p.single("LANG").expect("ok"), Some("ADQL"));
        assert_eq!(p.single("query").expect("ok"), Some("SELECT 'A'"));
        assert_eq!(p.single("absent").expect("ok"), None);
    }

    #[test]
    fn repeated_single_valued_parameter_is_an_error_naming_it() {
        let p = DaliParams::read_urlencoded(b"maxrec=1&MAXREC=2&id=a&ID=b").expect("params");
        let err = p.single("maxrec").expect_err("repeated");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.message().starts_with("UsageFault:") && err.message().contains("MAXREC"),
            "{}",
            err.message()
        );
        assert_eq!(
            p.all("id"),
            vec!["a", "b"],
            "multi-valued parameters keep every value in order"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_and_nul_characters_are_named_not_changed() {
        let e = DaliParams::read_urlencoded(b"LANG=ADQL&QUERY=SELECT+%FF").expect_err("not UTF-8");
        assert!(
            e.message().contains("parameter QUERY is not UTF-8"),
            "{}",
            e.message()
        );
        let e = DaliParams::read_urlencoded(b"ID=a%00b").expect_err("NUL");
        assert!(
            e.message().contains("parameter ID contains a NUL"),
            "{}",
            e.message()
        );
        let e = DaliParams::read_urlencoded(b"%FF=1").expect_err("a name");
        assert!(e.message().contains("a parameter name"), "{}", e.message());
        let p = DaliParams::read_urlencoded(b"q=caf%C3%A9+au+lait&empty=&flag").expect("UTF-8");
        assert_eq!(p.single("q").expect("ok"), Some("café au lait"));
        assert_eq!(p.single("empty").expect("ok"), Some(""));
        assert_eq!(p.single("flag").expect("ok"), Some(""));
    }

    #[test]
    fn integers_are_checked() {
        let p = DaliParams::read_urlencoded(b"maxrec=-1&n=x").expect("params");
        assert!(p
            .integer("maxrec", 0, 100)
            .expect_err("negative")
            .message()
            .contains("between 0 and 100"));
        assert!(p
            .integer("n", 0, 1)
            .expect_err("nan")
            .message()
            .contains("must be an integer"));
    }

    async fn extract(req: Request) -> Result<DaliParams, DaliError> {
        DaliParams::from_request(req, &()).await
    }

    #[tokio::test]
    async fn post_bodies_are_read_like_query_strings() {
        let req = Request::post("/x?RUNID=r1")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("LANG=ADQL&query=SELECT+1"))
            .expect("request");
        let p = extract(req).await.expect("params");
        assert_eq!(
            (
                p.single("runid").ok().flatten(),
                p.single("QUERY").ok().flatten()
            ),
            (Some("r1"), Some("SELECT 1"))
        );

        let body = "--XX\r\nContent-Disposition: form-data; name=\"Lang\"\r\n\r\nADQL\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"t1\"; filename=\"t1.xml\"\r\n\r\n<VOTABLE/>\r\n--XX--\r\n";
        let req = Request::post("/x")
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XX")
            .body(Body::from(body))
            .expect("request");
        let p = extract(req).await.expect("multipart");
        assert_eq!(p.single("LANG").expect("ok"), Some("ADQL"));
        assert_eq!(p.uploads.len(), 1);
        assert_eq!(&p.uploads[0].bytes[..], b"<VOTABLE/>");

        let req = Request::post("/x")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("r");
        assert!(extract(req)
            .await
            .expect_err("json")
            .message()
            .contains("Content-Type"));
    }
}
