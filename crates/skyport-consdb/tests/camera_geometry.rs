//! The camera model's detector footprints against the sky WCS Rubin's camera simulator wrote
//! into an LSSTCamSim raw: one WCS per amplifier, in the amplifier's own pixel frame, mapped to
//! detector pixels by DATASEC/DETSEC. Each data corner of each amplifier must land where the
//! model (boresight RA/DEC, ROTPA, nominal geometry) puts that detector pixel.
//!
//! Only the upper row of amplifiers (Segment1x) is used: the lower row's WCSs in this file
//! put those amplifiers beside the detector, mirrored about its edge (x from −4083 to 10 in
//! detector pixels), contradicting their own DETSEC — a simulator artefact, not geometry.

use std::path::PathBuf;

use skyport_consdb::headers::camera::Camera;
use skyport_fits::{read_summary, Wcs};
use skyport_sky::{angular_separation, SkyPoint};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// `[a:b,c:d]` → ((a, b), (c, d)).
fn section(text: &str) -> ((f64, f64), (f64, f64)) {
    let nums: Vec<f64> = text
        .trim_matches(|c| c == '[' || c == ']' || c == '\'' || c == ' ')
        .split([',', ':'])
        .map(|n| n.trim().parse().expect("a section bound"))
        .collect();
    ((nums[0], nums[1]), (nums[2], nums[3]))
}

/// Detector pixel of amplifier pixel `p` on one axis, given the data (`from`) and detector
/// (`to`) ranges; a reversed `to` range means the amplifier reads that axis backwards.
fn to_detector(p: f64, from: (f64, f64), to: (f64, f64)) -> f64 {
    let step = if to.1 >= to.0 { 1.0 } else { -1.0 };
    to.0 + step * (p - from.0)
}

#[test]
fn lsstcamsim_amplifier_wcs_agrees_with_the_camera_model() {
    let path = shared("fits/obs_lsst/7024032100720-R22-S11-det094.fits.fz");
    let summary = read_summary(&path).expect("the LSSTCamSim raw");
    let primary = &summary.hdus[0].header;
    let (ra, dec, rotpa) = (
        primary.f64("RA").expect("RA"),
        primary.f64("DEC").expect("DEC"),
        primary.f64("ROTPA").expect("ROTPA"),
    );
    let camera = Camera::LsstCam;
    let detector = camera
        .detector(
            &primary.str("RAFTBAY").expect("RAFTBAY"),
            &primary.str("CCDSLOT").expect("CCDSLOT"),
        )
        .expect("R22_S11")
        .with_vendor(Some("E2V"));
    let mut worst: f64 = 0.0;
    let mut checked = 0;
    for hdu in &summary.hdus[1..] {
        let h = &hdu.header;
        if !hdu
            .extname
            .as_deref()
            .is_some_and(|n| n.starts_with("Segment1"))
        {
            continue;
        }
        let wcs = Wcs::from_header(h).expect("an amplifier WCS");
        let (data_x, data_y) = section(&h.str("DATASEC").expect("DATASEC"));
        let (det_x, det_y) = section(&h.str("DETSEC").expect("DETSEC"));
        for x in [data_x.0, data_x.1] {
            for y in [data_y.0, data_y.1] {
                let written = wcs.pixel_to_sky(x, y).expect("on the sky");
                let pixel = (to_detector(x, data_x, det_x), to_detector(y, data_y, det_y));
                let (a, d) = camera.pixel_to_sky(&detector, pixel, ra, dec, rotpa);
                let model = SkyPoint::new(a, d).expect("a sky point");
                worst = worst.max(angular_separation(written, model) * 3600.0);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 32, "8 amplifiers, 4 corners each");
    // The model neglects optical distortion and each sensor's measured offset from its
    // nominal place: a few arcseconds, against a detector 13.7 arcminutes across. A wrong
    // orientation, parity or scale would be off by arcminutes.
    assert!(
        worst < 5.0,
        "an amplifier corner is {worst:.2} arcsec off the model"
    );
}

#[test]
fn ccdexposure_ids_match_rubins_lsstcomcamsim_export() {
    let path = shared("consdb/tests/lsstcomcamsim/ccdexposure.ecsv");
    let text = std::fs::read_to_string(&path).expect("Rubin's ccdexposure export");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("a header line").split(' ').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).expect(name);
    let (id, exposure, detector) = (
        column("ccdexposure_id"),
        column("exposure_id"),
        column("detector"),
    );
    let mut checked = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        let number = |i: usize| fields[i].parse::<i64>().expect("an integer");
        assert_eq!(
            skyport_consdb::headers::camera::ccdexposure_id(number(exposure), number(detector)),
            Ok(number(id)),
            "{line}"
        );
        checked += 1;
    }
    assert!(checked >= 9, "{checked} rows");
}
