//! Storage for skyport: tables declared in Felis, created and migrated forward, described in
//! TAP_SCHEMA, written in transactions and read back as typed rows.
//!
//! [`Store`] is the interface the rest of the program uses. It is written for two backends:
//! SQLite (embedded, the default; [`SqliteStore`]) and PostgreSQL with pgsphere
//! ([`PostgresStore`]). Nothing in
//! the trait assumes SQLite: SQL text is produced per [`Dialect`] by [`ddl`], and values cross
//! the boundary as [`Value`]s.

pub mod accounts;
pub mod caom2;
pub mod coverage;
pub mod ddl;
pub mod history;
pub mod images;
pub mod links;
pub mod migration;
pub mod postgres;
pub mod release;
pub mod rights;
pub mod spatial;
mod sqlite;
mod sqlite_alloc;
pub mod sqlite_functions;
pub mod sqlite_literals;
mod sqlite_stream;
pub mod stream;
pub mod tap_schema;
pub mod user_tables;

use async_trait::async_trait;
use skyport_schema::Schema;

pub use accounts::{Accounts, StoredToken};
pub use images::{Caller, ImageIndex, Membership};
pub use postgres::PostgresStore;
pub use rights::{Access, CollectionRights, Rights, RightsKey, TableShape};
pub use sqlite::{configure_process, SqliteStore, SQLITE_MMAP_MB_MAX};
pub use stream::{Batch, ColumnKind, JobEdit, JobRow, QueryRequest, RowStream, TempTable};

/// A cell value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// The value as f64 when numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as i64 when integral.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The value as text when it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// `Value::Text` of `Some`, else `Null`.
    pub fn opt_text(v: Option<impl Into<String>>) -> Value {
        v.map_or(Value::Null, |s| Value::Text(s.into()))
    }

    /// `Value::Float` of `Some` finite value, else `Null`.
    pub fn opt_float(v: Option<f64>) -> Value {
        v.filter(|x| x.is_finite())
            .map_or(Value::Null, Value::Float)
    }

    /// `Value::Int` of `Some`, else `Null`.
    pub fn opt_int(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }
}

/// A row: column names with their values, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(pub Vec<(String, Value)>);

impl Row {
    /// Adds a column.
    pub fn push(&mut self, column: &str, value: Value) {
        self.0.push((column.to_string(), value));
    }

    /// The value of a column (case-insensitive), or `None` when the row lacks it.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(column))
            .map(|(_, v)| v)
    }
}

/// A query result held in memory (small results: lookups, tests, metadata).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Values, one vector per row, in column order.
    pub rows: Vec<Vec<Value>>,
}

/// One SQL statement of a write transaction, with its parameters (placeholders as
/// [`ddl::placeholder`] writes them).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text.
    pub sql: String,
    /// Its parameters, in placeholder order.
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement with parameters.
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// Everything one ingested image contributes, written in one transaction.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// `ivo://…` publisher DID: the key of the image everywhere.
    pub publisher_did: String,
    /// SHA-256 of the file content (hex): equal hashes mean nothing to do.
    pub content_sha256: String,
    /// The `skyport.image_file` row.
    pub file: Row,
    /// The `skyport.image_hdu` rows.
    pub hdus: Vec<Row>,
    /// The `ivoa.ObsCore` row.
    pub obscore: Row,
    /// The cells its footprint touches (none without a footprint).
    pub coverage: Option<coverage::ImageCoverage>,
}

impl ImageRecord {
    /// The statements that put this image in the archive, replacing any earlier version:
    /// for running with other writes in one transaction through [`Store::write`].
    pub fn statements(&self, dialect: Dialect) -> Vec<Statement> {
        let did = Value::Text(self.publisher_did.clone());
        let mut out: Vec<Statement> = [
            ("skyport", "image_hdu"),
            ("ivoa", "ObsCore"),
            ("skyport", "image_file"),
        ]
        .iter()
        .map(|(schema, table)| {
            Statement::new(
                format!(
                    "DELETE FROM {} WHERE obs_publisher_did={}",
                    ddl::table_name(dialect, schema, table),
                    ddl::placeholder(dialect, 1)
                ),
                vec![did.clone()],
            )
        })
        .collect();
        let insert = |schema: &str, table: &str, row: &Row| {
            let columns: Vec<&str> = row.0.iter().map(|(c, _)| c.as_str()).collect();
            Statement::new(
                ddl::insert(dialect, schema, table, &columns),
                row.0.iter().map(|(_, v)| v.clone()).collect(),
            )
        };
        out.push(insert("skyport", "image_file", &self.file));
        out.extend(self.hdus.iter().map(|h| insert("skyport", "image_hdu", h)));
        out.push(insert("ivoa", "ObsCore", &self.obscore));
        out.extend(self.coverage_statements(dialect));
        out.extend(self.caom2_statements(dialect));
        out
    }

