//! The image-metadata domain of skyport: turning FITS files (and later headers, pipeline
//! metrics and telemetry summaries) into the archive's records.

pub mod ingest;
pub mod schemas;

pub use ingest::{
    build_record, default_bands, is_fits_name, Band, DataRoot, IngestError, IngestSettings,
};
