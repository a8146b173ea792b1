//! The regions DALI parameters describe (SIA `POS`, SODA `CIRCLE`, `POLYGON` and `POS`): a
//! circle, a polygon with great-circle edges, or a longitude/latitude range, whose edges along
//! parallels are not great circles and so is no [`Shape`]. SIA searches and SODA cutouts both
//! take a `Region`; its circle and polygon are tested exactly through [`Shape`].

use crate::{angular_separation, Polygon, Shape, SkyPoint};

/// A region of the sky given as a DALI parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// A circle; radius in degrees, in (0, 180].
    Circle {
        /// Centre.
        center: SkyPoint,
        /// Radius in degrees.
        radius: f64,
    },
    /// A polygon with great-circle edges.
    Polygon(Polygon),
    /// A longitude/latitude range (`POS=RANGE`): meridian and parallel edges. The longitudes run
    /// east from `lon_min` for `lon_span` degrees (so it may cross RA = 0).
    Range {
        /// Western longitude, in [0, 360).
        lon_min: f64,
        /// Width in longitude, in (0, 360].
        lon_span: f64,
        /// Southern latitude.
        lat_min: f64,
        /// Northern latitude.
        lat_max: f64,
    },
}

impl Region {
    /// True when `p` is inside the region or on its outline.
    pub fn contains(&self, p: SkyPoint) -> bool {
        match self {
            Region::Circle { center, radius } => angular_separation(*center, p) <= *radius,
            Region::Polygon(poly) => Shape::Point(p).within(&Shape::Polygon(poly.clone())),
            Region::Range {
                lon_min,
                lon_span,
                lat_min,
                lat_max,
            } => {
                (*lat_min..=*lat_max).contains(&p.dec)
                    && ((p.ra - lon_min).rem_euclid(360.0) <= *lon_span || *lon_span >= 360.0)
            }
        }
    }

    /// A point in the region (the centre of a circle or range, a polygon's centroid).
    pub fn center(&self) -> SkyPoint {
        match self {
            Region::Circle { center, .. } => *center,
            Region::Polygon(p) => Shape::Polygon(p.clone()).centroid(),
            Region::Range {
                lon_min,
                lon_span,
                lat_min,
                lat_max,
            } => SkyPoint {
                ra: (lon_min + lon_span / 2.0).rem_euclid(360.0),
                dec: (lat_min + lat_max) / 2.0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ra: f64, dec: f64) -> SkyPoint {
        SkyPoint { ra, dec }
    }

    #[test]
    fn a_range_across_ra_zero_holds_both_sides_and_nothing_else() {
        let r = Region::Range {
            lon_min: 350.0,
            lon_span: 20.0,
            lat_min: -5.0,
            lat_max: 5.0,
        };
        assert!(r.contains(point(355.0, 0.0)) && r.contains(point(5.0, 4.9)));
        assert!(!r.contains(point(15.0, 0.0)) && !r.contains(point(0.0, 6.0)));
        assert_eq!(r.center(), point(0.0, 0.0));
        let all = Region::Range {
            lon_min: 0.0,
            lon_span: 360.0,
            lat_min: 80.0,
            lat_max: 90.0,
        };
        assert!(all.contains(point(123.0, 85.0)) && !all.contains(point(123.0, 79.0)));
    }

    #[test]
    fn circles_and_polygons_are_tested_exactly() {
        let c = Region::Circle {
            center: point(10.0, 20.0),
            radius: 1.0,
        };
        assert!(c.contains(point(10.0, 20.99)) && !c.contains(point(10.0, 21.01)));
        let square = Polygon::new(vec![
            point(0.0, 0.0),
            point(1.0, 0.0),
            point(1.0, 1.0),
            point(0.0, 1.0),
        ])
        .expect("a square");
        let p = Region::Polygon(square);
        assert!(p.contains(point(0.5, 0.5)) && !p.contains(point(1.5, 0.5)));
    }
}
