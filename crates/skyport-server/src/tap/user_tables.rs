//! User tables over TAP, in CADC youcat's conventions (which pyvo's table-management calls
//! speak): `PUT /tap/tables/user_<name>.<table>` with a VOSI table description or a VOTable
//! makes a table, `POST /tap/load/<table>` appends CSV, TSV or VOTable rows, streamed, all or
//! none; `DELETE /tap/tables/<table>` drops it; `POST /tap/table-update` indexes a column (a
//! UWS job); `GET`/`POST /tap/permissions/<table>` say which groups read and write it.
//!
//! A user table lives in the schema of its owner (`user_` and their name, lower-cased, with
//! anything but letters, digits and `_` made `_`), can be read by its owner and its groups, and
//! joins with the archive's tables in ADQL. It holds only what its owner (or a group they let
//! write) loaded into it. A table the caller may not read is absent to them.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use skyport_adql::TableInfo;
use skyport_store::user_tables::{UserColumn, UserTable, UserTables, UserType};
use skyport_store::{StoreError, Value};
use skyport_votable::{DelimitedReader, Field};

use crate::caller::{current_groups, Caller, RequestCaller};
use crate::dali::DaliError;
use crate::state::AppState;

/// Limits of user tables.
#[derive(Debug, Clone)]
pub struct UserTableLimits {
    /// Rows one user may keep in all their tables (0: no limit).
    pub rows_per_user: u64,
    /// Tables one user may keep.
    pub tables_per_user: usize,
    /// The largest table description or VOTable load, in bytes.
    pub max_document_bytes: usize,
    /// Rows a VOTable load may hold.
    pub max_votable_rows: usize,
    /// The largest FITS or Parquet load, kept on disk while it is read.
    pub max_binary_bytes: u64,
    /// Where FITS and Parquet loads are kept while they are read.
    pub spool_dir: std::path::PathBuf,
}

/// Users' tables: who may do what with them, and their loads.
pub struct UserTableService {
    tables: UserTables,
    limits: UserTableLimits,
    /// One load at a time per owner: the row quota is checked against what the owner has,
    /// which another load running at once would change.
    loading: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The longest name of a table or column.
const MAX_NAME: usize = 64;
/// Rows written per batch of a load (a batch is what a load holds in memory).
const BATCH_ROWS: usize = 2_000;
/// The longest CSV or TSV row.
const MAX_ROW_BYTES: usize = 1 << 20;

/// What makes a new table's first rows, once the table is known.
type Rows = Box<dyn FnOnce(&UserTable) -> Result<super::user_loads::RowBatches, DaliError> + Send>;

/// The schema of `user`'s tables.
pub fn schema_of(user: &str) -> String {
    let name: String = user
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("user_{name}")
}

/// Checks that `name` can name a table or column: an ADQL regular identifier of at most 64
/// characters that no word of the language takes.
fn check_name(what: &str, name: &str) -> Result<(), DaliError> {
    let shown: String = name.chars().take(40).collect();
    let bad = |why: &str| DaliError::usage(format!("{what} {shown:?}: {why}"));
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(bad(&format!("a name is 1 to {MAX_NAME} characters")));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(bad(
            "a name starts with a letter and holds only letters, digits and _",
        ));
    }
    if skyport_adql::is_reserved(name) {
        return Err(bad("an ADQL or SQL reserved word; choose another name"));
    }
    Ok(())
}

/// The longest description kept.
const MAX_DESCRIPTION: usize = 4096;