    /// The statements replacing the image's coverage row (or removing it when the image has
    /// no footprint now).
    pub fn coverage_statements(&self, dialect: Dialect) -> Vec<Statement> {
        match self.coverage.as_ref().map(|c| c.statements(dialect)) {
            Some(Ok(statements)) => statements,
            Some(Err(e)) => {
                // Unreachable for maps made at the stored order; without a row the image
                // still serves, and only the coverage maps miss it.
                tracing::error!(did = %self.publisher_did, error = %e, "BUG: coverage not written");
                coverage::delete_statement(dialect, &self.publisher_did)
            }
            None => coverage::delete_statement(dialect, &self.publisher_did),
        }
    }
}

/// What [`Store::upsert_image`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The image was new.
    Inserted,
    /// The image existed with different content and was replaced.
    Updated,
    /// The image existed with the same content; nothing was written.
    Unchanged,
}

/// What a migration did to one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStep {
    /// Schema name.
    pub schema: String,
    /// Version recorded before, if any.
    pub from_version: Option<String>,
    /// Version now recorded.
    pub to_version: String,
    /// Tables created.
    pub created_tables: Vec<String>,
    /// Columns added to existing tables, as `table.column`.
    pub added_columns: Vec<String>,
}

/// SQL flavours the store can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL (with pgsphere for geometry).
    Postgres,
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot open database {target}: {reason}")]
    Open {
        /// Path or URL.
        target: String,
        /// Why.
        reason: String,
    },
    /// The database holds a newer schema than this program knows.
    #[error("database has schema {schema} at version {found}, newer than this program's {ours}; upgrade skyport")]
    NewerSchema {
        /// Schema name.
        schema: String,
        /// Version in the database.
        found: String,
        /// Version this program declares.
        ours: String,
    },
    /// A forward migration that cannot be done without losing data or guessing.
    #[error("cannot migrate {table}: {reason}")]
    Migration {
        /// Table.
        table: String,
        /// Why.
        reason: String,
    },
    /// A row names a table or column not in the schema.
    #[error("unknown {what}: {name}")]
    Unknown {
        /// "table" or "column".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A write broke a constraint of the table (a duplicate key, a missing required value, a
    /// dangling reference); nothing was written.
    #[error("{0}")]
    Constraint(String),
    /// The statement itself cannot be carried out: a value out of range, a division by zero,
    /// a program limit of the database (the client's mistake, not the database failing).
    #[error("{0}")]
    Query(String),
    /// An error from the database engine.
    #[error("database error: {0}")]
    Backend(String),
    /// The query ran longer than its time limit and was stopped.
    #[error("the query ran longer than its limit of {0:?} and was stopped")]
    Timeout(std::time::Duration),
    /// The consumer went away (a client disconnected) and the query was stopped.
    #[error("the query was cancelled")]
    Cancelled,
    /// The consumer took none of the rows for this long (a client that stopped reading), and
    /// the query was stopped so as not to hold a database connection for it.
    #[error("the result was not being read for {0:?}; the query was stopped")]
    Stalled(std::time::Duration),
}

/// The storage interface. All methods are transactional: a failed call writes nothing.
#[async_trait]
pub trait Store: Send + Sync {
    /// The SQL dialect of this backend.
    fn dialect(&self) -> Dialect;

    /// Creates or migrates forward the given schemas (tables, columns, indexes) and rewrites
    /// their TAP_SCHEMA rows, all in one transaction. TAP_SCHEMA must come first.
    async fn migrate(&self, schemas: &[Schema]) -> Result<Vec<MigrationStep>, StoreError>;

    /// Inserts or replaces one image (file, HDUs, ObsCore row) in one transaction; does
    /// nothing when the stored content hash is the same.
    async fn upsert_image(&self, image: ImageRecord) -> Result<UpsertOutcome, StoreError>;

    /// Appends rows to a table in one transaction (all or nothing): the bulk path, COPY on
    /// PostgreSQL. Returns the number of rows written.
    async fn insert_rows(
        &self,
        schema: &str,
        table: &str,
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
    ) -> Result<u64, StoreError>;

