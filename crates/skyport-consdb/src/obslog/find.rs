//! `GET …/messages`: the search parameters of Rubin's services, each turned into one SQL
//! condition with bound values.
//!
//! - `min_X` is inclusive and `max_X` exclusive; `has_X` tests for NULL.
//! - A plural of a text field (`site_ids`, `instruments`, `user_ids`, `exposure_flags`,
//!   `categories`…) matches any of the values given; `exclude_…` none of them.
//! - A list field (`tags`, `urls`, `systems`…) matches when it holds any of the values given,
//!   exactly; `exclude_…` when it holds none (a NULL list never matches, as upstream).
//! - `message_text` and `obs_id` match a substring, case-sensitively.
//! - `is_human` and `is_valid` are `either`, `true` or `false`; `is_valid` is `true` unless said.
//! - `order_by` names fields, `-` for descending; `id` breaks ties. `offset` ≥ 0, `limit` ≥ 2
//!   (default 50), as upstream, which has no maximum: a larger `limit` than [`MAX_LIMIT`]
//!   returns at most that many (Rubin's own clients ask for 50,000 and warn when they get as
//!   many as they asked for).
//!
//! Parameters the service does not know are ignored, as FastAPI ignores them. Unlike
//! upstream, `categories` and `time_lost_types` do filter, and `%`/`_` in a substring are
//! literal.

use serde_json::Value as Json;
use skyport_store::{ddl, Value};

use super::{invalid, normalize_tags, parse_time, stored_time, Field, LogError, ObsLog, Type};

/// The most messages one search returns, whatever its `limit` (the answer is built in memory).
pub const MAX_LIMIT: i64 = 10_000;

/// The stored columns, quoted, in field order.
pub(super) fn select_list(log: &ObsLog) -> String {
    log.stored_fields()
        .map(|f| ddl::quote_ident(f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

struct Query<'a> {
    log: &'a ObsLog,
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Query<'_> {
    fn bind(&mut self, v: Value) -> String {
        self.params.push(v);
        ddl::placeholder(self.log.store.dialect(), self.params.len())
    }

    /// `column` holds any of `values` (a JSON list stored as text).
    fn list_overlap(&mut self, column: &str, values: &[String]) -> String {
        let tests: Vec<String> = values
            .iter()
            .map(|v| {
                let pattern = format!("%{}%", like_escape(&Json::from(v.as_str()).to_string()));
                format!(
                    "{} LIKE {} ESCAPE '\\'",
                    ddl::quote_ident(column),
                    self.bind(Value::Text(pattern))
                )
            })
            .collect();
        format!("({})", tests.join(" OR "))
    }
}

fn field<'a>(log: &'a ObsLog, name: &str) -> Option<&'a Field> {
    log.kind.fields().iter().find(|f| f.name == name)
}

/// The text field a plural parameter names: `site_ids` → `site_id`, `categories` → `category`.
fn singular(name: &str) -> String {
    match name.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => name.strip_suffix('s').unwrap_or(name).to_string(),
    }
}

fn tri(name: &str, v: &str) -> Result<Option<bool>, LogError> {
    match v {
        "either" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(invalid(
            "query",
            name,
            "value is not a valid enumeration member; permitted: 'either', 'true', 'false'",
        )),
    }
}

fn boolean(name: &str, v: &str) -> Result<bool, LogError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            "query",
            name,
            "value could not be parsed to a boolean",
        )),
    }
}

