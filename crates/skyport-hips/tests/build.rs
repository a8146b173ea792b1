//! Building and updating HiPS from real images (astropy's M13 and a DSS plate, an HSC
//! calexp with its mask), checked against the images themselves: every tile pixel's value is
//! the image's value at the pixel's sky position, found independently through the WCS.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use skyport_fits::Wcs;
use skyport_hips::tile::{pixel_centre, TileId};
use skyport_hips::{build, current_manifest, BuildSettings, HipsKey, Layout, SourceEntry};
use skyport_sky::{Shape, SkyPoint};

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fits")
        .join(rel)
}

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fits")
        .join(rel)
}

fn wcs_of(path: &Path, hdu: usize) -> Wcs {
    let mut header = skyport_fits::read_header(path, hdu).expect("header");
    if hdu > 0 {
        header.inherit_from(&skyport_fits::read_header(path, 0).expect("primary"));
    }
    Wcs::from_header(&header).expect("wcs")
}

fn entry(path: &Path, science: usize, mask: Option<usize>) -> SourceEntry {
    let wcs = wcs_of(path, science);
    SourceEntry {
        did: format!(
            "ivo://test/c?{}",
            path.file_name().unwrap().to_string_lossy()
        ),
        sha256: "a".repeat(64),
        path: path.to_path_buf(),
        science_hdu: science,
        mask_hdu: mask,
        footprint: Shape::Polygon(wcs.footprint().expect("footprint")),
        pixel_arcsec: Some(wcs.pixel_scale_arcsec()),
        time: (Some(60000.0), Some(60000.01)),
        em: (None, None),
    }
}

fn key() -> HipsKey {
    HipsKey {
        collection: "test".into(),
        band: Some("r".into()),
    }
}

fn settings() -> BuildSettings {
    BuildSettings {
        tile_width: 64,
        ..BuildSettings::default()
    }
}

fn tile(dir: &Path, t: TileId) -> Option<skyport_hips::fits_tile::TilePixels> {
    let p = dir.join(t.path("fits"));
    std::fs::read(&p)
        .ok()
        .map(|b| skyport_hips::fits_tile::decode(&b, &p).expect("tile"))
}

