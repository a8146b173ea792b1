//! Schemas, tables, columns, keys and indexes as Felis declares them.

use std::collections::{BTreeMap, HashSet};

use serde::de::IgnoredAny;

use serde::Deserialize;

use crate::{Datatype, SchemaError, VoType};

/// A Felis schema: a named set of tables.
#[derive(Debug, Clone, Deserialize)]
pub struct Schema {
    /// Schema name (`ivoa`, `cdb_lsstcam`…).
    pub name: String,
    /// Felis object id (`#ivoa_obscore`).
    #[serde(rename = "@id", default)]
    pub id: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Schema version, if declared.
    #[serde(default)]
    pub version: Option<SchemaVersion>,
    /// The tables, in declaration order.
    #[serde(default)]
    pub tables: Vec<Table>,
}

/// A Felis version: either a plain string or `{current: …, compatible: […]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SchemaVersion {
    /// `version: "1.2.0"`
    Plain(String),
    /// `version: {current: "1.2.0", …}`
    Detailed {
        /// The current version.
        current: String,
        /// Versions this one is compatible with.
        #[serde(default)]
        compatible: Vec<String>,
    },
}

impl SchemaVersion {
    /// The current version string.
    pub fn current(&self) -> &str {
        match self {
            SchemaVersion::Plain(v) => v,
            SchemaVersion::Detailed { current, .. } => current,
        }
    }
}

/// A table of a schema.
#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    /// Table name, unqualified (`ObsCore`).
    pub name: String,
    /// Felis object id (`#ObsCore`).
    #[serde(rename = "@id", default)]
    pub id: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Ordering hint for TAP_SCHEMA.tables.table_index.
    #[serde(rename = "tap:table_index", default)]
    pub table_index: Option<i64>,
    /// The data model the table realises (TAP_SCHEMA.tables.utype), such as ObsLocTAP's
    /// `ivo://ivoa.net/std/obsloctap#table-1.0`.
    #[serde(rename = "votable:utype", default)]
    pub utype: Option<String>,
    /// Primary key column ids (a single id or a list in the YAML).
    #[serde(rename = "primaryKey", default, deserialize_with = "one_or_many")]
    pub primary_key: Vec<String>,
    /// Unique, foreign-key and check constraints.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Secondary indexes.
    #[serde(default)]
    pub indexes: Vec<Index>,
    /// The columns, in declaration order.
    #[serde(default)]
    pub columns: Vec<Column>,
    /// Columns borrowed from tables of other schemas (`columnRefs: {schema: {table: {column:
    /// overrides}}}`), newer Felis. Recorded by name; resolving them needs the other schema.
    #[serde(rename = "columnRefs", default)]
    pub column_refs: BTreeMap<String, BTreeMap<String, BTreeMap<String, IgnoredAny>>>,
    /// When set, the table is a view over another table of its schema. Felis has no word for
    /// this; the program loading a schema sets it (ConsDB's `visit1` is `exposure`).
    #[serde(skip)]
    pub view: Option<View>,
    /// When set, the table keeps every version of the named table of its schema (see
    /// [`crate::history`]); the store fills it from that table's writes.
    #[serde(skip)]
    pub history_of: Option<String>,
}

/// How a declared table is computed from another table of the same schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The table it reads.
    pub base: String,
    /// View columns read from a base column of another name: (view column, base column). A
    /// view column neither renamed nor in the base table reads as NULL.
    pub renamed: Vec<(String, String)>,
    /// When set, the view has one row per group of base rows, its columns aggregates.
    pub aggregate: Option<Aggregate>,
}

/// How an aggregating view summarises groups of base rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The base columns whose values form a group, each with a base column whose value (as
    /// text) stands in where it is NULL (so rows without a group are groups of their own).
    pub group_by: Vec<(String, Option<String>)>,
    /// (view column, function, base column) for every view column.
    pub columns: Vec<(String, AggregateFn, String)>,
}

/// An aggregate function of an aggregating view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    /// The group's value (a grouping column).
    Group,
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// Sum.
    Sum,
    /// Mean.
    Avg,
    /// Number of rows.
    Count,
    /// The union of the rows' STC-S regions (`Union ICRS (r1 r2 …)`; a single region as it is).
    RegionUnion,
}

