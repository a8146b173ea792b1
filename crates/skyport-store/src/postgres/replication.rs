//! One-way logical replication of the archive between PostgreSQL clusters (DMTN-227's merge
//! tree: summit → USDF → data-access centres). The publisher publishes the archive's data
//! schemas; a replica migrates the same schemas (logical replication carries rows, not DDL),
//! subscribes, and is then served read-only by skyport. TAP_SCHEMA and the job table stay
//! local: each server describes its own tables and runs its own jobs.

use tokio_postgres::NoTls;

use super::{backend, describe, PostgresStore};
use crate::ddl::quote_ident;
use crate::StoreError;

/// The name of skyport's publication.
pub const PUBLICATION: &str = "skyport";

/// Schemas that are published: everything migrated except TAP_SCHEMA.
pub fn published(schemas: &[String]) -> Vec<String> {
    schemas
        .iter()
        .filter(|s| !s.eq_ignore_ascii_case("TAP_SCHEMA"))
        .cloned()
        .collect()
}

/// Whether the database `client` is connected to has skyport's publication.
async fn has_publication(client: &tokio_postgres::Client) -> Result<bool, StoreError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&PUBLICATION],
        )
        .await
        .map_err(backend)?
        .is_some())
}

/// A name safe as an unquoted PostgreSQL identifier.
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl PostgresStore {
    /// Creates (or brings up to date) the publication of `schemas` on this database. The
    /// server needs `wal_level = logical`.
    pub async fn publish(&self, schemas: &[String]) -> Result<(), StoreError> {
        let schemas = published(schemas);
        if schemas.is_empty() {
            return Err(StoreError::Backend("no schema to publish".into()));
        }
        let list = schemas
            .iter()
            .map(|s| quote_ident(s))
            .collect::<Vec<_>>()
            .join(", ");
        let client = self.writer().await?;
        let level: String = client
            .query_one("SHOW wal_level", &[])
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        if level != "logical" {
            return Err(StoreError::Backend(format!(
                "this server has wal_level = {level}; publishing needs wal_level = logical (postgresql.conf, then a restart)"
            )));
        }
        let exists = has_publication(&client).await?;
        let sql = if exists {
            format!("ALTER PUBLICATION {PUBLICATION} SET TABLES IN SCHEMA {list}")
        } else {
            format!("CREATE PUBLICATION {PUBLICATION} FOR TABLES IN SCHEMA {list}")
        };
        client.batch_execute(&sql).await.map_err(backend)
    }

    /// Subscribes this database to the publication at `publisher` (a `postgres://` URL the
    /// server of this database can reach) under the subscription `name`, which also names the
    /// replication slot on the publisher and must be unique there. The tables must exist
    /// here (run [`crate::Store::migrate`] first). Waits until the initial copy is done.
    pub async fn subscribe(&self, publisher: &str, name: &str) -> Result<(), StoreError> {
        if !is_identifier(name) {
            return Err(StoreError::Backend(format!(
                "subscription name {name:?} must be lower-case letters, digits and _"
            )));
        }
        // The publisher must answer before the subscription is made.
        let (probe, connection) = tokio_postgres::connect(publisher, NoTls)
            .await
            .map_err(|e| StoreError::Open {
                target: super::redact(publisher),
                reason: describe(&e),
            })?;
        let task = tokio::spawn(connection);
        let published = has_publication(&probe).await?;
        drop(probe);
        let _ = task.await;
        if !published {
            return Err(StoreError::Backend(format!(
                "{} has no publication {PUBLICATION}: run `skyport replicate publish` there first",
                super::redact(publisher)
            )));
        }
        let client = self.writer().await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_subscription WHERE subname = $1", &[&name])
            .await
            .map_err(backend)?
            .is_some();
        if !exists {
            let conninfo = publisher.replace('\'', "''");
            // Not in a transaction block: it creates the slot on the publisher.
            client
                .batch_execute(&format!(
                    "CREATE SUBSCRIPTION {name} CONNECTION '{conninfo}' PUBLICATION {PUBLICATION}"
                ))
                .await
                .map_err(backend)?;
        } else {
            client
                .batch_execute(&format!("ALTER SUBSCRIPTION {name} REFRESH PUBLICATION"))
                .await
                .map_err(backend)?;
        }
        self.wait_for_sync(name).await
    }

    /// Waits until every table of the subscription `name` has its initial copy.
    pub async fn wait_for_sync(&self, name: &str) -> Result<(), StoreError> {
        let client = self.writer().await?;
        for _ in 0..600 {
            let pending: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid \
                     WHERE s.subname = $1 AND r.srsubstate <> 'r'",
                    &[&name],
                )
                .await
                .map_err(backend)?
                .try_get(0)
                .map_err(backend)?;
            if pending == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(StoreError::Backend(format!(
            "subscription {name} did not finish its initial copy within a minute"
        )))
    }

    /// Drops the subscription `name` (and its slot on the publisher, when reachable).
    pub async fn unsubscribe(&self, name: &str) -> Result<(), StoreError> {
        if !is_identifier(name) {
            return Err(StoreError::Backend(format!(
                "bad subscription name {name:?}"
            )));
        }
        let client = self.writer().await?;
        client
            .batch_execute(&format!("DROP SUBSCRIPTION IF EXISTS {name}"))
            .await
            .map_err(backend)
    }

    /// The schemas migrated into this database so far (from skyport's version table).
    pub async fn migrated_schemas(&self) -> Result<Vec<String>, StoreError> {
        let client = self.writer().await?;
        client
            .query(
                "SELECT schema_name FROM public.skyport_schema_version ORDER BY schema_name",
                &[],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect()
    }

    /// The name of this database (for a default subscription name).
    pub async fn database_name(&self) -> Result<String, StoreError> {
        let client = self.writer().await?;
        client
            .query_one("SELECT current_database()::text", &[])
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_schema_is_not_published_and_names_are_checked() {
        let all = ["TAP_SCHEMA", "skyport", "ivoa", "cdb_latiss"].map(String::from);
        assert_eq!(published(&all), ["skyport", "ivoa", "cdb_latiss"]);
        assert!(is_identifier("skyport_replica_2"));
        assert!(!is_identifier("x; DROP TABLE y"));
        assert!(!is_identifier("2x"));
    }
}