/// A description: at most 4,096 characters, no control characters but line breaks and tabs.
fn check_text(what: &str, text: &str) -> Result<(), DaliError> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(DaliError::usage(format!(
            "{what} is longer than {MAX_DESCRIPTION} characters"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(DaliError::usage(format!(
            "{what} holds a control character"
        )));
    }
    Ok(())
}

/// A column's unit (VOUnits), UCD (UCD1+ syntax: words of dotted atoms, `;`-separated) and
/// description, checked.
fn check_metadata(c: &UserColumn) -> Result<(), DaliError> {
    if let Some(unit) = &c.unit {
        skyport_schema::units::check_unit(unit)
            .map_err(|e| DaliError::usage(format!("column {:?}: unit {unit:?}: {e}", c.name)))?;
    }
    if let Some(ucd) = &c.ucd {
        let atom_ok = |a: &str| {
            a.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
                && a.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        };
        let ok = ucd.len() <= 256
            && ucd
                .split(';')
                .all(|word| !word.trim().is_empty() && word.trim().split('.').all(atom_ok));
        if !ok {
            return Err(DaliError::usage(format!(
                "column {:?}: {ucd:?} is not a UCD (words of dotted atoms separated by ;, such as pos.eq.ra;meta.main)",
                c.name
            )));
        }
    }
    for (what, value) in [("utype", &c.utype), ("xtype", &c.xtype)] {
        if value
            .as_ref()
            .is_some_and(|v| v.len() > 256 || v.chars().any(char::is_control))
        {
            return Err(DaliError::usage(format!(
                "column {:?}: the {what} is longer than 256 characters or holds a control character",
                c.name
            )));
        }
    }
    if let Some(d) = &c.description {
        check_text(&format!("column {:?}'s description", c.name), d)?;
    }
    Ok(())
}

/// `user_<owner>.<table>` split, its table name checked.
fn split_name(name: &str) -> Result<(String, String), DaliError> {
    let (schema, table) = name.split_once('.').ok_or_else(|| {
        DaliError::usage(format!(
            "table {:?}: name a user table as user_<name>.<table>",
            name.chars().take(80).collect::<String>()
        ))
    })?;
    if !schema.starts_with("user_") || schema.len() > MAX_NAME + 5 {
        return Err(DaliError::usage(
            "only tables in a user schema (user_<name>.<table>) can be made, loaded or dropped",
        ));
    }
    check_name("table", table)?;
    Ok((schema.to_ascii_lowercase(), table.to_string()))
}

fn store_error(e: StoreError) -> DaliError {
    match e {
        StoreError::Query(m) => DaliError::usage(m),
        StoreError::Constraint(m) => DaliError::usage(format!("the rows break a constraint: {m}")),
        other => {
            tracing::error!("user table: {other}");
            DaliError::internal("the user table could not be written (the reason has been logged)")
        }
    }
}

/// A user table's column, from a VOTable field.
fn column_of(f: &Field) -> UserColumn {
    UserColumn {
        name: f.name.clone(),
        datatype: f.meta.datatype.clone(),
        arraysize: f.meta.arraysize.clone(),
        xtype: f.meta.xtype.clone(),
        unit: f.meta.unit.clone(),
        ucd: f.meta.ucd.clone(),
        utype: f.meta.utype.clone(),
        description: f.meta.description.clone(),
        indexed: None,
    }
}

/// What ADQL sees of `t`.
pub fn table_info(t: &UserTable) -> TableInfo {
    TableInfo {
        schema: t.schema.clone(),
        name: t.table.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| {
                let mut f = Field::new(c.name.clone(), c.datatype.clone());
                f.meta.arraysize = c.arraysize.clone();
                f.meta.xtype = c.xtype.clone();
                f.meta.unit = c.unit.clone();
                f.meta.ucd = c.ucd.clone();
                f.meta.utype = c.utype.clone();
                f.meta.description = c.description.clone();
                super::upload::column_info(&f)
            })
            .collect(),
        spatial: None,
        listing_order: Vec::new(),
    }
}

impl UserTableService {
    /// The service over `tables`.
    pub fn new(tables: UserTables, limits: UserTableLimits) -> UserTableService {
        UserTableService {
            tables,
            limits,
            loading: Default::default(),
        }
    }

    /// The largest VOTable read whole (a table description, a VOTable load, a query result
    /// kept as a table).
    pub fn max_document_bytes(&self) -> usize {
        self.limits.max_document_bytes
    }

    /// The most rows a VOTable read whole may hold.
    pub fn max_votable_rows(&self) -> usize {
        self.limits.max_votable_rows
    }

    /// The tables `caller` may read.
    pub async fn readable(&self, caller: &Caller) -> Result<Vec<UserTable>, StoreError> {
        Ok(self.partition(caller).await?.0)
    }

    /// The tables `caller` may read, and what TAP_SCHEMA must not show them: the qualified
    /// names of the others, and `schema.*` for each user schema none of whose tables they may
    /// read.
    pub async fn partition(
        &self,
        caller: &Caller,
    ) -> Result<(Vec<UserTable>, std::collections::BTreeSet<String>), StoreError> {
        let groups = current_groups(caller);
        let (readable, hidden): (Vec<UserTable>, Vec<UserTable>) = self
            .tables
            .all()
            .await?
            .into_iter()
            .partition(|t| t.readable_by(caller.user.as_deref(), &groups));
        let mut names: std::collections::BTreeSet<String> =
            hidden.iter().map(UserTable::qualified).collect();
        for t in &hidden {
            if !readable.iter().any(|r| r.schema == t.schema) {
                names.insert(format!("{}.*", t.schema));
            }
        }
        Ok((readable, names))
    }

