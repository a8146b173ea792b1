//! The embedded backend: one SQLite file in WAL mode, one writer connection, a small pool of
//! read-only connections, all used on tokio's blocking threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension, ToSql, Transaction};
use skyport_schema::Schema;
use tokio::sync::Semaphore;

use crate::ddl::{self, quote_ident};
use crate::sqlite_stream::Inline;
use crate::stream::{JobRow, QueryRequest, RowStream, BATCHES_IN_FLIGHT, BATCH_ROWS};

use crate::tap_schema;
use crate::{
    Dialect, ImageRecord, MigrationStep, Row, Rows, Store, StoreError, UpsertOutcome, Value,
};

/// How long a query may run on the calling (async) thread before it is moved to a blocking
/// thread and started again there.
const INLINE_BUDGET: std::time::Duration = std::time::Duration::from_millis(1);
/// Most rows a query run on the calling thread may give (they are held until it ends).
const INLINE_MAX_ROWS: usize = 4 * BATCH_ROWS;

/// Where UWS jobs are kept: internal bookkeeping, not part of any published schema.
const JOBS_DDL: &str = "CREATE TABLE IF NOT EXISTS skyport_uws_job (
   id TEXT PRIMARY KEY, created TEXT NOT NULL, phase TEXT NOT NULL, document TEXT NOT NULL,
   service TEXT NOT NULL DEFAULT 'tap')";

/// Jobs tables made before jobs recorded their service get the column, filled from the
/// documents (which have carried the service longer).
fn add_job_service(tx: &Transaction<'_>) -> Result<(), StoreError> {
    if existing_columns(tx, "skyport_uws_job")?
        .iter()
        .any(|c| c == "service")
    {
        return Ok(());
    }
    tx.execute_batch(
        "ALTER TABLE skyport_uws_job ADD COLUMN service TEXT NOT NULL DEFAULT 'tap';
         UPDATE skyport_uws_job SET service = COALESCE(json_extract(document, '$.service'), 'tap');",
    )
    .map_err(backend)
}

const JOB_COLUMNS: &str = "id, created, phase, service, document";

const DIALECT: Dialect = Dialect::Sqlite;

/// What the writer's history triggers record about the write in progress (see
/// [`crate::history`]): set by [`Store::write`] for its transaction, cleared after.
#[derive(Debug, Default)]
struct WriteSession {
    /// The transaction's time, ISO 8601 with microseconds.
    time: Option<String>,
    /// Who writes.
    author: Option<String>,
    /// The last time handed out, in microseconds since 1970, so times never repeat or go back.
    last_micros: i64,
}

impl WriteSession {
    fn begin(&mut self, author: &str) {
        let now = chrono::Utc::now()
            .timestamp_micros()
            .max(self.last_micros + 1);
        self.last_micros = now;
        self.time = chrono::DateTime::from_timestamp_micros(now)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
        self.author = Some(author.to_string());
    }

    fn end(&mut self) {
        self.time = None;
        self.author = None;
    }
}

fn lock_session(session: &Mutex<WriteSession>) -> std::sync::MutexGuard<'_, WriteSession> {
    match session.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// `skyport_write_time()` and `skyport_write_author()` for the history triggers.
fn register_session(conn: &Connection, session: &Arc<Mutex<WriteSession>>) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8;
    let s = Arc::clone(session);
    conn.create_scalar_function("skyport_write_time", 0, flags, move |_| {
        Ok(lock_session(&s).time.clone())
    })?;
    let s = Arc::clone(session);
    conn.create_scalar_function("skyport_write_author", 0, flags, move |_| {
        Ok(lock_session(&s)
            .author
            .clone()
            .unwrap_or_else(|| "skyport".to_string()))
    })
}

/// The SQLite error of a broken constraint, as [`StoreError::Constraint`].
/// Runs statement number `n` (from 1) of a write; the rows it affected.
fn run_statement(
    tx: &Transaction<'_>,
    n: usize,
    statement: &crate::Statement,
) -> Result<u64, StoreError> {
    let mut prepared = tx
        .prepare_cached(&statement.sql)
        .map_err(|e| statement_error(n, e))?;
    let count = prepared
        .execute(params_from_iter(statement.params.iter()))
        .map_err(|e| statement_error(n, e))?;
    Ok(count as u64)
}

