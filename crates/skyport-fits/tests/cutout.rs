//! Cutouts of real images: the box holds every pixel touching the region and no more, the
//! pixels are the parent's, and the cutout's WCS puts each pixel where the parent's did.
//!
//! The expected box is found by brute force over the parent's pixels (sub-sampled pixel areas
//! tested against the region), not by the outline tracing under test. The Python client tests
//! repeat the WCS comparison with astropy.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use skyport_fits::{
    pixel_box, pixel_box_within, read_region_f32, read_summary, write_cutout, write_mef, Cancel,
    Cancelled, Compression, CutoutRegion, CutoutSpec, FitsError, Header, PixelBox, PlaneData,
    PlaneSpec, Wcs,
};
use skyport_sky::{Polygon, Region, SkyPoint};

/// A cutout of the pixels touching `region`.
fn sky(region: &Region) -> CutoutRegion {
    CutoutRegion::Sky(region.clone())
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fits")
        .join(rel)
}

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fits")
        .join(rel)
}

fn header(path: &Path, hdu: usize) -> Header {
    read_summary(path).expect("summary").hdus[hdu]
        .header
        .clone()
}

fn wcs(path: &Path, hdu: usize) -> Wcs {
    Wcs::from_header(&header(path, hdu)).expect("wcs")
}

fn p(ra: f64, dec: f64) -> SkyPoint {
    SkyPoint::new(ra, dec).expect("point")
}

/// The box of pixels with at least one of 7×7 sample points (inside the pixel, off its edges)
/// in the region: an independent, slow answer.
fn brute_force_box(w: &Wcs, region: &Region) -> Option<PixelBox> {
    let (n1, n2) = w.naxis();
    let mut found: Option<PixelBox> = None;
    for y in 1..=n2 {
        for x in 1..=n1 {
            let touches = (0..7).any(|j| {
                (0..7).any(|i| {
                    let (sx, sy) = (
                        x as f64 - 0.5 + (i as f64 + 0.5) / 7.0,
                        y as f64 - 0.5 + (j as f64 + 0.5) / 7.0,
                    );
                    w.pixel_to_sky(sx, sy).is_some_and(|s| region.contains(s))
                })
            });
            if touches {
                let b = found.get_or_insert(PixelBox {
                    x0: x,
                    x1: x,
                    y0: y,
                    y1: y,
                });
                b.x0 = b.x0.min(x);
                b.x1 = b.x1.max(x);
                b.y0 = b.y0.min(y);
                b.y1 = b.y1.max(y);
            }
        }
    }
    found
}

fn assert_box_close(got: PixelBox, want: PixelBox) {
    // Sampling can miss a sliver of a pixel that the exact tracing finds: allow one pixel
    // outward, never inward.
    assert!(
        got.x0 <= want.x0 && got.x0 + 1 >= want.x0,
        "x0 {got} vs {want}"
    );
    assert!(
        got.y0 <= want.y0 && got.y0 + 1 >= want.y0,
        "y0 {got} vs {want}"
    );
    assert!(
        got.x1 >= want.x1 && got.x1 <= want.x1 + 1,
        "x1 {got} vs {want}"
    );
    assert!(
        got.y1 >= want.y1 && got.y1 <= want.y1 + 1,
        "y1 {got} vs {want}"
    );
}

fn read_pixels(path: &Path, hdu: usize) -> (Vec<f64>, usize, usize) {
    let mut f = FitsFile::open(path).expect("open");
    let h = f.hdu(hdu).expect("hdu");
    let shape = match &h.info {
        fitsio::hdu::HduInfo::ImageInfo { shape, .. } => shape.clone(),
        other => panic!("not an image: {other:?}"),
    };
    let v: Vec<f64> = h.read_image(&mut f).expect("read");
    (v, shape[1], shape[0])
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Cuts `region` out of HDU `hdu` of `src` and checks box, pixels and WCS.
fn check_cutout(src: &Path, hdu: usize, region: &Region, compression: Option<Compression>) {
    let parent_wcs = wcs(src, hdu);
    let b = pixel_box(&parent_wcs, &sky(region)).expect("overlap");
    if let Some(want) = brute_force_box(&parent_wcs, region) {
        assert_box_close(b, want);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("cut.fits");
    let planes = [hdu];
    let written = write_cutout(
        src,
        &CutoutSpec {
            planes: &planes,
            pixels: b,
            compression,
            extensions_only: false,
            history: Some("test".into()),
        },
        &dest,
        &Cancel::new(),
    )
    .expect("cutout");
    assert_eq!(written.size, std::fs::metadata(&dest).expect("meta").len());
    let out_hdu = if hdu == 0 && compression.is_none() {
        0
    } else {
        1
    };
    let (parent, n1, _) = read_pixels(src, hdu);
    let (cut, w, h) = read_pixels(&dest, out_hdu);
    assert_eq!((w as u64, h as u64), (b.width(), b.height()));
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x + b.x0 as usize - 1, y + b.y0 as usize - 1);
            assert!(
                same(cut[y * w + x], parent[py * n1 + px]),
                "pixel ({x}, {y}) of {}",
                src.display()
            );
        }
    }
    let cut_wcs = wcs(&dest, out_hdu);
    let dx = (b.x0 - 1) as f64;
    let dy = (b.y0 - 1) as f64;
    for (x, y) in [
        (1.0, 1.0),
        (w as f64, 1.0),
        (1.0, h as f64),
        (w as f64, h as f64),
        (w as f64 / 2.0, h as f64 / 3.0),
    ] {
        let a = cut_wcs.pixel_to_sky(x, y).expect("cut sky");
        let back = parent_wcs.sky_to_pixel(a).expect("parent pixel");
        assert!(
            (back.0 - (x + dx)).abs() < 0.01 && (back.1 - (y + dy)).abs() < 0.01,
            "cutout pixel ({x}, {y}) maps to parent {back:?}, not ({}, {})",
            x + dx,
            y + dy
        );
    }
}

