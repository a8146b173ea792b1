//! ADQL executed on SQLite: every geometry predicate and function against an independent
//! computation (haversine distances; point-in-polygon and BOX in the gnomonic projection, where
//! great circles are straight lines), on points and footprints that straddle RA = 0/360 and
//! sit at the poles; and the R*Tree-indexed path returns exactly the rows of the unindexed one.
//! Every statement also runs with its numbers bound as parameters, as skyport's SQLite readers
//! run it (`skyport_store::sqlite_literals`), and must give the same rows.

use std::collections::BTreeSet;

mod common;

use common::{catalogue, D2R};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use skyport_adql::{parse_and_translate, Dialect, Options};
use skyport_store::sqlite_literals::lift_numbers;
use skyport_store::{ddl, spatial, sqlite_functions};

/// The rows of `sql`, run as written and with its numbers bound as parameters (a lifted text
/// that does not compile is run as written by the server too), which must agree.
fn rows(conn: &Connection, sql: &str) -> Vec<Vec<SqlValue>> {
    let run = |text: &str, params: &[skyport_store::Value]| -> Vec<Vec<SqlValue>> {
        let mut stmt = conn.prepare(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let n = stmt.column_count();
        stmt.query_map(params_from_iter(params.iter()), |r| {
            (0..n).map(|i| r.get::<_, SqlValue>(i)).collect()
        })
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .map(|r| r.unwrap_or_else(|e| panic!("{text}: {e}")))
        .collect()
    };
    let literal = run(sql, &[]);
    if let Some((lifted, values)) = lift_numbers(sql) {
        if conn.prepare(&lifted).is_ok() {
            assert_eq!(
                run(&lifted, &values),
                literal,
                "{lifted}\nlifted from\n{sql}"
            );
        }
    }
    literal
}

fn haversine(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (d1, d2) = (dec1 * D2R, dec2 * D2R);
    let h = ((d2 - d1) / 2.0).sin().powi(2)
        + d1.cos() * d2.cos() * ((ra2 - ra1) * D2R / 2.0).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin() / D2R
}

/// Gnomonic projection of (ra, dec) about (ra0, dec0); None on the far hemisphere.
fn gnomonic(ra0: f64, dec0: f64, ra: f64, dec: f64) -> Option<(f64, f64)> {
    let (a0, d0, a, d) = (ra0 * D2R, dec0 * D2R, ra * D2R, dec * D2R);
    let cosc = d0.sin() * d.sin() + d0.cos() * d.cos() * (a - a0).cos();
    if cosc <= 1e-9 {
        return None;
    }
    let x = d.cos() * (a - a0).sin() / cosc;
    let y = (d0.cos() * d.sin() - d0.sin() * d.cos() * (a - a0).cos()) / cosc;
    Some((x, y))
}

/// Planar point in convex polygon (either orientation).
fn in_convex(p: (f64, f64), poly: &[(f64, f64)]) -> bool {
    let mut sign = 0.0;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
        let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
        if cross.abs() < 1e-15 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

use common::Row;

struct Fixture {
    conn: Connection,
    rows: Vec<Row>,
}

/// An ObsCore table (the real Felis declaration) with points and small square footprints.
fn fixture() -> Fixture {
    let (conn, rows) = common::sqlite_archive();
    Fixture { conn, rows }
}

/// Runs ADQL and returns the first column as integers (obs ids are `o<n>`).
fn ids(conn: &Connection, adql: &str, indexed: bool) -> BTreeSet<i64> {
    let t = parse_and_translate(
        adql,
        &catalogue(indexed),
        Dialect::Sqlite,
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{adql}: {e}"));
    assert_eq!(
        t.uses_spatial_index,
        indexed && adql.contains("s_"),
        "{}",
        t.sql
    );
    rows(conn, &t.sql)
        .into_iter()
        .map(|row| match row.first() {
            Some(SqlValue::Text(id)) => id[1..].parse().expect("id"),
            other => panic!("{}: {other:?}", t.sql),
        })
        .collect()
}

fn check(f: &Fixture, adql: &str, expected: BTreeSet<i64>) {
    let plain = ids(&f.conn, adql, false);
    let indexed = ids(&f.conn, adql, true);
    assert_eq!(plain, expected, "unindexed result of {adql}");
    assert_eq!(indexed, plain, "indexed and unindexed differ for {adql}");
}

#[test]
fn cones_match_haversine_and_the_index() {
    let f = fixture();
    for (ra, dec, r) in [
        (0.0, 0.0, 1.0),
        (359.9, 0.2, 0.7),
        (10.0, 89.6, 0.6),
        (123.0, -89.7, 0.5),
        (200.0, 30.0, 15.0),
        (0.2, -60.0, 3.0),
    ] {
        let expected: BTreeSet<i64> = f
            .rows
            .iter()
            .filter(|(_, a, d, _)| haversine(ra, dec, *a, *d) <= r)
            .map(|(id, ..)| *id)
            .collect();
        assert!(!expected.is_empty(), "cone {ra} {dec} {r} is empty");
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra}, {dec}, {r}))"), expected.clone());
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore AS o WHERE CONTAINS(POINT(o.s_ra, o.s_dec), CIRCLE(POINT({ra}, {dec}), {r})) = 1"), expected.clone());
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE DISTANCE(POINT(s_ra, s_dec), POINT({ra}, {dec})) <= {r}"), expected.clone());
        check(
            &f,
            &format!(
                "SELECT obs_id FROM ivoa.ObsCore WHERE DISTANCE(s_ra, s_dec, {ra}, {dec}) <= {r}"
            ),
            expected.clone(),
        );
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE INTERSECTS(CIRCLE({ra}, {dec}, {r}), POINT(s_ra, s_dec)) = 1"), expected);
    }
}

