//! `skyport workspace` and `skyport usertables`: what users keep in their own files and tables
//! (`[workspace]`), for administrators.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// List the users with files: bytes and entries kept against the quota, and what each
    /// shares with whom.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

pub fn run(what: WorkspaceCommand) -> Result<()> {
    match what {
        WorkspaceCommand::List { config } => {
            let config = Config::load(&config)?;
            let Some(settings) = config.workspace_settings() else {
                bail!("[workspace] enabled = false: this archive keeps no user files");
            };
            let dir = settings.dir.clone();
            let workspace = skyport_workspace::Workspace::open(settings)
                .with_context(|| format!("opening the workspace {}", dir.display()))?;
            let users = workspace.list_users()?;
            if users.is_empty() {
                println!("no user keeps files in {}", dir.display());
            }
            let limit = |n: u64| {
                if n == 0 {
                    "no limit".to_string()
                } else {
                    n.to_string()
                }
            };
            for (user, usage) in users {
                println!(
                    "{user}\t{} bytes of {}\t{} entries of {}",
                    usage.bytes,
                    limit(usage.quota_bytes),
                    usage.entries,
                    limit(usage.quota_entries)
                );
                for share in workspace.shares(&user)? {
                    println!(
                        "\tshares {} with {} ({})",
                        share.path,
                        share.group,
                        match share.access {
                            skyport_workspace::ShareAccess::Read => "read",
                            skyport_workspace::ShareAccess::Write => "read-write",
                        }
                    );
                }
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum UserTablesCommand {
    /// List every user table: its owner, rows, columns, and the groups that read and write it.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

pub async fn run_tables(what: UserTablesCommand) -> Result<()> {
    match what {
        UserTablesCommand::List { config } => {
            let config = Config::load(&config)?;
            let store = crate::open_store(&config).await?;
            let tables = skyport_store::user_tables::UserTables::open(store)
                .await?
                .all()
                .await?;
            if tables.is_empty() {
                println!("no user tables");
            }
            for t in tables {
                println!(
                    "{}\towner {}\t{} rows\t{} columns\tread: {}\twrite: {}",
                    t.qualified(),
                    t.owner,
                    t.rows,
                    t.columns.len(),
                    if t.read_groups.is_empty() {
                        "-".into()
                    } else {
                        t.read_groups.join(" ")
                    },
                    if t.write_groups.is_empty() {
                        "-".into()
                    } else {
                        t.write_groups.join(" ")
                    },
                );
            }
            Ok(())
        }
    }
}
