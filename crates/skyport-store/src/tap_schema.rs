//! TAP_SCHEMA rows derived from Felis declarations, so that what TAP clients are told can
//! never disagree with the tables.

use skyport_schema::{ConstraintKind, Schema};

use crate::ddl;
use crate::{Dialect, Row, Value};

/// The rows one schema contributes to each TAP_SCHEMA table.
#[derive(Debug, Default, Clone)]
pub struct TapSchemaRows {
    /// Rows for TAP_SCHEMA.schemas.
    pub schemas: Vec<Row>,
    /// Rows for TAP_SCHEMA.tables.
    pub tables: Vec<Row>,
    /// Rows for TAP_SCHEMA.columns.
    pub columns: Vec<Row>,
    /// Rows for TAP_SCHEMA.keys.
    pub keys: Vec<Row>,
    /// Rows for TAP_SCHEMA.key_columns.
    pub key_columns: Vec<Row>,
}

impl TapSchemaRows {
    /// The rows by TAP_SCHEMA table, in the order they may be inserted.
    pub fn by_table(self) -> [(&'static str, Vec<Row>); 5] {
        [
            ("schemas", self.schemas),
            ("tables", self.tables),
            ("columns", self.columns),
            ("keys", self.keys),
            ("key_columns", self.key_columns),
        ]
    }
}

/// The TAP_SCHEMA tables with the order their rows are listed in, both by `/tables` and by
/// an unordered TAP query of one of them: readers such as taplint compare the two listings
/// item by item (a foreign key's column pairs, for instance), and the database's own order
/// of unordered rows is not stable once rows have been deleted and inserted again.
pub const LISTING_ORDER: [(&str, &[&str]); 5] = [
    ("schemas", &["schema_index", "schema_name"]),
    ("tables", &["table_index", "table_name"]),
    ("columns", &["table_name", "column_index", "column_name"]),
    ("keys", &["key_id"]),
    ("key_columns", &["key_id", "from_column"]),
];

/// The columns a TAP_SCHEMA table's rows are listed by (see [`LISTING_ORDER`]).
pub fn listing_order(table: &str) -> &'static [&'static str] {
    LISTING_ORDER
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(table))
        .map_or(&[], |(_, order)| order)
}

/// The query giving a schema's display index: its recorded one, or the next free one. The
/// schema name is parameter 1.
pub fn schema_index_sql(dialect: Dialect) -> String {
    let s = ddl::table_name(dialect, "TAP_SCHEMA", "schemas");
    let p = ddl::placeholder(dialect, 1);
    format!(
        "SELECT CAST(COALESCE((SELECT schema_index FROM {s} WHERE schema_name={p}), \
         (SELECT COALESCE(MAX(schema_index), 0) + 1 FROM {s})) AS BIGINT)"
    )
}

/// The statements removing a schema's TAP_SCHEMA rows (keys first), each taking the schema
/// name as parameter 1.
pub fn delete_sql(dialect: Dialect) -> Vec<String> {
    let t = |name: &str| ddl::table_name(dialect, "TAP_SCHEMA", name);
    let p = ddl::placeholder(dialect, 1);
    let owned_tables = format!(
        "(SELECT table_name FROM {} WHERE schema_name={p})",
        t("tables")
    );
    vec![
        format!(
            "DELETE FROM {} WHERE key_id IN (SELECT key_id FROM {} WHERE from_table IN {owned_tables})",
            t("key_columns"),
            t("keys")
        ),
        format!("DELETE FROM {} WHERE from_table IN {owned_tables}", t("keys")),
        format!("DELETE FROM {} WHERE table_name IN {owned_tables}", t("columns")),
        format!("DELETE FROM {} WHERE schema_name={p}", t("tables")),
        format!("DELETE FROM {} WHERE schema_name={p}", t("schemas")),
    ]
}

/// Free text as declared, only trimmed at the ends (as Rubin's felis writes it).
fn text(s: Option<&str>) -> Value {
    Value::opt_text(s.map(str::trim).filter(|t| !t.is_empty()))
}

