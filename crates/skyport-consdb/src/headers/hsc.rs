//! Hyper Suprime-Cam (Subaru): NAOJ's header vocabulary.

use hifitime::{Duration, TimeScale};
use skyport_fits::Header;

use super::sky::Site;
use super::time;
use super::{defined, number, present, sexagesimal, text, Properties, Result, TranslateError};

fn recognised(h: &Header) -> bool {
    if present(h, "INSTRUME") {
        return text(h, "INSTRUME").as_deref() == Some("Hyper Suprime-Cam");
    }
    ["EXP-ID", "FRAMEID"]
        .iter()
        .any(|k| text(h, k).is_some_and(|v| v.starts_with("HSC")))
}

fn required<T>(v: Option<T>, key: &str) -> Result<T> {
    v.ok_or_else(|| TranslateError::new(key, format!("no {key}")))
}

/// HSC's exposure id from EXP-ID (`HSCE########`, or `HSC<L><6 digits>00` with the letter as
/// millions), falling back on FRAMEID when the visit is 0.
fn exposure_id(h: &Header) -> Result<i64> {
    let exp_id = required(text(h, "EXP-ID"), "EXP-ID")?.trim().to_string();
    if let Some(n) = exp_id
        .strip_prefix("HSCE")
        .and_then(|d| d.parse::<i64>().ok())
    {
        return Ok(n);
    }
    let letter_visit = |s: &str, digits: usize| -> Option<(i64, i64)> {
        let rest = s.strip_prefix("HSC")?;
        let letter = rest.chars().next().filter(char::is_ascii_uppercase)?;
        let visit: i64 = rest.get(1..1 + digits)?.parse().ok()?;
        Some((i64::from(letter as u8 - b'A'), visit))
    };
    let bad = || {
        TranslateError::new(
            "EXP-ID",
            format!("EXP-ID {exp_id:?} is not an HSC exposure id"),
        )
    };
    let (letter, visit) = letter_visit(&exp_id, 6)
        .filter(|_| exp_id.len() == 12 && exp_id.ends_with("00"))
        .ok_or_else(bad)?;
    let visit = if visit == 0 {
        let frame = required(text(h, "FRAMEID"), "FRAMEID")?;
        let (_, v) = letter_visit(frame.trim(), 6).ok_or_else(bad)?;
        if v % 2 == 1 {
            v - 1
        } else {
            v
        }
    } else {
        visit
    };
    Ok(visit + 1_000_000 * letter)
}

/// The properties of an HSC header.
pub fn properties(h: &Header) -> Result<Properties> {
    if !recognised(h) {
        return Err(TranslateError::new(
            "INSTRUME",
            format!(
                "the header is not HSC's (INSTRUME {:?}, EXP-ID {:?})",
                text(h, "INSTRUME"),
                text(h, "EXP-ID")
            ),
        ));
    }
    let id = exposure_id(h)?;
    let date = required(text(h, "DATE-OBS"), "DATE-OBS")?;
    let day = date.get(..10).unwrap_or(&date).to_string();
    let at = |key: &str| -> Result<hifitime::Epoch> {
        let t = required(text(h, key), key)?;
        time::parse_iso(&format!("{day}T{}", t.trim()), TimeScale::UTC)
            .ok_or_else(|| TranslateError::new(key, format!("{key} {t:?} is not a time")))
    };
    let exptime = required(number(h, "EXPTIME"), "EXPTIME")?;
    let start = at("UT-STR")?;
    let end = at("UT-END")?.max(start + Duration::from_seconds(exptime));
    let (y, m, d, ..) = start.to_gregorian(TimeScale::TAI);
    let img_type = required(text(h, "DATA-TYP"), "DATA-TYP")?
        .trim()
        .to_ascii_lowercase();
    let img_type = if img_type == "object" {
        "science".to_string()
    } else {
        img_type
    };
    let filter = required(text(h, "FILTER01"), "FILTER01")?
        .trim()
        .to_ascii_uppercase();
    let filter = match filter.as_str() {
        "UNRECOGNIZED" | "UNRECOGNISED" | "NOTSET" | "UNKNOWN" => "unknown".to_string(),
        "NONE" => "empty".to_string(),
        _ => filter,
    };
    let tracking = match (
        text(h, "RA2000").and_then(|r| sexagesimal(&r)),
        text(h, "DEC2000").and_then(|d| sexagesimal(&d)),
    ) {
        (Some(ra), Some(dec)) => Some((ra * 15.0, dec)),
        _ => None,
    };
    let altaz_start = match (number(h, "AZIMUTH"), number(h, "ALTITUDE")) {
        (Some(az), Some(alt)) => Some((az, alt.clamp(0.0, 90.0))),
        _ => None,
    };
    let inst_pa = defined(h, "INST-PA").and_then(|v| v.as_f64());
    let can_see_sky = match img_type.as_str() {
        "science" | "object" | "standard_star" | "skyflat" | "focus" | "focusing" | "exp" => {
            Some(true)
        }
        "dark" | "bias" | "agexp" | "domeflat" => Some(false),
        _ => None,
    };
    Ok(Properties {
        observation_id: Some(required(text(h, "EXP-ID"), "EXP-ID")?),
        exposure_id: Some(id),
        day_obs: Some(i64::from(y) * 10_000 + i64::from(m) * 100 + i64::from(d)),
        seq_num: Some(id),
        physical_filter: Some(filter),
        start: Some(start),
        end: Some(end),
        exp_time: Some(exptime),
        shut_time: Some(exptime),
        dark_time: Some(exptime),
        observation_reason: Some(
            if img_type == "science" {
                "science"
            } else {
                "unknown"
            }
            .into(),
        ),
        img_type: Some(img_type),
        tracking,
        altaz_start,
        altaz_end: None,
        rotation: inst_pa.map(|pa| (270.0 - pa).rem_euclid(360.0)),
        airmass: number(h, "AIRMASS"),
        object: text(h, "OBJECT"),
        science_program: text(h, "PROP-ID"),
        group: Some(id.to_string()),
        can_see_sky,
        air_temp: Some(required(number(h, "OUT-TMP"), "OUT-TMP")? - 273.15),
        pressure: Some(required(number(h, "OUT-PRS"), "OUT-PRS")? * 100.0),
        humidity: Some(required(number(h, "OUT-HUM"), "OUT-HUM")?),
        focus_z: number(h, "FOC-VAL"),
        site: Some(Site {
            lon: -155.476667,
            lat: 19.825556,
            height: 4139.0,
        }),
        ..Properties::default()
    })
}
