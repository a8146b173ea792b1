//! `skyport efd …`: engineering telemetry summarised per exposure and visit (the transformed
//! EFD). See docs/efd.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use skyport_consdb::efd::config::parse_duration_ns;
use skyport_consdb::efd::scheduler::{self, Policy, Scheduler, Window};
use skyport_consdb::efd::{
    ns_to_utc_text, utc_text_to_ns, EfdConfig, FileSource, InfluxSource, Source,
};

use crate::config::{Config, EfdSection};

/// What to do.
#[derive(Debug, Subcommand)]
pub enum EfdCommand {
    /// Record the windows of a range as pending (catching up on missed ones) and run every
    /// window that is due: pending, stale, or failed with its backoff passed. Exit code 2
    /// when a window failed.
    Run {
        #[command(flatten)]
        common: Common,
        /// From (ISO 8601 UTC); default: after the last recorded window, or the first exposure.
        #[arg(long)]
        since: Option<String>,
        /// Until (ISO 8601 UTC, exclusive); default: now.
        #[arg(long)]
        until: Option<String>,
        /// Run failed windows now, whatever their backoff and retries.
        #[arg(long)]
        retry_failed: bool,
        /// Run the range's completed windows again too (same telemetry, same rows).
        #[arg(long, requires = "since")]
        redo: bool,
    },
    /// Recompute some columns for the exposures and visits of a range, writing only those
    /// columns (history keeps the values they replace).
    Recompute {
        #[command(flatten)]
        common: Common,
        /// Column(s) of the config (repeatable, or comma-separated).
        #[arg(long, required = true, value_delimiter = ',')]
        column: Vec<String>,
        /// From (ISO 8601 UTC).
        #[arg(long)]
        since: String,
        /// Until (ISO 8601 UTC, exclusive); default: now.
        #[arg(long)]
        until: Option<String>,
    },
    /// Show the backlog: windows per state, the oldest open window, failures with errors.
    Status {
        #[command(flatten)]
        common: Common,
    },
}

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The archive's configuration file (with an [[efd]] entry for the instrument).
    #[arg(long)]
    config: PathBuf,
    /// The instrument (lsstcam, latiss, …).
    #[arg(long)]
    instrument: String,
}

struct Loaded {
    section: EfdSection,
    efd: EfdConfig,
    store: Arc<dyn skyport_store::Store>,
    policy: Policy,
    config: Config,
}

