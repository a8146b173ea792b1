//! The parameters that choose what a query answers: the output format (`RESPONSEFORMAT`, or
//! TAP's `FORMAT`) and `MAXREC`, checked against the `[limits]`.

use skyport_votable::{Chosen, Format};

use super::{DaliError, DaliParams};
use crate::limits::Limits;

/// MAXREC (DALI 1.1 §2.3.2): the default when absent, never above the hard limit.
pub fn maxrec(params: &DaliParams, limits: &Limits) -> Result<u64, DaliError> {
    Ok(params
        .integer("MAXREC", 0, i64::MAX)?
        .map_or(limits.maxrec_default, |m| m as u64)
        .min(limits.maxrec_hard))
}

/// The output format a RESPONSEFORMAT-like parameter (`name`) asks for; VOTable TABLEDATA
/// when absent.
pub fn output_format(name: &str, value: Option<&str>) -> Result<Chosen, DaliError> {
    match value {
        None => Ok(Chosen {
            format: Format::VotableTabledata,
            content_type: "application/x-votable+xml".into(),
        }),
        Some(f) => Format::choose(f).ok_or_else(|| {
            DaliError::usage(format!(
                "{name}={f:?} is not supported; use one of votable, votable/b2, csv, tsv, json, parquet or their MIME types"
            ))
        }),
    }
}