fn statement_error(n: usize, e: rusqlite::Error) -> StoreError {
    let constraint = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
    );
    let message = format!("statement {n}: {e}");
    if constraint {
        StoreError::Constraint(message)
    } else {
        StoreError::Backend(message)
    }
}

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    session: Arc<Mutex<WriteSession>>,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
            Value::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// The first `n` values of a result row.
///
/// Sized at once: collecting the fallible iterator grew the vector from nothing (five
/// reallocations for ObsCore's 33 columns, ~1 % of a TAP cone's CPU).
pub(crate) fn row_values(row: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Vec<Value>> {
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        values.push(from_ref(row.get_ref(i)?));
    }
    Ok(values)
}

pub(crate) fn from_ref(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(text_of(t)),
        ValueRef::Blob(b) => Value::Text(text_of(b)),
    }
}

/// Stored text as a string. `str::from_utf8` checks ASCII a word at a time, several times
/// faster than the lossy conversion's character walk, which is kept for invalid bytes.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Sets SQLite's process-wide options; to be called first thing in `main`, before any thread
/// or connection exists (SQLite takes them only before its first use, and refuses them after).
///
/// - Memory statistics off: nothing here reads them, and while they are on every allocation
///   SQLite makes takes one process-wide mutex. Under four reader threads that lock was
///   contended on every page a query read; a profile of TAP cones on 10⁶ rows showed the
///   waits and wake-ups at about a tenth of the CPU, and turning it off made them 20% faster.
/// - Its memory from Rust's global allocator (`sqlite_alloc`).
///
/// Returns whether SQLite took every option (it refuses them once it has been used).
pub fn configure_process() -> bool {
    let methods = crate::sqlite_alloc::methods();
    // SAFETY: `sqlite3_config` takes one `int` for SQLITE_CONFIG_MEMSTATUS and a pointer to
    // a `sqlite3_mem_methods` (which it copies) for SQLITE_CONFIG_MALLOC, as passed. It is
    // not thread-safe, hence the call before any other thread may use SQLite; if SQLite was
    // already initialised it changes nothing and returns SQLITE_MISUSE.
    let codes = unsafe {
        [
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            ),
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MALLOC,
                &methods as *const rusqlite::ffi::sqlite3_mem_methods,
            ),
        ]
    };
    let taken = codes.iter().all(|rc| *rc == rusqlite::ffi::SQLITE_OK);
    if !taken {
        tracing::debug!("SQLite's process-wide options were not all taken: {codes:?}");
    }
    taken
}

/// The most MiB of a database file the readers may map: SQLite maps at most 2 GiB.
pub const SQLITE_MMAP_MB_MAX: u64 = 2047;