#[test]
fn m13_circle_in_every_compression() {
    let w = wcs(&testdata("pypi_astropy/m13.fits"), 0);
    let c = w.pixel_to_sky(120.3, 170.8).expect("sky");
    let region = Region::Circle {
        center: c,
        radius: 40.0 * w.pixel_scale_arcsec() / 3600.0,
    };
    check_cutout(&testdata("pypi_astropy/m13.fits"), 0, &region, None);
    for name in ["m13_rice", "m13_gzip", "m13_hcomp", "m13_plio"] {
        check_cutout(
            &testdata(&format!("pypi_astropy/{name}.fits")),
            1,
            &region,
            None,
        );
    }
    check_cutout(
        &testdata("pypi_astropy/m13.fits"),
        0,
        &region,
        Some(Compression::Rice),
    );
}

#[test]
fn polygon_and_range_on_sin_and_zpn_images() {
    let comp = testdata("pypi_astropy/comp.fits");
    let w = wcs(&comp, 1);
    let corner = |x: f64, y: f64| w.pixel_to_sky(x, y).expect("sky");
    let poly = Polygon::new(vec![
        corner(50.0, 40.0),
        corner(200.0, 60.0),
        corner(150.0, 250.0),
    ])
    .expect("polygon");
    check_cutout(&comp, 1, &Region::Polygon(poly), None);
    check_cutout(
        &comp,
        1,
        &Region::Polygon(
            Polygon::new(vec![
                corner(50.0, 40.0),
                corner(200.0, 60.0),
                corner(150.0, 250.0),
            ])
            .expect("polygon"),
        ),
        Some(Compression::Gzip),
    );

    let ukidss = testdata("pypi_astroquery/ukidss_wfcam_image.fits");
    let w = wcs(&ukidss, 1);
    let a = w.pixel_to_sky(60.0, 80.0).expect("sky");
    let b = w.pixel_to_sky(240.0, 210.0).expect("sky");
    let range = Region::Range {
        lon_min: a.ra.min(b.ra),
        lon_span: (a.ra - b.ra).abs(),
        lat_min: a.dec.min(b.dec),
        lat_max: a.dec.max(b.dec),
    };
    check_cutout(&ukidss, 1, &range, None);
}

#[test]
fn hsc_sip_planes_are_cut_to_one_box() {
    let hsc = shared("lsst_afw/HSC-0908120-056-small.fits");
    if !hsc.exists() {
        panic!("{} is missing: the shared data is needed", hsc.display());
    }
    let w = wcs(&hsc, 1);
    assert!(w.has_sip());
    let c = w.pixel_to_sky(30.0, 170.0).expect("sky");
    let region = Region::Circle {
        center: c,
        radius: 25.0 * w.pixel_scale_arcsec() / 3600.0,
    };
    check_cutout(&hsc, 1, &region, None);
    // All three planes in one file, the same box each.
    let b = pixel_box(&w, &sky(&region)).expect("overlap");
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("planes.fits");
    let planes = [1, 2, 3];
    let written = write_cutout(
        &hsc,
        &CutoutSpec {
            planes: &planes,
            pixels: b,
            compression: Some(Compression::Rice),
            extensions_only: true,
            history: None,
        },
        &dest,
        &Cancel::new(),
    )
    .expect("cutout");
    assert_eq!(written.first_extension % 2880, 0);
    assert!(written.first_extension >= 2880 && written.first_extension < written.size);
    let summary = read_summary(&dest).expect("summary");
    assert_eq!(summary.hdus.len(), 4);
    for (i, plane) in planes.iter().enumerate() {
        let out = &summary.hdus[i + 1];
        assert_eq!(out.shape, vec![b.width(), b.height()]);
        assert_eq!(out.extname, header(&hsc, *plane).str("EXTNAME"));
        let (parent, n1, _) = read_pixels(&hsc, *plane);
        let (cut, cw, _) = read_pixels(&dest, i + 1);
        for (k, v) in cut.iter().enumerate() {
            let (x, y) = (k % cw + b.x0 as usize - 1, k / cw + b.y0 as usize - 1);
            assert!(same(*v, parent[y * n1 + x]), "plane {plane} pixel {k}");
        }
    }
    // The primary keeps the parent's (dataless) primary keywords.
    assert_eq!(
        summary.hdus[0].header.str("TELESCOP"),
        header(&hsc, 0).str("TELESCOP")
    );
}

