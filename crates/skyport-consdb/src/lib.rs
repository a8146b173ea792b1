//! The image-metadata domain of skyport: turning FITS files and their headers into the
//! archive's records, the consolidated database (ConsDB: Rubin's schemas, their history, the
//! operations of its REST API), and engineering telemetry summarised per exposure and visit
//! (the transformed EFD, [`efd`]).

pub mod catalog;
pub mod consistency;
pub mod convert;
pub mod efd;
pub mod error;
pub mod export;
pub mod flex;
pub mod headers;
pub mod ingest;
pub mod obscore_values;
mod observation;
pub mod obslog;
pub mod obsplan;
pub mod schemas;
pub mod service;
pub mod vocabulary;
pub mod write;

pub use error::ConsDbError;
pub use ingest::{
    band_of_range, build_record, build_record_of, default_bands, is_fits_name, Band, DataRoot,
    IngestError, IngestSettings,
};
pub use service::{BulkBatch, ConsDb, Inserted, Target};