/// A column of a table.
#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Felis object id (`#ObsCore.s_ra`).
    #[serde(rename = "@id", default)]
    pub id: Option<String>,
    /// Felis datatype.
    pub datatype: Datatype,
    /// Maximum (or, for `char`, exact) length of a string column.
    #[serde(default)]
    pub length: Option<u32>,
    /// Whether NULL is allowed (Felis default: yes).
    #[serde(default = "yes")]
    pub nullable: bool,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// UCD1+ word list.
    #[serde(rename = "ivoa:ucd", default)]
    pub ucd: Option<String>,
    /// VOUnit.
    #[serde(rename = "ivoa:unit", default)]
    pub unit: Option<String>,
    /// FITS unit, used when no `ivoa:unit` is given.
    #[serde(rename = "fits:tunit", default)]
    pub fits_unit: Option<String>,
    /// Utype.
    #[serde(rename = "votable:utype", default)]
    pub utype: Option<String>,
    /// Explicit VOTable xtype.
    #[serde(rename = "votable:xtype", default)]
    pub xtype: Option<String>,
    /// Explicit VOTable arraysize.
    #[serde(
        rename = "votable:arraysize",
        default,
        deserialize_with = "opt_scalar_string"
    )]
    pub arraysize: Option<String>,
    /// TAP principal flag.
    #[serde(rename = "tap:principal", default, deserialize_with = "flag")]
    pub principal: bool,
    /// TAP std flag (the column is defined by a standard).
    #[serde(rename = "tap:std", default, deserialize_with = "flag")]
    pub std: bool,
    /// Ordering hint for TAP_SCHEMA.columns.column_index.
    #[serde(rename = "tap:column_index", default)]
    pub column_index: Option<i64>,
    /// Default value.
    #[serde(default)]
    pub value: Option<DefaultValue>,
    /// Fractional-second precision of timestamps.
    #[serde(default)]
    pub precision: Option<u32>,
    /// Whether the database assigns the value.
    #[serde(default)]
    pub autoincrement: Option<bool>,
}

/// A column default value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DefaultValue {
    /// A boolean default.
    Bool(bool),
    /// An integer default.
    Int(i64),
    /// A floating-point default.
    Float(f64),
    /// A string default (also used for SQL expressions such as `CURRENT_TIMESTAMP`).
    Text(String),
}

/// The kinds of table constraint Felis knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ConstraintKind {
    /// The columns are unique together.
    Unique,
    /// The columns reference columns of another table.
    ForeignKey,
    /// A boolean SQL expression must hold.
    Check,
}

/// A table constraint.
#[derive(Debug, Clone, Deserialize)]
pub struct Constraint {
    /// Constraint name.
    pub name: String,
    /// Felis object id.
    #[serde(rename = "@id", default)]
    pub id: Option<String>,
    /// Which kind of constraint.
    #[serde(rename = "@type")]
    pub kind: ConstraintKind,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Column ids constrained (unique, foreign key).
    #[serde(default, deserialize_with = "one_or_many")]
    pub columns: Vec<String>,
    /// Referenced column ids (foreign key).
    #[serde(
        rename = "referencedColumns",
        default,
        deserialize_with = "one_or_many"
    )]
    pub referenced_columns: Vec<String>,
    /// SQL expression (check).
    #[serde(default)]
    pub expression: Option<String>,
}

/// A secondary index.
#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Felis object id.
    #[serde(rename = "@id", default)]
    pub id: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Column ids indexed, in order.
    #[serde(default, deserialize_with = "one_or_many")]
    pub columns: Vec<String>,
}

fn yes() -> bool {
    true
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// Felis writes TAP flags as 0/1; some files write true/false.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        None => false,
        Some(Flag::Bool(b)) => b,
        Some(Flag::Int(i)) => i != 0,
    })
}

/// `votable:arraysize` may be written as a number (`2`) or a string (`"*"`).
fn opt_scalar_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Int(i64),
        Text(String),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| match s {
        Scalar::Int(i) => i.to_string(),
        Scalar::Text(t) => t,
    }))
}

impl Schema {
    /// Parses and validates one Felis YAML document. `source_name` labels errors.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Schema, SchemaError> {
        let schema: Schema = serde_saphyr::from_str(text).map_err(|e| SchemaError::Parse {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        schema.validate().map_err(|message| SchemaError::Invalid {
            source_name: source_name.to_string(),
            message,
        })?;
        Ok(schema)
    }

    /// The declared version, or `"0"` when the schema has none.
    pub fn version_string(&self) -> &str {
        self.version.as_ref().map_or("0", SchemaVersion::current)
    }

    /// Finds a table by name, case-insensitively (ADQL regular identifiers are case-insensitive).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("schema has an empty name".into());
        }
        let mut table_names = HashSet::new();
        for table in &self.tables {
            if !table_names.insert(table.name.to_ascii_lowercase()) {
                return Err(format!("table {} is declared twice", table.name));
            }
            table.validate()?;
        }
        Ok(())
    }
}

