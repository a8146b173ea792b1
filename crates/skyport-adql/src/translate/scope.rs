//! What a query can name: the FROM items in scope (tables, CTEs, derived tables, columns
//! merged by USING/NATURAL), and the lookups that resolve table and column names in them,
//! innermost scope first so correlated subqueries see their outer queries.

use crate::ast::*;
use crate::catalogue::{ColumnMeta, SpatialIndex, TableInfo};
use crate::error::AdqlError;
use crate::resolved::{OutputName, RowId, Typed, Value};
use crate::suggest::closest;
use crate::types::AdqlType;

use super::{name_error, Translator};

/// A column visible through a FROM item.
#[derive(Debug, Clone)]
pub(super) struct SourceColumn {
    pub(super) name: String,
    pub(super) ty: AdqlType,
    pub(super) meta: std::sync::Arc<ColumnMeta>,
    /// The column as a value: a column of a FROM item, or for a column merged by a FULL JOIN,
    /// the COALESCE of both sides.
    pub(super) value: Value,
    /// Hidden from `*` and from qualified lookups' ambiguity (a USING duplicate).
    pub(super) merged_away: bool,
    /// Holds STC-S text (a region column), not a target geometry.
    pub(super) stcs_text: bool,
}

/// A FROM item as a query sees it.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// Correlation name, when the query gave one.
    pub(super) alias: Option<Ident>,
    /// Declared schema and table, for base tables.
    pub(super) table: Option<(String, String)>,
    pub(super) columns: Vec<SourceColumn>,
    /// How R*Tree pre-filters join this item (base tables).
    pub(super) rowid: Option<RowId>,
    pub(super) spatial: Option<SpatialIndex>,
    /// The columns an unordered listing of this base table is sorted by (empty: none).
    pub(super) listing_order: Vec<String>,
}

