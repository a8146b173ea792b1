//! ADQL's geometries on the sphere — points, circles, polygons (and BOX, which is a polygon) —
//! with the predicates and measures ADQL defines on them: CONTAINS (inside or on the boundary),
//! INTERSECTS, AREA (square degrees), CENTROID. Everything is computed on unit vectors, so
//! RA = 0/360 and the poles are ordinary places.
//!
//! **BOX semantics.** ADQL 2.1 (§4.2.3) defines BOX by its centre and full width and height,
//! with great-circle edges. skyport builds it as the 4-vertex polygon whose edges are the great
//! circles perpendicular to the box's two arms (the great circles through the centre running
//! east and north) at half the width and half the height from the centre. This is not the
//! lat/lon box of pgsphere's `sbox`: near the poles the two differ greatly, and skyport's box
//! is the same shape wherever it is placed.
//!
//! **Polygon interior.** Vertices may be given in either order; the interior is the smaller side
//! (the polygon must be smaller than a hemisphere), as pgsphere does.

use crate::polygon::{fmt_coord, Polygon};
use crate::vector::{angular_separation, SkyPoint, Vec3};
use crate::SkyError;

/// A geometry value.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A position.
    Point(SkyPoint),
    /// A circle (radius in degrees, 0 ≤ r ≤ 180).
    Circle {
        /// Centre.
        center: SkyPoint,
        /// Radius in degrees.
        radius: f64,
    },
    /// A polygon with great-circle edges (also what BOX makes).
    Polygon(Polygon),
}

/// Tolerance in vector space for "on the boundary" (about 2e-10 degrees).
const EPS: f64 = 1e-12;

fn zero() -> Vec3 {
    Vec3 {
        x: 0.0,
        y: 0.0,
        z: 0.0,
    }
}

fn scale(v: Vec3, k: f64) -> Vec3 {
    Vec3 {
        x: v.x * k,
        y: v.y * k,
        z: v.z * k,
    }
}

fn neg(v: Vec3) -> Vec3 {
    scale(v, -1.0)
}

/// Angle between two unit vectors in radians, accurate at all angles.
fn angle(a: Vec3, b: Vec3) -> f64 {
    a.cross(b).norm().atan2(a.dot(b))
}

impl Shape {
    /// A circle; the radius must be in [0, 180] degrees.
    pub fn circle(center: SkyPoint, radius: f64) -> Result<Shape, SkyError> {
        if !radius.is_finite() || !(0.0..=180.0).contains(&radius) {
            return Err(SkyError::InvalidCoordinate(format!(
                "circle radius {radius} is outside [0, 180] degrees"
            )));
        }
        Ok(Shape::Circle { center, radius })
    }

    /// ADQL's BOX: centre, full width (along the east arm) and full height (along the north arm),
    /// in degrees; both in (0, 180). See the module documentation for the exact shape.
    pub fn box_shape(center: SkyPoint, width: f64, height: f64) -> Result<Shape, SkyError> {
        for (what, v) in [("width", width), ("height", height)] {
            if !v.is_finite() || v <= 0.0 || v >= 180.0 {
                return Err(SkyError::InvalidCoordinate(format!(
                    "box {what} {v} is outside (0, 180) degrees"
                )));
            }
        }
        let c = center.to_vec3();
        let (east, north) = center.east_north();
        let (hw, hh) = ((width / 2.0).to_radians(), (height / 2.0).to_radians());
        // Each edge is the great circle through the point half a size out along one arm,
        // perpendicular to that arm there: its plane holds that point and the other arm.
        let edge_normal = |arm: Vec3, other: Vec3, half: f64| {
            (scale(c, half.cos()) + scale(arm, half.sin())).cross(other)
        };
        let n_north = edge_normal(north, east, hh);
        let n_south = edge_normal(neg(north), east, hh);
        let n_east = edge_normal(east, north, hw);
        let n_west = edge_normal(neg(east), north, hw);
        let corner = |a: Vec3, b: Vec3| -> Result<SkyPoint, SkyError> {
            let d = a
                .cross(b)
                .normalized()
                .ok_or_else(|| SkyError::InvalidPolygon("degenerate box".into()))?;
            Ok(if d.dot(c) >= 0.0 { d } else { neg(d) }.to_point())
        };
        let vertices = vec![
            corner(n_north, n_east)?,
            corner(n_north, n_west)?,
            corner(n_south, n_west)?,
            corner(n_south, n_east)?,
        ];
        Ok(Shape::Polygon(Polygon::new(vertices)?))
    }

