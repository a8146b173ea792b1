//! Sky positions of header translation: ICRS ↔ observed azimuth/altitude at a site and time
//! (IAU SOFA's algorithms, through the pure-Rust `sofars`: precession–nutation, aberration,
//! light deflection, Earth rotation; no refraction), FK5 → ICRS, and geocentric → geodetic
//! sites. UT1−UTC and polar motion come from the IERS EOP C04 series shipped in
//! `data/eopc04-daily.txt` (daily since 1990, interpolated; the last day's values after it);
//! ignoring them would cost up to ~14″.

use std::sync::OnceLock;

use hifitime::Epoch;

use super::time::utc_jd;

/// An observing site: geodetic longitude (east +) and latitude in degrees, height in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    /// East longitude, degrees.
    pub lon: f64,
    /// Geodetic latitude, degrees.
    pub lat: f64,
    /// Height above the WGS84 ellipsoid, metres.
    pub height: f64,
}

impl Site {
    /// The site of geocentric coordinates (metres, WGS84).
    pub fn from_geocentric(x: f64, y: f64, z: f64) -> Option<Site> {
        let (elong, phi, height) = sofars::coords::gc2gd(1, [x, y, z]).ok()?;
        Some(Site {
            lon: elong.to_degrees(),
            lat: phi.to_degrees(),
            height,
        })
    }
}

const EOP: &str = include_str!("../../data/eopc04-daily.txt");

/// (MJD, x″, y″, UT1−UTC s) per day.
fn eop_table() -> &'static [(f64, f64, f64, f64)] {
    static TABLE: OnceLock<Vec<(f64, f64, f64, f64)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        EOP.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let v: Vec<f64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (v.len() == 4).then(|| (v[0], v[1], v[2], v[3]))
            })
            .collect()
    })
}

/// (UT1−UTC in seconds, polar motion x and y in radians) at a UTC MJD. Between two days the
/// values are interpolated, except across a leap second (UT1−UTC jumps by a second there),
/// where the earlier day's value holds.
pub fn earth_orientation(mjd_utc: f64) -> (f64, f64, f64) {
    let table = eop_table();
    let arcsec = std::f64::consts::PI / 180.0 / 3600.0;
    let (Some(first), Some(last)) = (table.first(), table.last()) else {
        return (0.0, 0.0, 0.0);
    };
    let at = |e: &(f64, f64, f64, f64)| (e.3, e.1 * arcsec, e.2 * arcsec);
    if mjd_utc <= first.0 {
        return at(first);
    }
    if mjd_utc >= last.0 {
        return at(last);
    }
    let i = ((mjd_utc - first.0).floor() as usize).min(table.len() - 2);
    let (a, b) = (table[i], table[i + 1]);
    let f = (mjd_utc - a.0) / (b.0 - a.0).max(1e-9);
    let lerp = |x: f64, y: f64| x + (y - x) * f;
    let dut1 = if (b.3 - a.3).abs() > 0.5 {
        a.3
    } else {
        lerp(a.3, b.3)
    };
    (dut1, lerp(a.1, b.1) * arcsec, lerp(a.2, b.2) * arcsec)
}

/// What SOFA's observed-place routines need of an observation: UTC (two-part JD), UT1−UTC,
/// the site (radians, metres) and polar motion (radians).
struct Observer {
    utc: (f64, f64),
    dut1: f64,
    elong: f64,
    phi: f64,
    height: f64,
    xp: f64,
    yp: f64,
}

impl Observer {
    fn new(when: Epoch, site: Site) -> Observer {
        let utc = utc_jd(when);
        let (dut1, xp, yp) = earth_orientation(utc.1);
        Observer {
            utc,
            dut1,
            elong: site.lon.to_radians(),
            phi: site.lat.to_radians(),
            height: site.height,
            xp,
            yp,
        }
    }
}

