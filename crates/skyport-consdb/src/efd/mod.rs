//! The transformed EFD (DMTN-227 §7.2): engineering telemetry summarised over each
//! exposure's and visit's time span, stored beside the image metadata in `efd_<instrument>`.
//!
//! - [`config`] reads Rubin's per-instrument configs (`topic/field → function → column`);
//! - [`schema`] derives the tables they imply;
//! - [`source`] reads telemetry from InfluxDB 1.x (the EFD's own store) or from CSV exports,
//!   one query per topic and time window;
//! - [`stats`] holds the summary functions;
//! - [`transform`] summarises the exposures and visits of a window;
//! - [`scheduler`] keeps the windows' state (pending … completed) and runs them.
//!
//! Times: ConsDB's `obs_start`/`obs_end` are TAI; the EFD's sample times are UTC. Intervals
//! are converted to UTC nanoseconds once, here, so summaries line up with the images.

pub mod config;
pub mod scheduler;
pub mod schema;
pub mod source;
pub mod stats;
pub mod transform;

pub use config::{ColumnSpec, EfdConfig, Function, Target};
pub use source::{FileSource, Frame, InfluxSource, Source};

/// What can go wrong in the EFD transformation.
#[derive(Debug, thiserror::Error)]
pub enum EfdError {
    /// The config cannot be used; `column` names the column at fault (empty: the file).
    #[error("transformed-EFD config{}: {reason}", if column.is_empty() { String::new() } else { format!(", column {column}") })]
    Config {
        /// The column at fault.
        column: String,
        /// Why.
        reason: String,
    },
    /// The telemetry source failed (down, refused the query, sent something unreadable).
    #[error("EFD source {source_name}: {reason}")]
    Source {
        /// Which source.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The archive's database failed.
    #[error("database: {0}")]
    Store(String),
    /// A request that cannot be met (unknown column, bad time range…).
    #[error("{0}")]
    Usage(String),
}

impl From<skyport_store::StoreError> for EfdError {
    fn from(e: skyport_store::StoreError) -> EfdError {
        EfdError::Store(e.to_string())
    }
}

/// Nanoseconds since 1970-01-01 UTC of a TAI date-time written `YYYY-MM-DD[T ]HH:MM:SS[.f]`.
pub fn tai_text_to_utc_ns(text: &str) -> Option<i64> {
    let naive = crate::convert::parse_iso(text)?;
    let tai_ns = naive.and_utc().timestamp_nanos_opt()?;
    // TAI − UTC at that instant (37 s since 2017).
    let epoch = hifitime::Epoch::from_unix_seconds(tai_ns as f64 / 1e9);
    let leap = epoch.leap_seconds(true).unwrap_or(0.0);
    Some(tai_ns - (leap * 1e9).round() as i64)
}

/// Nanoseconds since 1970-01-01 UTC of a UTC date-time (`YYYY-MM-DD[T ]HH:MM:SS[.f][Z]`).
pub fn utc_text_to_ns(text: &str) -> Option<i64> {
    crate::convert::parse_iso(text)?
        .and_utc()
        .timestamp_nanos_opt()
}

/// A UTC instant as `YYYY-MM-DDTHH:MM:SS.ffffff` (how the scheduler stores its times).
pub fn ns_to_utc_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tai_is_37_seconds_ahead_of_utc_since_2017() {
        let utc = utc_text_to_ns("2025-12-01T05:01:03.250").expect("utc");
        assert_eq!(tai_text_to_utc_ns("2025-12-01T05:01:40.250"), Some(utc));
        // 2012 (before the 2012-07-01 leap second): 34 s.
        let utc = utc_text_to_ns("2012-03-01 00:00:00").expect("utc");
        assert_eq!(tai_text_to_utc_ns("2012-03-01T00:00:34"), Some(utc));
    }
}
