//! SQL text from the Felis model, per dialect.

use skyport_schema::{Column, ConstraintKind, Datatype, DefaultValue, Table};

use crate::Dialect;

/// Quotes an identifier for SQL (double quotes, doubled inside).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The physical name of a table. SQLite has no schemas, so `schema.table` becomes one quoted
/// identifier with the dot inside; PostgreSQL uses a real schema, except for TAP uploads, which
/// are temporary tables of the session (`pg_temp`).
pub fn table_name(dialect: Dialect, schema: &str, table: &str) -> String {
    match dialect {
        Dialect::Sqlite => quote_ident(&format!("{schema}.{table}")),
        Dialect::Postgres if schema.eq_ignore_ascii_case("TAP_UPLOAD") => {
            format!("pg_temp.{}", quote_ident(table))
        }
        Dialect::Postgres => format!("{}.{}", quote_ident(schema), quote_ident(table)),
    }
}

/// The placeholder for the `n`-th (1-based) parameter.
pub fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

/// The SQL type of a column.
pub fn column_type(dialect: Dialect, column: &Column) -> String {
    match dialect {
        Dialect::Sqlite => match column.datatype {
            Datatype::Boolean
            | Datatype::Byte
            | Datatype::Short
            | Datatype::Int
            | Datatype::Long => "INTEGER",
            Datatype::Float | Datatype::Double => "REAL",
            Datatype::Binary => "BLOB",
            Datatype::Char
            | Datatype::String
            | Datatype::Unicode
            | Datatype::Text
            | Datatype::Timestamp => "TEXT",
        }
        .to_string(),
        Dialect::Postgres => match (column.datatype, column.length) {
            (Datatype::Boolean, _) => "BOOLEAN".into(),
            (Datatype::Byte | Datatype::Short, _) => "SMALLINT".into(),
            (Datatype::Int, _) => "INTEGER".into(),
            (Datatype::Long, _) => "BIGINT".into(),
            (Datatype::Float, _) => "REAL".into(),
            (Datatype::Double, _) => "DOUBLE PRECISION".into(),
            // Felis `char` is VOTable's fixed-size char array, but CHAR(n) would pad values
            // with blanks the writer never sent (and SQLite does not add): VARCHAR keeps them.
            (Datatype::Char | Datatype::String | Datatype::Unicode, Some(n)) => {
                format!("VARCHAR({n})")
            }
            (Datatype::Char | Datatype::String | Datatype::Unicode | Datatype::Text, _) => {
                "TEXT".into()
            }
            (Datatype::Binary, _) => "BYTEA".into(),
            (Datatype::Timestamp, _) => "TIMESTAMP".into(),
        },
    }
}

fn default_clause(column: &Column) -> Option<String> {
    let v = column.value.as_ref()?;
    Some(match v {
        DefaultValue::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Float(f) => format!("{f:?}"),
        DefaultValue::Text(t) if column.datatype.is_text() => {
            format!("'{}'", t.replace('\'', "''"))
        }
        // Felis uses text defaults for SQL expressions on non-text columns (CURRENT_TIMESTAMP).
        DefaultValue::Text(t) => {
            if t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')')
            {
                t.clone()
            } else {
                return None;
            }
        }
    })
}

