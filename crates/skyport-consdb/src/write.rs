//! SQL for ConsDB writes: rows inserted, or upserted on a key, many rows per statement (the
//! bulk path's speed), in both dialects. The statements go to [`skyport_store::Store::write`],
//! one transaction per request; history triggers record every version.

use std::collections::HashSet;

use skyport_store::ddl::{placeholder, quote_ident, table_name};
use skyport_store::{Dialect, Statement, Value};

/// Most parameters one statement binds (PostgreSQL allows 65535, SQLite 32766).
const MAX_PARAMS: usize = 30_000;

/// Rows of one table with one column set.
#[derive(Debug, Clone)]
pub struct RowSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Values in column order.
    pub rows: Vec<Vec<Value>>,
}

/// What a write does when a row's key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Fail (pqserver's `u=0`).
    Fail,
    /// Update the given columns (pqserver's `u=1`).
    Update,
}

/// Statements writing `set` into `schema.table`, keyed (for [`OnConflict::Update`]) on `key`.
/// Rows repeating a key already in the statement start a new one, so a later row updates an
/// earlier one instead of colliding with it.
pub fn statements(
    dialect: Dialect,
    schema: &str,
    table: &str,
    set: &RowSet,
    key: &[&str],
    on_conflict: OnConflict,
) -> Vec<Statement> {
    let per_statement = (MAX_PARAMS / set.columns.len().max(1)).max(1);
    let key_positions: Vec<usize> = key
        .iter()
        .filter_map(|k| set.columns.iter().position(|c| c == k))
        .collect();
    let mut out = Vec::new();
    let mut chunk: Vec<&Vec<Value>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for row in &set.rows {
        let identity = format!(
            "{:?}",
            key_positions.iter().map(|&i| &row[i]).collect::<Vec<_>>()
        );
        let repeated = !key_positions.is_empty() && !seen.insert(identity.clone());
        if chunk.len() == per_statement || repeated {
            out.push(one(dialect, schema, table, set, &chunk, key, on_conflict));
            chunk.clear();
            seen.clear();
            seen.insert(identity);
        }
        chunk.push(row);
    }
    if !chunk.is_empty() {
        out.push(one(dialect, schema, table, set, &chunk, key, on_conflict));
    }
    out
}

fn one(
    dialect: Dialect,
    schema: &str,
    table: &str,
    set: &RowSet,
    rows: &[&Vec<Value>],
    key: &[&str],
    on_conflict: OnConflict,
) -> Statement {
    let width = set.columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let marks: Vec<String> = (1..=width)
                .map(|c| placeholder(dialect, r * width + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table_name(dialect, schema, table),
        set.columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        tuples.join(", ")
    );
    if on_conflict == OnConflict::Update && !key.is_empty() {
        let updates: Vec<String> = set
            .columns
            .iter()
            .filter(|c| !key.contains(&c.as_str()))
            .map(|c| format!("{q} = excluded.{q}", q = quote_ident(c)))
            .collect();
        let target = key
            .iter()
            .map(|k| quote_ident(k))
            .collect::<Vec<_>>()
            .join(", ");
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({target}) DO NOTHING"));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({target}) DO UPDATE SET {}",
                updates.join(", ")
            ));
        }
    }
    Statement::new(sql, rows.iter().flat_map(|r| r.iter().cloned()).collect())
}

/// `UPDATE … SET <the non-key columns> FROM (VALUES …)` for rows of `set` that exist: the
/// upsert of an existing row names only the columns it changes (an INSERT … ON CONFLICT would
/// first need every NOT NULL column). Many rows per statement; `types` are the columns' SQL
/// types, which PostgreSQL needs to type the VALUES list. Rows repeating a key start a new
/// statement, so each row's update applies in order.
pub fn updates(
    dialect: Dialect,
    schema: &str,
    table: &str,
    set: &RowSet,
    key: &[&str],
    types: &[String],
) -> Vec<Statement> {
    let width = set.columns.len();
    if set.columns.iter().all(|c| key.contains(&c.as_str())) {
        return Vec::new();
    }
    let positions: Vec<usize> = key
        .iter()
        .filter_map(|k| set.columns.iter().position(|c| c == k))
        .collect();
    let per_statement = (MAX_PARAMS / width.max(1)).max(1);
    let mut out = Vec::new();
    let mut chunk: Vec<&Vec<Value>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let flush = |chunk: &[&Vec<Value>], out: &mut Vec<Statement>| {
        if chunk.is_empty() {
            return;
        }
        let mut params = Vec::new();
        let tuples: Vec<String> = chunk
            .iter()
            .map(|row| {
                let marks: Vec<String> = row
                    .iter()
                    .zip(types)
                    .map(|(v, ty)| {
                        params.push(v.clone());
                        let mark = placeholder(dialect, params.len());
                        match dialect {
                            Dialect::Postgres => format!("CAST({mark} AS {ty})"),
                            Dialect::Sqlite => mark,
                        }
                    })
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let source = |i: usize| format!("_v.column{}", i + 1);
        let sets: Vec<String> = set
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !key.contains(&c.as_str()))
            .map(|(i, c)| format!("{} = {}", quote_ident(c), source(i)))
            .collect();
        let target = table_name(dialect, schema, table);
        let wheres: Vec<String> = positions
            .iter()
            .map(|&i| format!("{target}.{} = {}", quote_ident(&set.columns[i]), source(i)))
            .collect();
        out.push(Statement::new(
            format!(
                "UPDATE {target} SET {} FROM (VALUES {}) AS _v WHERE {}",
                sets.join(", "),
                tuples.join(", "),
                wheres.join(" AND ")
            ),
            params,
        ));
    };
    for row in &set.rows {
        let identity = format!(
            "{:?}",
            positions.iter().map(|&i| &row[i]).collect::<Vec<_>>()
        );
        let repeated = !seen.insert(identity.clone());
        if chunk.len() == per_statement || repeated {
            flush(&chunk, &mut out);
            chunk.clear();
            seen.clear();
            seen.insert(identity);
        }
        chunk.push(row);
    }
    flush(&chunk, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_share_statements_until_a_key_repeats() {
        let set = RowSet {
            columns: vec!["day_obs".into(), "seq_num".into(), "airmass".into()],
            rows: vec![
                vec![Value::Int(1), Value::Int(1), Value::Float(1.0)],
                vec![Value::Int(1), Value::Int(2), Value::Float(1.1)],
                vec![Value::Int(1), Value::Int(1), Value::Float(1.2)],
            ],
        };
        let s = statements(
            Dialect::Postgres,
            "cdb_x",
            "exposure",
            &set,
            &["day_obs", "seq_num"],
            OnConflict::Update,
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].params.len(), 6);
        assert!(s[0].sql.ends_with(
            "VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT (\"day_obs\", \"seq_num\") DO UPDATE SET \"airmass\" = excluded.\"airmass\""
        ), "{}", s[0].sql);
        let plain = statements(
            Dialect::Sqlite,
            "cdb_x",
            "exposure",
            &set,
            &[],
            OnConflict::Fail,
        );
        assert!(!plain[0].sql.contains("ON CONFLICT"));
    }
}
