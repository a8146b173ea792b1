//! The PostgreSQL backend (with pgsphere for geometry), for scale and for several servers on
//! one database. Connections come from two pools: a writer pool for migrations, ingest and
//! jobs, and a reader pool whose sessions run as the `skyport_reader` role (SELECT only) in
//! read-only transactions, for TAP and every other query a client can shape.
//!
//! Reads stream through a portal: rows are fetched [`BATCH_ROWS`] at a time, so no result is
//! ever held whole, and a consumer that goes away stops the query (the portal is closed, or a
//! running fetch cancelled on the server).

mod migrate;
pub mod replication;
pub mod scratch;
mod stream;
pub mod values;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod};
use skyport_schema::Schema;
use tokio_postgres::{NoTls, Row as PgRow};

use crate::ddl;
use crate::stream::{JobRow, QueryRequest, RowStream};
use crate::{
    Dialect, ImageRecord, MigrationStep, Row, Rows, Store, StoreError, UpsertOutcome, Value,
};
use values::{Cell, Param};

const DIALECT: Dialect = Dialect::Postgres;

/// The role reader sessions switch to: it may read the published schemas and nothing else.
pub const READER_ROLE: &str = "skyport_reader";

/// PostgreSQL-backed [`Store`].
pub struct PostgresStore {
    target: String,
    writer: Pool,
    reader: Pool,
    reader_role: Arc<AtomicBool>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish()
    }
}

/// A database error with PostgreSQL's own message and detail, not the driver's summary.
pub(crate) fn backend(e: tokio_postgres::Error) -> StoreError {
    // SQLSTATE classes 22 (data exception) and 54 (program limit exceeded) are about the
    // statement's values and size: what the client asked for, not a fault of the database.
    match e.code().map(|c| c.code()) {
        Some(code) if code.starts_with("22") || code.starts_with("54") => {
            StoreError::Query(describe(&e))
        }
        _ => StoreError::Backend(describe(&e)),
    }
}

pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(detail) = db.detail() {
                s.push_str(": ");
                s.push_str(detail);
            }
            s
        }
        None => e.to_string(),
    }
}

