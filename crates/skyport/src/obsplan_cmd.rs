//! `skyport obsplan load|reconcile`: the scheduler's observation plan in ObsLocTAP's
//! `ivoa.obsplan` (see `skyport_consdb::obsplan` and docs/observing.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use skyport_consdb::obsplan::{self, Format};

use crate::config::Config;

/// `skyport obsplan …`
#[derive(Subcommand)]
pub enum ObsPlanCommand {
    /// Load the scheduler's plan (JSON or CSV, one row per observation, columns named as in
    /// ivoa.obsplan): all rows or, when one is wrong, none (the row number and column are
    /// reported). Then match the plan against the exposures ConsDB holds.
    Load {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// json or csv (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// The plan.
        file: PathBuf,
    },
    /// Match Planned and Scheduled observations against the exposures ConsDB holds (also done
    /// after every load and every exposure ConsDB records).
    Reconcile {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// The ConsDB instruments of the archive (`cdb_lsstcam` → `lsstcam`).
pub fn instruments(config: &Config) -> Vec<String> {
    config
        .consdb_schemas
        .iter()
        .filter_map(|s| s.name.strip_prefix("cdb_").map(str::to_string))
        .collect()
}

/// Runs an `obsplan` subcommand.
pub async fn run(what: ObsPlanCommand) -> Result<ExitCode> {
    match what {
        ObsPlanCommand::Load {
            config,
            format,
            file,
        } => {
            let config = Config::load(&config)?;
            if config.database.read_only {
                bail!("this archive is read-only (a replica): load the plan at its source");
            }
            let format = match format
                .or_else(|| {
                    file.extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                })
                .as_deref()
            {
                Some("json") => Format::Json,
                Some("csv") => Format::Csv,
                other => bail!("--format must be json or csv (got {other:?})"),
            };
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let rows = obsplan::parse(&body, format)
                .with_context(|| format!("{}: nothing was loaded", file.display()))?;
            let store = crate::open_store(&config).await?;
            let author = format!(
                "obsplan-load:{}",
                std::env::var("USER").unwrap_or_else(|_| "skyport".into())
            );
            let loaded = obsplan::load(
                &store,
                rows,
                &instruments(&config),
                &author,
                chrono::Utc::now(),
            )
            .await?;
            println!(
                "{} planned observations written, {} kept (already performed or aborted); {} now performed, {} aborted",
                loaded.written, loaded.kept, loaded.reconciled.performed, loaded.reconciled.aborted
            );
            Ok(ExitCode::SUCCESS)
        }
        ObsPlanCommand::Reconcile { config } => {
            let config = Config::load(&config)?;
            if config.database.read_only {
                bail!("this archive is read-only (a replica): reconcile at its source");
            }
            let store = crate::open_store(&config).await?;
            let done =
                obsplan::reconcile(&store, &instruments(&config), chrono::Utc::now()).await?;
            println!(
                "{} observations now performed, {} aborted",
                done.performed, done.aborted
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