    /// A polygon from vertices (either orientation).
    pub fn polygon(vertices: Vec<SkyPoint>) -> Result<Shape, SkyError> {
        Ok(Shape::Polygon(Polygon::new(vertices)?))
    }

    /// ADQL AREA in square degrees (0 for a point).
    pub fn area(&self) -> f64 {
        let sr = match self {
            Shape::Point(_) => 0.0,
            Shape::Circle { radius, .. } => {
                2.0 * std::f64::consts::PI * (1.0 - radius.to_radians().cos())
            }
            Shape::Polygon(p) => polygon_triangles(p).map(|(e, _)| e).sum::<f64>().abs(),
        };
        sr * (180.0 / std::f64::consts::PI).powi(2)
    }

    /// ADQL CENTROID: the point itself, the circle's centre, or the polygon's area-weighted
    /// centre.
    pub fn centroid(&self) -> SkyPoint {
        match self {
            Shape::Point(p) => *p,
            Shape::Circle { center, .. } => *center,
            Shape::Polygon(p) => {
                let sum = polygon_triangles(p).fold(zero(), |acc, (e, mid)| acc + scale(mid, e));
                // The excesses carry the orientation's sign: the centroid is on the side of
                // the polygon's own centre, whichever way the vertices run.
                let inside = p.centroid().to_vec3();
                let sum = if sum.dot(inside) < 0.0 { neg(sum) } else { sum };
                sum.normalized().map_or(p.centroid(), Vec3::to_point)
            }
        }
    }

    /// ADQL CONTAINS(self, other): is `self` inside `other` or on its boundary.
    pub fn within(&self, other: &Shape) -> bool {
        match (self, other) {
            (Shape::Point(a), Shape::Point(b)) => angular_separation(*a, *b) <= 1e-10,
            (Shape::Point(p), Shape::Circle { center, radius }) => {
                in_cap(p.to_vec3(), center.to_vec3(), *radius)
            }
            (Shape::Point(p), Shape::Polygon(poly)) => point_in_polygon(p.to_vec3(), poly),
            (Shape::Circle { center, radius }, Shape::Point(p)) => {
                *radius <= 1e-10 && angular_separation(*center, *p) <= 1e-10
            }
            (Shape::Polygon(_), Shape::Point(_)) => false,
            (
                Shape::Circle {
                    center: c1,
                    radius: r1,
                },
                Shape::Circle {
                    center: c2,
                    radius: r2,
                },
            ) => angular_separation(*c1, *c2) + r1 <= r2 + 1e-10,
            (Shape::Circle { center, radius }, Shape::Polygon(poly)) => {
                let c = center.to_vec3();
                point_in_polygon(c, poly)
                    && edges(poly)
                        .all(|(a, b)| distance_to_arc(c, a, b) + 1e-12 >= radius.to_radians())
            }
            (Shape::Polygon(poly), Shape::Circle { center, radius }) => {
                let c = center.to_vec3();
                if *radius <= 90.0 {
                    // A cap no larger than a hemisphere is convex: holding the vertices, it
                    // holds the edges.
                    poly.units().iter().all(|v| in_cap(*v, c, *radius))
                } else {
                    // Otherwise the polygon must keep out of the (convex) complement.
                    let complement = Shape::Circle {
                        center: neg(c).to_point(),
                        radius: (180.0 - radius - 1e-9).max(0.0),
                    };
                    !Shape::Polygon(poly.clone()).intersects(&complement)
                }
            }
            (Shape::Polygon(a), Shape::Polygon(b)) => {
                a.units().iter().all(|v| point_in_polygon(*v, b))
                    && !edges(a)
                        .any(|(p, q)| edges(b).any(|(r, s)| arcs_cross_properly(p, q, r, s)))
            }
        }
    }

