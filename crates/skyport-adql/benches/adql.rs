//! `cargo bench -p skyport-adql`: parse + validate + translate of typical ObsCore queries, and
//! a cone search on a 10⁶-row ObsCore table on SQLite with and without the R*Tree pre-filter.
//! (Building the table takes about half a minute; it is made once per run in a temp file.)

// The execution tests' ObsCore declaration, columns and catalogue.
#[path = "../tests/common/mod.rs"]
mod common;

use common::{catalogue, obscore_table, COLUMNS};
use criterion::{criterion_group, criterion_main, Criterion};
use rusqlite::Connection;
use skyport_adql::{parse_and_translate, Dialect, Options};
use skyport_store::{ddl, spatial, sqlite_functions};

const QUERIES: &[(&str, &str)] = &[
    ("cone", "SELECT TOP 100 obs_id, s_ra, s_dec, access_url FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 53.1, -27.8, 0.5))"),
    ("region", "SELECT * FROM ivoa.ObsCore WHERE INTERSECTS(s_region, POLYGON(52, -28, 54, -28, 54, -27, 52, -27)) = 1 AND dataproduct_type = 'image'"),
    ("time_band", "SELECT obs_id, t_min, t_max, em_min FROM ivoa.ObsCore WHERE t_min BETWEEN 60000 AND 60100 AND em_min > 5e-7 AND calib_level >= 2 ORDER BY t_min DESC OFFSET 10"),
    ("aggregate", "SELECT obs_collection, instrument_name, COUNT(*) AS n, AVG(t_exptime) FROM ivoa.ObsCore GROUP BY obs_collection, instrument_name HAVING COUNT(*) > 1 ORDER BY n DESC"),
    ("join", "SELECT o.obs_id, f.content_sha256 FROM ivoa.ObsCore AS o JOIN skyport.image_file AS f ON o.obs_publisher_did = f.obs_publisher_did WHERE o.s_dec < -80"),
];

fn translate_benches(c: &mut Criterion) {
    let cat = catalogue(true);
    let opts = Options::default();
    let mut group = c.benchmark_group("parse+validate+translate");
    for (name, q) in QUERIES {
        group.bench_function(*name, |b| {
            b.iter(|| parse_and_translate(q, &cat, Dialect::Sqlite, &opts).expect("translates"))
        });
    }
    group.finish();
}

/// A million ObsCore rows spread uniformly over the sky (deterministic).
fn million_rows() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = Connection::open(dir.path().join("bench.sqlite")).expect("open");
    sqlite_functions::register(&conn).expect("functions");
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        .expect("pragma");
    conn.execute_batch(&ddl::create_table(
        skyport_store::Dialect::Sqlite,
        "ivoa",
        &obscore_table(),
    ))
    .expect("create");
    conn.execute_batch(&spatial::create_sql(&spatial::spatial_indexes()[0]))
        .expect("rtree");
    // Points only: every column but s_region.
    let insert = ddl::insert(
        skyport_store::Dialect::Sqlite,
        "ivoa",
        "ObsCore",
        &COLUMNS[..7],
    );
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut stmt = tx.prepare(&insert).expect("prepare");
        let mut state: u64 = 7;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..1_000_000u32 {
            let ra = next() * 360.0;
            let dec = (2.0 * next() - 1.0).asin().to_degrees();
            stmt.execute(rusqlite::params![
                format!("ivo://bench?{i}"),
                format!("o{i}"),
                "bench",
                1,
                "image",
                ra,
                dec
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
    (dir, conn)
}

fn cone_benches(c: &mut Criterion) {
    let (_dir, conn) = million_rows();
    let q = "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), CIRCLE(123.4, 45.6, 0.5))";
    let mut group = c.benchmark_group("cone 0.5 deg on 1e6 rows");
    group.sample_size(10);
    let mut counts = Vec::new();
    for (label, indexed) in [("r*tree", true), ("scan", false)] {
        let t = parse_and_translate(q, &catalogue(indexed), Dialect::Sqlite, &Options::default())
            .expect("translates");
        let mut stmt = conn.prepare(&t.sql).expect("prepare");
        counts.push(stmt.query_map([], |_| Ok(())).expect("run").count());
        group.bench_function(label, |b| {
            b.iter(|| stmt.query_map([], |_| Ok(())).expect("run").count())
        });
    }
    group.finish();
    assert_eq!(counts[0], counts[1], "indexed and scanned cones differ");
    println!("cone returns {} rows", counts[0]);
}

criterion_group!(benches, translate_benches, cone_benches);
criterion_main!(benches);
