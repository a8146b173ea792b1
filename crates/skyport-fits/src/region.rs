//! Sky regions and the pixel box they cover on an image.
//!
//! A cutout is the smallest pixel rectangle holding every pixel that touches the region.
//!
//! Small circles and polygons (what users cut) take the fast way in [`crate::local_box`]: the
//! outline's exact pixel extent from a few dozen WCS evaluations. When that extent lies inside
//! the image it is the answer, and when it misses the image nothing is cut.
//!
//! Everything else (ranges, large or strongly distorted regions, and outlines crossing the
//! image's edge) is traced. The part of the image inside the region is bounded by the region's
//! outline (where it runs inside the image) and by the image's own edges (where the region
//! covers them). So the box is found by tracing the outline in pixel space through the full
//! WCS (projection and SIP), keeping the parts inside the image, and adding the image corners
//! that lie inside the region: an image edge the region covers entirely has both its corners
//! inside, and one it covers in part is crossed by the outline, whose trace reaches the
//! crossing.
//!
//! The outline is traced by recursive bisection in sky coordinates: a piece is accepted when its
//! midpoint lies within 0.01 pixel of the chord between its ends (so the chord stands for the
//! curve), and dropped when it lies well outside the image. Every step is on unit vectors, so
//! regions across RA = 0 or around a pole need no special care.

use skyport_sky::{Region, SkyPoint, Vec3};

use crate::cancel::{Cancel, Cancelled};
use crate::local_box::{self, Bounds};
use crate::wcs::Wcs;

/// What a cutout asks for: a region of the sky, or a rectangle of whole pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum CutoutRegion {
    /// The pixels touching a sky region (SODA `CIRCLE`, `POLYGON`, `POS`, a sky-sized `BRECT`).
    Sky(Region),
    /// A rectangle of whole pixels centred on the pixel holding `center` (`BRECT … pix`).
    Pixels {
        /// Sky position of the centre.
        center: SkyPoint,
        /// Width in pixels (along NAXIS1).
        width: u64,
        /// Height in pixels (along NAXIS2).
        height: u64,
    },
}

impl CutoutRegion {
    /// A point in the region, used to decide which image holds a stamp.
    pub fn center(&self) -> SkyPoint {
        match self {
            CutoutRegion::Sky(r) => r.center(),
            CutoutRegion::Pixels { center, .. } => *center,
        }
    }
}

/// A rectangle of pixels, 1-based and inclusive (FITS `[x0:x1, y0:y1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    /// First column.
    pub x0: u64,
    /// Last column.
    pub x1: u64,
    /// First row.
    pub y0: u64,
    /// Last row.
    pub y1: u64,
}

impl PixelBox {
    /// Columns.
    pub fn width(&self) -> u64 {
        self.x1 + 1 - self.x0
    }

    /// Rows.
    pub fn height(&self) -> u64 {
        self.y1 + 1 - self.y0
    }

    /// Pixels in the box.
    pub fn pixels(&self) -> u64 {
        self.width() * self.height()
    }
}

impl std::fmt::Display for PixelBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}:{},{}:{}]", self.x0, self.x1, self.y0, self.y1)
    }
}

/// The outline of `region` as pieces `t ∈ [0, 1] → sky`, each short and smooth enough to start
/// the bisection from (a circle is cut into eight arcs).
fn outline(region: &Region) -> Vec<Piece> {
    match region {
        Region::Circle { center, radius } => (0..8)
            .map(|k| Piece::CircleArc {
                center: *center,
                radius: *radius,
                from: f64::from(k) * 45.0,
                to: f64::from(k + 1) * 45.0,
            })
            .collect(),
        Region::Polygon(poly) => {
            let v = poly.vertices();
            (0..v.len())
                .map(|i| Piece::GreatArc(v[i].to_vec3(), v[(i + 1) % v.len()].to_vec3()))
                .collect()
        }
        Region::Range {
            lon_min,
            lon_span,
            lat_min,
            lat_max,
        } => {
            let lon_max = lon_min + lon_span;
            // Parallels are cut into pieces of at most 45 degrees, like the circle.
            let parts = (lon_span / 45.0).ceil().max(1.0) as usize;
            let step = lon_span / parts as f64;
            let mut pieces = Vec::new();
            for k in 0..parts {
                let a = lon_min + step * k as f64;
                for lat in [*lat_min, *lat_max] {
                    pieces.push(Piece::Parallel {
                        lat,
                        from: a,
                        to: a + step,
                    });
                }
            }
            for lon in [*lon_min, lon_max] {
                pieces.push(Piece::Meridian {
                    lon,
                    from: *lat_min,
                    to: *lat_max,
                });
            }
            pieces
        }
    }
}

