//! Data rights: who may see which rows, pixels and tables. The policy is configuration; this
//! module turns it, for one [`Caller`] at one moment, into SQL conditions that every reader
//! applies — the image index to its lookups, the query pipeline to every reference to a
//! table — so that a hidden row is filtered before any query sees it and is indistinguishable
//! from an absent one.
//!
//! The model (after CAOM's metadata/data read groups and LDM-542 §2.2.7):
//! - a **collection** (ObsCore `obs_collection`, one per data root) has rights-holding
//!   `groups`; its metadata and its data (pixels) are each either public or for those groups
//!   only;
//! - a row whose `obs_release_date` lies in the future is **proprietary**: only the
//!   collection's groups see it, even in a public collection;
//! - a membership may **end**: afterwards the user keeps what was released before the end
//!   (rows with no release date count as always released) and sees nothing released later;
//! - a **table** may be restricted to groups as a whole (the transformed EFD to staff); it is
//!   then absent for everyone else, and an ended membership gives no access to it.
//!
//! Collections the configuration does not name are public.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Timelike, Utc};

use crate::{ddl, Caller, Dialect};

/// Who may read one collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRights {
    /// ObsCore `obs_collection`.
    pub collection: String,
    /// The groups holding data rights to it: they see its proprietary rows and, where
    /// metadata or data are restricted, those.
    pub groups: Vec<String>,
    /// Whether anyone may see its (released) metadata rows.
    pub metadata_public: bool,
    /// Whether anyone may read its (released) pixels.
    pub data_public: bool,
}

/// The data-rights policy of an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    /// Set for the archive's own tools (exports on the command line): nothing is hidden.
    unrestricted: bool,
    collections: BTreeMap<String, CollectionRights>,
    /// `schema.table` (or `schema.*`) → groups that may read it.
    tables: BTreeMap<String, Vec<String>>,
    /// The collections of a data release served on its own: rows, pixels and maps of every
    /// other collection are hidden from everyone. `None` (the live archive): no such bound.
    within: Option<BTreeSet<String>>,
    /// The schemas a data release serves (its image tables): TAP_SCHEMA describes no other.
    /// `None`: every schema.
    within_schemas: Option<BTreeSet<String>>,
}

/// What is being read of a collection's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The metadata row (ObsCore, ConsDB, DataLink rows).
    Metadata,
    /// The pixels (files, cutouts, previews).
    Data,
}

