//! Rubin's cameras: LATISS (AuxTel), LSSTCam, LSSTComCam and LSSTComCamSim. Their headers
//! share one vocabulary (obs_lsst's); the instruments differ in a few data — recognition,
//! site, the date each went on the mountain — and in rule-based fix-ups of known header
//! mistakes, applied before anything is read.

use hifitime::{Duration, Epoch, TimeScale};
use skyport_fits::{Header, HeaderValue};

use super::sky::{self, Site};
use super::time::{self, utc};
use super::{defined, number, present, set, text, truthy, Properties, Result, TranslateError};

/// Family members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Latiss,
    LsstCam,
    ComCam,
    ComCamSim,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "latiss" => Kind::Latiss,
            "lsstcam" => Kind::LsstCam,
            "lsstcomcam" => Kind::ComCam,
            "lsstcomcamsim" => Kind::ComCamSim,
            _ => return None,
        })
    }

    /// The default site (geodetic, WGS84).
    fn site(self) -> Site {
        match self {
            Kind::Latiss => Site {
                lon: -70.747698,
                lat: -30.244728,
                height: 2663.0,
            },
            _ => Site {
                lon: -70.749417,
                lat: -30.244639,
                height: 2663.0,
            },
        }
    }

    fn lsstcam_like(self) -> bool {
        self != Kind::Latiss
    }
}

fn upper(h: &Header, key: &str) -> Option<String> {
    text(h, key).map(|s| s.to_ascii_lowercase())
}

/// Whether the header is of `kind` (obs_lsst's recognition).
fn recognised(kind: Kind, h: &Header) -> bool {
    let instrume = text(h, "INSTRUME");
    let lower = instrume.as_deref().map(str::to_ascii_lowercase);
    let telescop = text(h, "TELESCOP");
    let rubin_telescope = matches!(
        telescop.as_deref(),
        Some("Simonyi Survey Telescope" | "LSST")
    );
    match kind {
        Kind::Latiss => {
            matches!(instrume.as_deref(), Some("LATISS" | "LSST_ATISS"))
                || text(h, "DETNAME").as_deref() == Some("RXX_S00")
        }
        Kind::LsstCam => lower.as_deref() == Some("lsstcam"),
        Kind::ComCam => {
            present(h, "INSTRUME")
                && present(h, "TELESCOP")
                && ((lower.as_deref() == Some("comcam") && rubin_telescope)
                    || (text(h, "TELCODE").as_deref() == Some("CC")
                        && lower.as_deref() == Some("lsst_camera")))
        }
        Kind::ComCamSim => {
            present(h, "INSTRUME")
                && present(h, "TELESCOP")
                && lower.as_deref() == Some("comcamsim")
                && rubin_telescope
        }
    }
}

/// The start instant: the first defined of MJD-BEG, DATE-BEG, MJD-OBS, DATE-OBS, read as TAI.
fn start_time(h: &Header) -> Option<Epoch> {
    for key in ["MJD-BEG", "DATE-BEG", "MJD-OBS", "DATE-OBS"] {
        let Some(v) = defined(h, key) else { continue };
        let t = if key.starts_with("MJD") {
            v.as_f64().and_then(|m| time::from_mjd(m, TimeScale::TAI))
        } else {
            v.as_text()
                .and_then(|s| time::parse_iso(&s, TimeScale::TAI))
        };
        if t.is_some() {
            return t;
        }
    }
    None
}

fn observation_id(kind: Kind, h: &Header) -> Option<String> {
    match kind {
        Kind::Latiss => text(h, "OBSID").or_else(|| text(h, "IMGNAME")),
        _ => text(h, "OBSID"),
    }
}

fn shift(h: &mut Header, key: &str, f: impl Fn(f64) -> f64) -> bool {
    match number(h, key) {
        Some(v) => {
            h.set(key, HeaderValue::Real(f(v)));
            true
        }
        None => false,
    }
}

