//! The backend-independent decisions of a migration: whether the recorded version may be
//! migrated from, and which declared columns an existing table lacks (refusing a NOT NULL column
//! without a default, which existing rows could not fill). Each backend runs the SQL.

use skyport_schema::{Column, Schema, Table};

use crate::{MigrationStep, StoreError};

/// The step that migrating `schema` from the `recorded` version starts as; an error when the
/// database holds a newer version than this program knows.
pub fn start(schema: &Schema, recorded: Option<String>) -> Result<MigrationStep, StoreError> {
    let ours = schema.version_string().to_string();
    if let Some(found) = &recorded {
        if crate::version_cmp(found, &ours).is_gt() {
            return Err(StoreError::NewerSchema {
                schema: schema.name.clone(),
                found: found.clone(),
                ours,
            });
        }
    }
    Ok(MigrationStep {
        schema: schema.name.clone(),
        from_version: recorded,
        to_version: ours,
        created_tables: Vec::new(),
        added_columns: Vec::new(),
    })
}

/// The declared columns of `table` missing from `have` (the names the database lists).
pub fn missing_columns<'a>(
    physical: &str,
    table: &'a Table,
    have: &[String],
) -> Result<Vec<&'a Column>, StoreError> {
    let mut missing = Vec::new();
    for column in &table.columns {
        if have.iter().any(|h| h.eq_ignore_ascii_case(&column.name)) {
            continue;
        }
        if !column.nullable && column.value.is_none() {
            return Err(StoreError::Migration {
                table: physical.to_string(),
                reason: format!(
                    "new column {} is NOT NULL without a default: existing rows would have no value",
                    column.name
                ),
            });
        }
        missing.push(column);
    }
    Ok(missing)
}

/// The tables of `schema` that are stored (declared with columns, not views).
pub fn stored_tables(schema: &Schema) -> impl Iterator<Item = &Table> {
    schema
        .tables
        .iter()
        .filter(|t| !t.columns.is_empty() && t.view.is_none())
}

/// The schema's views with their base tables.
pub fn views(schema: &Schema) -> Result<Vec<(&Table, &Table)>, StoreError> {
    schema
        .tables
        .iter()
        .filter_map(|t| t.view.as_ref().map(|v| (t, v)))
        .map(|(t, v)| {
            schema
                .table(&v.base)
                .map(|base| (t, base))
                .ok_or_else(|| StoreError::Migration {
                    table: format!("{}.{}", schema.name, t.name),
                    reason: format!("view of {}, which the schema does not declare", v.base),
                })
        })
        .collect()
}

/// Checks that every row of a bulk write has one value per column.
pub fn check_widths(columns: &[String], rows: &[Vec<crate::Value>]) -> Result<(), StoreError> {
    match rows.iter().position(|r| r.len() != columns.len()) {
        Some(n) => Err(StoreError::Backend(format!(
            "row {} has {} values for {} columns",
            n + 1,
            rows[n].len(),
            columns.len()
        ))),
        None => Ok(()),
    }
}
