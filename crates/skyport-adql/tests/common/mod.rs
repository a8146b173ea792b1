//! The archive both execution tests load: footprints at the RA wrap, at the poles and at
//! random places, the same rows every run.
#![allow(dead_code)]

use rusqlite::Connection;
use skyport_adql::{Catalogue, SpatialIndex};
use skyport_store::{ddl, spatial, sqlite_functions};

/// The columns the fixture fills.
pub const COLUMNS: [&str; 8] = [
    "obs_publisher_did",
    "obs_id",
    "obs_collection",
    "calib_level",
    "dataproduct_type",
    "s_ra",
    "s_dec",
    "s_region",
];

/// The real Felis declaration of ivoa.ObsCore.
pub fn obscore_table() -> skyport_schema::Table {
    skyport_schema::builtin_schemas()
        .iter()
        .find(|s| s.name == "ivoa")
        .and_then(|s| s.table("ObsCore"))
        .cloned()
        .expect("ObsCore")
}

/// An in-memory SQLite archive: ObsCore with its R*Tree index, holding [`fixture_rows`].
pub fn sqlite_archive() -> (Connection, Vec<Row>) {
    let conn = Connection::open_in_memory().expect("sqlite");
    sqlite_functions::register(&conn).expect("functions");
    conn.execute_batch(&ddl::create_table(
        skyport_store::Dialect::Sqlite,
        "ivoa",
        &obscore_table(),
    ))
    .expect("create");
    conn.execute_batch(&spatial::create_sql(&spatial::spatial_indexes()[0]))
        .expect("rtree");
    let insert = ddl::insert(skyport_store::Dialect::Sqlite, "ivoa", "ObsCore", &COLUMNS);
    let rows = fixture_rows();
    for (id, ra, dec, poly) in &rows {
        conn.execute(
            &insert,
            rusqlite::params![
                format!("ivo://test?{id}"),
                format!("o{id}"),
                "test",
                1,
                "image",
                ra,
                dec,
                stcs(poly)
            ],
        )
        .expect("insert");
    }
    (conn, rows)
}

/// The catalogue of the built-in schemas, with ObsCore's spatial index when `indexed`.
pub fn catalogue(indexed: bool) -> Catalogue {
    let mut cat = Catalogue::from_schemas(&skyport_schema::builtin_schemas());
    if indexed {
        let spec = &spatial::spatial_indexes()[0];
        assert!(cat.set_spatial_index(
            spec.schema,
            spec.table,
            SpatialIndex {
                point: Some((spec.point.0.into(), spec.point.1.into(), spec.point_table())),
                region: Some((spec.region.into(), spec.region_table())),
            },
        ));
    }
    cat
}

/// Degrees to radians.
pub const D2R: f64 = std::f64::consts::PI / 180.0;

/// Deterministic pseudo-random numbers (no dependency, same every run).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// (id, ra, dec, footprint vertices).
pub type Row = (i64, f64, f64, Vec<(f64, f64)>);

/// The rows: fixed places at the wrap and the poles, then 1500 random ones, each with a 0.3°
/// square footprint made in the tangent plane (vertices by the inverse gnomonic projection).
pub fn fixture_rows() -> Vec<Row> {
    let mut rng = Lcg(42);
    let mut centers: Vec<(f64, f64)> = Vec::new();
    for ra in [0.0, 0.05, 359.95, 359.5, 0.5, 180.0, 90.0, 270.0] {
        for dec in [-89.9, -89.5, -60.0, -1.0, 0.0, 0.4, 45.0, 89.5, 89.95] {
            centers.push((ra, dec));
        }
    }
    for _ in 0..1500 {
        let ra = rng.next() * 360.0;
        let dec = (2.0 * rng.next() - 1.0).asin() / D2R;
        centers.push((ra, dec));
    }
    centers
        .iter()
        .enumerate()
        .map(|(i, (ra, dec))| {
            let s = 0.3 * D2R / 2.0;
            let mut poly = Vec::new();
            for (x, y) in [(-s, -s), (s, -s), (s, s), (-s, s)] {
                let (a0, d0) = (ra * D2R, dec * D2R);
                let rho = (x * x + y * y).sqrt();
                let c = rho.atan();
                let d = (c.cos() * d0.sin() + y * c.sin() * d0.cos() / rho).asin();
                let a = a0 + (x * c.sin()).atan2(rho * d0.cos() * c.cos() - y * d0.sin() * c.sin());
                poly.push(((a / D2R).rem_euclid(360.0), d / D2R));
            }
            (i as i64 + 1, *ra, *dec, poly)
        })
        .collect()
}

/// The STC-S `s_region` of a footprint.
pub fn stcs(poly: &[(f64, f64)]) -> String {
    format!(
        "POLYGON ICRS {}",
        poly.iter()
            .map(|(a, d)| format!("{a} {d}"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}
