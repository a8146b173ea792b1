//! The pixel extent of a small circle or polygon from a few dozen WCS evaluations.
//!
//! Tracing an outline to a hundredth of a pixel costs hundreds of sky→pixel inversions; a
//! cutout only needs the outline's extreme pixels. Near the region's centre `c` the map from the
//! gnomonic (tangent) plane at `c` to pixels is nearly affine, and in that plane the outlines
//! are simple: a circle of radius `r` is exactly a circle of radius `tan r`, and a great-circle
//! edge is exactly a straight segment. So:
//!
//! 1. `c` is inverted once through the full WCS, and the map's Jacobian taken there.
//! 2. Outline points are mapped to pixels exactly (projection and SIP), each by a few steps of
//!    a fixed-Jacobian Newton iteration started at the affine prediction.
//! 3. The map is accepted as near-affine when sixteen outline points (or every vertex) lie
//!    within 2 % of the outline's size from the affine prediction. Otherwise the caller falls
//!    back to the full trace.
//! 4. Circle: the affine image is an ellipse whose extreme points are known in closed form; the
//!    exact extremes are found from there by two parabolic steps on the exact outline, to far
//!    below a thousandth of a pixel. Polygon: the extremes of straight pixel edges are at the
//!    vertices; where the projection bends great circles (anything but TAN without SIP) each
//!    edge is halved until its midpoint lies within 10⁻³ pixel of the chord, and its extent is
//!    widened by that sagitta (an arc no more curved than a parabola stays within its sagitta
//!    of the chord).
//!
//! Every bound is widened by 10⁻⁶ pixel for rounding. The result is the extent of the whole
//! outline; the caller decides what to do when it straddles the image's edge.

use skyport_sky::{Polygon, SkyPoint, Vec3};

use crate::wcs::Wcs;

/// Continuous pixel bounds: `(x_min, x_max, y_min, y_max)`.
pub(crate) type Extent = (f64, f64, f64, f64);

/// Largest circle radius (degrees) handled here; larger ones are traced.
const MAX_RADIUS: f64 = 10.0;
/// Deviation from the affine map, as a fraction of the outline's pixel size, accepted.
const MAX_NONLINEARITY: f64 = 0.02;
/// Newton steps before an inversion is given up (the fast path then declines).
const MAX_STEPS: usize = 12;
/// A Newton step this small (pixels) ends the iteration; the next would be smaller by the
/// map's non-linearity, orders of magnitude below it.
const STEP_TOLERANCE: f64 = 1e-7;
/// Sagitta (pixels) below which a polygon edge is taken as its chord widened by the sagitta.
const EDGE_SAGITTA: f64 = 1e-3;
/// Outward rounding allowance on every bound (pixels).
const ROUNDING: f64 = 1e-6;

/// The tangent plane at a sky point, with the pixel of that point and the local inverse
/// Jacobian (pixels per radian of tangent-plane offset).
struct LocalFrame<'a> {
    wcs: &'a Wcs,
    c: Vec3,
    east: Vec3,
    north: Vec3,
    pixel: (f64, f64),
    inverse: [[f64; 2]; 2],
}

