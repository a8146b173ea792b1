//! `skyport bench consdb`: the ConsDB REST API over loopback, as pipelines use it. Bulk
//! inserts and bulk upserts of LSSTCam exposure rows (rows/s), against the same rows written
//! one request per row (the baseline: what a client without the bulk endpoint, or pqserver's
//! per-key flex commits, costs); the latency of single inserts; and header ingest (files/s)
//! of LSSTCam header dumps.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use skyport_store::{PostgresStore, SqliteStore, Store};

use crate::bench_tap::{latency_summary, BenchServer};

/// Options of the ConsDB benchmark.
pub struct ConsDbBench {
    /// Rows written in bulk (and again upserted).
    pub rows: usize,
    /// Rows per bulk request.
    pub batch: usize,
    /// Single-row requests timed.
    pub singles: usize,
    /// Work directory (SQLite).
    pub dir: PathBuf,
    /// A PostgreSQL database to run on instead of SQLite in `dir`.
    pub database: Option<String>,
    /// Header dumps ingested for the header-ingest figure.
    pub headers: usize,
}

/// Writes `count` LSSTCam header dumps (flat YAML, the cards of the demo's exposures) for
/// day `day_obs`, one per exposure.
fn write_headers(dir: &std::path::Path, day_obs: i64, count: usize) -> Result<Vec<PathBuf>> {
    use skyport_fits::HeaderValue;
    std::fs::create_dir_all(dir)?;
    let base = hifitime::Epoch::from_gregorian_str("2025-12-02T01:00:00.000 TAI")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut files = Vec::with_capacity(count);
    for k in 0..count {
        let seq = k as i64 + 1;
        let start = base + hifitime::Unit::Second * (35 * k as i64);
        let (ra, dec) = ((k as f64 * 7.3) % 360.0, -60.0 + (k as f64 * 1.7) % 50.0);
        let s = |v: &str| HeaderValue::Str(v.to_string());
        let mut cards = vec![
            crate::demo::card("INSTRUME", s("LSSTCam"), ""),
            crate::demo::card("TELESCOP", s("Rubin:Simonyi"), ""),
            crate::demo::card("OBSID", s(&format!("MC_O_{day_obs}_{seq:06}")), ""),
            crate::demo::card("DAYOBS", s(&day_obs.to_string()), ""),
            crate::demo::card("SEQNUM", HeaderValue::Int(seq), ""),
            crate::demo::card("CONTRLLR", s("O"), ""),
            crate::demo::card("IMGTYPE", s("OBJECT"), ""),
            crate::demo::card("OBJECT", s("lowdust"), ""),
            crate::demo::card("PROGRAM", s("BLOCK-365"), ""),
            crate::demo::card("FILTER", s("r_57"), ""),
            crate::demo::card("FILTBAND", s("r"), ""),
            crate::demo::card("EXPTIME", HeaderValue::Real(30.0), ""),
            crate::demo::card("DARKTIME", HeaderValue::Real(30.4), ""),
            crate::demo::card("RA", HeaderValue::Real(ra), ""),
            crate::demo::card("DEC", HeaderValue::Real(dec), ""),
            crate::demo::card("ROTPA", HeaderValue::Real(12.5), ""),
        ];
        cards.extend(crate::demo::observing_cards(ra, dec, start, k));
        let text: String = cards
            .iter()
            .map(|c| {
                let v = c
                    .value
                    .as_ref()
                    .map_or("null".into(), crate::demo::yaml_value);
                format!("{}: {v}\n", c.key)
            })
            .collect();
        let path = dir.join(format!("MC_O_{day_obs}_{seq:06}.yaml"));
        std::fs::write(&path, text)?;
        files.push(path);
    }
    Ok(files)
}

/// An exposure row: the columns header ingest fills for a science exposure.
fn exposure(day_obs: i64, seq: i64, airmass: f64) -> Value {
    json!({
        "exposure_id": day_obs * 100_000 + seq,
        "exposure_name": format!("MC_O_{day_obs}_{seq:06}"),
        "controller": "O",
        "day_obs": day_obs,
        "seq_num": seq,
        "physical_filter": "r_57",
        "band": "r",
        "s_ra": (seq as f64 * 0.37) % 360.0,
        "s_dec": -30.0 + (seq as f64 * 0.11) % 60.0,
        "sky_rotation": 12.5,
        "airmass": airmass,
        "exp_time": 30.0,
        "dark_time": 30.4,
        "obs_start": "2025-12-02T03:04:05.123456",
        "obs_start_mjd": 61011.127837,
        "img_type": "science",
        "science_program": "BLOCK-365",
        "target_name": "lowdust",
    })
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<()> {
    let resp = client.post(url).json(body).send().await?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!("{url}: {status}: {}", resp.text().await.unwrap_or_default());
    }
    Ok(())
}