impl Rights {
    /// A policy with `collections` and restricted `tables` (`schema.table` or `schema.*` →
    /// the groups that may read them).
    pub fn new(
        collections: impl IntoIterator<Item = CollectionRights>,
        tables: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Rights {
        Rights {
            unrestricted: false,
            collections: collections
                .into_iter()
                .map(|c| (c.collection.clone(), c))
                .collect(),
            tables: tables.into_iter().collect(),
            within: None,
            within_schemas: None,
        }
    }

    /// No rights at all: every row and table is visible. For the archive operator's own
    /// command-line tools, which read the database directly anyway.
    pub fn unrestricted() -> Rights {
        Rights {
            unrestricted: true,
            ..Rights::default()
        }
    }

    /// The same policy bounded to `collections` (a data release's): everything of any other
    /// collection is hidden, from every caller and from the archive's own tools alike.
    pub fn within(mut self, collections: impl IntoIterator<Item = String>) -> Rights {
        self.within = Some(collections.into_iter().collect());
        self
    }

    /// The same policy describing the tables of `schemas` only (a data release's): TAP_SCHEMA
    /// rows of any other schema are hidden (`TAP_SCHEMA` itself is always described).
    pub fn within_schemas(mut self, schemas: impl IntoIterator<Item = String>) -> Rights {
        self.within_schemas = Some(schemas.into_iter().collect());
        self
    }

    /// The same policy with `tables` (`schema.table` or `schema.*`) hidden from everyone:
    /// neither queryable nor described (a data release's view of the observatory's records).
    pub fn hiding(mut self, tables: impl IntoIterator<Item = String>) -> Rights {
        for table in tables {
            self.tables.insert(table, Vec::new());
        }
        self
    }

    /// The groups any right is given to (a restricted collection's, a restricted table's):
    /// what a caller may see beyond the public part of the archive comes from these.
    pub fn restricting_groups(&self) -> BTreeSet<String> {
        self.collections
            .values()
            .flat_map(|c| c.groups.iter().cloned())
            .chain(self.tables.values().flatten().cloned())
            .collect()
    }

    /// Whether the tables of `schema` are described to callers of this policy.
    pub fn schema_described(&self, schema: &str) -> bool {
        schema.eq_ignore_ascii_case("TAP_SCHEMA")
            || self
                .within_schemas
                .as_ref()
                .is_none_or(|w| w.contains(schema))
    }

    /// Whether `collection` lies outside the release this policy is bounded to.
    fn outside(&self, collection: &str) -> bool {
        self.within
            .as_ref()
            .is_some_and(|w| !w.contains(collection))
    }

    /// The rights of `collection` (public if not configured).
    pub fn collection(&self, collection: &str) -> Option<&CollectionRights> {
        self.collections.get(collection)
    }

    /// Whether `caller` may name table `schema.table` at `now`.
    pub fn table_visible(
        &self,
        caller: &Caller,
        schema: &str,
        table: &str,
        now: DateTime<Utc>,
    ) -> bool {
        if self.unrestricted {
            return true;
        }
        // A table's history (`…_history`, every version of its rows) goes with it.
        let base = table.strip_suffix("_history").unwrap_or(table);
        let groups = self
            .tables
            .get(&format!("{schema}.{table}"))
            .or_else(|| self.tables.get(&format!("{schema}.{base}")))
            .or_else(|| self.tables.get(&format!("{schema}.*")));
        match groups {
            None => true,
            Some(groups) => groups.iter().any(|g| active_member(caller, g, now)),
        }
    }

    /// Which coverage map of `collection` `caller` may see at `now`: rights holders (and the
    /// archive's own tools) every image's, others those of released images where the
    /// collection's metadata is public; `None` (not found) otherwise. A holder whose
    /// membership ended sees only what everyone sees (the map cannot tell when each cell's
    /// images were released).
    pub fn coverage_view(
        &self,
        caller: &Caller,
        collection: &str,
        now: DateTime<Utc>,
    ) -> Option<crate::coverage::CoverageView> {
        use crate::coverage::CoverageView;
        if self.outside(collection) {
            return None;
        }
        if self.unrestricted {
            return Some(CoverageView::Everything);
        }
        match self.collections.get(collection) {
            None => Some(CoverageView::Released),
            Some(c) if membership_end(caller, &c.groups, now) == Some(None) => {
                Some(CoverageView::Everything)
            }
            Some(c) if c.metadata_public => Some(CoverageView::Released),
            Some(_) => None,
        }
    }

    /// Whether `caller` may read the released pixels of `collection` at `now` (sky maps made
    /// of them, such as its HiPS): anyone where its metadata and data are public, its rights
    /// holders always.
    pub fn data_visible(&self, caller: &Caller, collection: &str, now: DateTime<Utc>) -> bool {
        if self.outside(collection) {
            return false;
        }
        if self.unrestricted {
            return true;
        }
        match self.collections.get(collection) {
            None => true,
            Some(c) => {
                (c.metadata_public && c.data_public)
                    || membership_end(caller, &c.groups, now) == Some(None)
            }
        }
    }

    /// Of `tables` (`(schema, table)`), the qualified names `caller` may not name.
    pub fn hidden_tables<'a>(
        &self,
        caller: &Caller,
        tables: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> BTreeSet<String> {
        if self.tables.is_empty() {
            return BTreeSet::new();
        }
        tables
            .into_iter()
            .filter(|(s, t)| !self.table_visible(caller, s, t, now))
            .map(|(s, t)| format!("{s}.{t}"))
            .collect()
    }

    /// The SQL condition a row of ObsCore-like columns must meet for `caller` to see it (for
    /// `Access::Data`, to read its pixels) at `now`. `prefix` qualifies the two columns it
    /// reads, `obs_collection` and `obs_release_date` (`""` or `"o."`).
    pub fn row_condition(
        &self,
        caller: &Caller,
        access: Access,
        prefix: &str,
        dialect: Dialect,
        now: DateTime<Utc>,
    ) -> String {
        let condition = self.unbounded_row_condition(caller, access, prefix, dialect, now);
        let column = format!("{prefix}{}", ddl::quote_ident("obs_collection"));
        match self.release_bound(&column) {
            None => condition,
            // Bounded to no collection: nothing, whatever else holds.
            Some(bound) if self.within.as_ref().is_some_and(BTreeSet::is_empty) => bound,
            Some(bound) => format!("({bound} AND {condition})"),
        }
    }

    /// The condition keeping the rows whose `column` (an `obs_collection`) names a collection
    /// of the release this policy is bounded to; `None` when it is bounded to none.
    fn release_bound(&self, column: &str) -> Option<String> {
        let within = self.within.as_ref()?;
        let names: Vec<&str> = within.iter().map(String::as_str).collect();
        Some(if names.is_empty() {
            "1 = 0".to_string()
        } else {
            format!("{column} IN ({})", literals(&names))
        })
    }

    /// [`Rights::row_condition`] before the bound of a release.
    fn unbounded_row_condition(
        &self,
        caller: &Caller,
        access: Access,
        prefix: &str,
        dialect: Dialect,
        now: DateTime<Utc>,
    ) -> String {
        if self.unrestricted {
            return "1 = 1".into();
        }
        let collection = format!("{prefix}{}", ddl::quote_ident("obs_collection"));
        let release = format!("{prefix}{}", ddl::quote_ident("obs_release_date"));
        // Released means released by the start of the current minute: a row becomes visible
        // at most a minute after its release (never before), and the SQL text stays the same
        // for a minute, so the databases' statement caches keep working.
        let released_now = now
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(now);
        let released_by = |t: DateTime<Utc>, strict: bool| {
            format!(
                "({release} IS NULL OR {release} {} {})",
                if strict { "<" } else { "<=" },
                timestamp_literal(dialect, t)
            )
        };
        let public = |c: &CollectionRights| match access {
            Access::Metadata => c.metadata_public,
            Access::Data => c.data_public && c.metadata_public,
        };
        // Rights holders: everything of their collections, or what was released before their
        // membership ended.
        let mut whole: Vec<&str> = Vec::new();
        let mut ended: Vec<String> = Vec::new();
        for c in self.collections.values() {
            match membership_end(caller, &c.groups, now) {
                Some(None) => whole.push(&c.collection),
                Some(Some(end)) => ended.push(format!(
                    "({collection} = {} AND {})",
                    literal(&c.collection),
                    released_by(end, true)
                )),
                None => {}
            }
        }
        // Anyone: released rows of collections that are public for this access. Closed
        // collections the caller holds whole need not be left out here (they are visible
        // through the next alternative anyway), which keeps the SQL short for members.
        let closed: Vec<&str> = self
            .collections
            .values()
            .filter(|c| !public(c) && !whole.contains(&c.collection.as_str()))
            .map(|c| c.collection.as_str())
            .collect();
        let mut alternatives = vec![if closed.is_empty() {
            released_by(released_now, false)
        } else {
            format!(
                "({collection} NOT IN ({}) AND {})",
                literals(&closed),
                released_by(released_now, false)
            )
        }];
        alternatives.extend(ended);
        if !whole.is_empty() {
            alternatives.push(format!("{collection} IN ({})", literals(&whole)));
        }
        if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            format!("({})", alternatives.join(" OR "))
        }
    }
}

