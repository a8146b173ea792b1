//! Rubin's cameras as ConsDB needs them: detector numbers from names, the detector-exposure id
//! packing, and footprints on the sky from the boresight and rotator angle.
//!
//! **Detector ids.** Rubin numbers LSSTCam's 189 science detectors raft by raft (R01, R02, …,
//! R43, nine each, `S<row><col>` → 3·row + col) and then the four corner rafts (R00, R04, R40,
//! R44: SG0, SG1, SW0, SW1 from 189). ComCam is raft R22 alone (0–8); LATISS has detector 0.
//! A detector exposure is identified by obs_lsst's packing (its `RubinDimensionPacker` with
//! all controllers): `detector + 256·(seq_num + 32768·(days since 2010-01-01 + 16384·controller))`,
//! where day_obs, seq_num and the controller come back out of the exposure id. The rule was
//! checked against Rubin's own ConsDB export of LSSTComCamSim (`ccdexposure_id` 730865976064
//! for exposure 7024040300451, detector 0) and the values obs_lsst's tests expect.
//!
//! **Footprints.** Raw LSST headers carry no sky WCS, so regions come from the nominal camera
//! geometry, as Rubin's header service does: detector centres on the focal plane (rafts on a
//! 127 mm grid, sensors on a 42.25 mm grid within a raft, 10 µm pixels), the plate scale, and a
//! gnomonic projection about the boresight with the detector +y axis at position angle ROTPA
//! (east of north) and +x at ROTPA − 90°. That orientation was read off the amplifier WCSs
//! Rubin's camera simulator writes into LSSTCamSim raws; optical distortion (under 6″ at the
//! field edge) is neglected.

use std::f64::consts::PI;

use skyport_sky::{Polygon, SkyPoint};

/// Days from 0001-01-01 (proleptic Gregorian) to a YYYYMMDD date, or `None` for a bad date.
fn ordinal_day(yyyymmdd: i64) -> Option<i64> {
    let (y, m, d) = (yyyymmdd / 10_000, (yyyymmdd / 100) % 100, yyyymmdd % 100);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)?;
    Some(i64::from(chrono::Datelike::num_days_from_ce(&date)))
}

/// The controller codes in the order of their index in exposure ids.
const CONTROLLERS: [char; 6] = ['O', 'C', 'H', 'P', 'Q', 'S'];

/// The detector-exposure id of LSST-family `exposure_id` and `detector`.
pub fn ccdexposure_id(exposure_id: i64, detector: i64) -> Result<i64, String> {
    if exposure_id < 0 {
        return Err(format!("exposure id {exposure_id} is negative"));
    }
    let (day_field, seq_num) = (exposure_id / 100_000, exposure_id % 100_000);
    let controller = day_field / 10_000_000 - 2;
    if !(0..CONTROLLERS.len() as i64).contains(&controller) {
        return Err(format!(
            "exposure id {exposure_id} does not encode a known controller"
        ));
    }
    let day_obs = day_field - controller * 10_000_000;
    let (Some(day), Some(begin)) = (ordinal_day(day_obs), ordinal_day(20100101)) else {
        return Err(format!(
            "exposure id {exposure_id} does not encode a date (day_obs {day_obs})"
        ));
    };
    let days = day - begin;
    if !(0..16_384).contains(&days) {
        return Err(format!(
            "day_obs {day_obs} is outside the packable range 2010-01-01 to 2054-11-09"
        ));
    }
    if seq_num >= 32_768 {
        return Err(format!(
            "seq_num {seq_num} does not fit the packing (< 32768)"
        ));
    }
    if !(0..256).contains(&detector) {
        return Err(format!("detector {detector} is outside 0–255"));
    }
    Ok(detector + 256 * (seq_num + 32_768 * (days + 16_384 * controller)))
}

