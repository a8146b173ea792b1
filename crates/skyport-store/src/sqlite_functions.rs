//! The Rust functions ADQL translations call on SQLite, registered on every connection.
//!
//! SQLite's bundled build has no math functions, its `LIKE` ignores ASCII case and its
//! `lower`/`upper` only fold ASCII, so ADQL's functions are ours (`adql_*`). Geometry values are
//! passed between functions as `skyport_sky::Shape::encode` blobs; a function that takes a
//! geometry also accepts STC-S text, which is what region columns (`s_region`) hold. Every
//! function returns NULL when an argument is NULL, and an SQL error naming the function for an
//! impossible value (a latitude beyond ±90°, a negative radius).

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Error};
use skyport_sky::{parse_dali, parse_stcs, DaliKind, Shape, SkyPoint};

type FnResult<T> = rusqlite::Result<T>;

/// A one-argument math function and its SQL name.
type Math1 = (&'static str, fn(f64) -> f64);

fn user_error(function: &str, message: impl std::fmt::Display) -> Error {
    Error::UserFunctionError(format!("{function}: {message}").into())
}

fn number(ctx: &Context<'_>, i: usize, function: &str) -> FnResult<Option<f64>> {
    match ctx.get_raw(i) {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(v) => Ok(Some(v as f64)),
        ValueRef::Real(v) => Ok(Some(v)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(Some)
            .ok_or_else(|| user_error(function, "a number is needed")),
        ValueRef::Blob(_) => Err(user_error(function, "a number is needed, not a geometry")),
    }
}

fn shape(ctx: &Context<'_>, i: usize, function: &str) -> FnResult<Option<Shape>> {
    match ctx.get_raw(i) {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => Shape::decode(b)
            .map(Some)
            .map_err(|e| user_error(function, e)),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|e| user_error(function, e))?;
            parse_stcs(s).map(Some).map_err(|e| user_error(function, e))
        }
        _ => Err(user_error(function, "a geometry is needed")),
    }
}

fn point(lon: f64, lat: f64, function: &str) -> FnResult<SkyPoint> {
    SkyPoint::new(lon, lat).map_err(|e| user_error(function, e))
}

fn blob(s: Shape) -> Option<Vec<u8>> {
    Some(s.encode())
}

