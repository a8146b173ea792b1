//! The ConsDB operations behind the REST API (wire-compatible with Rubin's pqserver), free of
//! HTTP: inserts and upserts of observation rows (by day_obs/seq_num, by observation id, in
//! bulk), flexible metadata, whole observations (current or as of a past time) and the schema
//! listings. Where pqserver is unsafe, this is stricter, and says so in `docs/consdb.md`:
//! every request is one transaction; an upsert changes only the columns it names; NULL can be
//! written to a nullable column; values are checked against their column types before anything
//! is written.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use skyport_schema::{Schema, Table};
use skyport_store::ddl::{placeholder, quote_ident, table_name};
use skyport_store::{Dialect, Statement, Store, Value};

use crate::catalog::{self, Catalog};
use crate::convert::to_value;
use crate::error::ConsDbError;
use crate::write::{self, OnConflict, RowSet};

/// Rows of a bulk insert, each its natural id and its values, as [`ConsDb::insert_many`]
/// takes them a batch at a time.
pub type BulkBatch = Vec<(i64, Map<String, Json>)>;

/// How an insert names its observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `/by_seq_num/{day_obs}/{seq_num}[/{detector}]`.
    BySeqNum {
        /// Day of observation (YYYYMMDD).
        day_obs: i64,
        /// Sequence number.
        seq_num: i64,
        /// Detector, for per-detector tables.
        detector: Option<i64>,
    },
    /// `/obs/{obs_id}`: the table's natural id.
    ObsId(i64),
}

/// What an insert reports back (pqserver's response fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// Instrument, lower case.
    pub instrument: String,
    /// `[day_obs, seq_num(, detector)]`, the obs id, or the list of bulk ids.
    pub obs_id: Json,
    /// The table, qualified (single inserts) or as the URL named it (bulk).
    pub table: String,
}

/// The ConsDB service over a store.
pub struct ConsDb {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) catalog: Catalog,
}

/// The parent table and id column that rows of `table` refer to for their day_obs/seq_num
/// (and detector): exposure-level tables look up `exposure`, detector-level ones `ccdexposure`.
fn parent_of(table: &Table) -> (&'static str, &'static str) {
    if table.column("detector").is_some() && table.column("exposure_id").is_none() {
        ("ccdexposure", "ccdexposure_id")
    } else {
        ("exposure", "exposure_id")
    }
}

/// The day_obs/seq_num(/detector) of a parent row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys {
    pub(crate) day_obs: i64,
    pub(crate) seq_num: i64,
    pub(crate) detector: Option<i64>,
}

impl ConsDb {
    /// The service over `store`, serving the ConsDB `schemas` (already migrated).
    pub fn new(store: Arc<dyn Store>, schemas: &[Schema]) -> ConsDb {
        ConsDb {
            store,
            catalog: Catalog::new(schemas),
        }
    }