impl Table {
    /// Finds a column by name, case-insensitively.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Resolves a Felis column reference (`#table.column`) to a column of this table.
    pub fn column_by_ref(&self, reference: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.id.as_deref() == Some(reference))
            .or_else(|| {
                // Some schemas omit column ids; fall back on the name part of the reference.
                let name = reference.rsplit('.').next().unwrap_or(reference);
                self.column(name.trim_start_matches('#'))
            })
    }

    /// Names of the columns borrowed through `columnRefs`, as (schema, table, column).
    pub fn referenced_columns(&self) -> Vec<(&str, &str, &str)> {
        self.column_refs
            .iter()
            .flat_map(|(schema, tables)| {
                tables.iter().flat_map(move |(table, cols)| {
                    cols.keys()
                        .map(move |c| (schema.as_str(), table.as_str(), c.as_str()))
                })
            })
            .collect()
    }

    /// Names of the primary-key columns.
    pub fn primary_key_columns(&self) -> Vec<&str> {
        self.primary_key
            .iter()
            .filter_map(|r| self.column_by_ref(r).map(|c| c.name.as_str()))
            .collect()
    }

    /// True when `reference` (`#table.column`) names a column of this table, declared here or
    /// borrowed through `columnRefs`.
    fn knows(&self, reference: &str) -> bool {
        let name = reference
            .rsplit('.')
            .next()
            .unwrap_or(reference)
            .trim_start_matches('#');
        self.column_by_ref(reference).is_some()
            || self
                .referenced_columns()
                .iter()
                .any(|(_, _, c)| c.eq_ignore_ascii_case(name))
    }

    fn validate(&self) -> Result<(), String> {
        if self.columns.is_empty() && self.column_refs.is_empty() {
            return Err(format!("table {} has no columns", self.name));
        }
        let mut names = HashSet::new();
        for column in &self.columns {
            if !names.insert(column.name.to_ascii_lowercase()) {
                return Err(format!(
                    "table {}: column {} is declared twice",
                    self.name, column.name
                ));
            }
        }
        for reference in &self.primary_key {
            if !self.knows(reference) {
                return Err(format!(
                    "table {}: primary key names unknown column {reference}",
                    self.name
                ));
            }
        }
        for index in &self.indexes {
            for reference in &index.columns {
                if !self.knows(reference) {
                    return Err(format!(
                        "table {}: index {} names unknown column {reference}",
                        self.name, index.name
                    ));
                }
            }
        }
        for constraint in &self.constraints {
            if constraint.kind == ConstraintKind::Unique {
                for reference in &constraint.columns {
                    if !self.knows(reference) {
                        return Err(format!(
                            "table {}: constraint {} names unknown column {reference}",
                            self.name, constraint.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Column {
    /// The VOTable type of this column, honouring explicit `votable:` annotations.
    pub fn vo_type(&self) -> VoType {
        let mut t = self.datatype.vo_type(self.length);
        if let Some(a) = &self.arraysize {
            t.arraysize = Some(a.clone());
        }
        if let Some(x) = &self.xtype {
            t.xtype = Some(x.clone());
        }
        t
    }

    /// What clients see of the column (VOTable type, unit, UCD, utype, description).
    pub fn meta(&self) -> crate::ColumnMeta {
        let vo = self.vo_type();
        crate::ColumnMeta {
            datatype: vo.datatype.to_string(),
            arraysize: vo.arraysize,
            xtype: vo.xtype,
            unit: self.unit().map(str::to_string),
            ucd: self.ucd.clone(),
            utype: self.utype.clone(),
            description: self.description.clone(),
        }
    }

    /// The unit: `ivoa:unit`, else `fits:tunit`; empty strings count as none.
    pub fn unit(&self) -> Option<&str> {
        self.unit
            .as_deref()
            .or(self.fits_unit.as_deref())
            .filter(|u| !u.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r##"
name: demo
"@id": "#demo"
version:
  current: "1.2.0"
tables:
- name: things
  "@id": "#things"
  primaryKey: "#things.id"
  indexes:
  - name: idx_things_ra
    "@id": "#things.idx_ra"
    columns: ["#things.ra"]
  columns:
  - name: id
    "@id": "#things.id"
    datatype: long
    nullable: false
  - name: ra
    "@id": "#things.ra"
    datatype: double
    ivoa:unit: deg
    ivoa:ucd: pos.eq.ra
    tap:principal: 1
  - name: label
    "@id": "#things.label"
    datatype: string
    length: 32
    ivoa:unit:
"##;

    #[test]
    fn parses_a_small_schema() {
        let s = Schema::from_yaml(SMALL, "small").expect("valid");
        assert_eq!(s.version_string(), "1.2.0");
        let t = s.table("THINGS").expect("case-insensitive lookup");
        assert_eq!(t.primary_key_columns(), vec!["id"]);
        let ra = t.column("ra").expect("ra");
        assert!(ra.principal && !ra.std);
        assert_eq!(ra.unit(), Some("deg"));
        assert_eq!(t.column("label").and_then(Column::unit), None);
        assert!(!t.column("id").expect("id").nullable);
        assert!(t.column("ra").expect("ra").nullable);
    }

    #[test]
    fn dangling_index_reference_is_an_error_naming_the_table() {
        let bad = SMALL.replace("\"#things.ra\"]", "\"#things.nope\"]");
        let err = Schema::from_yaml(&bad, "bad.yaml").expect_err("invalid");
        let msg = err.to_string();
        assert!(
            msg.contains("bad.yaml") && msg.contains("things") && msg.contains("nope"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_columns_are_rejected() {
        let bad = SMALL.replace("name: label", "name: RA");
        assert!(Schema::from_yaml(&bad, "dup").is_err());
    }

    #[test]
    fn unknown_datatype_is_a_parse_error() {
        let bad = SMALL.replace("datatype: double", "datatype: quaternion");
        let err = Schema::from_yaml(&bad, "t").expect_err("bad type");
        assert!(matches!(err, SchemaError::Parse { .. }));
    }
}
