//! `skyport replicate …`: one-way PostgreSQL logical replication of an archive (DMTN-227's
//! merge tree). See docs/postgres.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use skyport_store::{PostgresStore, Store};

use crate::config::{Config, Database};

/// What to do.
#[derive(Debug, Subcommand)]
pub enum ReplicateCommand {
    /// Publish this archive's data schemas — every schema skyport has migrated into it but
    /// TAP_SCHEMA (run against the source database; needs wal_level = logical there).
    Publish {
        /// The source archive's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Make this archive a replica of a published one: create its tables, subscribe, and wait
    /// for the initial copy. The replica's config should say `read_only = true`.
    Subscribe {
        /// The replica's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The publisher's database, as the replica's PostgreSQL server reaches it.
        #[arg(long, value_name = "URL")]
        publisher: String,
        /// Subscription (and replication slot) name, unique on the publisher; default
        /// `skyport_<replica database name>`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop replicating (drops the subscription and its slot on the publisher).
    Unsubscribe {
        /// The replica's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Subscription name (default as for subscribe).
        #[arg(long)]
        name: Option<String>,
    },
}

async fn open(config: &Path) -> Result<PostgresStore> {
    let config = Config::load(config)?;
    let Database::Postgres(url) = config.database() else {
        bail!("replication needs a PostgreSQL archive (database.url), not an SQLite file");
    };
    let store = PostgresStore::connect(&url, 1)
        .await
        .context("connecting to PostgreSQL")?;
    store
        .migrate(&config.schemas())
        .await
        .context("migrating the archive database")?;
    Ok(store)
}

async fn subscription_name(store: &PostgresStore, name: Option<String>) -> Result<String> {
    Ok(match name {
        Some(n) => n,
        None => format!(
            "skyport_{}",
            store
                .database_name()
                .await?
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ),
    })
}

/// Runs a `replicate` subcommand.
pub async fn run(what: ReplicateCommand) -> Result<ExitCode> {
    match what {
        ReplicateCommand::Publish { config } => {
            let store = open(&config).await?;
            // Everything this archive holds (ConsDB schemas too, once migrated).
            let schemas = store.migrated_schemas().await?;
            store.publish(&schemas).await?;
            println!(
                "published {} as publication {}",
                skyport_store::postgres::replication::published(&schemas).join(", "),
                skyport_store::postgres::replication::PUBLICATION
            );
        }
        ReplicateCommand::Subscribe {
            config,
            publisher,
            name,
        } => {
            let store = open(&config).await?;
            let name = subscription_name(&store, name).await?;
            store.subscribe(&publisher, &name).await?;
            let images = store.count("ivoa", "ObsCore").await?;
            println!("subscription {name} is replicating; {images} ObsCore rows copied so far");
        }
        ReplicateCommand::Unsubscribe { config, name } => {
            let store = open(&config).await?;
            let name = subscription_name(&store, name).await?;
            store.unsubscribe(&name).await?;
            println!("subscription {name} dropped");
        }
    }
    Ok(ExitCode::SUCCESS)
}