/// Everything of a caller and a moment that the conditions a policy writes for them depend
/// on ([`Rights::row_condition`], [`Rights::row_filter`], [`Rights::hidden_tables`],
/// [`Rights::table_visible`]): the minute (rows count as released by its start) and each
/// membership with its end and whether it has ended. Equal keys get equal conditions from the
/// same policy, so what was made from the conditions for one (a query's translation) may
/// serve the other; a membership that ends changes the key at that instant, not at the next
/// minute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RightsKey {
    minute: i64,
    memberships: Vec<(String, Option<DateTime<Utc>>, bool)>,
}

impl Rights {
    /// The [`RightsKey`] of `caller` at `now`.
    pub fn key(&self, caller: &Caller, now: DateTime<Utc>) -> RightsKey {
        RightsKey {
            minute: now.timestamp().div_euclid(60),
            memberships: caller
                .groups
                .iter()
                .map(|m| (m.group.clone(), m.ends, m.ends.is_none_or(|end| now < end)))
                .collect(),
        }
    }
}

/// A table a query may name, as [`Rights::row_filters`] needs to know it.
#[derive(Debug, Clone)]
pub struct TableShape<'a> {
    /// Schema name as declared.
    pub schema: &'a str,
    /// Table name as declared.
    pub table: &'a str,
    /// Its column names.
    pub columns: Vec<&'a str>,
}

