//! A TAP query request read from DALI parameters (sync requests and async job parameters alike).

use skyport_votable::Chosen;

use crate::dali::format::{maxrec, output_format};
use crate::dali::{DaliError, DaliParams};
use crate::limits::Limits;

/// One UPLOAD: a table name and where its VOTable comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSpec {
    /// Table name, queried as `TAP_UPLOAD.<name>`.
    pub name: String,
    /// `param:<part>` or `http://…`.
    pub uri: String,
}

/// A checked TAP query request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRequest {
    /// The ADQL text.
    pub query: String,
    /// Rows to return at most (already capped by the hard limit).
    pub maxrec: u64,
    /// Output format and Content-Type.
    pub format: Chosen,
    /// Uploaded tables.
    pub uploads: Vec<UploadSpec>,
    /// RUNID, echoed into logs.
    pub run_id: Option<String>,
}

/// True for an ADQL regular identifier usable as an upload table name.
pub fn is_upload_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks the UPLOAD parameters (of a new or changed async job).
pub fn check_uploads(params: &DaliParams, limits: &Limits) -> Result<(), DaliError> {
    uploads(params, limits.upload_max_tables).map(|_| ())
}

/// Reads UPLOAD values: `name,URI` pairs, several per value separated by `;` (TAP 1.0 form),
/// at most `max_tables` of them.
pub fn uploads(params: &DaliParams, max_tables: usize) -> Result<Vec<UploadSpec>, DaliError> {
    let mut out: Vec<UploadSpec> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for value in params.all("UPLOAD") {
        for item in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            if out.len() == max_tables {
                return Err(DaliError::usage(format!(
                    "UPLOAD: at most {max_tables} tables may be uploaded with one request"
                )));
            }
            let (name, uri) = item.split_once(',').ok_or_else(|| {
                DaliError::usage(format!(
                    "UPLOAD {item:?} must be a table name and a URI separated by a comma"
                ))
            })?;
            let (name, uri) = (name.trim(), uri.trim());
            if !is_upload_name(name) {
                return Err(DaliError::usage(format!(
                    "UPLOAD table name {name:?} must start with a letter and contain only letters, digits and underscores"
                )));
            }
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(DaliError::usage(format!(
                    "UPLOAD names the table {name} twice"
                )));
            }
            let scheme_ok = ["param:", "http://", "https://"]
                .iter()
                .any(|s| uri.starts_with(s));
            if !scheme_ok {
                return Err(DaliError::usage(format!(
                    "UPLOAD {name}: URI {uri:?} is not supported; use param:<part> with a multipart file part, or an http:// or https:// URL"
                )));
            }
            out.push(UploadSpec {
                name: name.to_string(),
                uri: uri.to_string(),
            });
        }
    }
    Ok(out)
}

/// Reads and checks the TAP parameters (TAP 1.1 §2.3). Unknown parameters, REQUEST and
/// VERSION are ignored as the standard requires.
pub fn parse(params: &DaliParams, limits: &Limits) -> Result<TapRequest, DaliError> {
    match params.single("LANG")? {
        None => {
            return Err(DaliError::usage(
                "parameter LANG is missing; send LANG=ADQL",
            ))
        }
        Some(lang) => {
            let known = ["ADQL", "ADQL-2.0", "ADQL-2.1"];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(lang.trim())) {
                return Err(DaliError::usage(format!(
                    "unknown query language LANG={lang:?}; this service speaks ADQL (ADQL-2.0, ADQL-2.1)"
                )));
            }
        }
    }
    let query = params
        .single("QUERY")?
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| DaliError::usage("parameter QUERY is missing or empty"))?
        .to_string();
    let maxrec = maxrec(params, limits)?;
    let response_format = params.single("RESPONSEFORMAT")?;
    let format_synonym = params.single("FORMAT")?;
    let format = match (response_format, format_synonym) {
        (Some(f), _) => output_format("RESPONSEFORMAT", Some(f))?,
        (None, f) => output_format("FORMAT", f)?,
    };
    let run_id = params.single("RUNID")?.map(str::to_string);
    if run_id.as_ref().is_some_and(|r| r.chars().count() > 64) {
        return Err(DaliError::usage("RUNID must be at most 64 characters"));
    }
    Ok(TapRequest {
        query,
        maxrec,
        format,
        uploads: uploads(params, limits.upload_max_tables)?,
        run_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_votable::Format;

    fn p(q: &str) -> DaliParams {
        DaliParams::read_urlencoded(q.as_bytes()).expect("params")
    }

    #[test]
    fn standard_parameters() {
        let limits = Limits::default();
        let r = parse(
            &p("lang=ADQL&Query=SELECT+1&REQUEST=doQuery&maxrec=5&format=csv"),
            &limits,
        )
        .expect("ok");
        assert_eq!((r.query.as_str(), r.maxrec), ("SELECT 1", 5));
        assert_eq!(r.format.format, Format::Csv);
        let r = parse(&p("LANG=ADQL-2.1&QUERY=x&MAXREC=999999999999"), &limits).expect("capped");
        assert_eq!(r.maxrec, limits.maxrec_hard);
        assert_eq!(
            parse(&p("LANG=ADQL&QUERY=x"), &limits).expect("ok").maxrec,
            limits.maxrec_default
        );
        for (bad, says) in [
            ("QUERY=x", "LANG is missing"),
            ("LANG=SQL&QUERY=x", "unknown query language"),
            ("LANG=ADQL", "QUERY is missing"),
            ("LANG=ADQL&QUERY=x&MAXREC=-1", "MAXREC"),
            ("LANG=ADQL&QUERY=x&MAXREC=1&MAXREC=2", "MAXREC"),
            (
                "LANG=ADQL&QUERY=x&RESPONSEFORMAT=bogus",
                "RESPONSEFORMAT=\"bogus\"",
            ),
            ("LANG=ADQL&QUERY=x&UPLOAD=t1", "comma"),
            (
                "LANG=ADQL&QUERY=x&UPLOAD=1t,param:a",
                "must start with a letter",
            ),
            ("LANG=ADQL&QUERY=x&UPLOAD=t,ftp://x", "not supported"),
        ] {
            let e = parse(&p(bad), &limits).expect_err(bad);
            assert!(e.message().contains(says), "{bad}: {}", e.message());
        }
    }

    #[test]
    fn uploads_accumulate_in_both_syntaxes() {
        let u = uploads(&p("UPLOAD=a,param:a;b,http://h/x&upload=c,https://h/y"), 16).expect("ok");
        let names: Vec<&str> = u.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(uploads(&p("UPLOAD=a,param:a&UPLOAD=A,param:b"), 16).is_err());
    }

    #[test]
    fn upload_tables_are_counted_and_names_checked_in_one_pass() {
        // Many names: refused at the limit, before anything is fetched or compared pairwise.
        let many: Vec<String> = (0..80_000)
            .map(|i| format!("UPLOAD=t{i},param:t{i}"))
            .collect();
        let e = uploads(&p(&many.join("&")), 16).expect_err("over the limit");
        assert!(e.message().contains("at most 16 tables"), "{}", e.message());
        let sixteen: Vec<String> = (0..16).map(|i| format!("UPLOAD=t{i},param:t{i}")).collect();
        assert_eq!(
            uploads(&p(&sixteen.join("&")), 16).map(|u| u.len()).ok(),
            Some(16)
        );
        let e = uploads(&p("UPLOAD=t1,param:a;T1,param:b"), 16).expect_err("twice");
        assert!(e.message().contains("twice"), "{}", e.message());
    }
}
