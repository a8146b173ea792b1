//! `skyport bench hips`: HiPS tiles served per second from concurrent clients over loopback,
//! as a viewer fetches them: every tile file of the archive's HiPS (PNG by default), in turn.
//!
//! The server is started in process over the archive of `--config`, on a loopback port; the
//! clients are reqwest clients in the same process (as `bench tap`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use skyport_server::{app, serve, AppState, ServerSettings};

use crate::bench_tap::latency_summary;
use crate::config::Config;

/// What `bench hips` runs.
pub struct HipsBench {
    /// The archive's configuration.
    pub config: PathBuf,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds of measurement.
    pub seconds: u64,
    /// `png` or `fits` tiles.
    pub format: String,
}

/// Runs the benchmark and prints its figures.
pub async fn run(b: HipsBench) -> Result<()> {
    let config = Config::load(&b.config)?;
    let layout = skyport_hips::Layout::new(config.hips_dir());
    // Every tile of every HiPS, as URL paths.
    let mut paths = Vec::new();
    for id in layout.ids() {
        let Some(dir) = layout.current(&id) else {
            continue;
        };
        for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file()
                && name.starts_with("Npix")
                && name.ends_with(&format!(".{}", b.format))
            {
                let rel = entry
                    .path()
                    .strip_prefix(&dir)?
                    .to_string_lossy()
                    .into_owned();
                paths.push(format!("/hips/{id}/{rel}"));
            }
        }
    }
    anyhow::ensure!(
        !paths.is_empty(),
        "no {} tiles below {}: build HiPS first (skyport hips build)",
        b.format,
        config.hips_dir().display()
    );
    let store = crate::open_store(&config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState::start(
        store,
        ServerSettings {
            public_url: format!("http://{addr}"),
            ..config.server_settings()
        },
    )
    .await
    .context("starting the server")?;
    let (stop_server, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app(state), async {
        let _ = stop_rx.await;
    }));
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder().build()?;
    // One warm-up pass: the first read of each tile comes from disk, the rest from the cache.
    for p in &paths {
        client
            .get(format!("{base}{p}"))
            .send()
            .await?
            .bytes()
            .await?;
    }
    let paths = Arc::new(paths);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..b.clients.max(1) {
        let (client, base, stop, paths) = (
            client.clone(),
            base.clone(),
            Arc::clone(&stop),
            Arc::clone(&paths),
        );
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut bytes, mut i) = (Vec::new(), 0usize, c * 7919);
            while !stop.load(Ordering::Relaxed) {
                let path = &paths[i % paths.len()];
                i += 1;
                let t = Instant::now();
                let response = client.get(format!("{base}{path}")).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{path}: {}",
                    response.status()
                );
                bytes += response.bytes().await?.len();
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>((latencies, bytes))
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(b.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut bytes) = (Vec::new(), 0usize);
    for t in tasks {
        let (l, n) = t.await??;
        latencies.extend(l);
        bytes += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "hips tiles ({}, {} distinct, {} clients, {:.0} s): {:.0} tiles/s, {:.1} MB/s, {}",
        b.format,
        paths.len(),
        b.clients,
        elapsed,
        latencies.len() as f64 / elapsed,
        bytes as f64 / elapsed / 1e6,
        latency_summary(&latencies)
    );
    let _ = stop_server.send(());
    let _ = server.await;
    Ok(())
}
