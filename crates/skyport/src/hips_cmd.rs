//! `skyport hips build|update`: HiPS sky maps of the archive's collections, one per collection
//! and band, from the released images (see `skyport-hips`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use skyport_hips::{HipsKey, Layout, Report};
use skyport_store::Store;

use crate::config::Config;

/// `skyport hips …`
#[derive(Subcommand)]
pub enum HipsCommand {
    /// Build HiPS whole: every collection and band, or those named.
    Build {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Only this collection.
        #[arg(long)]
        collection: Option<String>,
        /// Only this band.
        #[arg(long)]
        band: Option<String>,
        /// The deepest order (default: from the images' pixel scale).
        #[arg(long)]
        order: Option<u8>,
    },
    /// Bring the existing HiPS up to date: only tiles under new, changed or removed images
    /// are made again.
    Update {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Runs a `hips` subcommand.
pub async fn run(what: HipsCommand) -> Result<()> {
    match what {
        HipsCommand::Build {
            config,
            collection,
            band,
            order,
        } => {
            let config = Config::load(&config)?;
            // Images in an object store are read through cfitsio's driver.
            let _objects = config.object_store.open(
                config.object_roots(),
                None,
                tokio::runtime::Handle::current(),
            )?;
            if order.is_some_and(|o| o > 20) {
                anyhow::bail!("--order must be at most 20");
            }
            let store = crate::open_store(&config).await?;
            let reports = build_all(
                &config,
                store,
                collection.as_deref(),
                band.as_deref(),
                order,
                true,
            )
            .await?;
            if reports.is_empty() {
                anyhow::bail!("no released image with a footprint matches: no HiPS built");
            }
            Ok(())
        }
        HipsCommand::Update { config } => {
            let config = Config::load(&config)?;
            let _objects = config.object_store.open(
                config.object_roots(),
                None,
                tokio::runtime::Handle::current(),
            )?;
            let store = crate::open_store(&config).await?;
            update_existing(&config, store).await.map(|_| ())
        }
    }
}

/// Builds (whole when `full`, else brings up to date) the HiPS of every collection and band
/// with released images, or of `collection` / `band`; prints a line per HiPS.
pub async fn build_all(
    config: &Config,
    store: Arc<dyn Store>,
    collection: Option<&str>,
    band: Option<&str>,
    order: Option<u8>,
    full: bool,
) -> Result<Vec<Report>> {
    let roots = config.server_settings().roots;
    let groups =
        skyport_hips::released_images(&store, &roots, collection, band, chrono::Utc::now())
            .await
            .context("listing the images")?;
    let mut reports = Vec::new();
    for key in groups.into_keys() {
        reports.push(build_one(config, &store, key, order, full).await?);
    }
    Ok(reports)
}

/// Brings every HiPS already built up to date (images added, changed, removed or released
/// since). Nothing is built for collections without a HiPS. A HiPS that fails is reported and
/// the others are still updated; the first failure is returned at the end.
pub async fn update_existing(config: &Config, store: Arc<dyn Store>) -> Result<Vec<Report>> {
    let layout = Layout::new(config.hips_dir());
    let existing: Vec<HipsKey> = layout
        .ids()
        .iter()
        .filter_map(|id| skyport_hips::current_manifest(&layout, id))
        .map(|m| HipsKey {
            collection: m.collection,
            band: m.band,
        })
        .collect();
    let mut reports = Vec::new();
    let mut failed = None;
    for key in existing {
        match build_one(config, &store, key, None, false).await {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("hips: {e:#}");
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

/// Builds HiPS `key`: takes its lock, lists its images while holding it (so no other builder
/// publishes between the list and the build), and builds.
async fn build_one(
    config: &Config,
    store: &Arc<dyn Store>,
    key: HipsKey,
    order: Option<u8>,
    full: bool,
) -> Result<Report> {
    let settings = config.hips_settings().map_err(anyhow::Error::msg)?;
    let layout = Layout::new(config.hips_dir());
    let id = key.id();
    let held = tokio::task::spawn_blocking({
        let (layout, id) = (layout.clone(), id.clone());
        move || layout.lock(&id)
    })
    .await
    .context("waiting for the HiPS lock")?
    .with_context(|| format!("locking HiPS {id}"))?;
    let roots = config.server_settings().roots;
    let images = skyport_hips::released_images(
        store,
        &roots,
        Some(&key.collection),
        key.band.as_deref(),
        chrono::Utc::now(),
    )
    .await
    .context("listing the images")?
    .remove(&key)
    .unwrap_or_default();
    let report = tokio::task::spawn_blocking(move || {
        skyport_hips::build(&layout, &key, &images, &settings, order, full)
    })
    .await
    .context("the HiPS build stopped")?
    .with_context(|| format!("building HiPS {id}"))?;
    drop(held);
    for (did, why) in &report.skipped {
        eprintln!("hips {id}: left out {did}: {why}");
    }
    if report.published {
        println!(
            "hips {}: order {}, {} deepest tiles made ({} in all) from {} images in {:.1} s ({:.1} deepest tiles/s)",
            report.id,
            report.order,
            report.deepest_tiles,
            report.tiles,
            report.images,
            report.seconds,
            report.deepest_tiles as f64 / report.seconds.max(1e-9)
        );
    } else {
        println!("hips {}: up to date", report.id);
    }
    Ok(report)
}

/// How long the release watch sleeps at most before it looks at the release dates again
/// (images ingested meanwhile may bring new ones).
const RELEASE_RECHECK: std::time::Duration = std::time::Duration::from_secs(600);

/// Keeps the existing HiPS current while the server runs: when an image's release date
/// passes, the HiPS of its collection and band gains it then, with no ingest to set it off
/// (each ingest brings the HiPS up to date itself). Runs until the process ends; a failed
/// update is logged and tried again at the next release date or recheck.
pub async fn follow_releases(config: Config, store: Arc<dyn Store>) {
    let mut since = chrono::Utc::now();
    loop {
        let dates = match skyport_hips::release_dates(&store).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "HiPS release watch: cannot read the release dates");
                Vec::new()
            }
        };
        let now = chrono::Utc::now();
        if dates.iter().any(|d| *d > since && *d <= now) {
            match update_existing(&config, Arc::clone(&store)).await {
                Ok(reports) => {
                    let updated = reports.iter().filter(|r| r.published).count();
                    tracing::info!(updated, "HiPS brought up to date at a release date");
                    since = now;
                    continue;
                }
                // The date stays ahead of `since`: tried again at the next wake.
                Err(e) => tracing::warn!(error = %e, "HiPS release watch: update failed"),
            }
        } else {
            since = now;
        }
        // A second after the next release date, so the image is released when looked at.
        let wait = dates
            .iter()
            .find(|d| **d > now)
            .and_then(|d| (*d - now).to_std().ok())
            .map_or(RELEASE_RECHECK, |w| {
                (w + std::time::Duration::from_secs(1)).min(RELEASE_RECHECK)
            });
        tokio::time::sleep(wait).await;
    }
}