/// Which camera a detector belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Camera {
    /// LSSTCam (and its simulated twin): 21 science rafts and 4 corner rafts.
    LsstCam,
    /// ComCam (and ComCamSim): raft R22.
    ComCam,
    /// LATISS: one detector.
    Latiss,
}

/// LSSTCam's science rafts in detector-number order.
const SCIENCE_RAFTS: [&str; 21] = [
    "R01", "R02", "R03", "R10", "R11", "R12", "R13", "R14", "R20", "R21", "R22", "R23", "R24",
    "R30", "R31", "R32", "R33", "R34", "R41", "R42", "R43",
];

/// LSSTCam's corner rafts with their rotation (degrees) on the focal plane.
const CORNER_RAFTS: [(&str, f64); 4] =
    [("R00", 180.0), ("R04", 270.0), ("R40", 90.0), ("R44", 0.0)];

/// A corner-raft sensor: name, offset (mm) within an unrotated raft, size (pixels).
type CornerSensor = (&'static str, (f64, f64), (f64, f64));

/// LSSTCam's corner-raft sensors.
const CORNER_SENSORS: [CornerSensor; 4] = [
    ("SG0", (-42.25, 0.0), (4072.0, 4000.0)),
    ("SG1", (0.0, -42.25), (4072.0, 4000.0)),
    ("SW0", (-42.25, -52.8125), (4072.0, 2000.0)),
    ("SW1", (-42.25, -31.6875), (4072.0, 2000.0)),
];

const RAFT_PITCH_MM: f64 = 127.0;
const SENSOR_PITCH_MM: f64 = 42.25;
const PIXEL_MM: f64 = 0.01;

/// Splits `R22_S11`, `R22S11` or (`R22`, `S11`) forms into raft and sensor names.
pub fn split_name(name: &str) -> Option<(String, String)> {
    let n = name.trim().to_ascii_uppercase().replace('_', "");
    if n.len() != 6 || !n.is_ascii() || !n.starts_with('R') || n.as_bytes()[3] != b'S' {
        return None;
    }
    Some((n[..3].to_string(), n[3..].to_string()))
}

fn digits(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    if b.len() != 3 || !b[1].is_ascii_digit() || !b[2].is_ascii_digit() {
        return None;
    }
    Some((i64::from(b[1] - b'0'), i64::from(b[2] - b'0')))
}

/// A detector's place on the focal plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detector {
    /// Rubin's detector number.
    pub number: i64,
    /// Centre on the focal plane, mm (DM's camera frame, aligned with the pixel axes).
    pub centre_mm: (f64, f64),
    /// Size in pixels along the focal-plane x and y axes.
    pub size_px: (f64, f64),
}

impl Detector {
    /// The same detector with the size of its sensor vendor's CCDs (`CCD_MANU`): e2v sensors
    /// are 4096 × 4004 pixels, ITL's (the default) 4072 × 4000.
    pub fn with_vendor(mut self, vendor: Option<&str>) -> Detector {
        if vendor.is_some_and(|v| v.eq_ignore_ascii_case("E2V")) && self.size_px.1 > 2000.0 {
            self.size_px = (4096.0, 4004.0);
        }
        self
    }
}

impl Camera {
    /// Plate scale, arcseconds per mm on the focal plane.
    pub fn plate_scale(self) -> f64 {
        match self {
            Camera::LsstCam => 20.0059,
            Camera::ComCam => 20.0181,
            Camera::Latiss => 9.5695,
        }
    }