#[test]
fn polygons_and_boxes_match_the_gnomonic_projection() {
    let f = fixture();
    // 100 vertices (more than SQLite's 127 function arguments would allow two per vertex):
    // a circle of radius tan 10° in the gnomonic plane about (115, -25), so convex on the sky.
    let (a0, d0) = (115.0 * D2R, -25.0 * D2R);
    let many: Vec<(f64, f64)> = (0..100)
        .map(|k| {
            let t = k as f64 * std::f64::consts::TAU / 100.0;
            let (x, y) = ((10.0 * D2R).tan() * t.cos(), (10.0 * D2R).tan() * t.sin());
            let (rho, c) = ((x * x + y * y).sqrt(), (x * x + y * y).sqrt().atan());
            let dec = (c.cos() * d0.sin() + y * c.sin() * d0.cos() / rho).asin();
            let ra = a0 + (x * c.sin()).atan2(rho * d0.cos() * c.cos() - y * d0.sin() * c.sin());
            ((ra / D2R).rem_euclid(360.0), dec / D2R)
        })
        .collect();
    let polygons: [&[(f64, f64)]; 4] = [
        &[(358.0, -2.0), (2.0, -2.0), (2.0, 2.0), (358.0, 2.0)],
        &[(0.0, 80.0), (90.0, 80.0), (180.0, 80.0), (270.0, 80.0)],
        &[(100.0, -30.0), (130.0, -35.0), (120.0, -10.0)],
        &many,
    ];
    for poly in polygons {
        // Project about the normalised vertex mean; every polygon here is well inside a hemisphere.
        let (mut x, mut y, mut z) = (0.0, 0.0, 0.0);
        for (a, d) in poly {
            x += (d * D2R).cos() * (a * D2R).cos();
            y += (d * D2R).cos() * (a * D2R).sin();
            z += (d * D2R).sin();
        }
        let (ra0, dec0) = (
            y.atan2(x) / D2R,
            (z / (x * x + y * y + z * z).sqrt()).asin() / D2R,
        );
        let plane: Vec<(f64, f64)> = poly
            .iter()
            .map(|(a, d)| gnomonic(ra0, dec0, *a, *d).expect("near side"))
            .collect();
        let expected: BTreeSet<i64> = f
            .rows
            .iter()
            .filter(|(_, a, d, _)| {
                gnomonic(ra0, dec0, *a, *d).is_some_and(|p| in_convex(p, &plane))
            })
            .map(|(id, ..)| *id)
            .collect();
        assert!(!expected.is_empty());
        let coords = poly
            .iter()
            .map(|(a, d)| format!("{a}, {d}"))
            .collect::<Vec<_>>()
            .join(", ");
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), POLYGON('ICRS', {coords}))"), expected.clone());
        let points = poly
            .iter()
            .map(|(a, d)| format!("POINT({a}, {d})"))
            .collect::<Vec<_>>()
            .join(", ");
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), POLYGON({points}))"), expected);
    }
    // BOX: in the gnomonic projection about its centre, |x| <= tan(w/2) and |y| <= tan(h/2).
    for (ra, dec, w, h) in [
        (0.0, 0.0, 3.0, 1.5),
        (45.0, 89.0, 4.0, 4.0),
        (300.0, -45.0, 20.0, 6.0),
    ] {
        let expected: BTreeSet<i64> = f
            .rows
            .iter()
            .filter(|(_, a, d, _)| {
                gnomonic(ra, dec, *a, *d).is_some_and(|(x, y)| {
                    x.abs() <= (w / 2.0 * D2R).tan() && y.abs() <= (h / 2.0 * D2R).tan()
                })
            })
            .map(|(id, ..)| *id)
            .collect();
        assert!(!expected.is_empty());
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), BOX({ra}, {dec}, {w}, {h}))"), expected);
    }
}

