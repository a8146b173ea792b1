//! TAP uploads: fetching (`param:` parts and http URLs), size and row limits, and the
//! conversion of a VOTable into a temporary table plus its catalogue entry.
//!
//! Documents at URLs come through [`super::fetch`], which fetches only from public addresses
//! (or those the operator allows), and every way such an upload fails, from a refused
//! connection to a document that is not a VOTable, gives the caller the same message: what
//! answered at an address must not be learnt from the errors. Inline (`param:`) uploads are
//! the caller's own bytes, so their errors say exactly what is wrong.

use std::collections::HashMap;

use bytes::Bytes;
use skyport_adql::{AdqlType, ColumnInfo, ColumnMeta, TableInfo};
use skyport_store::{ColumnKind, TempTable, Value};
use skyport_votable::{Count, Datum, Field, Primitive};

use super::fetch::{Failure, Fetcher};
use super::UploadSpec;
use crate::dali::DaliError;
use crate::limits::Limits;

/// Largest fixed arraysize (element count) accepted in an uploaded FIELD.
const MAX_FIXED_ARRAYSIZE: usize = 65_536;

/// An upload ready for one query.
pub struct Uploaded {
    /// What ADQL sees.
    pub info: TableInfo,
    /// What the store creates.
    pub table: TempTable,
}

/// The one message of every failed upload by URL: it names only what the caller sent and the
/// limits, never what answered.
fn not_fetched(spec: &UploadSpec, limits: &Limits) -> DaliError {
    DaliError::usage(format!(
        "UPLOAD {}: the document at {} could not be fetched, or is not a VOTable within the limits of this service ({} s, {} redirects, {} bytes, {} rows)",
        spec.name,
        spec.uri,
        limits.upload_fetch_seconds,
        limits.upload_max_redirects,
        limits.upload_max_bytes,
        limits.upload_max_rows
    ))
}

/// The bytes of an upload and whether they came from a URL.
async fn fetch(
    spec: &UploadSpec,
    inline: &HashMap<String, Bytes>,
    fetcher: &Fetcher,
    limits: &Limits,
) -> Result<(Bytes, bool), DaliError> {
    if let Some(part) = spec.uri.strip_prefix("param:") {
        let bytes = inline.get(part).ok_or_else(|| {
            DaliError::usage(format!(
                "UPLOAD {} refers to {}, but the request has no file part named {part:?}",
                spec.name, spec.uri
            ))
        })?;
        if bytes.len() > limits.upload_max_bytes {
            return Err(DaliError::usage(format!(
                "UPLOAD {} is larger than the limit of {} bytes",
                spec.name, limits.upload_max_bytes
            )));
        }
        return Ok((bytes.clone(), false));
    }
    match fetcher.fetch(&spec.name, &spec.uri, limits).await {
        Ok(bytes) => Ok((bytes, true)),
        Err(Failure::Unsupported(problem)) => Err(DaliError::usage(format!(
            "UPLOAD {}: {} {problem}; uploads are fetched from plain http:// and https:// URLs",
            spec.name, spec.uri
        ))),
        // Decided before any connection to the address: it tells nothing about what is there.
        Err(Failure::Refused) => Err(DaliError::usage(format!(
            "UPLOAD {}: {} leads to an address this service may not fetch from (uploads by URL come from public addresses only)",
            spec.name, spec.uri
        ))),
        Err(Failure::Failed) => Err(not_fetched(spec, limits)),
    }
}

