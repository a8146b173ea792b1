//! The `skyport` program end to end: demo build, ingest idempotence, bad inputs, exit codes;
//! and the suites that run real `skyport serve` processes (below), in this one binary so that
//! their tests, each mostly one process's work, run two at a time on two cores.

use std::path::Path;
use std::process::{Command, Output};

mod common;

// HiPS kept current by header ingest and by a serving process at release dates.
#[path = "cli/hips_current.rs"]
mod hips_current;
// kill -9 in the middle of a ConsDB bulk insert leaves nothing half written.
#[path = "cli/consdb_crash.rs"]
mod consdb_crash;
// Hostile inputs are bounded in memory (peak resident memory of a real server).
#[path = "cli/memory.rs"]
mod memory;
// PostgreSQL logical replication to a read-only replica (needs SKYPORT_PG_URL).
#[path = "cli/replication.rs"]
mod replication;
// Two servers on one PostgreSQL database share async jobs (needs SKYPORT_PG_URL).
#[path = "cli/two_servers.rs"]
mod two_servers;

fn skyport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(args)
        .output()
        .expect("run skyport")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })
    .expect("count")
}

/// A temporary directory holding the small demo archive in `demo/`.
fn small_demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    common::small_demo(dir.path());
    dir
}

#[test]
fn demo_builds_and_reingest_changes_nothing() {
    let dir = small_demo();
    let demo = dir.path().join("demo");
    let db = demo.join("archive.sqlite");
    let images = count(&db, "ivoa.ObsCore");
    assert_eq!(
        images,
        12 + 8 + 2,
        "12 real images, 4 visits × 2 detectors and 2 proprietary images"
    );
    let proprietary: i64 = rusqlite::Connection::open(&db)
        .expect("db")
        .query_row(
            "SELECT COUNT(*) FROM \"ivoa.ObsCore\" WHERE obs_collection = 'demo-proprietary' AND obs_release_date > '2098'",
            [],
            |r| r.get(0),
        )
        .expect("proprietary");
    assert_eq!(proprietary, 2, "released only in 2099");
    assert_eq!(count(&db, "skyport.image_file"), images);
    // Every generated detector has IMAGE, MASK and VARIANCE planes after its primary HDU.
    let conn = rusqlite::Connection::open(&db).expect("db");
    let planes: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM \"skyport.image_hdu\" WHERE role IN ('image','mask','variance') AND compression = 'RICE_1'
             AND obs_publisher_did LIKE 'ivo://skyport.demo/LSSTCam-demo?%'",
            [],
            |r| r.get(0),
        )
        .expect("planes");
    assert_eq!(planes, 8 * 3);

    let config = demo.join("skyport.toml");
    let data = demo.join("data");
    let out = skyport(&[
        "ingest",
        "--config",
        &config.to_string_lossy(),
        &data.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{images} files: 0 new, 0 updated, {images} unchanged, 0 failed"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(count(&db, "ivoa.ObsCore"), images);

    // A changed file updates its row in place.
    let target = data.join("real/pypi_astropy/m13.fits");
    std::fs::copy(
        data.join("real/pypi_astroquery/irsa_dust_test.fits"),
        &target,
    )
    .expect("replace");
    let out = skyport(&[
        "ingest",
        "--config",
        &config.to_string_lossy(),
        &target.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 files: 0 new, 1 updated"),
        "{}",
        text(&out)
    );
    let xel: i64 = conn
        .query_row(
            "SELECT s_xel1 FROM \"ivoa.ObsCore\" WHERE obs_id = 'pypi_astropy/m13'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(
        xel, 202,
        "the row now describes the new content (202 × 202)"
    );
    assert_eq!(count(&db, "ivoa.ObsCore"), images);
    releases_freeze_list_and_drop(&demo);
}

/// The demo's release dr1 (frozen at its build) kept the row the update above replaced; the
/// release commands list, refuse, drop and freeze again.
fn releases_freeze_list_and_drop(demo: &Path) {
    let config = demo.join("skyport.toml");
    let config = config.to_string_lossy();
    let snapshot = demo.join("releases/dr1.sqlite");
    let m13_xel = |db: &Path| -> i64 {
        rusqlite::Connection::open(db)
            .expect("db")
            .query_row(
                "SELECT s_xel1 FROM \"ivoa.ObsCore\" WHERE obs_id = 'pypi_astropy/m13'",
                [],
                |r| r.get(0),
            )
            .expect("row")
    };
    assert_ne!(
        m13_xel(&snapshot),
        202,
        "dr1 keeps the row it was frozen with"
    );
    assert_eq!(count(&snapshot, "ivoa.ObsCore"), 12 + 2);
    assert_eq!(count(&snapshot, "caom2.Plane"), 12 + 2);
    let out = skyport(&["release", "list", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = text(&out);
    assert!(listed.contains("dr1\tfrozen "), "{listed}");
    assert!(listed.contains("(14 images)"), "{listed}");
    assert!(
        listed.contains("prompt\tlabel of the live archive\tLSSTCam-demo"),
        "{listed}"
    );
    for (args, refusal) in [
        (vec!["freeze", "dr1"], "already frozen"),
        (
            vec!["freeze", "dr9"],
            "no release \"dr9\" in [[releases]] (configured: dr1, prompt)",
        ),
        (vec!["drop", "prompt"], "is not frozen"),
    ] {
        let mut all = vec!["release"];
        all.extend(&args);
        all.extend(["--config", &config]);
        let out = skyport(&all);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(refusal), "{args:?}: {}", text(&out));
    }
    let out = skyport(&["release", "drop", "dr1", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!snapshot.exists() && !demo.join("releases/dr1.json").exists());
    let out = skyport(&["release", "freeze", "dr1", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("14 images"), "{}", text(&out));
    assert_eq!(m13_xel(&snapshot), 202, "frozen anew: the current row");
}

#[test]
fn bad_files_are_reported_and_the_rest_is_ingested() {
    let dir = small_demo();
    let demo = dir.path().join("demo");
    let db = demo.join("archive.sqlite");
    let before = count(&db, "ivoa.ObsCore");
    let incoming = demo.join("data/real/incoming");
    std::fs::create_dir_all(&incoming).expect("mkdir");
    let m13 = std::fs::read(demo.join("data/real/pypi_astropy/m13.fits")).expect("read");
    std::fs::write(incoming.join("a_truncated.fits"), &m13[..m13.len() / 3]).expect("write");
    std::fs::write(incoming.join("b_good.fits"), &m13).expect("write");
    std::fs::write(incoming.join("c_garbage.fits"), b"SIMPLE = nonsense").expect("write");
    let out = skyport(&[
        "ingest",
        "--config",
        &demo.join("skyport.toml").to_string_lossy(),
        &incoming.to_string_lossy(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code 2: some files failed; {}",
        text(&out)
    );
    let all = text(&out);
    assert!(
        all.contains("a_truncated.fits") && all.contains("truncated"),
        "{all}"
    );
    assert!(all.contains("c_garbage.fits"), "{all}");
    assert!(
        all.contains("3 files: 1 new, 0 updated, 0 unchanged, 2 failed"),
        "{all}"
    );
    assert_eq!(
        count(&db, "ivoa.ObsCore"),
        before + 1,
        "only the good file was added"
    );
    assert_eq!(
        count(&db, "skyport.image_file"),
        before + 1,
        "nothing half-written for the bad ones"
    );
}

#[test]
fn garbage_config_gives_one_clear_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[database]\nsqlite = 3\n").expect("write");
    let out = skyport(&["serve", "--config", &cfg.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(all.contains("bad.toml") && all.contains("sqlite"), "{all}");
    assert_eq!(
        all.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{all}"
    );

    let out = skyport(&[
        "ingest",
        "--config",
        &dir.path().join("missing.toml").to_string_lossy(),
        "x.fits",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));
}

/// Tokens are made, listed and revoked by key. A key is base64url, so one in 64 begins with
/// `-`: such a key must reach the command as a key, not be taken for an option (a client test
/// met one in CI).
#[test]
fn tokens_are_revoked_by_key_even_one_that_begins_with_a_hyphen() {
    let dir = small_demo();
    let config = dir.path().join("demo/skyport.toml");
    let config = config.to_string_lossy();
    let out = skyport(&[
        "token", "create", "--config", &config, "--user", "robot", "--scopes", "read:tap",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let key = token
        .strip_prefix("skp_")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_else(|| panic!("not a token: {token}"))
        .to_string();
    // The state `token list` gives the key, checking that the token is robot's.
    let state = || {
        let listed = text(&skyport(&["token", "list", "--config", &config]));
        listed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}\trobot\t")))
            .and_then(|rest| rest.rsplit('\t').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{key} not listed: {listed}"))
    };
    assert_eq!(state(), "valid");
    let out = skyport(&["token", "revoke", "--config", &config, &key]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(state(), "revoked");
    // A key beginning with a hyphen, in either place: the command looks it up (and finds no
    // such token) instead of refusing its arguments.
    const HYPHEN_KEY: &str = "-kzT0qIuHpM-xcdK9dxFuA";
    for args in [
        ["token", "revoke", "--config", &config, HYPHEN_KEY],
        ["token", "revoke", HYPHEN_KEY, "--config", &config],
    ] {
        let out = skyport(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("no valid token has key \"{HYPHEN_KEY}\"")),
            "{}",
            text(&out)
        );
    }
}

fn skyport_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run skyport");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write query");
    child.wait_with_output().expect("wait")
}

#[test]
fn adql_check_and_translate() {
    let ok = skyport_stdin(
        &["adql", "check"],
        "SELECT TOP 5 obs_id, DISTANCE(POINT(s_ra, s_dec), POINT(10, 20)) AS d FROM ivoa.ObsCore",
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(out.starts_with("OK\n"), "{out}");
    assert!(
        out.contains("obs_id\tVARCHAR") && out.contains("d\tDOUBLE PRECISION\tunit=deg"),
        "{out}"
    );

    let bad = skyport_stdin(&["adql", "check"], "SELECT s_ar FROM ivoa.ObsCore");
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr).to_string();
    assert!(
        err.contains("line 1, column 8") && err.contains("did you mean s_ra?"),
        "{err}"
    );

    let syntax_only = skyport_stdin(&["adql", "check", "--no-schema"], "SELECT a FROM nowhere");
    assert!(syntax_only.status.success());
    let limit = skyport_stdin(&["adql", "check", "--no-schema"], "SELECT a FROM t LIMIT 1");
    assert_eq!(limit.status.code(), Some(1));

    let q =
        "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), CIRCLE(10, 20, 1))";
    let lite = skyport_stdin(&["adql", "translate", "--dialect", "sqlite"], q);
    let lite_sql = String::from_utf8_lossy(&lite.stdout).to_string();
    assert!(
        lite_sql.contains("\"ivoa.ObsCore#point\"") && lite_sql.contains("adql_contains"),
        "{lite_sql}"
    );
    let pg = skyport_stdin(&["adql", "translate", "--dialect", "postgres"], q);
    let pg_sql = String::from_utf8_lossy(&pg.stdout).to_string();
    assert!(
        pg_sql.contains("<@ scircle(") && pg_sql.contains("\"ivoa\".\"ObsCore\""),
        "{pg_sql}"
    );
}

#[test]
fn translator_table_names_match_the_store() {
    // The translator prints table names itself; they must be the ones the store creates.
    for dialect in [
        skyport_store::Dialect::Sqlite,
        skyport_store::Dialect::Postgres,
    ] {
        let name = skyport_store::ddl::table_name(dialect, "ivoa", "ObsCore");
        let adql_dialect = match dialect {
            skyport_store::Dialect::Sqlite => skyport_adql::Dialect::Sqlite,
            skyport_store::Dialect::Postgres => skyport_adql::Dialect::Postgres,
        };
        let cat = skyport_adql::Catalogue::from_schemas(&skyport_schema::builtin_schemas());
        let t = skyport_adql::parse_and_translate(
            "SELECT obs_id FROM ivoa.ObsCore",
            &cat,
            adql_dialect,
            &skyport_adql::Options::default(),
        )
        .expect("translates");
        assert!(
            t.sql.contains(&format!("FROM {name} AS")),
            "{} vs {name}",
            t.sql
        );
    }
}

#[test]
fn consdb_header_ingest_fills_the_demo_is_idempotent_and_reports_bad_headers() {
    let dir = small_demo();
    let demo = dir.path().join("demo");
    let db = demo.join("archive.sqlite");
    // The demo's own ConsDB: its 4 LSSTCam visits and 3 LATISS exposures, each with one
    // current history version written by the header ingest.
    assert_eq!(count(&db, "cdb_lsstcam.exposure"), 4);
    assert_eq!(count(&db, "cdb_latiss.exposure"), 3);
    assert_eq!(count(&db, "cdb_lsstcam.exposure_history"), 4);
    let conn = rusqlite::Connection::open(&db).expect("db");
    let (day_obs, airmass): (i64, f64) = conn
        .query_row(
            "SELECT day_obs, airmass FROM \"cdb_lsstcam.exposure\" WHERE seq_num = 100",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(day_obs, 20251201);
    assert!(airmass > 1.0 && airmass < 1.2, "{airmass}");

    // One detector exposure per image, written with its ObsCore row: Rubin's id packing, and
    // a camera-geometry footprint centred where the image's own WCS footprint is.
    assert_eq!(count(&db, "cdb_lsstcam.ccdexposure"), 8);
    assert_eq!(count(&db, "cdb_latiss.ccdexposure"), 3);
    let centre = |polygon: &str| {
        let v: Vec<f64> = polygon
            .split_whitespace()
            .skip(2)
            .map(|w| w.parse().expect("a number"))
            .collect();
        // The mean of the vertices' unit vectors (footprints may straddle RA 0).
        let (mut x, mut y, mut z) = (0.0, 0.0, 0.0);
        for p in v.chunks(2) {
            let (ra, dec) = (p[0].to_radians(), p[1].to_radians());
            x += dec.cos() * ra.cos();
            y += dec.cos() * ra.sin();
            z += dec.sin();
        }
        (
            y.atan2(x).to_degrees().rem_euclid(360.0),
            z.atan2(x.hypot(y)).to_degrees(),
        )
    };
    let mut rows = conn
        .prepare(
            "SELECT c.ccdexposure_id, c.detector, c.s_region, o.s_region \
             FROM \"cdb_lsstcam.ccdexposure\" c JOIN \"cdb_lsstcam.exposure\" e \
             ON e.exposure_id = c.exposure_id JOIN \"ivoa.ObsCore\" o \
             ON o.obs_id LIKE '%' || e.exposure_name || '_R22_S' || ((c.detector - 90) / 3) || ((c.detector - 90) % 3)",
        )
        .expect("sql");
    let found: Vec<(i64, i64, String, String)> = rows
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(found.len(), 8);
    for (id, detector, ours, obscore) in &found {
        // detector + 256 × (seq_num + 32768 × days since 2010-01-01), controller O.
        assert_eq!(id % 256, *detector);
        let (a, b) = (centre(ours), centre(obscore));
        let dra = (a.0 - b.0 + 540.0).rem_euclid(360.0) - 180.0;
        let arcsec = (dra * b.1.to_radians().cos()).hypot(a.1 - b.1) * 3600.0;
        assert!(arcsec < 1.0, "detector {detector}: {ours} vs {obscore}");
    }

    // Ingesting the same files again changes nothing, so records no version.
    let config = demo.join("skyport.toml");
    let files: Vec<String> = walk(&demo.join("data/lsst"));
    let mut args = vec![
        "consdb",
        "ingest-headers",
        "--config",
        config.to_str().expect("path"),
        "--instrument",
        "lsstcam",
    ];
    args.extend(files.iter().map(String::as_str));
    let out = skyport(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("4 exposure and 8 detector rows written")
            && text(&out).contains("0 images to ObsCore"),
        "{}",
        text(&out)
    );
    assert_eq!(count(&db, "cdb_lsstcam.exposure_history"), 4);
    assert_eq!(count(&db, "cdb_lsstcam.ccdexposure_history"), 8);
    // Each image relates to its exposure and detector (what DataLink's visit links use), once
    // however often it is ingested, agreeing with ConsDB and with the image's name.
    assert_eq!(count(&db, "skyport.image_exposure"), 8);
    let related: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM \"skyport.image_exposure\" i JOIN \"cdb_lsstcam.ccdexposure\" c \
             ON c.ccdexposure_id = i.ccdexposure_id AND c.exposure_id = i.exposure_id \
             AND c.detector = i.detector JOIN \"cdb_lsstcam.exposure\" e \
             ON e.exposure_id = i.exposure_id AND i.instrument = 'lsstcam' \
             WHERE i.obs_publisher_did LIKE '%/' || e.exposure_name || '_R22_S' || ((i.detector - 90) / 3) || ((i.detector - 90) % 3)",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(related, 8);

    // A header of another instrument and a file that is no header are skipped and reported,
    // the good one is written, and the exit code says some failed.
    let bad = demo.join("not-a-header.yaml");
    std::fs::write(&bad, "just: [a, list").expect("write");
    let latiss = walk(&demo.join("data/headers/latiss"));
    let out = skyport(&[
        "consdb",
        "ingest-headers",
        "--config",
        config.to_str().expect("path"),
        "--instrument",
        "lsstcam",
        &files[0],
        &latiss[0],
        bad.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("INSTRUME: the header is not of lsstcam"),
        "{said}"
    );
    assert!(
        said.contains("not-a-header.yaml") && said.contains("not valid YAML"),
        "{said}"
    );
    assert!(
        said.contains("1 exposure and 1 detector rows written"),
        "{said}"
    );

    // translate-headers prints one JSON line per file, errors included.
    let out = skyport(&[
        "consdb",
        "translate-headers",
        "--instrument",
        "latiss",
        &latiss[0],
    ]);
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("json");
    assert_eq!(
        line["exposure"]["physical_filter"]
            .as_str()
            .map(|f| f.ends_with("~empty")),
        Some(true)
    );
    assert_eq!(line["exposure"]["img_type"], "science");

    // Exports: a CSV of two visits, and a campaign list.
    let out_csv = demo.join("visits.csv");
    let out = skyport(&[
        "consdb",
        "export",
        "--config",
        config.to_str().expect("path"),
        "--instrument",
        "lsstcam",
        "--table",
        "visit1",
        "--where",
        "band IN ('g', 'r')",
        "--columns",
        "visit_id,band",
        "--out",
        out_csv.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&out_csv).expect("csv"),
        "visit_id,band\n2025120100100,g\n2025120100107,r\n"
    );
    let out = skyport(&[
        "consdb",
        "export",
        "--config",
        config.to_str().expect("path"),
        "--instrument",
        "lsstcam",
        "--table",
        "cdb_lsstcam.visit1",
        "--where",
        "no_such_column = 1",
        "--out",
        out_csv.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no_such_column"), "{}", text(&out));
}

/// Every file below `dir`, sorted.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}
