//! `skyport bench tap`: sync TAP or SIA cone searches, or DataLink lookups, from concurrent
//! clients over loopback against an ObsCore table of synthetic images (a million by
//! default), reporting throughput, latency percentiles and the request timed.
//!
//! TAP and SIA time two cones from the same positions: one of a fixed radius, whose answer
//! grows with the table, and one whose radius is chosen from the table size so that it is
//! expected to return a fixed number of rows; runs at 1e6 and 1e7 rows then compare both the
//! cost of bigger answers and the cost of finding the same answer in a bigger table.
//!
//! The table is filled directly with SQL (positions uniform on the sphere, a 0.2° square
//! footprint each) because ingesting a million FITS files would measure ingest, not the
//! services. Rows are generated as they are written, in batches, so memory does not grow
//! with the table. The spatial-index triggers run as for ingested rows. The first
//! [`FILE_ROWS`] images also get file and HDU rows (image, mask, variance), so DataLink finds
//! them and lists their planes. An SQLite archive's WAL is checkpointed and truncated after
//! the fill and at the end of the run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use skyport_server::{app, serve, AppState, Limits, ServerSettings};
use skyport_store::{PostgresStore, SqliteStore, Statement, Store, Value};

/// Images that get file and HDU rows, for DataLink.
pub const FILE_ROWS: usize = 100_000;

/// The service a benchmark run queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// `/tap/sync` with an ADQL cone search (POST).
    Tap,
    /// `/sia/query?POS=CIRCLE …` (GET).
    Sia,
    /// `/datalink/links?ID=…` for one random image (GET).
    Datalink,
    /// `/tap/sync` with `SELECT TOP 1 obs_id FROM ivoa.ObsCore`, the same query each time
    /// (GET): the per-request cost of the TAP path with next to no rows.
    Top1,
}

/// Whether the benchmark runs with the access layer at work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthBench {
    /// Anonymous, no data rights.
    Off,
    /// A member's API token on every request and rights filtering, with the default quotas
    /// (no request rate limit): what the access layer's speed target measures.
    On,
    /// As `On`, with every request also counted against a request-rate quota.
    Rated,
}

/// Which client sends the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Load {
    /// wrk when it is installed, else the built-in client.
    Auto,
    /// wrk: two threads, keep-alive connections, in a process of its own (the client the
    /// service goals are stated for).
    Wrk,
    /// The built-in client (reqwest, in the server's process): it checks every answer, and
    /// its own work shares the cores with the server's.
    Builtin,
}

/// Options of the TAP benchmark.
pub struct TapBench {
    /// Which client sends the load.
    pub load: Load,
    /// With or without the access layer.
    pub auth: AuthBench,
    /// The service.
    pub service: Service,
    /// ObsCore rows.
    pub rows: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds of measurement per figure.
    pub seconds: u64,
    /// Cone radius, degrees.
    pub radius: f64,
    /// Work directory; an archive already there with enough rows is reused.
    pub dir: PathBuf,
    /// A PostgreSQL database to run on instead of SQLite in `dir`.
    pub database: Option<String>,
    /// DataLink IDs per request (more than one: POSTed as repeated `ID` parameters).
    pub ids: usize,
    /// Rows the second cone is expected to return (its radius follows from the table size).
    pub cone_rows: f64,
    /// SQLite: MiB of the database file the readers map (0: none).
    pub sqlite_mmap_mb: u64,
}

/// One synthetic ObsCore row: a position uniform on the sphere (|dec| ≤ 89°), a 0.2° square
/// footprint, a time; the same sequence for a given seed on every backend.
struct Synthetic {
    rng: rand_chacha::ChaCha8Rng,
}

/// The fields of a synthetic row.
struct SyntheticRow {
    id: String,
    ra: f64,
    dec: f64,
    region: String,
    t: f64,
}

impl Synthetic {
    fn new() -> Synthetic {
        Synthetic {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(139),
        }
    }

    /// The `n`-th row (rows must be taken in order).
    fn row(&mut self, n: usize) -> SyntheticRow {
        let (ra, dec) = loop {
            let ra: f64 = self.rng.random::<f64>() * 360.0;
            let dec = (2.0 * self.rng.random::<f64>() - 1.0).asin().to_degrees();
            if dec.abs() <= 89.0 {
                break (ra, dec);
            }
        };
        let (h, d) = (0.1, 0.1 / dec.to_radians().cos());
        // DALI orientation: along the bottom edge RA decreases.
        let region = format!(
            "POLYGON ICRS {:.6} {:.6} {:.6} {:.6} {:.6} {:.6} {:.6} {:.6}",
            (ra + d).rem_euclid(360.0),
            dec - h,
            (ra - d).rem_euclid(360.0),
            dec - h,
            (ra - d).rem_euclid(360.0),
            dec + h,
            (ra + d).rem_euclid(360.0),
            dec + h
        );
        let t = 60000.0 + self.rng.random::<f64>() * 1000.0;
        SyntheticRow {
            id: format!("bench/{n:07}"),
            ra,
            dec,
            region,
            t,
        }
    }
}

