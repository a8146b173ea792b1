//! Pixel ↔ sky agreement with astropy on every real header in the shared data and testdata.
//!
//! The reference values were computed once by `tools/make_astropy_reference.py` (astropy
//! `all_pix2world`/`all_world2pix`, origin 1) and committed in `testdata/reference/`.

use std::path::PathBuf;

use serde_json::Value;
use skyport_fits::{read_summary, Header, Wcs};
use skyport_sky::{angular_separation, SkyPoint};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Shared data lives beside the repository unless SKYPORT_SHARED_DATA says otherwise.
fn shared_data() -> PathBuf {
    std::env::var_os("SKYPORT_SHARED_DATA")
        .map_or_else(|| repo().join("../shared/data"), PathBuf::from)
}

/// `fits/<dir>/<file>`: files copied from PyPI are in testdata/, the rest in the shared data.
fn locate(rel: &str) -> PathBuf {
    let local = repo().join("testdata").join(rel);
    if local.exists() {
        local
    } else {
        let shared = shared_data().join(rel);
        assert!(
            shared.exists(),
            "{} is missing: is the shared data beside the repository (or SKYPORT_SHARED_DATA set)?",
            shared.display()
        );
        shared
    }
}

fn header_of(path: &PathBuf, hdu: usize) -> Header {
    if path.extension().is_some_and(|e| e == "hdr") {
        Header::from_dump(&std::fs::read(path).expect("read header file")).expect("header parses")
    } else {
        read_summary(path).expect("FITS opens").hdus[hdu]
            .header
            .clone()
    }
}

fn pairs(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|p| (p[0].as_f64().expect("x"), p[1].as_f64().expect("y")))
        .collect()
}

#[test]
fn pixel_to_sky_and_back_agree_with_astropy() {
    let text = std::fs::read_to_string(repo().join("testdata/reference/astropy_wcs.json"))
        .expect("reference");
    let reference: Value = serde_json::from_str(&text).expect("json");
    let files = reference["files"].as_object().expect("files");
    let (mut checked_hdus, mut checked_points, mut worst_deg, mut worst_px) =
        (0, 0, 0.0f64, 0.0f64);
    let mut unsupported = Vec::new();
    for (rel, entries) in files {
        for e in entries.as_array().expect("entries") {
            let Some(hdu) = e["hdu"].as_u64() else {
                continue;
            };
            if e.get("astropy_error").is_some() {
                continue;
            }
            let path = locate(rel);
            let header = header_of(&path, hdu as usize);
            let wcs = match Wcs::from_header(&header) {
                Ok(w) => w,
                Err(err) => {
                    unsupported.push(format!("{rel}[{hdu}]: {err}"));
                    continue;
                }
            };
            // The criterion is 1e-6 degree both ways; sky→pixel differences are converted to
            // degrees with the pixel scale.
            let deg_per_px = e["pixel_scale_arcsec"].as_f64().expect("scale") / 3600.0;
            for ((x, y), (ra, dec)) in pairs(&e["pixels"]).into_iter().zip(pairs(&e["sky"])) {
                let ours = wcs
                    .pixel_to_sky(x, y)
                    .unwrap_or_else(|| panic!("{rel}[{hdu}] ({x},{y}) did not project"));
                let theirs = SkyPoint::new(ra, dec).expect("astropy point");
                let d = angular_separation(ours, theirs);
                worst_deg = worst_deg.max(d);
                assert!(d < 1e-6, "{rel}[{hdu}] pixel ({x},{y}): ours {ours:?}, astropy ({ra},{dec}), {d:e} deg apart");
                let (bx, by) = wcs
                    .sky_to_pixel(theirs)
                    .unwrap_or_else(|| panic!("{rel}[{hdu}] ({ra},{dec}) did not project back"));
                let dp = (bx - x).abs().max((by - y).abs());
                worst_px = worst_px.max(dp);
                assert!(
                    dp * deg_per_px < 1e-6,
                    "{rel}[{hdu}] sky ({ra},{dec}): pixel ({bx},{by}) vs ({x},{y})"
                );
                checked_points += 1;
            }
            let (cra, cdec) = (
                e["centre"][0].as_f64().expect("ra"),
                e["centre"][1].as_f64().expect("dec"),
            );
            let centre = wcs.center().expect("centre");
            assert!(
                angular_separation(centre, SkyPoint::new(cra, cdec).expect("pt")) < 1e-6,
                "{rel}[{hdu}] centre"
            );
            let scale = e["pixel_scale_arcsec"].as_f64().expect("scale");
            assert!(
                (wcs.pixel_scale_arcsec() - scale).abs() < 1e-9 * scale.max(1.0),
                "{rel}[{hdu}] pixel scale"
            );
            checked_hdus += 1;
        }
    }
    // TPV is the one projection astropy reads here that we do not; anything else is a failure.
    assert!(
        unsupported.iter().all(|u| u.contains("TPV")),
        "unexpectedly unsupported: {unsupported:#?}"
    );
    assert!(checked_hdus >= 60, "only {checked_hdus} HDUs checked");
    eprintln!(
        "{checked_hdus} HDUs, {checked_points} points; worst {worst_deg:e} deg, {worst_px:e} px"
    );
}
