//! The demo archive: a few real images shipped in the repository (from PyPI packages, see
//! testdata/SOURCES.md) and generated LSST-like exposures.
//!
//! The generated exposures are several visits × detectors at realistic pointings (one field
//! straddles RA = 0, one sits next to the south celestial pole) and dates, each detector a
//! RICE-compressed (2-D tiles) multi-extension file with IMAGE, MASK and VARIANCE planes, a
//! TAN-SIP WCS and headers modelled on LSSTCam's. Everything is seeded: the same plan always
//! produces the same bytes. Nothing here reads `../shared`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skyport_fits::{write_mef, Card, HeaderValue, PlaneData, PlaneSpec};

/// How big the generated part is.
#[derive(Debug, Clone, Copy)]
pub struct DemoScale {
    /// Side of the full-size detectors (LSST: 4096; none when 0).
    pub full_side: usize,
    /// How many detectors (of the first visit) are full size.
    pub full_detectors: usize,
    /// Side of the other detectors.
    pub small_side: usize,
    /// Visits.
    pub visits: usize,
    /// Detectors per visit (up to 9, a 3×3 raft).
    pub detectors: usize,
}

impl DemoScale {
    /// The demo `skyport demo` builds: 8 visits × 4 detectors, two of them 4k × 4k.
    pub const FULL: DemoScale = DemoScale {
        full_side: 4096,
        full_detectors: 2,
        small_side: 1024,
        visits: 8,
        detectors: 4,
    };
    /// A small demo for tests.
    pub const SMALL: DemoScale = DemoScale {
        full_side: 0,
        full_detectors: 0,
        small_side: 256,
        visits: 4,
        detectors: 2,
    };
}

/// Real images from PyPI packages, embedded so that the demo needs nothing beside the binary.
const REAL_IMAGES: [(&str, &[u8]); 12] = [
    (
        "pypi_astropy/m13.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/m13.fits"),
    ),
    (
        "pypi_astropy/m13_rice.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/m13_rice.fits"),
    ),
    (
        "pypi_astropy/m13_gzip.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/m13_gzip.fits"),
    ),
    (
        "pypi_astropy/m13_hcomp.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/m13_hcomp.fits"),
    ),
    (
        "pypi_astropy/m13_plio.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/m13_plio.fits"),
    ),
    (
        "pypi_astropy/comp.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/comp.fits"),
    ),
    (
        "pypi_astropy/sip-wcs.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/sip-wcs.fits"),
    ),
    (
        "pypi_astropy/test0.fits",
        include_bytes!("../../../testdata/fits/pypi_astropy/test0.fits"),
    ),
    (
        "pypi_astroquery/cadc_megaprime_cutout.fits",
        include_bytes!("../../../testdata/fits/pypi_astroquery/cadc_megaprime_cutout.fits"),
    ),
    (
        "pypi_astroquery/first_vla_image.fits",
        include_bytes!("../../../testdata/fits/pypi_astroquery/first_vla_image.fits"),
    ),
    (
        "pypi_astroquery/irsa_dust_test.fits",
        include_bytes!("../../../testdata/fits/pypi_astroquery/irsa_dust_test.fits"),
    ),
    (
        "pypi_astroquery/ukidss_wfcam_image.fits",
        include_bytes!("../../../testdata/fits/pypi_astroquery/ukidss_wfcam_image.fits"),
    ),
];

/// A pointing of the demo survey.
struct Field {
    name: &'static str,
    ra: f64,
    dec: f64,
}

const FIELDS: [Field; 4] = [
    Field {
        name: "ECDFS",
        ra: 53.16,
        dec: -28.10,
    },
    Field {
        name: "COSMOS",
        ra: 150.12,
        dec: 2.21,
    },
    Field {
        name: "RA0_WRAP",
        ra: 0.05,
        dec: -30.50,
    },
    Field {
        name: "SOUTH_POLE",
        ra: 40.0,
        dec: -89.70,
    },
];

const BANDS: [(&str, &str); 6] = [
    ("g", "g_6"),
    ("r", "r_57"),
    ("i", "i_39"),
    ("z", "z_20"),
    ("y", "y_10"),
    ("u", "u_24"),
];

