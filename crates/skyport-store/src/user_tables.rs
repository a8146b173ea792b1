//! Users' own tables (LDM-542's MyDB, CADC youcat's conventions): tables in a schema
//! `user_<name>` per user, made, filled, indexed and dropped by their owner, readable by the
//! groups they grant. Their descriptions are kept in `skyport_user_table`, a private table no
//! ADQL query can name (as the API tokens are); the tables themselves are ordinary tables of
//! the archive database, so ADQL joins them with the archive's.
//!
//! Only scalar columns and strings are kept: booleans, integers, floats and doubles, character
//! strings, and timestamps (`char` with `xtype="timestamp"`).

use std::sync::Arc;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::ddl::{placeholder, quote_ident, table_name};
use crate::postgres::READER_ROLE;
use crate::{Dialect, Statement, Store, StoreError, Value};

/// The private table of the descriptions.
const META: &str = "skyport_user_table";

/// One column as its owner described it (VOTable FIELD terms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserColumn {
    /// Its name.
    pub name: String,
    /// VOTable datatype.
    pub datatype: String,
    /// VOTable arraysize (strings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arraysize: Option<String>,
    /// `timestamp` for a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xtype: Option<String>,
    /// VO unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// UCD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucd: Option<String>,
    /// Utype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utype: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether an index was made on it (and whether unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed: Option<IndexKind>,
}

/// An index on a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Values may repeat.
    Plain,
    /// Values are unique.
    Unique,
}

/// What a column holds, for storage and for reading values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    /// `boolean`.
    Boolean,
    /// `unsignedByte`, `short`.
    Short,
    /// `int`.
    Int,
    /// `long`.
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `char` or `unicodeChar` strings.
    Text,
    /// `char` with `xtype="timestamp"`.
    Timestamp,
}

impl UserColumn {
    /// What the column holds, or why it cannot be kept.
    pub fn user_type(&self) -> Result<UserType, String> {
        let array = self
            .arraysize
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "1");
        let timestamp = self.xtype.as_deref().is_some_and(|x| {
            x.eq_ignore_ascii_case("timestamp") || x.eq_ignore_ascii_case("adql:TIMESTAMP")
        });
        let scalar = |t| {
            match array {
            None => Ok(t),
            Some(a) => Err(format!(
                "column {:?}: a {} with arraysize {a:?}: user tables keep single values (arrays only of characters)",
                self.name, self.datatype
            )),
        }
        };
        match self.datatype.as_str() {
            "boolean" => scalar(UserType::Boolean),
            "unsignedByte" | "short" => scalar(UserType::Short),
            "int" => scalar(UserType::Int),
            "long" => scalar(UserType::Long),
            "float" => scalar(UserType::Float),
            "double" => scalar(UserType::Double),
            "char" | "unicodeChar" => {
                if let Some(a) = array {
                    let digits = a.trim_end_matches('*');
                    if !(digits.is_empty() || digits.parse::<u32>().is_ok_and(|n| n > 0))
                        || a.matches('*').count() > 1
                        || a.contains('x')
                    {
                        return Err(format!(
                            "column {:?}: arraysize {a:?} is not a string length (such as 16, 16* or *)",
                            self.name
                        ));
                    }
                }
                Ok(if timestamp {
                    UserType::Timestamp
                } else {
                    UserType::Text
                })
            }
            other => Err(format!(
                "column {:?}: datatype {other:?} is not kept in user tables (boolean, unsignedByte, short, int, long, float, double, char, unicodeChar)",
                self.name
            )),
        }
    }
}

