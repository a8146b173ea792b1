//! VOSI tables (`/tap/tables`, `/tap/tables/{name}`), written from the TAP_SCHEMA rows in the
//! store, so the document and TAP_SCHEMA can never disagree.

use skyport_schema::ColumnMeta;
use skyport_store::{ddl, Rows, Store, StoreError, Value};
use skyport_votable::escape_xml;

const TABLESET_NS: &str = "xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

/// How much to describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Tables without columns or keys.
    Min,
    /// Everything.
    Max,
}

/// A TAP_SCHEMA.columns row: the column's metadata and its TAP flags.
struct Column {
    table: String,
    name: String,
    meta: ColumnMeta,
    indexed: bool,
    principal: bool,
    std: bool,
}

struct Key {
    id: String,
    from: String,
    target: String,
    description: Option<String>,
    utype: Option<String>,
    columns: Vec<(String, String)>,
}

struct SchemaRow {
    name: String,
    description: Option<String>,
    utype: Option<String>,
}

struct TableRow {
    schema: String,
    name: String,
    kind: String,
    description: Option<String>,
    utype: Option<String>,
}

/// The TAP_SCHEMA content needed for the documents.
pub struct TableSet {
    /// The schemas of users' tables.
    user_schemas: std::collections::BTreeSet<String>,
    schemas: Vec<SchemaRow>,
    tables: Vec<TableRow>,
    columns: Vec<Column>,
    keys: Vec<Key>,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Text(t)) if !t.is_empty() => Some(t.clone()),
        Some(Value::Int(i)) => Some(i.to_string()),
        _ => None,
    }
}

fn flag(v: Option<&Value>) -> bool {
    v.and_then(Value::as_i64).unwrap_or(0) != 0
}

/// A TAP_SCHEMA table's rows in its listing order, the order a TAP query of it gives too.
async fn rows(store: &dyn Store, table: &str, columns: &str) -> Result<Rows, StoreError> {
    let name = ddl::table_name(store.dialect(), "TAP_SCHEMA", table);
    let order = skyport_store::tap_schema::listing_order(table).join(", ");
    store
        .query(
            format!("SELECT {columns} FROM {name} ORDER BY {order}"),
            Vec::new(),
        )
        .await
}

impl TableSet {
    /// Reads TAP_SCHEMA.
    pub async fn load(store: &dyn Store) -> Result<TableSet, StoreError> {
        let s = rows(store, "schemas", "schema_name, description, utype").await?;
        let t = rows(
            store,
            "tables",
            "schema_name, table_name, table_type, description, utype",
        )
        .await?;
        let c = rows(
            store,
            "columns",
            "table_name, column_name, datatype, arraysize, xtype, description, unit, ucd, utype, indexed, principal, std",
        )
        .await?;
        let k = rows(
            store,
            "keys",
            "key_id, from_table, target_table, description, utype",
        )
        .await?;
        let kc = rows(store, "key_columns", "key_id, from_column, target_column").await?;
        let get = |r: &Vec<Value>, i: usize| text(r.get(i));
        let mut keys: Vec<Key> = k
            .rows
            .iter()
            .map(|r| Key {
                id: get(r, 0).unwrap_or_default(),
                from: get(r, 1).unwrap_or_default(),
                target: get(r, 2).unwrap_or_default(),
                description: get(r, 3),
                utype: get(r, 4),
                columns: Vec::new(),
            })
            .collect();
        for r in &kc.rows {
            let id = get(r, 0).unwrap_or_default();
            if let Some(key) = keys.iter_mut().find(|k| k.id == id) {
                key.columns
                    .push((get(r, 1).unwrap_or_default(), get(r, 2).unwrap_or_default()));
            }
        }
        Ok(TableSet {
            user_schemas: Default::default(),
            schemas: s
                .rows
                .iter()
                .map(|r| SchemaRow {
                    name: get(r, 0).unwrap_or_default(),
                    description: get(r, 1),
                    utype: get(r, 2),
                })
                .collect(),
            tables: t
                .rows
                .iter()
                .map(|r| TableRow {
                    schema: get(r, 0).unwrap_or_default(),
                    name: get(r, 1).unwrap_or_default(),
                    kind: get(r, 2).unwrap_or_else(|| "table".into()),
                    description: get(r, 3),
                    utype: get(r, 4),
                })
                .collect(),
            columns: c
                .rows
                .iter()
                .map(|r| Column {
                    table: get(r, 0).unwrap_or_default(),
                    name: get(r, 1).unwrap_or_default(),
                    meta: ColumnMeta {
                        datatype: get(r, 2).unwrap_or_default(),
                        arraysize: get(r, 3),
                        xtype: get(r, 4),
                        description: get(r, 5),
                        unit: get(r, 6),
                        ucd: get(r, 7),
                        utype: get(r, 8),
                    },
                    indexed: flag(r.get(9)),
                    principal: flag(r.get(10)),
                    std: flag(r.get(11)),
                })
                .collect(),
            keys,
        })
    }

    /// Marks the schemas of users' tables (`tables`, those the caller may read; their rows
    /// come from TAP_SCHEMA like any table's).
    pub fn with_user_tables(
        mut self,
        tables: &[skyport_store::user_tables::UserTable],
    ) -> TableSet {
        self.user_schemas
            .extend(tables.iter().map(|t| t.schema.clone()));
        self
    }