/// Collects the numeric arguments; `None` when any is NULL.
fn numbers(ctx: &Context<'_>, function: &str) -> FnResult<Option<Vec<f64>>> {
    let mut out = Vec::with_capacity(ctx.len());
    for i in 0..ctx.len() {
        match number(ctx, i, function)? {
            Some(v) => out.push(v),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Registers every `adql_*` and `skyport_*` function on a connection.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let math1: &[Math1] = &[
        ("adql_ceiling", f64::ceil),
        ("adql_floor", f64::floor),
        ("adql_degrees", f64::to_degrees),
        ("adql_radians", f64::to_radians),
        ("adql_exp", f64::exp),
        ("adql_log", f64::ln),
        ("adql_log10", f64::log10),
        ("adql_sqrt", f64::sqrt),
        ("adql_acos", f64::acos),
        ("adql_asin", f64::asin),
        ("adql_atan", f64::atan),
        ("adql_cos", f64::cos),
        ("adql_sin", f64::sin),
        ("adql_tan", f64::tan),
        ("adql_cot", |x| 1.0 / x.tan()),
    ];
    for (name, f) in math1 {
        let f = *f;
        let name_owned = name.to_string();
        conn.create_scalar_function(*name, 1, flags, move |ctx| {
            let x = number(ctx, 0, &name_owned)?;
            // NaN (sqrt(-1), log(0)…) is returned as NULL, which SQL can carry.
            Ok(x.map(f).filter(|v| !v.is_nan()))
        })?;
    }
    conn.create_scalar_function("adql_atan2", 2, flags, |ctx| {
        Ok(numbers(ctx, "ATAN2")?.map(|v| v[0].atan2(v[1])))
    })?;
    conn.create_scalar_function("adql_power", 2, flags, |ctx| {
        Ok(numbers(ctx, "POWER")?
            .map(|v| v[0].powf(v[1]))
            .filter(|v| !v.is_nan()))
    })?;
    conn.create_scalar_function("adql_mod", 2, flags, |ctx| {
        // Rust's % on floats keeps the sign of the dividend, as ADQL's MOD does.
        Ok(numbers(ctx, "MOD")?
            .filter(|v| v[1] != 0.0)
            .map(|v| v[0] % v[1]))
    })?;
    for (name, f) in [
        ("adql_round", f64::round as fn(f64) -> f64),
        ("adql_truncate", f64::trunc),
    ] {
        let label = name.to_string();
        conn.create_scalar_function(name, -1, flags, move |ctx| {
            let Some(v) = numbers(ctx, &label)? else {
                return Ok(None);
            };
            let digits = v.get(1).copied().unwrap_or(0.0) as i32;
            let scale = 10f64.powi(digits);
            Ok(Some(f(v[0] * scale) / scale))
        })?;
    }
    conn.create_scalar_function("adql_rand", -1, FunctionFlags::SQLITE_UTF8, |_ctx| {
        Ok(rand::random::<f64>())
    })?;
    conn.create_scalar_function("adql_cast_integer", 2, flags, |ctx| {
        let target: String = ctx.get(1)?;
        let Some(v) = number(ctx, 0, "CAST")? else {
            return Ok(None);
        };
        // Rounds half to even, as PostgreSQL casts a double to an integer.
        let r = v.round_ties_even();
        let (lo, hi) = match target.as_str() {
            "SMALLINT" => (f64::from(i16::MIN), f64::from(i16::MAX)),
            "INTEGER" => (f64::from(i32::MIN), f64::from(i32::MAX)),
            _ => (-9.223_372_036_854_776e18, 9.223_372_036_854_775e18),
        };
        if !(lo..=hi).contains(&r) {
            return Err(user_error(
                "CAST",
                format!("{v} is out of range for {target}"),
            ));
        }
        Ok(Some(r as i64))
    })?;
    conn.create_scalar_function("adql_timestamp", 1, flags, |ctx| {
        let s: Option<String> = ctx.get(0)?;
        s.map(|s| {
            dali_timestamp(&s)
                .ok_or_else(|| user_error("CAST", format!("`{s}` is not a DALI timestamp")))
        })
        .transpose()
    })?;
    for (name, ci) in [("adql_like", false), ("adql_ilike", true)] {
        conn.create_scalar_function(name, 2, flags, move |ctx| {
            let (Some(text), Some(pattern)) =
                (ctx.get::<Option<String>>(0)?, ctx.get::<Option<String>>(1)?)
            else {
                return Ok(None);
            };
            Ok(Some(if ci {
                like(&text.to_lowercase(), &pattern.to_lowercase())
            } else {
                like(&text, &pattern)
            }))
        })?;
    }
    conn.create_scalar_function("adql_lower", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase()))
    })?;
    conn.create_scalar_function("adql_upper", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_uppercase()))
    })?;
    register_geometry(conn, flags)
}