impl UserType {
    /// Its SQL type on `dialect`.
    fn sql(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (Dialect::Sqlite, UserType::Float | UserType::Double) => "REAL",
            (Dialect::Sqlite, UserType::Text | UserType::Timestamp) => "TEXT",
            (Dialect::Sqlite, _) => "INTEGER",
            (Dialect::Postgres, UserType::Boolean) => "BOOLEAN",
            (Dialect::Postgres, UserType::Short) => "SMALLINT",
            (Dialect::Postgres, UserType::Int) => "INTEGER",
            (Dialect::Postgres, UserType::Long) => "BIGINT",
            (Dialect::Postgres, UserType::Float) => "REAL",
            (Dialect::Postgres, UserType::Double) => "DOUBLE PRECISION",
            (Dialect::Postgres, UserType::Text) => "TEXT",
            (Dialect::Postgres, UserType::Timestamp) => "TIMESTAMP",
        }
    }

    /// `text` (a CSV or TSV cell) as a value of this type; empty is NULL.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(Value::Null);
        }
        let bad = || format!("{t:?} is not a {}", self.name());
        Ok(match self {
            UserType::Boolean => match t.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" => Value::Bool(true),
                "false" | "f" | "0" => Value::Bool(false),
                _ => return Err(bad()),
            },
            UserType::Short | UserType::Int | UserType::Long => {
                let n: i64 = t.parse().map_err(|_| bad())?;
                let fits = match self {
                    UserType::Short => i16::try_from(n).is_ok(),
                    UserType::Int => i32::try_from(n).is_ok(),
                    _ => true,
                };
                if !fits {
                    return Err(format!("{t} is out of the range of a {}", self.name()));
                }
                Value::Int(n)
            }
            UserType::Float | UserType::Double => {
                let f: f64 = t.parse().map_err(|_| bad())?;
                if f.is_nan() {
                    Value::Null
                } else {
                    Value::Float(f)
                }
            }
            UserType::Text => Value::Text(text.to_string()),
            UserType::Timestamp => {
                let ok = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map_err(|_| format!("{t:?} is not an ISO 8601 time"))?;
                Value::Text(ok.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            }
        })
    }

    /// `v` (read from a typed format: VOTable, FITS, Parquet) as a value of this type.
    pub fn coerce(self, v: Value) -> Result<Value, String> {
        let bad = |v: &Value| format!("{v:?} is not a {}", self.name());
        Ok(match (self, v) {
            (_, Value::Null) => Value::Null,
            (_, Value::Text(t)) => self.parse(&t)?,
            (UserType::Boolean, Value::Bool(b)) => Value::Bool(b),
            (UserType::Boolean, Value::Int(i @ (0 | 1))) => Value::Bool(i == 1),
            (UserType::Short | UserType::Int | UserType::Long, Value::Bool(b)) => {
                Value::Int(i64::from(b))
            }
            (UserType::Short | UserType::Int | UserType::Long, Value::Int(i)) => {
                self.parse(&i.to_string())?
            }
            (UserType::Short | UserType::Int | UserType::Long, Value::Float(f))
                if f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                self.parse(&format!("{}", f as i64))?
            }
            (UserType::Float | UserType::Double, Value::Float(f)) if f.is_nan() => Value::Null,
            (UserType::Float | UserType::Double, Value::Float(f)) => Value::Float(f),
            (UserType::Float | UserType::Double, Value::Int(i)) => Value::Float(i as f64),
            (UserType::Text, Value::Bool(b)) => Value::Text(b.to_string()),
            (UserType::Text, Value::Int(i)) => Value::Text(i.to_string()),
            (UserType::Text, Value::Float(f)) => Value::Text(f.to_string()),
            (_, other) => return Err(bad(&other)),
        })
    }

    fn name(self) -> &'static str {
        match self {
            UserType::Boolean => "boolean",
            UserType::Short => "short integer",
            UserType::Int => "32-bit integer",
            UserType::Long => "64-bit integer",
            UserType::Float | UserType::Double => "number",
            UserType::Text => "string",
            UserType::Timestamp => "time",
        }
    }
}

/// One user table: where it is, whose, what it holds, who may read and write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTable {
    /// `user_<owner>`.
    pub schema: String,
    /// Its name.
    pub table: String,
    /// Whose it is.
    pub owner: String,
    /// What it is.
    pub description: Option<String>,
    /// Its columns.
    pub columns: Vec<UserColumn>,
    /// Groups that may read it.
    pub read_groups: Vec<String>,
    /// Groups that may read it and add rows.
    pub write_groups: Vec<String>,
    /// Rows it holds.
    pub rows: u64,
    /// Groups a reader other than the owner must all belong to: for a table kept from a
    /// query's result, the data-rights groups its owner held then (whatever they could see
    /// of the archive, only those who could see it too may read in the table).
    pub required_groups: Vec<String>,
}

impl UserTable {
    /// `schema.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// Whether `user`, a member of `groups`, may read it.
    pub fn readable_by(&self, user: Option<&str>, groups: &[String]) -> bool {
        user == Some(self.owner.as_str())
            || self.required_groups.iter().all(|g| groups.contains(g))
                && groups
                    .iter()
                    .any(|g| self.read_groups.contains(g) || self.write_groups.contains(g))
    }

    /// Whether `user`, a member of `groups`, may add rows.
    pub fn writable_by(&self, user: Option<&str>, groups: &[String]) -> bool {
        user == Some(self.owner.as_str())
            || self.readable_by(user, groups)
                && groups.iter().any(|g| self.write_groups.contains(g))
    }
}

