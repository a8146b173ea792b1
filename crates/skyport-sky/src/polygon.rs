//! Spherical polygons (great-circle edges) and circles.
//!
//! Orientation follows DALI 1.1 §3.3.7: vertices run counter-clockwise *as seen from the origin
//! looking out at the sky*. On a sky chart drawn the way the sky looks (north up, east left) the
//! vertices go anticlockwise. In vector terms, for a small convex polygon with centre `c`,
//! `Σ (vᵢ × vᵢ₊₁) · c < 0`.

use crate::vector::{separation, SkyPoint, Vec3};
use crate::SkyError;

/// A circle on the sky: centre and radius in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyCircle {
    /// Centre.
    pub center: SkyPoint,
    /// Radius in degrees.
    pub radius: f64,
}

/// A spherical polygon whose edges are great-circle arcs, stored counter-clockwise (DALI).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    vertices: Vec<SkyPoint>,
    /// The vertices as unit vectors, in the same order: every test of the polygon works on
    /// these, and a polygon read from a row (an `s_region` under a SIA query) is tested once
    /// or twice, so their sines and cosines were most of its cost when each test made them.
    units: Vec<Vec3>,
}

impl Polygon {
    /// Builds a polygon from at least three vertices, reordering them to the DALI orientation.
    ///
    /// Consecutive duplicate vertices are dropped. The polygon must be smaller than a hemisphere
    /// (every image footprint is).
    pub fn new(vertices: Vec<SkyPoint>) -> Result<Polygon, SkyError> {
        let mut v: Vec<SkyPoint> = Vec::with_capacity(vertices.len());
        let mut units: Vec<Vec3> = Vec::with_capacity(vertices.len());
        for p in vertices {
            let unit = p.to_vec3();
            if units.last().is_none_or(|q| separation(*q, unit) > 1e-12) {
                v.push(p);
                units.push(unit);
            }
        }
        while units.len() > 1 && separation(units[0], units[units.len() - 1]) <= 1e-12 {
            v.pop();
            units.pop();
        }
        if v.len() < 3 {
            return Err(SkyError::InvalidPolygon(format!(
                "needs at least 3 distinct vertices, got {}",
                v.len()
            )));
        }
        let signed = signed_turn(&units).ok_or_else(|| {
            SkyError::InvalidPolygon("vertices are collinear or span the sky".into())
        })?;
        if signed > 0.0 {
            v.reverse();
            units.reverse();
        }
        Ok(Polygon { vertices: v, units })
    }

    /// The vertices, counter-clockwise as seen from the origin.
    pub fn vertices(&self) -> &[SkyPoint] {
        &self.vertices
    }

    /// The vertices as unit vectors, in the order of [`Polygon::vertices`].
    pub fn units(&self) -> &[Vec3] {
        &self.units
    }

    /// The normalised mean of the vertex vectors: a point inside any small convex polygon.
    pub fn centroid(&self) -> SkyPoint {
        let sum = self.units.iter().fold(
            Vec3 {
                x: 0.0,
                y: 0.0,
                z: 0.0,
            },
            |acc, u| acc + *u,
        );
        sum.normalized().map_or(self.vertices[0], Vec3::to_point)
    }

    /// The smallest circle around the centroid that holds every vertex.
    ///
    /// Edges of a footprint are short great-circle arcs, so a circle holding the vertices holds
    /// the edges too, up to the arcs' sagitta, which is negligible for images.
    pub fn bounding_circle(&self) -> SkyCircle {
        let center = self.centroid();
        let towards = center.to_vec3();
        let radius = self
            .units
            .iter()
            .map(|u| separation(towards, *u))
            .fold(0.0, f64::max);
        SkyCircle { center, radius }
    }

    /// STC-S form as ObsCore `s_region` uses it: `POLYGON ICRS ra1 dec1 ra2 dec2 …`.
    pub fn to_stcs(&self) -> String {
        let mut s = String::from("POLYGON ICRS");
        for p in &self.vertices {
            s.push_str(&format!(" {} {}", fmt_coord(p.ra), fmt_coord(p.dec)));
        }
        s
    }

    /// DALI polygon array: `[ra1, dec1, ra2, dec2, …]`.
    pub fn to_dali(&self) -> Vec<f64> {
        self.vertices.iter().flat_map(|p| [p.ra, p.dec]).collect()
    }
}