/// Distance from a point to a footprint's boundary by dense sampling of its great-circle edges.
fn distance_to_footprint(ra: f64, dec: f64, poly: &[(f64, f64)]) -> f64 {
    let v = |a: f64, d: f64| {
        [
            (d * D2R).cos() * (a * D2R).cos(),
            (d * D2R).cos() * (a * D2R).sin(),
            (d * D2R).sin(),
        ]
    };
    let mut best = f64::MAX;
    for i in 0..poly.len() {
        let (p, q) = (
            v(poly[i].0, poly[i].1),
            v(poly[(i + 1) % poly.len()].0, poly[(i + 1) % poly.len()].1),
        );
        for k in 0..=200 {
            let t = f64::from(k) / 200.0;
            let m = [
                p[0] * (1.0 - t) + q[0] * t,
                p[1] * (1.0 - t) + q[1] * t,
                p[2] * (1.0 - t) + q[2] * t,
            ];
            let n = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt();
            let (a, d) = (m[1].atan2(m[0]) / D2R, (m[2] / n).asin() / D2R);
            best = best.min(haversine(ra, dec, a, d));
        }
    }
    best
}

#[test]
fn region_predicates_match_sampling_and_the_index() {
    let f = fixture();
    for (ra, dec, r) in [
        (0.0, 0.1, 0.5),
        (359.8, 89.6, 0.4),
        (77.0, -89.6, 0.3),
        (250.0, 10.0, 8.0),
    ] {
        let mut expected = BTreeSet::new();
        let mut contained = BTreeSet::new();
        for (id, a, d, poly) in &f.rows {
            let plane: Vec<(f64, f64)> = match poly
                .iter()
                .map(|(pa, pd)| gnomonic(*a, *d, *pa, *pd))
                .collect::<Option<Vec<_>>>()
            {
                Some(p) => p,
                None => continue,
            };
            let center_inside = gnomonic(*a, *d, ra, dec).is_some_and(|p| in_convex(p, &plane));
            let edge = distance_to_footprint(ra, dec, poly);
            if (edge - r).abs() < 1e-3 {
                continue; // too close to call by sampling; leave out of both sets
            }
            if center_inside || edge <= r {
                expected.insert(*id);
            }
            let far = poly
                .iter()
                .map(|(pa, pd)| haversine(ra, dec, *pa, *pd))
                .fold(0.0, f64::max);
            if far <= r {
                contained.insert(*id);
            }
        }
        assert!(!expected.is_empty());
        let mut got = ids(&f.conn, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE({ra}, {dec}, {r}))"), false);
        let idx = ids(&f.conn, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE({ra}, {dec}, {r}))"), true);
        assert_eq!(got, idx, "indexed INTERSECTS differs");
        // Rows left out above as too close to call may be in either; compare on the others.
        got.retain(|id| {
            let (_, _, _, poly) = &f.rows[*id as usize - 1];
            (distance_to_footprint(ra, dec, poly) - r).abs() >= 1e-3
        });
        assert_eq!(
            got, expected,
            "INTERSECTS(s_region, CIRCLE({ra}, {dec}, {r}))"
        );
        check(&f, &format!("SELECT obs_id FROM ivoa.ObsCore WHERE CONTAINS(s_region, CIRCLE({ra}, {dec}, {r})) = 1"), contained);
    }
}