/// Rows per SQLite transaction while filling. Each commit lets SQLite checkpoint the WAL and
/// start it again from its beginning, so the WAL holds one batch's pages, not the whole
/// table's (a 1e7-row fill in one transaction would grow it to the database's size, ~6 GB),
/// and an interrupted fill keeps the batches already committed. Not smaller: positions are
/// random, so every batch dirties most leaf pages of the position, time and R*-tree indexes,
/// and each commit writes them again, a cost that grows with the table (a fresh 1e6-row fill
/// took 47.8 s in batches of 100,000 and 42.9 s in one).
const FILL_BATCH: usize = 1_000_000;

/// The page cache of the filling connection, KiB: the B-tree and R*-tree pages that random
/// positions touch stay in memory instead of being re-read for every row of a large table.
const FILL_CACHE_KIB: i64 = 256 * 1024;

/// Adds synthetic rows to the SQLite archive at `path` until it holds `rows`, in batches of
/// [`FILL_BATCH`] generated as they are inserted (memory does not grow with `rows`); prints
/// the insert rate. Returns the rows the table holds, more than `rows` when it held more.
fn fill(path: &Path, rows: usize) -> Result<usize> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // synchronous NORMAL: a WAL database stays consistent; only the last batch may be lost
    // on a crash, and a rerun adds it again. temp_store MEMORY: each INSERT's triggers touch
    // more pages than the 64 KiB a statement journal keeps in memory, and its spill to a temp
    // file wrote ~800 MB/s (two thirds of the fill's time went to system calls).
    conn.execute_batch(&format!(
        "PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{FILL_CACHE_KIB};"
    ))?;
    skyport_store::sqlite_functions::register(&conn)?;
    let have: i64 = conn.query_row("SELECT COUNT(*) FROM \"ivoa.ObsCore\"", [], |r| r.get(0))?;
    let have = usize::try_from(have)?;
    if have >= rows {
        eprintln!("reusing {have} ObsCore rows in {}", path.display());
        return Ok(have);
    }
    let started = Instant::now();
    let mut synthetic = Synthetic::new();
    for n in 0..have {
        synthetic.row(n);
    }
    let mut n = have;
    while n < rows {
        let end = (n + FILL_BATCH).min(rows);
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO \"ivoa.ObsCore\" (obs_publisher_did, obs_id, obs_collection, dataproduct_type, calib_level,
                   s_ra, s_dec, s_fov, s_region, t_min, t_max, t_exptime, em_min, em_max, access_format)
                 VALUES (?1, ?2, 'bench', 'image', 1, ?3, ?4, 0.28, ?5, ?6, ?6 + 0.0003472, 30, 5.4e-7, 7.0e-7, 'application/fits')",
            )?;
            for k in n..end {
                let r = synthetic.row(k);
                insert.execute(rusqlite::params![
                    format!("ivo://bench/bench?{}", r.id),
                    r.id,
                    r.ra,
                    r.dec,
                    r.region,
                    r.t
                ])?;
            }
        }
        tx.commit()?;
        n = end;
        if n.is_multiple_of(1_000_000) && n < rows {
            let s = started.elapsed().as_secs_f64();
            eprintln!("  {n} rows ({s:.0} s, {:.0} rows/s)", (n - have) as f64 / s);
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "INSERT into ivoa.ObsCore (with its B-tree and R*-tree indexes, batches of {FILL_BATCH}): {} rows in {took:.1} s = {:.0} rows/s",
        rows - have,
        (rows - have) as f64 / took
    );
    Ok(rows)
}

/// Checkpoints the WAL of the SQLite database at `db` into the database and truncates it
/// (`PRAGMA wal_checkpoint(TRUNCATE)`), so a benchmark archive left on disk is one file, not
/// a database plus hundreds of MB of WAL; prints and returns the WAL's size afterwards.
///
/// The store has no maintenance call for this, and the bench already writes the table through
/// its own connection, so the checkpoint does too. It waits (up to the busy timeout) for
/// readers of older snapshots; one it still could not finish is reported, not an error.
pub fn checkpoint_wal(db: &Path) -> Result<u64> {
    let conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let (busy, wal_frames, checkpointed): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    drop(conn);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    // Absent when the last connection closed and SQLite removed it: nothing left behind.
    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if busy != 0 {
        println!(
            "WAL checkpoint of {} incomplete (busy; {checkpointed} of {wal_frames} frames): {} is {size} bytes",
            db.display(),
            wal.display()
        );
    } else {
        println!(
            "WAL checkpointed and truncated: {} is {size} bytes",
            wal.display()
        );
    }
    Ok(size)
}

