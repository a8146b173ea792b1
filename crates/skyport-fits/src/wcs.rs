//! World coordinates of images: pixel ↔ sky.
//!
//! The linear part and the projections (TAN, SIN, ZPN and the rest of the FITS WCS paper II
//! set) come from the `wcs` crate. Its SIP support is wrong (it raises `u`, `v` to powers of two
//! and returns `None` from sky→pixel without AP/BP: see the project's CRATES.md §5), so SIP is
//! done here, in pixel space in front of the crate: a SIP pixel `(x, y)` is first moved to
//! `CRPIX + (u + f(u, v), v + g(u, v))`, which is then an ordinary pixel of the SIP-free WCS.
//! Sky→pixel inverts that whole forward model by Newton iteration (see [`Wcs::sky_to_pixel`]),
//! so it is exact to 1e-10 pixel; AP/BP inverse coefficients are not needed and not used.
//!
//! Pixel coordinates are FITS 1-based throughout: the centre of the first pixel is (1, 1).

use serde_json::{Map, Value};
use skyport_sky::{Polygon, SkyPoint};
use wcs::{ImgXY, WCSParams, WCS};

use crate::header::{Header, HeaderValue};

/// Why a header has no usable celestial WCS.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WcsError {
    /// No celestial CTYPE pair.
    #[error("no celestial WCS: {0}")]
    Missing(String),
    /// The keywords are there but cannot be used.
    #[error("unusable WCS: {0}")]
    Invalid(String),
}

/// A SIP distortion polynomial pair.
#[derive(Debug, Clone)]
struct Sip {
    a: Vec<(i32, i32, f64)>,
    b: Vec<(i32, i32, f64)>,
}

/// A celestial WCS for a 2-D image.
pub struct Wcs {
    inner: WCS,
    sip: Option<Sip>,
    crpix: (f64, f64),
    cd: [[f64; 2]; 2],
    naxis: (u64, u64),
    /// TAN without SIP: great circles are straight lines in pixel space.
    gnomonic: bool,
}

impl std::fmt::Debug for Wcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wcs")
            .field("crpix", &self.crpix)
            .field("cd", &self.cd)
            .field("naxis", &self.naxis)
            .field("sip", &self.sip.is_some())
            .finish()
    }
}

/// Projection codes accepted (FITS WCS paper II, as implemented by the `wcs` crate).
const PROJECTIONS: [&str; 24] = [
    "AZP", "SZP", "TAN", "STG", "SIN", "ARC", "ZPN", "ZEA", "AIR", "NCP", "CYP", "CEA", "CAR",
    "MER", "SFL", "PAR", "MOL", "AIT", "COP", "COD", "COE", "COO", "HPX", "TPV",
];