/// `INSERT INTO TAP_SCHEMA.<table>` of `row`.
fn tap_schema_insert(dialect: Dialect, table: &str, row: Vec<(&str, Value)>) -> Statement {
    let names: Vec<&str> = row.iter().map(|(n, _)| *n).collect();
    Statement::new(
        crate::ddl::insert(dialect, "TAP_SCHEMA", table, &names),
        row.into_iter().map(|(_, v)| v).collect(),
    )
}

/// TAP_SCHEMA's rows of `t` (and of its schema, when it is the schema's first table): every
/// TAP client reading TAP_SCHEMA finds the tables it may read there. Who may read which is
/// decided where TAP_SCHEMA is read (`Rights`' TAP_SCHEMA filter, given the tables hidden).
fn tap_schema_rows(dialect: Dialect, t: &UserTable) -> Vec<Statement> {
    let schemas = table_name(dialect, "TAP_SCHEMA", "schemas");
    let p = |n| placeholder(dialect, n);
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let mut out = vec![Statement::new(
        format!(
            "INSERT INTO {schemas} (schema_name, description, utype, schema_index) \
             SELECT {}, {}, NULL, 1000 WHERE NOT EXISTS \
             (SELECT 1 FROM {schemas} WHERE schema_name = {})",
            p(1),
            p(2),
            p(3)
        ),
        vec![
            Value::Text(t.schema.clone()),
            Value::Text(format!("Tables of {}", t.owner)),
            Value::Text(t.schema.clone()),
        ],
    )];
    let qualified = t.qualified();
    out.push(tap_schema_insert(
        dialect,
        "tables",
        vec![
            ("schema_name", Value::Text(t.schema.clone())),
            ("table_name", Value::Text(qualified.clone())),
            ("table_type", Value::Text("table".into())),
            ("utype", Value::Null),
            ("description", text(&t.description)),
            ("table_index", Value::Int(1000)),
        ],
    ));
    for (i, c) in t.columns.iter().enumerate() {
        let size = c
            .arraysize
            .as_deref()
            .and_then(|a| a.trim_end_matches('*').parse::<i64>().ok());
        out.push(tap_schema_insert(
            dialect,
            "columns",
            vec![
                ("table_name", Value::Text(qualified.clone())),
                ("column_name", Value::Text(c.name.clone())),
                ("datatype", Value::Text(c.datatype.clone())),
                ("arraysize", text(&c.arraysize)),
                ("xtype", text(&c.xtype)),
                ("size", size.map_or(Value::Null, Value::Int)),
                ("description", text(&c.description)),
                ("utype", text(&c.utype)),
                ("unit", text(&c.unit)),
                ("ucd", text(&c.ucd)),
                ("indexed", Value::Int(i64::from(c.indexed.is_some()))),
                ("principal", Value::Int(1)),
                ("std", Value::Int(0)),
                ("column_index", Value::Int(i as i64 + 1)),
            ],
        ));
    }
    out
}

/// The statements removing `t` from TAP_SCHEMA (and its schema, once it has no table).
fn tap_schema_removal(dialect: Dialect, t: &UserTable) -> Vec<Statement> {
    let name = |n| table_name(dialect, "TAP_SCHEMA", n);
    let p = |n| placeholder(dialect, n);
    vec![
        Statement::new(
            format!(
                "DELETE FROM {} WHERE table_name = {}",
                name("columns"),
                p(1)
            ),
            vec![Value::Text(t.qualified())],
        ),
        Statement::new(
            format!("DELETE FROM {} WHERE table_name = {}", name("tables"), p(1)),
            vec![Value::Text(t.qualified())],
        ),
        Statement::new(
            format!(
                "DELETE FROM {} WHERE schema_name = {} AND NOT EXISTS \
                 (SELECT 1 FROM {} WHERE schema_name = {})",
                name("schemas"),
                p(1),
                name("tables"),
                p(2)
            ),
            vec![Value::Text(t.schema.clone()), Value::Text(t.schema.clone())],
        ),
    ]
}

