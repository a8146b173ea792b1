//! `skyport release freeze|list|drop`: data releases (`[[releases]]`, docs/observing.md).
//!
//! A frozen release is two files in `database.releases`: `<name>.sqlite`, the snapshot of its
//! collections' image rows, and `<name>.json`, its manifest, written last: a snapshot without
//! a manifest is an unfinished freeze, never served. A release not frozen is a label, served
//! from the live archive bounded to its collections.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use skyport_store::{SqliteStore, Store};

use crate::config::{Config, ReleaseEntry};

/// `skyport release …`
#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Freeze a release of `[[releases]]`: copy its collections' image rows (ObsCore, CAOM2,
    /// files, HDUs, relations) into a snapshot that keeps answering, unchanged, under
    /// /releases/<name>/ while the live archive changes. Served from the next start.
    Freeze {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The release.
        name: String,
    },
    /// List the releases: frozen (when, how many images) or labels of the live archive.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Remove a release's snapshot: from the next start it is served as a label of the live
    /// archive again (or not at all, once removed from `[[releases]]`).
    Drop {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The release.
        name: String,
    },
}

/// A frozen release's manifest (`<name>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The release.
    pub name: String,
    /// Its collections when it was frozen.
    pub collections: Vec<String>,
    /// When it was frozen (ISO 8601 UTC).
    pub frozen_at: String,
    /// Images it holds.
    pub images: u64,
    /// The skyport that froze it.
    pub skyport: String,
}

/// Runs a `release` subcommand.
pub async fn run(what: ReleaseCommand) -> Result<()> {
    match what {
        ReleaseCommand::Freeze { config, name } => {
            let config = Config::load(&config)?;
            let store = crate::open_store(&config).await?;
            let manifest = freeze(&config, store, &name).await?;
            println!(
                "release {name} frozen: {} images of {} at {} ({})",
                manifest.images,
                manifest.collections.join(", "),
                manifest.frozen_at,
                snapshot_path(&config, &name).display()
            );
            Ok(())
        }
        ReleaseCommand::List { config } => {
            let config = Config::load(&config)?;
            for release in &config.releases {
                let state = match read_manifest(&config, &release.name)? {
                    Some(m) => format!("frozen {} ({} images)", m.frozen_at, m.images),
                    None => "label of the live archive".to_string(),
                };
                println!(
                    "{}\t{state}\t{}\t{}",
                    release.name,
                    release.collections.join(","),
                    release.description
                );
            }
            Ok(())
        }
        ReleaseCommand::Drop { config, name } => {
            let config = Config::load(&config)?;
            drop_snapshot(&config, &name)
        }
    }
}

fn snapshot_path(config: &Config, name: &str) -> PathBuf {
    config.releases_dir().join(format!("{name}.sqlite"))
}

fn manifest_path(config: &Config, name: &str) -> PathBuf {
    config.releases_dir().join(format!("{name}.json"))
}

/// The manifest of release `name` when it is frozen.
pub fn read_manifest(config: &Config, name: &str) -> Result<Option<Manifest>> {
    let path = manifest_path(config, name);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn configured<'a>(config: &'a Config, name: &str) -> Result<&'a ReleaseEntry> {
    config.release(name).with_context(|| {
        let known: Vec<&str> = config.releases.iter().map(|r| r.name.as_str()).collect();
        format!(
            "no release {name:?} in [[releases]] (configured: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}

/// The files of an SQLite database at `path` (its write-ahead log beside it).
fn database_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// Freezes release `name` of `config` from the live archive `live`.
pub async fn freeze(config: &Config, live: Arc<dyn Store>, name: &str) -> Result<Manifest> {
    let release = configured(config, name)?;
    if let Some(m) = read_manifest(config, name)? {
        bail!(
            "release {name} is already frozen (at {}); `skyport release drop` it first",
            m.frozen_at
        );
    }
    let dir = config.releases_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // A name never starts with a dot: no release's snapshot can be this file.
    let partial = dir.join(format!(".{name}.partial.sqlite"));
    for f in database_files(&partial) {
        remove_if_there(&f)?;
    }
    let frozen_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let bands = config.bands();
    let copied = skyport_store::release::freeze_into(
        live.as_ref(),
        &partial,
        &config.release_schemas(),
        &release.collections,
        &move |lo, hi| skyport_consdb::band_of_range(&bands, lo, hi),
    )
    .await
    .context("writing the release's snapshot")?;
    // The snapshot is one file now, flushed and closed: publish it, then its manifest.
    let target = snapshot_path(config, name);
    for (from, to) in database_files(&partial)
        .iter()
        .zip(database_files(&target).iter())
    {
        remove_if_there(to)?;
        if from.exists() {
            std::fs::rename(from, to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
    }
    let manifest = Manifest {
        name: name.to_string(),
        collections: release.collections.clone(),
        frozen_at,
        images: copied.images,
        skyport: env!("CARGO_PKG_VERSION").to_string(),
    };
    let path = manifest_path(config, name);
    let tmp = dir.join(format!(".{name}.json.partial"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    // The renames are durable once the directory is.
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(manifest)
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Removes release `name`'s snapshot (the manifest first: no half-removed snapshot is served).
fn drop_snapshot(config: &Config, name: &str) -> Result<()> {
    if read_manifest(config, name)?.is_none() {
        bail!("release {name:?} is not frozen: there is no snapshot to drop");
    }
    remove_if_there(&manifest_path(config, name))?;
    for f in database_files(&snapshot_path(config, name)) {
        remove_if_there(&f)?;
    }
    println!("release {name}: snapshot removed; a running server serves it until it restarts");
    Ok(())
}

/// The releases `skyport serve` serves: each of `[[releases]]`, frozen ones from their
/// snapshots. A snapshot is migrated like the archive (a newer skyport may add columns or
/// describe its tables anew), which never changes its rows.
pub async fn specs(config: &Config) -> Result<Vec<skyport_server::releases::ReleaseSpec>> {
    let mut specs = Vec::new();
    for release in &config.releases {
        let manifest = read_manifest(config, &release.name)?;
        let collections = manifest
            .as_ref()
            .map_or_else(|| release.collections.clone(), |m| m.collections.clone());
        let snapshot = match manifest {
            None => None,
            Some(m) => {
                let path = snapshot_path(config, &release.name);
                anyhow::ensure!(
                    path.exists(),
                    "release {}: the manifest is there but not the snapshot {}",
                    release.name,
                    path.display()
                );
                let store: Arc<dyn Store> = Arc::new(
                    SqliteStore::open_mapped(
                        &path,
                        config.server.readers,
                        config.database.sqlite_mmap_mb,
                    )
                    .with_context(|| format!("opening {}", path.display()))?,
                );
                store
                    .migrate(&config.release_schemas())
                    .await
                    .with_context(|| format!("migrating {}", path.display()))?;
                Some(skyport_server::releases::Snapshot {
                    store,
                    frozen_at: m.frozen_at,
                    images: m.images,
                })
            }
        };
        specs.push(skyport_server::releases::ReleaseSpec {
            name: release.name.clone(),
            description: release.description.clone(),
            collections,
            snapshot,
        });
    }
    Ok(specs)
}
