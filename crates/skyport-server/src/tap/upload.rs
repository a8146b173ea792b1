//! TAP uploads: fetching (`param:` parts and http URLs), size and row limits, and the
//! conversion of a VOTable into a temporary table plus its catalogue entry.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::StreamExt;
use skyport_adql::{AdqlType, ColumnInfo, ColumnMeta, TableInfo};
use skyport_store::{ColumnKind, TempTable, Value};
use skyport_votable::{Count, Datum, Field, Primitive};

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

async fn fetch(
    spec: &UploadSpec,
    inline: &HashMap<String, Bytes>,
    http: &reqwest::Client,
    limit: usize,
) -> Result<Bytes, DaliError> {
    let too_big = || {
        DaliError::usage(format!(
            "UPLOAD {} is larger than the limit of {limit} bytes",
            spec.name
        ))
    };
    if let Some(part) = spec.uri.strip_prefix("param:") {
        let bytes = inline.get(part).ok_or_else(|| {
            DaliError::usage(format!(
                "UPLOAD {} refers to {}, but the request has no file part named {part:?}",
                spec.name, spec.uri
            ))
        })?;
        if bytes.len() > limit {
            return Err(too_big());
        }
        return Ok(bytes.clone());
    }
    let response = http
        .get(&spec.uri)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| {
            DaliError::usage(format!(
                "UPLOAD {}: cannot fetch {}: {e}",
                spec.name, spec.uri
            ))
        })?;
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            DaliError::usage(format!("UPLOAD {}: reading {}: {e}", spec.name, spec.uri))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Fetches, reads and converts one upload.
pub async fn load(
    spec: &UploadSpec,
    inline: &HashMap<String, Bytes>,
    http: &reqwest::Client,
    limits: &Limits,
) -> Result<Uploaded, DaliError> {
    let bytes = fetch(spec, inline, http, limits.upload_max_bytes).await?;
    let table = skyport_votable::read_votable(&bytes, limits.upload_max_rows)
        .map_err(|e| DaliError::usage(format!("UPLOAD {}: {e}", spec.name)))?;
    let mut names: Vec<String> = Vec::new();
    for f in &table.fields {
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
        if names.iter().any(|n| n.eq_ignore_ascii_case(&f.name)) {
            return Err(DaliError::usage(format!(
                "UPLOAD {}: the column name {:?} appears twice",
                spec.name, f.name
            )));
        }
        names.push(f.name.clone());
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
        },
        table: TempTable {
            name: format!("TAP_UPLOAD.{}", spec.name),
            columns: kinds,
            rows,
        },
    })
}

fn value(d: Datum) -> Value {
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

fn column_info(f: &Field) -> ColumnInfo {
    let ty = adql_type(f);
    let xtype = match ty {
        AdqlType::Timestamp => Some("timestamp".to_string()),
        _ => f.meta.xtype.clone(),
    };
    ColumnInfo {
        name: f.name.clone(),
        ty,
        meta: ColumnMeta {
            // VOTable 1.3 Erratum 3 deprecates arraysize="1": a scalar has none.
            arraysize: f.meta.arraysize.clone().filter(|a| a.trim() != "1"),
            xtype,
            ..f.meta.clone()
        },
    }
}