/// FNV-1a, 64 bits: a stable hash for index names.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The users' tables of an archive.
#[derive(Clone)]
pub struct UserTables {
    store: Arc<dyn Store>,
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

impl UserTables {
    /// The user tables of `store`, making the table of their descriptions if missing.
    pub async fn open(store: Arc<dyn Store>) -> Result<UserTables, StoreError> {
        store
            .write(
                "skyport",
                vec![Statement::new(
                    format!(
                        "CREATE TABLE IF NOT EXISTS {META} (schema_name TEXT NOT NULL, \
                         table_name TEXT NOT NULL, owner TEXT NOT NULL, description TEXT, \
                         columns TEXT NOT NULL, read_groups TEXT NOT NULL, \
                         write_groups TEXT NOT NULL, row_count BIGINT NOT NULL, \
                         created TEXT NOT NULL, required_groups TEXT NOT NULL DEFAULT '[]', \
                         PRIMARY KEY (schema_name, table_name))"
                    ),
                    Vec::new(),
                )],
            )
            .await?;
        Ok(UserTables { store })
    }

    fn dialect(&self) -> Dialect {
        self.store.dialect()
    }

    fn mark(&self, n: usize) -> String {
        placeholder(self.dialect(), n)
    }

    /// The descriptions `condition` (SQL after `WHERE`, with `params`) selects.
    async fn read(
        &self,
        condition: &str,
        params: Vec<Value>,
    ) -> Result<Vec<UserTable>, StoreError> {
        let rows = self
            .store
            .query_private(
                format!(
                    "SELECT schema_name, table_name, owner, description, columns, read_groups, \
                     write_groups, row_count, required_groups FROM {META} WHERE {condition} \
                     ORDER BY schema_name, table_name"
                ),
                params,
            )
            .await?;
        Ok(rows
            .rows
            .iter()
            .map(|r| UserTable {
                schema: text(r.first()).unwrap_or_default(),
                table: text(r.get(1)).unwrap_or_default(),
                owner: text(r.get(2)).unwrap_or_default(),
                description: text(r.get(3)),
                columns: r
                    .get(4)
                    .and_then(Value::as_str)
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or_default(),
                read_groups: crate::accounts::list_of(r.get(5)),
                write_groups: crate::accounts::list_of(r.get(6)),
                rows: r.get(7).and_then(Value::as_i64).unwrap_or(0).max(0) as u64,
                required_groups: crate::accounts::list_of(r.get(8)),
            })
            .collect())
    }

    /// Every user table (their descriptions are small; an archive holds thousands at most).
    pub async fn all(&self) -> Result<Vec<UserTable>, StoreError> {
        self.read("1 = 1", Vec::new()).await
    }

    /// One table (its name compared case-insensitively, as ADQL compares names), if it exists.
    pub async fn get(&self, schema: &str, table: &str) -> Result<Option<UserTable>, StoreError> {
        let condition = format!(
            "schema_name = {} AND LOWER(table_name) = LOWER({})",
            self.mark(1),
            self.mark(2)
        );
        let params = vec![
            Value::Text(schema.to_string()),
            Value::Text(table.to_string()),
        ];
        Ok(self.read(&condition, params).await?.into_iter().next())
    }

    /// Makes `t` (empty), in one transaction with its description.
    pub async fn create(&self, t: &UserTable) -> Result<(), StoreError> {
        let dialect = self.dialect();
        let mut columns = Vec::with_capacity(t.columns.len());
        for c in &t.columns {
            let ty = c.user_type().map_err(StoreError::Query)?;
            columns.push(format!("{} {}", quote_ident(&c.name), ty.sql(dialect)));
        }
        let name = table_name(dialect, &t.schema, &t.table);
        let mut statements = Vec::new();
        if dialect == Dialect::Postgres {
            let schema = quote_ident(&t.schema);
            statements.push(Statement::new(
                format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
                Vec::new(),
            ));
            // Queries run as the read-only role where the server could make it.
            statements.push(Statement::new(
                format!(
                    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN \
                     EXECUTE 'GRANT USAGE ON SCHEMA {s} TO {READER_ROLE}'; \
                     EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {READER_ROLE}'; \
                     END IF; END $$",
                    s = schema.replace('\'', "''")
                ),
                Vec::new(),
            ));
        }
        statements.push(Statement::new(
            format!("CREATE TABLE {name} ({})", columns.join(", ")),
            Vec::new(),
        ));
        let cols =
            serde_json::to_string(&t.columns).map_err(|e| StoreError::Query(e.to_string()))?;
        let list = |l: &Vec<String>| serde_json::to_string(l).unwrap_or_else(|_| "[]".into());
        statements.push(Statement::new(
            format!(
                "INSERT INTO {META} (schema_name, table_name, owner, description, columns, \
                 read_groups, write_groups, row_count, created, required_groups) \
                 VALUES ({}, {}, {}, {}, {}, {}, {}, 0, {}, {})",
                self.mark(1),
                self.mark(2),
                self.mark(3),
                self.mark(4),
                self.mark(5),
                self.mark(6),
                self.mark(7),
                self.mark(8),
                self.mark(9)
            ),
            vec![
                Value::Text(t.schema.clone()),
                Value::Text(t.table.clone()),
                Value::Text(t.owner.clone()),
                t.description.clone().map_or(Value::Null, Value::Text),
                Value::Text(cols),
                Value::Text(list(&t.read_groups)),
                Value::Text(list(&t.write_groups)),
                Value::Text(chrono::Utc::now().to_rfc3339()),
                Value::Text(list(&t.required_groups)),
            ],
        ));
        statements.extend(tap_schema_rows(dialect, t));
        self.store.write(&t.owner, statements).await.map(|_| ())
    }