/// Shortest text that round-trips at the precision that matters (1e-10 degree ≈ 0.4 µas).
pub fn fmt_coord(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `Σ (vᵢ × vᵢ₊₁) · c`: negative for the DALI orientation. `None` when degenerate.
fn signed_turn(vecs: &[Vec3]) -> Option<f64> {
    let center = vecs
        .iter()
        .fold(
            Vec3 {
                x: 0.0,
                y: 0.0,
                z: 0.0,
            },
            |a, b| a + *b,
        )
        .normalized()?;
    let (mut sum, mut magnitude) = (0.0, 0.0);
    for i in 0..vecs.len() {
        let edge = vecs[i].cross(vecs[(i + 1) % vecs.len()]);
        sum += edge.dot(center);
        magnitude += edge.norm();
    }
    // Judged against the size of the edges, not an absolute bound below their rounding noise,
    // nor the size of the terms themselves (for vertices on one great circle every term is
    // rounding noise, and noise against noise may pass): otherwise a polygon that doubles back
    // or lies on one great circle could be accepted in one vertex order and refused in the
    // order skyport prints it.
    (sum.abs() > 1e-18 && sum.abs() > 1e-12 * magnitude).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::angular_separation;

    fn p(ra: f64, dec: f64) -> SkyPoint {
        SkyPoint::new(ra, dec).expect("valid point")
    }

    /// The unit vectors kept beside the vertices stay in step with them through the dropping of
    /// repeated and closing vertices and the turn to the DALI orientation.
    #[test]
    fn unit_vectors_follow_the_vertices_kept() {
        let clockwise_closed = vec![
            p(1.0, 1.0),
            p(1.0, 1.0),
            p(359.0, 1.0),
            p(359.0, -1.0),
            p(1.0, -1.0),
            p(1.0, 1.0),
        ];
        let poly = Polygon::new(clockwise_closed).expect("valid");
        assert_eq!(poly.vertices().len(), 4);
        assert_eq!(
            poly.vertices()[0],
            p(1.0, -1.0),
            "reversed to run counter-clockwise"
        );
        let from_vertices: Vec<Vec3> = poly.vertices().iter().map(|v| v.to_vec3()).collect();
        assert_eq!(poly.units(), from_vertices.as_slice());
    }

    /// Seen from inside with north up and east (increasing RA) to the left, going from the
    /// bottom-left corner (higher RA) to the bottom-right corner (lower RA) is anticlockwise.
    #[test]
    fn dali_orientation_runs_ra_downwards_along_the_bottom_edge() {
        let ccw = vec![p(1.0, -1.0), p(359.0, -1.0), p(359.0, 1.0), p(1.0, 1.0)];
        let poly = Polygon::new(ccw.clone()).expect("valid");
        assert_eq!(
            poly.vertices(),
            ccw.as_slice(),
            "already counter-clockwise: kept as given"
        );
        let mut cw = ccw.clone();
        cw.reverse();
        let poly = Polygon::new(cw).expect("valid");
        assert_eq!(
            poly.vertices(),
            ccw.as_slice(),
            "clockwise input is reversed"
        );
    }

    #[test]
    fn centroid_and_bounds_across_ra_zero() {
        let poly = Polygon::new(vec![
            p(359.0, -1.0),
            p(1.0, -1.0),
            p(1.0, 1.0),
            p(359.0, 1.0),
        ])
        .expect("valid");
        let c = poly.bounding_circle();
        assert!(
            c.center.ra < 1e-9 || c.center.ra > 360.0 - 1e-9,
            "{:?}",
            c.center
        );
        assert!(c.center.dec.abs() < 1e-9);
        let corner = angular_separation(p(0.0, 0.0), p(1.0, 1.0));
        assert!((c.radius - corner).abs() < 1e-9);
    }

    #[test]
    fn polygon_around_the_pole() {
        let poly = Polygon::new(vec![
            p(0.0, 89.0),
            p(90.0, 89.0),
            p(180.0, 89.0),
            p(270.0, 89.0),
        ])
        .expect("valid");
        assert!(poly.centroid().dec > 89.999_999);
        assert!((poly.bounding_circle().radius - 1.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_polygons_are_rejected() {
        assert!(Polygon::new(vec![p(0.0, 0.0), p(1.0, 0.0)]).is_err());
        assert!(Polygon::new(vec![p(0.0, 0.0), p(1.0, 0.0), p(1.0, 0.0), p(0.0, 0.0)]).is_err());
        assert!(Polygon::new(vec![p(0.0, 0.0), p(1.0, 0.0), p(2.0, 0.0)]).is_err());
    }

    #[test]
    fn stcs_text() {
        let poly = Polygon::new(vec![
            p(10.5, -1.0),
            p(10.0, -1.0),
            p(10.0, 1.25),
            p(10.5, 1.25),
        ])
        .expect("valid");
        assert_eq!(
            poly.to_stcs(),
            "POLYGON ICRS 10.5 -1 10 -1 10 1.25 10.5 1.25"
        );
        assert_eq!(poly.to_dali().len(), 8);
    }
}