    /// ADQL INTERSECTS(self, other): do the two share at least one point.
    pub fn intersects(&self, other: &Shape) -> bool {
        match (self, other) {
            (Shape::Point(_), _) => self.within(other),
            (_, Shape::Point(_)) => other.within(self),
            (
                Shape::Circle {
                    center: c1,
                    radius: r1,
                },
                Shape::Circle {
                    center: c2,
                    radius: r2,
                },
            ) => angular_separation(*c1, *c2) <= r1 + r2 + 1e-10,
            (Shape::Circle { center, radius }, Shape::Polygon(poly))
            | (Shape::Polygon(poly), Shape::Circle { center, radius }) => {
                let c = center.to_vec3();
                vertex_well_inside(c, radius.to_radians(), poly)
                    || circle_meets_polygon(c, radius.to_radians(), poly)
            }
            (Shape::Polygon(a), Shape::Polygon(b)) => {
                a.units().iter().any(|v| point_in_polygon(*v, b))
                    || b.units().iter().any(|v| point_in_polygon(*v, a))
                    || edges(a).any(|(p, q)| edges(b).any(|(r, s)| arcs_cross(p, q, r, s)))
            }
        }
    }

    /// An axis-aligned box in unit-vector space (x, y, z) holding the whole shape:
    /// `[min_x, max_x, min_y, max_y, min_z, max_z]`. Used as an R*Tree key: two shapes whose
    /// boxes do not overlap cannot intersect.
    pub fn bounding_box(&self) -> [f64; 6] {
        let (c, r) = match self {
            Shape::Point(p) => (p.to_vec3(), 0.0),
            Shape::Circle { center, radius } => (center.to_vec3(), *radius),
            Shape::Polygon(p) => {
                let b = p.bounding_circle();
                (b.center.to_vec3(), b.radius)
            }
        };
        let pad = 1e-9;
        if r >= 90.0 && !matches!(self, Shape::Circle { .. }) {
            return [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0];
        }
        let r = r.to_radians();
        let mut out = [0.0; 6];
        for (i, ci) in [c.x, c.y, c.z].into_iter().enumerate() {
            let theta = ci.clamp(-1.0, 1.0).acos();
            let hi = (theta - r).max(0.0).cos();
            let lo = (theta + r).min(std::f64::consts::PI).cos();
            out[2 * i] = (lo - pad).max(-1.0);
            out[2 * i + 1] = (hi + pad).min(1.0);
        }
        out
    }
}

fn in_cap(p: Vec3, center: Vec3, radius_deg: f64) -> bool {
    angle(p, center) <= radius_deg.to_radians() + 1e-12
}

fn edges(p: &Polygon) -> impl Iterator<Item = (Vec3, Vec3)> + '_ {
    let v = p.units();
    (0..v.len()).map(move |i| (v[i], v[(i + 1) % v.len()]))
}

/// The triangles (centroid, vᵢ, vᵢ₊₁): signed spherical excess (steradians) and mid-direction.
fn polygon_triangles(p: &Polygon) -> impl Iterator<Item = (f64, Vec3)> + '_ {
    let c = p.centroid().to_vec3();
    edges(p).map(move |(a, b)| {
        // Van Oosterom & Strackee: tan(E/2) = c·(a×b) / (1 + c·a + a·b + b·c).
        let num = c.dot(a.cross(b));
        let den = 1.0 + c.dot(a) + a.dot(b) + b.dot(c);
        let e = 2.0 * num.atan2(den);
        let mid = (c + a + b).normalized().unwrap_or(c);
        (e, mid)
    })
}

/// True when `x` (on the great circle through a and b, normal n = a×b) lies on the arc a→b.
fn on_arc(x: Vec3, a: Vec3, b: Vec3, n: Vec3) -> bool {
    a.cross(x).dot(n) >= -EPS && x.cross(b).dot(n) >= -EPS
}

/// Do the arcs a→b and c→d share a point (touching counts).
fn arcs_cross(a: Vec3, b: Vec3, c: Vec3, d: Vec3) -> bool {
    let n1 = a.cross(b);
    let n2 = c.cross(d);
    let (sc, sd) = (n1.dot(c), n1.dot(d));
    let (sa, sb) = (n2.dot(a), n2.dot(b));
    if (sc > EPS && sd > EPS) || (sc < -EPS && sd < -EPS) {
        return false;
    }
    if (sa > EPS && sb > EPS) || (sa < -EPS && sb < -EPS) {
        return false;
    }
    match n1.cross(n2).normalized() {
        Some(t) => {
            (on_arc(t, a, b, n1) && on_arc(t, c, d, n2))
                || (on_arc(neg(t), a, b, n1) && on_arc(neg(t), c, d, n2))
        }
        // Same great circle: they overlap when an end of one lies on the other.
        None => {
            on_arc(c, a, b, n1) || on_arc(d, a, b, n1) || on_arc(a, c, d, n1) || on_arc(b, c, d, n1)
        }
    }
}