    /// Drops `t` and its description, in one transaction.
    pub async fn drop_table(&self, t: &UserTable, author: &str) -> Result<(), StoreError> {
        let name = table_name(self.dialect(), &t.schema, &t.table);
        let mut statements = vec![
            Statement::new(format!("DROP TABLE IF EXISTS {name}"), Vec::new()),
            Statement::new(
                format!(
                    "DELETE FROM {META} WHERE schema_name = {} AND table_name = {}",
                    self.mark(1),
                    self.mark(2)
                ),
                vec![Value::Text(t.schema.clone()), Value::Text(t.table.clone())],
            ),
        ];
        statements.extend(tap_schema_removal(self.dialect(), t));
        self.store.write(author, statements).await.map(|_| ())
    }

    /// Replaces the descriptions, units, UCDs and utypes of `t` (as it now reads, same
    /// columns and types) in its record and in TAP_SCHEMA, in one transaction.
    pub async fn describe(&self, t: &UserTable, author: &str) -> Result<(), StoreError> {
        let dialect = self.dialect();
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
        let cols =
            serde_json::to_string(&t.columns).map_err(|e| StoreError::Query(e.to_string()))?;
        let qualified = t.qualified();
        let mut statements = vec![
            Statement::new(
                format!(
                    "UPDATE {META} SET description = {}, columns = {} \
                     WHERE schema_name = {} AND table_name = {}",
                    self.mark(1),
                    self.mark(2),
                    self.mark(3),
                    self.mark(4)
                ),
                vec![
                    text(&t.description),
                    Value::Text(cols),
                    Value::Text(t.schema.clone()),
                    Value::Text(t.table.clone()),
                ],
            ),
            Statement::new(
                format!(
                    "UPDATE {} SET description = {} WHERE table_name = {}",
                    table_name(dialect, "TAP_SCHEMA", "tables"),
                    self.mark(1),
                    self.mark(2)
                ),
                vec![text(&t.description), Value::Text(qualified.clone())],
            ),
        ];
        for c in &t.columns {
            statements.push(Statement::new(
                format!(
                    "UPDATE {} SET description = {}, unit = {}, ucd = {}, utype = {} \
                     WHERE table_name = {} AND column_name = {}",
                    table_name(dialect, "TAP_SCHEMA", "columns"),
                    self.mark(1),
                    self.mark(2),
                    self.mark(3),
                    self.mark(4),
                    self.mark(5),
                    self.mark(6)
                ),
                vec![
                    text(&c.description),
                    text(&c.unit),
                    text(&c.ucd),
                    text(&c.utype),
                    Value::Text(qualified.clone()),
                    Value::Text(c.name.clone()),
                ],
            ));
        }
        self.store.write(author, statements).await.map(|_| ())
    }

    /// Replaces who may read and write `t`.
    pub async fn set_groups(
        &self,
        t: &UserTable,
        read: &[String],
        write: &[String],
        author: &str,
    ) -> Result<(), StoreError> {
        let list = |l: &[String]| serde_json::to_string(l).unwrap_or_else(|_| "[]".into());
        self.store
            .write(
                author,
                vec![Statement::new(
                    format!(
                        "UPDATE {META} SET read_groups = {}, write_groups = {} \
                         WHERE schema_name = {} AND table_name = {}",
                        self.mark(1),
                        self.mark(2),
                        self.mark(3),
                        self.mark(4)
                    ),
                    vec![
                        Value::Text(list(read)),
                        Value::Text(list(write)),
                        Value::Text(t.schema.clone()),
                        Value::Text(t.table.clone()),
                    ],
                )],
            )
            .await
            .map(|_| ())
    }

