//! `skyport bench …`: throughput measurements kept out of the test suite.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::config::Config;
use crate::{demo, ingest_cmd};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput (files/s, rows/s) into a fresh archive.
    Ingest {
        /// Generate this many small LSST-like detector files (IMAGE/MASK/VARIANCE, RICE) and
        /// ingest them.
        #[arg(long, default_value_t = 10_000, conflicts_with = "demo")]
        files: usize,
        /// Instead, ingest the data of an existing demo archive (e.g. skyport-demo).
        #[arg(long)]
        demo: Option<PathBuf>,
        /// Work directory (default: a temporary one, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Sync TAP or SIA cone searches, or DataLink lookups, from concurrent clients over
    /// loopback (throughput, p50/p99), each figure with the request it timed. TAP and SIA
    /// time two cones: the fixed --radius (its answer grows with the table) and one whose
    /// radius is chosen for --cone-rows expected rows (its answer does not).
    Tap {
        /// What to query: tap (ADQL cone), sia (POS=CIRCLE), datalink (one ID) or top1 (TAP
        /// `SELECT TOP 1 obs_id FROM ivoa.ObsCore`, the same each time).
        #[arg(long, value_enum, default_value = "tap")]
        service: crate::bench_tap::Service,
        /// ObsCore rows (synthetic, uniform on the sky).
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds of measurement per figure (TAP and SIA time two cones).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Radius of the fixed cone, degrees.
        #[arg(long, default_value_t = 0.5)]
        radius: f64,
        /// Rows the second cone is expected to return: its radius is computed from --rows
        /// (positions are uniform on the sky), so runs at different table sizes compare the
        /// cost of finding the same number of rows.
        #[arg(long, default_value_t = crate::bench_tap::CONE_ROWS_DEFAULT)]
        cone_rows: f64,
        /// Work directory, kept so later runs reuse the table (default: ./skyport-bench-tap).
        #[arg(long, default_value = "skyport-bench-tap")]
        dir: PathBuf,
        /// Run on this PostgreSQL database (postgres://…, with pgsphere) instead of SQLite;
        /// the table is filled with COPY (its rate is printed) and kept for later runs.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// DataLink only: IDs per request (more than one are POSTed in one request).
        #[arg(long, default_value_t = 1)]
        ids: usize,
        /// `off`: no credentials and no data rights (every row visible, no filter); `on`:
        /// every request carries a skyport API token of a data-rights member, one collection
        /// is restricted and rows are filtered; `rated`: as `on`, and requests are counted
        /// against a rate quota.
        #[arg(long, value_enum, default_value = "off")]
        auth: crate::bench_tap::AuthBench,
        /// The client that sends the load: `wrk` (two threads, keep-alive, in a process of
        /// its own: the client the service goals are stated for), `builtin` (in the server's
        /// process, checking every answer) or `auto` (wrk when installed).
        #[arg(long, value_enum, default_value = "auto")]
        load: crate::bench_tap::Load,
        /// SQLite only: MiB of the database file the readers map (`[database] sqlite_mmap_mb`;
        /// default 0, as a server's).
        #[arg(long, default_value_t = 0,
              value_parser = clap::value_parser!(u64).range(0..=skyport_store::SQLITE_MMAP_MB_MAX))]
        sqlite_mmap_mb: u64,
    },
    /// HiPS tiles served per second from concurrent clients (every tile of the archive's HiPS
    /// in turn, over loopback).
    Hips {
        /// The archive's configuration (its HiPS must be built: skyport hips build).
        #[arg(long)]
        config: PathBuf,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds of measurement.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Tile format: png or fits.
        #[arg(long, default_value = "png", value_parser = ["png", "fits"])]
        format: String,
    },
    /// ConsDB REST: bulk insert and upsert rows/s, against one request per row; single
    /// insert and update latency.
    Consdb {
        /// Rows written in bulk.
        #[arg(long, default_value_t = 20_000)]
        rows: usize,
        /// Rows per bulk request.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Single-row requests timed.
        #[arg(long, default_value_t = 1_000)]
        singles: usize,
        /// Work directory (default: ./skyport-bench-consdb).
        #[arg(long, default_value = "skyport-bench-consdb")]
        dir: PathBuf,
        /// Run on this PostgreSQL database (postgres://…, with pgsphere) instead of SQLite.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// LSSTCam header dumps generated and ingested (translate + upsert), for files/s.
        #[arg(long, default_value_t = 2_000)]
        headers: usize,
    },
    /// SODA: ~100×100-pixel cutouts (CIRCLE, 4-vertex POLYGON, POLYGON of the most vertices
    /// the service takes, BRECT in pixels) from a 4096² image (plain and RICE) from concurrent
    /// clients (throughput, p50/p99, peak RSS), and 500-stamp bulk jobs (wall time); each
    /// figure with the request it timed.
    Soda {
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds of measurement per shape and image.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Run only these scenarios (comma-separated; default: all).
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<crate::bench_soda::Scenario>,
        /// Work directory, kept so later runs reuse the images (default: ./skyport-bench-soda).
        #[arg(long, default_value = "skyport-bench-soda")]
        dir: PathBuf,
    },
}

