//! SIAv2 query parameters (SIA 2.0 §2.1) turned into one ADQL query over `ivoa.ObsCore`, so SIA
//! runs on the same translator, spatial index and streaming writers as TAP.
//!
//! Values of one parameter are ORed, different parameters ANDed; a NULL column never matches.
//! Intervals are `lo hi` (`-Inf`/`+Inf` open an end) or one number `v` meaning `[v, v]`.
//! `POS`, `BAND` and `TIME` match data whose extent *intersects* the given one; `FOV`,
//! `SPATRES`, `EXPTIME`, `TIMERES` and `SPECRP` match a value *inside* the interval.
//!
//! `POS=RANGE` has no ADQL counterpart (its edges along parallels are not great circles). It is
//! sent as polygons, split at the equator and narrow enough in longitude that their edges along
//! parallels, divided into at most [`MAX_SEGMENTS`] great-circle segments, stay within
//! [`PARALLEL_TOLERANCE_ARCSEC`] of the parallels. Narrow cells keep each polygon's box in the
//! spatial index tight and its per-row test short; a full-longitude range reaching a pole is
//! the exact circle around it.

use skyport_sky::Region;

use crate::dali::interval::interval;
use crate::dali::shapes;
use crate::dali::DaliError;

/// How far, at most, a RANGE polygon's edge strays from the parallel it stands for.
pub const PARALLEL_TOLERANCE_ARCSEC: f64 = 1.0;

/// Great-circle segments along one parallel edge of a RANGE polygon at most.
pub const MAX_SEGMENTS: usize = 29;

/// The polarization states ObsCore's `pol_states` lists (ObsCore 1.1 §4.22).
const POL_STATES: [&str; 14] = [
    "I", "Q", "U", "V", "RR", "LL", "RL", "LR", "XX", "YY", "XY", "YX", "POLI", "POLA",
];

/// Builds the ADQL for the SIA parameters in `values` (name → its values, in request order).
/// Parameters SIA does not define are ignored, as DALI asks. The query is refused as soon as
/// its terms pass `max_bytes` (the TAP query limit it is run under): a value can be a few
/// bytes and its ADQL tens of kilobytes (`POS=RANGE`), so many values would otherwise build
/// a query far larger than the request, only for it to be refused afterwards.
/// `pos_outside_coverage` says the `POS` regions are known to miss every image: the query
/// then asks for nothing (`1 = 0`, which the databases decide before reading a row), after
/// every parameter has still been checked.
pub fn adql(
    values: &dyn Fn(&str) -> Vec<String>,
    max_bytes: usize,
    pos_outside_coverage: bool,
) -> Result<String, DaliError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut written = 0usize;
    let mut add = |name: &str, f: &dyn Fn(&str) -> Result<String, DaliError>| {
        let vals = values(name);
        if vals.is_empty() {
            return Ok::<(), DaliError>(());
        }
        let mut any = Vec::new();
        for v in &vals {
            let term = f(v.trim())?;
            written = written.saturating_add(term.len());
            if written > max_bytes {
                return Err(DaliError::usage(format!(
                    "the query for these parameters would be over {max_bytes} bytes, the \
                     longest this service runs (at {name}); give fewer values"
                )));
            }
            any.push(term);
        }
        clauses.push(any_of(any));
        Ok(())
    };
    add("POS", &|v| {
        let term = pos(v)?;
        Ok(if pos_outside_coverage {
            "1 = 0".into()
        } else {
            term
        })
    })?;
    add("BAND", &|v| overlap("BAND", v, "em_min", "em_max"))?;
    add("TIME", &|v| overlap("TIME", v, "t_min", "t_max"))?;
    add("POL", &pol)?;
    add("FOV", &|v| inside("FOV", v, "s_fov"))?;
    add("SPATRES", &|v| inside("SPATRES", v, "s_resolution"))?;
    add("EXPTIME", &|v| inside("EXPTIME", v, "t_exptime"))?;
    add("TIMERES", &|v| inside("TIMERES", v, "t_resolution"))?;
    add("SPECRP", &|v| inside("SPECRP", v, "em_res_power"))?;
    add("ID", &|v| {
        Ok(format!(
            "LOWER(obs_publisher_did) = {}",
            literal(&v.to_lowercase())
        ))
    })?;
    add("COLLECTION", &|v| Ok(exact("obs_collection", v)))?;
    add("FACILITY", &|v| Ok(exact("facility_name", v)))?;
    add("INSTRUMENT", &|v| Ok(exact("instrument_name", v)))?;
    add("DPTYPE", &|v| Ok(exact("dataproduct_type", v)))?;
    // Not in SIA 2.0: Rubin's SIA service takes it, and its clients send it.
    add("DPSUBTYPE", &|v| Ok(exact("dataproduct_subtype", v)))?;
    add("TARGET", &|v| Ok(exact("target_name", v)))?;
    add("FORMAT", &|v| Ok(exact("access_format", v)))?;
    add("CALIB", &|v| {
        let level: i64 = v.parse().map_err(|_| {
            DaliError::usage(format!(
                "CALIB={v:?} is not an integer calibration level (0–4)"
            ))
        })?;
        Ok(format!("calib_level = {level}"))
    })?;
    let mut q = String::from("SELECT * FROM ivoa.ObsCore");
    if !clauses.is_empty() {
        q.push_str(" WHERE ");
        q.push_str(&clauses.join(" AND "));
    }
    Ok(q)
}