    /// The instruments and their schemas.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.store.dialect()
    }

    pub(crate) fn p(&self, n: usize) -> String {
        placeholder(self.dialect(), n)
    }

    /// Every table and view of an instrument, qualified, history tables included.
    pub fn tables(&self, instrument: &str) -> Result<Vec<String>, ConsDbError> {
        let (_, schema) = self.catalog.instrument(instrument)?;
        Ok(schema
            .tables
            .iter()
            .map(|t| format!("{}.{}", schema.name, t.name))
            .collect())
    }

    /// The columns of a table: (name, SQL type, description).
    pub fn columns(
        &self,
        instrument: &str,
        table: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, ConsDbError> {
        let (_, schema) = self.catalog.instrument(instrument)?;
        let t = self.any_table(schema, table)?;
        Ok(t.columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    skyport_store::ddl::column_type(Dialect::Postgres, c),
                    c.description.clone(),
                )
            })
            .collect())
    }

    fn any_table<'a>(&self, schema: &'a Schema, name: &str) -> Result<&'a Table, ConsDbError> {
        let lower = name.to_ascii_lowercase();
        let bare = lower
            .strip_prefix(&format!("{}.", schema.name))
            .unwrap_or(&lower);
        schema
            .tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(bare))
            .ok_or_else(|| {
                ConsDbError::bad_value(
                    "table",
                    format!("{}.{bare}", schema.name),
                    schema
                        .tables
                        .iter()
                        .map(|t| format!("{}.{}", schema.name, t.name))
                        .collect(),
                )
            })
    }

    /// Day_obs/seq_num(/detector) of parent rows by id (one query per 500 ids).
    pub(crate) async fn parent_keys(
        &self,
        schema: &Schema,
        parent: &str,
        id_column: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, Keys>, ConsDbError> {
        let mut out = HashMap::new();
        let detector = if parent == "ccdexposure" {
            ", detector"
        } else {
            ""
        };
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| self.p(i)).collect();
            let sql = format!(
                "SELECT {id}, day_obs, seq_num{detector} FROM {t} WHERE {id} IN ({})",
                marks.join(", "),
                id = quote_ident(id_column),
                t = table_name(self.dialect(), &schema.name, parent)
            );
            let rows = self
                .store
                .query(sql, chunk.iter().map(|i| Value::Int(*i)).collect())
                .await?;
            for r in rows.rows {
                if let (Some(id), Some(day_obs), Some(seq_num)) =
                    (r[0].as_i64(), r[1].as_i64(), r[2].as_i64())
                {
                    let detector = r.get(3).and_then(Value::as_i64);
                    out.insert(
                        id,
                        Keys {
                            day_obs,
                            seq_num,
                            detector,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Fills the day_obs/seq_num(/detector) a row lacks from its parent row (pqserver's
    /// composite-key lookup): the parent id is the row's `obs_id` key, or the body's
    /// `obs_id`/`exposure_id`/`visit_id` for exposure-level tables.
    async fn fill_keys(
        &self,
        schema: &Schema,
        table: &Table,
        rows: &mut [(i64, Map<String, Json>)],
    ) -> Result<(), ConsDbError> {
        let wanted: Vec<&str> = ["day_obs", "seq_num", "detector"]
            .into_iter()
            .filter(|c| table.column(c).is_some())
            .collect();
        let (parent, id_column) = parent_of(table);
        let parent_id = |key: i64, row: &Map<String, Json>| -> i64 {
            if parent == "ccdexposure" {
                return key;
            }
            // The last present wins, as in pqserver.
            ["visit_id", "exposure_id", "obs_id"]
                .iter()
                .find_map(|c| row.get(*c).and_then(Json::as_i64))
                .unwrap_or(key)
        };
        let needing: Vec<i64> = rows
            .iter()
            .filter(|(_, row)| wanted.iter().any(|c| !row.contains_key(*c)))
            .map(|(key, row)| parent_id(*key, row))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if needing.is_empty() {
            return Ok(());
        }
        let found = self
            .parent_keys(schema, parent, id_column, &needing)
            .await?;
        for (key, row) in rows.iter_mut() {
            if wanted.iter().all(|c| row.contains_key(*c)) {
                continue;
            }
            let id = parent_id(*key, row);
            let keys = found
                .get(&id)
                .ok_or_else(|| ConsDbError::bad_value(id_column, id, Vec::new()))?;
            let fill = [
                ("day_obs", Some(keys.day_obs)),
                ("seq_num", Some(keys.seq_num)),
                ("detector", keys.detector),
            ];
            for (column, value) in fill {
                if let (true, Some(v)) = (wanted.contains(&column), value) {
                    row.entry(column.to_string()).or_insert(Json::from(v));
                }
            }
        }
        Ok(())
    }

    /// Checks a row's columns (pqserver's order: missing required ones with `u=0` first,
    /// then unknown ones) and converts its values.
    fn row_values(
        table: &Table,
        row: &Map<String, Json>,
        require_all: bool,
    ) -> Result<Vec<(String, Value)>, ConsDbError> {
        if require_all {
            let missing: Vec<&str> = table
                .columns
                .iter()
                .filter(|c| !c.nullable && c.value.is_none() && !row.contains_key(&c.name))
                .map(|c| c.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(ConsDbError::bad_value(
                    "missing columns",
                    missing.join(","),
                    Vec::new(),
                ));
            }
        }
        let extra: Vec<&str> = row
            .keys()
            .filter(|k| table.column(k).is_none())
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            return Err(ConsDbError::bad_value(
                "extra columns",
                extra.join(","),
                Vec::new(),
            ));
        }
        row.iter()
            .map(|(k, v)| {
                let column = table.column(k).ok_or_else(|| {
                    ConsDbError::bad_value("extra columns", k.clone(), Vec::new())
                })?;
                to_value(column, v)
                    .map(|value| (column.name.clone(), value))
                    .map_err(|m| ConsDbError::invalid(&["body", "values", k], m))
            })
            .collect()
    }

    /// The natural id of a parent row found from the row's keys, for tables whose natural id
    /// column is required but was not given (`by_seq_num` writes of quicklook rows).
    async fn fill_natural_id(
        &self,
        schema: &Schema,
        table: &Table,
        row: &mut Map<String, Json>,
    ) -> Result<(), ConsDbError> {
        let Some(id_column) = catalog::natural_id(table) else {
            return Ok(());
        };
        let required = table.column(id_column).is_some_and(|c| !c.nullable);
        if !required || ["exposure", "ccdexposure"].contains(&table.name.as_str()) {
            return Ok(());
        }
        let (parent, parent_id) = match id_column {
            "ccdvisit_id" | "ccdexposure_id" => ("ccdexposure", "ccdexposure_id"),
            "visit_id" | "exposure_id" => ("exposure", "exposure_id"),
            _ => return Ok(()),
        };
        let mut conditions = vec![
            ("day_obs", row.get("day_obs")),
            ("seq_num", row.get("seq_num")),
        ];
        if parent == "ccdexposure" {
            conditions.push(("detector", row.get("detector")));
        }
        let mut params = Vec::new();
        let mut wheres = Vec::new();
        for (column, value) in conditions {
            let Some(v) = value.and_then(Json::as_i64) else {
                return Ok(());
            };
            params.push(Value::Int(v));
            wheres.push(format!("{column} = {}", self.p(params.len())));
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            quote_ident(parent_id),
            table_name(self.dialect(), &schema.name, parent),
            wheres.join(" AND ")
        );
        let rows = self.store.query(sql, params).await?;
        let found = rows
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64);
        // An id given in the body must be the one the observation has: any other would point
        // the row at a different observation, or at none.
        match (row.get(id_column), found) {
            (None, Some(id)) => {
                row.insert(id_column.to_string(), Json::from(id));
            }
            (Some(given), Some(id)) if given.as_i64() != Some(id) => {
                return Err(ConsDbError::invalid(
                    &["body", "values", id_column],
                    format!(
                        "{id_column} comes from the {parent} this row belongs to ({id}); {given} was given"
                    ),
                ));
            }
            (Some(given), None) => {
                return Err(ConsDbError::invalid(
                    &["body", "values", id_column],
                    format!(
                        "{id_column} {given} was given, but there is no {parent} with this day_obs and seq_num{} to check it against",
                        if parent == "ccdexposure" { " and detector" } else { "" }
                    ),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// The statements writing `sets` to a table. With `update`, rows whose key exists become
    /// UPDATEs of the columns they name, the others INSERT … ON CONFLICT DO UPDATE (a row
    /// another writer adds meanwhile is still updated); without, plain INSERTs, so an
    /// existing key is an error.
    pub(crate) async fn write_statements(
        &self,
        schema: &Schema,
        table: &Table,
        sets: &[RowSet],
        key: &[&str],
        update: bool,
    ) -> Result<Vec<Statement>, ConsDbError> {
        let d = self.dialect();
        let mut out = Vec::new();
        for set in sets {
            if !update {
                out.extend(write::statements(
                    d,
                    &schema.name,
                    &table.name,
                    set,
                    key,
                    OnConflict::Fail,
                ));
                continue;
            }
            let positions: Option<Vec<usize>> = key
                .iter()
                .map(|k| set.columns.iter().position(|c| c == k))
                .collect();
            let Some(positions) = positions else {
                out.extend(write::statements(
                    d,
                    &schema.name,
                    &table.name,
                    set,
                    key,
                    OnConflict::Update,
                ));
                continue;
            };
            // Identity columns (the primary key, the natural id) other than the key the rows
            // are found by: an update may restate them but never change them, or the row's
            // dependents would be orphaned.
            let mut identity_columns: Vec<&str> = table.primary_key_columns();
            identity_columns.extend(catalog::natural_id(table));
            let guarded: Vec<&str> = set
                .columns
                .iter()
                .map(String::as_str)
                .filter(|c| identity_columns.contains(c) && !key.contains(c))
                .collect();
            let guarded_at: Vec<usize> = guarded
                .iter()
                .filter_map(|g| set.columns.iter().position(|c| c == g))
                .collect();
            let existing = self
                .existing_keys(schema, table, key, &positions, &guarded, &set.rows)
                .await?;
            let mut fresh = RowSet {
                columns: set.columns.clone(),
                rows: Vec::new(),
            };
            let mut known = RowSet {
                columns: set.columns.clone(),
                rows: Vec::new(),
            };
            for row in &set.rows {
                let identity: Vec<Value> = positions.iter().map(|&i| row[i].clone()).collect();
                if let Some(stored) = existing.get(&format!("{identity:?}")) {
                    for ((column, &at), was) in guarded.iter().zip(&guarded_at).zip(stored) {
                        if !same_value(&row[at], was) {
                            return Err(ConsDbError::invalid(
                                &["body", "values", column],
                                format!(
                                    "{column} identifies the row and cannot be changed by an update (it is {}, the request gives {})",
                                    shown(was),
                                    shown(&row[at])
                                ),
                            ));
                        }
                    }
                    known.rows.push(row.clone());
                } else {
                    fresh.rows.push(row.clone());
                }
            }
            let types: Vec<String> = set
                .columns
                .iter()
                .map(|c| {
                    table
                        .column(c)
                        .map(|col| skyport_store::ddl::column_type(d, col))
                        .unwrap_or_else(|| "TEXT".into())
                })
                .collect();
            out.extend(write::updates(
                d,
                &schema.name,
                &table.name,
                &known,
                key,
                &types,
            ));
            if !fresh.rows.is_empty() {
                out.extend(write::statements(
                    d,
                    &schema.name,
                    &table.name,
                    &fresh,
                    key,
                    OnConflict::Update,
                ));
            }
        }
        Ok(out)
    }

    /// Which of the rows' keys the table holds (as `Debug` text of the key values), each with
    /// the stored values of the `guarded` columns.
    async fn existing_keys(
        &self,
        schema: &Schema,
        table: &Table,
        key: &[&str],
        positions: &[usize],
        guarded: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<std::collections::HashMap<String, Vec<Value>>, ConsDbError> {
        let mut found = std::collections::HashMap::new();
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|k| quote_ident(k))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let list = quoted(key);
        let selected = quoted(&[key, guarded].concat());
        // Small chunks: PostgreSQL expands a row-IN list into an expression per tuple.
        for chunk in rows.chunks(500) {
            let mut params = Vec::new();
            let tuples: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let marks: Vec<String> = positions
                        .iter()
                        .map(|&i| {
                            params.push(row[i].clone());
                            self.p(params.len())
                        })
                        .collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            let sql = format!(
                "SELECT {selected} FROM {} WHERE ({list}) IN ({})",
                table_name(self.dialect(), &schema.name, &table.name),
                tuples.join(", ")
            );
            for mut r in self.store.query(sql, params).await?.rows {
                let stored = r.split_off(key.len().min(r.len()));
                found.insert(format!("{r:?}"), stored);
            }
        }
        Ok(found)
    }

    /// `POST /insert/{instrument}/{table}/by_seq_num/…` and `/obs/{obs_id}`: one row.
    pub async fn insert(
        &self,
        instrument: &str,
        table: &str,
        target: Target,
        mut values: Map<String, Json>,
        update: bool,
        author: &str,
    ) -> Result<Inserted, ConsDbError> {
        let (instrument, schema) = self.catalog.instrument(instrument)?;
        let t = catalog::table(schema, table, true)?;
        let (key, obs_id): (Vec<&str>, Json) = match target {
            Target::BySeqNum {
                day_obs,
                seq_num,
                detector,
            } => {
                values.insert("day_obs".into(), Json::from(day_obs));
                values.insert("seq_num".into(), Json::from(seq_num));
                let mut key = vec!["day_obs", "seq_num"];
                let mut id = vec![Json::from(day_obs), Json::from(seq_num)];
                if let Some(d) = detector {
                    values.insert("detector".into(), Json::from(d));
                    key.push("detector");
                    id.push(Json::from(d));
                }
                self.fill_natural_id(schema, t, &mut values).await?;
                (key, Json::Array(id))
            }
            Target::ObsId(id) => {
                if let Some(column) = catalog::natural_id(t) {
                    values.insert(column.to_string(), Json::from(id));
                }
                let mut rows = vec![(id, values)];
                self.fill_keys(schema, t, &mut rows).await?;
                values = rows.pop().map(|(_, v)| v).unwrap_or_default();
                (t.primary_key_columns(), Json::from(id))
            }
        };
        let row = Self::row_values(t, &values, !update)?;
        let set = RowSet {
            columns: row.iter().map(|(c, _)| c.clone()).collect(),
            rows: vec![row.into_iter().map(|(_, v)| v).collect()],
        };
        let statements = self
            .write_statements(schema, t, &[set], &key, update)
            .await?;
        self.store.write(author, statements).await?;
        self.exposures_changed(instrument, &t.name).await;
        Ok(Inserted {
            instrument: instrument.to_string(),
            obs_id,
            table: format!("{}.{}", schema.name, t.name),
        })
    }

    /// `POST /insert/{instrument}/{table}`: many rows by natural id, all or nothing. The rows
    /// come in batches, each turned into statements and written as it comes in one
    /// transaction, so a large request never holds all its rows, values and statements at
    /// once. An error from `batches` (a row the caller found invalid) rolls everything back
    /// and is returned as it is.
    pub async fn insert_many<B>(
        &self,
        instrument: &str,
        table: &str,
        batches: B,
        update: bool,
        author: &str,
    ) -> Result<Inserted, ConsDbError>
    where
        B: Iterator<Item = Result<BulkBatch, ConsDbError>> + Send,
    {
        use futures_util::StreamExt;
        let (instrument, schema) = self.catalog.instrument(instrument)?;
        catalog::table(schema, table, true)?;
        // What stopped the statements, when it was not the database: returned as it is.
        let stopped: std::sync::Mutex<Option<ConsDbError>> = Default::default();
        let ids: std::sync::Mutex<Vec<Json>> = Default::default();
        let stop = |e: ConsDbError| {
            if let Ok(mut slot) = stopped.lock() {
                *slot = Some(e);
            }
            skyport_store::StoreError::Backend("the rows were refused".into())
        };
        let statements = futures_util::stream::iter(batches)
            .then(|batch| async {
                let rows = batch.map_err(stop)?;
                if let Ok(mut ids) = ids.lock() {
                    ids.extend(rows.iter().map(|(k, _)| Json::from(*k)));
                }
                let (statements, _) = self
                    .bulk_statements(instrument, table, rows, update)
                    .await
                    .map_err(stop)?;
                Ok(statements)
            })
            .boxed();
        let written = self.store.write_batches(author, statements).await;
        if let Some(e) = stopped.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(e);
        }
        written?;
        self.exposures_changed(instrument, table).await;
        Ok(Inserted {
            instrument: instrument.to_string(),
            obs_id: Json::Array(ids.into_inner().unwrap_or_default()),
            table: table.to_string(),
        })
    }

    /// After a write to `table` of `instrument`: when it recorded exposures, the observation
    /// plan learns which planned observations they performed ([`crate::obsplan::reconcile`]).
    /// The write stands either way; a failure here is logged and mended by the next one.
    async fn exposures_changed(&self, instrument: &str, table: &str) {
        if table != "exposure" {
            return;
        }
        let instruments = [instrument.to_string()];
        if let Err(e) =
            crate::obsplan::reconcile(&self.store, &instruments, chrono::Utc::now()).await
        {
            tracing::warn!(instrument, error = %e, "the observation plan was not reconciled");
        }
    }

    /// The statements [`insert_many`](Self::insert_many) runs, for a caller that writes
    /// several tables in one transaction. Rows whose parent keys are given need no parent
    /// row yet (it may be written by an earlier statement of the same transaction).
    pub async fn bulk_statements(
        &self,
        instrument: &str,
        table: &str,
        obs_dict: Vec<(i64, Map<String, Json>)>,
        update: bool,
    ) -> Result<(Vec<Statement>, Inserted), ConsDbError> {
        let (instrument, schema) = self.catalog.instrument(instrument)?;
        let t = catalog::table(schema, table, true)?;
        let ids: Vec<Json> = obs_dict.iter().map(|(k, _)| Json::from(*k)).collect();
        let mut rows = obs_dict;
        if let Some(column) = catalog::natural_id(t) {
            for (key, row) in rows.iter_mut() {
                row.insert(column.to_string(), Json::from(*key));
            }
        }
        self.fill_keys(schema, t, &mut rows).await?;
        // Rows with the same columns share statements.
        let mut sets: Vec<RowSet> = Vec::new();
        for (_, row) in &rows {
            let values = Self::row_values(t, row, !update)?;
            let columns: Vec<String> = values.iter().map(|(c, _)| c.clone()).collect();
            let values: Vec<Value> = values.into_iter().map(|(_, v)| v).collect();
            match sets.iter_mut().find(|s| s.columns == columns) {
                Some(set) => set.rows.push(values),
                None => sets.push(RowSet {
                    columns,
                    rows: vec![values],
                }),
            }
        }
        let key = t.primary_key_columns();
        let statements = self
            .write_statements(schema, t, &sets, &key, update)
            .await?;
        Ok((
            statements,
            Inserted {
                instrument: instrument.to_string(),
                obs_id: Json::Array(ids),
                table: table.to_string(),
            },
        ))
    }

    /// The store this service writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Whether a stored and a given value are the same (numbers compared as numbers).
fn same_value(given: &Value, stored: &Value) -> bool {
    match (given.as_f64(), stored.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => given == stored,
    }
}

/// A value as a message shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => format!("{t:?}"),
    }
}