/// A column definition for CREATE TABLE or ALTER TABLE ADD COLUMN.
pub fn column_definition(dialect: Dialect, column: &Column) -> String {
    let mut s = format!(
        "{} {}",
        quote_ident(&column.name),
        column_type(dialect, column)
    );
    if !column.nullable {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = default_clause(column) {
        s.push_str(" DEFAULT ");
        s.push_str(&d);
    }
    s
}

/// CREATE TABLE for a Felis table (columns, primary key, unique constraints).
pub fn create_table(dialect: Dialect, schema: &str, table: &Table) -> String {
    let mut parts: Vec<String> = table
        .columns
        .iter()
        .map(|c| column_definition(dialect, c))
        .collect();
    let pk = table.primary_key_columns();
    if !pk.is_empty() {
        parts.push(format!(
            "PRIMARY KEY ({})",
            pk.iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for constraint in &table.constraints {
        if constraint.kind == ConstraintKind::Unique {
            let cols: Vec<String> = constraint
                .columns
                .iter()
                .filter_map(|r| table.column_by_ref(r))
                .map(|c| quote_ident(&c.name))
                .collect();
            if !cols.is_empty() {
                parts.push(format!(
                    "CONSTRAINT {} UNIQUE ({})",
                    quote_ident(&constraint.name),
                    cols.join(", ")
                ));
            }
        }
    }
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        table_name(dialect, schema, &table.name),
        parts.join(",\n  ")
    )
}

/// The SELECT of an aggregating view: one row per group of base rows.
fn aggregate_view(
    dialect: Dialect,
    schema: &str,
    table: &Table,
    base: &Table,
    aggregate: &skyport_schema::Aggregate,
) -> String {
    use skyport_schema::AggregateFn;
    let group_expr = |column: &str| -> String {
        match aggregate.group_by.iter().find(|(c, _)| c == column) {
            Some((c, Some(fallback))) => format!(
                "COALESCE({}, CAST({} AS TEXT))",
                quote_ident(c),
                quote_ident(fallback)
            ),
            _ => quote_ident(column),
        }
    };
    let columns: Vec<String> = aggregate
        .columns
        .iter()
        .map(|(name, f, from)| {
            let c = quote_ident(from);
            let sql = match f {
                AggregateFn::Group => group_expr(from),
                AggregateFn::Min => format!("MIN({c})"),
                AggregateFn::Max => format!("MAX({c})"),
                AggregateFn::Sum => format!("SUM({c})"),
                AggregateFn::Avg => format!("AVG({c})"),
                AggregateFn::Count => format!("COUNT({c})"),
                AggregateFn::RegionUnion => {
                    let joined = match dialect {
                        Dialect::Sqlite => format!("group_concat({c}, ' ')"),
                        Dialect::Postgres => format!("string_agg({c}, ' ')"),
                    };
                    format!(
                        "CASE WHEN COUNT({c}) > 1 THEN 'Union ICRS (' || {joined} || ')' ELSE MAX({c}) END"
                    )
                }
            };
            format!("{sql} AS {}", quote_ident(name))
        })
        .collect();
    let groups: Vec<String> = aggregate
        .group_by
        .iter()
        .map(|(c, _)| group_expr(c))
        .collect();
    format!(
        "CREATE VIEW {} AS SELECT {} FROM {} GROUP BY {}",
        table_name(dialect, schema, &table.name),
        columns.join(", "),
        table_name(dialect, schema, &base.name),
        groups.join(", ")
    )
}

/// CREATE VIEW for a table declared as a view of `base` (see [`skyport_schema::View`]): each
/// declared column from the renamed base column, the same-named one, or NULL of its type; or,
/// for an aggregating view, one row per group.
pub fn create_view(dialect: Dialect, schema: &str, table: &Table, base: &Table) -> String {
    if let Some(aggregate) = table.view.as_ref().and_then(|v| v.aggregate.as_ref()) {
        return aggregate_view(dialect, schema, table, base, aggregate);
    }
    let renamed = table
        .view
        .as_ref()
        .map(|v| v.renamed.as_slice())
        .unwrap_or(&[]);
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let source = renamed
                .iter()
                .find(|(to, _)| to.eq_ignore_ascii_case(&c.name))
                .map(|(_, from)| from.as_str())
                .or_else(|| base.column(&c.name).map(|b| b.name.as_str()));
            match source {
                Some(from) => format!("{} AS {}", quote_ident(from), quote_ident(&c.name)),
                None => format!(
                    "CAST(NULL AS {}) AS {}",
                    column_type(dialect, c),
                    quote_ident(&c.name)
                ),
            }
        })
        .collect();
    format!(
        "CREATE VIEW {} AS SELECT {} FROM {}",
        table_name(dialect, schema, &table.name),
        columns.join(", "),
        table_name(dialect, schema, &base.name)
    )
}

/// CREATE INDEX IF NOT EXISTS statements for a table's declared indexes.
pub fn create_indexes(dialect: Dialect, schema: &str, table: &Table) -> Vec<String> {
    if table.view.is_some() {
        return Vec::new();
    }
    table
        .indexes
        .iter()
        .map(|index| {
            let cols: Vec<String> = index
                .columns
                .iter()
                .filter_map(|r| table.column_by_ref(r))
                .map(|c| match dialect {
                    Dialect::Sqlite => quote_ident(&c.name),
                    // NULLs sort low as in SQLite (the ADQL translator asks for that order), so
                    // the index serves ORDER BY in both directions.
                    Dialect::Postgres => format!("{} NULLS FIRST", quote_ident(&c.name)),
                })
                .collect();
            // Index names are per schema in PostgreSQL and per database in SQLite.
            let name = match dialect {
                Dialect::Sqlite => quote_ident(&format!("{schema}.{}", index.name)),
                Dialect::Postgres => quote_ident(&index.name),
            };
            format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {} ({})",
                table_name(dialect, schema, &table.name),
                cols.join(", ")
            )
        })
        .collect()
}

/// INSERT for the given columns.
pub fn insert(dialect: Dialect, schema: &str, table: &str, columns: &[&str]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let marks: Vec<String> = (1..=columns.len())
        .map(|i| placeholder(dialect, i))
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table_name(dialect, schema, table),
        cols.join(", "),
        marks.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_schema::builtin_schemas;

    #[test]
    fn obscore_ddl_in_both_dialects() {
        let schemas = builtin_schemas();
        let obscore = schemas[2].table("ObsCore").expect("ObsCore");
        let lite = create_table(Dialect::Sqlite, "ivoa", obscore);
        assert!(lite.starts_with("CREATE TABLE \"ivoa.ObsCore\""), "{lite}");
        assert!(lite.contains("\"calib_level\" INTEGER NOT NULL"));
        assert!(lite.contains("PRIMARY KEY (\"obs_publisher_did\")"));
        let pg = create_table(Dialect::Postgres, "ivoa", obscore);
        assert!(pg.starts_with("CREATE TABLE \"ivoa\".\"ObsCore\""), "{pg}");
        assert!(pg.contains("\"s_ra\" DOUBLE PRECISION"));
        assert!(pg.contains("\"obs_id\" VARCHAR(256) NOT NULL"));
        let idx = create_indexes(Dialect::Sqlite, "ivoa", obscore);
        assert!(
            idx.iter().any(|s| s.contains("(\"s_dec\", \"s_ra\")")),
            "{idx:?}"
        );
    }

    #[test]
    fn identifiers_are_quoted_safely() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            insert(Dialect::Postgres, "s", "t", &["x", "y"]),
            "INSERT INTO \"s\".\"t\" (\"x\", \"y\") VALUES ($1, $2)"
        );
    }
}