/// The disjunction of `terms`, parenthesised as a balanced tree so that its nesting grows with
/// the logarithm of their number: a flat `a OR b OR …` nests one level per value, and a few
/// hundred values (many IDs, many positions) would pass the parser's depth limit.
fn any_of(mut terms: Vec<String>) -> String {
    match terms.len() {
        0 => "1 = 0".into(),
        1 => terms.remove(0),
        n => {
            let right = terms.split_off(n / 2);
            format!("({} OR {})", any_of(terms), any_of(right))
        }
    }
}

/// An ADQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn exact(column: &str, value: &str) -> String {
    format!("{column} = {}", literal(value))
}

/// A number as ADQL text: Rust's shortest round-trip decimal form, never an exponent.
fn num(x: f64) -> String {
    format!("{x}")
}

/// Data whose `[min_col, max_col]` overlaps the interval.
fn overlap(param: &str, value: &str, min_col: &str, max_col: &str) -> Result<String, DaliError> {
    let i = interval(param, value)?;
    let mut c = [
        format!("{min_col} IS NOT NULL"),
        format!("{max_col} IS NOT NULL"),
    ];
    if let Some(lo) = i.lo {
        c[1] = format!("{max_col} >= {}", num(lo));
    }
    if let Some(hi) = i.hi {
        c[0] = format!("{min_col} <= {}", num(hi));
    }
    Ok(format!("({})", c.join(" AND ")))
}

/// Data whose `column` lies in the interval.
fn inside(param: &str, value: &str, column: &str) -> Result<String, DaliError> {
    let i = interval(param, value)?;
    Ok(match (i.lo, i.hi) {
        (Some(lo), Some(hi)) => format!("({column} BETWEEN {} AND {})", num(lo), num(hi)),
        (Some(lo), None) => format!("{column} >= {}", num(lo)),
        (None, Some(hi)) => format!("{column} <= {}", num(hi)),
        (None, None) => format!("{column} IS NOT NULL"),
    })
}

fn pol(value: &str) -> Result<String, DaliError> {
    if !POL_STATES.contains(&value) {
        return Err(DaliError::usage(format!(
            "POL={value:?} is not a polarization state; use one of {}",
            POL_STATES.join(", ")
        )));
    }
    Ok(format!("pol_states LIKE '%/{value}/%'"))
}