async fn load(common: &Common) -> Result<Loaded> {
    let config = Config::load(&common.config)?;
    let instrument = common.instrument.to_ascii_lowercase();
    let Some(i) = config.efd.iter().position(|e| e.instrument == instrument) else {
        bail!(
            "{} has no [[efd]] entry for {instrument} (it has: {})",
            common.config.display(),
            config
                .efd
                .iter()
                .map(|e| e.instrument.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let section = config.efd[i].clone();
    let efd = config.efd_loaded[i].0.clone();
    let duration = |v: &str| parse_duration_ns(v).ok_or_else(|| anyhow!("{v:?} is not a duration"));
    let policy = Policy {
        window_ns: duration(&section.window)?,
        max_retries: section.max_retries,
        backoff_ns: duration(&section.backoff)?,
        ..Policy::default()
    };
    let store = crate::open_store(&config).await?;
    Ok(Loaded {
        section,
        efd,
        store,
        policy,
        config,
    })
}

fn source(section: &EfdSection, config: &Config) -> Result<Box<dyn Source>> {
    Ok(match (&section.influxdb_url, &section.exports) {
        (Some(url), _) => Box::new(InfluxSource::new(
            url,
            &section.influxdb_database,
            section
                .influxdb_user
                .clone()
                .map(|u| (u, std::env::var("SKYPORT_EFD_PASSWORD").unwrap_or_default())),
        )?),
        (None, Some(dir)) => Box::new(FileSource::new(config.resolve(dir))),
        (None, None) => bail!(
            "[[efd]] {} names neither influxdb_url nor exports",
            section.instrument
        ),
    })
}

fn instant(text: &str, what: &str) -> Result<i64> {
    utc_text_to_ns(text).with_context(|| format!("--{what} {text:?} is not an ISO 8601 UTC time"))
}

fn now() -> i64 {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX / 2)
}

/// Runs a subcommand.
pub async fn run(command: EfdCommand) -> Result<ExitCode> {
    match command {
        EfdCommand::Run {
            common,
            since,
            until,
            retry_failed,
            redo,
        } => {
            let l = load(&common).await?;
            let instrument = common.instrument.to_ascii_lowercase();
            let mut policy = l.policy.clone();
            if retry_failed {
                policy.backoff_ns = 0;
                policy.max_retries = i64::MAX;
            }
            let sched = Scheduler::new(Arc::clone(&l.store), &instrument, policy);
            let until = match &until {
                Some(t) => instant(t, "until")?,
                None => now(),
            };
            let since = match &since {
                Some(t) => Some(instant(t, "since")?),
                None => match sched.windows().await?.last() {
                    Some(w) => Some(w.end),
                    None => sched.first_exposure().await?,
                },
            };
            if let Some(s) = since {
                if s >= until {
                    bail!(
                        "--since {} is not before --until {}",
                        ns_to_utc_text(s),
                        ns_to_utc_text(until)
                    );
                }
                let added = sched.plan(s, until).await?;
                eprintln!("{added} new windows recorded");
                if redo {
                    let n = sched.reopen(s, until).await?;
                    eprintln!("{n} windows to run again");
                }
            }
            let stale = sched.mark_stale().await?;
            if stale > 0 {
                eprintln!(
                    "{stale} windows left running by a stopped process are stale, and run again"
                );
            }
            let due: Vec<Window> = sched.due().await?;
            let src = source(&l.section, &l.config)?;
            let bar = progress(due.len() as u64);
            let started = std::time::Instant::now();
            let mut report = scheduler::RunReport::default();
            sched
                .run_windows(&l.efd, src.as_ref(), &due, &mut report, |w| {
                    bar.set_message(ns_to_utc_text(w.start));
                    bar.inc(1);
                })
                .await?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            println!(
                "{} windows completed, {} failed; {} exposures and {} visits summarised; {} samples from {} topic fetches in {secs:.1} s ({:.0} samples/s)",
                report.completed,
                report.failed.len(),
                report.exposures,
                report.visits,
                report.samples,
                report.fetches,
                report.samples as f64 / secs
            );
            for (start, error) in &report.failed {
                eprintln!("window {}: {error}", ns_to_utc_text(*start));
            }
            Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(crate::EXIT_SOME_FAILED)
            })
        }
        EfdCommand::Recompute {
            common,
            column,
            since,
            until,
        } => {
            let l = load(&common).await?;
            let instrument = common.instrument.to_ascii_lowercase();
            let since = instant(&since, "since")?;
            let until = match &until {
                Some(t) => instant(t, "until")?,
                None => now(),
            };
            let src = source(&l.section, &l.config)?;
            let (exposures, visits) = scheduler::recompute(
                &l.store,
                &instrument,
                &l.efd,
                &column,
                src.as_ref(),
                since,
                until,
            )
            .await?;
            println!(
                "{} recomputed for {exposures} exposures and {visits} visits",
                column.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        EfdCommand::Status { common } => {
            let l = load(&common).await?;
            let sched = Scheduler::new(l.store, &common.instrument.to_ascii_lowercase(), l.policy);
            let s = sched.status().await?;
            let counts: Vec<String> = s.counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("windows: {}", counts.join(", "));
            if let Some(t) = s.oldest_open {
                println!("oldest window not completed: {}", ns_to_utc_text(t));
            }
            if let Some(t) = s.last_completed {
                println!("summarised up to: {}", ns_to_utc_text(t));
            }
            for (start, retries, error) in &s.failures {
                println!(
                    "failed {} (retries {retries}): {error}",
                    ns_to_utc_text(*start)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on a terminal, hidden otherwise.
fn progress(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} windows, {eta} left ({msg})")
    {
        bar.set_style(style);
    }
    bar
}