#[test]
fn a_hips_holds_the_image_where_it_is_on_the_sky() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(root.path());
    let m13 = testdata("pypi_astropy/m13.fits");
    let report = build(
        &layout,
        &key(),
        &[entry(&m13, 0, None)],
        &settings(),
        None,
        true,
    )
    .expect("build");
    assert!(report.published && report.images == 1, "{report:?}");
    let dir = layout.current("test-r").expect("published");
    // properties carries every keyword HiPS 1.0 requires, and the ones viewers use.
    let props = std::fs::read_to_string(dir.join("properties")).expect("properties");
    for key in [
        "creator_did",
        "obs_title",
        "dataproduct_type",
        "hips_version",
        "hips_release_date",
        "hips_status",
        "hips_tile_format",
        "hips_order",
        "hips_frame",
        "hips_tile_width",
        "hips_initial_ra",
        "hips_initial_dec",
        "hips_initial_fov",
        "moc_sky_fraction",
        "hips_pixel_cut",
    ] {
        assert!(
            props
                .lines()
                .any(|l| l.split('=').next().map(str::trim) == Some(key)),
            "{key} missing: {props}"
        );
    }
    let order: u8 = props
        .lines()
        .find_map(|l| l.strip_prefix("hips_order "))
        .and_then(|v| v.trim_start_matches([' ', '=']).trim().parse().ok())
        .expect("hips_order");
    assert_eq!(order, report.order);
    // Every order down to 0 has the tile over M13; the all-sky mosaic and the MOC exist.
    let wcs = wcs_of(&m13, 0);
    let centre = wcs.center().expect("centre");
    for o in 0..=order {
        let npix = cdshealpix::nested::hash(o, centre.ra.to_radians(), centre.dec.to_radians());
        let t = TileId { order: o, npix };
        assert!(dir.join(t.path("fits")).is_file(), "{t:?}");
        assert!(dir.join(t.path("png")).is_file(), "{t:?}");
    }
    assert!(dir.join("Norder3/Allsky.fits").is_file() && dir.join("Norder3/Allsky.png").is_file());
    assert!(dir.join("Moc.fits").is_file());
    // M13 is 16-bit integers: so are its tiles, with BLANK where there is no image.
    assert!(
        props
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["hips_pixel_bitpix", "=", "16"]),
        "{props}"
    );
    let npix = cdshealpix::nested::hash(order, centre.ra.to_radians(), centre.dec.to_radians());
    let bytes = std::fs::read(dir.join(TileId { order, npix }.path("fits"))).expect("tile");
    let header = String::from_utf8_lossy(&bytes[..2880]).to_string();
    assert!(
        header.contains("BITPIX  =                   16"),
        "{header}"
    );
    assert!(
        header.contains("BLANK   =               -32768"),
        "{header}"
    );
    assert_eq!(bytes.len(), 2880 + (64 * 64 * 2usize).div_ceil(2880) * 2880);
    // Deepest tiles: each pixel is the image's value at the pixel's sky position.
    let plane = skyport_fits::preview::read_plane(&m13, 0).expect("pixels");
    let bits = 6u8;
    let mut checked = 0;
    let manifest = current_manifest(&layout, "test-r").expect("manifest");
    // One small image in a few tiles still gives the PNG stretch a cut within its values.
    let (lo, hi) = manifest.cut;
    assert!(
        lo < hi && lo >= manifest.data_range.0 && hi <= manifest.data_range.1,
        "{manifest:?}"
    );
    for &npix in &manifest.images.values().next().expect("image").tiles {
        let Some(t) = tile(&dir, TileId { order, npix }) else {
            continue;
        };
        for (i, v) in t.values.iter().enumerate().step_by(7) {
            let (x, y) = (i % 64, i / 64);
            let (ra, dec) = pixel_centre(TileId { order, npix }, x, y, bits);
            let Some((px, py)) = wcs.sky_to_pixel(SkyPoint::new(ra, dec).expect("p")) else {
                continue;
            };
            // Well inside the image, the nearest pixels bound the interpolated value.
            if px < 2.0 || py < 2.0 || px > 299.0 || py > 299.0 {
                continue;
            }
            let (ix, iy) = (px.floor() as usize - 1, py.floor() as usize - 1);
            let around = [
                plane.values[iy * 300 + ix],
                plane.values[iy * 300 + ix + 1],
                plane.values[(iy + 1) * 300 + ix],
                plane.values[(iy + 1) * 300 + ix + 1],
            ];
            let lo = around.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = around.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!(
                *v >= lo - 1e-3 && *v <= hi + 1e-3,
                "tile {npix} pixel ({x}, {y}): {v} outside [{lo}, {hi}]"
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} pixels checked");
}

#[test]
fn an_update_remakes_only_the_tiles_new_images_touch() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(root.path());
    let m13 = entry(&testdata("pypi_astropy/m13.fits"), 0, None);
    let dss = entry(
        &testdata("pypi_astropy/dss.14.29.56-62.41.05.fits.gz"),
        0,
        None,
    );
    let first = build(
        &layout,
        &key(),
        std::slice::from_ref(&m13),
        &settings(),
        Some(8),
        true,
    )
    .expect("build");
    let v1 = layout.current("test-r").expect("v1");
    let m13_tile = v1.join(
        TileId {
            order: 8,
            npix: first_tile(&layout),
        }
        .path("fits"),
    );
    let inode = std::fs::metadata(&m13_tile).expect("tile").ino();
    // Nothing changed: nothing published.
    let same = build(
        &layout,
        &key(),
        std::slice::from_ref(&m13),
        &settings(),
        None,
        false,
    )
    .expect("update");
    assert!(!same.published);
    // A new image far away: its tiles are made; M13's tiles are the same files.
    let both = [m13.clone(), dss.clone()];
    let update = build(&layout, &key(), &both, &settings(), None, false).expect("update");
    assert!(update.published);
    assert_eq!(update.order, first.order);
    let dss_tiles = current_manifest(&layout, "test-r")
        .expect("manifest")
        .images[&dss.did]
        .tiles
        .len();
    assert_eq!(update.deepest_tiles, dss_tiles);
    let v2 = layout.current("test-r").expect("v2");
    assert_ne!(v1, v2);
    let same_file = v2.join(m13_tile.strip_prefix(&v1).expect("below v1"));
    assert_eq!(std::fs::metadata(&same_file).expect("tile").ino(), inode);
    // The order-0 tiles above both images were made again (ancestors follow).
    let dss_centre = wcs_of(&dss.path, 0).center().expect("centre");
    let top = TileId {
        order: 0,
        npix: cdshealpix::nested::hash(0, dss_centre.ra.to_radians(), dss_centre.dec.to_radians()),
    };
    assert!(v2.join(top.path("fits")).is_file());
    // Removing M13 removes its tiles.
    let removed = build(
        &layout,
        &key(),
        std::slice::from_ref(&dss),
        &settings(),
        None,
        false,
    )
    .expect("update");
    assert!(removed.published);
    let v3 = layout.current("test-r").expect("v3");
    assert!(!v3
        .join(m13_tile.strip_prefix(&v1).expect("below v1"))
        .exists());
    // The previous version is still whole for a reader inside it.
    assert!(same_file.is_file());
}