impl TableShape<'_> {
    fn has_column(&self, name: &str) -> bool {
        self.columns.contains(&name)
    }
}

impl Rights {
    /// The condition table `t` needs so that `caller` sees only the rows they may at `now`
    /// (`None`: it needs none), over the table's columns written after `qualifier` (the ADQL
    /// translator's placeholder for the table's alias):
    /// - `ivoa.ObsCore` by [`Rights::row_condition`];
    /// - tables keyed by `obs_publisher_did` (the image tables) by their ObsCore row;
    /// - ConsDB tables (`cdb_<instrument>`) by exposure or detector-exposure: a row of an
    ///   exposure holding an image the caller may not see is hidden;
    /// - the exposure log (`exposurelog.message`) alike: a message about such an exposure is
    ///   hidden;
    /// - ObsLocTAP's plan (`ivoa.obsplan`) by collection: plans for a collection whose metadata
    ///   the caller may not see are hidden (a performed plan carries its exposures' times);
    /// - `TAP_SCHEMA` by `hidden` (tables the caller may not name).
    pub fn row_filter(
        &self,
        caller: &Caller,
        t: &TableShape<'_>,
        hidden: &BTreeSet<String>,
        dialect: Dialect,
        now: DateTime<Utc>,
        qualifier: &str,
    ) -> Option<String> {
        if self.unrestricted && self.within.is_none() {
            return None;
        }
        let obscore = || ddl::table_name(dialect, "ivoa", "ObsCore");
        let visible = || self.row_condition(caller, Access::Metadata, "o.", dialect, now);
        if t.schema == "ivoa" && t.table == "ObsCore" {
            Some(self.row_condition(caller, Access::Metadata, qualifier, dialect, now))
        } else if t.schema.eq_ignore_ascii_case("TAP_SCHEMA") {
            let by_name = tap_schema_filter(t, hidden, dialect, qualifier);
            let by_schema = self
                .within_schemas
                .as_ref()
                .and_then(|w| tap_schema_bound(t, w, dialect, qualifier));
            match (by_name, by_schema) {
                (Some(a), Some(b)) => Some(format!("({a}) AND ({b})")),
                (a, b) => a.or(b),
            }
        } else if t.has_column("obs_publisher_did") {
            Some(format!(
                "{qualifier}\"obs_publisher_did\" IN (SELECT o.\"obs_publisher_did\" FROM {} o WHERE {})",
                obscore(),
                visible()
            ))
        } else if t.schema == "ivoa" && t.table == "obsplan" {
            let column = format!("{qualifier}\"obs_collection\"");
            // Plans for a collection whose metadata the caller may not see are hidden.
            let closed: Vec<&str> = self
                .collections
                .values()
                .filter(|c| {
                    !self.unrestricted
                        && !c.metadata_public
                        && membership_end(caller, &c.groups, now) != Some(None)
                })
                .map(|c| c.collection.as_str())
                .collect();
            let open = (!closed.is_empty()).then(|| {
                format!(
                    "({column} IS NULL OR {column} NOT IN ({}))",
                    literals(&closed)
                )
            });
            // A release shows the plans of its own collections only.
            match (self.release_bound(&column), open) {
                (Some(b), Some(o)) => Some(format!("({b} AND {o})")),
                (b, o) => b.or(o),
            }
        } else if t.schema == "exposurelog"
            && t.has_column("exposure_id")
            && t.has_column("consdb_instrument")
        {
            Some(format!(
                "({qualifier}\"exposure_id\" IS NULL OR {qualifier}\"exposure_id\" NOT IN \
                 (SELECT e.\"exposure_id\" FROM {} e JOIN {} o \
                 ON o.\"obs_publisher_did\" = e.\"obs_publisher_did\" \
                 WHERE e.\"instrument\" = {qualifier}\"consdb_instrument\" AND ({}) IS NOT TRUE))",
                ddl::table_name(dialect, "skyport", "image_exposure"),
                obscore(),
                visible(),
            ))
        } else if let Some(instrument) = t.schema.strip_prefix("cdb_") {
            let id = |column: &str| t.has_column(column).then(|| column.to_string());
            let is_ccd = t.table.starts_with("ccd");
            // Which id of the relation the table's rows carry.
            let (column, of) = match (
                id("exposure_id").or_else(|| id("visit_id")),
                id("ccdexposure_id").or_else(|| id("ccdvisit_id")),
                id("obs_id"),
            ) {
                (Some(c), _, _) => (c, "exposure_id"),
                (None, Some(c), _) => (c, "ccdexposure_id"),
                (None, None, Some(c)) if is_ccd => (c, "ccdexposure_id"),
                (None, None, Some(c)) => (c, "exposure_id"),
                _ => return None,
            };
            Some(format!(
                "{qualifier}{} NOT IN (SELECT e.\"{of}\" FROM {} e JOIN {} o \
                 ON o.\"obs_publisher_did\" = e.\"obs_publisher_did\" \
                 WHERE e.\"instrument\" = {} AND e.\"{of}\" IS NOT NULL AND ({}) IS NOT TRUE)",
                ddl::quote_ident(&column),
                ddl::table_name(dialect, "skyport", "image_exposure"),
                obscore(),
                literal(instrument),
                visible(),
            ))
        } else {
            None
        }
    }
}