/// One piece of an outline.
#[derive(Debug, Clone, Copy)]
enum Piece {
    CircleArc {
        center: SkyPoint,
        radius: f64,
        from: f64,
        to: f64,
    },
    GreatArc(Vec3, Vec3),
    Parallel {
        lat: f64,
        from: f64,
        to: f64,
    },
    Meridian {
        lon: f64,
        from: f64,
        to: f64,
    },
}

fn scaled(v: Vec3, k: f64) -> Vec3 {
    Vec3 {
        x: v.x * k,
        y: v.y * k,
        z: v.z * k,
    }
}

fn lon_lat(lon: f64, lat: f64) -> SkyPoint {
    SkyPoint {
        ra: lon.rem_euclid(360.0),
        dec: lat.clamp(-90.0, 90.0),
    }
}

impl Piece {
    fn at(&self, t: f64) -> SkyPoint {
        match *self {
            Piece::CircleArc {
                center,
                radius,
                from,
                to,
            } => {
                let angle = (from + (to - from) * t).to_radians();
                let (east, north) = center.east_north();
                let r = radius.to_radians();
                let towards = scaled(north, angle.cos()) + scaled(east, angle.sin());
                (scaled(center.to_vec3(), r.cos()) + scaled(towards, r.sin())).to_point()
            }
            Piece::GreatArc(a, b) => {
                let omega = a.cross(b).norm().atan2(a.dot(b));
                if omega < 1e-15 {
                    return a.to_point();
                }
                let s = omega.sin();
                (scaled(a, ((1.0 - t) * omega).sin() / s) + scaled(b, (t * omega).sin() / s))
                    .to_point()
            }
            Piece::Parallel { lat, from, to } => lon_lat(from + (to - from) * t, lat),
            Piece::Meridian { lon, from, to } => lon_lat(lon, from + (to - from) * t),
        }
    }
}

/// How far (pixels) a traced curve may stray from the chords standing for it.
const CHORD_TOLERANCE: f64 = 0.01;
/// Deepest bisection: 2⁻⁴⁰ of a 45-degree piece is far below a micro-arcsecond.
const MAX_DEPTH: u32 = 40;

/// Trace steps (each a projection through the WCS, a few microseconds) between looks at the
/// cancellation token.
const CHECK_EVERY: u32 = 1024;

struct Tracer<'a> {
    wcs: &'a Wcs,
    /// Looked at every [`CHECK_EVERY`] steps of the trace.
    cancel: &'a Cancel,
    steps: u32,
    /// Set once the token was found cancelled: the trace then unwinds at once.
    stopped: Option<Cancelled>,
    /// The image's outer edges: pixel edges at 0.5 and N + 0.5.
    rect: (f64, f64, f64, f64),
    /// Running extent of the covered part of the image, in continuous pixel coordinates.
    bounds: Bounds,
}