async fn bulk(
    client: &reqwest::Client,
    base: &str,
    day_obs: i64,
    rows: usize,
    batch: usize,
    airmass: f64,
    update: bool,
) -> Result<Duration> {
    let started = Instant::now();
    let url = format!(
        "{base}/consdb/insert/lsstcam/exposure{}",
        if update { "?u=1" } else { "" }
    );
    for first in (0..rows).step_by(batch.max(1)) {
        let mut obs_dict = Map::new();
        for seq in first..(first + batch).min(rows) {
            let seq = seq as i64 + 1;
            obs_dict.insert(
                (day_obs * 100_000 + seq).to_string(),
                exposure(day_obs, seq, airmass),
            );
        }
        post(client, &url, &json!({ "obs_dict": obs_dict })).await?;
    }
    Ok(started.elapsed())
}

/// Runs the benchmark and prints its figures.
pub async fn run(b: ConsDbBench) -> Result<()> {
    std::fs::create_dir_all(&b.dir)?;
    let schemas = skyport_consdb::schemas::builtin();
    let (store, backend): (Arc<dyn Store>, &str) = match &b.database {
        Some(url) => (
            Arc::new(PostgresStore::connect(url, 4).await?),
            "PostgreSQL",
        ),
        None => {
            let db = b.dir.join("bench-consdb.sqlite");
            let _ = std::fs::remove_file(&db);
            (Arc::new(SqliteStore::open(&db, 4)?), "SQLite")
        }
    };
    let mut all = skyport_schema::builtin_schemas();
    all.extend(schemas.iter().cloned());
    store.migrate(&all).await.context("migrating")?;
    let server = BenchServer::start(Arc::clone(&store), Vec::new(), schemas, &b.dir).await?;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    // Fresh keys on every run (a PostgreSQL database is kept between runs).
    let day_obs = 30_000_000 + (chrono::Utc::now().timestamp() % 1_000_000) * 10;
    println!(
        "ConsDB REST on {backend}: {} LSSTCam exposure rows ({} columns) in requests of {}",
        b.rows,
        exposure(0, 0, 0.0).as_object().map_or(0, |m| m.len()),
        b.batch
    );
    let t = bulk(&client, &base, day_obs, b.rows, b.batch, 1.2, false).await?;
    let insert_rate = b.rows as f64 / t.as_secs_f64();
    println!(
        "  bulk insert (u=0): {insert_rate:.0} rows/s ({:.2} s)",
        t.as_secs_f64()
    );
    let t = bulk(&client, &base, day_obs, b.rows, b.batch, 1.3, true).await?;
    let upsert_rate = b.rows as f64 / t.as_secs_f64();
    println!(
        "  bulk upsert of existing rows (u=1, every row a new history version): {upsert_rate:.0} rows/s ({:.2} s)",
        t.as_secs_f64()
    );
    let t = bulk(&client, &base, day_obs + 1, b.rows, b.batch, 1.2, true).await?;
    let new_rate = b.rows as f64 / t.as_secs_f64();
    println!(
        "  bulk upsert of new rows (u=1): {new_rate:.0} rows/s ({:.2} s)",
        t.as_secs_f64()
    );

    let mut inserts = Vec::with_capacity(b.singles);
    let single_day = day_obs + 2;
    for seq in 1..=b.singles as i64 {
        let started = Instant::now();
        post(
            &client,
            &format!("{base}/consdb/insert/lsstcam/exposure/by_seq_num/{single_day}/{seq}"),
            &json!({ "values": exposure(single_day, seq, 1.2) }),
        )
        .await?;
        inserts.push(started.elapsed());
    }
    let single_total: Duration = inserts.iter().sum();
    let single_rate = b.singles as f64 / single_total.as_secs_f64();
    inserts.sort();
    println!(
        "  single inserts (by_seq_num, one row per request): {single_rate:.0} rows/s; {}",
        latency_summary(&inserts)
    );
    let mut updates = Vec::with_capacity(b.singles);
    for seq in 1..=b.singles as i64 {
        let started = Instant::now();
        post(
            &client,
            &format!("{base}/consdb/insert/lsstcam/exposure/by_seq_num/{single_day}/{seq}?u=1"),
            &json!({ "values": { "airmass": 1.4 } }),
        )
        .await?;
        updates.push(started.elapsed());
    }
    updates.sort();
    println!(
        "  single updates (u=1, one column): {}",
        latency_summary(&updates)
    );
    println!(
        "  bulk insert is {:.1}× the rate of one request per row",
        insert_rate / single_rate
    );
    if b.headers > 0 {
        let header_day = day_obs + 3;
        let files = write_headers(&b.dir.join("headers"), header_day, b.headers)?;
        let started = Instant::now();
        let outcome = crate::consdb_cmd::ingest_headers(
            Arc::clone(&store),
            &skyport_consdb::schemas::builtin(),
            "lsstcam",
            &files,
            None,
        )
        .await?;
        let t = started.elapsed();
        if !outcome.skipped.is_empty() {
            bail!(
                "{} headers were skipped: {:?}",
                outcome.skipped.len(),
                outcome.skipped.first()
            );
        }
        println!(
            "  header ingest (read, translate with sky transforms, upsert): {} LSSTCam header dumps in {:.2} s = {:.0} files/s",
            files.len(),
            t.as_secs_f64(),
            files.len() as f64 / t.as_secs_f64()
        );
    }
    server.stop().await;
    Ok(())
}
