//! Keeping history tables (see [`skyport_schema::history`]) filled: triggers on the base table
//! record every insert, update and delete as a version, in the writer's transaction, whatever
//! the write path. An update that changes nothing records nothing.
//!
//! Time of a version: on PostgreSQL the wall clock when the trigger runs (after the row lock,
//! so concurrent writers to one key get increasing times in commit order); on SQLite, with its
//! single writer, the time [`crate::Store::write`] began its transaction (so every version one
//! request writes shares one time), else the statement's time. Author: what
//! [`crate::Store::write`] was given, else the database user (PostgreSQL) or `skyport`.

use skyport_schema::history::{DELETED, RECORDED_AT, RECORDED_BY, SUPERSEDED_AT, VERSION};
use skyport_schema::Table;

use crate::ddl::{quote_ident, table_name};
use crate::Dialect;

/// PostgreSQL setting carrying the author of a transaction's writes.
pub const AUTHOR_SETTING: &str = "skyport.author";

/// Everything the trigger SQL needs about one history table.
struct Parts {
    base: String,
    history: String,
    /// Quoted base column names.
    columns: Vec<String>,
    /// Quoted primary-key column names.
    key: Vec<String>,
}

impl Parts {
    fn new(dialect: Dialect, schema: &str, base: &Table, history: &Table) -> Parts {
        Parts {
            base: table_name(dialect, schema, &base.name),
            history: table_name(dialect, schema, &history.name),
            columns: base.columns.iter().map(|c| quote_ident(&c.name)).collect(),
            key: base
                .primary_key_columns()
                .iter()
                .map(|c| quote_ident(c))
                .collect(),
        }
    }

    /// `k1 = ROW.k1 AND …` for the key of `row` (`NEW` or `OLD`).
    fn key_of(&self, row: &str) -> String {
        self.key
            .iter()
            .map(|k| format!("{k} = {row}.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn values_of(&self, row: &str) -> String {
        self.columns
            .iter()
            .map(|c| format!("{row}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn insert_columns(&self) -> String {
        let mut cols = self.columns.clone();
        for c in [VERSION, RECORDED_AT, RECORDED_BY, DELETED] {
            cols.push(quote_ident(c));
        }
        cols.join(", ")
    }

    fn next_version(&self, row: &str) -> String {
        format!(
            "(SELECT COALESCE(MAX({v}), 0) + 1 FROM {h} WHERE {k})",
            v = quote_ident(VERSION),
            h = self.history,
            k = self.key_of(row)
        )
    }

    fn close(&self, row: &str, at: &str) -> String {
        format!(
            "UPDATE {h} SET {s} = {at} WHERE {s} IS NULL AND {k}",
            h = self.history,
            s = quote_ident(SUPERSEDED_AT),
            k = self.key_of(row)
        )
    }

    fn record(&self, row: &str, at: &str, who: &str, deleted: &str) -> String {
        format!(
            "INSERT INTO {h} ({cols}) VALUES ({vals}, {next}, {at}, {who}, {deleted})",
            h = self.history,
            cols = self.insert_columns(),
            vals = self.values_of(row),
            next = self.next_version(row),
        )
    }
}

/// SQL (one batch) creating or replacing the triggers that fill `history` from `base`.
pub fn triggers(dialect: Dialect, schema: &str, base: &Table, history: &Table) -> String {
    let p = Parts::new(dialect, schema, base, history);
    match dialect {
        Dialect::Postgres => postgres_triggers(schema, base, &p),
        Dialect::Sqlite => sqlite_triggers(schema, base, &p),
    }
}

fn postgres_triggers(schema: &str, base: &Table, p: &Parts) -> String {
    let function = format!(
        "{}.{}",
        quote_ident(schema),
        quote_ident(&format!("{}_record_version", base.name))
    );
    let trigger = quote_ident(&format!("{}_record_version", base.name));
    let unchanged = p
        .columns
        .iter()
        .map(|c| format!("NEW.{c} IS NOT DISTINCT FROM OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $skyport$
DECLARE
  t timestamp := clock_timestamp() AT TIME ZONE 'UTC';
  who text := COALESCE(NULLIF(current_setting('{AUTHOR_SETTING}', true), ''), session_user);
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF {unchanged} THEN
      RETURN NEW;
    END IF;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    {close};
  END IF;
  IF TG_OP = 'DELETE' THEN
    {tombstone};
    RETURN OLD;
  END IF;
  {record};
  RETURN NEW;
END
$skyport$;
DROP TRIGGER IF EXISTS {trigger} ON {base};
CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {base}
  FOR EACH ROW EXECUTE FUNCTION {function}();",
        close = p.close("OLD", "t"),
        tombstone = p.record("OLD", "t", "who", "true"),
        record = p.record("NEW", "t", "who", "false"),
        base = p.base,
    )
}

/// The SQLite time of a version: the writing transaction's, else the statement's.
const SQLITE_NOW: &str = "COALESCE(skyport_write_time(), strftime('%Y-%m-%dT%H:%M:%f', 'now'))";

fn sqlite_triggers(schema: &str, base: &Table, p: &Parts) -> String {
    let name = |op: &str| quote_ident(&format!("{schema}.{}.record_{op}", base.name));
    let changed = p
        .columns
        .iter()
        .map(|c| format!("NEW.{c} IS NOT OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let who = "skyport_write_author()";
    format!(
        "DROP TRIGGER IF EXISTS {ins};
DROP TRIGGER IF EXISTS {upd};
DROP TRIGGER IF EXISTS {del};
CREATE TRIGGER {ins} AFTER INSERT ON {base} BEGIN
  {record_new};
END;
CREATE TRIGGER {upd} AFTER UPDATE ON {base} WHEN {changed} BEGIN
  {close_old};
  {record_new};
END;
CREATE TRIGGER {del} AFTER DELETE ON {base} BEGIN
  {close_old};
  {tombstone};
END;",
        ins = name("insert"),
        upd = name("update"),
        del = name("delete"),
        base = p.base,
        record_new = p.record("NEW", SQLITE_NOW, who, "0"),
        close_old = p.close("OLD", SQLITE_NOW),
        tombstone = p.record("OLD", SQLITE_NOW, who, "1"),
    )
}

/// SQL recording the rows `base` holds as first versions in a newly created `history` (a
/// schema that gains history keeps what it had).
pub fn seed(dialect: Dialect, schema: &str, base: &Table, history: &Table) -> String {
    let p = Parts::new(dialect, schema, base, history);
    let now = match dialect {
        Dialect::Postgres => "clock_timestamp() AT TIME ZONE 'UTC'",
        Dialect::Sqlite => SQLITE_NOW,
    };
    let no = match dialect {
        Dialect::Postgres => "false",
        Dialect::Sqlite => "0",
    };
    format!(
        "INSERT INTO {h} ({cols}) SELECT {vals}, 1, {now}, 'migration', {no} FROM {b}",
        h = p.history,
        cols = p.insert_columns(),
        vals = p.columns.join(", "),
        b = p.base,
    )
}

/// The history tables of a schema with their base tables.
pub fn pairs(schema: &skyport_schema::Schema) -> Vec<(&Table, &Table)> {
    schema
        .tables
        .iter()
        .filter_map(|h| {
            let base = schema.table(h.history_of.as_deref()?)?;
            Some((base, h))
        })
        .collect()
}