    /// The detector of `raft`/`sensor`, when the camera has one of that name.
    pub fn detector(self, raft: &str, sensor: &str) -> Option<Detector> {
        let science_size = (4072.0, 4000.0);
        match self {
            Camera::Latiss => {
                (sensor == "S00" && matches!(raft, "R00" | "RXX")).then_some(Detector {
                    number: 0,
                    centre_mm: (41.735 - SENSOR_PITCH_MM, 42.195 - SENSOR_PITCH_MM),
                    size_px: science_size,
                })
            }
            Camera::ComCam => {
                let (row, col) = digits(sensor).filter(|(r, c)| *r < 3 && *c < 3)?;
                (raft == "R22").then_some(Detector {
                    number: 3 * row + col,
                    centre_mm: (
                        (col - 1) as f64 * SENSOR_PITCH_MM,
                        (row - 1) as f64 * SENSOR_PITCH_MM,
                    ),
                    size_px: science_size,
                })
            }
            Camera::LsstCam => {
                let (raft_row, raft_col) = digits(raft).filter(|(r, c)| *r < 5 && *c < 5)?;
                let raft_centre = (
                    (raft_col - 2) as f64 * RAFT_PITCH_MM,
                    (raft_row - 2) as f64 * RAFT_PITCH_MM,
                );
                if let Some(k) = SCIENCE_RAFTS.iter().position(|r| *r == raft) {
                    let (row, col) = digits(sensor).filter(|(r, c)| *r < 3 && *c < 3)?;
                    return Some(Detector {
                        number: 9 * k as i64 + 3 * row + col,
                        centre_mm: (
                            raft_centre.0 + (col - 1) as f64 * SENSOR_PITCH_MM,
                            raft_centre.1 + (row - 1) as f64 * SENSOR_PITCH_MM,
                        ),
                        size_px: science_size,
                    });
                }
                let (k, (_, yaw)) = CORNER_RAFTS
                    .iter()
                    .enumerate()
                    .find(|(_, (r, _))| *r == raft)?;
                let (j, (_, offset, size)) = CORNER_SENSORS
                    .iter()
                    .enumerate()
                    .find(|(_, (s, ..))| *s == sensor)?;
                let (s, c) = (yaw * PI / 180.0).sin_cos();
                let quarter_turn = (yaw / 90.0).round() as i64 % 2 == 1;
                Some(Detector {
                    number: 189 + 4 * k as i64 + j as i64,
                    centre_mm: (
                        raft_centre.0 + c * offset.0 - s * offset.1,
                        raft_centre.1 + s * offset.0 + c * offset.1,
                    ),
                    size_px: if quarter_turn {
                        (size.1, size.0)
                    } else {
                        *size
                    },
                })
            }
        }
    }

    /// Every detector of the camera.
    pub fn detectors(self) -> Vec<Detector> {
        let sensors: Vec<String> = (0..3)
            .flat_map(|r| (0..3).map(move |c| format!("S{r}{c}")))
            .collect();
        match self {
            Camera::Latiss => self.detector("R00", "S00").into_iter().collect(),
            Camera::ComCam => sensors
                .iter()
                .filter_map(|s| self.detector("R22", s))
                .collect(),
            Camera::LsstCam => SCIENCE_RAFTS
                .iter()
                .flat_map(|r| sensors.iter().map(move |s| (r.to_string(), s.clone())))
                .chain(CORNER_RAFTS.iter().flat_map(|(r, _)| {
                    CORNER_SENSORS
                        .iter()
                        .map(move |(s, ..)| (r.to_string(), s.to_string()))
                }))
                .filter_map(|(r, s)| self.detector(&r, &s))
                .collect(),
        }
    }

    /// The sky position (degrees) of focal-plane point `fp` (mm) for a boresight at
    /// (`ra`, `dec`) with rotator position angle `rotpa` (degrees).
    pub fn to_sky(self, fp: (f64, f64), ra: f64, dec: f64, rotpa: f64) -> (f64, f64) {
        let scale = self.plate_scale() / 3600.0 * PI / 180.0;
        let (s, c) = (rotpa * PI / 180.0).sin_cos();
        // Standard coordinates: xi towards east, eta towards north.
        let xi = scale * (-fp.0 * c + fp.1 * s);
        let eta = scale * (fp.0 * s + fp.1 * c);
        let (a0, d0) = (ra * PI / 180.0, dec * PI / 180.0);
        let denominator = d0.cos() - eta * d0.sin();
        let a = a0 + xi.atan2(denominator);
        let d = (d0.sin() + eta * d0.cos()).atan2(xi.hypot(denominator));
        ((a * 180.0 / PI).rem_euclid(360.0), d * 180.0 / PI)
    }

