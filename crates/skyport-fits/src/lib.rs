//! FITS for skyport: header cards, image HDUs (plain and tile-compressed) through cfitsio,
//! world coordinates with SIP, and writing tile-compressed multi-extension files.
//!
//! [`header`] and [`wcs`] are pure; [`file`] and [`preview`] touch files through cfitsio.

pub mod bintable;
pub mod cancel;
pub mod cutout;
pub mod file;
pub mod header;
mod local_box;
pub mod preview;
pub mod region;
pub mod remote;
pub mod wcs;

pub use cancel::{Cancel, CancelOnDrop, Cancelled};
pub use cutout::{
    read_header, write_cutout, write_table, Column, Compression, CutoutSpec, Written,
};
pub use file::{
    copy_hdu, read_region_f32, read_summary, write_mef, FitsError, FitsSummary, HduKind,
    HduSummary, PlaneData, PlaneRole, PlaneSpec,
};
pub use header::{format_card, parse_card, Card, Header, HeaderError, HeaderValue};
pub use region::{pixel_box, pixel_box_within, CutoutRegion, PixelBox};
pub use wcs::{Wcs, WcsError};
