//! `skyport consdb …`: the consolidated database from the command line — translating exposure
//! headers into ConsDB rows (to look at them, or into an archive). See docs/consdb.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::{json, Map, Value};
use skyport_consdb::headers::{self, read, TranslateError, INSTRUMENTS};

use crate::config::Config;

/// What to do.
#[derive(Debug, Subcommand)]
pub enum ConsDbCommand {
    /// Print the ConsDB exposure row each header translates to, one JSON object per line:
    /// `{"file", "exposure": {…}}`, or `{"file", "error": {"keyword", "reason"}}`.
    TranslateHeaders {
        /// latiss, lsstcam, lsstcomcam, lsstcomcamsim, decam or hsc.
        #[arg(long)]
        instrument: String,
        /// FITS files or header dumps (YAML, JSON, HeaderService YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Export a table or view (with an ADQL condition, as of a past time) to Parquet, CSV,
    /// JSON or VOTable, or a campaign list of its natural ids.
    Export(ExportArgs),
    /// Translate headers and upsert their exposure rows into the archive's cdb_<instrument>
    /// (idempotent: a header ingested again updates its row, and history keeps the old one).
    /// Headers that cannot be translated are reported (file, keyword, reason) and skipped;
    /// exit code 2 when there were any.
    IngestHeaders {
        /// The archive's configuration file (with [consdb] enabled).
        #[arg(long)]
        config: PathBuf,
        /// latiss, lsstcam, lsstcomcam or lsstcomcamsim.
        #[arg(long)]
        instrument: String,
        /// FITS files or header dumps.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Options of `consdb export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The archive's configuration file (with [consdb] enabled).
    #[arg(long)]
    config: PathBuf,
    /// Instrument (lsstcam, latiss, …).
    #[arg(long)]
    instrument: String,
    /// Table or view (exposure, visit1, ccdexposure, visit1_quicklook, …).
    #[arg(long)]
    table: String,
    /// An ADQL condition on the table's columns, e.g. "band = 'r' AND airmass < 1.3".
    #[arg(long = "where")]
    condition: Option<String>,
    /// Export the table as it was at this time (ISO 8601, UTC).
    #[arg(long)]
    as_of: Option<String>,
    /// Comma-separated columns (default: all).
    #[arg(long)]
    columns: Option<String>,
    /// Write only the natural ids (exposure_id, visit_id…) of the rows: a campaign list.
    #[arg(long)]
    ids: bool,
    /// parquet, csv, tsv, json or votable (default: from the output file's extension).
    #[arg(long)]
    format: Option<String>,
    /// The output file.
    #[arg(long)]
    out: PathBuf,
}

/// Writes an export to a file through the TAP engine (streamed).
async fn export(args: ExportArgs) -> Result<ExitCode> {
    use futures_util::StreamExt;
    use std::io::Write;
    let config = Config::load(&args.config)?;
    let store = crate::open_store(&config).await?;
    let consdb = skyport_consdb::ConsDb::new(Arc::clone(&store), &config.consdb_schemas);
    let as_of = match &args.as_of {
        Some(t) => Some(
            skyport_consdb::convert::as_of(t)
                .ok_or_else(|| anyhow::anyhow!("--as-of {t:?} is not an ISO 8601 time"))?,
        ),
        None => None,
    };
    let spec = skyport_consdb::export::ExportSpec {
        instrument: args.instrument.clone(),
        table: args.table.clone(),
        condition: args.condition.clone(),
        as_of,
        columns: skyport_consdb::export::column_list(args.columns.as_deref()),
        ids_only: args.ids,
    };
    let query = consdb
        .export_query(&spec)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let format = args.format.clone().unwrap_or_else(|| {
        match args
            .out
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("parquet")
        {
            "xml" | "vot" => "votable".to_string(),
            other => other.to_string(),
        }
    });
    let chosen = skyport_votable::Format::choose(&format).ok_or_else(|| {
        anyhow::anyhow!("--format {format:?}: use parquet, csv, tsv, json or votable")
    })?;
    let limits = config.server_settings().limits;
    let tap = skyport_server::tap::TapService::new(
        store,
        limits.clone(),
        &config.public_url(),
        None,
        &config.consdb_schemas,
    );
    let request = skyport_server::tap::request::TapRequest {
        query,
        maxrec: limits.maxrec_hard,
        format: chosen,
        uploads: Vec::new(),
        run_id: None,
    };
    let mut output = tap
        .execute(&request, &std::collections::HashMap::new(), None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    while let Some(chunk) = output.body.next().await {
        file.write_all(&chunk)?;
    }
    file.flush()?;
    if let Some(failure) = output.failure.lock().ok().and_then(|f| f.clone()) {
        bail!("the export stopped: {failure}");
    }
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The exposure columns of an instrument's ConsDB schema (DECam and HSC: LSSTCam's).
fn exposure_columns(instrument: &str) -> Vec<String> {
    let schema_name = match instrument {
        "decam" | "hsc" => "cdb_lsstcam".to_string(),
        other => format!("cdb_{other}"),
    };
    skyport_consdb::schemas::builtin()
        .into_iter()
        .find(|s| s.name == schema_name)
        .and_then(|s| {
            s.table("exposure")
                .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
        })
        .unwrap_or_default()
}

/// The exposure row of one file, limited to the instrument's exposure columns.
pub fn translate_file(
    instrument: &str,
    path: &Path,
    columns: &[String],
) -> std::result::Result<Map<String, Value>, TranslateError> {
    let set = read::read(path).map_err(|reason| TranslateError {
        keyword: None,
        reason,
    })?;
    let row = headers::translate(instrument, &set.primary)?;
    Ok(row
        .into_iter()
        .filter(|(k, _)| columns.is_empty() || columns.contains(k))
        .collect())
}

/// What [`ingest_headers`] did.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// Exposure rows written (one per exposure, however many files it has).
    pub written: usize,
    /// Files skipped, with the reason (`KEYWORD: why`).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Translates the headers of `files` and upserts one `exposure` row per exposure into
/// `cdb_<instrument>`, in one transaction (idempotent; history keeps what an update
/// replaces). Headers that cannot be translated are skipped and reported.
pub async fn ingest_headers(
    store: Arc<dyn skyport_store::Store>,
    schemas: &[skyport_schema::Schema],
    instrument: &str,
    files: &[PathBuf],
) -> Result<IngestOutcome> {
    let consdb = skyport_consdb::ConsDb::new(store, schemas);
    let columns = exposure_columns(instrument);
    let mut outcome = IngestOutcome::default();
    let mut rows: Vec<(i64, Map<String, Value>)> = Vec::new();
    let mut at: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for file in files {
        match translate_file(instrument, file, &columns) {
            Ok(row) => match row.get("exposure_id").and_then(Value::as_i64) {
                Some(id) => {
                    let row: Map<String, Value> =
                        row.into_iter().filter(|(_, v)| !v.is_null()).collect();
                    // Every detector file of an exposure carries the same exposure cards.
                    match at.get(&id) {
                        Some(&i) => rows[i].1 = row,
                        None => {
                            at.insert(id, rows.len());
                            rows.push((id, row));
                        }
                    }
                }
                None => outcome.skipped.push((
                    file.clone(),
                    "no exposure id (CALIB_ID: a calibration product)".into(),
                )),
            },
            Err(e) => outcome.skipped.push((
                file.clone(),
                format!(
                    "{}{}",
                    e.keyword.map(|k| format!("{k}: ")).unwrap_or_default(),
                    e.reason
                ),
            )),
        }
    }
    outcome.written = rows.len();
    if !rows.is_empty() {
        let author = format!(
            "ingest-headers:{}",
            std::env::var("USER").unwrap_or_else(|_| "skyport".into())
        );
        consdb
            .insert_many(instrument, "exposure", rows, true, &author)
            .await
            .map_err(|e| anyhow::anyhow!("writing cdb_{instrument}.exposure: {e}"))?;
    }
    Ok(outcome)
}

/// Runs a subcommand.
pub async fn run(command: ConsDbCommand) -> Result<ExitCode> {
    match command {
        ConsDbCommand::Export(args) => export(args).await,
        ConsDbCommand::TranslateHeaders { instrument, files } => {
            let instrument = instrument.to_ascii_lowercase();
            if !INSTRUMENTS.contains(&instrument.as_str()) {
                bail!(
                    "no header translator for {instrument}; known: {}",
                    INSTRUMENTS.join(", ")
                );
            }
            let columns = exposure_columns(&instrument);
            for file in &files {
                let line = match translate_file(&instrument, file, &columns) {
                    Ok(row) => json!({ "file": file.display().to_string(), "exposure": row }),
                    Err(e) => json!({
                        "file": file.display().to_string(),
                        "error": { "keyword": e.keyword, "reason": e.reason },
                    }),
                };
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsDbCommand::IngestHeaders {
            config,
            instrument,
            files,
        } => {
            let instrument = instrument.to_ascii_lowercase();
            let config = Config::load(&config)?;
            if config.database.read_only {
                bail!("this archive is read-only (a replica): ingest at its source");
            }
            if !config
                .consdb_schemas
                .iter()
                .any(|s| s.name == format!("cdb_{instrument}"))
            {
                bail!("the archive has no ConsDB schema cdb_{instrument} (is [consdb] enabled?)");
            }
            let store = crate::open_store(&config).await?;
            let started = std::time::Instant::now();
            let outcome =
                ingest_headers(store, &config.consdb_schemas, &instrument, &files).await?;
            for (file, reason) in &outcome.skipped {
                eprintln!("skipped: {}: {reason}", file.display());
            }
            let failed = outcome.skipped.len();
            println!(
                "{} exposure rows written to cdb_{instrument}.exposure, {failed} headers skipped, {:.1} files/s",
                outcome.written,
                files.len() as f64 / started.elapsed().as_secs_f64().max(1e-9)
            );
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(crate::EXIT_SOME_FAILED)
            })
        }
    }
}
