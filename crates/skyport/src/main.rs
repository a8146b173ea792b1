//! `skyport`: an astronomical image archive served through IVOA protocols.

mod adql_cmd;
mod auth_config;
mod bench;
mod bench_consdb;
mod bench_hips;
mod bench_soda;
mod bench_tap;
mod bench_wrk;
mod config;
mod consdb_cmd;
mod demo;
mod efd_cmd;
mod hips_cmd;
mod ingest_cmd;
mod objects_config;
mod obsplan_cmd;
mod release_cmd;
mod replicate_cmd;
mod token_cmd;
mod workspace_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use skyport_server::{app, serve_with, AppState};
use skyport_store::{PostgresStore, SqliteStore, Store};

use crate::config::Config;

/// mimalloc instead of glibc's allocator: a small query allocates and frees thousands of short
/// strings, glibc's malloc and free took a quarter of the CPU of a TAP cone search, and with
/// mimalloc the services answer 10–25 % more requests (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when some files could not be ingested (the others were).
pub(crate) const EXIT_SOME_FAILED: u8 = 2;

#[derive(Parser)]
#[command(
    name = "skyport",
    version,
    about = "An astronomical image archive served through IVOA protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build (if absent) and serve a demo archive of real and generated LSST-like images.
    Demo {
        /// Directory of the demo archive.
        #[arg(long, default_value = "skyport-demo")]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Build a small demo (tests): no 4k × 4k detectors, fewer visits.
        #[arg(long, hide = true)]
        small: bool,
        /// Build the archive and exit without serving.
        #[arg(long)]
        build_only: bool,
        /// Keep the demo archive in this PostgreSQL database (postgres://…, with pgsphere)
        /// instead of an SQLite file in DIR; used when the demo is first built.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Serve an archive described by a config file.
    Serve {
        /// The configuration file (see skyport.example.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Add FITS files (or directories of them) to an archive. Exit code 2 when some failed.
    Ingest {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Files or directories below the archive's data roots.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// The consolidated image-metadata database (ConsDB): header translation and ingest.
    Consdb {
        #[command(subcommand)]
        what: consdb_cmd::ConsDbCommand,
    },
    /// Engineering telemetry (EFD) summarised per exposure and visit: run, recompute, status.
    Efd {
        #[command(subcommand)]
        what: efd_cmd::EfdCommand,
    },
    /// The observation plan (ObsLocTAP ivoa.obsplan): load the scheduler's plan, reconcile.
    Obsplan {
        #[command(subcommand)]
        what: obsplan_cmd::ObsPlanCommand,
    },
    /// Data releases (`[[releases]]`): freeze one as a snapshot, list them, drop a snapshot.
    Release {
        #[command(subcommand)]
        what: release_cmd::ReleaseCommand,
    },
    /// Users' own files (`/webdav/<user>/`): what each keeps and shares.
    Workspace {
        #[command(subcommand)]
        what: workspace_cmd::WorkspaceCommand,
    },
    /// Users' own tables (`/tap/tables/user_<name>.<table>`): list them.
    Usertables {
        #[command(subcommand)]
        what: workspace_cmd::UserTablesCommand,
    },
    /// HiPS sky maps of the archive's collections: build, update.
    Hips {
        #[command(subcommand)]
        what: hips_cmd::HipsCommand,
    },
    /// skyport's own API tokens for robots and services: create, list, revoke.
    Token {
        #[command(subcommand)]
        what: token_cmd::TokenCommand,
    },
    /// Data rights: end a user's membership of a group.
    Rights {
        #[command(subcommand)]
        what: token_cmd::RightsCommand,
    },
    /// The ADQL engine: check or translate a query read from stdin.
    Adql {
        #[command(subcommand)]
        what: adql_cmd::AdqlCommand,
    },
    /// PostgreSQL logical replication of an archive to read-only replicas.
    Replicate {
        #[command(subcommand)]
        what: replicate_cmd::ReplicateCommand,
    },
    /// Benchmarks (outside the test suite).
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Before any thread (the runtime's) or connection exists.
    if !skyport_store::configure_process() {
        tracing::warn!("SQLite's process-wide options could not be set; it runs with its defaults");
    }
    let cli = Cli::parse();
    // 8 MB per runtime thread (tokio's default is 2 MB): recursive stages (ADQL parsing and
    // translation, JSON) are bounded by depth limits sized for 1 MB, and this leaves room.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo {
            dir,
            listen,
            small,
            build_only,
            database,
        } => {
            let config_path = dir.join("skyport.toml");
            if build_only {
                if !config_path.exists() {
                    build_demo(&dir, &listen, small, database.as_deref()).await?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            if !config_path.exists() {
                // Built by a child process: building holds images and tables in memory, which
                // the server this process becomes should not carry as its high-water mark.
                build_demo_in_child(&dir, &listen, small, database.as_deref()).await?;
            } else {
                eprintln!("using the demo archive in {}", dir.display());
            }
            let mut config = Config::load(&config_path)?;
            config.server.listen = listen;
            config.server.public_url = None;
            let me = std::env::args().next().unwrap_or_else(|| "skyport".into());
            let toml = config_path.display();
            println!(
                "data rights: the collection demo-proprietary is for group demo-team only; try"
            );
            println!("  {me} token create --config {toml} --user alice --groups demo-team --scopes read:tap,read:image");
            println!("  {me} token create --config {toml} --user bob --scopes read:tap,read:image");
            println!(
                "  and query with  curl -H 'Authorization: Bearer <token>' …  (alice sees more)"
            );
            serve_config(config).await
        }
        Command::Serve { config } => serve_config(Config::load(&config)?).await,
        Command::Ingest { config, paths } => {
            let config = Config::load(&config)?;
            if config.database.read_only {
                anyhow::bail!(
                    "this archive is read-only (database.read_only = true, a replica): ingest at its source"
                );
            }
            let store = open_store(&config).await?;
            let objects = config.object_store.open(
                config.object_roots(),
                None,
                tokio::runtime::Handle::current(),
            )?;
            let summary = ingest_cmd::ingest(
                Arc::clone(&store),
                Arc::new(config.ingest_settings()),
                &paths,
                objects.as_deref(),
                true,
            )
            .await;
            for (path, reason) in &summary.failed {
                eprintln!("failed: {}: {reason}", path.display());
            }
            println!("{}", summary.report());
            if config.hips.after_ingest && summary.inserted + summary.updated > 0 {
                hips_cmd::update_existing(&config, store).await?;
            }
            Ok(if summary.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_SOME_FAILED)
            })
        }
        Command::Bench { what } => bench::run(what).await,
        Command::Replicate { what } => replicate_cmd::run(what).await,
        Command::Adql { what } => adql_cmd::run(what),
        Command::Consdb { what } => consdb_cmd::run(what).await,
        Command::Efd { what } => efd_cmd::run(what).await,
        Command::Obsplan { what } => obsplan_cmd::run(what).await,
        Command::Release { what } => release_cmd::run(what).await.map(|()| ExitCode::SUCCESS),
        Command::Workspace { what } => workspace_cmd::run(what).map(|()| ExitCode::SUCCESS),
        Command::Usertables { what } => workspace_cmd::run_tables(what)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Hips { what } => hips_cmd::run(what).await.map(|()| ExitCode::SUCCESS),
        Command::Token { what } => token_cmd::run(what).await.map(|()| ExitCode::SUCCESS),
        Command::Rights { what } => token_cmd::run_rights(what)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

/// Opens the archive database and brings its schemas up to date.
pub(crate) async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match config.database() {
        config::Database::Sqlite(path) => Arc::new(SqliteStore::open_mapped(
            &path,
            config.server.readers,
            config.database.sqlite_mmap_mb,
        )?),
        config::Database::Postgres(url) => Arc::new(
            PostgresStore::connect(&url, config.server.readers)
                .await
                .context("connecting to PostgreSQL")?,
        ),
    };
    let steps = store
        .migrate(&config.schemas())
        .await
        .context("migrating the archive database")?;
    // Only the migration that creates the CAOM2 tables has images without CAOM2 rows (ingest
    // writes them from then on): no scan of the image table at every start.
    let caom2_created = steps
        .iter()
        .any(|s| s.schema == "caom2" && !s.created_tables.is_empty());
    if caom2_created && !config.database.read_only {
        let filled = skyport_store::caom2::backfill(&store)
            .await
            .context("writing the CAOM2 rows of images ingested before CAOM2")?;
        if filled > 0 {
            eprintln!("caom2: wrote the CAOM2 rows of {filled} images ingested before them");
        }
    }
    Ok(store)
}

/// `skyport demo --build-only` with the same settings, in a child process.
async fn build_demo_in_child(
    dir: &Path,
    listen: &str,
    small: bool,
    database: Option<&str>,
) -> Result<()> {
    let me = std::env::current_exe().context("finding the skyport binary")?;
    let mut child = tokio::process::Command::new(me);
    child
        .arg("demo")
        .arg("--dir")
        .arg(dir)
        .args(["--listen", listen, "--build-only"]);
    if small {
        child.arg("--small");
    }
    if let Some(url) = database {
        child.args(["--database", url]);
    }
    let status = child.status().await.context("starting the demo build")?;
    anyhow::ensure!(status.success(), "the demo archive could not be built");
    Ok(())
}

async fn build_demo(dir: &Path, listen: &str, small: bool, database: Option<&str>) -> Result<()> {
    let started = std::time::Instant::now();
    let scale = if small {
        demo::DemoScale::SMALL
    } else {
        demo::DemoScale::FULL
    };
    eprintln!("building the demo archive in {} …", dir.display());
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let generated = tokio::task::spawn_blocking({
        let dir = dir.to_path_buf();
        move || demo::write_data(&dir, scale)
    })
    .await??;
    eprintln!(
        "generated {} LSST-like detector images in {:.1} s",
        generated.len(),
        started.elapsed().as_secs_f64()
    );
    // The config is written last: its presence marks a complete demo.
    let tmp = dir.join("skyport.toml.partial");
    std::fs::write(dir.join(demo::RUBIN_OBSCORE_FILE), demo::RUBIN_OBSCORE)?;
    std::fs::write(&tmp, demo::config_text(listen, database))?;
    let config = Config::load(&tmp)?;
    let store = open_store(&config).await?;
    let settings = Arc::new(config.ingest_settings());
    // The consolidated database and the archive together: each generated LSSTCam exposure's
    // ConsDB rows and its ObsCore row in one transaction; then LATISS rows from generated
    // Header Service dumps.
    let latiss = demo::write_latiss_headers(dir, if small { 3 } else { 12 })?;
    for (instrument, files, images) in [
        ("lsstcam", &generated, Some(Arc::clone(&settings))),
        ("latiss", &latiss, None),
    ] {
        let outcome = consdb_cmd::ingest_headers(
            Arc::clone(&store),
            &config.consdb_schemas,
            instrument,
            files,
            images,
        )
        .await?;
        for (p, reason) in &outcome.skipped {
            eprintln!("consdb header skipped: {}: {reason}", p.display());
        }
        if !outcome.skipped.is_empty() || !outcome.not_served.is_empty() {
            anyhow::bail!("the demo's {instrument} headers could not all be ingested");
        }
        eprintln!(
            "consdb: {} {instrument} exposures, {} detector exposures, {} images",
            outcome.written, outcome.detectors, outcome.images
        );
    }
    // The scheduler's plan of those nights (ObsLocTAP ivoa.obsplan), written beside the
    // config as a scheduler would send it; loading it matches it against the exposures above.
    let plan_file = dir.join("obsplan.json");
    std::fs::write(&plan_file, demo::OBSPLAN)?;
    let plan = skyport_consdb::obsplan::parse(
        demo::OBSPLAN.as_bytes(),
        skyport_consdb::obsplan::Format::Json,
    )
    .context("the demo's observation plan")?;
    let loaded = skyport_consdb::obsplan::load(
        &store,
        plan,
        &obsplan_cmd::instruments(&config),
        "demo",
        chrono::Utc::now(),
    )
    .await?;
    eprintln!(
        "obsplan: {} planned observations, {} performed, {} aborted",
        loaded.written, loaded.reconciled.performed, loaded.reconciled.aborted
    );
    demo::write_log_messages(&store, &obsplan_cmd::instruments(&config)).await?;
    // Everything else below the data roots (the real sample images).
    let roots: Vec<PathBuf> = settings.roots.iter().map(|r| r.path.clone()).collect();
    let summary = ingest_cmd::ingest(Arc::clone(&store), settings, &roots, None, true).await;
    eprintln!("ingest: {}", summary.report());
    if !summary.failed.is_empty() {
        for (p, reason) in &summary.failed {
            eprintln!("failed: {}: {reason}", p.display());
        }
        anyhow::bail!("the demo archive could not be built completely");
    }
    // HiPS of every collection and band with released images (the coverage maps came with
    // ingest), built by a child process: building holds images in memory, which the server
    // this process becomes should not carry as its high-water mark.
    let me = std::env::current_exe().context("finding the skyport binary")?;
    let status = tokio::process::Command::new(me)
        .args(["hips", "build", "--config"])
        .arg(&tmp)
        .status()
        .await
        .context("starting the HiPS build")?;
    anyhow::ensure!(status.success(), "the demo's HiPS could not be built");
    let dr1 = release_cmd::freeze(&config, Arc::clone(&store), "dr1").await?;
    eprintln!("release dr1 frozen: {} images", dr1.images);
    std::fs::rename(&tmp, dir.join("skyport.toml"))?;
    eprintln!(
        "demo archive ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn serve_config(config: Config) -> Result<ExitCode> {
    let addr = config.listen_addr().map_err(|e| anyhow::anyhow!(e))?;
    let store = open_store(&config).await?;
    // Before anything reads an image: cfitsio reads objects through the client opened here.
    let mut settings = config.server_settings();
    settings.objects = config
        .object_store
        .open(
            config.object_roots(),
            Some(&settings.cache_dir),
            tokio::runtime::Handle::current(),
        )?
        .map(|objects| skyport_server::ObjectAccess {
            objects,
            signed_links: (config.object_store.links == objects_config::LinkMode::Signed)
                .then(|| std::time::Duration::from_secs(config.object_store.link_seconds)),
        });
    if config.hips.follow_releases {
        tokio::spawn(hips_cmd::follow_releases(
            config.clone(),
            Arc::clone(&store),
        ));
    }
    let releases = release_cmd::specs(&config).await?;
    let release_names: Vec<String> = releases.iter().map(|r| r.name.clone()).collect();
    let state = AppState::start_with_releases(store, settings, releases)
        .await
        .context("starting the async job service")?;
    state.fold_coverage_in_background();
    let base = config.public_url();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    println!("skyport serving {} on {addr}", config.server.title);
    println!("  landing page       {base}/");
    println!("  TAP capabilities   {base}/tap/capabilities");
    println!("  TAP availability   {base}/tap/availability");
    println!("  TAP (sync, async)  {base}/tap/sync  {base}/tap/async");
    println!("  TAP tables         {base}/tap/tables");
    println!("  TAP examples       {base}/tap/examples");
    println!("  SIAv2              {base}/sia/query");
    println!("  DataLink           {base}/datalink/links?ID=<obs_publisher_did>");
    println!("  SODA cutouts       {base}/soda/sync?ID=<obs_publisher_did>&CIRCLE=<ra> <dec> <r>");
    println!("  SODA async         {base}/soda/async");
    if !config.consdb_schemas.is_empty() {
        println!("  ConsDB REST        {base}/consdb/  (OpenAPI {base}/consdb/openapi.json)");
    }
    println!("  previews           {base}/previews/<root>/<path>");
    println!("  files              {base}/files/<root>/<path>");
    println!("  HiPS               {base}/hips/list  {base}/hips/<id>/properties");
    println!("  MOC coverage       {base}/moc  {base}/moc/<collection>?format=fits|json|ascii");
    println!("  metrics            {base}/metrics");
    for name in &release_names {
        println!(
            "  release {name:<10} {base}/releases/{name}/tap  {base}/releases/{name}/sia/query"
        );
    }
    serve_with(
        listener,
        app(state),
        shutdown_signal(),
        config.server.connections(),
    )
    .await?;
    eprintln!("skyport stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