/// Runs a benchmark and prints its figures.
pub async fn run(command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Tap {
            service,
            rows,
            clients,
            seconds,
            radius,
            cone_rows,
            dir,
            database,
            ids,
            auth,
            load,
            sqlite_mmap_mb,
        } => {
            crate::bench_tap::run(crate::bench_tap::TapBench {
                sqlite_mmap_mb,
                load,
                auth,
                service,
                rows,
                clients,
                seconds,
                radius,
                dir,
                database,
                ids,
                cone_rows,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Hips {
            config,
            clients,
            seconds,
            format,
        } => {
            crate::bench_hips::run(crate::bench_hips::HipsBench {
                config,
                clients,
                seconds,
                format,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Consdb {
            rows,
            batch,
            singles,
            dir,
            database,
            headers,
        } => {
            crate::bench_consdb::run(crate::bench_consdb::ConsDbBench {
                rows,
                batch,
                singles,
                dir,
                database,
                headers,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Soda {
            clients,
            seconds,
            only,
            dir,
        } => {
            crate::bench_soda::run(crate::bench_soda::SodaBench {
                clients,
                seconds,
                only,
                dir,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Ingest {
            files,
            demo: demo_dir,
            dir,
        } => {
            let tmp = tempfile::tempdir()?;
            let work = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            std::fs::create_dir_all(&work)?;
            let (data_root, label) = match demo_dir {
                Some(d) => (
                    std::fs::canonicalize(d.join("data"))
                        .context("the demo archive's data directory")?,
                    "demo set".to_string(),
                ),
                None => {
                    let root = work.join("data");
                    let started = std::time::Instant::now();
                    let written = tokio::task::spawn_blocking({
                        let root = root.clone();
                        move || demo::write_small_exposures(&root, files)
                    })
                    .await??;
                    eprintln!(
                        "generated {written} files in {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    (
                        root,
                        format!("{files} generated LSST-like headers (16×16-pixel planes)"),
                    )
                }
            };
            let config_path = work.join("bench.toml");
            std::fs::write(
                &config_path,
                format!(
                    "[database]\nsqlite = \"bench.sqlite\"\n[archive]\nauthority = \"bench\"\n[[archive.roots]]\nname = \"data\"\npath = {:?}\ncollection = \"bench\"\n",
                    data_root.display().to_string()
                ),
            )?;
            let config = Config::load(&config_path)?;
            if let crate::config::Database::Sqlite(path) = config.database() {
                let _ = std::fs::remove_file(path);
            }
            let store = crate::open_store(&config).await?;
            let settings = Arc::new(config.ingest_settings());
            let first = ingest_cmd::ingest(
                Arc::clone(&store),
                Arc::clone(&settings),
                std::slice::from_ref(&data_root),
                None,
                false,
            )
            .await;
            let again = ingest_cmd::ingest(store, settings, &[data_root], None, false).await;
            println!("ingest of {label}");
            println!("  first pass  : {}", first.report());
            println!(
                "  second pass : {} (idempotent re-ingest: hashing only)",
                again.report()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