impl Tracer<'_> {
    fn project(&self, p: SkyPoint, near: Option<(f64, f64)>) -> Option<(f64, f64)> {
        match near {
            Some(start) => self
                .wcs
                .sky_to_pixel_from(p, start)
                .or_else(|| self.wcs.sky_to_pixel(p)),
            None => self.wcs.sky_to_pixel(p),
        }
    }

    /// Traces `piece` between `t0` and `t1`, whose pixels (if they project) are `p0` and `p1`.
    fn trace(
        &mut self,
        piece: &Piece,
        (t0, p0): (f64, Option<(f64, f64)>),
        (t1, p1): (f64, Option<(f64, f64)>),
        depth: u32,
    ) {
        if self.stopped.is_some() {
            return;
        }
        self.steps = self.steps.wrapping_add(1);
        if self.steps.is_multiple_of(CHECK_EVERY) {
            if let Err(c) = self.cancel.check() {
                self.stopped = Some(c);
                return;
            }
        }
        let tm = (t0 + t1) / 2.0;
        let pm = self.project(piece.at(tm), p0.or(p1));
        match (p0, pm, p1) {
            (Some(a), Some(m), Some(b)) => {
                let chord = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
                let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
                let stray = ((m.0 - mid.0).powi(2) + (m.1 - mid.1).powi(2)).sqrt();
                // The piece lies within `reach` of its ends (it is no more curved than a
                // semicircle over its chord).
                let reach = chord + 2.0 * stray + 1.0;
                if self.far_outside(&[a, m, b], reach) {
                    return;
                }
                if (stray <= CHORD_TOLERANCE && chord <= 256.0) || depth >= MAX_DEPTH {
                    self.add_segment(a, m);
                    self.add_segment(m, b);
                    return;
                }
            }
            // Nothing of it projects: beyond a few halvings it is on the far side of the
            // projection, where no image pixel is.
            (None, None, None) if depth >= 6 => return,
            _ if depth >= MAX_DEPTH => return,
            _ => {}
        }
        self.trace(piece, (t0, p0), (tm, pm), depth + 1);
        self.trace(piece, (tm, pm), (t1, p1), depth + 1);
    }

    fn far_outside(&self, points: &[(f64, f64)], reach: f64) -> bool {
        let (x0, x1, y0, y1) = self.rect;
        points.iter().all(|p| p.0 < x0 - reach)
            || points.iter().all(|p| p.0 > x1 + reach)
            || points.iter().all(|p| p.1 < y0 - reach)
            || points.iter().all(|p| p.1 > y1 + reach)
    }

    /// Adds the part of the segment `a`–`b` inside the image (Liang–Barsky clipping).
    fn add_segment(&mut self, a: (f64, f64), b: (f64, f64)) {
        let (x0, x1, y0, y1) = self.rect;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.0 - x0),
            (dx, x1 - a.0),
            (-dy, a.1 - y0),
            (dy, y1 - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    lo = lo.max(r);
                } else {
                    hi = hi.min(r);
                }
            }
        }
        if lo <= hi {
            self.bounds.add((a.0 + lo * dx, a.1 + lo * dy));
            self.bounds.add((a.0 + hi * dx, a.1 + hi * dy));
        }
    }
}

/// The pixels of the image described by `wcs` that `cutout` asks for (those touching its sky
/// region, or its rectangle), or `None` when it misses the image.
pub fn pixel_box(wcs: &Wcs, cutout: &CutoutRegion) -> Option<PixelBox> {
    pixel_box_within(wcs, cutout, &Cancel::new()).unwrap_or(None)
}