/// LATISS's rule-based fix-ups (obs_lsst), in order; a step needing an absent card stops them.
fn fix_latiss(h: &mut Header) {
    let obsid = observation_id(Kind::Latiss, h);
    if !present(h, "OBSID") {
        set(h, "OBSID", obsid.clone().map(HeaderValue::Str));
    }
    if !present(h, "DAYOBS") {
        let mut day = None;
        if let Some(id) = &obsid {
            let fields: Vec<&str> = id.split('_').collect();
            if fields.len() < 3 {
                return;
            }
            day = Some(fields[2].to_string()).filter(|d| d.len() == 8);
        }
        let day = day.or_else(|| text(h, "OBS-NITE"));
        if let Some(d) = day.filter(|d| !d.is_empty()) {
            h.set("DAYOBS", HeaderValue::Str(d));
        }
    }
    if !present(h, "SEQNUM") {
        if let Some(id) = &obsid {
            let fields: Vec<&str> = id.split('_').collect();
            if fields.len() < 4 {
                return;
            }
            if let Ok(n) = fields[3].parse::<i64>() {
                h.set("SEQNUM", HeaderValue::Int(n));
            }
        }
    }
    if text(h, "DATE-OBS").is_some_and(|d| d.starts_with("1970")) {
        let date = h.get("DATE").cloned();
        let mjd = h.get("MJD").cloned();
        set(h, "DATE-OBS", date.clone());
        set(h, "DATE-BEG", date);
        set(h, "MJD-OBS", mjd.clone());
        set(h, "MJD-BEG", mjd);
        set(h, "DATE-END", None);
        set(h, "MJD-END", None);
    }
    let Some(date) = start_time(h) else { return };
    if date < utc(2020, 2, 1, 0, 0) && truthy(h, "DATE-END") {
        set(h, "DATE-END", None);
        set(h, "MJD-END", None);
    }
    if date < utc(2019, 11, 7, 0, 0) && truthy(h, "GROUPID") {
        let group = text(h, "GROUPID").unwrap_or_default();
        if !group.starts_with("test") {
            if !truthy(h, "IMGTYPE") {
                if let Some((kind, _)) = group.split_once('_') {
                    h.set("IMGTYPE", HeaderValue::Str(kind.to_string()));
                } else if !group.eq_ignore_ascii_case("FOCUS")
                    && group.to_ascii_uppercase().starts_with("FOCUS")
                {
                    h.set("IMGTYPE", HeaderValue::Str("FOCUS".into()));
                } else {
                    h.set("IMGTYPE", HeaderValue::Str(group.clone()));
                    set(h, "GROUPID", None);
                }
            } else if text(h, "IMGTYPE").as_deref() == Some(group.as_str()) {
                set(h, "GROUPID", None);
            }
        }
    }
    if date < utc(2020, 1, 27, 20, 0) && text(h, "IMGTYPE").as_deref() == Some("OBJECT") {
        h.set("IMGTYPE", HeaderValue::Str("ENGTEST".into()));
    }
    if date < utc(2020, 1, 28, 22, 0) {
        for key in ["RA", "DEC"] {
            shift(h, key, f64::to_degrees);
        }
    }
    if truthy(h, "SHUTTIME") {
        set(h, "SHUTTIME", None);
    }
    if !present(h, "OBJECT") && text(h, "IMGTYPE").as_deref() == Some("OBJECT") {
        h.set("OBJECT", HeaderValue::Str("NOTSET".into()));
    }
    if date < utc(2022, 7, 10, 0, 0) {
        if let Some(object) = text(h, "OBJECT") {
            h.set("OBJECT", HeaderValue::Str(object.replace("spec:", "")));
        }
    }
    if text(h, "RADESYS").as_deref() == Some("") {
        h.set("RADESYS", HeaderValue::Str("ICRS".into()));
    }
    match text(h, "TRACKSYS").as_deref() {
        Some("") => set(h, "TRACKSYS", None),
        Some("SIDEREAL") => h.set("TRACKSYS", HeaderValue::Str("RADEC".into())),
        _ => {}
    }
    if date < utc(2021, 2, 11, 18, 45) {
        if date < utc(2020, 5, 1, 0, 0) {
            for key in ["RASTART", "DECSTART", "RAEND", "DECEND"] {
                set(h, key, None);
            }
        } else {
            for key in ["RASTART", "RAEND"] {
                if !present(h, key) {
                    return;
                }
                if truthy(h, key) {
                    shift(h, key, |v| v * 15.0);
                }
            }
        }
    }
    if date > utc(2020, 5, 1, 0, 0) && date < utc(2021, 2, 12, 0, 0) {
        for key in ["RASTART", "RAEND"] {
            if !present(h, key) {
                return;
            }
            if truthy(h, key) {
                shift(h, key, |v| v + 37.0 / 3600.0 * 15.0);
            }
        }
    }
    if date > utc(2020, 11, 19, 0, 0)
        && date < utc(2021, 10, 29, 0, 0)
        && !shift(h, "ROTPA", |v| v - 180.0)
    {
        return;
    }
    if number(h, "OBSGEO-Z").is_some_and(|z| z > 0.0) {
        shift(h, "OBSGEO-Z", |z| -z);
    }
}

