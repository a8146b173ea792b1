//! Whole observations (`GET /consdb/query/{instrument}/{obs_type}/obs/{obs_id}`): the row of
//! `exposure`, `visit1`, `ccdexposure` or `ccdvisit1` with the rows of its companion tables
//! (quicklook, camera) — what pqserver's dropped "wide views" joined — and, on request, its
//! flexible metadata. Current state, or the state as of a past time read from the history
//! tables.

use serde_json::{Map, Value as Json};
use skyport_schema::history::{as_of_condition, SUFFIX};
use skyport_schema::{Schema, Table};
use skyport_store::ddl::{quote_ident, table_name};
use skyport_store::Value;

use crate::catalog::{self, Catalog};
use crate::convert::to_json;
use crate::error::ConsDbError;
use crate::service::ConsDb;

/// The companion tables of each observation type, joined on its natural id.
fn companions(obs_type: &str) -> &'static [&'static str] {
    match obs_type {
        "exposure" => &["exposure_quicklook"],
        "visit1" => &["visit1_quicklook"],
        "ccdexposure" => &["ccdexposure_camera", "ccdexposure_quicklook"],
        "ccdvisit1" => &["ccdvisit1_quicklook"],
        _ => &[],
    }
}

impl ConsDb {
    /// The columns of `table` with their values for the row whose `id_column` is `id`, now or
    /// as of `as_of`; `None` when there is no such row. Views read from their base table.
    async fn read_row(
        &self,
        schema: &Schema,
        table: &Table,
        id_column: &str,
        id: i64,
        as_of: Option<&str>,
    ) -> Result<Option<Map<String, Json>>, ConsDbError> {
        let d = self.dialect();
        let (source, renamed): (&Table, Vec<(String, String)>) = match &table.view {
            Some(view) => match schema.table(&view.base) {
                Some(base) => (base, view.renamed.clone()),
                None => return Ok(None),
            },
            None => (table, Vec::new()),
        };
        let base_name = |column: &str| -> Option<String> {
            renamed
                .iter()
                .find(|(to, _)| to == column)
                .map(|(_, from)| from.clone())
                .or_else(|| source.column(column).map(|c| c.name.clone()))
        };
        let selected: Vec<(String, String)> = table
            .columns
            .iter()
            .filter_map(|c| base_name(&c.name).map(|b| (c.name.clone(), b)))
            .collect();
        let Some(id_source) = base_name(id_column) else {
            return Ok(None);
        };
        let list = selected
            .iter()
            .map(|(_, b)| quote_ident(b))
            .collect::<Vec<_>>()
            .join(", ");
        let mut params = vec![Value::Int(id)];
        let sql = match as_of {
            None => format!(
                "SELECT {list} FROM {} WHERE {} = {}",
                table_name(d, &schema.name, &source.name),
                quote_ident(&id_source),
                self.p(1)
            ),
            Some(t) => {
                params.push(Value::Text(t.to_string()));
                format!(
                    "SELECT {list} FROM {} WHERE {} = {} AND {}",
                    table_name(d, &schema.name, &format!("{}{SUFFIX}", source.name)),
                    quote_ident(&id_source),
                    self.p(1),
                    as_of_condition(&self.p(2))
                )
            }
        };
        let rows = self.store.query(sql, params).await?;
        Ok(rows.rows.first().map(|r| {
            selected
                .iter()
                .zip(r)
                .map(|((name, _), v)| (name.clone(), to_json(table.column(name), v)))
                .collect()
        }))
    }

    /// One observation with its companion rows (and flexible metadata when `flex`), now or
    /// as of `as_of` (ISO 8601 UTC). `NotFound` when it does not exist (at that time).
    pub async fn observation(
        &self,
        instrument: &str,
        obs_type: &str,
        obs_id: i64,
        flex: bool,
        as_of: Option<&str>,
    ) -> Result<Map<String, Json>, ConsDbError> {
        let (instrument, schema) = self.catalog.instrument(instrument)?;
        let obs_type = Catalog::obs_type(obs_type)?;
        let Some(table) = schema.table(obs_type) else {
            let valid = catalog::OBS_TYPES
                .iter()
                .filter(|t| schema.table(t).is_some())
                .map(|t| t.to_string())
                .collect();
            return Err(ConsDbError::bad_value("observation type", obs_type, valid));
        };
        let id_column = catalog::natural_id(table).unwrap_or("obs_id");
        let not_found = || ConsDbError::NotFound(format!("Observation {obs_id} not found."));
        let mut out = self
            .read_row(schema, table, id_column, obs_id, as_of)
            .await?
            .ok_or_else(not_found)?;
        for companion in companions(obs_type) {
            let Some(t) = schema.table(companion) else {
                continue;
            };
            let Some(column) = catalog::natural_id(t) else {
                continue;
            };
            if let Some(row) = self.read_row(schema, t, column, obs_id, as_of).await? {
                for (k, v) in row {
                    out.entry(k).or_insert(v);
                }
            }
        }
        if flex && crate::catalog::FLEX_OBS_TYPES.contains(&obs_type) {
            let values = self
                .flex_values(instrument, obs_type, obs_id, None, as_of)
                .await?;
            out.extend(values);
        }
        Ok(out)
    }
}
