//! Exports for pipelines: any ConsDB table or view, optionally filtered by an ADQL condition
//! and read as of a past time, as the ADQL query the TAP engine runs (streaming, in any of its
//! formats — Parquet carries the columns' units, UCDs and descriptions in its VOTable header);
//! and campaign lists, the natural ids (exposure_id, visit_id…) of the rows that qualify.

use skyport_schema::history::{DELETED, RECORDED_AT, SUFFIX, SUPERSEDED_AT};

use crate::catalog;
use crate::error::ConsDbError;
use crate::service::ConsDb;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportSpec {
    /// Instrument.
    pub instrument: String,
    /// Table or view, bare or qualified.
    pub table: String,
    /// An ADQL condition on the table's columns.
    pub condition: Option<String>,
    /// Read the state as of this time (ISO 8601 UTC).
    pub as_of: Option<String>,
    /// Columns to export (default: all of the table's).
    pub columns: Vec<String>,
    /// Export only the natural id of each row (a campaign list).
    pub ids_only: bool,
}

/// The columns of a comma-separated list (`a, b,c`), blanks and empty entries dropped.
pub fn column_list(text: Option<&str>) -> Vec<String> {
    text.map(|c| {
        c.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn quoted(name: &str) -> String {
    if skyport_schema::is_reserved(name)
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_string()
    }
}

impl ConsDb {
    /// The ADQL query of an export.
    pub fn export_query(&self, spec: &ExportSpec) -> Result<String, ConsDbError> {
        let (_, schema) = self.catalog.instrument(&spec.instrument)?;
        let table = catalog::table(schema, &spec.table, false)?;
        let wanted: Vec<String> = if spec.ids_only {
            vec![catalog::natural_id(table)
                .ok_or_else(|| {
                    ConsDbError::invalid(
                        &["query", "ids"],
                        format!(
                            "{} has no natural id column for a campaign list",
                            table.name
                        ),
                    )
                })?
                .to_string()]
        } else if spec.columns.is_empty() {
            table.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            for c in &spec.columns {
                if table.column(c).is_none() {
                    return Err(ConsDbError::bad_value(
                        "column",
                        c.clone(),
                        table.columns.iter().map(|c| c.name.clone()).collect(),
                    ));
                }
            }
            spec.columns.clone()
        };
        let mut conditions = Vec::new();
        if let Some(c) = spec.condition.as_deref().filter(|c| !c.trim().is_empty()) {
            conditions.push(format!("({c})"));
        }
        let from = match &spec.as_of {
            None => format!("{}.{}", schema.name, table.name),
            Some(t) => {
                // The table as it was: its history's versions valid at t (a view reads its base
                // table's history, renamed columns under their view names), so the condition
                // sees the table's own columns.
                let (source, renamed) = match &table.view {
                    Some(view) => (view.base.clone(), view.renamed.clone()),
                    None => (table.name.clone(), Vec::new()),
                };
                let base = schema.table(&source);
                let columns: Vec<String> = table
                    .columns
                    .iter()
                    .filter_map(|c| match renamed.iter().find(|(to, _)| *to == c.name) {
                        Some((to, from)) => Some(format!("{} AS {}", quoted(from), quoted(to))),
                        None => base
                            .and_then(|b| b.column(&c.name))
                            .map(|_| quoted(&c.name)),
                    })
                    .collect();
                let t = t.replace('\'', "''");
                format!(
                    "(SELECT {} FROM {}.{source}{SUFFIX} WHERE {RECORDED_AT} <= '{t}' AND ({SUPERSEDED_AT} IS NULL OR {SUPERSEDED_AT} > '{t}') AND {DELETED} = 0) AS as_of",
                    columns.join(", "),
                    schema.name
                )
            }
        };
        let select: Vec<String> = wanted.iter().map(|c| quoted(c)).collect();
        let mut adql = format!("SELECT {} FROM {from}", select.join(", "));
        if !conditions.is_empty() {
            adql.push_str(" WHERE ");
            adql.push_str(&conditions.join(" AND "));
        }
        Ok(adql)
    }
}