fn first_tile(layout: &Layout) -> u64 {
    current_manifest(layout, "test-r")
        .expect("manifest")
        .images
        .values()
        .next()
        .expect("image")
        .tiles[0]
}

#[test]
fn flagged_and_undefined_pixels_stay_out() {
    // An HSC calexp: image HDU 1, mask HDU 2 with MP_* planes.
    let path = shared("lsst_afw/HSC-0908120-056-small.fits");
    if !path.exists() {
        panic!("shared data missing: {}", path.display());
    }
    let root = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(root.path());
    let masked = entry(&path, 1, Some(2));
    // This calexp flags only DETECTED (32) and CROSSTALK (256): leave detections out.
    let rule = skyport_hips::resample::MaskRule {
        planes: vec!["DETECTED".into()],
    };
    let with_rule = BuildSettings {
        mask: rule.clone(),
        ..settings()
    };
    build(&layout, &key(), &[masked], &with_rule, None, true).expect("build");
    let dir = layout.current("test-r").expect("published");
    let manifest = current_manifest(&layout, "test-r").expect("manifest");
    let wcs = wcs_of(&path, 1);
    let mask = skyport_fits::preview::read_mask_plane(&path, 2).expect("mask");
    let header = skyport_fits::read_header(&path, 2).expect("mask header");
    let bits = rule.bits(&header);
    assert_eq!(bits, 32, "the mask names its planes");
    let (mut flagged_seen, mut blank_where_flagged) = (0, 0);
    for &npix in &manifest.images.values().next().expect("image").tiles {
        let t = TileId {
            order: manifest.order,
            npix,
        };
        let Some(pixels) = tile(&dir, t) else {
            continue;
        };
        for (i, v) in pixels.values.iter().enumerate() {
            let (ra, dec) = pixel_centre(t, i % 64, i / 64, 6);
            let Some((px, py)) = wcs.sky_to_pixel(SkyPoint::new(ra, dec).expect("p")) else {
                continue;
            };
            let (ix, iy) = (px.round() as i64 - 1, py.round() as i64 - 1);
            if ix < 0 || iy < 0 || ix >= mask.width as i64 || iy >= mask.height as i64 {
                continue;
            }
            // A pixel whose nearest image pixel is flagged interpolates from it: left out.
            if mask.values[iy as usize * mask.width + ix as usize] & bits != 0 {
                flagged_seen += 1;
                if v.is_nan() {
                    blank_where_flagged += 1;
                }
            }
        }
    }
    assert!(
        flagged_seen > 0,
        "the image has flagged pixels under the tiles"
    );
    assert_eq!(blank_where_flagged, flagged_seen);
    // The default planes (BAD, SAT, CR, EDGE, NO_DATA…) flag none of this image's pixels.
    assert_eq!(
        skyport_hips::resample::MaskRule::default().bits(&header) & (32 | 256),
        0
    );
}

