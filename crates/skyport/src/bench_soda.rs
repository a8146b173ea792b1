//! `skyport bench soda`: SODA cutouts over loopback.
//!
//! 1. 100×100 cutouts (`BRECT … 100 100 pix` at random places) from a 4096² float32 image,
//!    stored plain and RICE-compressed in 128×128 tiles, from concurrent clients: throughput,
//!    latency percentiles and the server's peak resident memory during the run.
//! 2. Bulk stamps: 51×51 stamps of one position from 500 images covering it (found through
//!    ObsCore), as one async job (one result per stamp, and one tar) and as one sync MEF; and
//!    500 stamps at 500 positions, each pinned to its image by a STAMPS table. Wall times.
//!
//! The images are generated once into the work directory and ingested like any archive file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use skyport_consdb::{build_record, default_bands, DataRoot, IngestSettings};
use skyport_fits::{write_mef, Card, HeaderValue, PlaneData, PlaneSpec};
use skyport_store::{SqliteStore, Store};

use crate::bench_tap::{latency_summary, BenchServer};

/// Options of the SODA benchmark.
pub struct SodaBench {
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds of measurement per image.
    pub seconds: u64,
    /// Work directory (images and archive are kept and reused).
    pub dir: PathBuf,
}

const BIG: usize = 4096;
const SMALL: usize = 256;
const EPOCHS: usize = 500;
/// Pixel scale of the generated images, degrees.
const SCALE: f64 = 0.2 / 3600.0;
const RA: f64 = 150.0;
const DEC: f64 = 2.0;

fn card(key: &str, value: HeaderValue) -> Card {
    Card {
        key: key.into(),
        value: Some(value),
        comment: None,
    }
}

fn wcs_cards(side: usize, ra: f64, dec: f64) -> Vec<Card> {
    vec![
        card("CTYPE1", HeaderValue::Str("RA---TAN".into())),
        card("CTYPE2", HeaderValue::Str("DEC--TAN".into())),
        card("CRPIX1", HeaderValue::Real(side as f64 / 2.0 + 0.5)),
        card("CRPIX2", HeaderValue::Real(side as f64 / 2.0 + 0.5)),
        card("CRVAL1", HeaderValue::Real(ra)),
        card("CRVAL2", HeaderValue::Real(dec)),
        card("CD1_1", HeaderValue::Real(-SCALE)),
        card("CD2_2", HeaderValue::Real(SCALE)),
    ]
}

fn primary_cards(mjd: f64) -> Vec<Card> {
    vec![
        card("MJD-OBS", HeaderValue::Real(mjd)),
        card("EXPTIME", HeaderValue::Real(30.0)),
        card("FILTER", HeaderValue::Str("r".into())),
    ]
}

/// Writes one float32 image of noise around a sky level, unless it exists.
fn write_image(
    path: &Path,
    side: usize,
    pointing: (f64, f64),
    mjd: f64,
    tile: Option<usize>,
) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(side as u64 ^ (mjd * 1e3) as u64);
    let pixels: Vec<f32> = (0..side * side)
        .map(|_| 1000.0 + 30.0 * (rng.random::<f32>() - 0.5))
        .collect();
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    write_mef(
        &partial,
        &primary_cards(mjd),
        &[PlaneSpec {
            extname: "IMAGE",
            data: PlaneData::F32(&pixels),
            cards: wcs_cards(side, pointing.0, pointing.1),
        }],
        side,
        side,
        tile,
        1,
    )?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// Generates the images (once) and returns their paths: big plain, big RICE, the epochs.
