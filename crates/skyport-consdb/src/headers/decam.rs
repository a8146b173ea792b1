//! DECam (Blanco telescope, CTIO): NOIRLab's header vocabulary.

use hifitime::Duration;
use skyport_fits::{Header, HeaderValue};

use super::sky::{self, Site};
use super::time::{self, utc};
use super::{defined, number, present, sexagesimal, text, Properties, Result, TranslateError};

fn recognised(h: &Header) -> bool {
    if present(h, "INSTRUME") {
        return text(h, "INSTRUME").unwrap_or_else(|| "DECam".into()) == "DECam";
    }
    text(h, "FILTER").is_some_and(|f| f.contains("DECam"))
}

fn required<T>(v: Option<T>, key: &str) -> Result<T> {
    v.ok_or_else(|| TranslateError::new(key, format!("no {key}")))
}

/// The properties of a DECam header.
pub fn properties(header: &Header) -> Result<Properties> {
    if !recognised(header) {
        return Err(TranslateError::new(
            "INSTRUME",
            format!(
                "the header is not DECam's (INSTRUME {:?})",
                text(header, "INSTRUME")
            ),
        ));
    }
    let mut h = header.clone();
    let obstype = text(&h, "OBSTYPE").unwrap_or_else(|| "unknown".into());
    if ["bias", "zero"]
        .iter()
        .any(|w| obstype.to_ascii_lowercase().contains(w))
    {
        h.set("FILTER", HeaderValue::Str("solid plate 0.0 0.0".into()));
    }
    let scale = time::scale(text(&h, "TIMESYS").as_deref());
    let start = ["DATE-BEG", "MJD-BEG", "DATE-OBS", "MJD-OBS"]
        .iter()
        .find_map(|k| {
            let v = defined(&h, k)?;
            if k.starts_with("MJD") {
                time::from_mjd(v.as_f64()?, scale)
            } else {
                time::parse_iso(&v.as_text()?, scale)
            }
        })
        .ok_or_else(|| TranslateError::new("DATE-OBS", "no start time"))?;
    if text(&h, "OBJECT").is_some_and(|o| o.contains("Trifid"))
        && obstype == "object"
        && start > utc(2013, 2, 10, 0, 0)
        && start < utc(2013, 2, 14, 0, 0)
    {
        if let (Some(ra), Some(dec)) = (
            text(&h, "RA").and_then(|r| sexagesimal(&r)),
            text(&h, "DEC").and_then(|d| sexagesimal(&d)),
        ) {
            h.set("TELRA", HeaderValue::Real((ra * 15.0 - 0.027417) / 15.0));
            h.set("TELDEC", HeaderValue::Real(dec - 0.002833));
        }
    }
    let h = &h;
    let exposure_id = required(defined(h, "EXPNUM").and_then(HeaderValue::as_i64), "EXPNUM")?;
    let shut_time = required(number(h, "EXPTIME"), "EXPTIME")?;
    let end = match text(h, "DTUTC").and_then(|t| time::parse_iso(&t, hifitime::TimeScale::UTC)) {
        Some(e) => e,
        None => start + Duration::from_seconds(shut_time),
    };
    let img_type = match text(h, "OBSTYPE") {
        Some(t) => match t.trim().to_ascii_lowercase().as_str() {
            "object" => "science".to_string(),
            other => other.to_string(),
        },
        None => "none".into(),
    };
    let science = img_type == "science";
    let frame = text(h, "RADESYS").map(|f| f.trim().to_ascii_lowercase());
    let position = match (
        text(h, "TELRA")
            .and_then(|r| sexagesimal(&r))
            .or_else(|| number(h, "TELRA")),
        text(h, "TELDEC")
            .and_then(|d| sexagesimal(&d))
            .or_else(|| number(h, "TELDEC")),
    ) {
        (Some(ra), Some(dec)) => Some((ra * 15.0, dec)),
        _ => None,
    };
    let tracking = match (position, frame.as_deref()) {
        (_, Some("gappt")) => None,
        (Some((ra, dec)), Some("fk5")) => Some(sky::fk5_to_icrs(ra, dec)),
        (Some(p), _) => Some(p),
        (None, _) if science => {
            return Err(TranslateError::new(
                "TELRA",
                "a science exposure without TELRA/TELDEC",
            ))
        }
        (None, _) => None,
    };
    let altaz_start = match (number(h, "AZ"), number(h, "ZD")) {
        (Some(az), Some(zd)) => Some((az, (90.0 - zd).clamp(0.0, 90.0))),
        _ if science => {
            return Err(TranslateError::new(
                "AZ",
                "a science exposure without AZ/ZD",
            ))
        }
        _ => None,
    };
    let airmass = match number(h, "AIRMASS") {
        Some(a) => Some(a),
        None if science => {
            return Err(TranslateError::new(
                "AIRMASS",
                "a science exposure without AIRMASS",
            ))
        }
        None => None,
    };
    let within = |v: Option<f64>, lo: f64, hi: f64, default: f64| {
        v.filter(|x| (lo..=hi).contains(x)).unwrap_or(default)
    };
    let focus = required(text(h, "TELFOCUS"), "TELFOCUS")?;
    let focus_z = focus
        .split(',')
        .nth(2)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| {
            TranslateError::new("TELFOCUS", format!("TELFOCUS {focus:?} has no third value"))
        })?
        / 1000.0;
    let site = match (
        number(h, "OBS-LONG"),
        number(h, "OBS-LAT"),
        number(h, "OBS-ELEV"),
    ) {
        (Some(lon), Some(lat), Some(height)) => Some(Site {
            lon: -lon,
            lat,
            height,
        }),
        _ => Site::from_geocentric(1814303.74553723, -5214365.7436216, -3187340.56598756),
    };
    let can_see_sky = match img_type.as_str() {
        "science" | "object" | "standard" | "sky flat" => Some(true),
        "zero" | "dark" | "dome flat" => Some(false),
        _ => None,
    };
    Ok(Properties {
        observation_id: Some(required(text(h, "OBSID"), "OBSID")?),
        exposure_id: Some(exposure_id),
        day_obs: Some(time::day_obs(start, 12.0)),
        seq_num: Some(exposure_id),
        physical_filter: Some(required(text(h, "FILTER"), "FILTER")?.trim().to_string()),
        start: Some(start),
        end: Some(end),
        exp_time: Some(required(number(h, "EXPREQ"), "EXPREQ")?),
        shut_time: Some(shut_time),
        dark_time: Some(required(number(h, "DARKTIME"), "DARKTIME")?),
        observation_reason: Some(if science { "science" } else { "unknown" }.into()),
        img_type: Some(img_type),
        tracking,
        altaz_start,
        altaz_end: None,
        rotation: Some(90.0),
        airmass,
        object: Some(required(
            text(h, "OBJECT").or_else(|| defined(h, "OBJECT").map(|_| String::new())),
            "OBJECT",
        )?),
        science_program: Some(required(text(h, "PROPID"), "PROPID")?),
        group: Some(exposure_id.to_string()),
        can_see_sky,
        air_temp: Some(within(number(h, "OUTTEMP"), -10.0, 40.0, 10.0)),
        pressure: Some(within(number(h, "PRESSURE"), 700.0, 850.0, 771.611) * 100.0),
        humidity: Some(within(number(h, "HUMIDITY"), 0.0, 100.0, 40.0)),
        focus_z: Some(focus_z),
        site,
        ..Properties::default()
    })
}
