//! The image-metadata domain of skyport: turning FITS files (and later headers, pipeline
//! metrics and telemetry summaries) into the archive's records, and the consolidated database
//! (ConsDB): Rubin's schemas, their history, and the operations of its REST API.

pub mod catalog;
pub mod consistency;
pub mod convert;
pub mod efd;
pub mod error;
pub mod export;
pub mod flex;
pub mod headers;
pub mod ingest;
mod observation;
pub mod schemas;
pub mod service;
pub mod vocabulary;
pub mod write;

pub use error::ConsDbError;
pub use ingest::{
    build_record, default_bands, is_fits_name, Band, DataRoot, IngestError, IngestSettings,
};
pub use service::{ConsDb, Inserted, Target};
