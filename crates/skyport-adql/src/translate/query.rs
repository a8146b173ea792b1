//! Queries, set operations, SELECT lists and FROM items: the parts of a query that
//! shape rows, with every FROM item under a generated alias and every output column under a
//! generated name.

use crate::ast::*;
use crate::error::{AdqlError, Pos};
use crate::resolved::{self as r, RowId, Typed, Value};
use crate::types::AdqlType;

use super::scope::{
    columns_of_subquery, side_column, CteInfo, OutColumn, Scope, Source, SourceColumn,
};

use super::{name_error, type_error, unsupported, Translator};

impl<'a> Translator<'a> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("{prefix}{}", self.next_alias)
    }

    // ----- queries ---------------------------------------------------------------------------

    pub(super) fn query(
        &mut self,
        q: &Query,
        outermost: bool,
    ) -> Result<(r::Query, Vec<OutColumn>), AdqlError> {
        let ctes_before = self.ctes.len();
        let mut with = Vec::with_capacity(q.with.len());
        {
            for cte in &q.with {
                if self
                    .ctes
                    .iter()
                    .any(|c| c.name.value.eq_ignore_ascii_case(&cte.name.value))
                {
                    return Err(name_error(
                        cte.name.pos,
                        format!("WITH name {} is used twice", cte.name),
                    ));
                }
                let (body, mut cols) = self.query(&cte.query, false)?;
                if !cte.columns.is_empty() {
                    if cte.columns.len() != cols.len() {
                        return Err(name_error(
                            cte.name.pos,
                            format!(
                                "WITH {} names {} columns but its query gives {}",
                                cte.name,
                                cte.columns.len(),
                                cols.len()
                            ),
                        ));
                    }
                    for (c, n) in cols.iter_mut().zip(&cte.columns) {
                        c.name = n.value.clone();
                        c.delimited = n.delimited;
                    }
                }
                let sql_name = self.fresh("_w");
                with.push(r::Cte {
                    name: sql_name.clone(),
                    query: body,
                });
                self.ctes.push(CteInfo {
                    name: cte.name.clone(),
                    sql_name,
                    columns: cols,
                });
            }
        }
        // A plain SELECT takes the query's ORDER BY/OFFSET together with its own TOP.
        let (body, result) = match &q.body {
            SetExpr::Select(s) => {
                let (select, cols) = self.select(s, outermost, Some((&q.order_by, q.offset)))?;
                (r::QueryBody::Select(Box::new(select)), cols)
            }
            body => {
                let (operation, cols) = self.set_expr(body, outermost)?;
                let order_by = self.order_by_outputs(&q.order_by, &cols)?;
                let body = r::QueryBody::Set {
                    operation,
                    order_by,
                    offset: q.offset,
                };
                (body, cols)
            }
        };
        self.ctes.truncate(ctes_before);
        Ok((r::Query { with, body }, result))
    }

    /// ORDER BY over a set operation: ordinals or output column names.
    fn order_by_outputs(
        &mut self,
        items: &[OrderItem],
        cols: &[OutColumn],
    ) -> Result<Vec<(usize, bool)>, AdqlError> {
        let mut parts = Vec::new();
        for item in items {
            let idx = match item.expr.unnested() {
                Expr::Number { text, pos } => {
                    let n: usize = text.parse().map_err(|_| {
                        AdqlError::syntax(*pos, "ORDER BY takes a column number or name")
                    })?;
                    if n == 0 || n > cols.len() {
                        return Err(name_error(
                            *pos,
                            format!("ORDER BY {n}: the result has {} columns", cols.len()),
                        ));
                    }
                    n - 1
                }
                Expr::Column(parts) if parts.len() == 1 => cols
                    .iter()
                    .position(|c| parts[0].matches(&c.name))
                    .ok_or_else(|| {
                        name_error(
                            parts[0].pos,
                            format!("ORDER BY {}: not a result column", parts[0]),
                        )
                    })?,
                other => return Err(unsupported(
                    other.pos(),
                    "ORDER BY after UNION/INTERSECT/EXCEPT takes result column names or numbers",
                )),
            };
            parts.push((idx, item.descending));
        }
        Ok(parts)
    }

    fn set_expr(
        &mut self,
        s: &SetExpr,
        outermost: bool,
    ) -> Result<(r::SetExpr, Vec<OutColumn>), AdqlError> {
        match s {
            SetExpr::Select(sel) => {
                let (select, cols) = self.select(sel, outermost, None)?;
                if sel.top.is_some() {
                    let alias = self.fresh("_s");
                    let query = r::Query::of(r::QueryBody::Select(Box::new(select)));
                    let wrapped = r::SetExpr::Wrapped {
                        query: Box::new(query),
                        alias,
                    };
                    return Ok((wrapped, cols));
                }
                Ok((r::SetExpr::Select(Box::new(select)), cols))
            }
            SetExpr::Query(q) => {
                let (query, cols) = self.query(q, outermost)?;
                let alias = self.fresh("_s");
                let wrapped = r::SetExpr::Wrapped {
                    query: Box::new(query),
                    alias,
                };
                Ok((wrapped, cols))
            }
            SetExpr::Operation {
                op,
                all,
                left,
                right,
            } => {
                let (l, lcols) = self.set_expr(left, outermost)?;
                let (mut rr, rcols) = self.set_expr(right, outermost)?;
                if matches!(right.as_ref(), SetExpr::Operation { .. }) {
                    let alias = self.fresh("_s");
                    let query = r::Query::of(r::QueryBody::Set {
                        operation: rr,
                        order_by: Vec::new(),
                        offset: None,
                    });
                    rr = r::SetExpr::Wrapped {
                        query: Box::new(query),
                        alias,
                    };
                }
                let word = match op {
                    SetOp::Union => "UNION",
                    SetOp::Intersect => "INTERSECT",
                    SetOp::Except => "EXCEPT",
                };
                if lcols.len() != rcols.len() {
                    return Err(type_error(
                        Pos::default(),
                        format!(
                            "the operands of {word} have {} and {} columns; they must have the same number",
                            lcols.len(),
                            rcols.len()
                        ),
                    ));
                }
                let operation = r::SetExpr::Operation {
                    op: *op,
                    all: *all,
                    left: Box::new(l),
                    right: Box::new(rr),
                };
                Ok((operation, lcols))
            }
        }
    }

    /// Translates one SELECT. `tail` carries the enclosing query's ORDER BY and OFFSET when
    /// this SELECT is the whole body.
    fn select(
        &mut self,
        s: &Select,
        outermost: bool,
        tail: Option<(&Vec<OrderItem>, Option<u64>)>,
    ) -> Result<(r::Select, Vec<OutColumn>), AdqlError> {
        self.scopes.push(Scope::default());
        // A SELECT's own tables are never null-extended by a join around it.
        let nullable = std::mem::replace(&mut self.nullable, false);
        let result = self.select_in_scope(s, outermost, tail);
        self.nullable = nullable;
        self.scopes.pop();
        result
    }

    fn select_in_scope(
        &mut self,
        s: &Select,
        outermost: bool,
        tail: Option<(&Vec<OrderItem>, Option<u64>)>,
    ) -> Result<(r::Select, Vec<OutColumn>), AdqlError> {
        // FROM first: it defines the names the rest may use.
        let mut from = Vec::with_capacity(s.from.len());
        for item in &s.from {
            from.push(self.table_reference(item)?);
        }
        let mut list = SelectList::default();
        for item in &s.items {
            match item {
                SelectItem::Wildcard(pos) => {
                    let scope = self.scope();
                    if scope.sources.is_empty() {
                        return Err(name_error(*pos, "* with no table"));
                    }
                    let columns: Vec<SourceColumn> = scope
                        .merged
                        .iter()
                        .chain(scope.sources.iter().flat_map(|src| src.columns.iter()))
                        .filter(|c| !c.merged_away)
                        .cloned()
                        .collect();
                    for c in &columns {
                        self.push_item(&mut list, c.to_typed(), &c.name, true, outermost);
                    }
                }
                SelectItem::QualifiedWildcard(q) => {
                    let columns = self.find_source(q)?.columns.clone();
                    for c in &columns {
                        self.push_item(&mut list, c.to_typed(), &c.name, true, outermost);
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let typed = self.value(expr)?;
                    let (name, delimited) = match alias {
                        Some(a) => (a.value.clone(), a.delimited),
                        None => (typed.name.clone(), false),
                    };
                    self.push_item(&mut list, typed, &name, delimited, outermost);
                }
            }
        }
        let selection = match &s.selection {
            Some(w) => Some(self.condition(w)?),
            None => None,
        };
        // The row filters of this SELECT's own tables, ANDed into its WHERE: equivalent to
        // filtering each table first (none of them is null-extended), and cheaper to plan
        // than a subquery per table.
        let selection = std::mem::take(&mut self.scope().inline_filters)
            .into_iter()
            .map(r::Condition::Raw)
            .fold(selection, |acc, f| {
                Some(match acc {
                    None => f,
                    Some(c) => r::Condition::Logic {
                        and: true,
                        left: Box::new(r::Condition::Nested(Box::new(c))),
                        right: Box::new(f),
                    },
                })
            });
        let mut group_by = Vec::with_capacity(s.group_by.len());
        for g in &s.group_by {
            group_by.push(self.group_or_order_term(g, &list)?);
        }
        let having = match &s.having {
            Some(h) => Some(self.condition(h)?),
            None => None,
        };
        let mut order_by = Vec::new();
        let mut offset = None;
        if let Some((order, o)) = tail {
            for item in order {
                let term = self.group_or_order_term(&item.expr, &list)?;
                order_by.push((term, item.descending));
            }
            offset = o;
            if order.is_empty() && outermost && is_plain_listing(s) {
                order_by = self.listing_order();
            }
        }
        if list.items.len() > super::MAX_SELECT_ITEMS {
            return Err(unsupported(
                s.pos,
                format!(
                    "this SELECT gives {} columns; a SELECT may give at most {} (the databases' limit)",
                    list.items.len(),
                    super::MAX_SELECT_ITEMS
                ),
            ));
        }
        let select = r::Select {
            distinct: s.distinct,
            items: list.items,
            from,
            selection,
            group_by,
            having,
            order_by,
            limit: s.top,
            offset,
        };
        Ok((select, list.cols))
    }

    /// The declared listing order ([`crate::TableInfo::listing_order`]) of the one table
    /// this SELECT reads, as ORDER BY terms; empty when it has none.
    fn listing_order(&self) -> Vec<(Typed, bool)> {
        let Some([source]) = self.scopes.last().map(|s| s.sources.as_slice()) else {
            return Vec::new();
        };
        let mut terms = Vec::with_capacity(source.listing_order.len());
        for name in &source.listing_order {
            match source.columns.iter().find(|c| &c.name == name) {
                Some(c) => terms.push((c.to_typed(), false)),
                // A listing order that names a missing column is not applied at all: a
                // partial order would look deterministic without being so.
                None => return Vec::new(),
            }
        }
        terms
    }

    /// A GROUP BY or ORDER BY term: a column number, a select-list name, or an expression.
    fn group_or_order_term(&mut self, e: &Expr, list: &SelectList) -> Result<Typed, AdqlError> {
        let cols = &list.cols;
        match e.unnested() {
            Expr::Number { text, pos } if !text.contains(['.', 'e', 'E']) => {
                let n: usize = text
                    .parse()
                    .map_err(|_| AdqlError::syntax(*pos, "a column number is too large"))?;
                if n == 0 || n > cols.len() {
                    return Err(name_error(
                        *pos,
                        format!(
                            "column number {n}: the select list has {} columns",
                            cols.len()
                        ),
                    ));
                }
                Ok(list.typed[n - 1].clone())
            }
            Expr::Column(parts) if parts.len() == 1 => {
                // A column of the tables wins; otherwise a select-list alias.
                match self.column(parts) {
                    Ok(t) => Ok(t),
                    Err(err) => {
                        let found = cols.iter().position(|c| {
                            if c.delimited && parts[0].delimited {
                                c.name == parts[0].value
                            } else {
                                parts[0].matches(&c.name)
                            }
                        });
                        match found {
                            Some(i) => Ok(list.typed[i].clone()),
                            None => Err(err),
                        }
                    }
                }
            }
            _ => self.value(e),
        }
    }

    /// Adds one select item: its SQL under a generated name, its result column (FIELD
    /// metadata from the column, or from the type for computed values), and its typed value
    /// for ORDER BY/GROUP BY to refer back to.
    fn push_item(
        &self,
        list: &mut SelectList,
        typed: Typed,
        name: &str,
        delimited: bool,
        outermost: bool,
    ) {
        list.items.push(if outermost {
            output_geometry(&typed)
        } else {
            typed.clone()
        });
        let mut meta = typed.meta.clone();
        if meta.datatype.is_empty() {
            let field = typed.ty.field();
            let typed_meta = std::sync::Arc::make_mut(&mut meta);
            typed_meta.datatype = field.datatype;
            typed_meta.arraysize = field.arraysize;
            typed_meta.xtype = field.xtype;
        }
        list.cols.push(OutColumn {
            name: name.to_string(),
            delimited,
            ty: typed.ty,
            meta,
            region_column: typed.region_column,
        });
        list.typed.push(typed);
    }

    // ----- FROM ------------------------------------------------------------------------------

    fn table_reference(&mut self, item: &FromItem) -> Result<r::From, AdqlError> {
        match item {
            FromItem::Table { name, alias } => {
                let (from, source) = self.table_source(name, alias.as_ref())?;
                self.add_source(source, alias.as_ref().or(name.last()))?;
                Ok(from)
            }
            FromItem::Derived { query, alias } => {
                // A derived table sees outer names only through the enclosing scopes.
                let (inner, cols) = self.query(query, false)?;
                let sql_alias = self.fresh("_t");
                let columns = columns_of_subquery(&sql_alias, &cols);
                self.add_source(
                    Source {
                        alias: Some(alias.clone()),
                        table: None,
                        columns,
                        rowid: None,
                        spatial: None,
                        listing_order: Vec::new(),
                    },
                    Some(alias),
                )?;
                Ok(r::From::Derived {
                    query: Box::new(inner),
                    alias: sql_alias,
                })
            }
            FromItem::Nested(inner) => Ok(r::From::Nested(Box::new(self.table_reference(inner)?))),
            FromItem::Join {
                left,
                right,
                kind,
                natural,
                condition,
            } => {
                let before = self.scope().sources.len();
                // Which side an outer join may null-extend: a filter there must stay with its
                // table (a subquery), or the WHERE clause would drop the extended rows.
                let (left_nullable, right_nullable) = match kind {
                    JoinKind::Inner => (false, false),
                    JoinKind::Left => (false, true),
                    JoinKind::Right => (true, false),
                    JoinKind::Full => (true, true),
                };
                let outer = self.nullable;
                self.nullable = outer || left_nullable;
                let l = self.table_reference(left);
                self.nullable = outer;
                let l = l?;
                let mid = self.scope().sources.len();
                self.nullable = outer || right_nullable;
                let rr = self.table_reference(right);
                self.nullable = outer;
                let rr = rr?;
                let left_sources: Vec<Source> = self.scope().sources[before..mid].to_vec();
                let right_sources: Vec<Source> = self.scope().sources[mid..].to_vec();
                let using: Vec<Ident> = match condition {
                    JoinCondition::Using(cols) => cols.clone(),
                    _ if *natural => {
                        // Common column names of the two sides.
                        let mut common = Vec::new();
                        for ls in &left_sources {
                            for lc in ls.columns.iter().filter(|c| !c.merged_away) {
                                let in_right = right_sources.iter().any(|rs| {
                                    rs.columns
                                        .iter()
                                        .any(|rc| rc.name.eq_ignore_ascii_case(&lc.name))
                                });
                                if in_right
                                    && !common
                                        .iter()
                                        .any(|c: &Ident| c.value.eq_ignore_ascii_case(&lc.name))
                                {
                                    common.push(Ident {
                                        value: lc.name.clone(),
                                        delimited: false,
                                        pos: Pos::default(),
                                    });
                                }
                            }
                        }
                        common
                    }
                    _ => Vec::new(),
                };
                let on = match condition {
                    JoinCondition::On(c) => Some(r::JoinOn::Condition(self.condition(c)?)),
                    _ if !using.is_empty() || *natural => {
                        let mut eqs = Vec::new();
                        for u in &using {
                            let lc = side_column(&left_sources, u)?;
                            let rc = side_column(&right_sources, u)?;
                            let (lt, rt) = (lc.to_typed(), rc.to_typed());
                            let merged = match kind {
                                JoinKind::Inner | JoinKind::Left => lc.value.clone(),
                                JoinKind::Right => rc.value.clone(),
                                JoinKind::Full => Value::Coalesce(vec![lt.clone(), rt.clone()]),
                            };
                            eqs.push((lt, rt));
                            self.merge_column(u, &lc, merged);
                        }
                        Some(r::JoinOn::Using(eqs))
                    }
                    _ => None,
                };
                Ok(r::From::Join {
                    left: Box::new(l),
                    right: Box::new(rr),
                    kind: *kind,
                    on,
                })
            }
        }
    }

    /// The SQL and the scope entry for a table name in FROM (a CTE or a catalogue table).
    fn table_source(
        &mut self,
        name: &[Ident],
        alias: Option<&Ident>,
    ) -> Result<(r::From, Source), AdqlError> {
        let sql_alias = self.fresh("_t");
        if let [one] = name {
            if let Some(cte) = self.ctes.iter().rev().find(|c| one.matches(&c.name.value)) {
                let columns = columns_of_subquery(&sql_alias, &cte.columns);
                let from = r::From::Cte {
                    name: cte.sql_name.clone(),
                    alias: sql_alias.clone(),
                };
                return Ok((
                    from,
                    Source {
                        alias: Some(alias.cloned().unwrap_or_else(|| one.clone())),
                        table: None,
                        columns,
                        rowid: None,
                        spatial: None,
                        listing_order: Vec::new(),
                    },
                ));
            }
        }
        self.tables_named += 1;
        if self.tables_named > super::MAX_TABLE_REFERENCES {
            return Err(unsupported(
                name.first().map(|i| i.pos).unwrap_or_default(),
                format!(
                    "the query names tables more than {} times; join fewer tables at once",
                    super::MAX_TABLE_REFERENCES
                ),
            ));
        }
        let table = self.find_table(name)?;
        let qualified_name = table.qualified_name();
        let asked = self
            .options
            .row_filter
            .as_ref()
            .and_then(|source| (source.0)(&qualified_name));
        let filter = match asked {
            Some(f) if !self.nullable => {
                let qualified = f.replace(super::ROW_FILTER_TABLE, &format!("{sql_alias}."));
                self.scope().inline_filters.push(qualified);
                None
            }
            Some(f) => Some(f.replace(super::ROW_FILTER_TABLE, "")),
            None => None,
        };
        let from = r::From::Table {
            schema: table.schema.clone(),
            table: table.name.clone(),
            alias: sql_alias.clone(),
            filter: filter.clone(),
            keep_rowid: table.spatial.is_some(),
        };
        let rowid = table.spatial.is_some().then(|| RowId {
            alias: sql_alias.clone(),
            filtered: filter.is_some(),
        });
        let columns = table
            .columns
            .iter()
            .map(|c| {
                let stored = Value::Column {
                    alias: sql_alias.clone(),
                    column: c.name.clone(),
                };
                let value = match &c.url_base {
                    // The base before the stored relative link: what every clause sees.
                    Some(base) => Value::Concat(
                        Box::new(Typed::new(Value::String(base.clone()), c.ty, &c.name)),
                        Box::new(Typed::new(stored, c.ty, &c.name)),
                    ),
                    None => stored,
                };
                SourceColumn {
                    name: c.name.clone(),
                    ty: c.ty,
                    meta: c.meta.clone(),
                    value,
                    merged_away: false,
                    stcs_text: c.ty == AdqlType::Region,
                }
            })
            .collect();
        Ok((
            from,
            Source {
                alias: alias.cloned(),
                table: Some((table.schema.clone(), table.name.clone())),
                columns,
                rowid,
                spatial: table.spatial.clone(),
                listing_order: table.listing_order.clone(),
            },
        ))
    }
}