/// The condition keeping the TAP_SCHEMA rows that describe tables of `schemas` (and
/// TAP_SCHEMA's own).
fn tap_schema_bound(
    t: &TableShape<'_>,
    schemas: &BTreeSet<String>,
    dialect: Dialect,
    q: &str,
) -> Option<String> {
    let mut names: Vec<&str> = schemas.iter().map(String::as_str).collect();
    names.push("TAP_SCHEMA");
    let list = literals(&names);
    let tables = format!(
        "(SELECT s.\"table_name\" FROM {} s WHERE s.\"schema_name\" IN ({list}))",
        ddl::table_name(dialect, "TAP_SCHEMA", "tables")
    );
    tap_schema_rows(
        t,
        dialect,
        q,
        |column| format!("{column} IN {tables}"),
        Some(format!("IN ({list})")),
    )
}

/// The condition hiding the TAP_SCHEMA rows that describe `hidden` tables.
fn tap_schema_filter(
    t: &TableShape<'_>,
    hidden: &BTreeSet<String>,
    dialect: Dialect,
    q: &str,
) -> Option<String> {
    if hidden.is_empty() {
        return None;
    }
    // `schema.*` hides a whole schema (a user's, none of whose tables the caller may read):
    // its row in TAP_SCHEMA.schemas too.
    let schemas: Vec<&str> = hidden.iter().filter_map(|h| h.strip_suffix(".*")).collect();
    let names: Vec<&str> = hidden
        .iter()
        .filter(|h| !h.ends_with(".*"))
        .map(String::as_str)
        .collect();
    let by_table = (!names.is_empty()).then(|| literals(&names));
    let by_schema = (!schemas.is_empty()).then(|| literals(&schemas));
    let table_ok = |column: &str| match &by_table {
        Some(list) => format!("{column} NOT IN ({list})"),
        None => "1 = 1".to_string(),
    };
    let schema_column = format!("{q}\"schema_name\"");
    match (t.table.to_ascii_lowercase().as_str(), &by_schema) {
        ("schemas", Some(list)) => Some(format!("{schema_column} NOT IN ({list})")),
        ("tables", Some(list)) => Some(format!(
            "{schema_column} NOT IN ({list}) AND {}",
            table_ok(&format!("{q}\"table_name\""))
        )),
        _ if by_table.is_none() => None,
        _ => tap_schema_rows(t, dialect, q, table_ok, None),
    }
}

