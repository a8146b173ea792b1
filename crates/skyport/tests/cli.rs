//! The `skyport` program end to end: demo build, ingest idempotence, bad inputs, exit codes.

use std::path::Path;
use std::process::{Command, Output};

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

fn small_demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let out = skyport(&[
        "demo",
        "--dir",
        &dir.path().join("demo").to_string_lossy(),
        "--small",
        "--build-only",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    dir
}

#[test]
fn demo_builds_and_reingest_changes_nothing() {
    let dir = small_demo();
    let demo = dir.path().join("demo");
    let db = demo.join("archive.sqlite");
    let images = count(&db, "ivoa.ObsCore");
    assert_eq!(images, 12 + 8, "12 real images and 4 visits × 2 detectors");
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