/// A TAN header centred on (ra, dec), 400² pixels of 1″, for geometry at awkward places.
fn synthetic(ra: f64, dec: f64) -> Wcs {
    let records = [
        "NAXIS   =                    2".to_string(),
        "NAXIS1  =                  400".to_string(),
        "NAXIS2  =                  400".to_string(),
        "CTYPE1  = 'RA---TAN'".to_string(),
        "CTYPE2  = 'DEC--TAN'".to_string(),
        "CRPIX1  =                200.5".to_string(),
        "CRPIX2  =                200.5".to_string(),
        format!("CRVAL1  = {ra:>20}"),
        format!("CRVAL2  = {dec:>20}"),
        "CD1_1   = -2.777777777777778E-4".to_string(),
        "CD2_2   =  2.777777777777778E-4".to_string(),
    ];
    Wcs::from_header(&Header::from_records(&records).expect("header")).expect("wcs")
}

#[test]
fn regions_across_ra_zero_and_around_the_pole() {
    let at_zero = synthetic(0.0, 10.0);
    let circle = Region::Circle {
        center: p(359.99, 10.0),
        radius: 0.02,
    };
    let range = Region::Range {
        lon_min: 359.98,
        lon_span: 0.03,
        lat_min: 9.99,
        lat_max: 10.02,
    };
    let poly = Region::Polygon(
        Polygon::new(vec![p(359.97, 9.98), p(0.02, 9.98), p(0.02, 10.01)]).expect("polygon"),
    );
    for region in [&circle, &range, &poly] {
        let got = pixel_box(&at_zero, &sky(region)).expect("overlap");
        let want = brute_force_box(&at_zero, region).expect("brute force");
        assert_box_close(got, want);
    }

    let pole = synthetic(123.0, 90.0);
    let cap = Region::Circle {
        center: p(0.0, 90.0),
        radius: 0.01,
    };
    let polar_range = Region::Range {
        lon_min: 0.0,
        lon_span: 360.0,
        lat_min: 89.985,
        lat_max: 90.0,
    };
    let half = Region::Range {
        lon_min: 300.0,
        lon_span: 120.0,
        lat_min: 89.99,
        lat_max: 90.0,
    };
    for region in [&cap, &polar_range, &half] {
        let got = pixel_box(&pole, &sky(region)).expect("overlap");
        let want = brute_force_box(&pole, region).expect("brute force");
        assert_box_close(got, want);
    }
    // A circle holding the whole image gives the whole image.
    let all = pixel_box(
        &pole,
        &sky(&Region::Circle {
            center: p(10.0, 80.0),
            radius: 20.0,
        }),
    )
    .expect("overlap");
    assert_eq!(
        all,
        PixelBox {
            x0: 1,
            x1: 400,
            y0: 1,
            y1: 400
        }
    );
    // One far away misses it; so does one on the other side of the sky.
    for center in [p(0.0, 80.0), p(0.0, -90.0)] {
        assert_eq!(
            pixel_box(
                &pole,
                &sky(&Region::Circle {
                    center,
                    radius: 1.0
                })
            ),
            None
        );
    }
}

#[test]
fn pixel_stamps_are_centred_and_clipped() {
    let w = synthetic(150.0, 2.0);
    let c = w.pixel_to_sky(100.2, 50.7).expect("sky");
    let stamp = CutoutRegion::Pixels {
        center: c,
        width: 51,
        height: 51,
    };
    assert_eq!(
        pixel_box(&w, &stamp),
        Some(PixelBox {
            x0: 75,
            x1: 125,
            y0: 26,
            y1: 76
        })
    );
    let edge = CutoutRegion::Pixels {
        center: w.pixel_to_sky(3.0, 398.0).expect("sky"),
        width: 11,
        height: 11,
    };
    assert_eq!(
        pixel_box(&w, &edge),
        Some(PixelBox {
            x0: 1,
            x1: 8,
            y0: 393,
            y1: 400
        })
    );
}