impl Wcs {
    /// Reads the celestial WCS of an image header (after [`Header::decompressed_view`]).
    pub fn from_header(h: &Header) -> Result<Wcs, WcsError> {
        let ctype1 = h
            .str("CTYPE1")
            .ok_or_else(|| WcsError::Missing("CTYPE1 is absent".into()))?;
        let ctype2 = h
            .str("CTYPE2")
            .ok_or_else(|| WcsError::Missing("CTYPE2 is absent".into()))?;
        let celestial = |c: &str| {
            c.len() >= 8
                && c.is_ascii()
                && ["RA--", "DEC-", "GLON", "GLAT", "ELON", "ELAT"].contains(&&c[..4])
        };
        if !celestial(&ctype1) || !celestial(&ctype2) {
            return Err(WcsError::Missing(format!(
                "CTYPE1/2 = {ctype1:?}/{ctype2:?} is not a celestial pair"
            )));
        }
        if ctype1.starts_with("DEC-") || ctype1.starts_with("GLAT") || ctype1.starts_with("ELAT") {
            return Err(WcsError::Invalid(format!(
                "latitude on axis 1 ({ctype1}) is not supported"
            )));
        }
        let code = &ctype1[5..8];
        if !PROJECTIONS.contains(&code) || code == "TPV" {
            return Err(WcsError::Invalid(format!(
                "projection {code} ({ctype1}) is not supported"
            )));
        }
        let has_sip = ctype1.ends_with("-SIP");
        let naxis1 = h
            .i64("NAXIS1")
            .filter(|n| *n > 0)
            .ok_or_else(|| WcsError::Invalid("NAXIS1 is absent or zero".into()))?;
        let naxis2 = h
            .i64("NAXIS2")
            .filter(|n| *n > 0)
            .ok_or_else(|| WcsError::Invalid("NAXIS2 is absent or zero".into()))?;
        for key in ["CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2"] {
            if h.f64(key).is_none() {
                return Err(WcsError::Invalid(format!("{key} is absent")));
            }
        }
        let cd = linear_matrix(h)?;
        let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
        if !det.is_finite() || det.abs() < 1e-30 {
            return Err(WcsError::Invalid("the CD matrix is singular".into()));
        }

        let mut params = Map::new();
        params.insert("CTYPE1".into(), Value::String(ctype1[..8].to_string()));
        params.insert("CTYPE2".into(), Value::String(ctype2[..8].to_string()));
        params.insert("NAXIS".into(), Value::from(2));
        params.insert("NAXIS1".into(), Value::from(naxis1));
        params.insert("NAXIS2".into(), Value::from(naxis2));
        // The crate gets the one CD matrix chosen above, so that it and our pixel scale agree.
        for (key, value) in [
            ("CD1_1", cd[0][0]),
            ("CD1_2", cd[0][1]),
            ("CD2_1", cd[1][0]),
            ("CD2_2", cd[1][1]),
        ] {
            let n = serde_json::Number::from_f64(value)
                .ok_or_else(|| WcsError::Invalid(format!("{key} is not finite")))?;
            params.insert(key.into(), Value::Number(n));
        }
        // The frame is taken as given: FK5 J2000 and ICRS differ by under 25 mas, and the crate
        // does not convert between them anyway.
        for card in h.cards() {
            let key = card.key.as_str();
            if is_passed_through(key) {
                if let Some(x) = card.value.as_ref().and_then(HeaderValue::as_f64) {
                    if let Some(n) = serde_json::Number::from_f64(x) {
                        params.insert(key.to_string(), Value::Number(n));
                    }
                }
            }
        }
        let params: WCSParams = serde_json::from_value(Value::Object(params))
            .map_err(|e| WcsError::Invalid(format!("keywords not understood: {e}")))?;
        let inner = WCS::new(&params).map_err(|e| WcsError::Invalid(format!("{e:?}")))?;

        let sip = if has_sip { Some(read_sip(h)?) } else { None };
        let crpix = (
            h.f64("CRPIX1").unwrap_or(0.0),
            h.f64("CRPIX2").unwrap_or(0.0),
        );
        Ok(Wcs {
            inner,
            sip,
            crpix,
            cd,
            naxis: (naxis1 as u64, naxis2 as u64),
            gnomonic: code == "TAN" && !has_sip,
        })
    }

    /// [`Wcs::from_header`], reading a TPV header (DECam's) as its TAN core: the PV cards are
    /// TPV's distortion polynomial, which TAN would take as projection parameters, so they are
    /// left out. Good for footprints (DECam: about 3 arcsec at a detector's corners), not for
    /// astrometry.
    pub fn from_header_tan_core(h: &Header) -> Result<Wcs, WcsError> {
        if !h.str("CTYPE1").is_some_and(|t| t.ends_with("-TPV")) {
            return Wcs::from_header(h);
        }
        let mut tan = Header::default();
        for card in h.cards().iter().filter(|c| !c.key.starts_with("PV")) {
            tan.push_card(card.clone());
        }
        for axis in ["CTYPE1", "CTYPE2"] {
            if let Some(t) = tan.str(axis) {
                tan.set(axis, HeaderValue::Str(t.replace("-TPV", "-TAN")));
            }
        }
        Wcs::from_header(&tan)
    }

    /// Image size (NAXIS1, NAXIS2).
    pub fn naxis(&self) -> (u64, u64) {
        self.naxis
    }

    /// True when the WCS carries SIP distortion.
    pub fn has_sip(&self) -> bool {
        self.sip.is_some()
    }

    /// True when great circles are straight lines in pixel space: a TAN (gnomonic) projection
    /// with no SIP distortion, so a polygon's pixel extent is that of its vertices.
    pub fn maps_great_circles_to_lines(&self) -> bool {
        self.gnomonic
    }

    /// The reference pixel (CRPIX1, CRPIX2; 1-based).
    pub fn crpix(&self) -> (f64, f64) {
        self.crpix
    }