    /// The set without the tables `hidden` names (`schema.table`), their columns and keys: a
    /// caller sees no trace of a table they may not read.
    pub fn without(mut self, hidden: &std::collections::BTreeSet<String>) -> TableSet {
        if hidden.is_empty() {
            return self;
        }
        // `schema.*`: a whole schema (a user's none of whose tables the caller may read).
        self.schemas
            .retain(|s| !hidden.contains(&format!("{}.*", s.name)));
        self.tables.retain(|t| !hidden.contains(&t.name));
        self.columns.retain(|c| !hidden.contains(&c.table));
        self.keys
            .retain(|k| !hidden.contains(&k.from) && !hidden.contains(&k.target));
        self
    }

    /// The set without the schemas `described` rejects (a data release describes its image
    /// tables only), their tables, columns and keys.
    pub fn described(mut self, described: impl Fn(&str) -> bool) -> TableSet {
        let schema_of = |qualified: &str| {
            qualified
                .split_once('.')
                .map_or(qualified, |(s, _)| s)
                .to_string()
        };
        self.schemas.retain(|s| described(&s.name));
        self.tables.retain(|t| described(&schema_of(&t.name)));
        self.columns.retain(|c| described(&schema_of(&c.table)));
        self.keys
            .retain(|k| described(&schema_of(&k.from)) && described(&schema_of(&k.target)));
        self
    }

    /// True when a table of this name is described.
    pub fn has_table(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t.name == name)
    }

    /// The `vosi:tableset` document.
    pub fn tableset(&self, detail: Detail) -> String {
        let mut s =
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:tableset {TABLESET_NS}>\n");
        for schema in &self.schemas {
            s.push_str(&format!(
                "  <schema>\n    <name>{}</name>\n",
                escape_xml(&schema.name)
            ));
            element(&mut s, "    ", "description", schema.description.as_deref());
            element(&mut s, "    ", "utype", schema.utype.as_deref());
            for t in self.tables.iter().filter(|t| t.schema == schema.name) {
                // A user's tables come with their columns even at `detail=min` (VOSI lets a
                // service give more): clients that fetch each table's document without the
                // credentials they listed with (pyvo's VOSITables) would find it absent.
                let detail = if self.user_schemas.contains(&schema.name) {
                    Detail::Max
                } else {
                    detail
                };
                s.push_str(&self.table_body(t, detail, "    ", "table"));
            }
            s.push_str("  </schema>\n");
        }
        s.push_str("</vosi:tableset>\n");
        s
    }

    /// The `vosi:table` document of one table, at full detail; `None` when unknown.
    pub fn table(&self, name: &str) -> Option<String> {
        let t = self.tables.iter().find(|t| t.name == name)?;
        let body = self.table_body(t, Detail::Max, "", "vosi:table");
        Some(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
            body.replacen("<vosi:table ", &format!("<vosi:table {TABLESET_NS} "), 1)
        ))
    }

    fn table_body(&self, t: &TableRow, detail: Detail, indent: &str, element_name: &str) -> String {
        let mut s = format!(
            "{indent}<{element_name} type=\"{}\">\n{indent}  <name>{}</name>\n",
            if t.kind == "view" { "view" } else { "table" },
            escape_xml(&t.name)
        );
        let inner = format!("{indent}  ");
        element(&mut s, &inner, "description", t.description.as_deref());
        element(&mut s, &inner, "utype", t.utype.as_deref());
        if detail == Detail::Max {
            for c in self.columns.iter().filter(|c| c.table == t.name) {
                s.push_str(&format!(
                    "{inner}<column{}>\n{inner}  <name>{}</name>\n",
                    if c.std { " std=\"true\"" } else { "" },
                    escape_xml(&c.name)
                ));
                let deeper = format!("{inner}  ");
                element(
                    &mut s,
                    &deeper,
                    "description",
                    c.meta.description.as_deref(),
                );
                element(&mut s, &deeper, "unit", c.meta.unit.as_deref());
                element(&mut s, &deeper, "ucd", c.meta.ucd.as_deref());
                element(&mut s, &deeper, "utype", c.meta.utype.as_deref());
                s.push_str(&format!("{deeper}<dataType xsi:type=\"vs:VOTableType\""));
                if let Some(a) = &c.meta.arraysize {
                    s.push_str(&format!(" arraysize=\"{}\"", escape_xml(a)));
                }
                if let Some(x) = &c.meta.xtype {
                    s.push_str(&format!(" extendedType=\"{}\"", escape_xml(x)));
                }
                s.push_str(&format!(">{}</dataType>\n", escape_xml(&c.meta.datatype)));
                if c.indexed {
                    s.push_str(&format!("{deeper}<flag>indexed</flag>\n"));
                }
                if c.principal {
                    s.push_str(&format!("{deeper}<flag>principal</flag>\n"));
                }
                s.push_str(&format!("{inner}</column>\n"));
            }
            for k in self.keys.iter().filter(|k| k.from == t.name) {
                s.push_str(&format!(
                    "{inner}<foreignKey>\n{inner}  <targetTable>{}</targetTable>\n",
                    escape_xml(&k.target)
                ));
                for (from, target) in &k.columns {
                    s.push_str(&format!(
                        "{inner}  <fkColumn><fromColumn>{}</fromColumn><targetColumn>{}</targetColumn></fkColumn>\n",
                        escape_xml(from),
                        escape_xml(target)
                    ));
                }
                element(
                    &mut s,
                    &format!("{inner}  "),
                    "description",
                    k.description.as_deref(),
                );
                element(&mut s, &format!("{inner}  "), "utype", k.utype.as_deref());
                s.push_str(&format!("{inner}</foreignKey>\n"));
            }
        }
        s.push_str(&format!("{indent}</{element_name}>\n"));
        s
    }
}

fn element(s: &mut String, indent: &str, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        s.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape_xml(v)));
    }
}
