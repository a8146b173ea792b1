//! Ingest of every real FITS file in the shared data and testdata, with each ObsCore field
//! checked against values astropy computed independently (testdata/reference/astropy_wcs.json),
//! and the refusals checked for their reasons.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use skyport_consdb::{
    build_record, default_bands, is_fits_name, DataRoot, IngestError, IngestSettings,
};
use skyport_sky::{angular_separation, SkyPoint};
use skyport_store::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_fits() -> PathBuf {
    std::env::var_os("SKYPORT_SHARED_DATA")
        .map_or_else(|| repo().join("../shared/data"), PathBuf::from)
        .join("fits")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else if !target.exists() {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A data root holding every real FITS file: shared data first, testdata on top.
fn archive_of_real_files() -> (tempfile::TempDir, IngestSettings) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("fits");
    std::fs::create_dir_all(&root).expect("mkdir");
    copy_tree(&repo().join("testdata/fits"), &root);
    copy_tree(&shared_fits(), &root);
    let settings = IngestSettings {
        authority: "skyport.test".into(),
        roots: vec![DataRoot {
            name: "real".into(),
            path: root,
            collection: "real".into(),
            calib_level: 1,
            instrument: None,
            obscore: Vec::new(),
            release_date: None,
        }],
        bands: default_bands(),
        require_wcs: true,
    };
    (dir, settings)
}

fn f(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// Files that must be refused, and why.
fn expected_refusals() -> BTreeMap<&'static str, &'static str> {
    [
        ("lsst_afw/ticketdm26260.fits.fz", "wcs"),
        ("obs_lsst/3018092000065-det000.fits", "wcs"),
        ("obs_lsst/3019053000001-R22-S00-det000.fits", "wcs"),
        ("obs_lsst/30211212000310-R22-S22-det098.fits", "wcs"),
        ("obs_lsst/MC_C_20240918_000013_R00_SG0_guider.fits", "wcs"),
        ("pypi_astropy/compressed_with_nan.fits", "wcs"),
        ("pypi_astropy/ie6d07ujq_wcs.fits", "wcs"),
        ("pypi_astropy/sip.fits", "image"),
        ("pypi_astropy/sip2.fits", "image"),
        ("pypi_astropy/validate.fits", "image"),
        ("pypi_astropy/zerowidth.fits", "image"),
        ("pypi_astroquery/astrometry_net_test-wcs-sol.fit", "image"),
        ("pypi_astroquery/ned_poss_query_images.fits", "wcs"),
        (
            "pypi_astroquery/wcs-sol-from-source-list-index-5200.fit",
            "image",
        ),
        (
            "pypi_astroquery/wcs-sol-from-thumbnail-image-index-5200.fit",
            "image",
        ),
        ("pypi_fitsio/test_rice_dither2_seed42.fits", "wcs"),
        ("pypi_fitsio/test_rice_dither2_seed42.fits.fz", "wcs"),
        ("pypi_reproject/image_with_distortion_map.fits", "wcs"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn every_real_file_is_ingested_or_refused_for_the_right_reason() {
    let (dir, settings) = archive_of_real_files();
    let reference: Json = serde_json::from_str(
        &std::fs::read_to_string(repo().join("testdata/reference/astropy_wcs.json"))
            .expect("reference"),
    )
    .expect("json");
    let refusals = expected_refusals();
    let mut files = Vec::new();
    let mut stack = vec![dir.path().join("fits")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("e").path();
            if p.is_dir() {
                stack.push(p);
            } else if is_fits_name(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 37, "only {} FITS files found", files.len());
    let (mut ingested, mut refused) = (0, 0);
    for path in &files {
        let rel = path
            .strip_prefix(dir.path().join("fits"))
            .expect("below root")
            .to_string_lossy()
            .replace('\\', "/");
        let result = build_record(&settings, path);
        if let Some(reason) = refusals.get(rel.as_str()) {
            let err = result.expect_err(&rel);
            let ok = match *reason {
                "wcs" => matches!(err, IngestError::NoWcs { .. }),
                _ => matches!(err, IngestError::NoImage(_)),
            };
            assert!(ok, "{rel}: expected refusal for {reason}, got {err}");
            assert!(
                err.to_string().contains(&rel),
                "error names the file: {err}"
            );
            refused += 1;
            continue;
        }
        let record = result.unwrap_or_else(|e| panic!("{rel}: {e}"));
        let entries = reference["files"][format!("fits/{rel}")]
            .as_array()
            .unwrap_or_else(|| panic!("{rel} not in reference"));
        let first = &entries[0];
        let hdu = first["hdu"]
            .as_i64()
            .unwrap_or_else(|| panic!("{rel}: reference has no WCS HDU: {first}"));
        let row = &record.obscore;
        assert_eq!(
            record.file.get("science_hdu").and_then(Value::as_i64),
            Some(hdu),
            "{rel}: science HDU"
        );
        let centre = SkyPoint::new(
            first["centre"][0].as_f64().expect("ra"),
            first["centre"][1].as_f64().expect("dec"),
        )
        .expect("pt");
        let ours = SkyPoint::new(f(row.get("s_ra")), f(row.get("s_dec"))).expect("our centre");
        assert!(
            angular_separation(ours, centre) < 1e-6,
            "{rel}: centre {ours:?} vs {centre:?}"
        );
        let naxis = &first["naxis"];
        assert_eq!(
            row.get("s_xel1").and_then(Value::as_i64),
            naxis[0].as_i64(),
            "{rel}: s_xel1"
        );
        assert_eq!(
            row.get("s_xel2").and_then(Value::as_i64),
            naxis[1].as_i64(),
            "{rel}: s_xel2"
        );
        let scale = first["pixel_scale_arcsec"].as_f64().expect("scale");
        assert!(
            (f(row.get("s_pixel_scale")) - scale).abs() < 1e-9 * scale,
            "{rel}: pixel scale"
        );
        // Footprint: the same four corners as astropy's calc_footprint(center=False).
        let region = row
            .get("s_region")
            .and_then(Value::as_str)
            .expect("s_region")
            .to_string();
        let numbers: Vec<f64> = region
            .split_whitespace()
            .skip(2)
            .map(|t| t.parse().expect("number"))
            .collect();
        assert_eq!(numbers.len(), 8, "{rel}: {region}");
        let theirs: Vec<SkyPoint> = first["footprint"]
            .as_array()
            .expect("fp")
            .iter()
            .map(|p| {
                SkyPoint::new(p[0].as_f64().expect("ra"), p[1].as_f64().expect("dec")).expect("pt")
            })
            .collect();
        let mut max_radius: f64 = 0.0;
        for pair in numbers.chunks(2) {
            let v = SkyPoint::new(pair[0], pair[1]).expect("vertex");
            let nearest = theirs
                .iter()
                .map(|t| angular_separation(v, *t))
                .fold(f64::INFINITY, f64::min);
            assert!(
                nearest < 1e-6,
                "{rel}: vertex {v:?} is {nearest:e} deg from astropy's corners"
            );
            max_radius = max_radius.max(angular_separation(centre, v));
        }
        assert!(
            (f(row.get("s_fov")) - 2.0 * max_radius).abs() < 2e-6,
            "{rel}: s_fov"
        );
        let times = first.get("time").cloned().unwrap_or(Json::Null);
        for key in ["t_min", "t_max", "t_exptime"] {
            let ours = f(row.get(key));
            match times.get(key).and_then(Json::as_f64) {
                // 1e-8 d is under a millisecond.
                Some(theirs) => assert!(
                    (ours - theirs).abs() < 1e-8,
                    "{rel}: {key} {ours} vs {theirs}"
                ),
                None if first.get("time").is_some() || key == "t_exptime" => {
                    assert!(
                        ours.is_nan() || key == "t_exptime",
                        "{rel}: {key} = {ours} where astropy has none"
                    )
                }
                None => {}
            }
        }
        assert_eq!(
            row.get("obs_publisher_did").and_then(Value::as_str),
            Some(format!("ivo://skyport.test/real?{}", rel_without_ext(&rel)).as_str())
        );
        assert_eq!(
            row.get("dataproduct_type"),
            Some(&Value::Text("image".into()))
        );
        assert_eq!(
            row.get("access_format"),
            Some(&Value::Text(
                "application/x-votable+xml;content=datalink".into()
            ))
        );
        // The DID, form-encoded by hand (":" "/" "?" are the only reserved characters our
        // DIDs hold besides those in the relative path).
        let did = format!("ivo://skyport.test/real?{}", rel_without_ext(&rel));
        let encoded = did
            .replace(':', "%3A")
            .replace('/', "%2F")
            .replace('?', "%3F");
        assert_eq!(
            row.get("access_url").and_then(Value::as_str),
            Some(format!("/datalink/links?ID={encoded}").as_str()),
            "{rel}"
        );
        let size = std::fs::metadata(path).expect("meta").len();
        assert_eq!(
            row.get("access_estsize").and_then(Value::as_i64),
            Some(size.div_ceil(1024) as i64)
        );
        ingested += 1;
    }
    assert_eq!(refused, refusals.len(), "every expected refusal was seen");
    assert_eq!(
        ingested + refused,
        files.len(),
        "every file is either ingested or refused"
    );
    assert_eq!(ingested, 19, "the 19 real images with a celestial WCS");
}

fn rel_without_ext(rel: &str) -> &str {
    for ext in [".fits.gz", ".fits.fz", ".fits", ".fit", ".fz"] {
        if let Some(s) = rel.strip_suffix(ext) {
            return s;
        }
    }
    rel
}

#[test]
fn without_require_wcs_a_wcs_less_image_gets_null_positions() {
    let (_dir, mut settings) = archive_of_real_files();
    settings.require_wcs = false;
    let path = settings.roots[0]
        .path
        .join("pypi_fitsio/test_rice_dither2_seed42.fits.fz");
    let record = build_record(&settings, &path).expect("ingested");
    assert_eq!(record.obscore.get("s_ra"), Some(&Value::Null));
    assert_eq!(record.obscore.get("s_region"), Some(&Value::Null));
    assert_eq!(
        record.obscore.get("s_xel1").and_then(Value::as_i64),
        Some(100)
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let (dir, settings) = archive_of_real_files();
    let root = &settings.roots[0].path;
    // Truncated: half of a plain image.
    let full = std::fs::read(root.join("pypi_astropy/m13.fits")).expect("read");
    let truncated = root.join("truncated.fits");
    std::fs::write(&truncated, &full[..full.len() / 2]).expect("write");
    let err = build_record(&settings, &truncated).expect_err("truncated");
    assert!(
        err.to_string().contains("truncated") && err.to_string().contains("truncated.fits"),
        "{err}"
    );
    // Not FITS at all.
    let garbage = root.join("garbage.fits");
    std::fs::write(&garbage, b"this is not a FITS file\n").expect("write");
    let err = build_record(&settings, &garbage).expect_err("garbage");
    assert!(err.to_string().contains("garbage.fits"), "{err}");
    // Unreadable: a dangling link (root can read any permission bits, so this is the real case).
    let dangling = root.join("gone.fits");
    std::os::unix::fs::symlink(root.join("does-not-exist.fits"), &dangling).expect("symlink");
    let err = build_record(&settings, &dangling).expect_err("dangling");
    assert!(err.to_string().contains("gone.fits"), "{err}");
    // Outside every data root.
    let outside = dir.path().join("outside.fits");
    std::fs::copy(root.join("pypi_astropy/m13.fits"), &outside).expect("copy");
    assert!(matches!(
        build_record(&settings, &outside),
        Err(IngestError::NotUnderRoot(_))
    ));
}

#[test]
fn old_style_dates_are_read_as_twentieth_century() {
    let (_dir, settings) = archive_of_real_files();
    let path = settings.roots[0]
        .path
        .join("pypi_astropy/dss.14.29.56-62.41.05.fits.gz");
    let record = build_record(&settings, &path).expect("ingested");
    // DATE-OBS = '11/03/76': 1976-03-11T00:00 UTC is MJD 42848 (JD 2442848.5).
    let t_min = record
        .obscore
        .get("t_min")
        .and_then(Value::as_f64)
        .expect("t_min");
    assert!((t_min - 42848.0).abs() < 1e-9, "{t_min}");
}