    /// Appends the rows `batches` bring to `t`, all or none: one transaction, a batch in
    /// memory at a time. Returns the rows added.
    pub async fn append<'a>(
        &'a self,
        t: &'a UserTable,
        author: &'a str,
        batches: BoxStream<'a, Result<Vec<Vec<Value>>, StoreError>>,
    ) -> Result<u64, StoreError> {
        let dialect = self.dialect();
        let name = table_name(dialect, &t.schema, &t.table);
        let columns: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let width = columns.len().max(1);
        let insert_head = format!("INSERT INTO {name} ({}) VALUES ", columns.join(", "));
        let added = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&added);
        let inserts = batches.map(move |batch| {
            let rows = batch?;
            let mut statements = Vec::new();
            // SQLite takes at most 32,766 parameters in a statement; a fixed number of rows
            // per statement keeps the distinct statements (which the backends cache) few.
            for chunk in rows.chunks((30_000 / width).clamp(1, 2_000)) {
                let mut sql = insert_head.clone();
                let mut params = Vec::with_capacity(chunk.len() * width);
                for (i, row) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    for (j, v) in row.iter().enumerate() {
                        if j > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&placeholder(dialect, params.len() + 1));
                        params.push(v.clone());
                    }
                    sql.push(')');
                }
                statements.push(Statement::new(sql, params));
            }
            counter.fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(statements)
        });
        let recount = Statement::new(
            format!(
                "UPDATE {META} SET row_count = (SELECT COUNT(*) FROM {name}) \
                 WHERE schema_name = {} AND table_name = {}",
                self.mark(1),
                self.mark(2)
            ),
            vec![Value::Text(t.schema.clone()), Value::Text(t.table.clone())],
        );
        let all = inserts.chain(futures_util::stream::once(async move { Ok(vec![recount]) }));
        self.store.write_batches(author, all.boxed()).await?;
        Ok(added.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Makes an index on `column` of `t` (unique if asked), and records it.
    pub async fn create_index(
        &self,
        t: &UserTable,
        column: &str,
        unique: bool,
        author: &str,
    ) -> Result<(), StoreError> {
        let Some(position) = t
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(column))
        else {
            return Err(StoreError::Query(format!(
                "{} has no column {column:?}",
                t.qualified()
            )));
        };
        let dialect = self.dialect();
        let col = &t.columns[position];
        if col.indexed.is_some() {
            return Err(StoreError::Query(format!(
                "column {} of {} is indexed already",
                col.name,
                t.qualified()
            )));
        }
        // A name no other table's index can take (names joined with `_` could collide, and
        // PostgreSQL cuts names at 63 bytes): a hash of the three names.
        let index = format!(
            "uidx_{:016x}",
            fnv1a(&format!("{}\0{}\0{}", t.schema, t.table, col.name).to_ascii_lowercase())
        );
        let (index_name, on) = match dialect {
            Dialect::Sqlite => (
                quote_ident(&format!("{}.{index}", t.schema)),
                table_name(dialect, &t.schema, &t.table),
            ),
            Dialect::Postgres => (
                quote_ident(&index),
                table_name(dialect, &t.schema, &t.table),
            ),
        };
        let mut columns = t.columns.clone();
        columns[position].indexed = Some(if unique {
            IndexKind::Unique
        } else {
            IndexKind::Plain
        });
        let cols = serde_json::to_string(&columns).map_err(|e| StoreError::Query(e.to_string()))?;
        self.store
            .write(
                author,
                vec![
                    Statement::new(
                        format!(
                            "CREATE {}INDEX {index_name} ON {on} ({})",
                            if unique { "UNIQUE " } else { "" },
                            quote_ident(&col.name)
                        ),
                        Vec::new(),
                    ),
                    Statement::new(
                        format!(
                            "UPDATE {} SET indexed = 1 WHERE table_name = {} AND column_name = {}",
                            table_name(dialect, "TAP_SCHEMA", "columns"),
                            self.mark(1),
                            self.mark(2)
                        ),
                        vec![Value::Text(t.qualified()), Value::Text(col.name.clone())],
                    ),
                    Statement::new(
                        format!(
                            "UPDATE {META} SET columns = {} WHERE schema_name = {} AND table_name = {}",
                            self.mark(1),
                            self.mark(2),
                            self.mark(3)
                        ),
                        vec![
                            Value::Text(cols),
                            Value::Text(t.schema.clone()),
                            Value::Text(t.table.clone()),
                        ],
                    ),
                ],
            )
            .await
            .map(|_| ())
    }
}