/// The same synthetic rows in a PostgreSQL archive, written with COPY in batches of 100,000
/// (the GiST and B-tree indexes are maintained as for any insert); prints the COPY rate.
/// Returns the rows the table holds, as [`fill`] does.
async fn fill_postgres(store: &PostgresStore, rows: usize) -> Result<usize> {
    let have = usize::try_from(store.count("ivoa", "ObsCore").await?)?;
    if have >= rows {
        eprintln!("reusing {have} ObsCore rows in {}", store.target());
        return Ok(have);
    }
    let columns: Vec<String> = [
        "obs_publisher_did",
        "obs_id",
        "obs_collection",
        "dataproduct_type",
        "calib_level",
        "s_ra",
        "s_dec",
        "s_fov",
        "s_region",
        "t_min",
        "t_max",
        "t_exptime",
        "em_min",
        "em_max",
        "access_format",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    let mut synthetic = Synthetic::new();
    for n in 0..have {
        synthetic.row(n);
    }
    let started = Instant::now();
    let mut n = have;
    while n < rows {
        let end = (n + 100_000).min(rows);
        let batch: Vec<Vec<Value>> = (n..end)
            .map(|k| {
                let r = synthetic.row(k);
                vec![
                    Value::Text(format!("ivo://bench/bench?{}", r.id)),
                    Value::Text(r.id),
                    Value::Text("bench".into()),
                    Value::Text("image".into()),
                    Value::Int(1),
                    Value::Float(r.ra),
                    Value::Float(r.dec),
                    Value::Float(0.28),
                    Value::Text(r.region),
                    Value::Float(r.t),
                    Value::Float(r.t + 0.0003472),
                    Value::Float(30.0),
                    Value::Float(5.4e-7),
                    Value::Float(7.0e-7),
                    Value::Text("application/fits".into()),
                ]
            })
            .collect();
        store
            .insert_rows("ivoa", "ObsCore", columns.clone(), batch)
            .await?;
        n = end;
        if n.is_multiple_of(1_000_000) || n == rows {
            let s = started.elapsed().as_secs_f64();
            eprintln!(
                "  {n} rows ({s:.0} s, COPY {:.0} rows/s)",
                (n - have) as f64 / s
            );
        }
    }
    let copy = started.elapsed().as_secs_f64();
    println!(
        "COPY into ivoa.ObsCore (with its GiST and B-tree indexes): {} rows in {copy:.1} s = {:.0} rows/s",
        rows - have,
        (rows - have) as f64 / copy
    );
    store.analyze().await?;
    Ok(rows)
}

/// The HDUs of every file row: index, kind, role and EXTNAME.
const FILE_HDUS: [(i64, &str, &str, Option<&str>); 4] = [
    (0, "empty", "other", None),
    (1, "image", "image", Some("IMAGE")),
    (2, "image", "mask", Some("MASK")),
    (3, "image", "variance", Some("VARIANCE")),
];

/// File and HDU rows for the first [`FILE_ROWS`] images (skipped when already there).
fn fill_files(path: &Path) -> Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let have: i64 = conn.query_row("SELECT COUNT(*) FROM \"skyport.image_file\"", [], |r| {
        r.get(0)
    })?;
    if have > 0 {
        return Ok(());
    }
    let started = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut file = tx.prepare(
            "INSERT INTO \"skyport.image_file\" (obs_publisher_did, obs_collection, obs_id, root_name, rel_path,
               file_size, content_sha256, science_hdu, ingested_at)
             SELECT obs_publisher_did, obs_collection, obs_id, 'bench', obs_id || '.fits', 12000000,
               printf('%064d', rowid), 1, '2026-01-01T00:00:00' FROM \"ivoa.ObsCore\" ORDER BY rowid LIMIT ?1",
        )?;
        file.execute([FILE_ROWS as i64])?;
        for (index, kind, role, extname) in FILE_HDUS {
            tx.execute(
                "INSERT INTO \"skyport.image_hdu\" (obs_publisher_did, hdu_index, kind, role, extname,
                   naxis1, naxis2, bitpix, has_wcs, header)
                 SELECT obs_publisher_did, ?1, ?2, ?3, ?4, 4096, 4096, -32, ?1 > 0, '' FROM \"skyport.image_file\"",
                rusqlite::params![index, kind, role, extname],
            )?;
        }
    }
    tx.commit()?;
    eprintln!(
        "added file and HDU rows for {FILE_ROWS} images in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// [`fill_files`] in a PostgreSQL archive (without these rows DataLink finds no image there):
/// the same rows, made from the ObsCore rows by `INSERT … SELECT` in one transaction.
async fn fill_files_postgres(store: &PostgresStore) -> Result<()> {
    if store.count("skyport", "image_file").await? > 0 {
        return Ok(());
    }
    let started = Instant::now();
    let table = |schema: &str, name: &str| {
        skyport_store::ddl::table_name(skyport_store::Dialect::Postgres, schema, name)
    };
    let (file, hdu, obscore) = (
        table("skyport", "image_file"),
        table("skyport", "image_hdu"),
        table("ivoa", "ObsCore"),
    );
    // The IDs are zero-padded row numbers, so their order is the order the rows were made
    // in, as SQLite's rowid is.
    let mut statements = vec![Statement::new(
        format!(
            "INSERT INTO {file} (obs_publisher_did, obs_collection, obs_id, root_name, rel_path,
               file_size, content_sha256, science_hdu, ingested_at)
             SELECT obs_publisher_did, obs_collection, obs_id, 'bench', obs_id || '.fits', 12000000,
               lpad(substr(obs_id, 7), 64, '0'), 1, TIMESTAMP '2026-01-01 00:00:00'
             FROM {obscore} ORDER BY obs_publisher_did LIMIT {FILE_ROWS}"
        ),
        Vec::new(),
    )];
    for (index, kind, role, extname) in FILE_HDUS {
        // Constants of this file, written into the SQL: no parameter types to agree on.
        let extname = extname.map_or("NULL".to_string(), |e| format!("'{e}'"));
        statements.push(Statement::new(
            format!(
                "INSERT INTO {hdu} (obs_publisher_did, hdu_index, kind, role, extname,
                   naxis1, naxis2, bitpix, has_wcs, header)
                 SELECT obs_publisher_did, {index}, '{kind}', '{role}', {extname}, 4096, 4096, -32,
                   {}, '' FROM {file}",
                index > 0
            ),
            Vec::new(),
        ));
    }
    store.write("bench", statements).await?;
    // Autovacuum may not have looked at the new tables yet: without statistics the planner
    // may scan them whole for every DataLink ID.
    store.analyze().await?;
    eprintln!(
        "added file and HDU rows for {FILE_ROWS} images in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The `p` quantile (0–1) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `p50 … ms, p90 … ms, p99 … ms, max … ms` of sorted latencies.
pub fn latency_summary(sorted: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.9)),
        ms(percentile(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default())
    )
}