    /// Table `name` as `caller` reaches it: absent unless they may read it.
    async fn reach(&self, caller: &Caller, name: &str) -> Result<UserTable, DaliError> {
        let (schema, table) = split_name(name)?;
        let groups = current_groups(caller);
        self.tables
            .get(&schema, &table)
            .await
            .map_err(store_error)?
            .filter(|t| t.readable_by(caller.user.as_deref(), &groups))
            .ok_or_else(|| DaliError::not_found(format!("no table {name}")))
    }

    fn owner_of(caller: &Caller) -> Result<&str, DaliError> {
        caller.user.as_deref().ok_or_else(|| {
            DaliError::usage("user tables need credentials").with_status(StatusCode::UNAUTHORIZED)
        })
    }

    /// Makes table `name` in the caller's schema from a VOSI table description or a VOTable
    /// (whose rows, if any, are loaded with it).
    pub async fn create(
        &self,
        caller: &Caller,
        name: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), DaliError> {
        let user = Self::owner_of(caller)?;
        let (schema, table) = split_name(name)?;
        if schema != schema_of(user) {
            return Err(DaliError::usage(format!(
                "you make tables in your own schema, {}",
                schema_of(user)
            ))
            .with_status(StatusCode::FORBIDDEN));
        }
        if body.len() > self.limits.max_document_bytes {
            return Err(DaliError::usage(format!(
                "the table description is larger than {} bytes",
                self.limits.max_document_bytes
            ))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        let votable = content_type.contains("votable")
            || body
                .windows(7)
                .take(4096)
                .any(|w| w.eq_ignore_ascii_case(b"<VOTABL"));
        let (description, fields, rows) = if votable {
            let t = skyport_votable::read_votable(body, self.limits.max_votable_rows)
                .map_err(|e| DaliError::usage(format!("the VOTable: {e}")))?;
            (None, t.fields, t.rows)
        } else {
            let t = skyport_votable::read_vosi_table(body)
                .map_err(|e| DaliError::usage(format!("the VOSI table description: {e}")))?;
            if let Some(declared) = &t.name {
                let declared_table = declared.rsplit('.').next().unwrap_or(declared);
                if !declared_table.eq_ignore_ascii_case(&table) {
                    return Err(DaliError::usage(format!(
                        "the description names table {declared:?}, the URL {name:?}"
                    )));
                }
            }
            (t.description, t.fields, Vec::new())
        };
        let rows: Vec<Vec<Value>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(super::upload::value).collect())
            .collect();
        let rows = (!rows.is_empty()).then(|| {
            let batch: Rows =
                Box::new(move |_: &UserTable| Ok(futures_util::stream::iter([Ok(rows)]).boxed()));
            batch
        });
        self.make(
            user,
            name,
            schema,
            table,
            description,
            &fields,
            rows,
            Vec::new(),
        )
        .await
    }

    /// Keeps a query's result, the VOTable at `file`, as table `name` of `caller`, its rows
    /// streamed from the file. Columns a user table cannot hold as they are (arrays, geometry)
    /// are kept as their text. Readers other than the owner must hold every data-rights group
    /// (of `rights`) the owner ever held: the result may hold rows only those groups see.
    pub async fn keep_result(
        &self,
        caller: &Caller,
        name: &str,
        file: std::path::PathBuf,
        rights: &skyport_store::Rights,
    ) -> Result<(), DaliError> {
        let user = Self::owner_of(caller)?;
        let (schema, table) = split_name(name)?;
        if schema != schema_of(user) {
            return Err(DaliError::usage(format!(
                "DEST: you keep tables in your own schema, {}",
                schema_of(user)
            ))
            .with_status(StatusCode::FORBIDDEN));
        }
        let mut fields = super::user_loads::votable_fields(file.clone())
            .await
            .map_err(|e| DaliError::usage(format!("the result: {e}")))?;
        for f in &mut fields {
            if column_of(f).user_type().is_err() {
                f.meta.datatype = "char".into();
                f.meta.arraysize = Some("*".into());
            }
        }
        let required = crate::caller::groups_ever_held(caller, &rights.restricting_groups());
        let rows: Rows = Box::new(move |t: &UserTable| {
            super::user_loads::file_rows(super::user_loads::BinaryFormat::VoTable, file, t)
        });
        self.make(
            user,
            name,
            schema,
            table,
            None,
            &fields,
            Some(rows),
            required,
        )
        .await
    }

    /// Makes a table of `user` from checked names and `fields`, with the rows `rows` makes
    /// for it: all or nothing.
    #[allow(clippy::too_many_arguments)]
    async fn make(
        &self,
        user: &str,
        name: &str,
        schema: String,
        table: String,
        description: Option<String>,
        fields: &[Field],
        rows: Option<Rows>,
        required_groups: Vec<String>,
    ) -> Result<(), DaliError> {
        let mut seen = std::collections::HashSet::new();
        let mut columns = Vec::with_capacity(fields.len());
        for f in fields {
            check_name("column", &f.name)?;
            if !seen.insert(f.name.to_ascii_lowercase()) {
                return Err(DaliError::usage(format!(
                    "column {:?} is declared twice",
                    f.name
                )));
            }
            let c = column_of(f);
            c.user_type().map_err(DaliError::usage)?;
            check_metadata(&c)?;
            columns.push(c);
        }
        if let Some(d) = &description {
            check_text("the table's description", d)?;
        }
        let all = self.tables.all().await.map_err(store_error)?;
        // Two user names can read alike as a schema (`bob.smith`, `bob_smith`): the first to
        // make a table keeps it.
        if all.iter().any(|t| t.schema == schema && t.owner != user) {
            return Err(DaliError::usage(format!(
                "the schema {schema} is another user's (their name reads as yours does); ask the archive's operators"
            ))
            .with_status(StatusCode::FORBIDDEN));
        }
        // PostgreSQL keeps 63 bytes of a name.
        if schema.len() > 63 {
            return Err(DaliError::usage(
                "a user name longer than 58 characters has no table schema",
            )
            .with_status(StatusCode::FORBIDDEN));
        }
        let mine = all
            .into_iter()
            .filter(|t| t.owner == user)
            .collect::<Vec<_>>();
        if mine
            .iter()
            .any(|t| t.schema == schema && t.table.eq_ignore_ascii_case(&table))
        {
            return Err(DaliError::usage(format!(
                "table {name} exists; drop it first to make it anew"
            ))
            .with_status(StatusCode::CONFLICT));
        }
        if mine.len() >= self.limits.tables_per_user {
            return Err(DaliError::usage(format!(
                "you keep {} tables, the most one user may",
                mine.len()
            ))
            .with_status(StatusCode::FORBIDDEN));
        }
        let t = UserTable {
            schema,
            table,
            owner: user.to_string(),
            description,
            columns,
            read_groups: Vec::new(),
            write_groups: Vec::new(),
            rows: 0,
            required_groups,
        };
        self.tables.create(&t).await.map_err(store_error)?;
        if let Some(rows) = rows {
            let loaded = match rows(&t) {
                Ok(rows) => self.append_checked(&t, user, rows).await,
                Err(e) => Err(e),
            };
            if let Err(e) = loaded {
                // The table and its rows come together or not at all.
                let _ = self.tables.drop_table(&t, user).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Rows `owner` keeps in all their tables.
    async fn rows_of(&self, owner: &str) -> Result<u64, DaliError> {
        Ok(self
            .tables
            .all()
            .await
            .map_err(store_error)?
            .iter()
            .filter(|t| t.owner == owner)
            .map(|t| t.rows)
            .sum())
    }

    /// Appends `batches` to `t`, held to the owner's row quota.
    async fn append_checked<'a>(
        &'a self,
        t: &'a UserTable,
        author: &'a str,
        batches: futures_util::stream::BoxStream<'a, Result<Vec<Vec<Value>>, StoreError>>,
    ) -> Result<u64, DaliError> {
        let lock = {
            let mut loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(loading.entry(t.owner.clone()).or_default())
        };
        let _one_at_a_time = lock.lock().await;
        let quota = self.limits.rows_per_user;
        let room = if quota == 0 {
            u64::MAX
        } else {
            quota.saturating_sub(self.rows_of(&t.owner).await?)
        };
        let mut counted = 0u64;
        let owner = t.owner.clone();
        let held = batches.map(move |b| {
            let b = b?;
            counted += b.len() as u64;
            if counted > room {
                return Err(StoreError::Query(format!(
                    "the load would pass the quota of {quota} rows that {owner} may keep in user tables; nothing was added"
                )));
            }
            Ok(b)
        });
        self.tables
            .append(t, author, held.boxed())
            .await
            .map_err(store_error)
    }

    /// Appends the rows of `body` (CSV, TSV, VOTable, FITS or Parquet, by `content_type`) to
    /// table `name`.
    pub async fn load(
        &self,
        caller: &Caller,
        name: &str,
        content_type: &str,
        body: Body,
    ) -> Result<u64, DaliError> {
        let user = Self::owner_of(caller)?;
        let t = self.reach(caller, name).await?;
        if !t.writable_by(Some(user), &current_groups(caller)) {
            return Err(DaliError::usage(format!(
                "{} lets you read {name}, not add to it",
                t.owner
            ))
            .with_status(StatusCode::FORBIDDEN));
        }
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let delimiter = match mime.as_str() {
            "text/csv" => b',',
            "text/tab-separated-values" => b'\t',
            other => match super::user_loads::BinaryFormat::of(other) {
                Some(format) => {
                    let rows = super::user_loads::binary_rows(
                        format,
                        body,
                        &t,
                        &self.limits.spool_dir,
                        self.limits.max_binary_bytes,
                    )
                    .await?;
                    return self.append_checked(&t, user, rows).await;
                }
                None => {
                    return Err(DaliError::usage(format!(
                        "rows are loaded as text/csv, text/tab-separated-values, application/x-votable+xml, application/fits or application/vnd.apache.parquet, not {other:?}"
                    ))
                    .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
                }
            },
        };
        let types: Vec<UserType> = t
            .columns
            .iter()
            .map(|c| c.user_type().map_err(DaliError::usage))
            .collect::<Result<_, _>>()?;
        // Spooled first: the archive's one SQLite writer is then held while rows are written,
        // not while a slow client sends them.
        let spooled =
            super::user_loads::spool(body, &self.limits.spool_dir, self.limits.max_binary_bytes)
                .await?;
        let file = tokio::fs::File::open(spooled.path()).await.map_err(|e| {
            tracing::error!("reading a spooled load: {e}");
            DaliError::internal("the load could not be read back (logged)")
        })?;
        let rows = delimited_rows(spooled, file, delimiter, &t, types);
        self.append_checked(&t, user, rows).await
    }

    /// Sets the descriptions, units, UCDs and utypes of table `name` (its owner only) from a
    /// VOSI table description: its table description, when given, replaces the table's; each
    /// column it describes (by name, with the type it has) is described anew, and the columns
    /// it leaves out keep theirs.
    pub async fn describe(
        &self,
        caller: &Caller,
        name: &str,
        body: &[u8],
    ) -> Result<(), DaliError> {
        let user = Self::owner_of(caller)?;
        let mut t = self.reach(caller, name).await?;
        if t.owner != user {
            return Err(
                DaliError::usage(format!("only {} describes {name}", t.owner))
                    .with_status(StatusCode::FORBIDDEN),
            );
        }
        let d = skyport_votable::read_vosi_table(body)
            .map_err(|e| DaliError::usage(format!("the VOSI table description: {e}")))?;
        if let Some(declared) = &d.name {
            let declared_table = declared.rsplit('.').next().unwrap_or(declared);
            if !declared_table.eq_ignore_ascii_case(&t.table) {
                return Err(DaliError::usage(format!(
                    "the description names table {declared:?}, the URL {name:?}"
                )));
            }
        }
        if let Some(description) = d.description {
            check_text("the table's description", &description)?;
            t.description = Some(description);
        }
        for f in &d.fields {
            let described = column_of(f);
            let column = t
                .columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case(&f.name))
                .ok_or_else(|| DaliError::usage(format!("{name} has no column {:?}", f.name)))?;
            if described.user_type() != column.user_type() {
                return Err(DaliError::usage(format!(
                    "column {:?} is {} and stays so: a description changes no type (make the table anew for that)",
                    column.name, column.datatype
                )));
            }
            check_metadata(&described)?;
            column.description = described.description;
            column.unit = described.unit;
            column.ucd = described.ucd;
            column.utype = described.utype;
        }
        self.tables.describe(&t, user).await.map_err(store_error)
    }

    /// Drops table `name` (its owner only).
    pub async fn drop(&self, caller: &Caller, name: &str) -> Result<(), DaliError> {
        let user = Self::owner_of(caller)?;
        let t = self.reach(caller, name).await?;
        if t.owner != user {
            return Err(DaliError::usage(format!("only {} drops {name}", t.owner))
                .with_status(StatusCode::FORBIDDEN));
        }
        self.tables.drop_table(&t, user).await.map_err(store_error)
    }

    /// The groups that read and write table `name`, as youcat writes them.
    pub async fn permissions(&self, caller: &Caller, name: &str) -> Result<String, DaliError> {
        let t = self.reach(caller, name).await?;
        Ok(format!(
            "owner={}\npublic=false\nr-group={}\nrw-group={}\n",
            t.owner,
            t.read_groups.join(" "),
            t.write_groups.join(" ")
        ))
    }

    /// Sets the groups that read (`r-group`) and write (`rw-group`) table `name` from youcat's
    /// `key=value` lines (a group's name, or an `ivo://…?name` URI; several separated by
    /// spaces; an empty value clears). Its owner only.
    pub async fn set_permissions(
        &self,
        caller: &Caller,
        name: &str,
        body: &str,
    ) -> Result<(), DaliError> {
        let user = Self::owner_of(caller)?;
        let t = self.reach(caller, name).await?;
        if t.owner != user {
            return Err(
                DaliError::usage(format!("only {} grants access to {name}", t.owner))
                    .with_status(StatusCode::FORBIDDEN),
            );
        }
        let (mut read, mut write) = (t.read_groups.clone(), t.write_groups.clone());
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line.split_once('=').ok_or_else(|| {
                DaliError::usage(format!("{line:?}: permissions are key=value lines"))
            })?;
            let groups = value
                .split_whitespace()
                .map(|g| g.rsplit('?').next().unwrap_or(g).to_string())
                .collect::<Vec<_>>();
            if groups
                .iter()
                .any(|g| g.len() > 256 || g.chars().any(char::is_control))
                || groups.len() > 100
            {
                return Err(DaliError::usage(
                    "at most 100 groups of 1 to 256 characters",
                ));
            }
            match key.trim() {
                "r-group" => read = groups,
                "rw-group" => write = groups,
                "public" if value.trim() == "false" => {}
                "public" => {
                    return Err(DaliError::usage(
                        "user tables are not made public here; grant them to groups",
                    ))
                }
                other => {
                    return Err(DaliError::usage(format!(
                        "{other:?}: the keys are r-group, rw-group and public"
                    )))
                }
            }
        }
        self.tables
            .set_groups(&t, &read, &write, user)
            .await
            .map_err(store_error)
    }

    /// Indexes `column` of table `name` (its owner, or a group that writes it).
    pub async fn index(
        &self,
        caller: &Caller,
        name: &str,
        column: &str,
        unique: bool,
    ) -> Result<(), DaliError> {
        let user = Self::owner_of(caller)?;
        let t = self.reach(caller, name).await?;
        if !t.writable_by(Some(user), &current_groups(caller)) {
            return Err(
                DaliError::usage(format!("{} lets you read {name} only", t.owner))
                    .with_status(StatusCode::FORBIDDEN),
            );
        }
        self.tables
            .create_index(&t, column, unique, user)
            .await
            .map_err(store_error)
    }
}

/// Runs `table-update` jobs (youcat's, as pyvo's `create_index` makes them): `table`,
/// `index` (a column) and `unique` (`true` or `false`).
pub struct IndexRunner {
    /// The tables.
    pub service: Arc<UserTableService>,
}

#[async_trait::async_trait]
impl skyport_uws::Runner for IndexRunner {
    async fn run(
        &self,
        job: &skyport_uws::Job,
        _dir: &std::path::Path,
        _progress: skyport_uws::ProgressReporter,
    ) -> Result<Vec<skyport_uws::JobResult>, String> {
        let param = |name: &str| {
            job.parameters
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(name))
                .map(|p| p.value.clone())
        };
        let table = param("table").ok_or("Error: table-update needs a table")?;
        let column = param("index").ok_or("Error: table-update needs the index column")?;
        let unique = match param("unique")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(format!("Error: unique={other:?}: true or false")),
        };
        let caller = crate::caller::job_caller(job);
        self.service
            .index(&caller, &table, &column, unique)
            .await
            .map_err(|e| format!("Error: {}", e.message()))?;
        tracing::info!(job = %job.id, table = %table, column = %column, unique, "user table indexed");
        Ok(Vec::new())
    }
}