fn register_geometry(conn: &Connection, flags: FunctionFlags) -> rusqlite::Result<()> {
    conn.create_scalar_function("adql_point", 2, flags, |ctx| {
        let Some(v) = numbers(ctx, "POINT")? else {
            return Ok(None);
        };
        Ok(blob(Shape::Point(point(v[0], v[1], "POINT")?)))
    })?;
    conn.create_scalar_function("adql_circle", 3, flags, |ctx| {
        let Some(v) = numbers(ctx, "CIRCLE")? else {
            return Ok(None);
        };
        let s = Shape::circle(point(v[0], v[1], "CIRCLE")?, v[2])
            .map_err(|e| user_error("CIRCLE", e))?;
        Ok(blob(s))
    })?;
    conn.create_scalar_function("adql_circle_at", 2, flags, |ctx| {
        let (Some(Shape::Point(c)), Some(r)) =
            (shape(ctx, 0, "CIRCLE")?, number(ctx, 1, "CIRCLE")?)
        else {
            return Ok(None);
        };
        Ok(blob(
            Shape::circle(c, r).map_err(|e| user_error("CIRCLE", e))?,
        ))
    })?;
    conn.create_scalar_function("adql_box", 4, flags, |ctx| {
        let Some(v) = numbers(ctx, "BOX")? else {
            return Ok(None);
        };
        let s = Shape::box_shape(point(v[0], v[1], "BOX")?, v[2], v[3])
            .map_err(|e| user_error("BOX", e))?;
        Ok(blob(s))
    })?;
    conn.create_scalar_function("adql_box_at", 3, flags, |ctx| {
        let (Some(Shape::Point(c)), Some(w), Some(h)) = (
            shape(ctx, 0, "BOX")?,
            number(ctx, 1, "BOX")?,
            number(ctx, 2, "BOX")?,
        ) else {
            return Ok(None);
        };
        Ok(blob(
            Shape::box_shape(c, w, h).map_err(|e| user_error("BOX", e))?,
        ))
    })?;
    conn.create_scalar_function("adql_polygon", -1, flags, |ctx| {
        let Some(v) = numbers(ctx, "POLYGON")? else {
            return Ok(None);
        };
        let pts = v
            .chunks(2)
            .map(|c| point(c[0], c.get(1).copied().unwrap_or(f64::NAN), "POLYGON"))
            .collect::<FnResult<Vec<_>>>()?;
        Ok(blob(
            Shape::polygon(pts).map_err(|e| user_error("POLYGON", e))?,
        ))
    })?;
    conn.create_scalar_function("adql_polygon_points", -1, flags, |ctx| {
        let mut pts = Vec::new();
        for i in 0..ctx.len() {
            match shape(ctx, i, "POLYGON")? {
                Some(Shape::Point(p)) => pts.push(p),
                Some(_) => return Err(user_error("POLYGON", "vertices must be points")),
                None => return Ok(None),
            }
        }
        Ok(blob(
            Shape::polygon(pts).map_err(|e| user_error("POLYGON", e))?,
        ))
    })?;
    conn.create_scalar_function("adql_region", 1, flags, |ctx| {
        Ok(shape(ctx, 0, "REGION")?.and_then(blob))
    })?;
    for (name, kind) in [
        ("adql_cast_point", DaliKind::Point),
        ("adql_cast_circle", DaliKind::Circle),
        ("adql_cast_polygon", DaliKind::Polygon),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            let Some(s) = ctx.get::<Option<String>>(0)? else {
                return Ok(None);
            };
            Ok(blob(
                parse_dali(kind, &s).map_err(|e| user_error("CAST", e))?,
            ))
        })?;
    }
    conn.create_scalar_function("adql_centroid", 1, flags, |ctx| {
        Ok(shape(ctx, 0, "CENTROID")?.and_then(|s| blob(Shape::Point(s.centroid()))))
    })?;
    conn.create_scalar_function("adql_area", 1, flags, |ctx| {
        Ok(shape(ctx, 0, "AREA")?.map(|s| s.area()))
    })?;
    for (name, second) in [("adql_coord1", false), ("adql_coord2", true)] {
        conn.create_scalar_function(name, 1, flags, move |ctx| match shape(ctx, 0, "COORD")? {
            Some(Shape::Point(p)) => Ok(Some(if second { p.dec } else { p.ra })),
            Some(_) => Err(user_error("COORD1/COORD2", "a point is needed")),
            None => Ok(None),
        })?;
    }
    for (name, intersects) in [("adql_contains", false), ("adql_intersects", true)] {
        conn.create_scalar_function(name, 2, flags, move |ctx| {
            let label = if intersects { "INTERSECTS" } else { "CONTAINS" };
            let (Some(a), Some(b)) = (shape(ctx, 0, label)?, shape(ctx, 1, label)?) else {
                return Ok(None);
            };
            let hit = if intersects {
                a.intersects(&b)
            } else {
                a.within(&b)
            };
            Ok(Some(i64::from(hit)))
        })?;
    }
    conn.create_scalar_function("adql_distance", 2, flags, |ctx| {
        match (shape(ctx, 0, "DISTANCE")?, shape(ctx, 1, "DISTANCE")?) {
            (Some(Shape::Point(a)), Some(Shape::Point(b))) => {
                Ok(Some(skyport_sky::angular_separation(a, b)))
            }
            (Some(_), Some(_)) => Err(user_error("DISTANCE", "points are needed")),
            _ => Ok(None),
        }
    })?;
    conn.create_scalar_function("adql_distance4", 4, flags, |ctx| {
        let Some(v) = numbers(ctx, "DISTANCE")? else {
            return Ok(None);
        };
        Ok(Some(skyport_sky::angular_separation(
            point(v[0], v[1], "DISTANCE")?,
            point(v[2], v[3], "DISTANCE")?,
        )))
    })?;
    conn.create_scalar_function("adql_dali", 1, flags, |ctx| {
        Ok(shape(ctx, 0, "output")?.map(|s| s.to_dali_text()))
    })?;
    conn.create_scalar_function("adql_stcs", 1, flags, |ctx| {
        Ok(shape(ctx, 0, "output")?.map(|s| s.to_stcs()))
    })?;
    // skyport_bbox(geometry, i): bound i (0 = min x … 5 = max z) of the R*Tree key; NULL for
    // a geometry that does not parse, so a bad s_region leaves its row out of the index
    // instead of failing the write. An R*Tree row needs all six bounds of the same geometry,
    // so the last geometry's box is kept to parse it once, not six times.
    conn.create_scalar_function("skyport_bbox", 2, flags, |ctx| {
        thread_local! {
            static LAST: std::cell::RefCell<(Vec<u8>, Option<[f64; 6]>)> =
                const { std::cell::RefCell::new((Vec::new(), None)) };
        }
        let i: i64 = ctx.get(1)?;
        let key: &[u8] = match ctx.get_raw(0) {
            ValueRef::Blob(b) | ValueRef::Text(b) => b,
            _ => return Ok(None),
        };
        let bbox = LAST.with(|last| {
            let mut last = last.borrow_mut();
            if last.0 != key || last.1.is_none() {
                let parsed = shape(ctx, 0, "bbox")
                    .ok()
                    .flatten()
                    .map(|s| s.bounding_box());
                *last = (key.to_vec(), parsed);
            }
            last.1
        });
        Ok(bbox.and_then(|b| usize::try_from(i).ok().and_then(|i| b.get(i).copied())))
    })?;
    Ok(())
}