/// A SELECT list being built.
#[derive(Default)]
struct SelectList {
    /// The items as output (`_c0`, `_c1`…), geometries as text in the outermost list.
    items: Vec<Typed>,
    /// The result columns.
    cols: Vec<OutColumn>,
    /// The translated values, for ORDER BY/GROUP BY by number or name.
    typed: Vec<Typed>,
}

/// How a value leaves the outermost select list: geometries as DALI text.
fn output_geometry(t: &Typed) -> Typed {
    let wrap = |value: Value| {
        let mut out = Typed::new(value, t.ty, &t.name);
        out.meta = t.meta.clone();
        out
    };
    match (t.ty, t.region_column) {
        (AdqlType::Point | AdqlType::Circle | AdqlType::Polygon, _) => {
            wrap(Value::DaliText(Box::new(t.clone())))
        }
        // A region column already holds the STC-S text.
        (AdqlType::Region, false) => wrap(Value::StcsText(Box::new(t.clone()))),
        _ => t.clone(),
    }
}

/// Whether a SELECT lists rows of one table as they are, so that sorting them by the table's
/// listing order changes nothing but their order: one table, plain columns, no grouping,
/// aggregates or DISTINCT (under which an ORDER BY term must be a selected one).
fn is_plain_listing(s: &Select) -> bool {
    matches!(s.from.as_slice(), [FromItem::Table { .. }])
        && !s.distinct
        && s.group_by.is_empty()
        && s.having.is_none()
        && s.items.iter().all(|item| match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_) => true,
            SelectItem::Expr { expr, .. } => matches!(expr.unnested(), Expr::Column(_)),
        })
}
