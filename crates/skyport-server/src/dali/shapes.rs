//! The DALI geometry parameters shared by SIA and SODA: `POS` (`CIRCLE`, `RANGE`, `POLYGON`),
//! `CIRCLE` and `POLYGON`, parsed and checked into [`Region`]s, with errors naming the
//! parameter.

use skyport_sky::{Polygon, Region, SkyPoint};

use super::DaliError;

/// Reads one number of a parameter value; ±Inf allowed where `infinite_ok`.
pub(crate) fn number(param: &str, text: &str, infinite_ok: bool) -> Result<f64, DaliError> {
    let x = match text.to_ascii_lowercase().as_str() {
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        "+inf" | "inf" | "+infinity" | "infinity" => f64::INFINITY,
        _ => text
            .parse::<f64>()
            .map_err(|_| DaliError::usage(format!("{param}: {text:?} is not a number")))?,
    };
    if x.is_nan() || (x.is_infinite() && !infinite_ok) {
        return Err(DaliError::usage(format!(
            "{param}: {text:?} is not a finite number"
        )));
    }
    Ok(x)
}

/// A longitude in [0, 360] and a latitude in [-90, 90], checked.
pub(crate) fn lon_lat(param: &str, lon: f64, lat: f64) -> Result<(), DaliError> {
    if !(0.0..=360.0).contains(&lon) {
        return Err(DaliError::usage(format!(
            "{param}: longitude {lon} is outside [0, 360] degrees"
        )));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(DaliError::usage(format!(
            "{param}: latitude {lat} is outside [-90, 90] degrees"
        )));
    }
    Ok(())
}

pub(crate) fn numbers(param: &str, text: &str) -> Result<Vec<f64>, DaliError> {
    text.split_whitespace()
        .map(|t| number(param, t, false))
        .collect()
}

pub(crate) fn point(param: &str, lon: f64, lat: f64) -> Result<SkyPoint, DaliError> {
    lon_lat(param, lon, lat)?;
    SkyPoint::new(lon, lat).map_err(|e| DaliError::usage(format!("{param}: {e}")))
}

/// `CIRCLE`: `lon lat radius` in degrees, radius in (0, 180].
pub(crate) fn circle(param: &str, text: &str) -> Result<Region, DaliError> {
    let [lon, lat, r] = numbers(param, text)?[..] else {
        return Err(DaliError::usage(format!(
            "{param}={text:?}: CIRCLE takes three numbers: longitude, latitude and radius in degrees"
        )));
    };
    if !(r > 0.0 && r <= 180.0) {
        return Err(DaliError::usage(format!(
            "{param}={text:?}: the radius must be above 0 and at most 180 degrees"
        )));
    }
    Ok(Region::Circle {
        center: point(param, lon, lat)?,
        radius: r,
    })
}

/// Most vertices a POLYGON may have: every vertex costs work (the footprint and pixel box of a
/// cutout, the SQL of a search), and no survey footprint needs more.
pub const MAX_POLYGON_VERTICES: usize = 500;

/// `POLYGON`: at least three `lon lat` vertices, at most [`MAX_POLYGON_VERTICES`].
pub(crate) fn polygon(param: &str, text: &str) -> Result<Region, DaliError> {
    // Counted before anything is parsed: the text may be long.
    let words = text.split_whitespace().count();
    if words > 2 * MAX_POLYGON_VERTICES {
        return Err(DaliError::usage(format!(
            "{param}: a POLYGON of {} vertices; this service takes at most {MAX_POLYGON_VERTICES}",
            words / 2
        )));
    }
    let v = numbers(param, text)?;
    if v.len() < 6 || v.len() % 2 != 0 {
        return Err(DaliError::usage(format!(
            "{param}={text:?}: POLYGON takes at least three longitude/latitude pairs"
        )));
    }
    let vertices = v
        .chunks(2)
        .map(|c| point(param, c[0], c[1]))
        .collect::<Result<Vec<_>, _>>()?;
    Polygon::new(vertices)
        .map(Region::Polygon)
        .map_err(|e| DaliError::usage(format!("{param}={text:?}: {e}")))
}

/// `RANGE lon1 lon2 lat1 lat2` (±Inf allowed; lon1 > lon2 crosses RA = 0).
fn range(text: &str, rest: &str) -> Result<Region, DaliError> {
    let v = rest
        .split_whitespace()
        .map(|t| number("POS", t, true))
        .collect::<Result<Vec<_>, _>>()?;
    let [lon1, lon2, lat1, lat2] = v[..] else {
        return Err(DaliError::usage(format!(
            "POS={text:?}: RANGE takes four numbers: lon1 lon2 lat1 lat2 (-Inf/+Inf allowed)"
        )));
    };
    let open_lon = |x: f64, inf: f64| if x.is_infinite() { inf } else { x };
    let (lon1, lon2) = (open_lon(lon1, 0.0), open_lon(lon2, 360.0));
    let (lat1, lat2) = (lat1.max(-90.0), lat2.min(90.0));
    lon_lat("POS", lon1, lat1)?;
    lon_lat("POS", lon2, lat2)?;
    if lat1 >= lat2 {
        return Err(DaliError::usage(format!(
            "POS={text:?}: RANGE latitudes must increase (lat1 < lat2)"
        )));
    }
    let span = if lon1 <= lon2 {
        lon2 - lon1
    } else {
        lon2 + 360.0 - lon1
    };
    if span <= 0.0 {
        return Err(DaliError::usage(format!(
            "POS={text:?}: RANGE has no width in longitude"
        )));
    }
    Ok(Region::Range {
        lon_min: lon1.rem_euclid(360.0),
        lon_span: span.min(360.0),
        lat_min: lat1,
        lat_max: lat2,
    })
}

/// `POS`: `CIRCLE …`, `RANGE …` or `POLYGON …`.
pub(crate) fn pos(text: &str) -> Result<Region, DaliError> {
    let trimmed = text.trim_start();
    let (kind, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    match kind {
        "CIRCLE" => circle("POS", rest),
        "POLYGON" => polygon("POS", rest),
        "RANGE" => range(text, rest),
        _ => Err(DaliError::usage(format!(
            "POS={text:?}: the shape must be CIRCLE, RANGE or POLYGON (upper case), followed by ICRS degrees"
        ))),
    }
}