fn pos(value: &str) -> Result<String, DaliError> {
    Ok(match shapes::pos(value)? {
        Region::Circle { center, radius } => format!(
            "1 = INTERSECTS(s_region, CIRCLE('ICRS', {}, {}, {}))",
            num(center.ra),
            num(center.dec),
            num(radius)
        ),
        Region::Polygon(p) => format!(
            "1 = INTERSECTS(s_region, POLYGON('ICRS', {}))",
            p.to_dali()
                .into_iter()
                .map(num)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Region::Range {
            lon_min,
            lon_span,
            lat_min,
            lat_max,
        } => range(lon_min, lon_span, lat_min, lat_max),
    })
}

/// ADQL for a RANGE (longitudes east from `lon1` for `span` degrees).
fn range(lon1: f64, span: f64, lat1: f64, lat2: f64) -> String {
    let full = span >= 360.0;
    if full && lat1 <= -90.0 && lat2 >= 90.0 {
        return "s_region IS NOT NULL".into();
    }
    if full && lat2 >= 90.0 {
        return format!(
            "1 = INTERSECTS(s_region, CIRCLE('ICRS', 0, 90, {}))",
            num(90.0 - lat1)
        );
    }
    if full && lat1 <= -90.0 {
        return format!(
            "1 = INTERSECTS(s_region, CIRCLE('ICRS', 0, -90, {}))",
            num(90.0 + lat2)
        );
    }
    let lat_bands: Vec<(f64, f64)> = if lat1 < 0.0 && lat2 > 0.0 {
        vec![(lat1, 0.0), (0.0, lat2)]
    } else {
        vec![(lat1, lat2)]
    };
    let mut polygons = Vec::new();
    for &(lo, hi) in &lat_bands {
        // The parallel needing the finest division sets the width of the cells.
        let step = max_step(lo).min(max_step(hi));
        let width = (step * MAX_SEGMENTS as f64).min(90.0);
        let cells = (span / width).ceil().max(1.0) as usize;
        let width = span / cells as f64;
        for k in 0..cells {
            let a = lon1 + width * k as f64;
            let vertices = range_cell(a, a + width, lo, hi);
            let coords: Vec<String> = vertices
                .iter()
                .flat_map(|(lon, lat)| [num(lon.rem_euclid(360.0)), num(*lat)])
                .collect();
            polygons.push(format!(
                "1 = INTERSECTS(s_region, POLYGON('ICRS', {}))",
                coords.join(", ")
            ));
        }
    }
    any_of(polygons)
}

/// The vertices of one lon/lat cell (at most 90° wide, within one hemisphere): the lower
/// parallel from `a` to `b`, then the upper one back, each divided so its chords stay within
/// [`PARALLEL_TOLERANCE_ARCSEC`] of it; a parallel at a pole is one vertex.
fn range_cell(a: f64, b: f64, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let mut v = Vec::new();
    let along = |lat: f64, from: f64, to: f64, out: &mut Vec<(f64, f64)>| {
        if lat.abs() >= 90.0 {
            out.push((from, lat));
            return;
        }
        let n = parallel_steps(lat, (to - from).abs());
        for i in 0..=n {
            out.push((from + (to - from) * i as f64 / n as f64, lat));
        }
    };
    along(lo, a, b, &mut v);
    along(hi, b, a, &mut v);
    v
}

/// Segments needed along a parallel at `lat` over `width` degrees.
fn parallel_steps(lat: f64, width: f64) -> usize {
    (width / max_step(lat)).ceil().max(1.0) as usize
}

/// The longest segment (degrees) whose chord stays within the tolerance of the parallel at
/// `lat`: a chord of angle Δ bulges from it by about sin(lat)·cos(lat)·Δ²/8 radians. Unbounded
/// (90°) on the equator, a great circle, and at the poles.
fn max_step(lat: f64) -> f64 {
    let bulge = (lat.to_radians().sin() * lat.to_radians().cos()).abs();
    if bulge < 1e-12 {
        return 90.0;
    }
    let tolerance = (PARALLEL_TOLERANCE_ARCSEC / 3600.0).to_radians();
    (8.0 * tolerance / bulge).sqrt().to_degrees().min(90.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_sky::{Shape, SkyPoint};

    fn q(pairs: &[(&str, &str)]) -> Result<String, DaliError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        adql(
            &|name: &str| {
                pairs
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
                    .collect()
            },
            crate::Limits::default().query_max_bytes,
            false,
        )
    }

    #[test]
    fn a_position_outside_the_coverage_asks_for_nothing_but_is_still_checked() {
        let values = |pos: &'static str| {
            move |name: &str| {
                if name == "POS" {
                    vec![pos.to_string()]
                } else {
                    Vec::new()
                }
            }
        };
        let max = crate::Limits::default().query_max_bytes;
        let s = adql(&values("CIRCLE 10 20 1"), max, true).expect("ok");
        assert_eq!(s, "SELECT * FROM ivoa.ObsCore WHERE 1 = 0");
        assert!(adql(&values("CIRCLE 10 20"), max, true).is_err());
        let none = |_: &str| Vec::new();
        assert_eq!(
            adql(&none, max, true).expect("ok"),
            "SELECT * FROM ivoa.ObsCore"
        );
    }

    #[test]
    fn no_parameters_select_everything() {
        assert_eq!(q(&[]).expect("ok"), "SELECT * FROM ivoa.ObsCore");
    }

    #[test]
    fn repeats_are_ored_and_parameters_anded() {
        let s = q(&[("COLLECTION", "a"), ("collection", "b'c"), ("CALIB", "2")]).expect("ok");
        assert_eq!(
            s,
            "SELECT * FROM ivoa.ObsCore WHERE (obs_collection = 'a' OR obs_collection = 'b''c') AND calib_level = 2"
        );
    }

    #[test]
    fn intervals_overlap_or_contain() {
        let s = q(&[("BAND", "5e-7 6e-7")]).expect("ok");
        assert!(
            s.ends_with("(em_min <= 0.0000006 AND em_max >= 0.0000005)"),
            "{s}"
        );
        let s = q(&[("TIME", "60000 +Inf")]).expect("ok");
        assert!(s.ends_with("(t_min IS NOT NULL AND t_max >= 60000)"), "{s}");
        let s = q(&[("EXPTIME", "-Inf 30")]).expect("ok");
        assert!(s.ends_with("t_exptime <= 30"), "{s}");
        let s = q(&[("FOV", "0.1")]).expect("ok");
        assert!(s.ends_with("(s_fov BETWEEN 0.1 AND 0.1)"), "{s}");
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (pairs, says) in [
            (vec![("POS", "CIRCLE 1 2")], "CIRCLE takes three numbers"),
            (vec![("POS", "CIRCLE 1 2 0")], "radius"),
            (vec![("POS", "CIRCLE 400 2 1")], "longitude 400"),
            (vec![("POS", "circle 1 2 3")], "upper case"),
            (vec![("POS", "POLYGON 1 2 3 4")], "at least three"),
            (vec![("POS", "RANGE 1 2 3")], "four numbers"),
            (vec![("POS", "RANGE 1 2 5 3")], "latitudes must increase"),
            (vec![("BAND", "abc")], "BAND: \"abc\" is not a number"),
            (vec![("TIME", "60010 60000")], "lower bound is above"),
            (vec![("TIME", "1 2 3")], "one number or two"),
            (vec![("FOV", "NaN")], "not a finite number"),
            (vec![("CALIB", "two")], "CALIB"),
            (vec![("POL", "Z")], "POL=\"Z\""),
        ] {
            let e = q(&pairs).expect_err(says);
            assert!(e.message().contains(says), "{pairs:?}: {}", e.message());
        }
    }

    #[test]
    fn full_sky_and_polar_ranges_are_exact() {
        assert!(q(&[("POS", "RANGE 0 360 -90 90")])
            .expect("ok")
            .ends_with("s_region IS NOT NULL"));
        assert!(q(&[("POS", "RANGE 0 360 89 +Inf")])
            .expect("ok")
            .ends_with("CIRCLE('ICRS', 0, 90, 1))"));
        assert!(q(&[("POS", "RANGE -Inf +Inf -Inf -80")])
            .expect("ok")
            .ends_with("CIRCLE('ICRS', 0, -90, 10))"));
    }

    /// The polygons standing for a RANGE hold exactly the points inside it (away from the
    /// tolerance band at its edges), including across RA 0.
    #[test]
    fn range_polygons_cover_the_range() {
        for (lon1, lon2, lat1, lat2) in [
            (350.0, 10.0, -20.0, 30.0),
            (10.0, 200.0, 40.0, 60.0),
            (0.0, 360.0, -5.0, 5.0),
            (100.0, 120.0, 80.0, 90.0),
        ] {
            let sql = pos(&format!("RANGE {lon1} {lon2} {lat1} {lat2}")).expect("ok");
            let shapes = polygons_in(&sql);
            let inside = |lon: f64, lat: f64| {
                let p = Shape::Point(SkyPoint::new(lon, lat).expect("point"));
                shapes.iter().any(|s| p.within(s))
            };
            for i in 0..=40 {
                for j in 0..=40 {
                    let lon = i as f64 * 9.0;
                    let lat = -90.0 + j as f64 * 4.5;
                    let in_lon = if lon1 <= lon2 {
                        lon >= lon1 && lon <= lon2
                    } else {
                        lon >= lon1 || lon <= lon2
                    };
                    let in_lat = lat >= lat1 && lat <= lat2;
                    let near_edge = (lat - lat1).abs() < 0.01 || (lat - lat2).abs() < 0.01;
                    if near_edge {
                        continue;
                    }
                    assert_eq!(
                        inside(lon, lat),
                        in_lon && in_lat,
                        "RANGE {lon1} {lon2} {lat1} {lat2} at ({lon}, {lat})"
                    );
                }
            }
        }
    }

    fn polygons_in(sql: &str) -> Vec<Shape> {
        sql.split("POLYGON('ICRS', ")
            .skip(1)
            .map(|part| {
                let list = part.split(')').next().expect("closing parenthesis");
                let v: Vec<f64> = list
                    .split(", ")
                    .map(|x| x.parse().expect("number"))
                    .collect();
                let points = v
                    .chunks(2)
                    .map(|c| SkyPoint::new(c[0], c[1]).expect("point"))
                    .collect();
                Shape::polygon(points).expect("valid polygon")
            })
            .collect()
    }

    #[test]
    fn parallels_are_followed_within_the_tolerance() {
        // A 90° chord at latitude 45° needs many vertices; on the equator one segment does.
        assert!(parallel_steps(45.0, 90.0) > 100);
        // Every polygon of a wide range stays small: two parallels of at most MAX_SEGMENTS.
        let sql = range(0.0, 359.0, -60.0, 70.0);
        for polygon in sql.split("POLYGON('ICRS', ").skip(1) {
            let args = polygon.split(')').next().expect("list").split(", ").count();
            assert!(args <= 4 * (MAX_SEGMENTS + 1), "{args} arguments");
        }
        assert_eq!(parallel_steps(0.0, 90.0), 1);
        let n = parallel_steps(45.0, 90.0);
        let step = (90.0 / n as f64).to_radians();
        let bulge = 0.5 * step * step / 8.0;
        assert!(bulge.to_degrees() * 3600.0 <= PARALLEL_TOLERANCE_ARCSEC * 1.0001);
    }
}