impl SqliteStore {
    /// Opens (creating if needed) the database file with `readers` read-only connections.
    pub fn open(path: &Path, readers: usize) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_mapped(path, readers, 0)
    }

    /// [`SqliteStore::open`], the readers reading the file's first `mmap_mb` MiB (at most
    /// [`SQLITE_MMAP_MB_MAX`]; 0: none) through a memory map instead of copying
    /// each page from the kernel. On a file much larger than SQLite's page cache, queries that
    /// read pages scattered over it (cones over a large ObsCore, DataLink lookups) spend much
    /// of their time in those copies. The price: mapped pages count in the process's resident
    /// memory (once per reader that touched them), though they are the kernel's page cache,
    /// and an I/O error while reading one ends the process (SIGBUS) instead of the query.
    /// The writer never maps the file.
    pub fn open_mapped(
        path: &Path,
        readers: usize,
        mmap_mb: u64,
    ) -> Result<SqliteStore, StoreError> {
        let mmap_bytes = mmap_mb.min(SQLITE_MMAP_MB_MAX) << 20;
        let open_err = |e: rusqlite::Error| StoreError::Open {
            target: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                target: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let writer = Connection::open(path).map_err(open_err)?;
        writer
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;")
            .map_err(open_err)?;
        crate::sqlite_functions::register(&writer).map_err(open_err)?;
        let session = Arc::new(Mutex::new(WriteSession::default()));
        register_session(&writer, &session).map_err(open_err)?;
        let readers = readers.max(1);
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(open_err)?;
            c.execute_batch("PRAGMA query_only=1; PRAGMA busy_timeout=10000;")
                .map_err(open_err)?;
            if mmap_bytes > 0 {
                c.execute_batch(&format!("PRAGMA mmap_size={mmap_bytes};"))
                    .map_err(open_err)?;
            }
            crate::sqlite_functions::register(&c).map_err(open_err)?;
            pool.push(c);
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            session,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(pool)),
            permits: Arc::new(Semaphore::new(readers)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Folds the write-ahead log into the database file and empties the log, so that the file
    /// alone holds everything (a snapshot about to be moved and published), then flushes it to
    /// disk. Nothing may write to the database afterwards. (It stays in WAL mode: leaving it
    /// needs the readers closed.)
    pub async fn seal(&self) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.with_writer(move |conn| {
            // A checkpoint that could not fold every frame reports busy = 1.
            let busy: i64 = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                .map_err(|e| StoreError::Backend(format!("sealing {}: {e}", path.display())))?;
            if busy != 0 {
                return Err(StoreError::Backend(format!(
                    "sealing {}: the log could not be folded into the file",
                    path.display()
                )));
            }
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::Backend(format!("flushing {}: {e}", path.display())))
        })
        .await
    }

    async fn with_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut guard = writer
                .lock()
                .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("writer task failed: {e}")))?
    }

    async fn with_reader<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("reader pool closed".into()))?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A local, dropped before the permit: the connection is back in the pool before
            // anyone may take a permit for it.
            let mut lease = Lease::take(&readers)?;
            f(lease.conn())
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }
}

/// Runs a read-only query to the end and returns all its rows.
fn read_rows(conn: &mut Connection, sql: &str, params: &[Value]) -> Result<Rows, StoreError> {
    // Cached: the small lookups (images, HDUs, jobs) repeat the same SQL text, and parsing it
    // again took more time than running it.
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let columns: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let n = columns.len();
    let mut rows = stmt
        .query(params_from_iter(params.iter()))
        .map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(row_values(row, n).map_err(backend)?);
    }
    Ok(Rows { columns, rows: out })
}

/// A reader connection taken from the pool; it goes back when dropped, also on a panic, so
/// the pool never shrinks below its permits.
struct Lease<'a> {
    pool: &'a Mutex<Vec<Connection>>,
    conn: Option<Connection>,
}

impl<'a> Lease<'a> {
    /// A free connection of `pool`; the caller holds a permit, so there is one.
    fn take(pool: &'a Mutex<Vec<Connection>>) -> Result<Lease<'a>, StoreError> {
        let conn = pool
            .lock()
            .map_err(|_| StoreError::Backend("reader lock poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Backend("no reader connection free".into()))?;
        Ok(Lease {
            pool,
            conn: Some(conn),
        })
    }
}

impl Lease<'_> {
    fn conn(&mut self) -> &mut Connection {
        // Set at construction and taken only in drop.
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("lease without a connection"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A poisoned lock still holds a usable pool.
            match self.pool.lock() {
                Ok(mut pool) => pool.push(conn),
                Err(poisoned) => poisoned.into_inner().push(conn),
            }
        }
    }
}

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        created: r.get(1)?,
        phase: r.get(2)?,
        service: r.get(3)?,
        document: r.get(4)?,
    })
}

fn write_job(tx: &Transaction<'_>, job: &JobRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO skyport_uws_job (id, created, phase, service, document) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET phase=excluded.phase, document=excluded.document",
        [&job.id, &job.created, &job.phase, &job.service, &job.document],
    )
    .map_err(backend)?;
    Ok(())
}