    /// The sky position of a pixel (1-based FITS coordinates), in the header's frame.
    pub fn pixel_to_sky(&self, x: f64, y: f64) -> Option<SkyPoint> {
        let (xc, yc) = match &self.sip {
            Some(sip) => {
                let (u, v) = (x - self.crpix.0, y - self.crpix.1);
                (
                    self.crpix.0 + u + poly(&sip.a, u, v),
                    self.crpix.1 + v + poly(&sip.b, u, v),
                )
            }
            None => (x, y),
        };
        let ll = self.inner.unproj(&ImgXY::new(xc, yc))?;
        let (ra, dec) = (ll.lon().to_degrees(), ll.lat().to_degrees());
        SkyPoint::new(ra, dec).ok()
    }

    /// The pixel (1-based) of a sky position, or `None` when it does not project (e.g. the far
    /// hemisphere of a TAN image) or the iteration does not converge.
    ///
    /// The `wcs` crate's own sky→pixel disagrees with its pixel→sky for rotated CD matrices
    /// (seen on the HSC header in the shared data), so the whole forward model is inverted
    /// here: Newton steps in the tangent plane at the current estimate, with the Jacobian taken
    /// from the forward model itself. Starts at the reference pixel.
    pub fn sky_to_pixel(&self, p: SkyPoint) -> Option<(f64, f64)> {
        self.sky_to_pixel_from(p, self.crpix)
    }

    /// [`Wcs::sky_to_pixel`] starting the iteration at `start`, a pixel near the answer (a
    /// neighbouring point's pixel when tracing an outline): one or two steps instead of many.
    pub fn sky_to_pixel_from(&self, p: SkyPoint, start: (f64, f64)) -> Option<(f64, f64)> {
        let target = p.to_vec3();
        let (mut x, mut y) = start;
        for _ in 0..60 {
            let here = self.pixel_to_sky(x, y)?;
            let (xi, eta) = tangent_offset(here, target)?;
            let (ax, ay) = tangent_offset(here, self.pixel_to_sky(x + 1.0, y)?.to_vec3())?;
            let (bx, by) = tangent_offset(here, self.pixel_to_sky(x, y + 1.0)?.to_vec3())?;
            let det = ax * by - bx * ay;
            if det.abs() < 1e-300 {
                return None;
            }
            let dx = (xi * by - bx * eta) / det;
            let dy = (ax * eta - xi * ay) / det;
            // Damp huge steps: the starting point may be far from the answer.
            let scale = (1.0e4 / dx.abs().max(dy.abs())).min(1.0);
            x += dx * scale;
            y += dy * scale;
            if !(x.is_finite() && y.is_finite()) {
                return None;
            }
            if dx.abs() < 1e-11 && dy.abs() < 1e-11 {
                return Some((x, y));
            }
        }
        // Converged to rounding noise without meeting the tolerance: accept if the result
        // reproduces the target to a micro-arcsecond.
        let back = self.pixel_to_sky(x, y)?;
        (skyport_sky::angular_separation(back, p) < 3e-10).then_some((x, y))
    }

    /// The sky position of the image centre.
    pub fn center(&self) -> Option<SkyPoint> {
        self.pixel_to_sky(
            (self.naxis.0 as f64 + 1.0) / 2.0,
            (self.naxis.1 as f64 + 1.0) / 2.0,
        )
    }

    /// The footprint: the outer corners of the corner pixels (pixel edges at 0.5 and N + 0.5),
    /// counter-clockwise as seen from the origin (DALI).
    pub fn footprint(&self) -> Option<Polygon> {
        let (n1, n2) = (self.naxis.0 as f64 + 0.5, self.naxis.1 as f64 + 0.5);
        let corners = [(0.5, 0.5), (n1, 0.5), (n1, n2), (0.5, n2)];
        let points: Option<Vec<SkyPoint>> = corners
            .iter()
            .map(|(x, y)| self.pixel_to_sky(*x, *y))
            .collect();
        Polygon::new(points?).ok()
    }

    /// Pixel scale of the linear part, `sqrt(|det CD|)`, in arcseconds.
    pub fn pixel_scale_arcsec(&self) -> f64 {
        let det = self.cd[0][0] * self.cd[1][1] - self.cd[0][1] * self.cd[1][0];
        det.abs().sqrt() * 3600.0
    }