/// [`pixel_box`], stopping with [`Cancelled`] once `cancel` is cancelled (it is looked at
/// before every piece of the outline and every thousand or so steps of its trace).
pub fn pixel_box_within(
    wcs: &Wcs,
    cutout: &CutoutRegion,
    cancel: &Cancel,
) -> Result<Option<PixelBox>, Cancelled> {
    cancel.check()?;
    let (n1, n2) = wcs.naxis();
    let region = match cutout {
        CutoutRegion::Sky(region) => region,
        CutoutRegion::Pixels {
            center,
            width,
            height,
        } => {
            let Some((x, y)) = wcs.sky_to_pixel(*center) else {
                return Ok(None);
            };
            return Ok(centred_box(
                (x.round(), y.round()),
                (*width, *height),
                (n1, n2),
            ));
        }
    };
    let rect = (0.5, n1 as f64 + 0.5, 0.5, n2 as f64 + 0.5);
    if let Some(outline) = local_extent(wcs, region) {
        let (x0, x1, y0, y1) = outline;
        if x1 < rect.0 || x0 > rect.1 || y1 < rect.2 || y0 > rect.3 {
            // The outline's extent misses the image, and a small region lies within it.
            return Ok(None);
        }
        if x0 >= rect.0 && x1 <= rect.1 && y0 >= rect.2 && y1 <= rect.3 {
            return Ok(covering_box(outline, (n1, n2)));
        }
        // The outline crosses the image's edge: the trace below finds where.
    }
    let mut tracer = Tracer {
        wcs,
        cancel,
        steps: 0,
        stopped: None,
        rect,
        bounds: Bounds::new(),
    };
    for corner in [
        (rect.0, rect.2),
        (rect.1, rect.2),
        (rect.1, rect.3),
        (rect.0, rect.3),
    ] {
        if wcs
            .pixel_to_sky(corner.0, corner.1)
            .is_some_and(|p| region.contains(p))
        {
            tracer.bounds.add(corner);
        }
    }
    for piece in outline(region) {
        cancel.check()?;
        let start = tracer.project(piece.at(0.0), None);
        let end = tracer.project(piece.at(1.0), start);
        tracer.trace(&piece, (0.0, start), (1.0, end), 0);
        if let Some(c) = tracer.stopped {
            return Err(c);
        }
    }
    let extent = tracer.bounds.0;
    if extent.0 > extent.1 || extent.2 > extent.3 {
        return Ok(None);
    }
    Ok(covering_box(extent, (n1, n2)))
}

/// The extent of a small circle's or polygon's outline from a few WCS evaluations
/// ([`crate::local_box`]), when that method applies.
fn local_extent(wcs: &Wcs, region: &Region) -> Option<local_box::Extent> {
    match region {
        Region::Circle { center, radius } => local_box::circle(wcs, *center, *radius),
        Region::Polygon(p) => local_box::polygon(wcs, p, wcs.maps_great_circles_to_lines()),
        Region::Range { .. } => None,
    }
}

/// The whole pixels overlapping the continuous extent `(x_min, x_max, y_min, y_max)`, clipped
/// to the image; `None` when nothing is left.
fn covering_box((x0, x1, y0, y1): local_box::Extent, (n1, n2): (u64, u64)) -> Option<PixelBox> {
    // Pixel i covers [i - 0.5, i + 0.5]; it is in when that overlaps [min, max].
    let first = |lo: f64| (lo - 0.5).floor() as i64 + 1;
    let last = |hi: f64| (hi + 0.5).ceil() as i64 - 1;
    let clip = |i: i64, n: u64| i.clamp(1, n as i64) as u64;
    Some(PixelBox {
        x0: clip(first(x0), n1),
        x1: clip(last(x1), n1),
        y0: clip(first(y0), n2),
        y1: clip(last(y1), n2),
    })
    .filter(|b| b.x0 <= b.x1 && b.y0 <= b.y1)
}

/// A `width` × `height` box around the pixel `(cx, cy)`, clipped to the image.
fn centred_box(
    (cx, cy): (f64, f64),
    (width, height): (u64, u64),
    (n1, n2): (u64, u64),
) -> Option<PixelBox> {
    let span = |c: f64, w: u64, n: u64| -> Option<(u64, u64)> {
        let lo = c as i64 - (w as i64 - 1) / 2;
        let hi = lo + w as i64 - 1;
        if hi < 1 || lo > n as i64 {
            return None;
        }
        Some((lo.max(1) as u64, hi.min(n as i64) as u64))
    };
    let (x0, x1) = span(cx, width, n1)?;
    let (y0, y1) = span(cy, height, n2)?;
    Some(PixelBox { x0, x1, y0, y1 })
}
