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
    /// Print the ConsDB rows each header translates to, one JSON object per line:
    /// `{"file", "exposure": {…}, "detectors": [{…}]}` (each detector's ccdexposure row with
    /// temp_set and ccd_temp), or `{"file", "error": {"keyword", "reason"}}`.
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
    /// Translate headers and upsert their exposure, ccdexposure and ccdexposure_camera rows
    /// into the archive's cdb_<instrument>, with the file and ObsCore rows of FITS images
    /// below the data roots, all in one transaction (idempotent: a header ingested again
    /// updates its rows, and history keeps the old ones). Headers that cannot be translated
    /// are reported (file, keyword, reason) and skipped; exit code 2 when there were any.
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
        // No uploads in an export.
        Default::default(),
        &config.consdb_schemas,
        // The operator's own export: nothing is hidden from the archive itself.
        std::sync::Arc::new(skyport_store::Rights::unrestricted()),
    );
    let request = skyport_server::tap::request::TapRequest {
        query,
        maxrec: limits.maxrec_hard,
        format: chosen,
        uploads: Vec::new(),
        run_id: None,
    };
    let mut output = tap
        .execute(
            &skyport_store::Caller::anonymous(),
            &request,
            &std::collections::HashMap::new(),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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

/// The translation of one file, its exposure row limited to the instrument's exposure
/// columns.
pub fn translate_file(
    instrument: &str,
    path: &Path,
    columns: &[String],
) -> std::result::Result<headers::Translation, TranslateError> {
    let set = read::read(path).map_err(|reason| TranslateError {
        keyword: None,
        reason,
    })?;
    let mut translation = headers::translate_set(instrument, &set)?;
    translation
        .exposure
        .retain(|k, _| columns.is_empty() || columns.contains(k));
    Ok(translation)
}

/// What [`ingest_headers`] did.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// Exposure rows written (one per exposure, however many files it has).
    pub written: usize,
    /// Detector-exposure (`ccdexposure`) rows written.
    pub detectors: usize,
    /// FITS images whose file, HDU and ObsCore rows were written (new or changed).
    pub images: usize,
    /// FITS files whose metadata was written but which are not served as images (outside
    /// the data roots, or no celestial WCS), with the reason.
    pub not_served: Vec<(PathBuf, String)>,
    /// Files skipped, with the reason (`KEYWORD: why`).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Rows gathered from the files, keyed by their natural ids (the last file wins).
#[derive(Default)]
struct Gathered {
    exposures: Vec<(i64, Map<String, Value>)>,
    ccdexposures: Vec<(i64, Map<String, Value>)>,
    cameras: Vec<(i64, Map<String, Value>)>,
    images: Vec<skyport_store::ImageRecord>,
    /// Which exposure and detectors each served image records (`skyport.image_exposure`).
    relations: Vec<ImageExposure>,
    not_served: Vec<(PathBuf, String)>,
    skipped: Vec<(PathBuf, String)>,
}

/// The ConsDB exposure and detectors one served image records.
struct ImageExposure {
    did: String,
    exposure_id: i64,
    /// (detector, ccdexposure_id) of each detector the file holds.
    detectors: Vec<(i64, i64)>,
}

impl ImageExposure {
    /// The statements replacing the image's `skyport.image_exposure` rows.
    fn statements(
        &self,
        dialect: skyport_store::Dialect,
        instrument: &str,
    ) -> Vec<skyport_store::Statement> {
        use skyport_store::{ddl, Statement, Value as V};
        let table = ddl::table_name(dialect, "skyport", "image_exposure");
        let mut out = vec![Statement::new(
            format!(
                "DELETE FROM {table} WHERE obs_publisher_did={}",
                ddl::placeholder(dialect, 1)
            ),
            vec![V::Text(self.did.clone())],
        )];
        let insert = ddl::insert(
            dialect,
            "skyport",
            "image_exposure",
            &[
                "obs_publisher_did",
                "instrument",
                "exposure_id",
                "detector",
                "ccdexposure_id",
            ],
        );
        for &(detector, ccdexposure_id) in &self.detectors {
            out.push(Statement::new(
                insert.clone(),
                vec![
                    V::Text(self.did.clone()),
                    V::Text(instrument.to_string()),
                    V::Int(self.exposure_id),
                    V::Int(detector),
                    V::Int(ccdexposure_id),
                ],
            ));
        }
        out
    }
}

/// Adds `row` under `key`, replacing an earlier row of the same key.
fn keep_last(
    rows: &mut Vec<(i64, Map<String, Value>)>,
    at: &mut std::collections::HashMap<i64, usize>,
    key: i64,
    row: Map<String, Value>,
) {
    // Nulls are left out: a header that lacks a value does not erase one already stored.
    let row: Map<String, Value> = row.into_iter().filter(|(_, v)| !v.is_null()).collect();
    match at.get(&key) {
        Some(&i) => rows[i].1 = row,
        None => {
            at.insert(key, rows.len());
            rows.push((key, row));
        }
    }
}

/// Reads and translates every file (blocking work).
fn gather(
    instrument: &str,
    files: &[PathBuf],
    images: Option<&skyport_consdb::IngestSettings>,
) -> Gathered {
    let columns = exposure_columns(instrument);
    let mut g = Gathered::default();
    let (mut exposure_at, mut ccd_at, mut camera_at) = Default::default();
    for file in files {
        let translation = match translate_file(instrument, file, &columns) {
            Ok(t) => t,
            Err(e) => {
                g.skipped.push((file.clone(), e.to_string()));
                continue;
            }
        };
        let Some(id) = translation
            .exposure
            .get("exposure_id")
            .and_then(Value::as_i64)
        else {
            g.skipped.push((
                file.clone(),
                "no exposure id (CALIB_ID: a calibration product)".into(),
            ));
            continue;
        };
        // A FITS image enters the archive (ObsCore) with its metadata, in the same
        // transaction; a header dump has no pixels to serve.
        if let Some(settings) = images.filter(|_| skyport_consdb::is_fits_name(file)) {
            use skyport_consdb::IngestError;
            match skyport_consdb::build_record(settings, file) {
                Ok(record) => {
                    g.relations.push(ImageExposure {
                        did: record.publisher_did.clone(),
                        exposure_id: id,
                        detectors: translation
                            .detectors
                            .iter()
                            .map(|d| (d.detector, d.ccdexposure_id))
                            .collect(),
                    });
                    g.images.push(record);
                }
                // Metadata of an image the archive cannot serve (outside its data roots, or
                // without pixels on the sky) is still worth keeping.
                Err(
                    e @ (IngestError::NotUnderRoot(_)
                    | IngestError::NoImage(_)
                    | IngestError::NoWcs { .. }),
                ) => g.not_served.push((file.clone(), e.to_string())),
                Err(e) => {
                    g.skipped.push((file.clone(), e.to_string()));
                    continue;
                }
            }
        }
        for detector in &translation.detectors {
            keep_last(
                &mut g.ccdexposures,
                &mut ccd_at,
                detector.ccdexposure_id,
                detector.ccdexposure(&translation.exposure),
            );
            if let Some(row) = detector.camera(&translation.exposure) {
                keep_last(&mut g.cameras, &mut camera_at, detector.ccdexposure_id, row);
            }
        }
        keep_last(&mut g.exposures, &mut exposure_at, id, translation.exposure);
    }
    g
}

/// Translates the headers of `files` and upserts their `exposure`, `ccdexposure` and
/// `ccdexposure_camera` rows into `cdb_<instrument>` — and, given the archive's ingest
/// settings, the file, HDU and ObsCore rows of the FITS images among them — all in one
/// transaction (idempotent; history keeps what an update replaces). Headers that cannot be
/// translated are skipped and reported.
pub async fn ingest_headers(
    store: Arc<dyn skyport_store::Store>,
    schemas: &[skyport_schema::Schema],
    instrument: &str,
    files: &[PathBuf],
    images: Option<Arc<skyport_consdb::IngestSettings>>,
) -> Result<IngestOutcome> {
    let gathered = {
        let (instrument, files) = (instrument.to_string(), files.to_vec());
        tokio::task::spawn_blocking(move || gather(&instrument, &files, images.as_deref())).await?
    };
    let consdb = skyport_consdb::ConsDb::new(Arc::clone(&store), schemas);
    let mut outcome = IngestOutcome {
        written: gathered.exposures.len(),
        detectors: gathered.ccdexposures.len(),
        skipped: gathered.skipped,
        not_served: gathered.not_served,
        ..Default::default()
    };
    let mut statements = Vec::new();
    let has_table = |table: &str| {
        consdb
            .tables(instrument)
            .is_ok_and(|t| t.iter().any(|name| name.ends_with(&format!(".{table}"))))
    };
    for (table, rows) in [
        ("exposure", gathered.exposures),
        ("ccdexposure", gathered.ccdexposures),
        ("ccdexposure_camera", gathered.cameras),
    ] {
        if rows.is_empty() || (table != "exposure" && !has_table(table)) {
            continue;
        }
        let (s, _) = consdb
            .bulk_statements(instrument, table, rows, true)
            .await
            .map_err(|e| anyhow::anyhow!("writing cdb_{instrument}.{table}: {e}"))?;
        statements.extend(s);
    }
    let dids: Vec<&str> = gathered
        .images
        .iter()
        .map(|i| i.publisher_did.as_str())
        .collect();
    let stored = skyport_store::ImageIndex::new(Arc::clone(&store))
        .stored_hashes(&dids)
        .await?;
    for image in &gathered.images {
        if stored.get(&image.publisher_did) != Some(&image.content_sha256) {
            statements.extend(image.statements(store.dialect()));
            outcome.images += 1;
        }
    }
    // Written for unchanged images too: an archive made before the relation table gains it.
    for relation in &gathered.relations {
        statements.extend(relation.statements(store.dialect(), instrument));
    }
    if !statements.is_empty() {
        let author = format!(
            "ingest-headers:{}",
            std::env::var("USER").unwrap_or_else(|_| "skyport".into())
        );
        store
            .write(&author, statements)
            .await
            .map_err(|e| anyhow::anyhow!("writing cdb_{instrument}: {e}"))?;
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
                    Ok(t) => {
                        let detectors: Vec<Value> = t
                            .detectors
                            .iter()
                            .map(|d| {
                                let mut row = d.ccdexposure(&t.exposure);
                                row.insert("temp_set".into(), json!(d.temp_set));
                                row.insert("ccd_temp".into(), json!(d.ccd_temp));
                                Value::Object(row)
                            })
                            .collect();
                        json!({
                            "file": file.display().to_string(),
                            "exposure": t.exposure,
                            "detectors": detectors,
                        })
                    }
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
            let outcome = ingest_headers(
                Arc::clone(&store),
                &config.consdb_schemas,
                &instrument,
                &files,
                Some(Arc::new(config.ingest_settings())),
            )
            .await?;
            for (_, reason) in &outcome.not_served {
                eprintln!("metadata only (not served as an image): {reason}");
            }
            for (file, reason) in &outcome.skipped {
                eprintln!("skipped: {}: {reason}", file.display());
            }
            let failed = outcome.skipped.len();
            println!(
                "{} exposure and {} detector rows written to cdb_{instrument}, {} images to ObsCore, {failed} headers skipped, {:.1} files/s",
                outcome.written,
                outcome.detectors,
                outcome.images,
                files.len() as f64 / started.elapsed().as_secs_f64().max(1e-9)
            );
            // The exposures it recorded may perform planned observations.
            let done = skyport_consdb::obsplan::reconcile(
                &store,
                std::slice::from_ref(&instrument),
                chrono::Utc::now(),
            )
            .await?;
            if done.performed + done.aborted > 0 {
                println!(
                    "observation plan: {} now performed, {} aborted",
                    done.performed, done.aborted
                );
            }
            // The images it wrote join their HiPS, as after `skyport ingest`.
            if config.hips.after_ingest && outcome.images > 0 {
                crate::hips_cmd::update_existing(&config, Arc::clone(&store)).await?;
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(crate::EXIT_SOME_FAILED)
            })
        }
    }
}