/// ADQL LIKE: `%` matches any run, `_` any one character; everything else literally.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// Normalises a DALI timestamp (`YYYY-MM-DD[Thh:mm:ss[.fff]][Z]`) or returns None.
fn dali_timestamp(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, dd] = d.as_slice() else {
        return None;
    };
    let (y, m, dd): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, dd.parse().ok()?);
    chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, dd)?;
    let time = match time {
        None => "00:00:00".to_string(),
        Some(t) => {
            let (hms, frac) = match t.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (t, None),
            };
            let parts: Vec<u32> = hms
                .split(':')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let [h, mi, sec] = parts.as_slice() else {
                return None;
            };
            chrono::NaiveTime::from_hms_opt(*h, *mi, *sec)?;
            match frac {
                Some(f) if f.chars().all(|c| c.is_ascii_digit()) && !f.is_empty() => {
                    format!("{h:02}:{mi:02}:{sec:02}.{f}")
                }
                Some(_) => return None,
                None => format!("{h:02}:{mi:02}:{sec:02}"),
            }
        }
    };
    Some(format!("{y:04}-{m:02}-{dd:02}T{time}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "_b_"));
        assert!(!like("abc", "A%"));
        assert!(like("a%c", "a%c"));
        assert!(like("", "%"));
        assert!(!like("ab", "a_c"));
        assert!(like("mississippi", "%iss%ppi"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            dali_timestamp("2020-01-02").as_deref(),
            Some("2020-01-02T00:00:00")
        );
        assert_eq!(
            dali_timestamp("2020-01-02T03:04:05.5Z").as_deref(),
            Some("2020-01-02T03:04:05.5")
        );
        assert_eq!(dali_timestamp("2020-13-02"), None);
        assert_eq!(dali_timestamp("yesterday"), None);
    }
}
