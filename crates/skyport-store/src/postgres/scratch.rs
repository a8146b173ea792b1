//! Throw-away databases for tests: each test gets its own database on a shared server, made
//! from the `skyport` database as template (so pgsphere is already in it, see
//! `scripts/pg-cluster`), and dropped when the handle is.

use tokio_postgres::NoTls;

use super::describe;
use crate::StoreError;

/// The environment variable naming the server's `skyport` database.
pub const URL_VARIABLE: &str = "SKYPORT_PG_URL";

/// The server URL for tests, or `None` (with a note on stderr) when tests should skip the
/// PostgreSQL part. With `SKYPORT_REQUIRE_PG=1` (set by scripts/test) a missing server is a
/// panic: there the PostgreSQL suite is mandatory.
pub fn test_url(test: &str) -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("SKYPORT_REQUIRE_PG").as_deref() != Ok("1"),
                "SKYPORT_REQUIRE_PG=1 but {URL_VARIABLE} is not set"
            );
            eprintln!("SKIPPED on PostgreSQL: {test} (set {URL_VARIABLE}; scripts/test does)");
            None
        }
    }
}

/// A database that exists for as long as this value.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{database}{query}", &base[..host_end])
}

impl ScratchDatabase {
    /// Creates a database named after `label` and the process on the server of `url`.
    pub async fn create(url: &str, label: &str) -> Result<ScratchDatabase, StoreError> {
        let admin_url = with_database(url, "postgres");
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "t_{clean}_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let (client, connection) =
            tokio_postgres::connect(&admin_url, NoTls)
                .await
                .map_err(|e| StoreError::Open {
                    target: super::redact(&admin_url),
                    reason: describe(&e),
                })?;
        let task = tokio::spawn(connection);
        // CREATE DATABASE from a template fails while another session uses the template;
        // tests start at the same moment, so a few retries.
        let mut attempt = 0;
        loop {
            match client
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE skyport"))
                .await
            {
                Ok(()) => break,
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    tracing::debug!("creating {name}: {}", describe(&e));
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(super::backend(e)),
            }
        }
        drop(client);
        let _ = task.await;
        Ok(ScratchDatabase {
            url: with_database(url, &name),
            admin_url,
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop runs outside async code too; a plain thread with its own connection.
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop the scratch database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5/skyport", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5/skyport?sslmode=disable", "x"),
            "postgres://u@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    }
}
