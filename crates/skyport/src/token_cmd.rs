//! `skyport token create|list|revoke` — skyport's own API tokens for robots and services —
//! and `skyport rights revoke`, which ends a user's membership of a group at a time.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use skyport_auth::ApiToken;
use skyport_server::access::tokens::{issue, TokenRequest};
use skyport_store::Accounts;

use crate::config::Config;

/// `skyport token …`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (once, and nothing else on stdout).
    Create {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Whom it identifies.
        #[arg(long)]
        user: String,
        /// Comma-separated scopes (read:tap, read:image, write:consdb, write:files,
        /// admin:jobs, admin:token).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Comma-separated groups it makes its user a member of (data rights).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Lifetime (30d, 12h, 1w…); none: until revoked.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List the tokens (never their secrets).
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token, by its key (the part between `skp_` and the dot) or whole.
    Revoke {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The key, or the token. A key may begin with `-` (keys are base64url).
        #[arg(allow_hyphen_values = true)]
        key: String,
    },
}

/// `skyport rights …`
#[derive(Subcommand)]
pub enum RightsCommand {
    /// End a user's membership of a group at a time: afterwards they keep what was
    /// released before it and see nothing released later.
    Revoke {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The user.
        #[arg(long)]
        user: String,
        /// The group.
        #[arg(long)]
        group: String,
        /// When the membership ends (ISO 8601, UTC); default now.
        #[arg(long)]
        at: Option<String>,
    },
}

async fn accounts(config: &std::path::Path) -> Result<Accounts> {
    let config = Config::load(config)?;
    let store = crate::open_store(&config).await?;
    Accounts::open(store)
        .await
        .context("opening the archive's user records")
}

/// Who runs the command, for the audit trail.
fn operator() -> String {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{who}")
}

fn when(text: &str) -> Result<DateTime<Utc>> {
    skyport_schema::time::parse_iso(text)
        .map(|t| t.and_utc())
        .with_context(|| format!("{text:?} is not an ISO 8601 time"))
}

/// Runs a token command.
pub async fn run(what: TokenCommand) -> Result<()> {
    match what {
        TokenCommand::Create {
            config,
            user,
            scopes,
            groups,
            expires,
        } => {
            let accounts = accounts(&config).await?;
            let request = TokenRequest {
                user,
                scopes,
                groups,
                expires,
            };
            let (token, _) = issue(&accounts, request, &operator()).await?;
            // The token alone on stdout, so scripts can capture it.
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { config, user } => {
            let accounts = accounts(&config).await?;
            let now = Utc::now();
            println!("key\tuser\tscopes\tgroups\tcreated\texpires\tstate");
            for t in accounts.tokens(user.as_deref()).await? {
                let state = if t.revoked.is_some() {
                    "revoked"
                } else if t.is_valid_at(now) {
                    "valid"
                } else {
                    "expired"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{state}",
                    t.key,
                    t.user,
                    t.scopes.join(","),
                    t.groups.join(","),
                    t.created.to_rfc3339(),
                    t.expires
                        .map(|e| e.to_rfc3339())
                        .unwrap_or_else(|| "never".into()),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { config, key } => {
            let key = ApiToken::parse(&key)
                .map(|(k, _)| k.to_string())
                .unwrap_or(key);
            let accounts = accounts(&config).await?;
            if !accounts.revoke_token(&key, Utc::now(), &operator()).await? {
                bail!("no valid token has key {key:?}");
            }
            tracing::info!(key = %key, by = %operator(), "API token revoked");
            eprintln!("revoked {key} (servers stop accepting it within [auth] cache_seconds)");
            Ok(())
        }
    }
}

/// Runs a rights command.
pub async fn run_rights(what: RightsCommand) -> Result<()> {
    match what {
        RightsCommand::Revoke {
            config,
            user,
            group,
            at,
        } => {
            let at = match at {
                Some(t) => when(&t)?,
                None => Utc::now(),
            };
            let accounts = accounts(&config).await?;
            accounts
                .end_membership(&user, &group, at, &operator())
                .await?;
            tracing::info!(user = %user, group = %group, at = %at, by = %operator(), "membership ended");
            eprintln!(
                "{user}'s membership of {group} ends at {}; they keep what was released before",
                at.to_rfc3339()
            );
            Ok(())
        }
    }
}