/// One benchmark request.
#[derive(Clone)]
enum Request {
    /// A TAP sync query, POSTed.
    Form(String),
    /// A path and query string, fetched with GET.
    Get(String),
    /// A path and an urlencoded body, POSTed.
    Post(String, String),
}

impl Request {
    /// The request as wrk sends it.
    fn to_wrk(&self) -> crate::bench_wrk::WrkRequest {
        use crate::bench_wrk::WrkRequest;
        match self {
            Request::Form(query) => WrkRequest {
                method: "POST",
                path: "/tap/sync".into(),
                body: Some(format!(
                    "LANG=ADQL&QUERY={}",
                    form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
                )),
            },
            Request::Get(path) => WrkRequest {
                method: "GET",
                path: path.clone(),
                body: None,
            },
            Request::Post(path, body) => WrkRequest {
                method: "POST",
                path: path.clone(),
                body: Some(body.clone()),
            },
        }
    }

    /// The request as printed beside the figure timed with it: method, path and what it
    /// sends (a long body abbreviated, with its length).
    fn describe(&self) -> String {
        match self {
            Request::Form(query) => {
                format!("POST /tap/sync with form fields LANG=ADQL, QUERY={query}")
            }
            Request::Get(path) => format!("GET {path}"),
            Request::Post(path, body) => {
                format!("POST {path} with form body {}", abbreviate(body, 240))
            }
        }
    }
}

/// `text` whole when at most `max` bytes long; else its start, an ellipsis and its length, so
/// a printed request stays readable and still says how big it was.
pub fn abbreviate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}

