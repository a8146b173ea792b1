//! Hostile inputs are limited before they are expanded: for each case of the hardening probe
//! (an ADQL query of spaces, an upload of many empty rows, too many upload tables, 80,000
//! upload names, a long STAMPS table, a large ConsDB bulk insert) a real `skyport serve` is
//! sent a scaled-down version and its peak resident memory is read from `/proc` (`VmHWM`, reset
//! before each case through `clear_refs`). Each bound is a small multiple of the request's size;
//! the code before the fixes needed 10 to 90 times it. On SQLite always; on PostgreSQL too when
//! `SKYPORT_PG_URL` is set.

use super::common;

use std::time::{Duration, Instant};

use common::{client, client_with_token, config, serve, small_demo};
use serde_json::{json, Map, Value};
use skyport_store::postgres::scratch::{test_url, ScratchDatabase};

const MIB: u64 = 1024 * 1024;

/// How far `server`'s memory rose while it refused a multipart POST of `fields` to `url` with a
/// 400 whose message says `says`; the server is stopped after.
async fn refused(
    server: common::Server,
    url: &str,
    fields: &[(&str, Option<&str>, &[u8])],
    says: &str,
) -> u64 {
    let growth = peak_growth(server.child.id(), async {
        let (status, body) = post_multipart(url, fields).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(says), "{says:?} in {body}");
    })
    .await;
    drop(server);
    growth
}

/// A `/proc/PID/status` field, bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kb * 1024
}

/// How far the server's resident memory rose above where it was while `request` ran.
async fn peak_growth<F: std::future::Future<Output = ()>>(pid: u32, request: F) -> u64 {
    // Writing 5 resets the peak (VmHWM) to the current resident size.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak");
    let before = status_bytes(pid, "VmRSS:");
    request.await;
    status_bytes(pid, "VmHWM:").saturating_sub(before)
}

/// A multipart/form-data body of text fields and files.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "skyport-memory-test-boundary";
    let mut body = Vec::new();
    for (name, file, content) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Sends a multipart POST; its status and body.