/// The condition on TAP_SCHEMA table `t` (alias placeholder `q`) keeping the rows whose
/// tables `table_ok` admits (a condition on a column holding a qualified table name) and, for
/// `schemas` and `tables`, whose schema `schema_ok` admits (a test written after the column).
fn tap_schema_rows(
    t: &TableShape<'_>,
    dialect: Dialect,
    q: &str,
    table_ok: impl Fn(&str) -> String,
    schema_ok: Option<String>,
) -> Option<String> {
    let by_schema = |what: &str| schema_ok.as_ref().map(|ok| format!("{what} {ok}"));
    match t.table.to_ascii_lowercase().as_str() {
        "schemas" => by_schema(&format!("{q}\"schema_name\"")),
        "tables" => Some(
            by_schema(&format!("{q}\"schema_name\""))
                .unwrap_or_else(|| table_ok(&format!("{q}\"table_name\""))),
        ),
        "columns" => Some(table_ok(&format!("{q}\"table_name\""))),
        "keys" => Some(format!(
            "{} AND {}",
            table_ok(&format!("{q}\"from_table\"")),
            table_ok(&format!("{q}\"target_table\""))
        )),
        "key_columns" => Some(format!(
            "{q}\"key_id\" IN (SELECT k.\"key_id\" FROM {} k WHERE {} AND {})",
            ddl::table_name(dialect, "TAP_SCHEMA", "keys"),
            table_ok("k.\"from_table\""),
            table_ok("k.\"target_table\"")
        )),
        _ => None,
    }
}

/// Whether `caller` is a member of `group` at `now`.
fn active_member(caller: &Caller, group: &str, now: DateTime<Utc>) -> bool {
    caller
        .groups
        .iter()
        .any(|m| m.group == group && m.ends.is_none_or(|end| now < end))
}

/// How `caller` belongs to any of `groups` at `now`: `Some(None)` fully (a membership that
/// has not ended), `Some(Some(end))` through memberships that ended, the latest at `end`;
/// `None` not at all.
fn membership_end(
    caller: &Caller,
    groups: &[String],
    now: DateTime<Utc>,
) -> Option<Option<DateTime<Utc>>> {
    let mut latest: Option<DateTime<Utc>> = None;
    for m in caller.groups.iter().filter(|m| groups.contains(&m.group)) {
        match m.ends {
            None => return Some(None),
            Some(end) if now < end => return Some(None),
            Some(end) => latest = Some(latest.map_or(end, |l| l.max(end))),
        }
    }
    latest.map(Some)
}

/// An SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn literals(texts: &[&str]) -> String {
    texts
        .iter()
        .map(|t| literal(t))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A timestamp as the backend compares it with a `timestamp` column: SQLite keeps ISO 8601