impl<'a> LocalFrame<'a> {
    fn new(wcs: &'a Wcs, centre: SkyPoint) -> Option<LocalFrame<'a>> {
        let pixel = wcs.sky_to_pixel(centre)?;
        let (east, north) = centre.east_north();
        let mut frame = LocalFrame {
            wcs,
            c: centre.to_vec3(),
            east,
            north,
            pixel,
            inverse: [[0.0; 2]; 2],
        };
        // Central differences over one pixel: the Jacobian d(ξ, η)/d(x, y).
        let at = |dx: f64, dy: f64| frame.offset_of_pixel((pixel.0 + dx, pixel.1 + dy));
        let (xp, xm, yp, ym) = (at(1.0, 0.0)?, at(-1.0, 0.0)?, at(0.0, 1.0)?, at(0.0, -1.0)?);
        let j = [
            [(xp.0 - xm.0) / 2.0, (yp.0 - ym.0) / 2.0],
            [(xp.1 - xm.1) / 2.0, (yp.1 - ym.1) / 2.0],
        ];
        let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
        if !det.is_finite() || det.abs() < 1e-300 {
            return None;
        }
        frame.inverse = [
            [j[1][1] / det, -j[0][1] / det],
            [-j[1][0] / det, j[0][0] / det],
        ];
        Some(frame)
    }

    /// Gnomonic offsets (east, north) of a unit vector; `None` beyond 60 degrees of the centre,
    /// where no small region reaches.
    fn offset(&self, v: Vec3) -> Option<(f64, f64)> {
        let w = v.dot(self.c);
        (w > 0.5).then(|| (v.dot(self.east) / w, v.dot(self.north) / w))
    }

    fn offset_of_pixel(&self, (x, y): (f64, f64)) -> Option<(f64, f64)> {
        self.offset(self.wcs.pixel_to_sky(x, y)?.to_vec3())
    }

    /// The affine prediction of the pixel at tangent-plane offset `t`.
    fn affine(&self, t: (f64, f64)) -> (f64, f64) {
        let m = &self.inverse;
        (
            self.pixel.0 + m[0][0] * t.0 + m[0][1] * t.1,
            self.pixel.1 + m[1][0] * t.0 + m[1][1] * t.1,
        )
    }

    /// The exact pixel (through the full WCS) at tangent-plane offset `t`.
    fn exact(&self, t: (f64, f64)) -> Option<(f64, f64)> {
        let m = &self.inverse;
        let mut q = self.affine(t);
        for _ in 0..MAX_STEPS {
            let here = self.offset_of_pixel(q)?;
            let r = (t.0 - here.0, t.1 - here.1);
            let d = (m[0][0] * r.0 + m[0][1] * r.1, m[1][0] * r.0 + m[1][1] * r.1);
            q = (q.0 + d.0, q.1 + d.1);
            if !(q.0.is_finite() && q.1.is_finite()) {
                return None;
            }
            if d.0.abs().max(d.1.abs()) < STEP_TOLERANCE {
                return Some(q);
            }
        }
        None
    }
}

/// Running extent of points added (empty: minima above maxima).
pub(crate) struct Bounds(pub(crate) Extent);

impl Bounds {
    pub(crate) fn new() -> Bounds {
        Bounds((
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ))
    }

    pub(crate) fn add(&mut self, (x, y): (f64, f64)) {
        let b = &mut self.0;
        *b = (b.0.min(x), b.1.max(x), b.2.min(y), b.3.max(y));
    }