/// The error of the `n`-th statement of a write; a broken constraint (SQLSTATE class 23) as
/// [`StoreError::Constraint`].
fn statement_error(n: usize, e: &tokio_postgres::Error) -> StoreError {
    let message = format!("statement {n}: {}", describe(e));
    match e.code() {
        Some(code) if code.code().starts_with("23") => StoreError::Constraint(message),
        _ => StoreError::Backend(message),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => backend(e),
        other => StoreError::Backend(format!("database connection pool: {other}")),
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn params(values: &[Value]) -> Vec<Param<'_>> {
    values.iter().map(Param).collect()
}

pub(crate) fn cells(row: &PgRow) -> Result<Vec<Value>, StoreError> {
    (0..row.len())
        .map(|i| {
            row.try_get::<_, Cell>(i)
                .map(|c| c.0)
                .map_err(|e| StoreError::Backend(format!("reading column {i}: {e}")))
        })
        .collect()
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with up to `readers`
    /// reader connections. Connections open lazily; this checks that one can.
    pub async fn connect(url: &str, readers: usize) -> Result<PostgresStore, StoreError> {
        let target = redact(url);
        let open_err = |reason: String| StoreError::Open {
            target: target.clone(),
            reason,
        };
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| open_err(e.to_string()))?;
        let manager = |config: tokio_postgres::Config| {
            Manager::from_config(
                config,
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            )
        };
        let mut writer_config = config.clone();
        writer_config.application_name("skyport");
        // A fixed search_path: the default `"$user", public` would resolve unqualified names
        // into a published schema when the account is called like one (`skyport`).
        let options = match config.get_options() {
            Some(given) => format!("{given} -c search_path=public"),
            None => "-c search_path=public".to_string(),
        };
        writer_config.options(options.clone());
        let writer = Pool::builder(manager(writer_config))
            .max_size(4)
            .wait_timeout(Some(Duration::from_secs(30)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let reader_role = Arc::new(AtomicBool::new(false));
        let hook_role = Arc::clone(&reader_role);
        let mut reader_config = config;
        reader_config.application_name("skyport-reader");
        reader_config.options(options);
        let reader = Pool::builder(manager(reader_config))
            .max_size(readers.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .post_create(Hook::async_fn(move |client, _| {
                let role = Arc::clone(&hook_role);
                Box::pin(async move {
                    // The role exists once a migration has run; until then (and where the
                    // server does not allow roles) the session is read-only only.
                    let switched = client
                        .batch_execute(&format!("SET ROLE {READER_ROLE}"))
                        .await
                        .is_ok();
                    if role.swap(switched, Ordering::Relaxed) != switched && !switched {
                        tracing::warn!(
                            "reader sessions cannot switch to role {READER_ROLE}; they rely on read-only transactions alone"
                        );
                    }
                    client
                        .batch_execute("SET default_transaction_read_only = on")
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let store = PostgresStore {
            target: target.clone(),
            writer,
            reader,
            reader_role,
        };
        let client = store.writer.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => open_err(describe(&e)),
            other => open_err(other.to_string()),
        })?;
        drop(client);
        Ok(store)
    }

    /// The database, with the password hidden.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether reader sessions run as [`READER_ROLE`] (known once a reader has connected).
    pub fn readers_use_role(&self) -> bool {
        self.reader_role.load(Ordering::Relaxed)
    }

    /// Refreshes the planner's statistics of every table (after a bulk load).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        self.writer()
            .await?
            .batch_execute("ANALYZE")
            .await
            .map_err(backend)
    }

    async fn writer(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.writer.get().await.map_err(pool_error)
    }

    async fn reader(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.reader.get().await.map_err(pool_error)
    }
}

/// A transaction on the writer whose history rows name `author`.
async fn write_transaction<'c>(
    client: &'c mut deadpool_postgres::Object,
    author: &str,
) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute(
        "SELECT set_config($1, $2, true)",
        &[&crate::history::AUTHOR_SETTING, &author],
    )
    .await
    .map_err(backend)?;
    Ok(tx)
}

/// Runs statement number `n` (from 1) of a write; the rows it affected.
async fn run_statement(
    tx: &deadpool_postgres::Transaction<'_>,
    n: usize,
    statement: &crate::Statement,
) -> Result<u64, StoreError> {
    let prepared = tx
        .prepare_cached(&statement.sql)
        .await
        .map_err(|e| statement_error(n, &e))?;
    tx.execute_raw(&prepared, self::params(&statement.params))
        .await
        .map_err(|e| statement_error(n, &e))
}

async fn insert_row(
    tx: &deadpool_postgres::Transaction<'_>,
    schema: &str,
    table: &str,
    row: &Row,
) -> Result<(), StoreError> {
    let columns: Vec<&str> = row.0.iter().map(|(c, _)| c.as_str()).collect();
    let sql = ddl::insert(DIALECT, schema, table, &columns);
    let stmt = tx.prepare_cached(&sql).await.map_err(backend)?;
    let values: Vec<Param<'_>> = row.0.iter().map(|(_, v)| Param(v)).collect::<Vec<_>>();
    tx.execute_raw(&stmt, values).await.map_err(|e| {
        StoreError::Backend(format!("inserting into {schema}.{table}: {}", describe(&e)))
    })?;
    Ok(())
}

const JOB_COLUMNS: &str = "id, created, phase, service, document";

fn job_row(r: &PgRow) -> Result<JobRow, StoreError> {
    Ok(JobRow {
        id: r.try_get(0).map_err(backend)?,
        created: r.try_get(1).map_err(backend)?,
        phase: r.try_get(2).map_err(backend)?,
        service: r.try_get(3).map_err(backend)?,
        document: r.try_get(4).map_err(backend)?,
    })
}

const WRITE_JOB: &str = "INSERT INTO public.skyport_uws_job (id, created, phase, service, document) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET phase=excluded.phase, document=excluded.document";

/// Runs `edit` on the row `select` locks (if any) and writes the outcome, in one transaction.
async fn edit_locked(
    client: &mut deadpool_postgres::Object,
    select: &str,
    key: &str,
    edit: crate::JobEdit,
) -> Result<Option<JobRow>, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    let current = tx
        .query_opt(select, &[&key])
        .await
        .map_err(backend)?
        .as_ref()
        .map(job_row)
        .transpose()?;
    let Some(current) = current else {
        return Ok(None);
    };
    let out = match edit(&current) {
        Some(changed) => {
            tx.execute(
                WRITE_JOB,
                &[
                    &changed.id,
                    &changed.created,
                    &changed.phase,
                    &changed.service,
                    &changed.document,
                ],
            )
            .await
            .map_err(backend)?;
            changed
        }
        None => current,
    };
    tx.commit().await.map_err(backend)?;
    Ok(Some(out))
}

#[async_trait]
impl Store for PostgresStore {
    fn dialect(&self) -> Dialect {
        DIALECT
    }

    async fn migrate(&self, schemas: &[Schema]) -> Result<Vec<MigrationStep>, StoreError> {
        let mut client = self.writer().await?;
        let steps = migrate::migrate(&mut client, schemas).await?;
        // Sessions opened before the role existed are read-only but not yet restricted.
        self.reader.retain(|_, _| false);
        Ok(steps)
    }

    async fn upsert_image(&self, image: ImageRecord) -> Result<UpsertOutcome, StoreError> {
        let mut client = self.writer().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Two servers ingesting the same file wait for each other instead of colliding.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&image.publisher_did],
        )
        .await
        .map_err(backend)?;
        let files = ddl::table_name(DIALECT, "skyport", "image_file");
        let existing: Option<String> = tx
            .query_opt(
                &format!("SELECT content_sha256 FROM {files} WHERE obs_publisher_did=$1"),
                &[&image.publisher_did],
            )
            .await
            .map_err(backend)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(backend)?;
        if existing.as_deref() == Some(image.content_sha256.as_str()) {
            return Ok(UpsertOutcome::Unchanged);
        }
        if existing.is_some() {
            for (schema, table) in [
                ("skyport", "image_hdu"),
                ("ivoa", "ObsCore"),
                ("skyport", "image_file"),
            ] {
                tx.execute(
                    &format!(
                        "DELETE FROM {} WHERE obs_publisher_did=$1",
                        ddl::table_name(DIALECT, schema, table)
                    ),
                    &[&image.publisher_did],
                )
                .await
                .map_err(backend)?;
            }
        }
        insert_row(&tx, "skyport", "image_file", &image.file).await?;
        for hdu in &image.hdus {
            insert_row(&tx, "skyport", "image_hdu", hdu).await?;
        }
        insert_row(&tx, "ivoa", "ObsCore", &image.obscore).await?;
        let derived = image
            .coverage_statements(DIALECT)
            .into_iter()
            .chain(image.caom2_statements(DIALECT));
        for (n, statement) in derived.enumerate() {
            run_statement(&tx, n + 1, &statement).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(if existing.is_some() {
            UpsertOutcome::Updated
        } else {
            UpsertOutcome::Inserted
        })
    }

    async fn insert_rows(
        &self,
        schema: &str,
        table: &str,
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
    ) -> Result<u64, StoreError> {
        let mut client = self.writer().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let n = stream::copy_in(&tx, schema, table, &columns, &rows).await?;
        tx.commit().await.map_err(backend)?;
        Ok(n)
    }

    async fn write(
        &self,
        author: &str,
        statements: Vec<crate::Statement>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut client = self.writer().await?;
        let tx = write_transaction(&mut client, author).await?;
        let mut counts = Vec::with_capacity(statements.len());
        for (n, statement) in statements.iter().enumerate() {
            counts.push(run_statement(&tx, n + 1, statement).await?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(counts)
    }

    async fn write_batches<'a>(
        &'a self,
        author: &'a str,
        mut batches: futures_util::stream::BoxStream<'a, Result<Vec<crate::Statement>, StoreError>>,
    ) -> Result<u64, StoreError> {
        use futures_util::StreamExt;
        let mut client = self.writer().await?;
        // Dropped without a commit (an error, or the caller gone), the transaction rolls back.
        let tx = write_transaction(&mut client, author).await?;
        let (mut n, mut total) = (0, 0);
        while let Some(batch) = batches.next().await {
            for statement in &batch? {
                n += 1;
                total += run_statement(&tx, n, statement).await?;
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(total)
    }

    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError> {
        let mut client = self.reader().await?;
        read_rows(&mut client, sql, params).await
    }

    async fn query_private(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError> {
        let mut client = self.writer().await?;
        read_rows(&mut client, sql, params).await
    }

    async fn stream(&self, request: QueryRequest) -> Result<RowStream, StoreError> {
        let client = self.reader().await?;
        stream::start(client, request).await
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn save_job(&self, job: JobRow) -> Result<(), StoreError> {
        let client = self.writer().await?;
        client
            .execute(
                WRITE_JOB,
                &[
                    &job.id,
                    &job.created,
                    &job.phase,
                    &job.service,
                    &job.document,
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn edit_job(&self, id: &str, edit: crate::JobEdit) -> Result<Option<JobRow>, StoreError> {
        let mut client = self.writer().await?;
        edit_locked(
            &mut client,
            &format!("SELECT {JOB_COLUMNS} FROM public.skyport_uws_job WHERE id=$1 FOR UPDATE"),
            id,
            edit,
        )
        .await
    }

    async fn claim_job(
        &self,
        service: &str,
        claim: crate::JobEdit,
    ) -> Result<Option<JobRow>, StoreError> {
        let mut client = self.writer().await?;
        // A job another server is claiming right now is skipped, not waited for.
        edit_locked(
            &mut client,
            &format!(
                "SELECT {JOB_COLUMNS} FROM public.skyport_uws_job WHERE service=$1 AND phase='QUEUED' \
                 ORDER BY created, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ),
            service,
            claim,
        )
        .await
    }

    async fn load_job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let client = self.writer().await?;
        client
            .query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM public.skyport_uws_job WHERE id=$1"),
                &[&id],
            )
            .await
            .map_err(backend)?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    async fn load_jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        let client = self.writer().await?;
        client
            .query(
                &format!("SELECT {JOB_COLUMNS} FROM public.skyport_uws_job ORDER BY created, id"),
                &[],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(job_row)
            .collect()
    }

    async fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.writer().await?;
        client
            .execute("DELETE FROM public.skyport_uws_job WHERE id=$1", &[&id])
            .await
            .map(|n| n > 0)
            .map_err(backend)
    }
}

/// Runs a read-only statement in a transaction that is rolled back, returning its rows.
async fn read_rows(
    client: &mut deadpool_postgres::Object,
    sql: String,
    params: Vec<Value>,
) -> Result<Rows, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    let stmt = tx.prepare(&sql).await.map_err(backend)?;
    let columns = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let rows = tx
        .query_raw(&stmt, self::params(&params))
        .await
        .map_err(backend)?;
    use futures_util::TryStreamExt;
    let rows: Vec<PgRow> = rows.try_collect().await.map_err(backend)?;
    let rows = rows.iter().map(cells).collect::<Result<Vec<_>, _>>()?;
    tx.rollback().await.map_err(backend)?;
    Ok(Rows { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://ann:secret@db:5432/x"),
            "postgres://ann:***@db:5432/x"
        );
        assert_eq!(redact("postgres://ann@db/x"), "postgres://ann@db/x");
        assert_eq!(redact("host=db user=ann"), "host=db user=ann");
    }
}