impl ObsLog {
    /// `GET …/messages` with `params` (repeated keys kept): the matching messages the caller
    /// may see (`visible`: the access layer's condition), as JSON.
    pub async fn find(
        &self,
        params: &[(String, String)],
        visible: Option<&str>,
    ) -> Result<Json, LogError> {
        let mut q = Query {
            log: self,
            conditions: Vec::new(),
            params: Vec::new(),
        };
        let all = |name: &str| -> Vec<String> {
            params
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let last = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut valid = Some(true);
        for name in names {
            let values = all(name);
            let Some(one) = last(name) else { continue };
            match name {
                "order_by" | "offset" | "limit" => {}
                "is_valid" => valid = tri(name, &one)?,
                "is_human" => {
                    if let Some(b) = tri(name, &one)? {
                        let p = q.bind(Value::Bool(b));
                        q.conditions.push(format!("is_human = {p}"));
                    }
                }
                "message_text" | "obs_id" if field(self, name).is_some() => {
                    let p = q.bind(Value::Text(format!("%{}%", like_escape(&one))));
                    q.conditions
                        .push(format!("{} LIKE {p} ESCAPE '\\'", ddl::quote_ident(name)));
                }
                _ => self.condition(&mut q, name, &values, &one)?,
            }
        }
        if let Some(v) = visible {
            q.conditions.push(format!("({v})"));
        }
        match valid {
            Some(true) => q.conditions.push("date_invalidated IS NULL".into()),
            Some(false) => q.conditions.push("date_invalidated IS NOT NULL".into()),
            None => {}
        }
        let order = self.order_by(&all("order_by"))?;
        let offset = match last("offset") {
            None => 0,
            Some(v) => v.parse::<i64>().ok().filter(|o| *o >= 0).ok_or_else(|| {
                invalid(
                    "query",
                    "offset",
                    "ensure this value is greater than or equal to 0",
                )
            })?,
        };
        let limit = match last("limit") {
            None => 50,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|l| *l >= 2)
                .map(|l| l.min(MAX_LIMIT))
                .ok_or_else(|| {
                    invalid(
                        "query",
                        "limit",
                        "ensure this value is greater than 1".to_string(),
                    )
                })?,
        };
        let filter = if q.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", q.conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM {} AS m{filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            select_list(self),
            self.table(),
        );
        let rows = self.store.query(sql, q.params).await?;
        Ok(Json::Array(
            rows.rows.iter().map(|r| self.to_json(r)).collect(),
        ))
    }

    fn condition(
        &self,
        q: &mut Query<'_>,
        name: &str,
        values: &[String],
        one: &str,
    ) -> Result<(), LogError> {
        let bad = |msg: &str| invalid("query", name, msg.to_string());
        if let Some((bound, column)) = name
            .strip_prefix("min_")
            .map(|c| (">=", c))
            .or_else(|| name.strip_prefix("max_").map(|c| ("<", c)))
        {
            let Some(f) = field(self, column) else {
                return Ok(());
            };
            let value = match f.ty {
                Type::Int => Value::Int(
                    one.parse::<i32>()
                        .map_err(|_| bad("value is not a valid 32-bit integer"))?
                        .into(),
                ),
                Type::Seconds => Value::Float(
                    one.parse()
                        .map_err(|_| bad("value is not a valid number of seconds"))?,
                ),
                Type::Time => Value::Text(stored_time(
                    parse_time(one).ok_or_else(|| bad("invalid datetime format"))?,
                )),
                _ => return Ok(()),
            };
            let p = q.bind(value);
            q.conditions
                .push(format!("{} {bound} {p}", ddl::quote_ident(column)));
            return Ok(());
        }
        if let Some(column) = name.strip_prefix("has_") {
            if field(self, column).is_some_and(|f| f.nullable) {
                let not = if boolean(name, one)? { "NOT " } else { "" };
                q.conditions
                    .push(format!("{} IS {not}NULL", ddl::quote_ident(column)));
            }
            return Ok(());
        }
        let (exclude, plural) = match name.strip_prefix("exclude_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        if let Some(f) = field(self, plural).filter(|f| f.ty == Type::List) {
            let values = if f.name == "tags" {
                normalize_tags(values)?
            } else {
                values.to_vec()
            };
            let any = q.list_overlap(f.name, &values);
            q.conditions.push(if exclude {
                format!("{} IS NOT NULL AND NOT {any}", ddl::quote_ident(f.name))
            } else {
                any
            });
            return Ok(());
        }
        let column = singular(plural);
        if let Some(f) = field(self, &column).filter(|f| f.ty == Type::Text && plural != column) {
            if f.name == "exposure_flag" {
                if let Some(v) = values
                    .iter()
                    .find(|v| !super::EXPOSURE_FLAGS.contains(&v.as_str()))
                {
                    return Err(bad(&format!(
                        "{v:?} is not one of none, junk, questionable"
                    )));
                }
            }
            let marks: Vec<String> = values
                .iter()
                .map(|v| q.bind(Value::Text(v.clone())))
                .collect();
            let not = if exclude { "NOT " } else { "" };
            q.conditions.push(format!(
                "{} {not}IN ({})",
                ddl::quote_ident(f.name),
                marks.join(", ")
            ));
            return Ok(());
        }
        if name == "components_path" || name == "exclude_components_path" {
            return Err(LogError::BadRequest(format!(
                "{name} is not supported by this service; query components_json through TAP"
            )));
        }
        Ok(())
    }

    fn order_by(&self, items: &[String]) -> Result<String, LogError> {
        let mut items: Vec<String> = if items.is_empty() {
            vec!["id".into()]
        } else {
            items.to_vec()
        };
        let names: Vec<&str> = self.kind.fields().iter().map(|f| f.name).collect();
        let bad: Vec<&String> = items
            .iter()
            .filter(|i| !names.contains(&i.strip_prefix('-').unwrap_or(i)))
            .collect();
        if !bad.is_empty() {
            return Err(LogError::BadRequest(format!(
                "Invalid order_by fields: {bad:?}; allowed values are {names:?} (with - for descending)"
            )));
        }
        if !items.iter().any(|i| i == "id" || i == "-id") {
            items.push("id".into());
        }
        Ok(items
            .iter()
            .map(|i| {
                let (desc, name) = match i.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, i.as_str()),
                };
                let column = if name == "is_valid" {
                    "(date_invalidated IS NULL)".to_string()
                } else {
                    ddl::quote_ident(name)
                };
                if desc {
                    format!("{column} DESC NULLS FIRST")
                } else {
                    format!("{column} ASC NULLS LAST")
                }
            })
            .collect::<Vec<_>>()
            .join(", "))
    }
}