async fn send(client: &reqwest::Client, base: &str, request: &Request) -> Result<String> {
    let response = match request {
        Request::Form(query) => {
            client
                .post(format!("{base}/tap/sync"))
                .form(&[("LANG", "ADQL"), ("QUERY", query.as_str())])
                .send()
                .await?
        }
        Request::Get(path) => client.get(format!("{base}{path}")).send().await?,
        Request::Post(path, body) => {
            client
                .post(format!("{base}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await?
        }
    };
    Ok(response.text().await?)
}

/// Side of the synthetic rows' square footprints, degrees.
const FOOTPRINT_SIDE: f64 = 0.2;

/// The whole sky, square degrees.
const SKY_SQUARE_DEGREES: f64 =
    4.0 * std::f64::consts::PI * (180.0 / std::f64::consts::PI) * (180.0 / std::f64::consts::PI);

/// Smallest cone radius used, degrees: below it a cone finds (nearly) nothing whatever the
/// table's size.
const MIN_RADIUS: f64 = 1e-4;

/// Rows a cone of `radius` degrees is expected to return from `rows` positions uniform on the
/// sphere (the 0.02 % beyond |dec| = 89° that the generator leaves out are ignored). TAP
/// counts positions inside the cone: a cap of 2π(1 − cos r) of the sphere's 4π. SIA counts
/// footprints the cone touches, i.e. positions within r of a footprint square of side s: an
/// area of s² + 4sr + πr² (flat sky, good at these sizes).
fn expected_rows(service: Service, rows: usize, radius: f64) -> f64 {
    let n = rows as f64;
    match service {
        Service::Sia => {
            let s = FOOTPRINT_SIDE;
            n * (s * s + 4.0 * s * radius + std::f64::consts::PI * radius * radius)
                / SKY_SQUARE_DEGREES
        }
        _ => n * (1.0 - radius.to_radians().cos()) / 2.0,
    }
}

/// The cone radius (degrees, rounded to 1e-6 so the printed request is the one sent) at which
/// [`expected_rows`] is `target`: as the table grows, this cone's answer stays the same size,
/// so what is measured is the cost of finding rows, not of sending more of them.
fn radius_for_rows(service: Service, rows: usize, target: f64) -> f64 {
    let fraction = (target / rows.max(1) as f64).min(1.0);
    let radius = match service {
        Service::Sia => {
            // π r² + 4 s r + (s² − A) = 0, the positive root; none when one footprint alone
            // already covers the target area (A ≤ s²).
            let (s, pi) = (FOOTPRINT_SIDE, std::f64::consts::PI);
            let area = fraction * SKY_SQUARE_DEGREES;
            let discriminant = 16.0 * s * s - 4.0 * pi * (s * s - area);
            (-4.0 * s + discriminant.max(0.0).sqrt()) / (2.0 * pi)
        }
        _ => (1.0 - 2.0 * fraction).acos().to_degrees(),
    };
    (radius.max(MIN_RADIUS) * 1e6).round() / 1e6
}

/// What the clients measured in one phase of a run.
struct Measured {
    /// Latencies, sorted.
    latencies: Vec<Duration>,
    /// `<TR>` rows in all answers.
    rows: usize,
    /// Seconds of measurement.
    elapsed: f64,
}

/// Runs `queries[c]` round-robin from client `c`, all at once, for `seconds`.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    seconds: u64,
    queries: Vec<Vec<Request>>,
) -> Result<Measured> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for queries in queries {
        let (client, base, stop) = (client.clone(), base.to_string(), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut rows, mut i) = (0usize, 0usize);
            while !stop.load(Ordering::Relaxed) && !queries.is_empty() {
                let q = &queries[i % queries.len()];
                i += 1;
                let t = Instant::now();
                let body = send(&client, &base, q).await?;
                latencies.push(t.elapsed());
                rows += rows_of(q, &body)?;
            }
            Ok::<_, anyhow::Error>((latencies, rows))
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut rows = 0;
    for t in tasks {
        let (l, r) = t.await??;
        latencies.extend(l);
        rows += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(Measured {
        latencies,
        rows,
        elapsed,
    })
}

/// The rows of `body`, `q`'s answer, or an error when it is not a whole VOTable or reports
/// an error.
fn rows_of(q: &Request, body: &str) -> Result<usize> {
    anyhow::ensure!(
        body.ends_with("</VOTABLE>\n") && !body.contains("ERROR") && !body.contains("Fault"),
        "bad answer to {}: {body}",
        q.describe()
    );
    Ok(body.matches("<TR>").count())
}

/// Runs the clients' `queries` through wrk for `b.seconds` (each with `token` as a bearer
/// token). wrk reads no answer, so a sample of the same requests is first sent, checked and
/// counted here: returns wrk's figures, the sample's size and the rows in it.
async fn measure_with_wrk(
    client: &reqwest::Client,
    base: &str,
    b: &TapBench,
    token: Option<&str>,
    queries: &[Vec<Request>],
) -> Result<(crate::bench_wrk::WrkFigures, usize, usize)> {
    let per_client = WRK_SAMPLE / queries.len().max(1);
    let mut sample = 0;
    let mut rows = 0;
    for q in queries.iter().flat_map(|q| q.iter().take(per_client)) {
        rows += rows_of(q, &send(client, base, q).await?)?;
        sample += 1;
    }
    // The clients' lists interleaved, as the built-in clients would send them.
    let longest = queries.iter().map(Vec::len).max().unwrap_or(0);
    let requests: Vec<crate::bench_wrk::WrkRequest> = (0..longest)
        .flat_map(|i| queries.iter().filter_map(move |q| q.get(i)))
        .map(Request::to_wrk)
        .collect();
    let (dir, base, seconds, clients) = (b.dir.clone(), base.to_string(), b.seconds, b.clients);
    let bearer = token.map(|t| format!("Bearer {t}"));
    let figures = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|v| ("Authorization", v))
            .into_iter()
            .collect();
        crate::bench_wrk::measure(&dir, &base, seconds, clients, &requests, &headers)
    })
    .await??;
    Ok((figures, sample, rows))
}