/// Fetches, reads and converts one upload.
pub async fn load(
    spec: &UploadSpec,
    inline: &HashMap<String, Bytes>,
    fetcher: &Fetcher,
    limits: &Limits,
) -> Result<Uploaded, DaliError> {
    let (bytes, remote) = fetch(spec, inline, fetcher, limits).await?;
    let table = skyport_votable::read_votable(&bytes, limits.upload_max_rows).map_err(|e| {
        if remote {
            // The reader's message may quote the document: log it, say nothing.
            tracing::info!(upload = %spec.name, "UPLOAD from {}: not a VOTable: {e}", spec.uri);
            not_fetched(spec, limits)
        } else {
            DaliError::usage(format!("UPLOAD {}: {e}", spec.name))
        }
    })?;
    // Lower-cased, for the duplicate check (a set: a list made it quadratic in the fields).
    let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
    for f in &table.fields {
        if f.name.chars().any(char::is_control) {
            return Err(DaliError::usage(format!(
                "UPLOAD {}: the column name {:?} contains a control character",
                spec.name, f.name
            )));
        }
        // Fixed sizes are written in full in binary output: an absurd one must not make every
        // cell of the result that large.
        if let Count::Fixed(n) = f.shape().count {
            if n > MAX_FIXED_ARRAYSIZE {
                return Err(DaliError::usage(format!(
                    "UPLOAD {}: column {:?} declares arraysize {} (at most {MAX_FIXED_ARRAYSIZE} elements, or use a variable size such as \"*\")",
                    spec.name,
                    f.name,
                    f.meta.arraysize.as_deref().unwrap_or("")
                )));
            }
        }
        if !names.insert(f.name.to_ascii_lowercase()) {
            return Err(DaliError::usage(format!(
                "UPLOAD {}: the column name {:?} appears twice",
                spec.name, f.name
            )));
        }
    }
    let columns: Vec<ColumnInfo> = table.fields.iter().map(column_info).collect();
    let kinds: Vec<(String, ColumnKind)> = table
        .fields
        .iter()
        .map(|f| (f.name.clone(), column_kind(f)))
        .collect();
    let rows = table
        .rows
        .into_iter()
        .map(|r| r.into_iter().map(value).collect())
        .collect();
    Ok(Uploaded {
        info: TableInfo {
            schema: "TAP_UPLOAD".into(),
            name: spec.name.clone(),
            columns,
            spatial: None,
            listing_order: Vec::new(),
        },
        table: TempTable {
            name: format!("TAP_UPLOAD.{}", spec.name),
            columns: kinds,
            rows,
        },
    })
}

pub(crate) fn value(d: Datum) -> Value {
    match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(b),
        Datum::Int(i) => Value::Int(i),
        Datum::Float(f) => Value::Float(f),
        Datum::Text(t) => Value::Text(t),
    }
}

fn column_kind(f: &Field) -> ColumnKind {
    let shape = f.shape();
    match (shape.primitive, shape.count) {
        (
            Primitive::Boolean
            | Primitive::UnsignedByte
            | Primitive::Short
            | Primitive::Int
            | Primitive::Long,
            Count::Scalar,
        ) => ColumnKind::Integer,
        (Primitive::Float | Primitive::Double, Count::Scalar) => ColumnKind::Real,
        _ => ColumnKind::Text,
    }
}

/// The ADQL type of an uploaded column. Arrays (including DALI geometry xtypes) are kept as
/// their text and typed as strings: they round-trip, but are not geometry in queries.
fn adql_type(f: &Field) -> AdqlType {
    let shape = f.shape();
    if f.meta.xtype.as_deref().is_some_and(|x| {
        x.eq_ignore_ascii_case("timestamp") || x.eq_ignore_ascii_case("adql:TIMESTAMP")
    }) {
        return AdqlType::Timestamp;
    }
    match (shape.primitive, shape.count) {
        (Primitive::Boolean, Count::Scalar) => AdqlType::Boolean,
        (Primitive::UnsignedByte | Primitive::Short, Count::Scalar) => AdqlType::SmallInt,
        (Primitive::Int, Count::Scalar) => AdqlType::Integer,
        (Primitive::Long, Count::Scalar) => AdqlType::BigInt,
        (Primitive::Float, Count::Scalar) => AdqlType::Real,
        (Primitive::Double, Count::Scalar) => AdqlType::Double,
        (Primitive::Char | Primitive::UnicodeChar, Count::Scalar) => AdqlType::Char(Some(1)),
        _ => AdqlType::VarChar(None),
    }
}

pub(crate) fn column_info(f: &Field) -> ColumnInfo {
    let ty = adql_type(f);
    let xtype = match ty {
        AdqlType::Timestamp => Some("timestamp".to_string()),
        _ => f.meta.xtype.clone(),
    };
    ColumnInfo {
        name: f.name.clone(),
        ty,
        meta: std::sync::Arc::new(ColumnMeta {
            // VOTable 1.3 Erratum 3 deprecates arraysize="1": a scalar has none.
            arraysize: f.meta.arraysize.clone().filter(|a| a.trim() != "1"),
            xtype,
            ..f.meta.clone()
        }),
        url_base: None,
    }
}