/// Do the arcs cross at a point interior to both (not merely touch).
fn arcs_cross_properly(a: Vec3, b: Vec3, c: Vec3, d: Vec3) -> bool {
    let n1 = a.cross(b);
    let n2 = c.cross(d);
    n1.dot(c) * n1.dot(d) < -EPS * EPS
        && n2.dot(a) * n2.dot(b) < -EPS * EPS
        && arcs_cross(a, b, c, d)
}

/// Whether the circle around `c` of `radius` (radians) and `poly` share a point: the centre is
/// in the polygon, or an edge passes within the radius.
fn circle_meets_polygon(c: Vec3, radius: f64, poly: &Polygon) -> bool {
    point_in_polygon(c, poly)
        || edges(poly).any(|(a, b)| distance_to_arc(c, a, b) <= radius + 1e-12)
}

/// Whether a vertex of `poly` lies inside the circle around `c` of `radius` (radians) by more
/// than rounding could blur: the polygon then meets the circle, which is what most rows a cone
/// search finds are told by, without the edges' arcsines and arctangents. "No" decides nothing.
/// Radii under 1e-6 rad, where a dot product near 1 cannot tell the angle to 1e-9, answer "no".
fn vertex_well_inside(c: Vec3, radius: f64, poly: &Polygon) -> bool {
    const MARGIN: f64 = 1e-9;
    if !(1e-6..std::f64::consts::PI).contains(&radius) {
        return false;
    }
    let threshold = (radius - MARGIN).cos();
    poly.units().iter().any(|v| c.dot(*v) > threshold)
}

/// Angular distance (radians) from p to the arc a→b.
fn distance_to_arc(p: Vec3, a: Vec3, b: Vec3) -> f64 {
    let n = a.cross(b);
    if let Some(nh) = n.normalized() {
        let along = p + scale(nh, -nh.dot(p));
        if let Some(foot) = along.normalized() {
            if on_arc(foot, a, b, n) {
                return nh.dot(p).abs().clamp(0.0, 1.0).asin();
            }
        }
    }
    angle(p, a).min(angle(p, b))
}

/// Point in polygon, boundary included. The polygon's vertices run counter-clockwise as seen
/// from the origin, so an interior point of a convex polygon has (vᵢ × vᵢ₊₁)·p ≤ 0 for every
/// edge; for non-convex polygons, crossings of the arc from p to a point outside are counted.
fn point_in_polygon(p: Vec3, poly: &Polygon) -> bool {
    if edges(poly).any(|(a, b)| distance_to_arc(p, a, b) <= 1e-12) {
        return true;
    }
    if is_convex(poly) {
        return edges(poly).all(|(a, b)| a.cross(b).dot(p) <= EPS);
    }
    let outside = neg(poly.centroid().to_vec3());
    if angle(p, outside) < 1e-9 {
        return false;
    }
    // The arc from p to `outside` must be under 180°, which holds unless p is `outside`.
    let crossings = edges(poly)
        .filter(|(a, b)| arcs_cross(p, outside, *a, *b))
        .count();
    crossings % 2 == 1
}

fn is_convex(poly: &Polygon) -> bool {
    let v = poly.units();
    let n = v.len();
    (0..n).all(|i| {
        let (a, b, c) = (v[i], v[(i + 1) % n], v[(i + 2) % n]);
        a.cross(b).dot(c) <= EPS
    })
}

/// Parses the DALI text form of a geometry: `ra dec` (point), `ra dec r` (circle), or
/// `ra1 dec1 ra2 dec2 ra3 dec3 …` (polygon), as ADQL's `CAST(… AS POINT)` reads.
pub fn parse_dali(kind: DaliKind, text: &str) -> Result<Shape, SkyError> {
    let nums = text
        .split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .map_err(|_| SkyError::InvalidCoordinate(format!("`{t}` is not a number")))
        })
        .collect::<Result<Vec<f64>, _>>()?;
    match (kind, nums.as_slice()) {
        (DaliKind::Point, [ra, dec]) => Ok(Shape::Point(SkyPoint::new(*ra, *dec)?)),
        (DaliKind::Circle, [ra, dec, r]) => Shape::circle(SkyPoint::new(*ra, *dec)?, *r),
        (DaliKind::Polygon, v) if v.len() >= 6 && v.len() % 2 == 0 => Shape::polygon(
            v.chunks(2)
                .map(|c| SkyPoint::new(c[0], c[1]))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => Err(SkyError::InvalidCoordinate(format!(
            "`{text}` is not a DALI {kind:?}"
        ))),
    }
}