/// Pseudo-random pixels (a linear congruential generator: the test needs no crate for them).
fn noise(n: usize, seed: u64) -> Vec<i32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 44) as i32
        })
        .collect()
}

#[test]
fn large_cutouts_are_copied_in_strips_with_every_pixel_in_place() {
    // Larger than one strip, from a parent in 128-row tiles, starting off a tile boundary.
    let (w, h) = (1500usize, 1800usize);
    let pixels = noise(w * h, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    for (k, tile) in [None, Some(128)].into_iter().enumerate() {
        let src = dir.path().join(format!("parent{k}.fits"));
        write_mef(
            &src,
            &[],
            &[PlaneSpec {
                extname: "IMAGE",
                data: PlaneData::I32(&pixels),
                cards: Vec::new(),
            }],
            w,
            h,
            tile,
            1,
        )
        .expect("parent");
        let b = PixelBox {
            x0: 3,
            x1: 1400,
            y0: 17,
            y1: 1790,
        };
        for (j, compression) in [None, Some(Compression::Gzip)].into_iter().enumerate() {
            let dest = dir.path().join(format!("cut{k}{j}.fits"));
            write_cutout(
                &src,
                &CutoutSpec {
                    planes: &[1],
                    pixels: b,
                    compression,
                    extensions_only: true,
                    history: None,
                },
                &dest,
                &Cancel::new(),
            )
            .expect("cutout");
            let (cw, ch) = (b.width() as usize, b.height() as usize);
            let got = read_region_f32(&dest, 1, 0..cw, 0..ch).expect("cut pixels");
            let want = read_region_f32(&src, 1, 2..2 + cw, 16..16 + ch).expect("parent pixels");
            assert_eq!(got.len(), cw * ch);
            assert!(got == want, "{tile:?} {compression:?}: pixels differ");
        }
    }
}

#[test]
fn a_cancelled_cutout_stops_promptly_and_leaves_no_file() {
    // Three 4096² planes written GZIP-compressed: seconds of work on any machine.
    let side = 4096usize;
    let pixels = noise(side * side, 11);
    let plane = |extname| PlaneSpec {
        extname,
        data: PlaneData::I32(&pixels),
        cards: Vec::new(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("big.fits");
    write_mef(
        &src,
        &[],
        &[plane("A"), plane("B"), plane("C")],
        side,
        side,
        None,
        1,
    )
    .expect("parent");
    let whole = PixelBox {
        x0: 1,
        x1: side as u64,
        y0: 1,
        y1: side as u64,
    };
    let cut = |dest: PathBuf, cancel: Cancel| {
        let src = src.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let result = write_cutout(
                &src,
                &CutoutSpec {
                    planes: &[1, 2, 3],
                    pixels: whole,
                    compression: Some(Compression::Gzip),
                    extensions_only: true,
                    history: None,
                },
                &dest,
                &cancel,
            );
            (result, started.elapsed())
        })
    };

    // Cancelled from another thread while it runs.
    let cancel = Cancel::new();
    let dest = dir.path().join("stopped.fits");
    let work = cut(dest.clone(), cancel.clone());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let asked = std::time::Instant::now();
    cancel.cancel();
    let (result, _) = work.join().expect("thread");
    let stopped_after = asked.elapsed();
    assert!(
        matches!(result, Err(FitsError::Cancelled(Cancelled::Stopped))),
        "{result:?}"
    );
    assert!(
        stopped_after < std::time::Duration::from_secs(1),
        "took {stopped_after:?} to stop"
    );
    assert!(!dest.exists(), "the partial cutout is removed");

    // A deadline stops it the same way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    let dest = dir.path().join("late.fits");
    let (result, took) = cut(dest.clone(), Cancel::with_deadline(Some(deadline)))
        .join()
        .expect("thread");
    assert!(
        matches!(result, Err(FitsError::Cancelled(Cancelled::DeadlinePassed))),
        "{result:?}"
    );
    assert!(
        took < std::time::Duration::from_millis(1300),
        "took {took:?}"
    );
    assert!(!dest.exists());
}

#[test]
fn tracing_a_region_stops_on_a_cancelled_token() {
    let w = synthetic(150.0, 2.0);
    let region = sky(&Region::Circle {
        center: p(150.0, 2.0),
        radius: 0.001,
    });
    let cancel = Cancel::new();
    assert!(pixel_box_within(&w, &region, &cancel).is_ok());
    cancel.cancel();
    assert_eq!(
        pixel_box_within(&w, &region, &cancel),
        Err(Cancelled::Stopped)
    );
}