    /// The sky position of pixel (`x`, `y`) of `detector` (FITS convention: the first pixel's
    /// centre is 1, 1), for a boresight and rotator angle.
    pub fn pixel_to_sky(
        self,
        detector: &Detector,
        (x, y): (f64, f64),
        ra: f64,
        dec: f64,
        rotpa: f64,
    ) -> (f64, f64) {
        let fp = (
            detector.centre_mm.0 + (x - (detector.size_px.0 + 1.0) / 2.0) * PIXEL_MM,
            detector.centre_mm.1 + (y - (detector.size_px.1 + 1.0) / 2.0) * PIXEL_MM,
        );
        self.to_sky(fp, ra, dec, rotpa)
    }

    /// The STC-S polygon (ConsDB's form, `Polygon ICRS ra dec …`, vertices in the DALI
    /// orientation) of focal-plane points; `None` when the boresight is not a sky position.
    fn polygon(self, points: &[(f64, f64)], ra: f64, dec: f64, rotpa: f64) -> Option<String> {
        let vertices: Option<Vec<SkyPoint>> = points
            .iter()
            .map(|p| {
                let (a, d) = self.to_sky(*p, ra, dec, rotpa);
                SkyPoint::new(a, d).ok()
            })
            .collect();
        Polygon::new(vertices?).ok().map(|p| stcs(&p))
    }

    /// The corners of `detector` on the focal plane (mm).
    fn corners(detector: &Detector) -> [(f64, f64); 4] {
        let (hx, hy) = (
            detector.size_px.0 * PIXEL_MM / 2.0,
            detector.size_px.1 * PIXEL_MM / 2.0,
        );
        let (x, y) = detector.centre_mm;
        [
            (x - hx, y - hy),
            (x + hx, y - hy),
            (x + hx, y + hy),
            (x - hx, y + hy),
        ]
    }

    /// A detector's footprint for a boresight and rotator angle.
    pub fn detector_region(
        self,
        detector: &Detector,
        ra: f64,
        dec: f64,
        rotpa: f64,
    ) -> Option<String> {
        self.polygon(&Self::corners(detector), ra, dec, rotpa)
    }

    /// The whole focal plane's footprint: the convex hull of every detector.
    pub fn focal_plane_region(self, ra: f64, dec: f64, rotpa: f64) -> Option<String> {
        let points: Vec<(f64, f64)> = self.detectors().iter().flat_map(Self::corners).collect();
        self.polygon(&convex_hull(points), ra, dec, rotpa)
    }
}

/// A polygon in ConsDB's STC-S form, `Polygon ICRS ra dec …` (degrees, 6 decimals).
pub fn stcs(polygon: &Polygon) -> String {
    let mut s = String::from("Polygon ICRS");
    for v in polygon.vertices() {
        s.push_str(&format!(" {:.6} {:.6}", v.ra, v.dec));
    }
    s
}