/// Which DALI geometry a text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaliKind {
    /// `ra dec`.
    Point,
    /// `ra dec radius`.
    Circle,
    /// `ra1 dec1 ra2 dec2 ra3 dec3 …`.
    Polygon,
}

impl Shape {
    /// The DALI array: `[ra, dec]`, `[ra, dec, r]` or `[ra1, dec1, …]`.
    pub fn to_dali(&self) -> Vec<f64> {
        match self {
            Shape::Point(p) => vec![p.ra, p.dec],
            Shape::Circle { center, radius } => vec![center.ra, center.dec, *radius],
            Shape::Polygon(p) => p.to_dali(),
        }
    }

    /// The DALI text: the array's numbers separated by spaces (shortest exact decimal form).
    pub fn to_dali_text(&self) -> String {
        let mut s = String::new();
        for (i, x) in self.to_dali().iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            // `{}` prints the shortest decimal that reads back to the same f64.
            s.push_str(&format!("{}", if *x == 0.0 { 0.0 } else { *x }));
        }
        s
    }

    /// STC-S text, as ObsCore `s_region` holds it (polygons as `Polygon::to_stcs` writes them).
    pub fn to_stcs(&self) -> String {
        match self {
            Shape::Point(p) => format!("POSITION ICRS {} {}", fmt_coord(p.ra), fmt_coord(p.dec)),
            Shape::Circle { center, radius } => format!(
                "CIRCLE ICRS {} {} {}",
                fmt_coord(center.ra),
                fmt_coord(center.dec),
                fmt_coord(*radius)
            ),
            Shape::Polygon(p) => p.to_stcs(),
        }
    }

    /// A compact binary form for passing geometries between SQL functions: a tag byte
    /// (1 point, 2 circle, 3 polygon) and the DALI numbers as little-endian f64.
    pub fn encode(&self) -> Vec<u8> {
        let tag = match self {
            Shape::Point(_) => 1u8,
            Shape::Circle { .. } => 2,
            Shape::Polygon(_) => 3,
        };
        let nums = self.to_dali();
        let mut out = Vec::with_capacity(1 + 8 * nums.len());
        out.push(tag);
        for x in nums {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    /// Reads [`Shape::encode`]'s form back.
    pub fn decode(bytes: &[u8]) -> Result<Shape, SkyError> {
        let bad = || SkyError::InvalidCoordinate("not an encoded geometry".into());
        let (&tag, rest) = bytes.split_first().ok_or_else(bad)?;
        if rest.len() % 8 != 0 {
            return Err(bad());
        }
        let nums: Vec<f64> = rest
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b)
            })
            .collect();
        match (tag, nums.as_slice()) {
            (1, [ra, dec]) => Ok(Shape::Point(SkyPoint::new(*ra, *dec)?)),
            (2, [ra, dec, r]) => Shape::circle(SkyPoint::new(*ra, *dec)?, *r),
            (3, v) if v.len() >= 6 && v.len() % 2 == 0 => Shape::polygon(
                v.chunks(2)
                    .map(|c| SkyPoint::new(c[0], c[1]))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => Err(bad()),
        }
    }
}