/// Arcseconds per pixel (LSSTCam).
const PIXEL_SCALE: f64 = 0.2;

pub(crate) fn card(key: &str, value: HeaderValue, comment: &str) -> Card {
    Card {
        key: key.into(),
        value: Some(value),
        comment: (!comment.is_empty()).then(|| comment.into()),
    }
}

fn s(v: &str) -> HeaderValue {
    HeaderValue::Str(v.into())
}

fn r(v: f64) -> HeaderValue {
    HeaderValue::Real(v)
}

fn i(v: i64) -> HeaderValue {
    HeaderValue::Int(v)
}

/// One generated exposure of one detector.
struct Exposure {
    visit: usize,
    detector: usize,
    side: usize,
}

/// Writes the demo data below `dir/data` and returns the generated files.
pub fn write_data(dir: &Path, scale: DemoScale) -> Result<Vec<PathBuf>> {
    let real = dir.join("data/real");
    for (rel, bytes) in REAL_IMAGES {
        let path = real.join(rel);
        std::fs::create_dir_all(path.parent().context("real image path")?)?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    // The proprietary collection: two of the real images again, released only in 2099, so
    // that only group demo-team sees them (docs/security.md).
    let proprietary = dir.join("data/proprietary");
    std::fs::create_dir_all(&proprietary)?;
    for (rel, bytes) in REAL_IMAGES.iter().take(2) {
        let name = Path::new(rel)
            .file_name()
            .context("real image name")?
            .to_string_lossy()
            .replace(".fits", "_proprietary.fits");
        std::fs::write(proprietary.join(&name), bytes)
            .with_context(|| format!("writing {name}"))?;
    }
    let mut exposures = Vec::new();
    for visit in 0..scale.visits {
        for detector in 0..scale.detectors.min(9) {
            let full = visit == 0 && detector < scale.full_detectors && scale.full_side > 0;
            exposures.push(Exposure {
                visit,
                detector,
                side: if full {
                    scale.full_side
                } else {
                    scale.small_side
                },
            });
        }
    }
    let mut written = Vec::new();
    for e in &exposures {
        written.push(write_exposure(&dir.join("data/lsst"), e)?);
    }
    Ok(written)
}

/// AuxTel's site, for LATISS's pointing cards.
const AUXTEL: skyport_consdb::headers::sky::Site = skyport_consdb::headers::sky::Site {
    lon: -70.747698,
    lat: -30.244728,
    height: 2663.0,
};

pub(crate) fn yaml_value(v: &HeaderValue) -> String {
    match v {
        HeaderValue::Str(t) => format!("'{}'", t.replace('\'', "''")),
        HeaderValue::Int(i) => i.to_string(),
        HeaderValue::Real(x) => format!("{x:?}"),
        HeaderValue::Logical(b) => b.to_string(),
        _ => "null".into(),
    }
}

/// Writes `count` LATISS exposures' headers as the Header Service publishes them (YAML with a
/// `PRIMARY` list of `{keyword, value, comment}`) below `dir/data/headers/latiss`, for the
/// demo's ConsDB. Returns the files.
pub fn write_latiss_headers(dir: &Path, count: usize) -> Result<Vec<PathBuf>> {
    let root = dir.join("data/headers/latiss");
    std::fs::create_dir_all(&root)?;
    let base = hifitime::Epoch::from_gregorian_str("2025-12-02T02:10:00.125 TAI")
        .map_err(|e| anyhow::anyhow!("demo LATISS date: {e}"))?;
    let mut written = Vec::new();
    for k in 0..count {
        let field = &FIELDS[k % 2];
        let seq = 200 + k as i64;
        let start = base + hifitime::Unit::Second * (95 * k as i64);
        let (y, mo, d, ..) =
            (start - hifitime::Unit::Hour * 12).to_gregorian(hifitime::TimeScale::TAI);
        let day_obs = format!("{y:04}{mo:02}{d:02}");
        let obsid = format!("AT_O_{day_obs}_{seq:06}");
        let (filter, band) = [
            ("SDSSg_65mm", "g"),
            ("SDSSr_65mm", "r"),
            ("SDSSi_65mm", "i"),
        ][k % 3];
        let mut cards = vec![
            card("INSTRUME", s("LATISS"), "Instrument"),
            card("TELESCOP", s("Rubin Auxiliary Telescope"), "Telescope"),
            card("OBSID", s(&obsid), "Observation id"),
            card("DAYOBS", s(&day_obs), "Observing day"),
            card("SEQNUM", i(seq), "Sequence number"),
            card("CONTRLLR", s("O"), "Controller"),
            card("IMGTYPE", s("OBJECT"), "Image type"),
            card("OBJECT", s(field.name), "Target"),
            card("PROGRAM", s("AUXTEL_PHOTO_IMAGING"), "Science program"),
            card("REASON", s("science"), "Observation reason"),
            card("FILTER", s(filter), "Filter"),
            card("GRATING", s("empty_1"), "Disperser"),
            card("FILTBAND", s(band), "Band"),
            card("TIMESYS", s("TAI"), "Time scale"),
            card("DATE-OBS", s(&iso_ms(start)), "Start of exposure (TAI)"),
            card(
                "MJD-OBS",
                r(start.to_mjd_tai_days()),
                "Start of exposure (MJD, TAI)",
            ),
            card("EXPTIME", r(EXPTIME), "Exposure time (s)"),
            card("DARKTIME", r(EXPTIME + 0.2), "Dark time (s)"),
            card("RA", r(field.ra), "RA (deg)"),
            card("DEC", r(field.dec), "Dec (deg)"),
            card("ROTPA", r(45.0 + 10.0 * k as f64), "Rotation angle (deg)"),
            card("SEEING", r(0.9 + 0.05 * k as f64), "DIMM seeing (arcsec)"),
            card("GROUPID", s(&format!("{day_obs}_{seq}")), "Exposure group"),
        ];
        let mut pointing = observing_cards(field.ra, field.dec, start, k);
        // AuxTel's own site for its azimuths and elevations.
        use skyport_consdb::headers::sky::icrs_to_altaz;
        for c in pointing.iter_mut() {
            let when = if c.key.ends_with("END") {
                start + hifitime::Unit::Second * EXPTIME
            } else {
                start
            };
            if let Some((az, el)) = icrs_to_altaz(field.ra, field.dec, when, AUXTEL) {
                match c.key.as_str() {
                    "AZSTART" | "AZEND" => c.value = Some(r(az)),
                    "ELSTART" | "ELEND" => c.value = Some(r(el)),
                    "AMSTART" => c.value = Some(r(1.0 / el.to_radians().sin())),
                    _ => {}
                }
            }
        }
        cards.extend(pointing);
        let mut text = String::from("PRIMARY:\n");
        for c in &cards {
            let value = c.value.as_ref().map_or("null".to_string(), yaml_value);
            text.push_str(&format!(
                "- keyword: {}\n  value: {value}\n  comment: '{}'\n",
                c.key,
                c.comment.clone().unwrap_or_default().replace('\'', "''")
            ));
        }
        let path = root.join(format!("ATHeaderService_header_{obsid}.yaml"));
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `count` small detector files (16 × 16 pixels, same headers and planes as the demo's)
/// below `root`, for ingest benchmarks. Returns how many were written.
pub fn write_small_exposures(root: &Path, count: usize) -> Result<usize> {
    for k in 0..count {
        write_exposure(
            root,
            &Exposure {
                visit: k / 9,
                detector: k % 9,
                side: 16,
            },
        )?;
    }
    Ok(count)
}

/// Visit metadata derived from its number.
struct VisitInfo {
    field: &'static Field,
    band: (&'static str, &'static str),
    day_obs: String,
    seq_num: i64,
    date_obs_tai: String,
    mjd_obs_tai: f64,
    start: hifitime::Epoch,
    rotation_deg: f64,
    airmass: f64,
    seeing: f64,
}

/// Exposure time of the demo's exposures, seconds.
const EXPTIME: f64 = 30.0;

/// Rubin's site (Simonyi Survey Telescope), for the pointing cards.
const SIMONYI: skyport_consdb::headers::sky::Site = skyport_consdb::headers::sky::Site {
    lon: -70.749417,
    lat: -30.244639,
    height: 2663.0,
};

/// TAI ISO text with milliseconds, as Rubin's headers write dates.
fn iso_ms(e: hifitime::Epoch) -> String {
    let (y, mo, d, h, mi, sec, ns) = e.to_gregorian(hifitime::TimeScale::TAI);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}.{:03}",
        ns / 1_000_000
    )
}

/// The cards of an exposure's pointing, times and weather, as Rubin's cameras write them:
/// azimuth/elevation at start and end computed from the field at the site, the airmass from
/// the elevation.
pub(crate) fn observing_cards(
    ra: f64,
    dec: f64,
    start: hifitime::Epoch,
    visit: usize,
) -> Vec<Card> {
    use skyport_consdb::headers::sky::icrs_to_altaz;
    let end = start + hifitime::Unit::Second * EXPTIME;
    let mut cards = vec![
        card(
            "DATE",
            s(&iso_ms(end + hifitime::Unit::Second * 2)),
            "File creation date (TAI)",
        ),
        card("DATE-BEG", s(&iso_ms(start)), "Start of exposure (TAI)"),
        card("DATE-END", s(&iso_ms(end)), "End of exposure (TAI)"),
        card(
            "MJD-BEG",
            r(start.to_mjd_tai_days()),
            "Start of exposure (MJD, TAI)",
        ),
        card(
            "MJD-END",
            r(end.to_mjd_tai_days()),
            "End of exposure (MJD, TAI)",
        ),
        card("RADESYS", s("ICRS"), "Frame of RA and DEC"),
        card("TRACKSYS", s("RADEC"), "Tracking system"),
        card("RASTART", r(ra), "RA at start (deg)"),
        card("DECSTART", r(dec), "Dec at start (deg)"),
    ];
    for (when, az_key, el_key) in [(start, "AZSTART", "ELSTART"), (end, "AZEND", "ELEND")] {
        if let Some((az, el)) = icrs_to_altaz(ra, dec, when, SIMONYI) {
            cards.push(card(az_key, r(az), "Azimuth (deg)"));
            cards.push(card(el_key, r(el), "Elevation (deg)"));
            if az_key == "AZSTART" && el > 5.0 {
                cards.push(card(
                    "AMSTART",
                    r(1.0 / el.to_radians().sin()),
                    "Airmass at start",
                ));
            }
        }
    }
    cards.extend([
        card(
            "AIRTEMP",
            r(11.5 - 0.3 * (visit % 7) as f64),
            "Outside temperature (C)",
        ),
        card(
            "PRESSURE",
            r(743.2 + 0.4 * (visit % 3) as f64),
            "Pressure (hPa)",
        ),
        card(
            "HUMIDITY",
            r(23.0 + 2.0 * (visit % 5) as f64),
            "Relative humidity (%)",
        ),
        card(
            "WINDSPD",
            r(4.5 + 0.5 * (visit % 4) as f64),
            "Wind speed (m/s)",
        ),
        card(
            "WINDDIR",
            r(310.0 + 5.0 * (visit % 6) as f64),
            "Wind direction (deg)",
        ),
        card("FOCUSZ", r(-0.012 * (visit % 3) as f64), "Focus z (mm)"),
    ]);
    cards
}

fn visit_info(visit: usize) -> Result<VisitInfo> {
    let field = &FIELDS[visit % FIELDS.len()];
    let band = BANDS[visit % BANDS.len()];
    // One night every three days from 2025-12-01; each night observes every field once.
    let night = (visit / FIELDS.len()) as i64 * 3;
    let seq_num = 100 + (visit % FIELDS.len()) as i64 * 7;
    let base = hifitime::Epoch::from_gregorian_str("2025-12-01T03:00:00.250 TAI")
        .map_err(|e| anyhow::anyhow!("demo base date: {e}"))?;
    let epoch = base + hifitime::Unit::Day * night + hifitime::Unit::Second * (seq_num * 73);
    let (y, mo, d, h, mi, sec, ns) = epoch.to_gregorian(hifitime::TimeScale::TAI);
    let day_obs = format!("{y:04}{mo:02}{d:02}");
    let date_obs_tai = format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}.{:03}",
        ns / 1_000_000
    );
    Ok(VisitInfo {
        field,
        band,
        day_obs,
        seq_num,
        date_obs_tai,
        mjd_obs_tai: epoch.to_mjd_tai_days(),
        start: epoch,
        rotation_deg: 12.5 * visit as f64 - 30.0,
        airmass: 1.05 + 0.07 * (visit % 5) as f64,
        seeing: 0.65 + 0.05 * (visit % 4) as f64,
    })
}