#[test]
fn an_image_with_no_defined_pixel_blanks_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(root.path());
    let m13 = entry(&testdata("pypi_astropy/m13.fits"), 0, None);
    // A copy of M13 whose pixels are all NaN, over the same sky.
    let dir = tempfile::tempdir().expect("tempdir");
    let nan_path = dir.path().join("nan.fits");
    {
        // M13's header as float data, every pixel NaN.
        let bytes = std::fs::read(&m13.path).expect("m13");
        let blocks = header_blocks(&bytes);
        let mut out = Vec::new();
        for card in bytes[..2880 * blocks].chunks(80) {
            let key = String::from_utf8_lossy(&card[..8]).trim().to_string();
            if key == "BITPIX" {
                out.extend_from_slice(
                    format!("{:<80}", "BITPIX  =                  -32").as_bytes(),
                );
            } else if ["BZERO", "BSCALE", "BLANK"].contains(&key.as_str()) {
                out.extend_from_slice(&[b' '; 80]);
            } else {
                out.extend_from_slice(card);
            }
        }
        for _ in 0..300 * 300 {
            out.extend_from_slice(&f32::NAN.to_be_bytes());
        }
        out.resize(out.len().div_ceil(2880) * 2880, 0);
        std::fs::write(&nan_path, out).expect("write");
    }
    let mut nan = entry(&nan_path, 0, None);
    nan.did = "ivo://test/c?nan".into();
    let report = build(
        &layout,
        &key(),
        &[m13.clone(), nan],
        &settings(),
        None,
        true,
    )
    .expect("build");
    assert_eq!(report.images, 1);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    // Same tiles as M13 alone. M13 alone gives 16-bit tiles like its own pixels; beside the
    // float image they are floats, so values agree to the rounding of the 16-bit ones.
    let alone = tempfile::tempdir().expect("tempdir");
    let alone_layout = Layout::new(alone.path());
    build(&alone_layout, &key(), &[m13], &settings(), None, true).expect("build");
    let a = layout.current("test-r").expect("a");
    let b = alone_layout.current("test-r").expect("b");
    let manifest = current_manifest(&layout, "test-r").expect("manifest");
    for (_, image) in manifest.images.iter().take(1) {
        for &npix in &image.tiles {
            let t = TileId {
                order: manifest.order,
                npix,
            };
            let (with_nan, alone) = (tile(&a, t), tile(&b, t));
            assert_eq!(with_nan.is_some(), alone.is_some(), "{t:?}");
            let (Some(with_nan), Some(alone)) = (with_nan, alone) else {
                continue;
            };
            for (x, y) in with_nan.values.iter().zip(&alone.values) {
                assert_eq!(x.is_nan(), y.is_nan(), "{t:?}");
                assert!(x.is_nan() || (x - y).abs() <= 0.5, "{t:?}: {x} {y}");
            }
        }
    }
}

/// Header blocks of the primary HDU of a FITS file.
fn header_blocks(bytes: &[u8]) -> usize {
    for (k, block) in bytes.chunks(2880).enumerate() {
        if block.chunks(80).any(|c| c.starts_with(b"END ")) {
            return k + 1;
        }
    }
    panic!("no END");
}

#[test]
fn an_image_of_another_pixel_type_makes_the_hips_again_in_a_common_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(root.path());
    // 16-bit M13 first: 16-bit tiles.
    let m13 = entry(&testdata("pypi_astropy/m13.fits"), 0, None);
    build(
        &layout,
        &key(),
        std::slice::from_ref(&m13),
        &settings(),
        Some(6),
        true,
    )
    .expect("build");
    let first = current_manifest(&layout, "test-r").expect("manifest");
    assert_eq!(first.pixel_type.bitpix, 16);
    // A 32-bit float image (FIRST's VLA cutout) joins: rounding it to 16-bit integers would
    // lose it, so the update makes the HiPS again as floats, M13's tiles included.
    let vla = entry(&testdata("pypi_astroquery/first_vla_image.fits"), 0, None);
    let both = [m13.clone(), vla];
    let update = build(&layout, &key(), &both, &settings(), None, false).expect("update");
    assert!(update.published);
    let second = current_manifest(&layout, "test-r").expect("manifest");
    assert_eq!(second.pixel_type.bitpix, -32);
    assert_eq!(second.order, first.order);
    let dir = layout.current("test-r").expect("current");
    let tile_of_m13 = TileId {
        order: second.order,
        npix: second.images[&m13.did].tiles[0],
    };
    let bytes = std::fs::read(dir.join(tile_of_m13.path("fits"))).expect("tile");
    let header = String::from_utf8_lossy(&bytes[..2880]).to_string();
    assert!(
        header.contains("BITPIX  =                  -32"),
        "{header}"
    );
    // Another 16-bit image keeps the floats (an integer fits in them).
    let rice = entry(&testdata("pypi_astropy/m13_rice.fits"), 1, None);
    let three = [both[0].clone(), both[1].clone(), rice];
    build(&layout, &key(), &three, &settings(), None, false).expect("update");
    assert_eq!(
        current_manifest(&layout, "test-r")
            .expect("m")
            .pixel_type
            .bitpix,
        -32
    );
}