    /// The CD matrix (degrees per pixel) of the linear part.
    pub fn cd(&self) -> [[f64; 2]; 2] {
        self.cd
    }
}

/// Gnomonic offsets (east, north; radians) of `target` in the tangent plane at `at`.
fn tangent_offset(at: SkyPoint, target: skyport_sky::Vec3) -> Option<(f64, f64)> {
    let (ra, dec) = (at.ra.to_radians(), at.dec.to_radians());
    let r0 = at.to_vec3();
    let east = skyport_sky::Vec3 {
        x: -ra.sin(),
        y: ra.cos(),
        z: 0.0,
    };
    let north = skyport_sky::Vec3 {
        x: -dec.sin() * ra.cos(),
        y: -dec.sin() * ra.sin(),
        z: dec.cos(),
    };
    let w = target.dot(r0);
    (w > 1e-12).then(|| (target.dot(east) / w, target.dot(north) / w))
}

/// Header keywords handed to the `wcs` crate as they are: reference point and projection
/// parameters. The linear part goes as our CD matrix; SIP never goes.
fn is_passed_through(key: &str) -> bool {
    const EXACT: [&str; 8] = [
        "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "LONPOLE", "LATPOLE", "PV1_1", "PV1_2",
    ];
    if EXACT.contains(&key) {
        return true;
    }
    if let Some(rest) = key.strip_prefix("PV2_") {
        return rest.parse::<u32>().is_ok_and(|n| n <= 20);
    }
    [
        "CD1_1", "CD1_2", "CD2_1", "CD2_2", "PC1_1", "PC1_2", "PC2_1", "PC2_2",
    ]
    .contains(&key)
}

/// The linear part as a CD matrix, with wcslib's precedence when a header carries several
/// forms (real headers do, e.g. DSS plates with CD, CROTA and legacy PC001001 that disagree):
/// PCi_j (or legacy PC00i00j) with CDELTi, else CDi_j, else CDELTi with CROTA2.
fn linear_matrix(h: &Header) -> Result<[[f64; 2]; 2], WcsError> {
    let g = |k: &str| h.f64(k);
    let pc = |i: u32, j: u32| g(&format!("PC{i}_{j}")).or_else(|| g(&format!("PC{i:03}{j:03}")));
    let (c1, c2) = (g("CDELT1").unwrap_or(1.0), g("CDELT2").unwrap_or(1.0));
    if [(1, 1), (1, 2), (2, 1), (2, 2)]
        .iter()
        .any(|&(i, j)| pc(i, j).is_some())
    {
        return Ok([
            [c1 * pc(1, 1).unwrap_or(1.0), c1 * pc(1, 2).unwrap_or(0.0)],
            [c2 * pc(2, 1).unwrap_or(0.0), c2 * pc(2, 2).unwrap_or(1.0)],
        ]);
    }
    if ["CD1_1", "CD1_2", "CD2_1", "CD2_2"]
        .iter()
        .any(|k| h.contains(k))
    {
        return Ok([
            [g("CD1_1").unwrap_or(0.0), g("CD1_2").unwrap_or(0.0)],
            [g("CD2_1").unwrap_or(0.0), g("CD2_2").unwrap_or(0.0)],
        ]);
    }
    let rho = g("CROTA2").unwrap_or(0.0).to_radians();
    Ok([
        [c1 * rho.cos(), -c2 * rho.sin()],
        [c1 * rho.sin(), c2 * rho.cos()],
    ])
}

fn read_sip(h: &Header) -> Result<Sip, WcsError> {
    let coeffs = |prefix: &str| -> Result<Vec<(i32, i32, f64)>, WcsError> {
        let Some(order) = h.i64(&format!("{prefix}_ORDER")) else {
            return Err(WcsError::Invalid(format!(
                "-SIP projection without {prefix}_ORDER"
            )));
        };
        if !(0..=9).contains(&order) {
            return Err(WcsError::Invalid(format!(
                "{prefix}_ORDER = {order} is out of range"
            )));
        }
        let order = order as i32;
        let mut out = Vec::new();
        for p in 0..=order {
            for q in 0..=(order - p) {
                if let Some(c) = h.f64(&format!("{prefix}_{p}_{q}")) {
                    if c != 0.0 {
                        out.push((p, q, c));
                    }
                }
            }
        }
        Ok(out)
    };
    Ok(Sip {
        a: coeffs("A")?,
        b: coeffs("B")?,
    })
}