    /// Runs `statements` in order in one transaction on the writer: all or nothing. Every
    /// row version they make in a history table is recorded as written by `author`. Returns
    /// the number of rows each statement affected. A statement failing a constraint comes back
    /// as [`StoreError::Constraint`], naming the statement by its position (from 1).
    async fn write(&self, author: &str, statements: Vec<Statement>)
        -> Result<Vec<u64>, StoreError>;

    /// Runs statements that arrive in batches in one transaction on the writer, as
    /// [`write`](Self::write) does, without holding them all at once: a bulk write's memory is
    /// that of a batch or two. Commits when `batches` ends; rolls back on the first error (the
    /// stream's or a statement's, statements numbered from 1 across batches) and when the
    /// returned future is dropped before the end. Returns the number of rows affected in all.
    async fn write_batches<'a>(
        &'a self,
        author: &'a str,
        batches: futures_util::stream::BoxStream<'a, Result<Vec<Statement>, StoreError>>,
    ) -> Result<u64, StoreError>;

    /// Runs a read-only query on a reader connection.
    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError>;

    /// Runs a read-only query that reads a few rows by key (an image by its DID). SQLite runs
    /// it where it is called when a reader is free at once: handing it to a blocking thread
    /// and back costs more than such a query. Anything that may read many rows belongs in
    /// [`query`](Self::query) or [`stream`](Self::stream).
    async fn lookup(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError> {
        self.query(sql, params).await
    }

    /// Runs a read of the archive's internal tables (tokens, membership ends), which the
    /// query readers are not allowed to see: on PostgreSQL through the writer's role.
    async fn query_private(&self, sql: String, params: Vec<Value>) -> Result<Rows, StoreError> {
        self.query(sql, params).await
    }

    /// Number of rows in a table.
    async fn count(&self, schema: &str, table: &str) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {}",
            ddl::table_name(self.dialect(), schema, table)
        );
        let rows = self.query(sql, Vec::new()).await?;
        rows.rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .map(|n| n.max(0) as u64)
            .ok_or_else(|| StoreError::Backend("COUNT returned nothing".into()))
    }

    /// Checks that the database answers (for VOSI availability).
    async fn ping(&self) -> Result<(), StoreError> {
        self.query("SELECT 1".into(), Vec::new()).await.map(|_| ())
    }

    /// Starts a read-only query on a reader connection and returns once it is prepared (so
    /// errors in the SQL come back here, before any row); rows then arrive in batches. At most
    /// as many queries run at once as there are reader connections; others wait.
    async fn stream(&self, request: QueryRequest) -> Result<RowStream, StoreError>;

    /// Whether other servers may use this database at the same time (so job state can change
    /// under a server's feet and must be re-read rather than remembered).
    fn is_shared(&self) -> bool;

    /// Creates or replaces a stored UWS job.
    async fn save_job(&self, job: JobRow) -> Result<(), StoreError>;

    /// Changes one job atomically: the row is locked (against every server) while `edit`
    /// decides. Returns the row as stored afterwards, or `None` when there is no such job.
    async fn edit_job(&self, id: &str, edit: JobEdit) -> Result<Option<JobRow>, StoreError>;

    /// Claims the oldest QUEUED job of `service` that no other server is claiming (row locks,
    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL), changed by `claim` in the same transaction.
    /// `None` when there is nothing to run.
    async fn claim_job(&self, service: &str, claim: JobEdit) -> Result<Option<JobRow>, StoreError>;

    /// A stored job by id.
    async fn load_job(&self, id: &str) -> Result<Option<JobRow>, StoreError>;

    /// Every stored job, oldest first.
    async fn load_jobs(&self) -> Result<Vec<JobRow>, StoreError>;

    /// Removes a stored job; false when there was none.
    async fn delete_job(&self, id: &str) -> Result<bool, StoreError>;
}

/// Compares dotted version strings numerically (`1.10.0` > `1.9.2`).
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| {
        s.split('.')
            .map(|p| p.trim().parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let (mut x, mut y) = (parts(a), parts(b));
    let n = x.len().max(y.len());
    x.resize(n, 0);
    y.resize(n, 0);
    x.cmp(&y)
}

/// The SQL functions the ADQL translator's PostgreSQL output calls (pgsphere counterparts of
/// the SQLite `adql_*` functions); run once per database after `CREATE EXTENSION pg_sphere`.
pub const POSTGRES_FUNCTIONS: &str = include_str!("../sql/postgres_functions.sql");