/// A column's name as TAP_SCHEMA lists it: a reserved word delimited, as a query must write
/// it (TAP 1.1 §4.3), so that columns and key_columns agree.
fn tap_column_name(name: &str) -> String {
    if skyport_schema::is_reserved(name) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

/// Builds the TAP_SCHEMA rows of one schema. `schema_index` orders schemas for display.
pub fn rows_for(schema: &Schema, schema_index: i64) -> TapSchemaRows {
    let mut out = TapSchemaRows::default();
    let mut r = Row::default();
    r.push("schema_name", Value::Text(schema.name.clone()));
    r.push("utype", Value::Null);
    r.push("description", text(schema.description.as_deref()));
    r.push("schema_index", Value::Int(schema_index));
    out.schemas.push(r);

    for table in &schema.tables {
        if table.columns.is_empty() {
            // Tables made only of columnRefs need their base schema; not published alone.
            continue;
        }
        let qualified = format!("{}.{}", schema.name, table.name);
        let mut r = Row::default();
        r.push("schema_name", Value::Text(schema.name.clone()));
        r.push("table_name", Value::Text(qualified.clone()));
        let kind = if table.view.is_some() {
            "view"
        } else {
            "table"
        };
        r.push("table_type", Value::Text(kind.into()));
        r.push("utype", text(table.utype.as_deref()));
        r.push("description", text(table.description.as_deref()));
        r.push("table_index", Value::opt_int(table.table_index));
        out.tables.push(r);

        let pk = table.primary_key_columns();
        let first_index_columns: Vec<&str> = table
            .indexes
            .iter()
            .filter_map(|i| i.columns.first())
            .filter_map(|r| table.column_by_ref(r).map(|c| c.name.as_str()))
            .collect();
        for (position, column) in table.columns.iter().enumerate() {
            let vo = column.vo_type();
            let indexed = pk.first() == Some(&column.name.as_str())
                || first_index_columns.contains(&column.name.as_str());
            let mut r = Row::default();
            r.push("table_name", Value::Text(qualified.clone()));
            r.push("column_name", Value::Text(tap_column_name(&column.name)));
            r.push("datatype", Value::Text(vo.datatype.to_string()));
            r.push("arraysize", Value::opt_text(vo.arraysize.clone()));
            r.push("xtype", Value::opt_text(vo.xtype.clone()));
            // "size" is the TAP 1.0 integer form of a one-dimensional arraysize (`64*` → 64).
            r.push(
                "size",
                Value::opt_int(
                    vo.arraysize
                        .as_deref()
                        .and_then(|a| a.trim_end_matches('*').parse().ok()),
                ),
            );
            r.push("description", text(column.description.as_deref()));
            r.push("utype", text(column.utype.as_deref()));
            r.push("unit", text(column.unit()));
            r.push("ucd", text(column.ucd.as_deref()));
            r.push("indexed", Value::Int(i64::from(indexed)));
            r.push("principal", Value::Int(i64::from(column.principal)));
            r.push("std", Value::Int(i64::from(column.std)));
            r.push(
                "column_index",
                Value::Int(column.column_index.unwrap_or(position as i64 + 1)),
            );
            out.columns.push(r);
        }

        for constraint in table
            .constraints
            .iter()
            .filter(|c| c.kind == ConstraintKind::ForeignKey)
        {
            let target_table = constraint
                .referenced_columns
                .first()
                .and_then(|r| r.trim_start_matches('#').split('.').next())
                .map(|t| format!("{}.{}", schema.name, t));
            let Some(target_table) = target_table else {
                continue;
            };
            let key_id = format!("{}.{}", schema.name, constraint.name);
            let mut r = Row::default();
            r.push("key_id", Value::Text(key_id.clone()));
            r.push("from_table", Value::Text(qualified.clone()));
            r.push("target_table", Value::Text(target_table));
            r.push("utype", Value::Null);
            r.push("description", text(constraint.description.as_deref()));
            out.keys.push(r);
            let target = constraint
                .referenced_columns
                .first()
                .and_then(|r| r.trim_start_matches('#').split('.').next())
                .and_then(|t| schema.table(t));
            // The columns' names, not the text of their ids (which may differ).
            let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
            let mut pairs: Vec<(String, String)> = constraint
                .columns
                .iter()
                .zip(&constraint.referenced_columns)
                .map(|(from, to)| {
                    let from = table
                        .column_by_ref(from)
                        .map_or_else(|| last(from), |c| c.name.clone());
                    let to = target
                        .and_then(|t| t.column_by_ref(to))
                        .map_or_else(|| last(to), |c| c.name.clone());
                    (from, to)
                })
                .collect();
            // In the order of the table's key (key_id, from_column), so every reader — an
            // unordered TAP query, an index scan, /tables — sees the pairs in one order.
            pairs.sort();
            for (from, to) in pairs {
                let mut r = Row::default();
                r.push("key_id", Value::Text(key_id.clone()));
                r.push("from_column", Value::Text(tap_column_name(&from)));
                r.push("target_column", Value::Text(tap_column_name(&to)));
                out.key_columns.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_schema::builtin_schemas;

    #[test]
    fn obscore_rows_carry_the_felis_metadata() {
        let schemas = builtin_schemas();
        let rows = rows_for(&schemas[2], 2);
        let names: Vec<_> = rows
            .tables
            .iter()
            .filter_map(|t| t.get("table_name"))
            .collect();
        assert_eq!(
            names,
            ["ivoa.ObsCore", "ivoa.obsplan", "ivoa.obsplan_history"]
                .map(|n| Value::Text(n.into()))
                .iter()
                .collect::<Vec<_>>()
        );
        // ObsLocTAP's table names its data model.
        assert_eq!(
            rows.tables[1].get("utype"),
            Some(&Value::Text(
                "ivo://ivoa.net/std/obsloctap#table-1.0".into()
            ))
        );
        assert_eq!(rows.tables[0].get("utype"), Some(&Value::Null));
        let s_ra = rows
            .columns
            .iter()
            .find(|r| {
                r.get("column_name") == Some(&Value::Text("s_ra".into()))
                    && r.get("table_name") == Some(&Value::Text("ivoa.ObsCore".into()))
            })
            .expect("s_ra");
        assert_eq!(s_ra.get("unit"), Some(&Value::Text("deg".into())));
        assert_eq!(s_ra.get("ucd"), Some(&Value::Text("pos.eq.ra".into())));
        assert_eq!(s_ra.get("datatype"), Some(&Value::Text("double".into())));
        assert_eq!(s_ra.get("std"), Some(&Value::Int(1)));
        let did = rows
            .columns
            .iter()
            .find(|r| r.get("column_name") == Some(&Value::Text("obs_publisher_did".into())))
            .expect("did");
        assert_eq!(
            did.get("indexed"),
            Some(&Value::Int(1)),
            "primary key is indexed"
        );
    }

    #[test]
    fn foreign_keys_become_keys_rows() {
        let schemas = builtin_schemas();
        let rows = rows_for(&schemas[1], 1);
        assert_eq!(rows.keys.len(), 1);
        assert_eq!(
            rows.keys[0].get("target_table"),
            Some(&Value::Text("skyport.image_file".into()))
        );
        assert_eq!(
            rows.key_columns[0].get("from_column"),
            Some(&Value::Text("obs_publisher_did".into()))
        );
    }
}