/// Counter-clockwise convex hull (Andrew's monotone chain).
fn convex_hull(mut points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(points.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(f64, f64)>> = if pass == 0 {
            Box::new(points.iter())
        } else {
            Box::new(points.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_matches_rubins_comcamsim_export() {
        // Rubin's ConsDB export (consdb/tests/lsstcomcamsim/ccdexposure.ecsv).
        assert_eq!(ccdexposure_id(7024040300451, 0), Ok(730865976064));
        assert_eq!(ccdexposure_id(7024040300451, 8), Ok(730865976072));
    }

    #[test]
    fn packing_rejects_what_does_not_fit() {
        assert!(ccdexposure_id(2024040300451, 256).is_err());
        assert!(ccdexposure_id(2024040340000, 0).is_err());
        assert!(ccdexposure_id(2024130100001, 0).is_err());
        assert!(ccdexposure_id(9024040300451, 0).is_err());
        assert!(ccdexposure_id(-1, 0).is_err());
    }

    #[test]
    fn detector_numbers() {
        let cam = Camera::LsstCam;
        assert_eq!(cam.detector("R01", "S00").map(|d| d.number), Some(0));
        assert_eq!(cam.detector("R11", "S20").map(|d| d.number), Some(42));
        assert_eq!(cam.detector("R22", "S11").map(|d| d.number), Some(94));
        assert_eq!(cam.detector("R43", "S22").map(|d| d.number), Some(188));
        assert_eq!(cam.detector("R00", "SG0").map(|d| d.number), Some(189));
        assert_eq!(cam.detector("R44", "SW1").map(|d| d.number), Some(204));
        assert_eq!(cam.detectors().len(), 205);
        assert!(cam.detector("R00", "S11").is_none());
        assert!(cam.detector("R55", "S11").is_none());
        assert_eq!(
            Camera::ComCam.detector("R22", "S22").map(|d| d.number),
            Some(8)
        );
        assert!(Camera::ComCam.detector("R21", "S22").is_none());
        assert_eq!(split_name("R22_S11"), Some(("R22".into(), "S11".into())));
        assert_eq!(split_name("R22S11"), Some(("R22".into(), "S11".into())));
        assert_eq!(split_name("R2é_S11"), None);
    }

    #[test]
    fn boresight_detector_is_centred_and_oriented_by_rotpa() {
        // With ROTPA 0 at the equator, detector +y (focal-plane y) points north.
        let d = Camera::ComCam.detector("R22", "S21").expect("detector");
        let (ra, dec) = Camera::ComCam.to_sky(d.centre_mm, 10.0, 0.0, 0.0);
        assert!((ra - 10.0).abs() < 1e-9);
        let offset = (42.25 * 20.0181 / 3600.0_f64).to_radians();
        assert!((dec - offset.atan().to_degrees()).abs() < 1e-9, "{dec}");
        // ROTPA 90: +y points east (RA grows).
        let (ra, dec) = Camera::ComCam.to_sky(d.centre_mm, 10.0, 0.0, 90.0);
        assert!(
            (ra - 10.0 - offset.atan().to_degrees()).abs() < 1e-9,
            "{ra}"
        );
        assert!(dec.abs() < 1e-9);
    }

    #[test]
    fn projection_wraps_in_ra_and_over_the_pole() {
        let cam = Camera::LsstCam;
        let mm = |deg: f64| deg * 3600.0 / cam.plate_scale();
        // ROTPA 90: focal-plane +y points east.
        let (ra, dec) = cam.to_sky((0.0, mm(0.2)), 359.9, 0.0, 90.0);
        assert!((ra - 0.1).abs() < 1e-3 && dec.abs() < 1e-9, "{ra} {dec}");
        // ROTPA 0: focal-plane -y points south, past the pole.
        let (_, dec) = cam.to_sky((0.0, -mm(0.5)), 40.0, -89.7, 0.0);
        assert!(dec > -90.0 && dec < -89.7, "{dec}");
    }

    #[test]
    fn focal_plane_hull_is_convex_and_holds_every_corner() {
        let hull = convex_hull(
            Camera::LsstCam
                .detectors()
                .iter()
                .flat_map(Camera::corners)
                .collect(),
        );
        assert!(hull.len() >= 8, "{hull:?}");
        for w in 0..hull.len() {
            let (a, b, c) = (
                hull[w],
                hull[(w + 1) % hull.len()],
                hull[(w + 2) % hull.len()],
            );
            assert!((b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0) > 0.0);
        }
        let extent = hull
            .iter()
            .map(|p| p.0.abs().max(p.1.abs()))
            .fold(0.0, f64::max);
        assert!((extent - (254.0 + 42.25 + 20.36)).abs() < 0.5, "{extent}");
    }
}