fn scalar(conn: &Connection, adql: &str) -> rusqlite::types::Value {
    let t = parse_and_translate(adql, &catalogue(true), Dialect::Sqlite, &Options::default())
        .unwrap_or_else(|e| panic!("{adql}: {e}"));
    rows(conn, &t.sql)
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next())
        .unwrap_or_else(|| panic!("{}: no row", t.sql))
}

fn real(conn: &Connection, adql: &str) -> f64 {
    match scalar(conn, adql) {
        rusqlite::types::Value::Real(x) => x,
        rusqlite::types::Value::Integer(i) => i as f64,
        other => panic!("{adql}: {other:?}"),
    }
}

fn text(conn: &Connection, adql: &str) -> String {
    match scalar(conn, adql) {
        rusqlite::types::Value::Text(s) => s,
        other => panic!("{adql}: {other:?}"),
    }
}

#[test]
fn functions_give_the_right_values() {
    let f = fixture();
    let c = &f.conn;
    let one = "FROM ivoa.ObsCore WHERE obs_id = 'o1'";
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(close(
        real(
            c,
            &format!("SELECT DISTANCE(POINT(359.5, 10), POINT(0.5, 11)) {one}")
        ),
        haversine(359.5, 10.0, 0.5, 11.0)
    ));
    assert!(close(
        real(c, &format!("SELECT DISTANCE(10, 89, 190, 89) {one}")),
        2.0
    ));
    let cap = 2.0 * std::f64::consts::PI * (1.0 - (2.0 * D2R).cos()) / D2R / D2R;
    assert!(close(
        real(c, &format!("SELECT AREA(CIRCLE(1, 2, 2)) {one}")),
        cap
    ));
    assert!(close(
        real(
            c,
            &format!("SELECT AREA(POLYGON(0, 0, 90, 0, 0, 90)) {one}")
        ),
        4.0 * std::f64::consts::PI / 8.0 / D2R / D2R
    ));
    assert!(close(
        real(
            c,
            &format!("SELECT COORD1(CENTROID(CIRCLE(359.9, -5, 1))) {one}")
        ),
        359.9
    ));
    assert!(close(
        real(c, &format!("SELECT COORD2(POINT(10, -89.5)) {one}")),
        -89.5
    ));
    assert!(close(
        real(c, &format!("SELECT COORD1(POINT(-10, 0)) {one}")),
        350.0
    ));
    assert_eq!(
        text(c, &format!("SELECT COORDSYS(POINT(1, 2)) {one}")),
        "ICRS"
    );
    assert_eq!(
        text(c, &format!("SELECT POINT(10.5, -20.25) {one}")),
        "10.5 -20.25"
    );
    assert_eq!(
        text(c, &format!("SELECT CIRCLE(POINT(1, 2), 0.5) {one}")),
        "1 2 0.5"
    );
    assert_eq!(
        text(c, &format!("SELECT CAST('1 2 3' AS CIRCLE) {one}")),
        "1 2 3"
    );
    assert!(text(c, &format!("SELECT s_region {one}")).starts_with("POLYGON ICRS"));
    assert!(close(
        real(
            c,
            &format!("SELECT COORD2(CENTROID(POLYGON(10, -1, 12, -1, 12, 1, 10, 1))) {one}")
        ),
        0.0
    ));
    // Math, checked against Rust's std (an independent implementation from SQLite's).
    for (adql, want) in [
        ("SIN(1)", 1f64.sin()),
        ("COS(1)", 1f64.cos()),
        ("TAN(1)", 1f64.tan()),
        ("COT(1)", 1.0 / 1f64.tan()),
        ("ASIN(0.5)", 0.5f64.asin()),
        ("ACOS(0.5)", 0.5f64.acos()),
        ("ATAN(2)", 2f64.atan()),
        ("ATAN2(-1, -1)", (-1f64).atan2(-1.0)),
        ("EXP(1)", std::f64::consts::E),
        ("LOG(10)", 10f64.ln()),
        ("LOG10(1000)", 3.0),
        ("SQRT(2)", 2f64.sqrt()),
        ("POWER(2, 10)", 1024.0),
        ("DEGREES(PI())", 180.0),
        ("RADIANS(180)", std::f64::consts::PI),
        ("MOD(-7, 3)", -1.0),
        ("MOD(7.5, 2)", 1.5),
        ("ROUND(2.5)", 3.0),
        ("ROUND(-2.5)", -3.0),
        ("ROUND(1234.5678, 2)", 1234.57),
        ("ROUND(1234.5678, -2)", 1200.0),
        ("TRUNCATE(-2.7)", -2.0),
        ("TRUNCATE(2.789, 1)", 2.7),
        ("CEILING(1.2)", 2.0),
        ("FLOOR(-1.2)", -2.0),
        ("ABS(-3)", 3.0),
        ("1 - 2 - 3", -4.0),
        ("2 * 3 + 4", 10.0),
        // Row o1 sits at Dec -89.9: 60 arcmin to the degree.
        ("IN_UNIT(s_dec, 'arcmin')", -89.9 * 60.0),
    ] {
        let got = real(c, &format!("SELECT {adql} {one}"));
        assert!(close(got, want), "{adql}: {got} != {want}");
    }
    let r = real(c, &format!("SELECT RAND() {one}"));
    assert!((0.0..1.0).contains(&r));
    assert_eq!(
        text(c, &format!("SELECT LOWER('ÉTÉ Été') {one}")),
        "été été"
    );
    assert_eq!(text(c, &format!("SELECT UPPER('straße') {one}")), "STRASSE");
    assert_eq!(
        real(
            c,
            "SELECT COUNT(*) FROM ivoa.ObsCore WHERE obs_collection LIKE 'TEST'"
        ),
        0.0
    );
    assert_eq!(
        real(
            c,
            "SELECT COUNT(*) FROM ivoa.ObsCore WHERE obs_collection ILIKE 'TE_T'"
        ) as usize,
        f.rows.len()
    );
    assert_eq!(
        real(
            c,
            "SELECT COUNT(*) FROM ivoa.ObsCore WHERE obs_collection LIKE 't%'"
        ) as usize,
        f.rows.len()
    );
    assert_eq!(real(c, &format!("SELECT CAST(2.5 AS INTEGER) {one}")), 2.0);
    assert_eq!(text(c, &format!("SELECT 'a' || 1 || obs_id {one}")), "a1o1");
    assert_eq!(
        text(c, &format!("SELECT COALESCE(NULL, obs_id) {one}")),
        "o1"
    );
    assert_eq!(
        real(
            c,
            "SELECT COUNT(*) FROM (SELECT TOP 5 obs_id FROM ivoa.ObsCore ORDER BY obs_id) AS q"
        ),
        5.0
    );
    assert_eq!(
        text(
            c,
            "SELECT obs_id FROM ivoa.ObsCore ORDER BY s_dec DESC, obs_id OFFSET 0"
        ),
        text(
            c,
            "SELECT TOP 1 obs_id FROM ivoa.ObsCore ORDER BY s_dec DESC, obs_id"
        )
    );
    assert_eq!(
        real(c, "SELECT COUNT(*) FROM (SELECT obs_id FROM ivoa.ObsCore WHERE s_dec > 0 UNION SELECT obs_id FROM ivoa.ObsCore WHERE s_dec <= 0) AS u") as usize,
        f.rows.len()
    );
    // TOP and OFFSET together: OFFSET first.
    let all: Vec<String> = {
        let t = parse_and_translate(
            "SELECT obs_id FROM ivoa.ObsCore ORDER BY obs_id",
            &catalogue(true),
            Dialect::Sqlite,
            &Options::default(),
        )
        .unwrap();
        let mut st = c.prepare(&t.sql).unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert_eq!(
        text(
            c,
            "SELECT TOP 1 obs_id FROM ivoa.ObsCore ORDER BY obs_id OFFSET 7"
        ),
        all[7]
    );
}

#[test]
fn row_filters_hide_rows_on_every_reference() {
    let f = fixture();
    let options = Options {
        row_filter: Some(skyport_adql::RowFilterSource(std::sync::Arc::new(
            |name: &str| {
                (name == "ivoa.ObsCore")
                    .then(|| format!("{}\"s_dec\" >= 0", skyport_adql::ROW_FILTER_TABLE))
            },
        ))),
        ..Options::default()
    };
    let count = |adql: &str| -> i64 {
        let t = parse_and_translate(adql, &catalogue(true), Dialect::Sqlite, &options).unwrap();
        match rows(&f.conn, &t.sql).first().and_then(|row| row.first()) {
            Some(SqlValue::Integer(n)) => *n,
            other => panic!("{}: {other:?}", t.sql),
        }
    };
    let north = f.rows.iter().filter(|r| r.2 >= 0.0).count() as i64;
    assert_eq!(count("SELECT COUNT(*) FROM ivoa.ObsCore"), north);
    assert_eq!(
        count("SELECT COUNT(*) FROM ivoa.ObsCore WHERE s_dec < 0"),
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM (SELECT * FROM ivoa.ObsCore) AS q"),
        north
    );
    // The spatial pre-filter still works through the filter's subquery.
    let cone = f
        .rows
        .iter()
        .filter(|r| r.2 >= 0.0 && haversine(0.0, 0.0, r.1, r.2) <= 2.0)
        .count() as i64;
    assert_eq!(count("SELECT COUNT(*) FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), CIRCLE(0, 0, 2))"), cone);
    // A self-join sees the filter on both sides.
    assert_eq!(count("SELECT COUNT(*) FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b ON a.obs_id = b.obs_id WHERE b.s_dec < 0"), 0);
    // On the null-extended side of an outer join the filter stays with its table: every
    // visible row of `a` is kept, none of `b` matches.
    assert_eq!(count("SELECT COUNT(*) FROM ivoa.ObsCore AS a LEFT OUTER JOIN ivoa.ObsCore AS b ON b.s_dec < 0"), north);
    assert_eq!(count("SELECT COUNT(b.obs_id) FROM ivoa.ObsCore AS a LEFT OUTER JOIN ivoa.ObsCore AS b ON b.s_dec < 0"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM ivoa.ObsCore AS b RIGHT OUTER JOIN ivoa.ObsCore AS a ON b.s_dec < 0"), north);
    // In a subquery and a UNION too.
    assert_eq!(count("SELECT COUNT(*) FROM (SELECT obs_id FROM ivoa.ObsCore WHERE s_dec < 0 UNION SELECT obs_id FROM ivoa.ObsCore WHERE s_dec < 0) AS u"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM ivoa.ObsCore AS a WHERE EXISTS (SELECT 1 FROM ivoa.ObsCore AS b WHERE b.s_dec < 0)"), 0);
}

#[test]
fn a_hidden_table_is_answered_like_an_absent_one() {
    let mut options = Options::default();
    options.hidden_tables.insert("ivoa.ObsCore".into());
    let error = |adql: &str, options: &Options| -> String {
        match parse_and_translate(adql, &catalogue(true), Dialect::Sqlite, options) {
            Ok(t) => panic!("{adql} translated to {}", t.sql),
            Err(e) => format!("{e}"),
        }
    };
    let hidden = error("SELECT * FROM ivoa.ObsCore", &options);
    assert!(hidden.contains("unknown table"), "{hidden}");
    // No hint points at the hidden table, and the message is that of a name never declared.
    assert!(!hidden.to_lowercase().contains("did you mean"), "{hidden}");
    let absent = error("SELECT * FROM ivoa.ObsCorf", &options);
    assert_eq!(
        hidden.replace("ObsCore", "X"),
        absent.replace("ObsCorf", "X"),
        "hidden and absent tables must be told apart by nothing"
    );
    let visible = error("SELECT * FROM ivoa.ObsCorf", &Options::default());
    assert!(
        visible.contains("ObsCore"),
        "the hint names it when visible: {visible}"
    );
    assert!(parse_and_translate(
        "SELECT * FROM ivoa.ObsCore",
        &catalogue(true),
        Dialect::Sqlite,
        &Options::default()
    )
    .is_ok());
}

#[test]
fn every_query_form_runs_on_sqlite() {
    let f = fixture();
    let count = |keep: &dyn Fn(&Row) -> bool| f.rows.iter().filter(|r| keep(r)).count();
    let north = count(&|r| r.2 > 89.0);
    let far_south = count(&|r| r.2 < -89.8);
    let queries = [
        ("SELECT * FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b USING (obs_publisher_did) WHERE a.s_dec > 89", north),
        // NATURAL joins on every common column; here obs_id and s_dec (never NULL).
        ("SELECT obs_id FROM ivoa.ObsCore NATURAL JOIN (SELECT obs_id, s_dec FROM ivoa.ObsCore) AS b WHERE s_dec > 89", north),
        ("WITH c AS (SELECT obs_id AS id, s_dec FROM ivoa.ObsCore) SELECT c.id FROM c WHERE s_dec > 89", north),
        ("SELECT q.n FROM (SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE s_dec > 89) AS q", 1),
        ("SELECT obs_id FROM ivoa.ObsCore AS o WHERE s_dec > 89 AND EXISTS (SELECT * FROM ivoa.ObsCore AS p WHERE p.obs_id = o.obs_id)", north),
        ("SELECT TOP 2 obs_id FROM ivoa.ObsCore WHERE s_dec > 89 UNION SELECT obs_id FROM ivoa.ObsCore WHERE s_dec < -89.8 ORDER BY 1 OFFSET 1", 2 + far_south - 1),
        ("SELECT obs_id FROM ivoa.ObsCore WHERE s_dec > 89 EXCEPT (SELECT obs_id FROM ivoa.ObsCore WHERE s_ra < 1 INTERSECT SELECT obs_id FROM ivoa.ObsCore WHERE s_dec > 0)", count(&|r| r.2 > 89.0 && r.1 >= 1.0)),
        ("SELECT s_ra + 1 AS x FROM ivoa.ObsCore WHERE s_dec > 89 ORDER BY x DESC", north),
        ("SELECT obs_id FROM ivoa.ObsCore AS a LEFT OUTER JOIN (SELECT obs_id AS oid FROM ivoa.ObsCore WHERE s_dec > 89.9) AS f ON a.obs_id = f.oid WHERE a.s_dec > 89", north),
        ("SELECT CASE WHEN s_dec > 0 THEN 'n' ELSE 's' END AS h, COUNT(*) FROM ivoa.ObsCore GROUP BY h HAVING COUNT(*) > 1", 2),
        ("SELECT DISTINCT dataproduct_type FROM ivoa.ObsCore", 1),
        ("SELECT obs_id, CENTROID(s_region), AREA(s_region) FROM ivoa.ObsCore WHERE s_dec > 89", north),
        ("SELECT obs_id FROM ivoa.ObsCore WHERE obs_id IN ('o1', 'o2', 'nope') AND s_ra BETWEEN -1 AND 361", 2),
    ];
    for (q, expected) in queries {
        let t = parse_and_translate(q, &catalogue(true), Dialect::Sqlite, &Options::default())
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let n = rows(&f.conn, &t.sql).len();
        assert_eq!(n, expected, "{q}\n{}", t.sql);
    }
}

#[test]
fn a_constant_in_an_order_or_group_list_is_not_a_column_number() {
    let f = fixture();
    let translated = |adql: &str| {
        parse_and_translate(adql, &catalogue(true), Dialect::Sqlite, &Options::default())
            .unwrap_or_else(|e| panic!("{adql}: {e}"))
            .sql
    };
    // Sorting by an alias of a constant sorts nothing: the next term decides the order (as
    // a column number, `1` would have sorted by obs_id descending).
    let mut expected: Vec<String> = f
        .rows
        .iter()
        .filter(|r| r.2 > 89.0)
        .map(|r| format!("o{}", r.0))
        .collect();
    expected.sort();
    let sql = translated(
        "SELECT obs_id, 1 AS one FROM ivoa.ObsCore WHERE s_dec > 89 ORDER BY one DESC, obs_id",
    );
    let got: Vec<SqlValue> = rows(&f.conn, &sql)
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let expected: Vec<SqlValue> = expected.into_iter().map(SqlValue::Text).collect();
    assert!(expected.len() > 1, "the fixture has rows near the pole");
    assert_eq!(got, expected, "{sql}");
    // Grouping by one: a single group of every row (as a column number, `2` would have named
    // the COUNT, which SQLite refuses in GROUP BY).
    let sql = translated("SELECT 2 AS two, COUNT(*) AS n FROM ivoa.ObsCore GROUP BY two");
    assert_eq!(
        rows(&f.conn, &sql),
        vec![vec![
            SqlValue::Integer(2),
            SqlValue::Integer(f.rows.len() as i64)
        ]],
        "{sql}"
    );
}

#[test]
fn an_index_created_after_the_rows_is_filled_by_rebuild() {
    // Archives written before the index existed get it on migration: create, then rebuild.
    let conn = Connection::open_in_memory().expect("sqlite");
    sqlite_functions::register(&conn).expect("functions");
    conn.execute_batch(&ddl::create_table(
        skyport_store::Dialect::Sqlite,
        "ivoa",
        &common::obscore_table(),
    ))
    .expect("create");
    let insert = ddl::insert(
        skyport_store::Dialect::Sqlite,
        "ivoa",
        "ObsCore",
        &common::COLUMNS,
    );
    for (i, (ra, dec, region)) in [
        (0.1, 0.0, Some("POLYGON ICRS 359.9 -0.1 0.3 -0.1 0.3 0.1")),
        (10.0, 89.9, None),
        (20.0, -10.0, Some("not STC-S")),
    ]
    .into_iter()
    .enumerate()
    {
        conn.execute(
            &insert,
            rusqlite::params![
                format!("ivo://t?{i}"),
                format!("o{}", i + 1),
                "t",
                1,
                "image",
                ra,
                dec,
                region
            ],
        )
        .expect("insert");
    }
    let spec = &spatial::spatial_indexes()[0];
    conn.execute_batch(&spatial::create_sql(spec))
        .expect("rtree");
    conn.execute_batch(&spatial::rebuild_sql(spec))
        .expect("rebuild");
    let rows = |t: String| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM \"{t}\""), [], |r| r.get(0))
            .expect("count")
    };
    assert_eq!(rows(spec.point_table()), 3);
    // The NULL and the unreadable footprint stay out of the region index.
    assert_eq!(rows(spec.region_table()), 1);
    assert_eq!(
        ids(&conn, "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), CIRCLE(0, 0, 1))", true),
        BTreeSet::from([1])
    );
}