/// Observed (azimuth, altitude) in degrees, azimuth from north through east in [0, 360), of
/// an ICRS position at `when`.
pub fn icrs_to_altaz(ra: f64, dec: f64, when: Epoch, site: Site) -> Option<(f64, f64)> {
    let o = Observer::new(when, site);
    // No refraction (pressure 0): the geometric observed place, as astropy's AltAz frame
    // without pressure gives.
    let (aob, zob, ..) = sofars::astro::atco13(
        ra.to_radians(),
        dec.to_radians(),
        0.0,
        0.0,
        0.0,
        0.0,
        o.utc.0,
        o.utc.1,
        o.dut1,
        o.elong,
        o.phi,
        o.height,
        o.xp,
        o.yp,
        0.0,
        0.0,
        0.0,
        0.55,
    )
    .ok()?;
    Some((aob.to_degrees().rem_euclid(360.0), 90.0 - zob.to_degrees()))
}

/// The ICRS (ra, dec) in degrees seen at observed (azimuth, altitude) at `when`.
pub fn altaz_to_icrs(az: f64, alt: f64, when: Epoch, site: Site) -> Option<(f64, f64)> {
    let o = Observer::new(when, site);
    let (ra, dec) = sofars::astro::atoc13(
        "A",
        az.to_radians(),
        (90.0 - alt).to_radians(),
        o.utc.0,
        o.utc.1,
        o.dut1,
        o.elong,
        o.phi,
        o.height,
        o.xp,
        o.yp,
        0.0,
        0.0,
        0.0,
        0.55,
    )
    .ok()?;
    Some((ra.to_degrees().rem_euclid(360.0), dec.to_degrees()))
}

fn unit(lon: f64, lat: f64) -> [f64; 3] {
    let (l, b) = (lon.to_radians(), lat.to_radians());
    [b.cos() * l.cos(), b.cos() * l.sin(), b.sin()]
}

fn angles(v: [f64; 3]) -> (f64, f64) {
    let lon = v[1].atan2(v[0]).to_degrees().rem_euclid(360.0);
    let lat = v[2].atan2(v[0].hypot(v[1])).to_degrees();
    (lon, lat)
}

/// FK5 (J2000) to ICRS: the fixed frame bias (IERS Conventions: η0 = −19.9 mas,
/// ξ0 = 9.1 mas, dα0 = −22.9 mas; FK5 = B·ICRS, so ICRS = Bᵀ·FK5).
pub fn fk5_to_icrs(ra: f64, dec: f64) -> (f64, f64) {
    let mas = std::f64::consts::PI / 180.0 / 3.6e6;
    let (eta0, xi0, da0) = (-19.9 * mas, 9.1 * mas, -22.9 * mas);
    // Frame rotations R1(a), R2(a), R3(a) as in SOFA (rotating the axes).
    let r1 = |a: f64| {
        let (s, c) = a.sin_cos();
        [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]]
    };
    let r2 = |a: f64| {
        let (s, c) = a.sin_cos();
        [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]]
    };
    let r3 = |a: f64| {
        let (s, c) = a.sin_cos();
        [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]
    };
    let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
        let mut m = [[0.0; 3]; 3];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        m
    };
    let b = mul(mul(r1(-eta0), r2(xi0)), r3(da0));
    let v = unit(ra, dec);
    // Bᵀ·v
    let icrs = [0, 1, 2].map(|j| (0..3).map(|i| b[i][j] * v[i]).sum::<f64>());
    angles(icrs)
}

/// The direction halfway between two (azimuth, altitude) pairs: the normalised sum of their
/// unit vectors.
pub fn mean_altaz(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (u, v) = (unit(a.0, a.1), unit(b.0, b.1));
    angles([u[0] + v[0], u[1] + v[1], u[2] + v[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_bias_is_a_few_milliarcseconds() {
        // DECam fitsheader-decam.yaml, per the oracle: Δra ≈ −6.36e-6°, Δdec ≈ +1.90e-6°.
        let (ra, dec) = fk5_to_icrs(341.6030169504276, 20.78888391240488);
        assert!((ra - 341.6030169504276).abs() < 2e-5);
        assert!((dec - 20.78888391240488).abs() < 2e-5);
        let (az, alt) = mean_altaz((350.0, 40.0), (10.0, 40.0));
        assert!(az.abs() < 1e-9 || (az - 360.0).abs() < 1e-9);
        assert!(alt > 40.0);
    }
}