fn int_card(h: &Header, key: &str) -> Option<i64> {
    defined(h, key).and_then(HeaderValue::as_i64)
}

/// LSSTCam's fix-ups.
fn fix_lsstcam(h: &mut Header) {
    if !present(h, "FILTER") && defined(h, "FILTER2").is_some() {
        set(h, "FILTER2", None);
    }
    let day = if truthy(h, "DAYOBS") {
        int_card(h, "DAYOBS")
    } else {
        None
    };
    let dayobs_text = text(h, "DAYOBS").unwrap_or_default();
    if ["20231107", "20231108", "20241015", "20241016"].contains(&dayobs_text.as_str())
        && text(h, "FILTER").as_deref() == Some("ph_05")
    {
        h.set("FILTER", HeaderValue::Str("ph_5".into()));
    }
    let Some(day) = day else { return };
    if day > 20250301 && day < 20250422 && truthy(h, "ROTPA") {
        shift(h, "ROTPA", |v| v - 90.0);
    }
    let seq = int_card(h, "SEQNUM").unwrap_or(i64::MAX);
    if day == 20250422 && seq < 251 && truthy(h, "ROTPA") {
        shift(h, "ROTPA", |v| {
            (v - 180.0 + 180.0).rem_euclid(360.0) - 180.0
        });
    }
    if day == 20250518 {
        h.set("VIGN_MIN", HeaderValue::Str("FULLY".into()));
    }
    const FULLY_VIGNETTED: [(i64, i64, i64); 7] = [
        (20250703, 743, 745),
        (20250704, 832, 834),
        (20250705, 1, 736),
        (20250707, 744, 943),
        (20250714, 258, 781),
        (20250715, 205, 1218),
        (20250819, 4, 1052),
    ];
    if FULLY_VIGNETTED
        .iter()
        .any(|&(d, a, b)| d == day && (a..=b).contains(&seq))
    {
        h.set("VIGN_MIN", HeaderValue::Str("FULLY".into()));
    }
    let mut filter = |filter: &str, band: &str, pos: f64, slot: i64| {
        h.set("FILTER", HeaderValue::Str(filter.into()));
        h.set("FILTBAND", HeaderValue::Str(band.into()));
        h.set("FILTPOS", HeaderValue::Real(pos));
        h.set("FILTSLOT", HeaderValue::Int(slot));
    };
    if day == 20250609 && (76..=578).contains(&seq) {
        filter("z_20", "z", 201.0, 4);
    }
    if day == 20260315 && (49..=109).contains(&seq) {
        filter("i_39", "i", 304.0, 1);
    }
    const T417_DAYS: [i64; 16] = [
        20250415, 20250416, 20250417, 20250418, 20250421, 20250423, 20250424, 20250425, 20250503,
        20250504, 20250512, 20250522, 20250524, 20250826, 20250827, 20250828,
    ];
    if T417_DAYS.contains(&day) && text(h, "PROGRAM").as_deref() == Some("BLOCK-417") {
        h.set("PROGRAM", HeaderValue::Str("BLOCK-T417".into()));
    }
}

/// LSSTComCam's fix-ups.
fn fix_comcam(h: &mut Header) {
    let start = start_time(h);
    match text(h, "FILTER").as_deref() {
        None => h.set("FILTER", HeaderValue::Str("unknown".into())),
        Some("r") | Some("") => {
            let late = start.is_some_and(|s| s > utc(2020, 3, 13, 0, 0));
            h.set(
                "FILTER",
                HeaderValue::Str(if late { "empty" } else { "r_03" }.into()),
            );
        }
        _ => {}
    }
    if text(h, "INSTRUME").as_deref() == Some("LSST_CAMERA") {
        h.set("INSTRUME", HeaderValue::Str("ComCam".into()));
    }
    if number(h, "ROTPA").is_none() {
        h.set("ROTPA", HeaderValue::Real(0.0));
    }
}

