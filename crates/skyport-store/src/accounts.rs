//! What the archive records about its users itself: skyport's own API tokens (only a hash of
//! each secret) and the ends of group memberships (`skyport rights revoke`), which outlive
//! the memberships an identity provider reports. Kept in two internal tables that no TAP
//! query can name (they are not in any schema of the catalogue).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{ddl, Dialect, Statement, Store, StoreError, Value};

const TOKENS: &str = "skyport_api_token";
const ENDS: &str = "skyport_membership_end";

/// One stored API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The public half of the token, its id.
    pub key: String,
    /// Hex SHA-256 of the secret half.
    pub secret_hash: String,
    /// Whom it identifies.
    pub user: String,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// The groups it makes its user a member of.
    pub groups: Vec<String>,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked: Option<DateTime<Utc>>,
}

impl StoredToken {
    /// Whether it identifies its user at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked.is_none() && self.expires.is_none_or(|e| now < e)
    }
}

/// The archive's own records of users, over a [`Store`].
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

fn time_text(t: DateTime<Utc>) -> Value {
    Value::Text(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A JSON list of strings kept as text (none when absent or unreadable).
pub(crate) fn list_of(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_str)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

impl Accounts {
    /// The records of `store`, creating their tables if they are not there yet.
    pub async fn open(store: Arc<dyn Store>) -> Result<Accounts, StoreError> {
        // Times are kept as RFC 3339 text on both backends: they are compared in Rust, never
        // in SQL, so one representation serves both.
        store
            .write(
                "skyport",
                vec![
                    Statement::new(
                        format!(
                            "CREATE TABLE IF NOT EXISTS {TOKENS} (token_key TEXT PRIMARY KEY, \
                             secret_hash TEXT NOT NULL, username TEXT NOT NULL, scopes TEXT NOT NULL, \
                             member_of TEXT NOT NULL, created TEXT NOT NULL, expires TEXT, revoked TEXT)"
                        ),
                        Vec::new(),
                    ),
                    Statement::new(
                        format!(
                            "CREATE TABLE IF NOT EXISTS {ENDS} (username TEXT NOT NULL, \
                             group_name TEXT NOT NULL, ends TEXT NOT NULL, \
                             PRIMARY KEY (username, group_name))"
                        ),
                        Vec::new(),
                    ),
                ],
            )
            .await?;
        Ok(Accounts { store })
    }

    fn mark(&self, n: usize) -> String {
        ddl::placeholder(self.store.dialect(), n)
    }

    /// Records a new token, written by `author`.
    pub async fn add_token(&self, token: &StoredToken, author: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {TOKENS} (token_key, secret_hash, username, scopes, member_of, created, expires, revoked) \
             VALUES ({}, {}, {}, {}, {}, {}, {}, NULL)",
            self.mark(1),
            self.mark(2),
            self.mark(3),
            self.mark(4),
            self.mark(5),
            self.mark(6),
            self.mark(7)
        );
        let json = |v: &Vec<String>| Value::Text(serde_json::Value::from(v.clone()).to_string());
        self.store
            .write(
                author,
                vec![Statement::new(
                    sql,
                    vec![
                        Value::Text(token.key.clone()),
                        Value::Text(token.secret_hash.clone()),
                        Value::Text(token.user.clone()),
                        json(&token.scopes),
                        json(&token.groups),
                        time_text(token.created),
                        token.expires.map_or(Value::Null, time_text),
                    ],
                )],
            )
            .await
            .map(|_| ())
    }

    const COLUMNS: &'static str =
        "token_key, secret_hash, username, scopes, member_of, created, expires, revoked";

    fn decode(row: &[Value]) -> Option<StoredToken> {
        Some(StoredToken {
            key: row.first()?.as_str()?.to_string(),
            secret_hash: row.get(1)?.as_str()?.to_string(),
            user: row.get(2)?.as_str()?.to_string(),
            scopes: list_of(row.get(3)),
            groups: list_of(row.get(4)),
            created: time_of(row.get(5))?,
            expires: time_of(row.get(6)),
            revoked: time_of(row.get(7)),
        })
    }

    /// The token with public half `key`, if one was ever made.
    pub async fn token(&self, key: &str) -> Result<Option<StoredToken>, StoreError> {
        let rows = self
            .store
            .query_private(
                format!(
                    "SELECT {} FROM {TOKENS} WHERE token_key = {}",
                    Self::COLUMNS,
                    self.mark(1)
                ),
                vec![Value::Text(key.to_string())],
            )
            .await?;
        Ok(rows.rows.first().and_then(|r| Self::decode(r)))
    }

    /// Every token, oldest first (of `user` only, if given).
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<StoredToken>, StoreError> {
        let (filter, params) = match user {
            Some(u) => (
                format!(" WHERE username = {}", self.mark(1)),
                vec![Value::Text(u.to_string())],
            ),
            None => (String::new(), Vec::new()),
        };
        let rows = self
            .store
            .query_private(
                format!(
                    "SELECT {} FROM {TOKENS}{filter} ORDER BY created, token_key",
                    Self::COLUMNS
                ),
                params,
            )
            .await?;
        Ok(rows.rows.iter().filter_map(|r| Self::decode(r)).collect())
    }

    /// Revokes token `key` at `at`, by `author`; false if there is no such token (or it was
    /// revoked before).
    pub async fn revoke_token(
        &self,
        key: &str,
        at: DateTime<Utc>,
        author: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .store
            .write(
                author,
                vec![Statement::new(
                    format!(
                        "UPDATE {TOKENS} SET revoked = {} WHERE token_key = {} AND revoked IS NULL",
                        self.mark(1),
                        self.mark(2)
                    ),
                    vec![time_text(at), Value::Text(key.to_string())],
                )],
            )
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    /// Records that `user`'s membership of `group` ends (or ended) at `ends`, by `author`.
    pub async fn end_membership(
        &self,
        user: &str,
        group: &str,
        ends: DateTime<Utc>,
        author: &str,
    ) -> Result<(), StoreError> {
        let (m1, m2, m3) = (self.mark(1), self.mark(2), self.mark(3));
        let upsert = match self.store.dialect() {
            Dialect::Sqlite => format!(
                "INSERT INTO {ENDS} (username, group_name, ends) VALUES ({m1}, {m2}, {m3}) \
                 ON CONFLICT (username, group_name) DO UPDATE SET ends = excluded.ends"
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {ENDS} (username, group_name, ends) VALUES ({m1}, {m2}, {m3}) \
                 ON CONFLICT (username, group_name) DO UPDATE SET ends = EXCLUDED.ends"
            ),
        };
        self.store
            .write(
                author,
                vec![Statement::new(
                    upsert,
                    vec![
                        Value::Text(user.to_string()),
                        Value::Text(group.to_string()),
                        time_text(ends),
                    ],
                )],
            )
            .await
            .map(|_| ())
    }

    /// The recorded ends of `user`'s memberships, by group.
    pub async fn membership_ends(
        &self,
        user: &str,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = self
            .store
            .query_private(
                format!(
                    "SELECT group_name, ends FROM {ENDS} WHERE username = {} ORDER BY group_name",
                    self.mark(1)
                ),
                vec![Value::Text(user.to_string())],
            )
            .await?;
        Ok(rows
            .rows
            .iter()
            .filter_map(|r| Some((r.first()?.as_str()?.to_string(), time_of(r.get(1))?)))
            .collect())
    }
}