/// Requests whose answers are checked and counted before a wrk run (wrk reads none).
const WRK_SAMPLE: usize = 64;

/// Rows the cone of the density-chosen phase is expected to return, whatever the table size.
pub const CONE_ROWS_DEFAULT: f64 = 30.0;

/// One phase of a run: what it is called, its cone radius (TAP and SIA) and the rows it is
/// expected to return.
struct Phase {
    label: String,
    radius: f64,
    expected: Option<f64>,
}

/// Runs the benchmark and prints its figures.
pub async fn run(b: TapBench) -> Result<()> {
    std::fs::create_dir_all(&b.dir)?;
    // The table may hold more rows than asked for (a work directory or database filled by a
    // bigger run): figures, cone sizes and expectations are those of the rows it holds.
    let (store, backend, sqlite_db, table_rows): (Arc<dyn Store>, &str, Option<PathBuf>, usize) =
        match &b.database {
            Some(url) => {
                let store = PostgresStore::connect(url, b.clients.max(2)).await?;
                store
                    .migrate(&skyport_schema::builtin_schemas())
                    .await
                    .context("migrating the benchmark archive")?;
                let table_rows = fill_postgres(&store, b.rows).await?;
                fill_files_postgres(&store).await?;
                (Arc::new(store), "PostgreSQL", None, table_rows)
            }
            None => {
                let db = b.dir.join("bench-tap.sqlite");
                let store = SqliteStore::open_mapped(&db, b.clients.max(2), b.sqlite_mmap_mb)?;
                store
                    .migrate(&skyport_schema::builtin_schemas())
                    .await
                    .context("migrating the benchmark archive")?;
                let table_rows = tokio::task::spawn_blocking({
                    let db = db.clone();
                    let rows = b.rows;
                    move || {
                        let table_rows = fill(&db, rows)?;
                        fill_files(&db)?;
                        checkpoint_wal(&db)?;
                        Ok::<_, anyhow::Error>(table_rows)
                    }
                })
                .await??;
                let backend = if b.sqlite_mmap_mb > 0 {
                    "SQLite, its readers mapping the file (--sqlite-mmap-mb)"
                } else {
                    "SQLite"
                };
                (Arc::new(store), backend, Some(db), table_rows)
            }
        };
    let (rights, auth, token) = match b.auth {
        AuthBench::Off => (
            skyport_store::Rights::unrestricted(),
            Default::default(),
            None,
        ),
        AuthBench::On | AuthBench::Rated => {
            let accounts = skyport_store::Accounts::open(Arc::clone(&store)).await?;
            let (token, _) = skyport_server::access::tokens::issue(
                &accounts,
                skyport_server::access::tokens::TokenRequest {
                    user: "bench".into(),
                    scopes: vec!["read:tap".into(), "read:image".into()],
                    groups: vec!["team".into()],
                    expires: None,
                },
                "bench",
            )
            .await?;
            let mut auth = skyport_server::access::AuthSettings::default();
            if b.auth == AuthBench::Rated {
                // Counted, never refused.
                auth.quotas.default.requests_per_minute = u32::MAX;
            }
            let rights = skyport_store::Rights::new(
                [skyport_store::CollectionRights {
                    collection: "bench-private".into(),
                    groups: vec!["team".into()],
                    metadata_public: false,
                    data_public: false,
                }],
                Vec::new(),
            );
            (rights, auth, Some(token))
        }
    };
    let server =
        BenchServer::start_with(store, Vec::new(), Vec::new(), &b.dir, rights, auth).await?;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(b.clients)
        .default_headers(headers)
        .build()?;
    let base = server.base.clone();
    let service = b.service;
    let ids = b.ids.max(1);
    let id_rows = FILE_ROWS.min(table_rows).max(1);
    // One request: a POSTed TAP form, or a GET URL.
    let request = move |ra: f64, dec: f64, k: usize, radius: f64| -> Request {
        match service {
            Service::Tap => Request::Form(format!(
                "SELECT * FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra:.5}, {dec:.5}, {radius}))"
            )),
            Service::Sia => Request::Get(format!("/sia/query?POS=CIRCLE+{ra:.5}+{dec:.5}+{radius}")),
            Service::Datalink if ids > 1 => Request::Post(
                "/datalink/links".into(),
                (0..ids)
                    .map(|i| {
                        format!(
                            "ID=ivo%3A%2F%2Fbench%2Fbench%3Fbench%2F{:07}",
                            k.wrapping_add(i * 7919) % id_rows
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            ),
            Service::Datalink => Request::Get(format!(
                "/datalink/links?ID=ivo%3A%2F%2Fbench%2Fbench%3Fbench%2F{:07}",
                k % id_rows
            )),
            Service::Top1 => Request::Get(
                "/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY=SELECT%20TOP%201%20obs_id%20FROM%20ivoa.ObsCore".into(),
            ),
        }
    };
    // Warm-up: page cache and connections.
    for i in 0..20 {
        let body = send(
            &client,
            &base,
            &request(i as f64 * 17.0, -20.0, i * 7919, b.radius),
        )
        .await?;
        anyhow::ensure!(
            body.contains("QUERY_STATUS\" value=\"OK") && !body.contains("Fault"),
            "warm-up query failed: {body}"
        );
    }
    let phases = match service {
        Service::Tap | Service::Sia => {
            let fixed = Phase {
                label: format!("fixed radius {}°", b.radius),
                radius: b.radius,
                expected: Some(expected_rows(service, table_rows, b.radius)),
            };
            let radius = radius_for_rows(service, table_rows, b.cone_rows);
            let fixed_count = Phase {
                label: format!("radius {radius}° for ~{} rows", b.cone_rows),
                radius,
                expected: Some(expected_rows(service, table_rows, radius)),
            };
            vec![fixed, fixed_count]
        }
        Service::Datalink => vec![Phase {
            label: if ids > 1 {
                format!("{ids} IDs per request (POST)")
            } else {
                "one ID per request".to_string()
            },
            radius: b.radius,
            expected: None,
        }],
        Service::Top1 => vec![Phase {
            label: "the same query each time".to_string(),
            radius: b.radius,
            expected: None,
        }],
    };
    let what = match service {
        Service::Tap => "TAP sync cone",
        Service::Sia => "SIAv2 POS=CIRCLE",
        Service::Datalink => "DataLink",
        Service::Top1 => "TAP sync SELECT TOP 1",
    };
    println!(
        "{what} on {table_rows} ObsCore rows in {backend}{}, {} clients, {} s per figure, access layer {:?}{}",
        if table_rows > b.rows {
            format!(" (--rows {} asked; the table held more: use another --dir or database for a smaller one)", b.rows)
        } else {
            String::new()
        },
        b.clients,
        b.seconds,
        b.auth,
        if token.is_some() {
            " (every request with Authorization: Bearer <a member's API token>)"
        } else {
            ""
        }
    );
    let use_wrk = match b.load {
        Load::Wrk => {
            anyhow::ensure!(
                crate::bench_wrk::available(),
                "--load wrk: wrk is not installed (Debian package wrk)"
            );
            true
        }
        Load::Auto => crate::bench_wrk::available(),
        Load::Builtin => false,
    };
    println!(
        "  client: {}",
        if use_wrk {
            format!(
                "wrk -t2 -c{} (keep-alive), the requests below in turn",
                b.clients.max(2)
            )
        } else {
            format!(
                "built-in (reqwest in the server's process), {} connections",
                b.clients
            )
        }
    );
    let width = phases.iter().map(|p| p.label.len()).max().unwrap_or(0);
    for phase in &phases {
        // The same positions for every phase (one seed per client), so phases differ only in
        // their radius.
        let queries: Vec<Vec<Request>> = (0..b.clients)
            .map(|c| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(c as u64);
                (0..4096)
                    .map(|_| {
                        let ra = rng.random::<f64>() * 360.0;
                        let dec = (2.0 * rng.random::<f64>() - 1.0)
                            .asin()
                            .to_degrees()
                            .clamp(-88.0, 88.0);
                        request(ra, dec, rng.random::<u32>() as usize, phase.radius)
                    })
                    .collect()
            })
            .collect();
        let example = queries
            .first()
            .and_then(|q| q.first())
            .map(Request::describe)
            .unwrap_or_default();
        let expected = phase
            .expected
            .map(|e| format!(" (expected {e:.1})"))
            .unwrap_or_default();
        if use_wrk {
            let (f, sample, rows) =
                measure_with_wrk(&client, &base, &b, token.as_deref(), &queries).await?;
            anyhow::ensure!(
                f.errors == 0,
                "{} of wrk's requests failed ({})",
                f.errors,
                phase.label
            );
            println!(
                "  {:<width$} : {:>8.1} req/s ({} in {} s), p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms; {:.1} rows/answer in a sample of {sample}{expected}",
                phase.label,
                f.per_second,
                f.requests,
                b.seconds,
                f.p50_ms,
                f.p90_ms,
                f.p99_ms,
                rows as f64 / sample.max(1) as f64,
            );
        } else {
            let m = measure(&client, &base, b.seconds, queries).await?;
            let n = m.latencies.len();
            println!(
                "  {:<width$} : {:>8.1} req/s ({n} in {:.1} s), {}; {:.1} rows/answer{expected}",
                phase.label,
                n as f64 / m.elapsed,
                m.elapsed,
                latency_summary(&m.latencies),
                m.rows as f64 / n.max(1) as f64,
            );
        }
        println!("      request: {example}");
    }
    server.stop().await;
    if let Some(db) = sqlite_db {
        // Rated runs count requests in the database: what they wrote is checkpointed too.
        tokio::task::spawn_blocking(move || checkpoint_wal(&db)).await??;
    }
    Ok(())
}

/// A server on a loopback port for a benchmark.
pub struct BenchServer {
    /// Its base URL.
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl BenchServer {
    /// Serves `store` (files below `roots`, the `extra_schemas` beside the built-in ones) with
    /// default limits; jobs and caches go in `dir`.
    pub async fn start(
        store: Arc<dyn Store>,
        roots: Vec<(String, PathBuf)>,
        extra_schemas: Vec<skyport_schema::Schema>,
        dir: &Path,
    ) -> Result<BenchServer> {
        Self::start_with(
            store,
            roots,
            extra_schemas,
            dir,
            Default::default(),
            Default::default(),
        )
        .await
    }

    /// [`BenchServer::start`] with data `rights` and access settings `auth`.
    pub async fn start_with(
        store: Arc<dyn Store>,
        roots: Vec<(String, PathBuf)>,
        extra_schemas: Vec<skyport_schema::Schema>,
        dir: &Path,
        rights: skyport_store::Rights,
        auth: skyport_server::access::AuthSettings,
    ) -> Result<BenchServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = AppState::start(
            store,
            ServerSettings {
                public_url: format!("http://{addr}"),
                title: "bench".into(),
                roots,
                limits: Limits::default(),
                jobs_dir: dir.join("jobs"),
                cache_dir: dir.join("cache"),
                upload_ca_pem: None,
                upload_allow: Default::default(),
                trusted_proxies: Vec::new(),
                rights: Arc::new(rights),
                auth,
                extra_schemas,
                bands: skyport_consdb::default_bands(),
                dataset: "bench".into(),
                hips_dir: None,
                workspace: None,
                objects: None,
            },
        )
        .await?;
        // `skyport serve` folds the coverage maps in the background as it starts; the figures
        // here are of a server past that (seconds of CPU on a large archive), so it is done
        // first, and its time printed.
        let started = std::time::Instant::now();
        state.coverage.refresh(chrono::Utc::now()).await?;
        println!(
            "  coverage maps folded in {:.1} s (at a start, in the background)",
            started.elapsed().as_secs_f64()
        );
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app(state), async {
            let _ = stop_rx.await;
        }));
        Ok(BenchServer {
            base: format!("http://{addr}"),
            stop,
            task,
        })
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_count_cone_is_expected_to_return_its_rows_at_every_size() {
        for service in [Service::Tap, Service::Sia] {
            for rows in [200_000, 1_000_000, 10_000_000] {
                let radius = radius_for_rows(service, rows, 30.0);
                let expected = expected_rows(service, rows, radius);
                assert!(
                    (expected - 30.0).abs() < 0.1,
                    "{service:?} {rows}: r {radius}, {expected}"
                );
            }
        }
        // A cap of 30/1e6 of the sphere: 1 − cos r = 6e-5.
        let radius = radius_for_rows(Service::Tap, 1_000_000, 30.0);
        assert!((radius - 0.627647).abs() < 1e-6, "{radius}");
        // The fixed cone's answer grows with the table.
        assert!((expected_rows(Service::Tap, 1_000_000, 0.5) - 19.04).abs() < 0.01);
    }

    #[test]
    fn a_cone_never_shrinks_below_the_smallest_radius() {
        // One footprint alone covers more than 30 rows' share of a huge table.
        assert_eq!(
            radius_for_rows(Service::Sia, 1_000_000_000, 30.0),
            MIN_RADIUS
        );
        assert!(radius_for_rows(Service::Tap, 1, 30.0) <= 180.0);
    }

    #[test]
    fn long_requests_are_abbreviated_with_their_length() {
        assert_eq!(abbreviate("ID=1", 10), "ID=1");
        let long = "é".repeat(20);
        let short = abbreviate(&long, 5);
        assert!(short.starts_with("éé…"), "{short}");
        assert!(short.ends_with("(40 bytes in all)"), "{short}");
    }
}
