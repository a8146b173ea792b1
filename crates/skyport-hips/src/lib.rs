//! HiPS (IVOA HiPS 1.0) sky maps of the archive's collections, built from its own images and
//! kept current as images arrive.
//!
//! - [`source`]: the images a HiPS is made of (one collection and band, released images).
//! - [`build`]: building a HiPS whole, or only where images changed.
//! - [`tile`]: where each tile and pixel is on the sky.
//! - [`resample`]: an image's values at tile pixels, and how overlaps combine.
//! - [`fits_tile`], [`render`], [`properties`]: the files a HiPS is made of.
//! - [`layout`]: versions on disk, published whole.

pub mod build;
pub mod fits_tile;
pub mod layout;
pub mod properties;
pub mod render;
pub mod resample;
pub mod source;
pub mod tile;

use std::path::PathBuf;

pub use build::{build, current_manifest, BuildSettings, Manifest, Report};
pub use layout::Layout;
pub use source::{release_dates, released_images, HipsKey, SourceEntry};

/// Why a HiPS could not be built, updated or read.
#[derive(Debug, thiserror::Error)]
pub enum HipsError {
    /// A tile file that cannot be read.
    #[error("{path}: {reason}")]
    Tile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An image that cannot be read.
    #[error("{path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Settings that cannot be used.
    #[error("{reason}")]
    Settings {
        /// Why.
        reason: String,
    },
    /// A PNG could not be made.
    #[error("rendering a PNG tile: {reason}")]
    Render {
        /// Why.
        reason: String,
    },
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