/// Applies `edit` to the job `current` (read inside `tx`) and stores the outcome.
fn apply_edit(
    tx: &Transaction<'_>,
    current: Option<JobRow>,
    edit: crate::JobEdit,
) -> Result<Option<JobRow>, StoreError> {
    let Some(current) = current else {
        return Ok(None);
    };
    match edit(&current) {
        Some(changed) => {
            write_job(tx, &changed)?;
            Ok(Some(changed))
        }
        None => Ok(Some(current)),
    }
}

fn table_exists(tx: &Transaction<'_>, physical: &str) -> Result<bool, StoreError> {
    tx.query_row(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1",
        [physical],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(backend)
}

fn existing_columns(tx: &Transaction<'_>, physical: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx
        .prepare(&format!("PRAGMA table_info({})", quote_ident(physical)))
        .map_err(backend)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(backend)?;
    names.collect::<Result<Vec<_>, _>>().map_err(backend)
}

fn insert_row(
    tx: &Transaction<'_>,
    schema: &str,
    table: &str,
    row: &Row,
) -> Result<(), StoreError> {
    let columns: Vec<&str> = row.0.iter().map(|(c, _)| c.as_str()).collect();
    let sql = ddl::insert(DIALECT, schema, table, &columns);
    tx.execute(&sql, params_from_iter(row.0.iter().map(|(_, v)| v)))
        .map_err(|e| StoreError::Backend(format!("inserting into {schema}.{table}: {e}")))?;
    Ok(())
}

fn migrate_schema(tx: &Transaction<'_>, schema: &Schema) -> Result<MigrationStep, StoreError> {
    let recorded: Option<String> = tx
        .query_row(
            "SELECT version FROM skyport_schema_version WHERE schema_name=?1",
            [&schema.name],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    let mut step = crate::migration::start(schema, recorded)?;
    for table in crate::migration::stored_tables(schema) {
        let physical = format!("{}.{}", schema.name, table.name);
        if !table_exists(tx, &physical)? {
            tx.execute_batch(&ddl::create_table(DIALECT, &schema.name, table))
                .map_err(backend)?;
            step.created_tables.push(physical.clone());
        } else {
            let have = existing_columns(tx, &physical)?;
            for column in crate::migration::missing_columns(&physical, table, &have)? {
                let sql = format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    quote_ident(&physical),
                    ddl::column_definition(DIALECT, column)
                );
                tx.execute_batch(&sql).map_err(backend)?;
                step.added_columns
                    .push(format!("{physical}.{}", column.name));
            }
        }
        for sql in ddl::create_indexes(DIALECT, &schema.name, table) {
            tx.execute_batch(&sql).map_err(backend)?;
        }
    }
    // Views last (their base tables exist now), made afresh so they follow new columns.
    for (table, base) in crate::migration::views(schema)? {
        let physical = format!("{}.{}", schema.name, table.name);
        if table_exists(tx, &physical)? {
            return Err(StoreError::Migration {
                table: physical,
                reason: "declared as a view, but a table of that name exists".into(),
            });
        }
        tx.execute_batch(&format!(
            "DROP VIEW IF EXISTS {}; {}",
            quote_ident(&physical),
            ddl::create_view(DIALECT, &schema.name, table, base)
        ))
        .map_err(backend)?;
    }
    for (base, history) in crate::history::pairs(schema) {
        let physical = format!("{}.{}", schema.name, history.name);
        if step.created_tables.contains(&physical) {
            tx.execute_batch(&crate::history::seed(DIALECT, &schema.name, base, history))
                .map_err(backend)?;
        }
        tx.execute_batch(&crate::history::triggers(
            DIALECT,
            &schema.name,
            base,
            history,
        ))
        .map_err(backend)?;
    }
    replace_tap_schema_rows(tx, schema)?;
    tx.execute(
        "INSERT INTO skyport_schema_version (schema_name, version, applied_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(schema_name) DO UPDATE SET version=excluded.version, applied_at=excluded.applied_at",
        rusqlite::params![schema.name, step.to_version, chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string()],
    )
    .map_err(backend)?;
    Ok(step)
}

fn replace_tap_schema_rows(tx: &Transaction<'_>, schema: &Schema) -> Result<(), StoreError> {
    let index: i64 = tx
        .query_row(
            &tap_schema::schema_index_sql(DIALECT),
            [&schema.name],
            |r| r.get(0),
        )
        .map_err(backend)?;
    for sql in tap_schema::delete_sql(DIALECT) {
        tx.execute(&sql, [&schema.name]).map_err(backend)?;
    }
    for (table, rows) in tap_schema::rows_for(schema, index).by_table() {
        for row in &rows {
            insert_row(tx, "TAP_SCHEMA", table, row)?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn dialect(&self) -> Dialect {
        DIALECT
    }

    async fn migrate(&self, schemas: &[Schema]) -> Result<Vec<MigrationStep>, StoreError> {
        let schemas = schemas.to_vec();
        self.with_writer(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS skyport_schema_version (
                   schema_name TEXT PRIMARY KEY, version TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .map_err(backend)?;
            tx.execute_batch(JOBS_DDL).map_err(backend)?;
            add_job_service(&tx)?;
            let mut steps = Vec::new();
            for schema in &schemas {
                steps.push(migrate_schema(&tx, schema)?);
            }
            if crate::links::absolute_links_to_cut(&steps) && table_exists(&tx, "ivoa.ObsCore")? {
                tx.execute_batch(&crate::links::cut_absolute_links_sql(DIALECT))
                    .map_err(backend)?;
            }
            for spec in crate::spatial::spatial_indexes() {
                if !table_exists(&tx, &format!("{}.{}", spec.schema, spec.table))? {
                    continue;
                }
                let fresh = !table_exists(&tx, &spec.point_table())?;
                tx.execute_batch(&crate::spatial::create_sql(&spec))
                    .map_err(backend)?;
                if fresh {
                    tx.execute_batch(&crate::spatial::rebuild_sql(&spec))
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(steps)
        })
        .await
    }

    async fn upsert_image(&self, image: ImageRecord) -> Result<UpsertOutcome, StoreError> {
        self.with_writer(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let files = ddl::table_name(DIALECT, "skyport", "image_file");
            let existing: Option<String> = tx
                .query_row(
                    &format!("SELECT content_sha256 FROM {files} WHERE obs_publisher_did=?1"),
                    [&image.publisher_did],
                    |r| r.get(0),
                )
                .optional()
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
                            "DELETE FROM {} WHERE obs_publisher_did=?1",
                            ddl::table_name(DIALECT, schema, table)
                        ),
                        [&image.publisher_did],
                    )
                    .map_err(backend)?;
                }
            }
            insert_row(&tx, "skyport", "image_file", &image.file)?;
            for hdu in &image.hdus {
                insert_row(&tx, "skyport", "image_hdu", hdu)?;
            }
            insert_row(&tx, "ivoa", "ObsCore", &image.obscore)?;
            let derived = image
                .coverage_statements(DIALECT)
                .into_iter()
                .chain(image.caom2_statements(DIALECT));
            for (n, statement) in derived.enumerate() {
                run_statement(&tx, n + 1, &statement)?;
            }
            tx.commit().map_err(backend)?;
            Ok(if existing.is_some() {
                UpsertOutcome::Updated
            } else {
                UpsertOutcome::Inserted
            })
        })
        .await
    }

    async fn insert_rows(
        &self,
        schema: &str,
        table: &str,
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
    ) -> Result<u64, StoreError> {
        let (schema, table) = (schema.to_string(), table.to_string());
        self.with_writer(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            {
                let mut stmt = tx
                    .prepare(&ddl::insert(DIALECT, &schema, &table, &names))
                    .map_err(backend)?;
                crate::migration::check_widths(&columns, &rows)?;
                for (n, row) in rows.iter().enumerate() {
                    stmt.execute(params_from_iter(row.iter())).map_err(|e| {
                        StoreError::Backend(format!(
                            "inserting into {schema}.{table}, row {}: {e}",
                            n + 1
                        ))
                    })?;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(rows.len() as u64)
        })
        .await
    }

    async fn write(
        &self,
        author: &str,
        statements: Vec<crate::Statement>,
    ) -> Result<Vec<u64>, StoreError> {
        let author = author.to_string();
        let session = Arc::clone(&self.session);
        self.with_writer(move |conn| {
            lock_session(&session).begin(&author);
            let outcome = (|| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(backend)?;
                let counts = statements
                    .iter()
                    .enumerate()
                    .map(|(n, statement)| run_statement(&tx, n + 1, statement))
                    .collect::<Result<Vec<u64>, StoreError>>()?;
                tx.commit().map_err(backend)?;
                Ok(counts)
            })();
            lock_session(&session).end();
            outcome
        })
        .await
    }

    async fn write_batches<'a>(
        &'a self,
        author: &'a str,
        mut batches: futures_util::stream::BoxStream<'a, Result<Vec<crate::Statement>, StoreError>>,
    ) -> Result<u64, StoreError> {
        use futures_util::StreamExt;
        // The writer thread runs each batch as it arrives; `None` marks the end. A channel of
        // one keeps at most the batch being run and the next in memory.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Option<Vec<crate::Statement>>>(1);
        let author = author.to_string();
        let session = Arc::clone(&self.session);
        let writer = self.with_writer(move |conn| {
            lock_session(&session).begin(&author);
            let outcome = (|| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(backend)?;
                let (mut n, mut total) = (0, 0);
                loop {
                    match receiver.blocking_recv() {
                        Some(Some(batch)) => {
                            for statement in &batch {
                                n += 1;
                                total += run_statement(&tx, n, statement)?;
                            }
                        }
                        Some(None) => break,
                        // The feeding side stopped before the end (an error, or its caller
                        // went away): dropping `tx` rolls everything back.
                        None => {
                            return Err(StoreError::Backend("the bulk write was abandoned".into()))
                        }
                    }
                }
                tx.commit().map_err(backend)?;
                Ok(total)
            })();
            lock_session(&session).end();
            outcome
        });
        let feed = async move {
            while let Some(batch) = batches.next().await {
                if sender.send(Some(batch?)).await.is_err() {
                    // The writer stopped on an error of its own, which it reports.
                    return Ok(());
                }
            }
            // A closed channel here means the writer failed; it reports why.
            let _ = sender.send(None).await;
            Ok::<(), StoreError>(())
        };
        let (written, fed) = tokio::join!(writer, feed);
        fed?;
        written
    }

    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError> {
        self.with_reader(move |conn| read_rows(conn, &sql, &params))
            .await
    }

    async fn lookup(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError> {
        // Only when a reader is free now: waiting for one belongs on a blocking thread.
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return self.query(sql, params).await;
        };
        let _permit = permit;
        // A local (see `with_reader`): the connection goes back before the permit.
        let mut lease = Lease::take(&self.readers)?;
        read_rows(lease.conn(), &sql, &params)
    }

    async fn stream(&self, request: QueryRequest) -> Result<RowStream, StoreError> {
        // A reader free now runs the query here first, within a small budget (see
        // `sqlite_stream::run_inline`); uploads need temporary tables and always go below.
        if request.temp_tables.is_empty() {
            if let Some((_permit, mut lease)) = Arc::clone(&self.permits)
                .try_acquire_owned()
                .ok()
                .and_then(|permit| Some((permit, Lease::take(&self.readers).ok()?)))
            {
                match crate::sqlite_stream::run_inline(
                    lease.conn(),
                    &request,
                    INLINE_BUDGET,
                    INLINE_MAX_ROWS,
                ) {
                    Inline::Done(columns, batches) => {
                        return Ok(RowStream::ready(columns, batches))
                    }
                    Inline::Failed(e) => return Err(e),
                    Inline::TooLong => {}
                }
            }
        }
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("reader pool closed".into()))?;
        let readers = Arc::clone(&self.readers);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (rows_tx, rows_rx) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
        let end = crate::stream::StreamEnd::default();
        let producer_end = end.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match readers.lock() {
                Ok(mut pool) => pool.pop(),
                Err(poisoned) => poisoned.into_inner().pop(),
            };
            let Some(conn) = conn else {
                let _ = ready_tx.send(Err(StoreError::Backend("no reader connection free".into())));
                return;
            };
            let mut lease = Lease {
                pool: &readers,
                conn: Some(conn),
            };
            crate::sqlite_stream::run(lease.conn(), &request, ready_tx, rows_tx, &producer_end);
        });
        match ready_rx.await {
            Ok(Ok(columns)) => Ok(RowStream::new(columns, rows_rx, end)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Backend(
                "the query thread ended unexpectedly".into(),
            )),
        }
    }

    fn is_shared(&self) -> bool {
        false
    }

    async fn save_job(&self, job: JobRow) -> Result<(), StoreError> {
        self.with_writer(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            write_job(&tx, &job)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn edit_job(&self, id: &str, edit: crate::JobEdit) -> Result<Option<JobRow>, StoreError> {
        let id = id.to_string();
        self.with_writer(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let current = tx
                .query_row(
                    &format!("SELECT {JOB_COLUMNS} FROM skyport_uws_job WHERE id=?1"),
                    [&id],
                    job_row,
                )
                .optional()
                .map_err(backend)?;
            let out = apply_edit(&tx, current, edit)?;
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
    }

    async fn claim_job(
        &self,
        service: &str,
        claim: crate::JobEdit,
    ) -> Result<Option<JobRow>, StoreError> {
        let service = service.to_string();
        self.with_writer(move |conn| {
            // One writer connection: the immediate transaction is the lock.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let next = tx
                .query_row(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM skyport_uws_job WHERE service=?1 AND phase='QUEUED' \
                         ORDER BY created, id LIMIT 1"
                    ),
                    [&service],
                    job_row,
                )
                .optional()
                .map_err(backend)?;
            let out = apply_edit(&tx, next, claim)?;
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
    }

    async fn load_job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let id = id.to_string();
        self.with_writer(move |conn| {
            conn.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM skyport_uws_job WHERE id=?1"),
                [&id],
                job_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn load_jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        self.with_writer(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {JOB_COLUMNS} FROM skyport_uws_job ORDER BY created, id"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map([], job_row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.with_writer(move |conn| {
            conn.execute("DELETE FROM skyport_uws_job WHERE id=?1", [&id])
                .map(|n| n > 0)
                .map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_read_gives_its_connection_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = SqliteStore::open(&dir.path().join("db.sqlite"), 1).expect("open");
        let failed = store
            .with_reader(|_| -> Result<(), StoreError> { panic!("bug in a reader closure") })
            .await;
        assert!(failed.is_err(), "the panic is reported as an error");
        // With one reader, a lost connection would make every later read fail.
        store
            .ping()
            .await
            .expect("the single reader is back in the pool");
    }

    #[tokio::test]
    async fn readers_map_the_file_when_asked() {
        let dir = tempfile::tempdir().expect("tmp");
        async fn mapped_size(store: &SqliteStore) -> Value {
            let rows = store
                .query("PRAGMA mmap_size".into(), Vec::new())
                .await
                .expect("pragma")
                .rows;
            rows[0][0].clone()
        }
        let plain = SqliteStore::open(&dir.path().join("a.sqlite"), 1).expect("open");
        assert_eq!(mapped_size(&plain).await, Value::Int(0));
        let mapped = SqliteStore::open_mapped(&dir.path().join("b.sqlite"), 2, 8).expect("open");
        assert_eq!(mapped_size(&mapped).await, Value::Int(8 << 20));
    }

    #[test]
    fn versions_compare_numerically() {
        use crate::version_cmp;
        assert!(version_cmp("1.10.0", "1.9.2").is_gt());
        assert!(version_cmp("1.2", "1.2.0").is_eq());
        assert!(version_cmp("0", "1.0.0").is_lt());
    }
}