fn write_exposure(root: &Path, e: &Exposure) -> Result<PathBuf> {
    let v = visit_info(e.visit)?;
    let obsid = format!("MC_O_{}_{:06}", v.day_obs, v.seq_num);
    let raft = format!("R{}{}", 2, 2);
    let slot = format!("S{}{}", e.detector / 3, e.detector % 3);
    let path = root
        .join(&v.day_obs)
        .join(&obsid)
        .join(format!("{obsid}_{raft}_{slot}.fits"));
    std::fs::create_dir_all(path.parent().context("exposure dir")?)?;
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    // Detector centre: raft R22 around the boresight, placed and oriented as LSSTCam's
    // nominal geometry puts it (so the header-derived ConsDB footprints match the WCS).
    let camera = skyport_consdb::headers::camera::Camera::LsstCam;
    let geometry = camera
        .detector(&raft, &slot)
        .context("the demo's detectors are in raft R22")?;
    let theta = v.rotation_deg.to_radians();
    let (ra, dec) = camera.to_sky(geometry.centre_mm, v.field.ra, v.field.dec, v.rotation_deg);
    let n = e.side;
    // Degrees per 10 µm pixel.
    let scale = camera.plate_scale() * 0.01 / 3600.0;
    let exptime = EXPTIME;

    let mut primary = vec![
        card("TELESCOP", s("Rubin:Simonyi"), "Telescope"),
        card("INSTRUME", s("LSSTCam"), "Instrument"),
        card("OBSID", s(&obsid), "Observation id"),
        card("DAYOBS", s(&v.day_obs), "Observing day"),
        card("SEQNUM", i(v.seq_num), "Sequence number"),
        card("CONTRLLR", s("O"), "Controller (O = OCS)"),
        card("IMGTYPE", s("OBJECT"), "Image type"),
        card("OBJECT", s(v.field.name), "Target field"),
        card("PROGRAM", s("BLOCK-365"), "Science program"),
        card("REASON", s("science"), "Observation reason"),
        card("FILTER", s(v.band.1), "Physical filter"),
        card("FILTBAND", s(v.band.0), "Abstract filter band"),
        card("TIMESYS", s("TAI"), "Time scale of DATE-OBS and MJD-OBS"),
        card("DATE-OBS", s(&v.date_obs_tai), "Start of exposure (TAI)"),
        card("MJD-OBS", r(v.mjd_obs_tai), "Start of exposure (MJD, TAI)"),
        card("EXPTIME", r(exptime), "Exposure time (s)"),
        card("DARKTIME", r(exptime + 0.9), "Dark time (s)"),
        card("RA", r(v.field.ra), "Boresight RA (deg)"),
        card("DEC", r(v.field.dec), "Boresight Dec (deg)"),
        card("ROTPA", r(v.rotation_deg), "Rotation angle (deg)"),
        card("AIRMASS", r(v.airmass), "Airmass at start"),
        card("SEEING", r(v.seeing), "Seeing FWHM (arcsec)"),
        card("RAFTBAY", s(&raft), "Raft"),
        card("CCDSLOT", s(&slot), "Detector slot in the raft"),
        card("DETECTOR", i(90 + e.detector as i64), "Detector number"),
        card(
            "CCD_MANU",
            s(if e.detector.is_multiple_of(2) {
                "ITL"
            } else {
                "E2V"
            }),
            "Sensor vendor",
        ),
        card("DETSIZE", s(&format!("[1:{n},1:{n}]")), "Detector size"),
        card(
            "GROUPID",
            s(&format!("{}_{}", v.day_obs, v.seq_num)),
            "Exposure group",
        ),
        card("VIGN_MIN", s("NO"), "Vignetting"),
    ];
    primary.extend(observing_cards(v.field.ra, v.field.dec, v.start, e.visit));
    let wcs = vec![
        card("CTYPE1", s("RA---TAN-SIP"), ""),
        card("CTYPE2", s("DEC--TAN-SIP"), ""),
        card("CUNIT1", s("deg"), ""),
        card("CUNIT2", s("deg"), ""),
        card("RADESYS", s("ICRS"), ""),
        card("CRPIX1", r((n as f64 + 1.0) / 2.0), ""),
        card("CRPIX2", r((n as f64 + 1.0) / 2.0), ""),
        card("CRVAL1", r(ra), ""),
        card("CRVAL2", r(dec), ""),
        card("CD1_1", r(-scale * theta.cos()), ""),
        card("CD1_2", r(scale * theta.sin()), ""),
        card("CD2_1", r(scale * theta.sin()), ""),
        card("CD2_2", r(scale * theta.cos()), ""),
        card("A_ORDER", i(2), ""),
        card("A_2_0", r(1.5e-8 * 4096.0 / n as f64), ""),
        card("A_1_1", r(5.0e-9), ""),
        card("A_0_2", r(-2.0e-9), ""),
        card("B_ORDER", i(2), ""),
        card("B_2_0", r(3.0e-9), ""),
        card("B_1_1", r(-4.0e-9), ""),
        card("B_0_2", r(-1.2e-8 * 4096.0 / n as f64), ""),
        card("BUNIT", s("adu"), ""),
    ];

    let seed = (e.visit as u64) << 16 | e.detector as u64;
    let (image, mask, variance) = pixels(n, seed);
    let mut mask_cards = vec![
        card("MP_BAD", i(0), "Mask bit: bad column"),
        card("MP_SAT", i(1), "Mask bit: saturated"),
    ];
    mask_cards.extend(wcs.iter().cloned());
    let planes = [
        PlaneSpec {
            extname: "IMAGE",
            data: PlaneData::F32(&image),
            cards: wcs.clone(),
        },
        PlaneSpec {
            extname: "MASK",
            data: PlaneData::I32(&mask),
            cards: mask_cards,
        },
        PlaneSpec {
            extname: "VARIANCE",
            data: PlaneData::F32(&variance),
            cards: wcs,
        },
    ];
    write_mef(
        &path,
        &primary,
        &planes,
        n,
        n,
        Some(128),
        1 + (seed % 9_999) as i32,
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Sky, noise and stars; a bad column; saturated cores. Deterministic in `seed`.
fn pixels(n: usize, seed: u64) -> (Vec<f32>, Vec<i32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    const SKY: f32 = 800.0;
    const READ_NOISE: f32 = 5.0;
    const SATURATION: f32 = 60_000.0;
    let mut image = vec![SKY; n * n];
    // Stars: about 200 per 1024² pixels, fluxes from a power law, Gaussian PSF of ~0.8″ FWHM.
    let stars = (200 * n * n / (1024 * 1024)).max(20);
    let sigma = 0.8 / 2.355 / PIXEL_SCALE;
    let half = (5.0 * sigma).ceil() as i64;
    for _ in 0..stars {
        let (cx, cy) = (
            rng.random_range(0.0..n as f64),
            rng.random_range(0.0..n as f64),
        );
        let flux = 2_000.0 * (1.0 - rng.random::<f64>()).powf(-1.2);
        let peak = flux / (2.0 * std::f64::consts::PI * sigma * sigma);
        for y in (cy as i64 - half).max(0)..(cy as i64 + half + 1).min(n as i64) {
            for x in (cx as i64 - half).max(0)..(cx as i64 + half + 1).min(n as i64) {
                let r2 = (x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2);
                image[y as usize * n + x as usize] +=
                    (peak * (-r2 / (2.0 * sigma * sigma)).exp()) as f32;
            }
        }
    }
    let mut mask = vec![0i32; n * n];
    let mut variance = vec![0f32; n * n];
    let bad_column = rng.random_range(0..n);
    for (k, value) in image.iter_mut().enumerate() {
        let var = value.max(0.0) + READ_NOISE * READ_NOISE;
        *value += var.sqrt() * gaussian(&mut rng);
        if *value >= SATURATION {
            *value = SATURATION;
            mask[k] |= 1 << 1;
        }
        if k % n == bad_column {
            mask[k] |= 1;
        }
        variance[k] = var;
    }
    (image, mask, variance)
}

/// A standard normal deviate (Box–Muller).
fn gaussian<R: Rng>(rng: &mut R) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// The name of Rubin's ObsCore declaration in the demo directory.
pub const RUBIN_OBSCORE_FILE: &str = "rubin_ivoa_obscore.yaml";

/// Rubin's ObsCore declaration (Felis, from the `lsst-sdm-schemas` wheel; see
/// testdata/SOURCES.md), which the demo's ObsCore is extended with.
pub const RUBIN_OBSCORE: &str =
    include_str!("../../../testdata/schemas/pypi_lsst_sdm_schemas/ivoa_obscore.yaml");

/// A few observers' messages about the demo's nights: exposure-log messages about two
/// LSSTCam exposures (one flagged, one corrected by an edit) and a LATISS one, and two
/// night-log entries, one with time lost.
pub async fn write_log_messages(
    store: &std::sync::Arc<dyn skyport_store::Store>,
    instruments: &[String],
) -> anyhow::Result<()> {
    use skyport_consdb::obslog::{Kind, ObsLog};
    let object = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let exposures = ObsLog::new(
        std::sync::Arc::clone(store),
        Kind::Exposure,
        "demo",
        instruments.to_vec(),
    );
    let message =
        |obs_id: &str, instrument: &str, text: &str, level: i64, tags: &[&str], flag: &str| {
            object(serde_json::json!({
                "obs_id": obs_id, "instrument": instrument, "message_text": text, "level": level,
                "tags": tags, "urls": [], "user_id": "demo-observer", "user_agent": "skyport demo",
                "is_human": true, "is_new": false, "exposure_flag": flag,
            }))
        };
    exposures
        .add(
            &message(
                "MC_O_20251201_000100",
                "LSSTCam",
                "Guiding lost for 5 s mid-exposure; stars trailed",
                30,
                &["guiding"],
                "questionable",
            ),
            None,
        )
        .await?;
    let first = exposures
        .add(
            &message(
                "MC_O_20251201_000107",
                "LSSTCam",
                "Thin clouds moving in from the west",
                20,
                &["weather"],
                "none",
            ),
            None,
        )
        .await?;
    if let Some(id) = first["id"].as_str() {
        exposures
            .edit(id, &object(serde_json::json!({"message_text": "Thin cirrus over COSMOS; transparency down about 0.2 mag"})), None)
            .await?;
    }
    exposures
        .add(
            &message(
                "AT_O_20251201_000201",
                "LATISS",
                "Spectrum of COSMOS target saturated at the core",
                30,
                &["saturation"],
                "junk",
            ),
            None,
        )
        .await?;
    let nights = ObsLog::new(
        std::sync::Arc::clone(store),
        Kind::Narrative,
        "demo",
        instruments.to_vec(),
    );
    for body in [
        serde_json::json!({
            "message_text": "Night 2025-12-01 opened on time; seeing 0.8 arcsec at the start", "level": 20,
            "tags": ["startup"], "urls": [], "time_lost": 0, "date_begin": "2025-12-01T01:00:00",
            "date_end": "2025-12-01T01:05:00", "user_id": "demo-observer", "user_agent": "skyport demo", "is_human": true,
            "category": "summary",
        }),
        serde_json::json!({
            "message_text": "Dome closed 25 min for wind above 20 m/s", "level": 30, "tags": ["weather", "wind"],
            "urls": [], "time_lost": 1500, "date_begin": "2025-12-01T06:00:00",
            "date_end": "2025-12-01T06:25:00", "user_id": "demo-observer", "user_agent": "skyport demo",
            "is_human": true, "category": "weather", "time_lost_type": "weather",
            "components_json": {"name": "Simonyi", "children": [{"name": "Dome"}]},
        }),
    ] {
        nights.add(&object(body), None).await?;
    }
    Ok(())
}

/// The scheduler's plan of the demo's nights (`skyport obsplan load` reads files like it):
/// some observations performed by the demo's exposures, one aborted, some not yet.
pub const OBSPLAN: &str = include_str!("demo_obsplan.json");

/// The demo's configuration file text: the archive in `archive.sqlite` beside it, or in the
/// PostgreSQL database `database`.
pub fn config_text(listen: &str, database: Option<&str>) -> String {
    let database = match database {
        Some(url) => format!("url = {url:?}"),
        None => "sqlite = \"archive.sqlite\"".to_string(),
    };
    format!(
        r#"# The skyport demo archive (generated by `skyport demo`).
[server]
listen = "{listen}"
title = "skyport demo archive"

[database]
{database}

[archive]
authority = "skyport.demo"
# Rubin's ObsCore (lsst-sdm-schemas): its lsst_* columns join the built-in ones.
obscore = "{RUBIN_OBSCORE_FILE}"

[[archive.roots]]
name = "lsst"
path = "data/lsst"
collection = "LSSTCam-demo"
calib_level = 2
instrument = "lsstcam"

# Rubin's columns, filled as dax_obscore fills them for visit images.
[archive.roots.obscore]
dataproduct_subtype = "lsst.visit_image"
lsst_visit = "{{exposure_id}}"
lsst_detector = "{{detector}}"
lsst_band = "{{band}}"
lsst_filter = "{{physical_filter}}"
obs_title = "visit_image - {{band}} - {{exposure_name}}-{{detector}}"

[[archive.roots]]
name = "real"
path = "data/real"
collection = "pypi-real"
calib_level = 2

# Proprietary until 2099: only group demo-team sees these images, their rows and pixels.
[[archive.roots]]
name = "proprietary"
path = "data/proprietary"
collection = "demo-proprietary"
calib_level = 2
groups = ["demo-team"]
release_date = "2099-01-01T00:00:00"

# Data releases (`skyport release`, `/releases`). dr1 was frozen when the demo was built: it
# answers under /releases/dr1/ with the rows it had then, whatever the archive gains since.
# prompt is a label of unreleased data, served from the live archive.
[[releases]]
name = "dr1"
description = "Demo data release 1: the real sample images and the proprietary ones"
collections = ["pypi-real", "demo-proprietary"]

[[releases]]
name = "prompt"
description = "Prompt processing: the LSSTCam visit images as they arrive"
collections = ["LSSTCam-demo"]

# HiPS sky maps of each collection and band (`/hips/list`), kept shallow so the demo starts
# quickly; brought up to date by every `skyport ingest`.
[hips]
max_order = 7

# Each user's own files over WebDAV at /webdav/<user>/ (a token with write:files), shared
# with groups through /workspace/<user>/shares; the demo keeps each user to 64 MiB.
[workspace]
quota_bytes = 67108864

# Anyone may read what is public without credentials; tokens come from `skyport token create`.
[auth]
mode = "open"

[auth.scopes.group_scopes]
demo-team = ["read:tap", "read:image"]
demo-writers = ["write:consdb"]

# A group with a tight rate limit, to see quotas at work.
[quotas.groups.demo-throttled]
requests_per_minute = 5

# The consolidated image-metadata database (Rubin's ConsDB schemas, REST API at /consdb).
[consdb]
enabled = true
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_are_deterministic_and_sane() {
        let (a, m, v) = pixels(64, 7);
        let (b, _, _) = pixels(64, 7);
        assert_eq!(a, b);
        let mean = a.iter().map(|x| f64::from(*x)).sum::<f64>() / a.len() as f64;
        assert!(mean > 780.0 && mean < 2000.0, "{mean}");
        assert!(m.iter().any(|x| x & 1 == 1), "bad column flagged");
        assert!(v.iter().all(|x| *x >= 25.0));
    }
}