/// Checks a new `table-update` job's parameters.
pub fn check_update(params: &crate::dali::DaliParams) -> Result<(), DaliError> {
    let table = params
        .single("table")?
        .ok_or_else(|| DaliError::usage("table-update needs table"))?;
    split_name(table)?;
    let column = params
        .single("index")?
        .ok_or_else(|| DaliError::usage("table-update needs index (a column)"))?;
    check_name("column", column)?;
    match params
        .single("unique")?
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("true") | Some("false") => Ok(()),
        Some(other) => Err(DaliError::usage(format!("unique={other:?}: true or false"))),
    }
}

/// For each column of `t`, the position of its value in rows whose header is `header`.
pub(crate) fn header_order(t: &UserTable, header: &[String]) -> Result<Vec<usize>, DaliError> {
    let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let mismatch = || {
        DaliError::usage(format!(
            "the rows' columns ({}) are not the table's ({}); nothing was added",
            header
                .iter()
                .map(|h| h.chars().take(64).collect::<String>())
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        ))
    };
    if header.len() != names.len() {
        return Err(mismatch());
    }
    names
        .iter()
        .map(|n| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(n))
                .ok_or_else(mismatch)
        })
        .collect()
}

/// The rows of a CSV or TSV body, in batches, as they arrive: the first line names the
/// columns (in any order); every value is read as its column's type.
fn delimited_rows(
    spooled: super::user_loads::Spool,
    file: tokio::fs::File,
    delimiter: u8,
    t: &UserTable,
    types: Vec<UserType>,
) -> futures_util::stream::BoxStream<'static, Result<Vec<Vec<Value>>, StoreError>> {
    struct Reading {
        /// Kept until the rows are read: the file goes with it.
        _spooled: super::user_loads::Spool,
        body: tokio_util::io::ReaderStream<tokio::fs::File>,
        reader: DelimitedReader,
        order: Option<Vec<usize>>,
        pending: std::collections::VecDeque<Vec<String>>,
        ended: bool,
        table: UserTable,
        types: Vec<UserType>,
    }
    let reading = Reading {
        _spooled: spooled,
        body: tokio_util::io::ReaderStream::with_capacity(file, 256 << 10),
        reader: DelimitedReader::new(delimiter, MAX_ROW_BYTES),
        order: None,
        pending: Default::default(),
        ended: false,
        table: t.clone(),
        types,
    };
    let bad = |m: String| StoreError::Query(format!("{m}; nothing was added"));
    futures_util::stream::unfold(reading, move |mut r| async move {
        loop {
            if r.pending.len() >= BATCH_ROWS || (r.ended && !r.pending.is_empty()) {
                let mut batch = Vec::with_capacity(r.pending.len().min(BATCH_ROWS));
                let order = r.order.clone().unwrap_or_default();
                // Batches of exactly BATCH_ROWS rows (the last excepted): the statements a load
                // runs then come in two sizes only, and a database caching its prepared
                // statements keeps two, however the rows arrived.
                let take = r.pending.len().min(BATCH_ROWS);
                let first_line = r.reader.records() - r.pending.len() as u64 + 1;
                let pending: Vec<Vec<String>> = r.pending.drain(..take).collect();
                for (k, record) in pending.into_iter().enumerate() {
                    let line = first_line + k as u64;
                    if record.len() != order.len() {
                        return Some((
                            Err(bad(format!(
                                "line {line}: {} values for {} columns",
                                record.len(),
                                order.len()
                            ))),
                            r,
                        ));
                    }
                    let mut row = Vec::with_capacity(order.len());
                    for (c, &i) in order.iter().enumerate() {
                        match r.types[c].parse(&record[i]) {
                            Ok(v) => row.push(v),
                            Err(e) => {
                                return Some((
                                    Err(bad(format!(
                                        "line {line}, column {}: {e}",
                                        r.table.columns[c].name
                                    ))),
                                    r,
                                ))
                            }
                        }
                    }
                    batch.push(row);
                }
                return Some((Ok(batch), r));
            }
            if r.ended {
                return None;
            }
            let mut records = Vec::new();
            let pushed = match r.body.next().await {
                Some(Ok(chunk)) => r.reader.push(&chunk, &mut records),
                Some(Err(e)) => {
                    return Some((
                        Err(StoreError::Query(format!("the upload broke off: {e}"))),
                        r,
                    ))
                }
                None => {
                    r.ended = true;
                    r.reader.push(&[], &mut records)
                }
            };
            if let Err(e) = pushed {
                return Some((Err(bad(e.to_string())), r));
            }
            for record in records {
                if r.order.is_none() {
                    match header_order(&r.table, &record) {
                        Ok(o) => r.order = Some(o),
                        Err(e) => return Some((Err(StoreError::Query(e.detail)), r)),
                    }
                } else {
                    r.pending.push_back(record);
                }
            }
            if r.ended && r.order.is_none() {
                return Some((Err(bad("the body holds no header line".into())), r));
            }
        }
    })
    .boxed()
}