/// LSSTComCamSim's fix-ups.
fn fix_comcamsim(h: &mut Header) {
    for x in ["RA", "DEC"] {
        for w in ["START", "END"] {
            let key = format!("{x}{w}");
            if !truthy(h, &key) && truthy(h, x) {
                if let Some(v) = h.get(x).cloned() {
                    h.set(&key, v);
                }
            }
        }
    }
    if !truthy(h, "RADESYS") && truthy(h, "RA") && truthy(h, "DEC") {
        h.set("RADESYS", HeaderValue::Str("ICRS".into()));
    }
}

/// The exposure id: DAYOBS and SEQNUM, with the controller's offset (obs_lsst's encoding).
fn exposure_id(h: &Header) -> Result<Option<i64>> {
    if present(h, "CALIB_ID") {
        return Ok(None);
    }
    let day = match defined(h, "DAYOBS") {
        None => {
            return Err(TranslateError::new(
                "DAYOBS",
                "no DAYOBS: the exposure id cannot be formed",
            ))
        }
        Some(HeaderValue::Int(i)) => i.to_string(),
        Some(v) => {
            let t = v.as_text().unwrap_or_default();
            t.split('T').next().unwrap_or("").replace('-', "")
        }
    };
    if day.len() != 8 || day.parse::<i64>().is_err() {
        return Err(TranslateError::new(
            "DAYOBS",
            format!("DAYOBS {day:?} is not a YYYYMMDD date"),
        ));
    }
    let day_number: i64 = day.parse().unwrap_or(0);
    let seq = defined(h, "SEQNUM")
        .and_then(HeaderValue::as_i64)
        .ok_or_else(|| {
            TranslateError::new("SEQNUM", "no SEQNUM: the exposure id cannot be formed")
        })?;
    if !(0..100_000).contains(&seq) {
        return Err(TranslateError::new(
            "SEQNUM",
            format!("SEQNUM {seq} does not fit in five digits"),
        ));
    }
    let mut d = day_number;
    if let Some(c) = text(h, "CONTRLLR") {
        let exempt = (day_number > 20231004 && c == "C")
            || (day_number > 20250417 && matches!(c.as_str(), "P" | "Q" | "S"));
        if !exempt {
            let index = ["O", "C", "H", "P", "Q", "S"]
                .iter()
                .position(|x| *x == c)
                .ok_or_else(|| {
                    TranslateError::new("CONTRLLR", format!("unknown controller {c:?}"))
                })?;
            d += index as i64 * 10_000_000;
        }
    }
    Ok(Some(d * 100_000 + seq))
}

/// US Pacific offset from UTC in hours at `when` (the lab day boundary of older cameras).
fn pacific_offset(when: Epoch) -> f64 {
    let (y, ..) = when.to_gregorian(TimeScale::UTC);
    // DST: second Sunday of March 02:00 local (10:00 UTC) to first Sunday of November
    // 02:00 local (09:00 UTC).
    let sunday = |month: u8, nth: u8| -> u8 {
        let first = Epoch::from_gregorian_utc(y, month, 1, 0, 0, 0, 0);
        let weekday = first.weekday_utc() as u8; // Monday = 0 … Sunday = 6
        1 + (6 + 7 - weekday) % 7 + 7 * (nth - 1)
    };
    let begin = utc(y, 3, sunday(3, 2), 10, 0);
    let end = utc(y, 11, sunday(11, 1), 9, 0);
    if when >= begin && when < end {
        7.0
    } else {
        8.0
    }
}