    fn widened(self, by: f64) -> Extent {
        let b = self.0;
        (b.0 - by, b.1 + by, b.2 - by, b.3 + by)
    }
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// The pixel extent of the outline of the circle of `radius` degrees around `centre`, or
/// `None` when the fast method does not apply (large or strongly distorted circles, or ones
/// reaching where the WCS does not invert).
pub(crate) fn circle(wcs: &Wcs, centre: SkyPoint, radius: f64) -> Option<Extent> {
    if !(radius > 0.0 && radius <= MAX_RADIUS) {
        return None;
    }
    let frame = LocalFrame::new(wcs, centre)?;
    let rho = radius.to_radians().tan();
    let at = |theta: f64| (rho * theta.sin(), rho * theta.cos());
    let m = frame.inverse;
    // x(θ) = x_c + ρ (m00 sin θ + m01 cos θ) = x_c + A cos(θ - θx) under the affine map.
    let (ax, theta_x) = (rho * m[0][0].hypot(m[0][1]), m[0][0].atan2(m[0][1]));
    let (ay, theta_y) = (rho * m[1][0].hypot(m[1][1]), m[1][0].atan2(m[1][1]));
    let size = ax.min(ay);
    let mut bounds = Bounds::new();
    for k in 0..16 {
        let t = at(f64::from(k) * std::f64::consts::PI / 8.0);
        let p = frame.exact(t)?;
        if distance(p, frame.affine(t)) > MAX_NONLINEARITY * size {
            return None;
        }
        bounds.add(p);
    }
    let x = |theta: f64| frame.exact(at(theta)).map(|p| p.0);
    let y = |theta: f64| frame.exact(at(theta)).map(|p| p.1);
    let pi = std::f64::consts::PI;
    let x_max = maximum(x, theta_x)?;
    let x_min = -maximum(|t| x(t).map(|v| -v), theta_x + pi)?;
    let y_max = maximum(y, theta_y)?;
    let y_min = -maximum(|t| y(t).map(|v| -v), theta_y + pi)?;
    bounds.add((x_max, y_max));
    bounds.add((x_min, y_min));
    Some(bounds.widened(ROUNDING))
}

/// The largest value of a smooth, locally concave `f` near `theta`: two parabolic steps, the
/// second much narrower. `None` when `f` is not concave there (the outline is not near the
/// affine ellipse).
fn maximum(f: impl Fn(f64) -> Option<f64>, mut theta: f64) -> Option<f64> {
    let mut centre = f(theta)?;
    let mut best = centre;
    for h in [0.05, 0.004] {
        let (before, after) = (f(theta - h)?, f(theta + h)?);
        best = best.max(before).max(after);
        let curvature = before - 2.0 * centre + after;
        if curvature >= 0.0 {
            return None;
        }
        let step = (h * (before - after) / (2.0 * curvature)).clamp(-h, h);
        theta += step;
        centre = f(theta)?;
        best = best.max(centre);
    }
    Some(best)
}

/// The pixel extent of the outline of `polygon`, or `None` when the fast method does not apply.
/// `straight` says great circles are straight lines in pixels (TAN without distortion), so the
/// vertices alone give the extent.
pub(crate) fn polygon(wcs: &Wcs, polygon: &Polygon, straight: bool) -> Option<Extent> {
    let frame = LocalFrame::new(wcs, polygon.centroid())?;
    let offsets: Option<Vec<(f64, f64)>> = polygon
        .vertices()
        .iter()
        .map(|v| frame.offset(v.to_vec3()))
        .collect();
    let offsets = offsets?;
    let mut pixels = Vec::with_capacity(offsets.len());
    let mut predicted = Bounds::new();
    let mut deviation = 0.0f64;
    let mut bounds = Bounds::new();
    for t in &offsets {
        let (p, a) = (frame.exact(*t)?, frame.affine(*t));
        deviation = deviation.max(distance(p, a));
        predicted.add(a);
        bounds.add(p);
        pixels.push(p);
    }
    let (x0, x1, y0, y1) = predicted.0;
    if deviation > MAX_NONLINEARITY * (x1 - x0).max(y1 - y0) {
        return None;
    }
    if straight {
        return Some(bounds.widened(ROUNDING));
    }
    let mut edges = EdgeBounds {
        frame: &frame,
        bounds,
    };
    for i in 0..offsets.len() {
        let j = (i + 1) % offsets.len();
        edges.add((offsets[i], pixels[i]), (offsets[j], pixels[j]), 0)?;
    }
    Some(edges.bounds.widened(ROUNDING))
}

/// Extent of polygon edges that may bend in pixel space.
struct EdgeBounds<'f, 'w> {
    frame: &'f LocalFrame<'w>,
    bounds: Bounds,
}

impl EdgeBounds<'_, '_> {
    /// Adds the edge from `a` to `b` (tangent-plane offset and pixel of each end).
    fn add(
        &mut self,
        a: ((f64, f64), (f64, f64)),
        b: ((f64, f64), (f64, f64)),
        depth: u32,
    ) -> Option<()> {
        let t = ((a.0 .0 + b.0 .0) / 2.0, (a.0 .1 + b.0 .1) / 2.0);
        let p = self.frame.exact(t)?;
        self.bounds.add(p);
        let sagitta = distance(p, ((a.1 .0 + b.1 .0) / 2.0, (a.1 .1 + b.1 .1) / 2.0));
        if sagitta <= EDGE_SAGITTA || depth >= 24 {
            for end in [a.1, b.1] {
                for (dx, dy) in [
                    (sagitta, 0.0),
                    (-sagitta, 0.0),
                    (0.0, sagitta),
                    (0.0, -sagitta),
                ] {
                    self.bounds.add((end.0 + dx, end.1 + dy));
                }
            }
            return Some(());
        }
        self.add(a, (t, p), depth + 1)?;
        self.add((t, p), b, depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;
    use skyport_sky::angular_separation;

    fn header_file(name: &str) -> Wcs {
        let path = format!(
            "{}/../../testdata/fits/pypi_astropy/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let header = Header::from_dump(&std::fs::read(&path).expect("header file"));
        Wcs::from_header(&header.expect("header")).expect(name)
    }

    /// A rotated TAN image of 1000² pixels of 0.5″ at (ra, dec).
    fn rotated_tan(ra: f64, dec: f64) -> Wcs {
        let s = 0.5 / 3600.0;
        let (c, n) = (30f64.to_radians().cos() * s, 30f64.to_radians().sin() * s);
        let records = [
            "NAXIS   = 2".to_string(),
            "NAXIS1  = 1000".to_string(),
            "NAXIS2  = 1000".to_string(),
            "CTYPE1  = 'RA---TAN'".to_string(),
            "CTYPE2  = 'DEC--TAN'".to_string(),
            "CRPIX1  = 300.0".to_string(),
            "CRPIX2  = 700.0".to_string(),
            format!("CRVAL1  = {ra}"),
            format!("CRVAL2  = {dec}"),
            format!("CD1_1   = {}", -c),
            format!("CD1_2   = {n}"),
            format!("CD2_1   = {n}"),
            format!("CD2_2   = {c}"),
        ];
        let records = records.iter().map(|r| format!("{r:<80}"));
        Wcs::from_header(&Header::from_records(records).expect("header")).expect("wcs")
    }

    fn point_at(c: SkyPoint, radius: f64, angle: f64) -> SkyPoint {
        let (e, n) = c.east_north();
        let (r, a) = (radius.to_radians(), angle);
        let v = c.to_vec3();
        Vec3 {
            x: v.x * r.cos() + (n.x * a.cos() + e.x * a.sin()) * r.sin(),
            y: v.y * r.cos() + (n.y * a.cos() + e.y * a.sin()) * r.sin(),
            z: v.z * r.cos() + (n.z * a.cos() + e.z * a.sin()) * r.sin(),
        }
        .to_point()
    }

    /// The extent of `points` projected one by one through the full WCS: an independent lower
    /// bound of the outline's extent, as close as the sampling is dense.
    fn sampled(wcs: &Wcs, points: impl Iterator<Item = SkyPoint>) -> Extent {
        let mut b = Bounds::new();
        let mut near = None;
        for p in points {
            let q = match near {
                Some(start) => wcs.sky_to_pixel_from(p, start),
                None => wcs.sky_to_pixel(p),
            }
            .expect("outline point projects");
            b.add(q);
            near = Some(q);
        }
        b.0
    }

    fn assert_close(fast: Extent, dense: Extent, slack: f64, what: &str) {
        let pairs = [(fast.0, dense.0, -1.0), (fast.1, dense.1, 1.0)];
        let pairs2 = [(fast.2, dense.2, -1.0), (fast.3, dense.3, 1.0)];
        for (f, d, outward) in pairs.into_iter().chain(pairs2) {
            // The fast bound is outside the dense one (which lies on the outline) and by
            // little more than the sampling's own shortfall.
            let beyond = (f - d) * outward;
            assert!(
                beyond >= -1e-5 && beyond <= slack,
                "{what}: fast {fast:?} vs sampled {dense:?}"
            );
        }
    }

    fn wcs_cases() -> Vec<(&'static str, Wcs)> {
        vec![
            ("TAN rotated", rotated_tan(150.0, 2.0)),
            ("TAN rotated near the pole", rotated_tan(10.0, 89.9)),
            ("TAN across RA 0", rotated_tan(0.0, -30.0)),
            ("TAN 1904-66", header_file("1904-66_TAN.hdr")),
            ("SIN 1904-66", header_file("1904-66_SIN.hdr")),
            ("ZEA 1904-66", header_file("1904-66_ZEA.hdr")),
            ("SIP HST", header_file("hst_sip.hdr")),
            ("SIP IRAC", header_file("irac_sip.hdr")),
        ]
    }

    #[test]
    fn circles_match_a_dense_sampling_of_their_outline() {
        const SAMPLES: usize = 4000;
        for (name, wcs) in wcs_cases() {
            let (n1, n2) = wcs.naxis();
            let scale = wcs.pixel_scale_arcsec() / 3600.0;
            for (fx, fy) in [(0.5, 0.5), (0.2, 0.8), (0.9, 0.1)] {
                let centre = wcs
                    .pixel_to_sky(n1 as f64 * fx, n2 as f64 * fy)
                    .expect("centre");
                for pixels in [0.7, 6.0, 25.0] {
                    let radius = pixels * scale;
                    // Every case here is near-affine at the circle's scale, SIN and ZEA included.
                    let fast = circle(&wcs, centre, radius).expect(name);
                    let dense = sampled(
                        &wcs,
                        (0..=SAMPLES).map(|k| {
                            point_at(
                                centre,
                                radius,
                                k as f64 * std::f64::consts::TAU / SAMPLES as f64,
                            )
                        }),
                    );
                    // Sampling every 2π/N falls short of an extreme by at most A (π/N)²/2.
                    let slack =
                        1e-4 + pixels * 2.0 * (std::f64::consts::PI / SAMPLES as f64).powi(2);
                    assert_close(fast, dense, slack, &format!("{name} r={pixels}px"));
                }
            }
        }
    }

    #[test]
    fn polygons_match_a_dense_sampling_of_their_edges() {
        const PER_EDGE: usize = 400;
        for (name, wcs) in wcs_cases() {
            let (n1, n2) = wcs.naxis();
            let (n1, n2) = (n1 as f64, n2 as f64);
            let corners = [
                (0.3, 0.3),
                (0.62, 0.35),
                (0.7, 0.66),
                (0.45, 0.5),
                (0.33, 0.6),
            ];
            let vertices: Vec<SkyPoint> = corners
                .iter()
                .map(|(fx, fy)| wcs.pixel_to_sky(n1 * fx, n2 * fy).expect("vertex"))
                .collect();
            let poly = Polygon::new(vertices).expect("polygon");
            let fast = polygon(&wcs, &poly, wcs.maps_great_circles_to_lines()).expect(name);
            let v = poly.vertices();
            let dense = sampled(
                &wcs,
                (0..v.len()).flat_map(|i| {
                    let (a, b) = (v[i].to_vec3(), v[(i + 1) % v.len()].to_vec3());
                    (0..=PER_EDGE).map(move |k| {
                        let t = k as f64 / PER_EDGE as f64;
                        Vec3 {
                            x: a.x + (b.x - a.x) * t,
                            y: a.y + (b.y - a.y) * t,
                            z: a.z + (b.z - a.z) * t,
                        }
                        .to_point()
                    })
                }),
            );
            assert_close(fast, dense, 3e-3, name);
        }
    }

    #[test]
    fn a_thousand_vertex_polygon_is_bounded_by_its_vertices_on_tan() {
        let wcs = rotated_tan(150.0, 2.0);
        let centre = wcs.pixel_to_sky(480.0, 520.0).expect("centre");
        let radius = 100.0 * 0.5 / 3600.0;
        let vertices: Vec<SkyPoint> = (0..1000)
            .map(|k| point_at(centre, radius, -(k as f64) * std::f64::consts::TAU / 1000.0))
            .collect();
        let poly = Polygon::new(vertices.clone()).expect("polygon");
        let fast = polygon(&wcs, &poly, true).expect("fast path applies");
        let dense = sampled(&wcs, vertices.into_iter());
        assert_close(fast, dense, 1e-5, "1000 vertices");
        // And it is the circle it approximates, to the polygon's own sagitta (0.0025 px).
        let round = circle(&wcs, centre, radius).expect("circle");
        assert!((round.1 - fast.1).abs() < 0.01 && (round.2 - fast.2).abs() < 0.01);
    }

    #[test]
    fn large_or_far_reaching_regions_are_left_to_the_trace() {
        let wcs = rotated_tan(150.0, 2.0);
        let centre = wcs.center().expect("centre");
        assert!(
            circle(&wcs, centre, 20.0).is_none(),
            "larger than the limit"
        );
        assert!(circle(&wcs, centre, 0.0).is_none());
        // A polygon reaching 70 degrees from its centroid.
        let far = Polygon::new(vec![
            SkyPoint::new(150.0, 2.0).expect("p"),
            SkyPoint::new(220.0, 2.0).expect("p"),
            SkyPoint::new(185.0, 60.0).expect("p"),
        ])
        .expect("polygon");
        assert!(angular_separation(far.centroid(), far.vertices()[0]) > 30.0);
        assert!(polygon(&wcs, &far, true).is_none());
    }
}
