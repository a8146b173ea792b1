//! `skyport bench soda`: SODA cutouts over loopback.
//!
//! 1. ~100×100-pixel cutouts at random places (seeded) from a 4096² float32 image, stored
//!    plain and RICE-compressed in 128×128 tiles, from concurrent clients, timed separately
//!    for each shape: `CIRCLE` of radius 10″, a 4-vertex 20″ × 20″ `POLYGON`, a `POLYGON` of
//!    as many vertices as the service takes on a 10″ circle (POSTed), and `BRECT … 100 100
//!    pix`. Throughput, latency percentiles, the process's peak resident memory during the
//!    run, and the request timed (client 0's first).
//! 2. Bulk stamps: 51×51 stamps of one position from 500 images covering it (found through
//!    ObsCore), as one async job (one result per stamp, and one tar) and as one sync MEF; and
//!    500 stamps at 500 positions, each pinned to its image by a STAMPS table. Wall times, each
//!    with its request.
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

use skyport_server::dali::shapes::MAX_POLYGON_VERTICES;

use crate::bench_tap::{abbreviate, checkpoint_wal, latency_summary, BenchServer};

/// Options of the SODA benchmark.
pub struct SodaBench {
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds of measurement per shape and image.
    pub seconds: u64,
    /// The scenarios to run; empty: all.
    pub only: Vec<Scenario>,
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

/// The DID of a benchmark image.
fn did(rel: &str) -> String {
    format!("ivo://bench/bench?{rel}")
}

/// A part of the SODA benchmark, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `CIRCLE` of radius 10″ (50 pixels): a ~100×100-pixel box.
    Circle,
    /// `POLYGON` of 4 vertices, 20″ × 20″ on the sky.
    Polygon,
    /// `POLYGON` of as many vertices as the service takes (`MAX_POLYGON_VERTICES`) on a circle
    /// of radius 10″, POSTed.
    PolygonMax,
    /// `BRECT … 100 100 pix`.
    Brect,
    /// The bulk stamp jobs.
    Bulk,
}

/// The cutout shapes, in the order they are reported.
const SHAPES: [Scenario; 4] = [
    Scenario::Circle,
    Scenario::Polygon,
    Scenario::PolygonMax,
    Scenario::Brect,
];

/// Radius of the CIRCLE cutouts and of the circle the many-vertex POLYGON's vertices lie on,
/// degrees: 10″ = 50 pixels, so the cutout is ~100×100 pixels like the BRECT's.
const CUTOUT_RADIUS: f64 = 10.0 / 3600.0;

/// Pixels a cutout's centre keeps from the image's edges, so every cutout lies wholly inside
/// (the shapes reach 50 pixels from their centre).
const EDGE_MARGIN: f64 = 200.0;

/// Fewest bytes a good ~100×100 float32 cutout has (a 90×90 image: generous for rounding at
/// the box's edges).
const MIN_CUTOUT_BYTES: usize = 90 * 90 * 4;

/// One cutout request: its parameters, url-encoded.
struct Cutout {
    /// Sent as a form body; else in the URL of a GET.
    post: bool,
    params: String,
}

impl Cutout {
    /// The request as printed beside the figure timed with it (a long body abbreviated).
    fn describe(&self) -> String {
        if self.post {
            format!(
                "POST /soda/sync with form body {}",
                abbreviate(&self.params, 240)
            )
        } else {
            format!("GET /soda/sync?{}", self.params)
        }
    }

    async fn send(&self, client: &reqwest::Client, base: &str) -> Result<reqwest::Response> {
        let url = format!("{base}/soda/sync");
        Ok(if self.post {
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(self.params.clone())
                .send()
                .await?
        } else {
            client.get(format!("{url}?{}", self.params)).send().await?
        })
    }
}

/// A sky position whose pixel is uniform over the image less [`EDGE_MARGIN`], in the same
/// sequence for a given `rng` seed.
fn random_position(rng: &mut rand_chacha::ChaCha8Rng) -> (f64, f64) {
    let span = BIG as f64 - 2.0 * EDGE_MARGIN;
    let (x, y) = (
        EDGE_MARGIN + rng.random::<f64>() * span,
        EDGE_MARGIN + rng.random::<f64>() * span,
    );
    // The tangent plane is flat to well under a pixel this close to its centre.
    let ra = RA - (x - BIG as f64 / 2.0 - 0.5) * SCALE / DEC.to_radians().cos();
    let dec = DEC + (y - BIG as f64 / 2.0 - 0.5) * SCALE;
    (ra, dec)
}

