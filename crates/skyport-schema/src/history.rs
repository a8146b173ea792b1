//! Version history of a table (transaction time): a companion table `<table>_history` holds
//! every version a row of `<table>` has had. Each version carries the time it was recorded,
//! the time a later write superseded it (NULL while current), who wrote it, and whether it is
//! a deletion (a tombstone). The table itself holds the current state and reads as usual; the
//! state "as of" time T is the versions recorded at or before T and not superseded by T.
//!
//! The store keeps the history table up to date with triggers on the table, so every write
//! path — the REST API, header ingest, a maintenance session in `psql` — leaves its trace.

use crate::{Column, Datatype, Index, Table};

/// Suffix of a history table's name.
pub const SUFFIX: &str = "_history";
/// The version number of a row: 1 for its first version, counting up per key.
pub const VERSION: &str = "version";
/// When the version was written.
pub const RECORDED_AT: &str = "recorded_at";
/// When a later write replaced or deleted it; NULL while current.
pub const SUPERSEDED_AT: &str = "superseded_at";
/// Who wrote it.
pub const RECORDED_BY: &str = "recorded_by";
/// True for a tombstone: the row was deleted at `recorded_at`.
pub const DELETED: &str = "deleted";

fn bookkeeping(name: &str, datatype: Datatype, nullable: bool, description: &str) -> Column {
    Column {
        name: name.to_string(),
        id: None,
        datatype,
        length: None,
        nullable,
        description: Some(description.to_string()),
        ucd: None,
        unit: None,
        fits_unit: None,
        utype: None,
        xtype: None,
        arraysize: None,
        principal: true,
        std: false,
        column_index: None,
        value: None,
        precision: None,
        autoincrement: None,
    }
}

/// The history table of `base`: its columns (nullable, since a tombstone need not carry
/// values), then the version bookkeeping. Keyed by the base table's primary key and the
/// version, so replication can address each version; `None` when `base` has no primary key
/// (its rows could not be told apart across versions).
pub fn history_table(base: &Table) -> Option<Table> {
    let key: Vec<String> = base
        .primary_key_columns()
        .iter()
        .map(|c| c.to_string())
        .collect();
    if key.is_empty() || base.view.is_some() {
        return None;
    }
    let name = format!("{}{SUFFIX}", base.name);
    let mut columns: Vec<Column> = base
        .columns
        .iter()
        .map(|c| Column {
            id: None,
            nullable: c.nullable || !key.contains(&c.name),
            value: None,
            autoincrement: None,
            column_index: c.column_index,
            ..c.clone()
        })
        .collect();
    columns.push(bookkeeping(
        VERSION,
        Datatype::Int,
        false,
        "Version of the row: 1 for its first, counting up with every write to the same key.",
    ));
    columns.push(bookkeeping(
        RECORDED_AT,
        Datatype::Timestamp,
        false,
        "When this version was written (UTC).",
    ));
    columns.push(bookkeeping(
        SUPERSEDED_AT,
        Datatype::Timestamp,
        true,
        "When a later write replaced or deleted this version (UTC); NULL while it is current.",
    ));
    columns.push(bookkeeping(
        RECORDED_BY,
        Datatype::String,
        true,
        "Who wrote this version.",
    ));
    columns.push(bookkeeping(
        DELETED,
        Datatype::Boolean,
        false,
        "True when this version records the deletion of the row (a tombstone).",
    ));
    // The open version of a key is found by key and superseded_at: the primary key's leading
    // columns serve that lookup, so no further index is needed.
    let mut primary_key = key;
    primary_key.push(VERSION.to_string());
    Some(Table {
        name: name.clone(),
        id: None,
        description: Some(format!(
            "Every version of the rows of {}: what each row held from recorded_at until \
             superseded_at, and who wrote it. Rows as of time T: recorded_at <= T and \
             (superseded_at IS NULL OR superseded_at > T) and not deleted.",
            base.name
        )),
        table_index: base.table_index.map(|i| i + 1000),
        utype: None,
        primary_key,
        constraints: Vec::new(),
        indexes: vec![Index {
            name: format!("{name}_{RECORDED_AT}"),
            id: None,
            description: None,
            columns: vec![RECORDED_AT.to_string()],
        }],
        columns,
        column_refs: Default::default(),
        view: None,
        history_of: Some(base.name.clone()),
    })
}

/// SQL condition (no leading WHERE) selecting the versions of a history table valid at the
/// time bound to `placeholder`, excluding tombstones.
pub fn as_of_condition(placeholder: &str) -> String {
    format!(
        "\"{RECORDED_AT}\" <= {placeholder} AND (\"{SUPERSEDED_AT}\" IS NULL OR \"{SUPERSEDED_AT}\" > {placeholder}) AND NOT \"{DELETED}\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schema;

    #[test]
    fn history_keeps_the_key_and_adds_bookkeeping() {
        let schema = Schema::from_yaml(
            "name: s\ntables:\n- name: t\n  primaryKey: ['#t.a', '#t.b']\n  columns:\n  - {name: a, '@id': '#t.a', datatype: int, nullable: false}\n  - {name: b, '@id': '#t.b', datatype: int, nullable: false}\n  - {name: c, '@id': '#t.c', datatype: double, nullable: false}\n",
            "test",
        )
        .expect("parse");
        let base = schema.table("t").expect("t");
        let history = history_table(base).expect("has a key");
        assert_eq!(history.name, "t_history");
        assert_eq!(history.history_of.as_deref(), Some("t"));
        assert_eq!(history.primary_key_columns(), ["a", "b", "version"]);
        let c = history.column("c").expect("c");
        assert!(c.nullable, "a tombstone need not carry values");
        assert!(!history.column("a").expect("a").nullable);
        assert!(history.column(DELETED).is_some());
    }
}
