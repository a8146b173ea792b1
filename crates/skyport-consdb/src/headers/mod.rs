//! Header translation: FITS headers (or their dumps) of an exposure → a ConsDB `exposure`
//! row. Per instrument family, code derives the observation's properties (what
//! astro_metadata_translator calls ObservationInfo: ids, times, pointing, conditions) from the
//! header cards after the family's rule-based fix-ups; one shared table turns properties into
//! columns ([`columns`]). A new instrument of a known family is a few lines of data (its
//! recognition, site and dates: see the `LSST_INSTRUMENTS` table in [`lsst`]).
//!
//! Where a property an exposure must have cannot be derived (a science exposure without a
//! pointing, a header without a start time), translation fails with the keyword and the
//! reason, rather than writing NULLs as Rubin's ingest does; the rules are written out in
//! `docs/consdb-headers.md`.

pub mod camera;
mod decam;
mod hsc;
mod lsst;
pub mod read;
pub mod sky;
pub mod time;

use hifitime::{Duration, Epoch};
use serde_json::{Map, Value as Json};
use skyport_fits::{Header, HeaderValue};

use sky::Site;

/// The instruments skyport translates headers of.
pub const INSTRUMENTS: [&str; 6] = [
    "latiss",
    "lsstcam",
    "lsstcomcam",
    "lsstcomcamsim",
    "decam",
    "hsc",
];

/// Why a header could not be translated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{reason}", keyword.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct TranslateError {
    /// The keyword at fault, when one is.
    pub keyword: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl TranslateError {
    fn new(keyword: &str, reason: impl Into<String>) -> TranslateError {
        TranslateError {
            keyword: Some(keyword.to_string()),
            reason: reason.into(),
        }
    }
}

type Result<T> = std::result::Result<T, TranslateError>;

/// What an exposure's header says, in physical terms.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    /// Observation id (exposure_name).
    pub observation_id: Option<String>,
    /// Exposure id.
    pub exposure_id: Option<i64>,
    /// Observing day, YYYYMMDD.
    pub day_obs: Option<i64>,
    /// Sequence number.
    pub seq_num: Option<i64>,
    /// Controller (Rubin).
    pub controller: Option<String>,
    /// Physical filter.
    pub physical_filter: Option<String>,
    /// Start and end (TAI instants).
    pub start: Option<Epoch>,
    /// End.
    pub end: Option<Epoch>,
    /// Requested exposure time, s.
    pub exp_time: Option<f64>,
    /// Actual exposure (shutter) time, s.
    pub shut_time: Option<f64>,
    /// Dark time, s.
    pub dark_time: Option<f64>,
    /// Observation type.
    pub img_type: Option<String>,
    /// Tracking position, ICRS degrees.
    pub tracking: Option<(f64, f64)>,
    /// (azimuth, altitude) at start, degrees.
    pub altaz_start: Option<(f64, f64)>,
    /// (azimuth, altitude) at end, degrees.
    pub altaz_end: Option<(f64, f64)>,
    /// Boresight rotation angle, degrees.
    pub rotation: Option<f64>,
    /// Boresight airmass.
    pub airmass: Option<f64>,
    /// Target name.
    pub object: Option<String>,
    /// Science program.
    pub science_program: Option<String>,
    /// Observation reason.
    pub observation_reason: Option<String>,
    /// Exposure group.
    pub group: Option<String>,
    /// Whether the exposure can see the sky.
    pub can_see_sky: Option<bool>,
    /// Air temperature, °C.
    pub air_temp: Option<f64>,
    /// Pressure, Pa.
    pub pressure: Option<f64>,
    /// Relative humidity, %.
    pub humidity: Option<f64>,
    /// Focus z, mm.
    pub focus_z: Option<f64>,
    /// Observatory site.
    pub site: Option<Site>,
    /// Rubin's own cards copied as they are: band, wind speed and direction, seeing.
    pub band: Option<String>,
    /// Wind speed, m/s.
    pub wind_speed: Option<f64>,
    /// Wind direction, degrees.
    pub wind_dir: Option<f64>,
    /// DIMM seeing, arcsec.
    pub dimm_seeing: Option<f64>,
}

// --- card access ---------------------------------------------------------------------------

/// A card that is present and not null.
pub(crate) fn defined<'a>(h: &'a Header, key: &str) -> Option<&'a HeaderValue> {
    h.get(key).filter(|v| !matches!(v, HeaderValue::Undefined))
}