fn service(state: &AppState) -> Result<&UserTableService, DaliError> {
    state
        .user_tables
        .as_deref()
        .ok_or_else(|| DaliError::not_found("this server keeps no user tables"))
}

fn content_type(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// `PUT /tap/tables/{name}`.
pub async fn put_table(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, DaliError> {
    let service = service(&state)?;
    let kind = content_type(&request);
    let body = description_body(service, request.into_body()).await?;
    service.create(&caller, &name, &kind, &body).await?;
    Ok((StatusCode::OK, format!("table {name} made\n")).into_response())
}

/// `POST /tap/tables/{name}`: a VOSI table description (a `table` element) describes the
/// table anew; anything else is rows to append, as `POST /tap/load/{name}` takes them.
pub async fn post_table(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, DaliError> {
    let service = service(&state)?;
    let kind = content_type(&request);
    let (head, body) = peek(request.into_body(), 1024).await?;
    if root_element(&head).is_some_and(|r| r.eq_ignore_ascii_case("table")) {
        let rest = description_body(service, body).await?;
        service.describe(&caller, &name, &rest).await?;
        return Ok((StatusCode::OK, format!("table {name} described anew\n")).into_response());
    }
    let added = service.load(&caller, &name, &kind, body).await?;
    Ok((StatusCode::OK, format!("{added} rows added to {name}\n")).into_response())
}

/// A table description's body, at most the document limit.
async fn description_body(service: &UserTableService, body: Body) -> Result<Bytes, DaliError> {
    let limit = service.limits.max_document_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        DaliError::usage(format!(
            "the table description is larger than {limit} bytes"
        ))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    })
}

/// The first `at_least` bytes of `body` (fewer if it is shorter), and the whole body again.
async fn peek(body: Body, at_least: usize) -> Result<(Vec<u8>, Body), DaliError> {
    let mut stream = body.into_data_stream();
    let mut chunks = Vec::new();
    let mut head = Vec::new();
    while head.len() < at_least {
        match stream.next().await {
            Some(Ok(chunk)) => {
                head.extend_from_slice(&chunk);
                chunks.push(Ok::<_, axum::Error>(chunk));
            }
            Some(Err(e)) => {
                return Err(DaliError::usage(format!("the upload broke off: {e}")));
            }
            None => break,
        }
    }
    let whole = futures_util::stream::iter(chunks).chain(stream);
    Ok((head, Body::from_stream(whole)))
}

/// The local name of the first element of an XML document's start, past its declaration,
/// comments and processing instructions.
fn root_element(head: &[u8]) -> Option<String> {
    let mut rest = head;
    loop {
        let at = rest.iter().position(|&b| b == b'<')?;
        rest = &rest[at + 1..];
        match rest.first()? {
            b'?' | b'!' => continue,
            _ => {
                let end = rest
                    .iter()
                    .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
                    .unwrap_or(rest.len());
                let name = std::str::from_utf8(&rest[..end]).ok()?;
                return Some(name.rsplit(':').next().unwrap_or(name).to_string());
            }
        }
    }
}

/// `DELETE /tap/tables/{name}`.
pub async fn delete_table(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
) -> Result<Response, DaliError> {
    service(&state)?.drop(&caller, &name).await?;
    Ok((StatusCode::OK, format!("table {name} dropped\n")).into_response())
}

/// `POST /tap/load/{name}`.
pub async fn load(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, DaliError> {
    let kind = content_type(&request);
    let added = service(&state)?
        .load(&caller, &name, &kind, request.into_body())
        .await?;
    Ok((StatusCode::OK, format!("{added} rows added to {name}\n")).into_response())
}

/// `GET /tap/permissions/{name}`.
pub async fn get_permissions(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
) -> Result<Response, DaliError> {
    let text = service(&state)?.permissions(&caller, &name).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `POST /tap/permissions/{name}`.
pub async fn set_permissions(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, DaliError> {
    let text =
        std::str::from_utf8(&body).map_err(|_| DaliError::usage("permissions are UTF-8 text"))?;
    let service = service(&state)?;
    service.set_permissions(&caller, &name, text).await?;
    let text = service.permissions(&caller, &name).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The routes of users' tables (the live archive's `/tap` only).
pub(crate) fn routes(state: &Arc<AppState>) -> crate::routes::Routes<Arc<AppState>> {
    use axum::routing::{get, post, put};
    let routes = crate::routes::Routes::new()
        .route(
            "/tap/tables/{name}",
            put(put_table).post(post_table).delete(delete_table),
        )
        .route("/tap/load/{name}", post(load))
        .route(
            "/tap/permissions/{name}",
            get(get_permissions).post(set_permissions),
        );
    match &state.table_updates {
        Some(endpoint) => routes.merge(crate::uws_http::routes(
            "/tap/table-update",
            Arc::clone(endpoint),
        )),
        None => routes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_refused() {
        for bad in [
            "select",
            "Table",
            "order",
            "",
            "1abc",
            "a-b",
            &"x".repeat(10_000),
        ] {
            assert!(check_name("table", bad).is_err(), "{bad}");
        }
        for good in ["stars", "my_table_2", "ra", "dec"] {
            assert!(check_name("table", good).is_ok(), "{good}");
        }
        assert_eq!(schema_of("Bob.Smith@lsst"), "user_bob_smith_lsst");
    }
}
