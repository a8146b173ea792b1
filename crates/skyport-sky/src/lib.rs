//! Spherical geometry for skyport: positions on the celestial sphere, polygons (footprints),
//! their orientation, bounding circles, the regions DALI parameters describe, and their text
//! forms (STC-S, DALI arrays).
//!
//! All angles are in degrees at the API; internally unit vectors carry the geometry so that
//! nothing breaks at RA = 0/360 or at the poles. The crate is pure: no I/O, no clock.

mod coverage;
mod polygon;
mod region;
mod shape;
mod vector;

pub use coverage::{
    mjd_to_microseconds, MocError, Observed, SpaceMoc, SpaceTimeMoc, MAX_SPACE_ORDER,
    MAX_TIME_ORDER,
};
pub use polygon::{fmt_coord, Polygon, SkyCircle};
pub use region::Region;
pub use shape::{parse_dali, parse_stcs, DaliKind, Shape};
pub use vector::{angular_separation, SkyPoint, Vec3};

/// Errors from building geometry out of numbers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SkyError {
    /// A coordinate is NaN, infinite or out of range.
    #[error("invalid coordinate: {0}")]
    InvalidCoordinate(String),
    /// A polygon with fewer than three distinct vertices, or one that is degenerate.
    #[error("invalid polygon: {0}")]
    InvalidPolygon(String),
}