fn generate(data: &Path) -> Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
    std::fs::create_dir_all(data.join("epochs"))?;
    let plain = data.join("big.fits");
    let rice = data.join("big_rice.fits");
    write_image(&plain, BIG, (RA, DEC), 60000.0, None)?;
    write_image(&rice, BIG, (RA, DEC), 60000.0, Some(128))?;
    let mut epochs = Vec::with_capacity(EPOCHS);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for k in 0..EPOCHS {
        let path = data.join(format!("epochs/e{k:03}.fits"));
        // Pointings dither by up to 20 arcsec, so every image holds the target.
        let dither = |r: &mut rand_chacha::ChaCha8Rng| (r.random::<f64>() - 0.5) * 40.0 / 3600.0;
        let pointing = (RA + 0.3 + dither(&mut rng), DEC + 0.3 + dither(&mut rng));
        write_image(&path, SMALL, pointing, 60001.0 + k as f64, None)?;
        epochs.push(path);
    }
    Ok((plain, rice, epochs))
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the peak resident size the kernel reports (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The URL-encoded DID of a benchmark image.
fn did(rel: &str) -> String {
    form_urlencoded::byte_serialize(format!("ivo://bench/bench?{rel}").as_bytes()).collect()
}

async fn load(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    clients: usize,
    seconds: u64,
) -> Result<(usize, f64, Vec<Duration>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base, id, stop) = (
            client.clone(),
            base.to_string(),
            id.to_string(),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(c as u64 + 11);
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (x, y) = (
                    60.0 + rng.random::<f64>() * (BIG as f64 - 120.0),
                    60.0 + rng.random::<f64>() * (BIG as f64 - 120.0),
                );
                let ra = RA - (x - BIG as f64 / 2.0 - 0.5) * SCALE / DEC.to_radians().cos();
                let dec = DEC + (y - BIG as f64 / 2.0 - 0.5) * SCALE;
                let url = format!("{base}/soda/sync?ID={id}&BRECT={ra:.7}+{dec:.7}+100+100+pix");
                let t = Instant::now();
                let response = client.get(&url).send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(
                    status == 200 && body.len() >= 100 * 100 * 4,
                    "bad cutout: {status} {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                );
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok((latencies.len(), elapsed, latencies))
}

/// Submits an async job and waits for it to end; returns the wall time and the job document.
async fn async_job(
    client: &reqwest::Client,
    base: &str,
    form: &[(&str, String)],
) -> Result<(Duration, String)> {
    let t = Instant::now();
    // The job's URL is in the 303's Location: not followed.
    let poster = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = poster
        .post(format!("{base}/soda/async"))
        .form(form)
        .send()
        .await?;
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("no job location")?
        .to_string();
    loop {
        let job = client
            .get(format!("{location}?WAIT=30"))
            .send()
            .await?
            .text()
            .await?;
        if job.contains("COMPLETED") || job.contains("ERROR") || job.contains("ABORTED") {
            anyhow::ensure!(job.contains("COMPLETED"), "job failed: {job}");
            return Ok((t.elapsed(), job));
        }
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(b: SodaBench) -> Result<()> {
    let data = b.dir.join("data");
    let started = Instant::now();
    let (plain, rice, epochs) = tokio::task::spawn_blocking({
        let data = data.clone();
        move || generate(&data)
    })
    .await??;
    eprintln!("images ready in {:.1} s", started.elapsed().as_secs_f64());
    let db = b.dir.join("bench-soda.sqlite");
    let fresh = !db.exists();
    let store = SqliteStore::open(&db, b.clients.max(2))?;
    store.migrate(&skyport_schema::builtin_schemas()).await?;
    if fresh {
        let settings = IngestSettings {
            authority: "bench".into(),
            public_url: "http://127.0.0.1".into(),
            roots: vec![DataRoot {
                name: "bench".into(),
                path: data.clone(),
                collection: "bench".into(),
                calib_level: 2,
                release_date: None,
            }],
            bands: default_bands(),
            require_wcs: true,
        };
        for path in [&plain, &rice].into_iter().chain(&epochs) {
            store.upsert_image(build_record(&settings, path)?).await?;
        }
    }
    let server = BenchServer::start(
        Arc::new(store),
        vec![("bench".into(), data.clone())],
        Vec::new(),
        &b.dir,
    )
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(b.clients.max(4))
        .build()?;
    let base = server.base.clone();

    for (label, rel) in [("plain float32", "big"), ("RICE 128×128 tiles", "big_rice")] {
        let id = did(rel);
        // Warm-up: page cache, WCS cache, connections.
        load(&client, &base, &id, 1, 1).await?;
        reset_peak_rss();
        let (n, elapsed, latencies) = load(&client, &base, &id, b.clients, b.seconds).await?;
        println!(
            "100×100 cutouts from a 4096² image ({label}), {} clients, {elapsed:.1} s",
            b.clients
        );
        println!("  requests : {n} ({:.1} req/s)", n as f64 / elapsed);
        println!("  latency  : {}", latency_summary(&latencies));
        if let Some(kib) = peak_rss_kib() {
            println!(
                "  peak RSS : {:.1} MiB (whole process, clients included)",
                kib as f64 / 1024.0
            );
        }
    }

    let target = format!("{:.7} {:.7} 51 51 pix", RA + 0.3, DEC + 0.3);
    // Warm the WCS cache of the epochs once, as a running server would be.
    async_job(
        &client,
        &base,
        &[("BRECT", target.clone()), ("PHASE", "RUN".into())],
    )
    .await?;
    for (label, extra) in [
        ("async, one result per stamp", None),
        ("async, one tar", Some("application/x-tar")),
    ] {
        let mut form = vec![("BRECT", target.clone()), ("PHASE", "RUN".into())];
        if let Some(f) = extra {
            form.push(("RESPONSEFORMAT", f.into()));
        }
        let (took, job) = async_job(&client, &base, &form).await?;
        anyhow::ensure!(
            job.contains(&format!("total=\"{EPOCHS}\"")),
            "not {EPOCHS} stamps: {job}"
        );
        println!(
            "bulk: 500 stamps 51×51 of one position from 500 images ({label}): {:.3} s",
            took.as_secs_f64()
        );
    }
    let t = Instant::now();
    let body = client
        .get(format!(
            "{base}/soda/sync?BRECT={}",
            target.replace(' ', "+")
        ))
        .send()
        .await?
        .bytes()
        .await?;
    anyhow::ensure!(
        body.len() > EPOCHS * 51 * 51 * 4,
        "short MEF: {} bytes",
        body.len()
    );
    println!(
        "bulk: the same as one sync MEF ({} MB): {:.3} s",
        body.len() / 1_000_000,
        t.elapsed().as_secs_f64()
    );

    // 500 positions, each pinned to one image.
    let mut table = String::from("ra,dec,size,id\n");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    for k in 0..EPOCHS {
        let ra = RA + 0.3 + (rng.random::<f64>() - 0.5) * 0.01;
        let dec = DEC + 0.3 + (rng.random::<f64>() - 0.5) * 0.01;
        table.push_str(&format!(
            "{ra:.7},{dec:.7},51,ivo://bench/bench?epochs/e{k:03}\n"
        ));
    }
    let (took, _) = async_job(
        &client,
        &base,
        &[
            ("STAMPS", table),
            ("PHASE", "RUN".into()),
            ("RESPONSEFORMAT", "application/x-tar".into()),
        ],
    )
    .await?;
    println!(
        "bulk: 500 stamps at 500 positions, one per image (STAMPS table, one tar): {:.3} s",
        took.as_secs_f64()
    );

    server.stop().await;
    Ok(())
}