/// The properties of an LSST-family header.
pub fn properties(instrument: &str, header: &Header) -> Result<Properties> {
    let kind = Kind::of(instrument).ok_or_else(|| TranslateError {
        keyword: None,
        reason: format!("no LSST translator for {instrument}"),
    })?;
    if !recognised(kind, header) {
        return Err(TranslateError::new(
            "INSTRUME",
            format!(
                "the header is not of {instrument} (INSTRUME {:?}, TELESCOP {:?})",
                text(header, "INSTRUME"),
                text(header, "TELESCOP")
            ),
        ));
    }
    let mut h = header.clone();
    if observation_id(kind, &h).is_some() || kind == Kind::Latiss {
        match kind {
            Kind::Latiss => fix_latiss(&mut h),
            Kind::LsstCam => fix_lsstcam(&mut h),
            Kind::ComCam => fix_comcam(&mut h),
            Kind::ComCamSim => fix_comcamsim(&mut h),
        }
    }
    let h = &h;
    let start = start_time(h).ok_or_else(|| {
        TranslateError::new(
            "MJD-BEG",
            "no start time (MJD-BEG, DATE-BEG, MJD-OBS or DATE-OBS)",
        )
    })?;
    let controller = text(h, "CONTRLLR");
    let on_mountain = match kind {
        Kind::Latiss => start > utc(2020, 1, 1, 0, 0),
        Kind::LsstCam => controller.as_deref() == Some("H") || start > utc(2025, 3, 1, 0, 0),
        Kind::ComCam => controller.as_deref() == Some("H") || start > utc(2024, 8, 24, 0, 0),
        Kind::ComCamSim => true,
    };

    // Exposure times.
    let (requested, exposure) = if kind.lsstcam_like() {
        let requested = number(h, "EXPTIME")
            .or_else(|| text(h, "EXPTIME").and_then(|t| t.trim().parse().ok()))
            .ok_or_else(|| TranslateError::new("EXPTIME", "no exposure time"))?;
        let shutter = number(h, "SHUTTIME")
            .filter(|s| *s > 0.0)
            .unwrap_or(requested);
        (requested, shutter)
    } else {
        let t = number(h, "EXPTIME").unwrap_or(-1.0);
        (t, t)
    };
    let dark = if kind.lsstcam_like() {
        number(h, "DARKTIME").unwrap_or(exposure)
    } else {
        number(h, "DARKTIME")
            .filter(|d| *d >= exposure)
            .unwrap_or(exposure)
    };

    // Observation type.
    let img_type = if kind.lsstcam_like() {
        let t = match defined(h, "IMGTYPE") {
            Some(HeaderValue::Str(s)) => s.to_ascii_lowercase(),
            _ => return Err(TranslateError::new("IMGTYPE", "no IMGTYPE (string)")),
        };
        match t.as_str() {
            "skyexp" | "object" => "science".to_string(),
            _ => t,
        }
    } else {
        match upper(h, "OBSTYPE").or_else(|| upper(h, "IMGTYPE")) {
            Some(t) if t == "object" => if on_mountain { "science" } else { "labobject" }.into(),
            Some(t) if t == "skyexp" => "science".into(),
            Some(t) => t,
            None if exposure == 0.0 => "bias".into(),
            None => "unknown".into(),
        }
    };
    let science = img_type == "science";
    let tracksys = text(h, "TRACKSYS");
    let on_sky = !(tracksys
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("local"))
        || matches!(img_type.as_str(), "bias" | "dark" | "flat"))
        && on_mountain;

    let observation_id = observation_id(kind, h);
    if observation_id.is_none() && (kind.lsstcam_like() || science) {
        return Err(TranslateError::new("OBSID", "no observation id (OBSID)"));
    }
    let exposure_id = exposure_id(h)?;
    let day_obs = match defined(h, "DAYOBS") {
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| TranslateError::new("DAYOBS", "DAYOBS is not an integer"))?,
        ),
        None => {
            let hours = match kind {
                Kind::Latiss | Kind::ComCamSim => 12.0,
                Kind::LsstCam | Kind::ComCam => {
                    let (y, m, ..) = start.to_gregorian(TimeScale::TAI);
                    let since = if kind == Kind::LsstCam {
                        202405
                    } else {
                        202003
                    };
                    if i64::from(y) * 100 + i64::from(m) >= since {
                        12.0
                    } else {
                        pacific_offset(start)
                    }
                }
            };
            Some(time::day_obs(start, hours))
        }
    };
    let seq_num = Some(
        defined(h, "SEQNUM")
            .and_then(HeaderValue::as_i64)
            .unwrap_or(0),
    );
    let end =
        match text(h, "DATE-END") {
            Some(t) => time::parse_iso(&t, time::scale(text(h, "TIMESYS").as_deref())).ok_or_else(
                || TranslateError::new("DATE-END", format!("DATE-END {t:?} is not a date")),
            )?,
            None if exposure < 0.0 => start,
            None => start + Duration::from_seconds(exposure),
        };

    // Physical filter.
    let physical_filter = if kind.lsstcam_like() {
        let parts: Vec<String> = ["FILTER", "FILTER1", "FILTER2"]
            .iter()
            .filter_map(|k| text(h, k))
            .collect();
        let mut f = if parts.is_empty() {
            "unknown".to_string()
        } else {
            parts.join("~")
        };
        f = f.replace("NONE", "none");
        while let Some(stripped) = f.strip_suffix("~empty") {
            f = stripped.to_string();
        }
        f
    } else {
        let filter = text(h, "FILTER").map_or("unknown".to_string(), |f| {
            let lower = f.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("empty")
                .map(|r| r.strip_prefix('_').unwrap_or(r));
            if rest.is_some_and(|r| r.chars().all(|c| c.is_ascii_digit())) {
                "empty".to_string()
            } else {
                f
            }
        });
        let grating = text(h, "GRATING").map_or("unknown".to_string(), |g| {
            if g.is_empty() || g.to_ascii_lowercase().starts_with("empty") {
                "empty".to_string()
            } else {
                g
            }
        });
        format!("{filter}~{grating}")
    };

    // Site.
    let site = if on_mountain {
        match (
            number(h, "OBSGEO-X"),
            number(h, "OBSGEO-Y"),
            number(h, "OBSGEO-Z"),
        ) {
            (Some(x), Some(y), Some(z)) => Site::from_geocentric(x, y, z),
            _ => Some(kind.site()),
        }
    } else {
        None
    };

    // Alt/Az at start and end.
    let pair = |az_key: &str, el_key: &str| -> Option<(f64, f64)> {
        let (az, el) = (number(h, az_key)?, number(h, el_key)?);
        if az < -360.0 || el < -90.0 {
            return None;
        }
        Some((az, el.clamp(-5.55, 90.0)))
    };
    let both_defined = |a: &str, b: &str| defined(h, a).is_some() && defined(h, b).is_some();
    let altaz = |az_key: &str, el_key: &str| -> Result<Option<(f64, f64)>> {
        if !on_mountain {
            return Ok(None);
        }
        if controller.as_deref() == Some("H") && !both_defined(az_key, el_key) {
            return Ok(None);
        }
        match pair(az_key, el_key) {
            Some(p) => Ok(Some(p)),
            None if science => Err(TranslateError::new(
                az_key,
                format!("a science exposure on the mountain without {az_key}/{el_key}"),
            )),
            None => Ok(None),
        }
    };
    let altaz_start = if kind == Kind::ComCamSim && !both_defined("AZSTART", "ELSTART") {
        if defined(h, "RA").is_some() && defined(h, "DEC").is_some() {
            let el = if !on_sky {
                45.0
            } else {
                let am = number(h, "AMSTART").filter(|a| *a >= 1.0).ok_or_else(|| {
                    TranslateError::new("AMSTART", "no airmass to stand in for the elevation")
                })?;
                (1.0 / am).asin().to_degrees()
            };
            Some((0.0, el))
        } else {
            None
        }
    } else {
        altaz("AZSTART", "ELSTART")?
    };
    let no_end = (kind == Kind::ComCamSim && !both_defined("AZEND", "ELEND"))
        || (kind == Kind::Latiss && present(h, "AELEND") && !present(h, "ELEND"));
    let altaz_end = if no_end {
        None
    } else {
        altaz("AZEND", "ELEND")?
    };

    // Tracking position.
    let tracking = (|| -> std::result::Result<Option<(f64, f64)>, String> {
        if matches!(img_type.as_str(), "bias" | "flat") {
            return Ok(None);
        }
        if tracksys.as_deref().is_some_and(|t| t != "RADEC") {
            return Ok(None);
        }
        if !present(h, "DATE") {
            return Err("DATE".into());
        }
        if text(h, "DATE-OBS").is_some() && text(h, "DATE-OBS") == text(h, "DATE") {
            let (az, alt) = altaz_start.ok_or("AZSTART")?;
            let site = site.ok_or("OBSGEO-X")?;
            return sky::altaz_to_icrs(az, alt, start, site)
                .map(Some)
                .ok_or_else(|| "AZSTART".into());
        }
        let frame =
            text(h, "RADESYS").map_or("icrs".to_string(), |f| f.trim().to_ascii_lowercase());
        if frame == "gappt" {
            return Ok(None);
        }
        let position = [("RASTART", "DECSTART"), ("RA", "DEC")]
            .iter()
            .find_map(|(r, d)| Some((number(h, r)?, number(h, d)?)));
        match position {
            Some((ra, dec)) if frame == "fk5" => Ok(Some(sky::fk5_to_icrs(ra, dec))),
            Some(p) => Ok(Some(p)),
            None if science => Err("RA".into()),
            None => Ok(None),
        }
    })();
    let tracking = match tracking {
        Ok(t) => t,
        Err(key) if on_sky => {
            return Err(TranslateError::new(
                &key,
                "an exposure on the sky without a usable pointing (RA/DEC, RASTART/DECSTART or AZSTART/ELSTART)",
            ))
        }
        Err(_) => None,
    };

    // Rotation.
    let default_rotation = if kind.lsstcam_like() { Some(0.0) } else { None };
    let rotation = match ["ROTPA", "ROTANGLE"]
        .iter()
        .find_map(|k| defined(h, k).map(|v| v.as_f64()))
    {
        Some(Some(r)) if !r.is_nan() => Some(r),
        Some(_) => default_rotation,
        None if science && on_mountain => {
            return Err(TranslateError::new(
                "ROTPA",
                "a science exposure without a rotation angle",
            ))
        }
        None => default_rotation,
    };

    let airmass = if !on_sky {
        None
    } else if let Some(am) = number(h, "AMSTART") {
        Some(am)
    } else if let Some((_, alt)) = altaz_start {
        Some(1.0 / alt.to_radians().sin())
    } else {
        Some(1.0)
    };
    let object = match text(h, "OBJECT") {
        Some(o) => Some(o),
        None if kind == Kind::Latiss && science && on_mountain => {
            return Err(TranslateError::new(
                "OBJECT",
                "a science exposure without OBJECT",
            ))
        }
        None => Some("UNKNOWN".into()),
    };
    let science_program = if kind.lsstcam_like() {
        ["PROGRAM", "RUNNUM"]
            .iter()
            .find_map(|k| defined(h, k))
            .map(|v| match v {
                HeaderValue::Real(r) if r.is_nan() => "unknown".to_string(),
                other => other.as_text().unwrap_or_default(),
            })
    } else {
        text(h, "PROGRAM")
    }
    .or_else(|| Some("unknown".into()));
    let observation_reason = ["REASON", "TESTTYPE"]
        .iter()
        .find_map(|k| text(h, k))
        .map(|r| r.to_ascii_lowercase())
        .or_else(|| Some(if science { "science" } else { "unknown" }.into()));
    let group = text(h, "GROUPID").or_else(|| exposure_id.map(|i| i.to_string()));

    let can_see_sky = if (kind.lsstcam_like() && !on_mountain) || number(h, "SHUTTIME") == Some(0.0)
    {
        Some(false)
    } else if let Some(v) = text(h, "VIGN_MIN") {
        match v.as_str() {
            "FULLY" => Some(false),
            "UNKNOWN" => None,
            _ => Some(true),
        }
    } else if kind == Kind::Latiss || kind == Kind::ComCamSim || controller.as_deref() == Some("H")
    {
        match img_type.as_str() {
            "science" | "object" => Some(true),
            "bias" | "dark" | "flat" => Some(false),
            _ => None,
        }
    } else {
        None
    };
    let sentinel = |t: f64| (t != -1.0).then_some(t);
    Ok(Properties {
        observation_id,
        exposure_id,
        day_obs,
        seq_num,
        controller,
        physical_filter: Some(physical_filter),
        start: Some(start),
        end: Some(end),
        exp_time: sentinel(requested),
        shut_time: sentinel(exposure),
        dark_time: sentinel(dark),
        img_type: Some(img_type),
        tracking,
        altaz_start,
        altaz_end,
        rotation,
        airmass,
        object,
        science_program,
        observation_reason,
        group,
        can_see_sky,
        air_temp: number(h, "AIRTEMP"),
        pressure: number(h, "PRESSURE").map(|p| if p > 10_000.0 { p } else { p * 100.0 }),
        humidity: number(h, "HUMIDITY"),
        focus_z: Some(number(h, "FOCUSZ").unwrap_or(0.0)),
        site,
        band: text(h, "FILTBAND"),
        wind_speed: number(h, "WINDSPD"),
        wind_dir: number(h, "WINDDIR"),
        dimm_seeing: number(h, "SEEING"),
    })
}
