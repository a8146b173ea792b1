//! `skyport adql check|translate`: the ADQL engine on the command line, reading the query on
//! stdin. The schema is the archive's (with `--config`) or the demo archive's; both come from
//! the same Felis declarations, with the store's spatial indexes declared to the translator.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use skyport_adql::{Catalogue, Dialect, Options};

use crate::config::Config;

/// The `adql` subcommands.
#[derive(Subcommand)]
pub enum AdqlCommand {
    /// Check ADQL read from stdin: prints OK and the result columns, or the error (exit 1).
    Check {
        /// The archive whose tables the query may name (default: the demo archive's).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Check syntax only, without resolving names.
        #[arg(long)]
        no_schema: bool,
    },
    /// Translate ADQL read from stdin to SQL for the given database.
    Translate {
        /// The SQL dialect to print.
        #[arg(long, value_enum, default_value = "sqlite")]
        dialect: DialectArg,
        /// The archive whose tables the query may name (default: the demo archive's).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `--dialect` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum DialectArg {
    /// SQLite with skyport's functions.
    Sqlite,
    /// PostgreSQL with pgsphere.
    Postgres,
}

/// The catalogue queries are resolved against: every built-in table, with the store's
/// spatial indexes.
pub fn catalogue() -> Catalogue {
    skyport_server::tap::catalogue()
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the query from stdin")?;
    Ok(text)
}

/// Runs an `adql` subcommand.
pub fn run(command: AdqlCommand) -> Result<ExitCode> {
    match command {
        AdqlCommand::Check { config, no_schema } => {
            if let Some(path) = &config {
                Config::load(path)?;
            }
            let text = read_stdin()?;
            let parsed = match skyport_adql::parse(&text) {
                Ok(q) => q,
                Err(e) => return Ok(report(&e)),
            };
            if no_schema {
                println!("OK");
                return Ok(ExitCode::SUCCESS);
            }
            match skyport_adql::translate(
                &parsed,
                &catalogue(),
                Dialect::Sqlite,
                &Options::default(),
            ) {
                Ok(t) => {
                    println!("OK");
                    for c in &t.columns {
                        let mut line = format!("{}\t{}", c.name, c.ty);
                        if let Some(u) = &c.meta.unit {
                            line.push_str(&format!("\tunit={u}"));
                        }
                        if let Some(u) = &c.meta.ucd {
                            line.push_str(&format!("\tucd={u}"));
                        }
                        println!("{line}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(report(&e)),
            }
        }
        AdqlCommand::Translate { dialect, config } => {
            if let Some(path) = &config {
                Config::load(path)?;
            }
            let text = read_stdin()?;
            let dialect = match dialect {
                DialectArg::Sqlite => Dialect::Sqlite,
                DialectArg::Postgres => Dialect::Postgres,
            };
            match skyport_adql::parse_and_translate(
                &text,
                &catalogue(),
                dialect,
                &Options::default(),
            ) {
                Ok(t) => {
                    println!("{}", t.sql);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(report(&e)),
            }
        }
    }
}

fn report(e: &skyport_adql::AdqlError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