impl Source {
    /// Does a qualifier (`t`, `s.t`, `c.s.t`) name this source?
    fn named_by(&self, qualifier: &[Ident]) -> bool {
        match (&self.alias, qualifier) {
            (Some(a), [q]) => q.matches(&a.value),
            (Some(_), _) => false,
            (None, q) => match (&self.table, q) {
                (Some((_, t)), [qt]) => qt.matches(t),
                (Some((s, t)), [qs, qt]) | (Some((s, t)), [_, qs, qt]) => {
                    qs.matches(s) && qt.matches(t)
                }
                _ => false,
            },
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Scope {
    pub(super) sources: Vec<Source>,
    /// Columns merged by USING/NATURAL: found first for unqualified names.
    pub(super) merged: Vec<SourceColumn>,
    /// Row filters of this SELECT's tables, qualified by their aliases, to be ANDed into its
    /// WHERE clause.
    pub(super) inline_filters: Vec<String>,
}

pub(super) struct CteInfo {
    pub(super) name: Ident,
    pub(super) sql_name: String,
    pub(super) columns: Vec<OutColumn>,
}

#[derive(Debug, Clone)]
pub(super) struct OutColumn {
    pub(super) name: String,
    pub(super) delimited: bool,
    pub(super) ty: AdqlType,
    pub(super) meta: std::sync::Arc<ColumnMeta>,
    pub(super) region_column: bool,
}

impl<'a> Translator<'a> {
    pub(super) fn scope(&mut self) -> &mut Scope {
        if self.scopes.is_empty() {
            self.scopes.push(Scope::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    /// Records a USING/NATURAL column: found once, unqualified, and listed once by `*`.
    pub(super) fn merge_column(&mut self, u: &Ident, proto: &SourceColumn, value: Value) {
        let scope = self.scope();
        for src in scope.sources.iter_mut() {
            for c in src.columns.iter_mut() {
                if u.matches(&c.name) {
                    c.merged_away = true;
                }
            }
        }
        scope.merged.retain(|m| !u.matches(&m.name));
        scope.merged.push(SourceColumn {
            name: proto.name.clone(),
            ty: proto.ty,
            meta: proto.meta.clone(),
            value,
            merged_away: false,
            stcs_text: proto.stcs_text,
        });
    }

    pub(super) fn add_source(
        &mut self,
        source: Source,
        exposed: Option<&Ident>,
    ) -> Result<(), AdqlError> {
        let pos = exposed.map(|i| i.pos).unwrap_or_default();
        let scope = self.scope();
        let clash = scope
            .sources
            .iter()
            .any(|s| match (&s.alias, &source.alias) {
                (Some(a), Some(b)) => a.value.eq_ignore_ascii_case(&b.value),
                _ => false,
            });
        if clash {
            return Err(name_error(
                pos,
                format!(
                    "the name {} is given to two tables in one FROM",
                    exposed.map(|i| i.to_string()).unwrap_or_default()
                ),
            ));
        }
        scope.sources.push(source);
        Ok(())
    }

    /// The catalogue's tables less those hidden from this query.
    fn visible_tables(&self) -> impl Iterator<Item = &'a TableInfo> + '_ {
        let hidden = &self.options.hidden_tables;
        self.catalogue
            .tables()
            .iter()
            .filter(move |t| hidden.is_empty() || !hidden.contains(&t.qualified_name()))
    }

    pub(super) fn find_table(&self, name: &[Ident]) -> Result<&'a TableInfo, AdqlError> {
        let pos = name.first().map(|i| i.pos).unwrap_or_default();
        let (schema, table) = match name {
            [t] => (None, t),
            [s, t] => (Some(s), t),
            [_catalog, s, t] => (Some(s), t),
            _ => {
                return Err(AdqlError::syntax(
                    pos,
                    "a table name has one to three parts",
                ))
            }
        };
        let candidates: Vec<&TableInfo> = self
            .visible_tables()
            .filter(|ti| table.matches(&ti.name) && schema.is_none_or(|s| s.matches(&ti.schema)))
            .collect();
        match candidates.as_slice() {
            [one] => Ok(one),
            [] => {
                let display: Vec<String> = name.iter().map(|i| i.to_string()).collect();
                let known: Vec<String> =
                    self.visible_tables().map(|t| t.qualified_name()).collect();
                let wanted = display.join(".");
                Err(name_error(pos, format!("unknown table {wanted}"))
                    .with_hint(closest(&wanted, known.iter().map(String::as_str))))
            }
            many => Err(name_error(
                pos,
                format!(
                    "table {} is ambiguous: write one of {}",
                    table,
                    many.iter()
                        .map(|t| t.qualified_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    pub(super) fn find_source(&self, qualifier: &[Ident]) -> Result<&Source, AdqlError> {
        for scope in self.scopes.iter().rev() {
            let found: Vec<&Source> = scope
                .sources
                .iter()
                .filter(|s| s.named_by(qualifier))
                .collect();
            match found.as_slice() {
                [one] => return Ok(one),
                [] => continue,
                _ => {
                    return Err(name_error(
                        qualifier[0].pos,
                        format!(
                            "{} names more than one table here; give them different aliases",
                            dotted(qualifier)
                        ),
                    ))
                }
            }
        }
        let names: Vec<String> = self
            .scopes
            .iter()
            .flat_map(|s| s.sources.iter())
            .filter_map(|s| {
                s.alias
                    .as_ref()
                    .map(|a| a.value.clone())
                    .or_else(|| s.table.as_ref().map(|(_, t)| t.clone()))
            })
            .collect();
        Err(name_error(
            qualifier[0].pos,
            format!("{} is not a table in FROM", dotted(qualifier)),
        )
        .with_hint(closest(
            &dotted(qualifier),
            names.iter().map(String::as_str),
        )))
    }

    /// Resolves a column reference.
    pub(super) fn column(&mut self, parts: &[Ident]) -> Result<Typed, AdqlError> {
        let (qualifier, col) = parts.split_at(parts.len() - 1);
        let col = &col[0];
        let found = if qualifier.is_empty() {
            let mut hit: Option<SourceColumn> = None;
            'scopes: for scope in self.scopes.iter().rev() {
                if let Some(m) = scope.merged.iter().find(|m| col.matches(&m.name)) {
                    hit = Some(m.clone());
                    break;
                }
                let mut matches: Vec<&SourceColumn> = Vec::new();
                for src in &scope.sources {
                    if let Some(c) = src
                        .columns
                        .iter()
                        .find(|c| !c.merged_away && col.matches(&c.name))
                    {
                        matches.push(c);
                    }
                }
                match matches.as_slice() {
                    [one] => {
                        hit = Some((*one).clone());
                        break 'scopes;
                    }
                    [] => continue,
                    _ => {
                        return Err(name_error(
                            col.pos,
                            format!(
                                "column {col} is ambiguous: more than one table in FROM has it; qualify it (t.{col})"
                            ),
                        ))
                    }
                }
            }
            hit
        } else {
            let src = self.find_source(qualifier)?;
            src.columns.iter().find(|c| col.matches(&c.name)).cloned()
        };
        match found {
            Some(c) => Ok(c.to_typed()),
            None => {
                let visible: Vec<String> = self
                    .scopes
                    .iter()
                    .flat_map(|s| s.sources.iter().flat_map(|src| src.columns.iter()))
                    .map(|c| c.name.clone())
                    .collect();
                Err(
                    name_error(col.pos, format!("unknown column {}", dotted(parts)))
                        .with_hint(closest(&col.value, visible.iter().map(String::as_str))),
                )
            }
        }
    }

    /// The source a column reference resolves to (for spatial index use).
    pub(super) fn column_source(&self, parts: &[Ident]) -> Option<&Source> {
        let (qualifier, col) = parts.split_at(parts.len() - 1);
        let col = &col[0];
        for scope in self.scopes.iter().rev() {
            for src in &scope.sources {
                let named = qualifier.is_empty() || src.named_by(qualifier);
                if named && src.columns.iter().any(|c| col.matches(&c.name)) {
                    return Some(src);
                }
            }
        }
        None
    }
}

impl SourceColumn {
    /// The column as a value in an expression.
    pub(super) fn to_typed(&self) -> Typed {
        Typed {
            value: self.value.clone(),
            ty: self.ty,
            meta: self.meta.clone(),
            name: self.name.clone(),
            region_column: self.stcs_text,
        }
    }
}

/// The columns a subquery (derived table or CTE) shows under its alias: its generated
/// `_cN` names, with the names, types and metadata of its select list.
pub(super) fn columns_of_subquery(sql_alias: &str, cols: &[OutColumn]) -> Vec<SourceColumn> {
    cols.iter()
        .enumerate()
        .map(|(i, c)| SourceColumn {
            name: c.name.clone(),
            ty: c.ty,
            meta: c.meta.clone(),
            value: Value::Column {
                alias: sql_alias.to_string(),
                column: OutputName(i).to_string(),
            },
            merged_away: false,
            stcs_text: c.region_column,
        })
        .collect()
}

fn dotted(parts: &[Ident]) -> String {
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The column of a USING/NATURAL name on one side of a join.
pub(super) fn side_column(sources: &[Source], u: &Ident) -> Result<SourceColumn, AdqlError> {
    let hits: Vec<&SourceColumn> = sources
        .iter()
        .flat_map(|s| s.columns.iter())
        .filter(|c| u.matches(&c.name))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(name_error(
            u.pos,
            format!("USING ({u}): one side of the join has no such column"),
        )),
        _ => Err(name_error(
            u.pos,
            format!("USING ({u}): the column is ambiguous on one side of the join"),
        )),
    }
}