/// Parses the STC-S subset that ObsCore `s_region` values and ADQL `REGION('…')` literals use:
/// `POSITION`, `CIRCLE`, `BOX` and `POLYGON`, each with an optional frame (ICRS; FK5 and J2000
/// are taken as ICRS, which they match to 0.02″) and reference position. Unions,
/// intersections, negations and other frames are refused with a message saying so.
pub fn parse_stcs(text: &str) -> Result<Shape, SkyError> {
    // Read for every candidate row of a SIA or ADQL region query (its `s_region`), so no word
    // is copied: names are compared without regard to case in place.
    const KINDS: [&str; 4] = ["POSITION", "CIRCLE", "BOX", "POLYGON"];
    const WORDS: [&str; 10] = [
        "ICRS",
        "FK5",
        "J2000",
        "UNKNOWNFRAME",
        "GEOCENTER",
        "BARYCENTER",
        "TOPOCENTER",
        "HELIOCENTER",
        "UNKNOWNREFPOS",
        "SPHERICAL2",
    ];
    let mut words = text.split_whitespace();
    let first = words
        .next()
        .ok_or_else(|| SkyError::InvalidCoordinate("empty STC-S region".into()))?;
    let Some(kind) = KINDS.into_iter().find(|k| k.eq_ignore_ascii_case(first)) else {
        return Err(SkyError::InvalidCoordinate(format!(
            "STC-S `{}` regions are not supported: skyport reads POSITION, CIRCLE, BOX and POLYGON",
            first.to_ascii_uppercase()
        )));
    };
    let mut numbers = Vec::with_capacity(16);
    for w in words {
        if let Ok(x) = w.parse::<f64>() {
            numbers.push(x);
            continue;
        }
        if !numbers.is_empty() {
            return Err(SkyError::InvalidCoordinate(format!(
                "unexpected `{w}` among the coordinates of `{text}`"
            )));
        }
        if !WORDS.iter().any(|known| known.eq_ignore_ascii_case(w)) {
            return Err(SkyError::InvalidCoordinate(format!(
                "STC-S frame or word `{}` is not supported: skyport reads ICRS POSITION, CIRCLE, BOX and POLYGON regions",
                w.to_ascii_uppercase()
            )));
        }
    }
    let point = |i: usize| SkyPoint::new(numbers[i], numbers[i + 1]);
    match (kind, numbers.len()) {
        ("POSITION", 2) => Ok(Shape::Point(point(0)?)),
        ("CIRCLE", 3) => Shape::circle(point(0)?, numbers[2]),
        ("BOX", 4) => Shape::box_shape(point(0)?, numbers[2], numbers[3]),
        ("POLYGON", n) if n >= 6 && n % 2 == 0 => Shape::polygon(
            (0..n)
                .step_by(2)
                .map(point)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        (_, n) => Err(SkyError::InvalidCoordinate(format!(
            "{kind} with {n} numbers is not a valid STC-S region"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so that a failure can be replayed.
    struct Numbers(u64);
    impl Numbers {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn between(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.unit()
        }
    }

    /// The quick "a vertex is inside" answer never differs from the edges' own: circles and
    /// quadrilaterals of many sizes, near each other, across RA 0 and near the poles, with
    /// vertices placed on and just beside the circle's rim.
    #[test]
    fn a_vertex_inside_the_circle_answers_as_the_edges_do() {
        let mut n = Numbers(0x5eed_cafe_f00d_1234);
        let (mut quick, mut cases) = (0, 0);
        for _ in 0..20_000 {
            let dec = n.between(-89.9, 89.9);
            let ra = n.between(-2.0, 2.0).rem_euclid(360.0);
            let size = 10f64.powf(n.between(-5.0, 0.5));
            let corners = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
            let vertices: Vec<SkyPoint> = corners
                .iter()
                .filter_map(|(x, y)| {
                    let d = (dec + y * size * n.between(0.5, 1.0)).clamp(-90.0, 90.0);
                    let r = ra + x * size * n.between(0.5, 1.0) / dec.to_radians().cos().max(0.05);
                    SkyPoint::new(r.rem_euclid(360.0), d).ok()
                })
                .collect();
            let Ok(poly) = Polygon::new(vertices) else {
                continue;
            };
            let centre = SkyPoint::new(
                (ra + n.between(-4.0, 4.0) * size).rem_euclid(360.0),
                (dec + n.between(-4.0, 4.0) * size).clamp(-90.0, 90.0),
            )
            .expect("centre");
            // Radii from far too small to far too large, and exactly a vertex's distance.
            let to_vertex = angle(centre.to_vec3(), poly.vertices()[0].to_vec3()).to_degrees();
            for radius in [
                size * n.between(0.0, 6.0),
                to_vertex,
                to_vertex * (1.0 + 1e-12),
                to_vertex * (1.0 - 1e-12),
            ] {
                let Ok(circle) = Shape::circle(centre, radius) else {
                    continue;
                };
                let c = centre.to_vec3();
                let exact = circle_meets_polygon(c, radius.to_radians(), &poly);
                let answer = circle.intersects(&Shape::Polygon(poly.clone()));
                assert_eq!(answer, exact, "{circle:?} and {poly:?}");
                if vertex_well_inside(c, radius.to_radians(), &poly) {
                    quick += 1;
                }
                cases += 1;
            }
        }
        assert!(
            quick > cases / 10,
            "the quick answer was tried: {quick} of {cases}"
        );
    }
}