/// `vertices` points on the circle of `radius` degrees around (`ra`, `dec`), as a DALI
/// POLYGON value (clockwise on the sky as drawn with RA increasing to the left).
fn circle_polygon(ra: f64, dec: f64, radius: f64, vertices: usize) -> String {
    (0..vertices)
        .map(|k| {
            let angle = -std::f64::consts::TAU * k as f64 / vertices as f64;
            format!(
                "{:.7} {:.7}",
                ra + radius * angle.cos() / dec.to_radians().cos(),
                dec + radius * angle.sin()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Scenario {
    /// The figure's label.
    fn label(self) -> String {
        match self {
            Scenario::Circle => "CIRCLE r = 10″".into(),
            Scenario::Polygon => "POLYGON 4 vertices, 20″ × 20″".into(),
            Scenario::PolygonMax => {
                format!("POLYGON {MAX_POLYGON_VERTICES} vertices, r = 10″ (POST)")
            }
            Scenario::Brect => "BRECT 100 × 100 pix".into(),
            Scenario::Bulk => "bulk stamps".into(),
        }
    }

    /// A cutout of this shape around a random position of the image `id` (none for
    /// [`Scenario::Bulk`]).
    fn cutout(self, id: &str, rng: &mut rand_chacha::ChaCha8Rng) -> Option<Cutout> {
        let (ra, dec) = random_position(rng);
        let (name, value, post) = match self {
            Scenario::Circle => (
                "CIRCLE",
                format!("{ra:.7} {dec:.7} {CUTOUT_RADIUS:.7}"),
                false,
            ),
            Scenario::Polygon => {
                let (h, d) = (CUTOUT_RADIUS, CUTOUT_RADIUS / dec.to_radians().cos());
                // DALI orientation: along the bottom edge RA decreases.
                let value = format!(
                    "{:.7} {:.7} {:.7} {:.7} {:.7} {:.7} {:.7} {:.7}",
                    ra + d,
                    dec - h,
                    ra - d,
                    dec - h,
                    ra - d,
                    dec + h,
                    ra + d,
                    dec + h
                );
                ("POLYGON", value, false)
            }
            // ~12 kB of vertices: POSTed, as a client must when the URL would pass the 8 kB
            // request line most proxies accept.
            Scenario::PolygonMax => (
                "POLYGON",
                circle_polygon(ra, dec, CUTOUT_RADIUS, MAX_POLYGON_VERTICES),
                true,
            ),
            Scenario::Brect => ("BRECT", format!("{ra:.7} {dec:.7} 100 100 pix"), false),
            Scenario::Bulk => return None,
        };
        let params = form_urlencoded::Serializer::new(String::new())
            .append_pair("ID", id)
            .append_pair(name, &value)
            .finish();
        Some(Cutout { post, params })
    }
}

/// The seed of client `c`'s positions; client 0's first request is the one printed.
fn client_seed(c: usize) -> u64 {
    c as u64 + 11
}

/// NAXIS1 × NAXIS2 of the first header in `fits` that has them (a cutout's image).
fn image_size(fits: &[u8]) -> Option<(u64, u64)> {
    let mut width = None;
    // The cutout's headers come first: a few 2880-byte blocks of 80-byte cards.
    for card in fits.chunks_exact(80).take(36 * 8) {
        let value = || -> Option<u64> {
            std::str::from_utf8(card.get(10..)?)
                .ok()?
                .split('/')
                .next()?
                .trim()
                .parse()
                .ok()
        };
        match card.get(..8) {
            Some(b"NAXIS1  ") => width = value(),
            Some(b"NAXIS2  ") => return Some((width?, value()?)),
            _ => {}
        }
    }
    None
}

/// Requests of `shape` from `clients` clients at once for `seconds`: the number done, the
/// time taken and the sorted latencies (request sent to last byte received).
async fn load(
    client: &reqwest::Client,
    base: &str,
    shape: Scenario,
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
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(client_seed(c));
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let cutout = shape
                    .cutout(&id, &mut rng)
                    .context("the bulk scenario has no single cutout")?;
                let t = Instant::now();
                let response = cutout.send(&client, &base).await?;
                let status = response.status();
                let body = response.bytes().await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(
                    status == 200 && body.len() >= MIN_CUTOUT_BYTES,
                    "bad cutout for {}: {status} {}",
                    cutout.describe(),
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

/// Checks that a POLYGON of more vertices than the service takes is refused as a usage error
/// (so the many-vertex figure, at the limit, is the largest polygon a client can send) and
/// prints the refusal.
async fn check_polygon_limit(client: &reqwest::Client, base: &str, id: &str) -> Result<()> {
    let vertices = 2 * MAX_POLYGON_VERTICES;
    let params = form_urlencoded::Serializer::new(String::new())
        .append_pair("ID", id)
        .append_pair("POLYGON", &circle_polygon(RA, DEC, CUTOUT_RADIUS, vertices))
        .finish();
    let cutout = Cutout { post: true, params };
    let response = cutout.send(client, base).await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(
        status == 400,
        "a POLYGON of {vertices} vertices was not refused: {status} {}",
        abbreviate(&text, 200)
    );
    println!(
        "  POLYGON {vertices} vertices: refused, as it should be ({status}: {}); timed at the limit instead",
        text.trim()
    );
    Ok(())
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

/// How an async job of `form` is requested, as printed beside its wall time.
fn describe_async(form: &[(&str, String)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form {
        body.append_pair(name, value);
    }
    format!(
        "POST /soda/async with form body {}, then GET <job URL>?WAIT=30 until it ends",
        abbreviate(&body.finish(), 240)
    )
}

/// Runs the benchmark and prints its figures.
pub async fn run(b: SodaBench) -> Result<()> {
    let selected = |s: Scenario| b.only.is_empty() || b.only.contains(&s);
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
            roots: vec![DataRoot {
                name: "bench".into(),
                path: data.clone(),
                collection: "bench".into(),
                calib_level: 2,
                instrument: None,
                obscore: Vec::new(),
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

    let shapes: Vec<Scenario> = SHAPES.into_iter().filter(|s| selected(*s)).collect();
    if !shapes.is_empty() {
        println!(
            "SODA sync cutouts from a 4096² float32 image (0.2″/pixel), {} clients, {} s per figure; latency from request to last byte; peak RSS of the whole process (server and clients)",
            b.clients, b.seconds
        );
    }
    let images = [("plain", "big"), ("RICE 128² tiles", "big_rice")];
    let width = shapes
        .iter()
        .map(|s| s.label().chars().count())
        .max()
        .unwrap_or(0)
        + 2
        + images
            .iter()
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0);
    for shape in shapes {
        if shape == Scenario::PolygonMax {
            check_polygon_limit(&client, &base, &did("big")).await?;
        }
        for (image_label, rel) in images {
            let id = did(rel);
            // Client 0's first request, sent once more to show its cutout's size.
            let example = shape
                .cutout(
                    &id,
                    &mut rand_chacha::ChaCha8Rng::seed_from_u64(client_seed(0)),
                )
                .context("the bulk scenario has no single cutout")?;
            let response = example.send(&client, &base).await?;
            let status = response.status();
            let body = response.bytes().await?;
            anyhow::ensure!(
                status == 200,
                "{} answered {status}: {}",
                example.describe(),
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
            let size = image_size(&body)
                .map(|(w, h)| format!("{w}×{h} px"))
                .unwrap_or_else(|| "size unknown".into());
            // Warm-up: page cache, WCS cache, connections.
            load(&client, &base, shape, &id, 1, 1).await?;
            reset_peak_rss();
            let (n, elapsed, latencies) =
                load(&client, &base, shape, &id, b.clients, b.seconds).await?;
            let rss = peak_rss_kib()
                .map(|kib| format!("{:.1} MiB", kib as f64 / 1024.0))
                .unwrap_or_else(|| "unknown".into());
            let label = format!("{}, {image_label}", shape.label());
            println!(
                "  {label:<width$} : {:>7.1} req/s ({n} in {elapsed:.1} s), {}; cutout {size}, {} bytes; peak RSS {rss}",
                n as f64 / elapsed,
                latency_summary(&latencies),
                body.len(),
            );
            println!("      request: {}", example.describe());
        }
    }

    if selected(Scenario::Bulk) {
        bulk(&client, &base).await?;
    }

    server.stop().await;
    // The jobs wrote to the archive: leave no WAL behind.
    tokio::task::spawn_blocking(move || checkpoint_wal(&db)).await??;
    Ok(())
}

/// The bulk stamp jobs: wall times, each with its request.
async fn bulk(client: &reqwest::Client, base: &str) -> Result<()> {
    let target = format!("{:.7} {:.7} 51 51 pix", RA + 0.3, DEC + 0.3);
    // Warm the WCS cache of the epochs once, as a running server would be.
    async_job(
        client,
        base,
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
        let (took, job) = async_job(client, base, &form).await?;
        anyhow::ensure!(
            job.contains(&format!("total=\"{EPOCHS}\"")),
            "not {EPOCHS} stamps: {job}"
        );
        println!(
            "bulk: 500 stamps 51×51 of one position from 500 images ({label}): {:.3} s",
            took.as_secs_f64()
        );
        println!("  request: {}", describe_async(&form));
    }
    let sync_query = form_urlencoded::Serializer::new(String::new())
        .append_pair("BRECT", &target)
        .finish();
    let t = Instant::now();
    let body = client
        .get(format!("{base}/soda/sync?{sync_query}"))
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
    println!("  request: GET /soda/sync?{sync_query}");

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
    let form = [
        ("STAMPS", table),
        ("PHASE", "RUN".into()),
        ("RESPONSEFORMAT", "application/x-tar".into()),
    ];
    let (took, _) = async_job(client, base, &form).await?;
    println!(
        "bulk: 500 stamps at 500 positions, one per image (STAMPS table, one tar): {:.3} s",
        took.as_secs_f64()
    );
    println!("  request: {}", describe_async(&form));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cards: &[&str]) -> Vec<u8> {
        let mut out: Vec<u8> = cards
            .iter()
            .flat_map(|c| format!("{c:<80}").into_bytes())
            .collect();
        out.resize(out.len().div_ceil(2880) * 2880, b' ');
        out
    }

    #[test]
    fn the_cutout_size_comes_from_the_first_header_with_axes() {
        let mut fits = header(&[
            "SIMPLE  =                    T",
            "NAXIS   =                    0",
            "END",
        ]);
        fits.extend(header(&[
            "XTENSION= 'IMAGE   '",
            "NAXIS   =                    2",
            "NAXIS1  =                  101 / columns",
            "NAXIS2  =                   99",
            "END",
        ]));
        assert_eq!(image_size(&fits), Some((101, 99)));
        assert_eq!(image_size(b"not a FITS file"), None);
    }

    #[test]
    fn each_shape_asks_for_its_own_cutout() {
        for shape in SHAPES {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(client_seed(0));
            let cutout = shape.cutout(&did("big"), &mut rng).expect("a shape");
            let params: Vec<(String, String)> = form_urlencoded::parse(cutout.params.as_bytes())
                .into_owned()
                .collect();
            assert_eq!(params[0], ("ID".to_string(), did("big")));
            let (name, value) = &params[1];
            let numbers: Vec<f64> = value
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            match shape {
                Scenario::Circle => {
                    assert_eq!(name, "CIRCLE");
                    assert!((numbers[2] - CUTOUT_RADIUS).abs() < 1e-7);
                }
                Scenario::Polygon => assert_eq!((name.as_str(), numbers.len()), ("POLYGON", 8)),
                Scenario::PolygonMax => {
                    assert_eq!(name, "POLYGON");
                    assert_eq!(numbers.len(), 2 * MAX_POLYGON_VERTICES);
                    assert!(cutout.post, "too long for a URL");
                }
                Scenario::Brect => assert!(value.ends_with(" 100 100 pix"), "{value}"),
                Scenario::Bulk => unreachable!(),
            }
            assert_eq!(cutout.post, shape == Scenario::PolygonMax);
            // Every centre lies well inside the image.
            let (ra, dec) = (numbers[0], numbers[1]);
            let half = (BIG as f64 / 2.0 - EDGE_MARGIN + 60.0) * SCALE;
            assert!((dec - DEC).abs() < half, "{dec}");
            assert!(((ra - RA) * DEC.to_radians().cos()).abs() < half, "{ra}");
        }
        assert!(Scenario::Bulk
            .cutout("x", &mut rand_chacha::ChaCha8Rng::seed_from_u64(1))
            .is_none());
    }
}