async fn post_multipart(url: &str, fields: &[(&str, Option<&str>, &[u8])]) -> (u16, String) {
    let (content_type, body) = multipart(fields);
    let r = client()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// A VOTable of `fields` columns and `rows` empty rows (each row's cells all missing).
fn wide_empty_votable(fields: usize, rows: usize) -> Vec<u8> {
    let mut v = String::from(
        r#"<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>"#,
    );
    for i in 0..fields {
        v.push_str(&format!(
            r#"<FIELD name="c{i}" datatype="char" arraysize="*"/>"#
        ));
    }
    v.push_str("<DATA><TABLEDATA>");
    v.push_str(&"<TR/>".repeat(rows));
    v.push_str("</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>");
    v.into_bytes()
}

/// A one-column VOTable of one row.
fn small_votable() -> Vec<u8> {
    br#"<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE><FIELD name="a" datatype="int"/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#.to_vec()
}

/// The ConsDB bulk body of `rows` LSSTCam exposures.
fn bulk_body(rows: i64) -> Vec<u8> {
    let day_obs = 20251203;
    let mut obs_dict = Map::new();
    for seq in 1..=rows {
        obs_dict.insert(
            (day_obs * 100_000 + seq).to_string(),
            json!({
                "exposure_name": format!("MC_O_{day_obs}_{seq:06}"),
                "controller": "O",
                "day_obs": day_obs,
                "seq_num": seq,
                "band": "r",
                "airmass": 1.2,
                "s_ra": 10.0,
                "s_dec": -30.0,
                "obs_start": "2025-12-04T03:04:05.123456",
                "physical_filter": "r_57",
                "exp_time": 30.0,
                "img_type": "science",
            }),
        );
    }
    serde_json::to_vec(&json!({ "obs_dict": obs_dict })).expect("json")
}

/// Every case, each against a fresh server of `config` (memory an earlier case freed but the
/// allocator kept would hide a later case's growth).
async fn every_case(config: &std::path::Path, base: &str) {
    let tap = format!("{base}/tap/sync");
    let fresh = || serve(config, base.to_string());
    let mut report = Vec::new();
    let mut check = |case: &str, growth: u64, input: u64, bound: u64| {
        report.push(format!(
            "{case}: input {:.1} MiB, peak growth {:.1} MiB, bound {:.1} MiB",
            input as f64 / MIB as f64,
            growth as f64 / MIB as f64,
            bound as f64 / MIB as f64
        ));
        assert!(growth <= bound, "{}", report.join("\n"));
    };

    // 1. 16 MiB of spaces as ADQL: refused by length before the tokenizer sees it (which
    // used to cost 90 bytes per byte).
    let spaces = " ".repeat(16 * MIB as usize);
    let query = format!("SELECT {spaces} 1 FROM ivoa.ObsCore");
    let growth = refused(
        fresh().await,
        &tap,
        &[
            ("REQUEST", None, b"doQuery"),
            ("LANG", None, b"ADQL"),
            ("QUERY", None, query.as_bytes()),
        ],
        "bytes long",
    )
    .await;
    check(
        "ADQL of spaces",
        growth,
        query.len() as u64,
        3 * query.len() as u64 + 32 * MIB,
    );

    // 2. An upload of 1,000 columns by 20,000 empty rows (135 kB that would be 20 million
    // cells): refused by its cell budget as it is read.
    let wide = wide_empty_votable(1000, 20_000);
    let growth = refused(
        fresh().await,
        &tap,
        &[
            ("REQUEST", None, b"doQuery"),
            ("LANG", None, b"ADQL"),
            ("QUERY", None, b"SELECT * FROM TAP_UPLOAD.t"),
            ("UPLOAD", None, b"t,param:t"),
            ("t", Some("t.xml"), &wide),
        ],
        "more cells",
    )
    .await;
    check(
        "1,000 × 20,000 empty upload",
        growth,
        wide.len() as u64,
        32 * MIB,
    );

    // 3. 50 upload tables in one request: refused before any is read.
    let table = small_votable();
    let names: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    let upload = names
        .iter()
        .map(|n| format!("{n},param:{n}"))
        .collect::<Vec<_>>()
        .join(";");
    let mut fields: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("REQUEST", None, b"doQuery"),
        ("LANG", None, b"ADQL"),
        ("QUERY", None, b"SELECT * FROM TAP_UPLOAD.t0"),
        ("UPLOAD", None, upload.as_bytes()),
    ];
    for n in &names {
        fields.push((n.as_str(), Some("t.xml"), &table));
    }
    let growth = refused(fresh().await, &tap, &fields, "at most 16 tables").await;
    check(
        "50 upload tables",
        growth,
        50 * table.len() as u64,
        16 * MIB,
    );

    // 4. 80,000 upload names: refused quickly (the duplicate check was quadratic: 39 s).
    let many: String = (0..80_000)
        .map(|i| format!("n{i},http://example.invalid/{i}"))
        .collect::<Vec<_>>()
        .join(";");
    let server = fresh().await;
    let started = Instant::now();
    let growth = refused(
        server,
        &tap,
        &[
            ("REQUEST", None, b"doQuery"),
            ("LANG", None, b"ADQL"),
            ("QUERY", None, b"SELECT 1 FROM ivoa.ObsCore"),
            ("UPLOAD", None, many.as_bytes()),
        ],
        "at most 16 tables",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "80,000 upload names took {:?}",
        started.elapsed()
    );
    check(
        "80,000 upload names",
        growth,
        many.len() as u64,
        8 * many.len() as u64 + 16 * MIB,
    );

    // 5. A STAMPS table of 500,000 rows to a sync cutout (at most 1,000): refused as it is
    // read (a refused million-row table used to cost 458 MB).
    let mut stamps = String::from("ra,dec,size\n");
    for i in 0..500_000 {
        stamps.push_str(&format!("{}.5,-{}.25,10\n", i % 360, i % 80));
    }
    let growth = refused(
        fresh().await,
        &format!("{base}/soda/sync"),
        &[
            ("ID", None, b"ivo://skyport.demo/anything"),
            ("STAMPS", Some("stamps.csv"), stamps.as_bytes()),
        ],
        "more than 1000 rows",
    )
    .await;
    check(
        "500,000-row STAMPS",
        growth,
        stamps.len() as u64,
        3 * stamps.len() as u64 + 16 * MIB,
    );

    // 6. A ConsDB bulk insert of 60,000 rows (about 20 MB): rows are kept as text and
    // written in batches (a 98 MB body used to peak at 3 GB).
    let body = bulk_body(60_000);
    let writer = client_with_token(config, "write:consdb,read:tap");
    let server = fresh().await;
    let growth = peak_growth(server.child.id(), async {
        let r = writer
            .post(format!("{base}/consdb/insert/lsstcam/exposure"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("insert");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{status}: {text}");
        let answer: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(answer["obs_id"].as_array().map(Vec::len), Some(60_000));
    })
    .await;
    drop(server);
    check(
        "60,000-row ConsDB bulk insert",
        growth,
        body.len() as u64,
        4 * body.len() as u64 + 48 * MIB,
    );
    eprintln!("{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_cost_memory_linear_in_their_size_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let demo = small_demo(dir.path());
    let (config_path, base) = config(&demo, "memory", "sqlite = \"memory.sqlite\"");
    every_case(&config_path, &base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_cost_memory_linear_in_their_size_on_postgres() {
    let Some(url) = test_url("memory") else {
        return;
    };
    let scratch = ScratchDatabase::create(&url, "memory")
        .await
        .expect("scratch");
    let dir = tempfile::tempdir().expect("dir");
    let demo = small_demo(dir.path());
    let (config_path, base) = config(&demo, "memory", &format!("url = {:?}", scratch.url));
    every_case(&config_path, &base).await;
}