pub(crate) fn present(h: &Header, key: &str) -> bool {
    h.get(key).is_some()
}

/// Python's truthiness of a card.
pub(crate) fn truthy(h: &Header, key: &str) -> bool {
    match defined(h, key) {
        None => false,
        Some(HeaderValue::Logical(b)) => *b,
        Some(HeaderValue::Int(i)) => *i != 0,
        Some(HeaderValue::Real(r)) => *r != 0.0,
        Some(HeaderValue::Str(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

pub(crate) fn text(h: &Header, key: &str) -> Option<String> {
    defined(h, key).and_then(HeaderValue::as_text)
}

pub(crate) fn number(h: &Header, key: &str) -> Option<f64> {
    defined(h, key)
        .and_then(HeaderValue::as_f64)
        .filter(|f| f.is_finite())
}

pub(crate) fn set(h: &mut Header, key: &str, value: Option<HeaderValue>) {
    h.set(key, value.unwrap_or(HeaderValue::Undefined));
}

/// Sexagesimal (`12:34:56.7`, `-01 02 03`) or decimal text to a number.
pub(crate) fn sexagesimal(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<f64>() {
        return Some(v);
    }
    let negative = t.starts_with('-');
    let parts: Vec<f64> = t
        .trim_start_matches(['-', '+'])
        .split([':', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    let value = parts
        .iter()
        .zip([1.0, 60.0, 3600.0])
        .map(|(p, d)| p / d)
        .sum::<f64>();
    Some(if negative { -value } else { value })
}

// --- the shared column table ---------------------------------------------------------------

fn num(v: Option<f64>) -> Json {
    v.filter(|f| f.is_finite())
        .and_then(serde_json::Number::from_f64)
        .map_or(Json::Null, Json::Number)
}

fn string(v: &Option<String>) -> Json {
    v.as_ref().map_or(Json::Null, |s| Json::String(s.clone()))
}

/// The exposure row of the properties (the columns hinfo fills, in ConsDB's units).
pub fn columns(p: &Properties) -> Map<String, Json> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Json| {
        m.insert(k.to_string(), v);
    };
    put("exposure_name", string(&p.observation_id));
    put("exposure_id", p.exposure_id.map_or(Json::Null, Json::from));
    put("day_obs", p.day_obs.map_or(Json::Null, Json::from));
    put("seq_num", p.seq_num.map_or(Json::Null, Json::from));
    put("controller", string(&p.controller));
    put("physical_filter", string(&p.physical_filter));
    put("band", string(&p.band));
    put("s_ra", num(p.tracking.map(|t| t.0)));
    put("s_dec", num(p.tracking.map(|t| t.1)));
    put("sky_rotation", num(p.rotation));
    for (suffix, pair) in [("_start", p.altaz_start), ("_end", p.altaz_end)] {
        put(
            &format!("azimuth{suffix}"),
            num(pair.map(|a| a.0.rem_euclid(360.0))),
        );
        put(&format!("altitude{suffix}"), num(pair.map(|a| a.1)));
        put(
            &format!("zenith_distance{suffix}"),
            num(pair.map(|a| 90.0 - a.1)),
        );
    }
    let midpoint = match (p.start, p.end) {
        (Some(s), Some(e)) => {
            Some(s + Duration::from_total_nanoseconds((e - s).total_nanoseconds() / 2))
        }
        _ => None,
    };
    let mid_altaz = match (p.tracking, p.site, midpoint) {
        (Some((ra, dec)), Some(site), Some(when)) => sky::icrs_to_altaz(ra, dec, when, site),
        (Some(_), _, _) => None,
        _ => match (p.altaz_start, p.altaz_end) {
            (Some(a), Some(b)) => Some(sky::mean_altaz(a, b)),
            _ => None,
        },
    };
    put("azimuth", num(mid_altaz.map(|a| a.0)));
    put("altitude", num(mid_altaz.map(|a| a.1)));
    put("zenith_distance", num(mid_altaz.map(|a| 90.0 - a.1)));
    put("airmass", num(p.airmass));
    for (name, t) in [
        ("obs_start", p.start),
        ("obs_end", p.end),
        ("exp_midpt", midpoint),
    ] {
        put(
            name,
            t.map_or(Json::Null, |e| Json::String(time::tai_iso(e))),
        );
        put(&format!("{name}_mjd"), num(t.map(time::tai_mjd)));
    }
    put("exp_time", num(p.exp_time));
    put("shut_time", num(p.shut_time));
    put("dark_time", num(p.dark_time));
    put("group_id", string(&p.group));
    put("img_type", string(&p.img_type));
    put("science_program", string(&p.science_program));
    put("observation_reason", string(&p.observation_reason));
    put("target_name", string(&p.object));
    put("air_temp", num(p.air_temp));
    put("pressure", num(p.pressure));
    put("humidity", num(p.humidity));
    put("wind_speed", num(p.wind_speed));
    put("wind_dir", num(p.wind_dir));
    put("dimm_seeing", num(p.dimm_seeing));
    put("focus_z", num(p.focus_z));
    put("can_see_sky", p.can_see_sky.map_or(Json::Null, Json::Bool));
    m
}

/// Translates a header of `instrument` (one of [`INSTRUMENTS`]) into its properties.
pub fn properties(instrument: &str, header: &Header) -> Result<Properties> {
    match instrument {
        "decam" => decam::properties(header),
        "hsc" => hsc::properties(header),
        other => lsst::properties(other, header),
    }
}

/// One detector of an exposure: its `ccdexposure` row and, where the header has them, the
/// temperatures of its `ccdexposure_camera` row.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorRow {
    /// Detector number.
    pub detector: i64,
    /// The detector-exposure id (the instrument's packing of exposure id and detector).
    pub ccdexposure_id: i64,
    /// Footprint on the sky (`Polygon ICRS …`), for exposures that see the sky.
    pub s_region: Option<String>,
    /// TEMP_SET, °C.
    pub temp_set: Option<f64>,
    /// CCDTEMP, °C.
    pub ccd_temp: Option<f64>,
}

impl DetectorRow {
    /// The `ccdexposure` row, keyed like the exposure row it belongs to.
    pub fn ccdexposure(&self, exposure: &Map<String, Json>) -> Map<String, Json> {
        let mut m = Map::new();
        m.insert("ccdexposure_id".into(), Json::from(self.ccdexposure_id));
        for key in ["exposure_id", "day_obs", "seq_num"] {
            m.insert(key.into(), exposure.get(key).cloned().unwrap_or(Json::Null));
        }
        m.insert("detector".into(), Json::from(self.detector));
        m.insert("s_region".into(), string(&self.s_region));
        m
    }

    /// The `ccdexposure_camera` row, when the header gave a temperature.
    pub fn camera(&self, exposure: &Map<String, Json>) -> Option<Map<String, Json>> {
        if self.temp_set.is_none() && self.ccd_temp.is_none() {
            return None;
        }
        let mut m = Map::new();
        for key in ["day_obs", "seq_num"] {
            m.insert(key.into(), exposure.get(key).cloned().unwrap_or(Json::Null));
        }
        m.insert("detector".into(), Json::from(self.detector));
        m.insert("ccdexposure_id".into(), Json::from(self.ccdexposure_id));
        m.insert("temp_set".into(), num(self.temp_set));
        m.insert("ccd_temp".into(), num(self.ccd_temp));
        Some(m)
    }
}

/// What one header file says: its exposure row and a row per detector it covers.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// The `exposure` row.
    pub exposure: Map<String, Json>,
    /// The detectors (one for a raw file, each section of a HeaderService dump).
    pub detectors: Vec<DetectorRow>,
}

/// Whether an exposure's pointing describes where its pixels look.
fn sees_sky(p: &Properties) -> bool {
    p.can_see_sky != Some(false)
        && !matches!(
            p.img_type.as_deref(),
            Some("bias" | "dark" | "flat" | "zero" | "dome flat")
        )
}

/// Translates a header file (primary cards plus any detector sections) of `instrument` into
/// its exposure row and detector rows.
pub fn translate_set(instrument: &str, set: &read::HeaderSet) -> Result<Translation> {
    known(instrument)?;
    let p = properties(instrument, &set.primary)?;
    let mut exposure = columns(&p);
    let Some(exposure_id) = p.exposure_id else {
        return Ok(Translation {
            exposure,
            detectors: Vec::new(),
        });
    };
    let pointing = match (p.tracking, p.rotation) {
        (Some((ra, dec)), Some(rot)) if sees_sky(&p) => Some((ra, dec, rot)),
        _ => None,
    };
    let headers: Vec<(Option<&str>, Header)> = if set.detectors.is_empty() {
        vec![(None, set.primary.clone())]
    } else {
        set.detectors
            .iter()
            .map(|(name, cards)| {
                let mut h = cards.clone();
                h.inherit_from(&set.primary);
                (Some(name.as_str()), h)
            })
            .collect()
    };
    let mut detectors = Vec::new();
    match instrument {
        "decam" | "hsc" => {
            for (_, h) in &headers {
                let (key, factor) = if instrument == "decam" {
                    ("CCDNUM", 100)
                } else {
                    ("DET-ID", 200)
                };
                let Some(detector) = defined(h, key).and_then(HeaderValue::as_i64) else {
                    continue;
                };
                if !(0..factor).contains(&detector) {
                    return Err(TranslateError::new(
                        key,
                        format!("detector {detector} is outside 0–{}", factor - 1),
                    ));
                }
                // A dump of a tile-compressed HDU describes the image through its Z cards.
                let image = if h.is_compressed_image() {
                    h.decompressed_view()
                } else {
                    h.clone()
                };
                // DECam's TPV distortion is read as its TAN core: about 3 arcsec at the corners.
                let s_region = skyport_fits::Wcs::from_header_tan_core(&image)
                    .ok()
                    .filter(|w| w.naxis().0 > 0 && w.naxis().1 > 0 && pointing.is_some())
                    .and_then(|w| w.footprint())
                    .map(|polygon| camera::stcs(&polygon));
                let ccdexposure_id = exposure_id
                    .checked_mul(factor)
                    .and_then(|id| id.checked_add(detector))
                    .ok_or_else(|| {
                        TranslateError::new(
                            key,
                            format!(
                                "exposure {exposure_id} is too large for a detector-exposure id"
                            ),
                        )
                    })?;
                detectors.push(DetectorRow {
                    detector,
                    ccdexposure_id,
                    s_region,
                    temp_set: None,
                    ccd_temp: None,
                });
            }
        }
        _ => {
            let cam = match instrument {
                "latiss" => camera::Camera::Latiss,
                "lsstcam" => camera::Camera::LsstCam,
                _ => camera::Camera::ComCam,
            };
            if let Some((ra, dec, rot)) = pointing {
                exposure.insert(
                    "s_region".into(),
                    string(&cam.focal_plane_region(ra, dec, rot)),
                );
            }
            for (section, h) in &headers {
                let name = section
                    .map(str::to_string)
                    .or_else(|| text(h, "DETNAME"))
                    .or_else(|| Some(format!("{}_{}", text(h, "RAFTBAY")?, text(h, "CCDSLOT")?)))
                    .or_else(|| (cam == camera::Camera::Latiss).then(|| "R00_S00".to_string()));
                let Some(name) = name else { continue };
                let detector = camera::split_name(&name)
                    .and_then(|(raft, sensor)| cam.detector(&raft, &sensor))
                    .map(|d| d.with_vendor(text(h, "CCD_MANU").as_deref()))
                    .ok_or_else(|| {
                        TranslateError::new(
                            "RAFTBAY",
                            format!("{instrument} has no detector {name}"),
                        )
                    })?;
                let ccdexposure_id = camera::ccdexposure_id(exposure_id, detector.number)
                    .map_err(|reason| TranslateError::new("DAYOBS", reason))?;
                detectors.push(DetectorRow {
                    detector: detector.number,
                    ccdexposure_id,
                    s_region: pointing
                        .and_then(|(ra, dec, rot)| cam.detector_region(&detector, ra, dec, rot)),
                    temp_set: number(h, "TEMP_SET"),
                    ccd_temp: number(h, "CCDTEMP"),
                });
            }
        }
    }
    Ok(Translation {
        exposure,
        detectors,
    })
}

/// Translates a header of `instrument` into an `exposure` row.
pub fn translate(instrument: &str, header: &Header) -> Result<Map<String, Json>> {
    known(instrument)?;
    properties(instrument, header).map(|p| columns(&p))
}

fn known(instrument: &str) -> Result<()> {
    if !INSTRUMENTS.contains(&instrument) {
        return Err(TranslateError {
            keyword: None,
            reason: format!(
                "no header translator for instrument {instrument}; known: {}",
                INSTRUMENTS.join(", ")
            ),
        });
    }
    Ok(())
}