/// text (`T`, microseconds), so the literal has the same shape and compares as text.
fn timestamp_literal(dialect: Dialect, t: DateTime<Utc>) -> String {
    let text = t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    match dialect {
        Dialect::Sqlite => literal(&text),
        Dialect::Postgres => format!("TIMESTAMP {}", literal(&text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Membership;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn member(group: &str, ends: Option<&str>) -> Caller {
        Caller {
            user: Some("u".into()),
            groups: vec![Membership {
                group: group.into(),
                ends: ends.map(at),
            }],
            ..Caller::default()
        }
    }

    #[test]
    fn a_release_bounds_every_view_to_its_collections() {
        let now = at("2026-01-01T00:00:00Z");
        let team = member("team", None);
        let bounded = policy().within(["secret".to_string()]);
        // Its own collections as the policy says.
        assert!(bounded.data_visible(&team, "secret", now));
        assert!(!bounded.data_visible(&Caller::default(), "secret", now));
        // Any other: nothing, for anyone, the archive's own tools included.
        for rights in [
            bounded.clone(),
            Rights::unrestricted().within(["secret".to_string()]),
        ] {
            assert!(!rights.data_visible(&team, "public", now));
            assert!(rights.coverage_view(&team, "public", now).is_none());
        }
        let condition = bounded.row_condition(&team, Access::Metadata, "o.", Dialect::Sqlite, now);
        assert!(
            condition.starts_with("(o.\"obs_collection\" IN ('secret') AND "),
            "{condition}"
        );
        let none = policy().within(Vec::new());
        assert_eq!(
            none.row_condition(&team, Access::Data, "", Dialect::Postgres, now),
            "1 = 0"
        );
        let plan = TableShape {
            schema: "ivoa",
            table: "obsplan",
            columns: vec!["obs_collection"],
        };
        let filter = bounded
            .row_filter(&team, &plan, &BTreeSet::new(), Dialect::Sqlite, now, "p.")
            .expect("a release filters the plan");
        assert_eq!(filter, "p.\"obs_collection\" IN ('secret')");
    }

    fn policy() -> Rights {
        Rights::new(
            [CollectionRights {
                collection: "secret".into(),
                groups: vec!["team".into()],
                metadata_public: false,
                data_public: false,
            }],
            [("efd.*".to_string(), vec!["staff".to_string()])],
        )
    }

    #[test]
    fn coverage_maps_follow_the_rows_a_caller_sees() {
        use crate::coverage::CoverageView;
        let rights = policy();
        let now = at("2026-06-01T00:00:00Z");
        let anonymous = Caller::default();
        assert_eq!(rights.coverage_view(&anonymous, "secret", now), None);
        assert_eq!(
            rights.coverage_view(&member("team", None), "secret", now),
            Some(CoverageView::Everything)
        );
        // A membership that ended is no longer a holder's view.
        assert_eq!(
            rights.coverage_view(&member("team", Some("2026-01-01T00:00:00Z")), "secret", now),
            None
        );
        assert_eq!(
            rights.coverage_view(&anonymous, "open", now),
            Some(CoverageView::Released)
        );
        assert_eq!(
            Rights::unrestricted().coverage_view(&anonymous, "secret", now),
            Some(CoverageView::Everything)
        );
        assert!(!rights.data_visible(&anonymous, "secret", now));
        assert!(rights.data_visible(&member("team", None), "secret", now));
        assert!(rights.data_visible(&anonymous, "open", now));
    }

    #[test]
    fn tables_are_hidden_unless_a_membership_is_active() {
        let now = at("2026-01-01T00:00:00Z");
        let rights = policy();
        assert!(!rights.table_visible(&Caller::anonymous(), "efd", "exposure_efd", now));
        assert!(rights.table_visible(&member("staff", None), "efd", "exposure_efd", now));
        assert!(!rights.table_visible(
            &member("staff", Some("2025-06-01T00:00:00Z")),
            "efd",
            "exposure_efd",
            now
        ));
        assert!(rights.table_visible(&Caller::anonymous(), "ivoa", "ObsCore", now));
        let one = Rights::new(
            Vec::new(),
            [("cdb.quicklook".to_string(), vec!["staff".to_string()])],
        );
        assert!(!one.table_visible(&Caller::anonymous(), "cdb", "quicklook_history", now));
        assert!(one.table_visible(&member("staff", None), "cdb", "quicklook_history", now));
    }

    #[test]
    fn an_ended_membership_keeps_what_was_released_before_it() {
        let now = at("2026-01-01T00:00:00Z");
        let cond = policy().row_condition(
            &member("team", Some("2025-06-01T00:00:00Z")),
            Access::Metadata,
            "o.",
            Dialect::Sqlite,
            now,
        );
        assert!(
            cond.contains("o.\"obs_collection\" = 'secret' AND (o.\"obs_release_date\" IS NULL OR o.\"obs_release_date\" < '2025-06-01T00:00:00.000000')"),
            "{cond}"
        );
        let full = policy().row_condition(
            &member("team", None),
            Access::Data,
            "",
            Dialect::Postgres,
            now,
        );
        assert!(full.contains("\"obs_collection\" IN ('secret')"), "{full}");
        let anonymous = policy().row_condition(
            &Caller::anonymous(),
            Access::Metadata,
            "",
            Dialect::Sqlite,
            now,
        );
        assert!(
            !anonymous.contains("\"obs_collection\" IN ('secret')")
                && anonymous.contains("\"obs_collection\" NOT IN ('secret')"),
            "{anonymous}"
        );
    }

    /// Every condition the policy writes for a caller at a moment, as one text.
    fn conditions(rights: &Rights, caller: &Caller, now: DateTime<Utc>) -> String {
        let tables = [
            ("efd", "exposure_efd"),
            ("ivoa", "ObsCore"),
            ("cdb_latiss", "exposure"),
        ];
        let hidden = rights.hidden_tables(caller, tables, now);
        let shapes = [
            (
                "ivoa",
                "ObsCore",
                vec!["obs_collection", "obs_release_date"],
            ),
            ("ivoa", "obsplan", vec!["obs_collection"]),
            ("ivoa", "images", vec!["obs_publisher_did"]),
            ("cdb_latiss", "exposure", vec!["exposure_id"]),
            (
                "exposurelog",
                "message",
                vec!["exposure_id", "consdb_instrument"],
            ),
            ("TAP_SCHEMA", "tables", vec!["schema_name", "table_name"]),
        ];
        let mut all = format!("{hidden:?}");
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for access in [Access::Metadata, Access::Data] {
                all += &rights.row_condition(caller, access, "o.", dialect, now);
            }
            for (schema, table, columns) in &shapes {
                let shape = TableShape {
                    schema,
                    table,
                    columns: columns.clone(),
                };
                all += &format!(
                    "{:?}",
                    rights.row_filter(caller, &shape, &hidden, dialect, now, "t.")
                );
            }
        }
        all
    }

    #[test]
    fn equal_keys_give_equal_conditions() {
        let rights = policy();
        let both = Caller {
            user: Some("u".into()),
            groups: vec![
                Membership {
                    group: "team".into(),
                    ends: Some(at("2026-01-01T12:00:30Z")),
                },
                Membership {
                    group: "staff".into(),
                    ends: Some(at("2026-01-01T12:00:45Z")),
                },
            ],
            ..Caller::default()
        };
        let callers = [
            Caller::anonymous(),
            member("team", None),
            member("team", Some("2026-01-01T12:00:30Z")),
            member("staff", Some("2026-01-01T12:01:00Z")),
            both,
        ];
        // Every 5 s across three minutes, membership ends among them.
        let start = at("2026-01-01T11:59:00Z");
        let moments: Vec<_> = (0..36)
            .map(|i| start + chrono::Duration::seconds(5 * i) + chrono::Duration::milliseconds(i))
            .collect();
        let cases: Vec<_> = callers
            .iter()
            .enumerate()
            .flat_map(|(n, c)| moments.iter().map(move |t| (n, c, *t)))
            .map(|(n, c, t)| (n, rights.key(c, t), conditions(&rights, c, t)))
            .collect();
        let (mut same, mut told_apart) = (0, 0);
        for (i, (caller_a, key_a, a)) in cases.iter().enumerate() {
            for (caller_b, key_b, b) in &cases[i + 1..] {
                if key_a == key_b {
                    assert_eq!(a, b, "equal keys {key_a:?}, different conditions");
                    same += 1;
                } else if caller_a == caller_b && key_a.minute == key_b.minute && a != b {
                    // A membership ended within the minute: the key changed with it.
                    told_apart += 1;
                }
            }
        }
        // Most pairs within a minute share a key; the three ends inside 12:00 split theirs.
        assert!(same > 500 && told_apart >= 3, "{same} {told_apart}");
    }
}