fn poly(c: &[(i32, i32, f64)], u: f64, v: f64) -> f64 {
    c.iter().map(|&(p, q, k)| k * u.powi(p) * v.powi(q)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cards: &[&str]) -> Header {
        Header::from_records(cards.iter().map(|c| format!("{c:<80}"))).expect("valid header")
    }

    const TAN: [&str; 12] = [
        "NAXIS   = 2",
        "NAXIS1  = 100",
        "NAXIS2  = 200",
        "CTYPE1  = 'RA---TAN'",
        "CTYPE2  = 'DEC--TAN'",
        "CRPIX1  = 50.5",
        "CRPIX2  = 100.5",
        "CRVAL1  = 150.0",
        "CRVAL2  = 2.0",
        "CD1_1   = -0.0001",
        "CD2_2   = 0.0001",
        "CD1_2   = 0.0",
    ];

    #[test]
    fn crpix_maps_to_crval() {
        let w = Wcs::from_header(&header(&TAN)).expect("valid wcs");
        let p = w.pixel_to_sky(50.5, 100.5).expect("on sky");
        assert!(
            (p.ra - 150.0).abs() < 1e-12 && (p.dec - 2.0).abs() < 1e-12,
            "{p:?}"
        );
        assert!((w.pixel_scale_arcsec() - 0.36).abs() < 1e-12);
    }

    #[test]
    fn sip_round_trip_without_inverse_coefficients() {
        let mut cards = TAN.to_vec();
        cards[3] = "CTYPE1  = 'RA---TAN-SIP'";
        cards[4] = "CTYPE2  = 'DEC--TAN-SIP'";
        cards.extend([
            "A_ORDER = 2",
            "B_ORDER = 2",
            "A_2_0   = 2.0E-5",
            "A_1_1 = -1.0E-5",
            "B_0_2   = 3.0E-5",
        ]);
        let w = Wcs::from_header(&header(&cards)).expect("valid wcs");
        assert!(w.has_sip());
        for (x, y) in [(1.0, 1.0), (100.0, 200.0), (33.3, 150.7)] {
            let p = w.pixel_to_sky(x, y).expect("on sky");
            let (x2, y2) = w.sky_to_pixel(p).expect("projects");
            assert!(
                (x - x2).abs() < 1e-8 && (y - y2).abs() < 1e-8,
                "({x},{y}) -> ({x2},{y2})"
            );
        }
        // The distortion really moves pixels: corner (1,1) differs from the SIP-free WCS.
        let plain = Wcs::from_header(&header(&TAN)).expect("valid");
        let d = skyport_sky::angular_separation(
            plain.pixel_to_sky(1.0, 1.0).expect("a"),
            w.pixel_to_sky(1.0, 1.0).expect("b"),
        );
        // At (1, 1): v = -99.5, so g = 3e-5 · 99.5² ≈ 0.297 px; f nearly cancels. 0.297 px × 0.36″.
        let expected = 3.0e-5 * 99.5_f64.powi(2) * 0.36 / 3600.0;
        assert!(
            (d - expected).abs() < 0.05 * expected,
            "SIP shift {d}, expected about {expected}"
        );
    }

    #[test]
    fn missing_and_short_ctypes_are_clear_errors() {
        let err = Wcs::from_header(&header(&TAN[..3])).expect_err("no ctype");
        assert!(matches!(err, WcsError::Missing(_)));
        let mut cards = TAN.to_vec();
        cards[3] = "CTYPE1  = 'RA'";
        assert!(matches!(
            Wcs::from_header(&header(&cards)),
            Err(WcsError::Missing(_))
        ));
        cards[3] = "CTYPE1  = 'RA---XYZ'";
        assert!(matches!(
            Wcs::from_header(&header(&cards)),
            Err(WcsError::Invalid(_))
        ));
    }

    #[test]
    fn footprint_is_counter_clockwise_and_holds_the_centre() {
        let w = Wcs::from_header(&header(&TAN)).expect("valid");
        let fp = w.footprint().expect("footprint");
        assert_eq!(fp.vertices().len(), 4);
        let c = w.center().expect("centre");
        assert!(skyport_sky::angular_separation(fp.centroid(), c) < 1e-6);
    }
}
