//! Queries, set operations, SELECT lists and FROM items: the parts of a query that
//! shape rows, with every FROM item under a generated alias and every output column under a
//! generated name.

use std::fmt::Write;

use crate::ast::*;
use crate::error::{AdqlError, Pos};
use crate::print::quote;
use crate::types::AdqlType;

use super::scope::{
    columns_of_subquery, side_column, CteInfo, OutColumn, Scope, Source, SourceColumn,
};
use crate::resolved::{RowId, Typed, Value};

use super::{name_error, type_error, unsupported, Translator};

impl<'a> Translator<'a> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("{prefix}{}", self.next_alias)
    }

    /// A sort direction: both targets are told to put NULLs in the same place, so they
    /// return rows in the same order.
    fn direction(&self, descending: bool) -> &'static str {
        self.printer.direction(descending)
    }

    // ----- queries ---------------------------------------------------------------------------

    pub(super) fn query(
        &mut self,
        q: &Query,
        outermost: bool,
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        let ctes_before = self.ctes.len();
        let mut sql = String::new();
        if !q.with.is_empty() {
            sql.push_str("WITH ");
            for (i, cte) in q.with.iter().enumerate() {
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
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "{sql_name} AS ({body})");
                self.ctes.push(CteInfo {
                    name: cte.name.clone(),
                    sql_name,
                    columns: cols,
                });
            }
            sql.push(' ');
        }
        // A plain SELECT takes the query's ORDER BY/OFFSET together with its own TOP.
        let result = match &q.body {
            SetExpr::Select(s) => {
                let (body, cols) = self.select(s, outermost, Some((&q.order_by, q.offset)))?;
                sql.push_str(&body);
                cols
            }
            body => {
                let (text, cols) = self.set_expr(body, outermost)?;
                sql.push_str(&text);
                let order = self.order_by_outputs(&q.order_by, &cols)?;
                sql.push_str(&order);
                if let Some(n) = q.offset {
                    sql.push_str(&self.printer.offset_only(n));
                }
                cols
            }
        };
        self.ctes.truncate(ctes_before);
        Ok((sql, result))
    }

    /// ORDER BY over a set operation: ordinals or output column names.
    fn order_by_outputs(
        &mut self,
        items: &[OrderItem],
        cols: &[OutColumn],
    ) -> Result<String, AdqlError> {
        if items.is_empty() {
            return Ok(String::new());
        }
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
            parts.push(format!(
                "{}{}",
                quote(&format!("_c{idx}")),
                self.direction(item.descending)
            ));
        }
        Ok(format!(" ORDER BY {}", parts.join(", ")))
    }

    fn set_expr(
        &mut self,
        s: &SetExpr,
        outermost: bool,
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        match s {
            SetExpr::Select(sel) => {
                let (sql, cols) = self.select(sel, outermost, None)?;
                if sel.top.is_some() {
                    let alias = self.fresh("_s");
                    return Ok((format!("SELECT * FROM ({sql}) AS {alias}"), cols));
                }
                Ok((sql, cols))
            }
            SetExpr::Query(q) => {
                let (sql, cols) = self.query(q, outermost)?;
                let alias = self.fresh("_s");
                Ok((format!("SELECT * FROM ({sql}) AS {alias}"), cols))
            }
            SetExpr::Operation {
                op,
                all,
                left,
                right,
            } => {
                let (l, lcols) = self.set_expr(left, outermost)?;
                let (mut r, rcols) = self.set_expr(right, outermost)?;
                if matches!(right.as_ref(), SetExpr::Operation { .. }) {
                    let alias = self.fresh("_s");
                    r = format!("SELECT * FROM ({r}) AS {alias}");
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
                Ok((
                    format!("{l} {word}{} {r}", if *all { " ALL" } else { "" }),
                    lcols,
                ))
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
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        self.scopes.push(Scope::default());
        let result = self.select_in_scope(s, outermost, tail);
        self.scopes.pop();
        result
    }

    fn select_in_scope(
        &mut self,
        s: &Select,
        outermost: bool,
        tail: Option<(&Vec<OrderItem>, Option<u64>)>,
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        // FROM first: it defines the names the rest may use.
        let mut from_sql = Vec::new();
        for item in &s.from {
            from_sql.push(self.table_reference(item)?);
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
        let mut sql = String::from("SELECT ");
        if s.distinct {
            sql.push_str("DISTINCT ");
        }
        sql.push_str(&list.sql.join(", "));
        sql.push_str(" FROM ");
        sql.push_str(&from_sql.join(", "));
        if let Some(w) = &s.selection {
            let _ = write!(sql, " WHERE {}", self.condition_sql(w)?);
        }
        if !s.group_by.is_empty() {
            let mut parts = Vec::new();
            for g in &s.group_by {
                parts.push(self.group_or_order_term(g, &list)?);
            }
            let _ = write!(sql, " GROUP BY {}", parts.join(", "));
        }
        if let Some(h) = &s.having {
            let _ = write!(sql, " HAVING {}", self.condition_sql(h)?);
        }
        if let Some((order, offset)) = tail {
            if !order.is_empty() {
                let mut parts = Vec::new();
                for o in order {
                    let term = self.group_or_order_term(&o.expr, &list)?;
                    parts.push(format!("{term}{}", self.direction(o.descending)));
                }
                let _ = write!(sql, " ORDER BY {}", parts.join(", "));
            }
            match (s.top, offset) {
                (Some(n), Some(o)) => {
                    let _ = write!(sql, " LIMIT {n} OFFSET {o}");
                }
                (Some(n), None) => {
                    let _ = write!(sql, " LIMIT {n}");
                }
                (None, Some(o)) => sql.push_str(&self.printer.offset_only(o)),
                (None, None) => {}
            }
        } else if let Some(n) = s.top {
            let _ = write!(sql, " LIMIT {n}");
        }
        Ok((sql, list.cols))
    }

    /// A GROUP BY or ORDER BY term: a column number, a select-list name, or an expression.
    fn group_or_order_term(&mut self, e: &Expr, list: &SelectList) -> Result<String, AdqlError> {
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
                Ok(self.sql(&list.typed[n - 1]))
            }
            Expr::Column(parts) if parts.len() == 1 => {
                // A column of the tables wins; otherwise a select-list alias.
                match self.column(parts) {
                    Ok(t) => Ok(self.sql(&t)),
                    Err(err) => {
                        let found = cols.iter().position(|c| {
                            if c.delimited && parts[0].delimited {
                                c.name == parts[0].value
                            } else {
                                parts[0].matches(&c.name)
                            }
                        });
                        match found {
                            Some(i) => Ok(self.sql(&list.typed[i])),
                            None => Err(err),
                        }
                    }
                }
            }
            _ => {
                let t = self.value(e)?;
                Ok(self.sql(&t))
            }
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
        let sql = if outermost {
            self.output_geometry(&typed)
        } else {
            self.sql(&typed)
        };
        list.sql.push(format!(
            "{sql} AS {}",
            quote(&format!("_c{}", list.cols.len()))
        ));
        let mut meta = typed.meta.clone();
        if meta.datatype.is_empty() {
            let field = typed.ty.field();
            meta.datatype = field.datatype;
            meta.arraysize = field.arraysize;
            meta.xtype = field.xtype;
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

    /// How a value leaves the outermost select list: geometries as DALI text.
    fn output_geometry(&self, t: &Typed) -> String {
        match (t.ty, t.region_column) {
            (AdqlType::Point | AdqlType::Circle | AdqlType::Polygon, _) => {
                self.printer.dali_text(&self.sql(t))
            }
            // A region column already holds the STC-S text.
            (AdqlType::Region, false) => self.printer.stcs_text(&self.sql(t)),
            _ => self.sql(t),
        }
    }

    // ----- FROM ------------------------------------------------------------------------------

    fn table_reference(&mut self, item: &FromItem) -> Result<String, AdqlError> {
        match item {
            FromItem::Table { name, alias } => {
                let (sql, source) = self.table_source(name, alias.as_ref())?;
                self.add_source(source, alias.as_ref().or(name.last()))?;
                Ok(sql)
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
                    },
                    Some(alias),
                )?;
                Ok(format!("({inner}) AS {sql_alias}"))
            }
            FromItem::Nested(inner) => Ok(format!("({})", self.table_reference(inner)?)),
            FromItem::Join {
                left,
                right,
                kind,
                natural,
                condition,
            } => {
                let before = self.scope().sources.len();
                let l = self.table_reference(left)?;
                let mid = self.scope().sources.len();
                let r = self.table_reference(right)?;
                let left_sources: Vec<Source> = self.scope().sources[before..mid].to_vec();
                let right_sources: Vec<Source> = self.scope().sources[mid..].to_vec();
                let join_word = match kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::Left => "LEFT JOIN",
                    JoinKind::Right => "RIGHT JOIN",
                    JoinKind::Full => "FULL JOIN",
                };
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
                    JoinCondition::On(c) => Some(self.condition_sql(c)?),
                    _ if !using.is_empty() || *natural => {
                        let mut eqs = Vec::new();
                        for u in &using {
                            let lc = side_column(&left_sources, u)?;
                            let rc = side_column(&right_sources, u)?;
                            let (lt, rt) = (lc.to_typed(), rc.to_typed());
                            eqs.push(format!("{} = {}", self.sql(&lt), self.sql(&rt)));
                            let merged = match kind {
                                JoinKind::Inner | JoinKind::Left => lc.value.clone(),
                                JoinKind::Right => rc.value.clone(),
                                JoinKind::Full => Value::Coalesce(vec![lt, rt]),
                            };
                            self.merge_column(u, &lc, merged);
                        }
                        if eqs.is_empty() {
                            Some("1 = 1".to_string())
                        } else {
                            Some(eqs.join(" AND "))
                        }
                    }
                    _ => None,
                };
                Ok(match on {
                    Some(on) => format!("{l} {join_word} {r} ON {on}"),
                    None => match kind {
                        JoinKind::Inner => format!("{l} CROSS JOIN {r}"),
                        _ => format!("{l} {join_word} {r} ON 1 = 1"),
                    },
                })
            }
        }
    }

    /// The SQL and the scope entry for a table name in FROM (a CTE or a catalogue table).
    fn table_source(
        &mut self,
        name: &[Ident],
        alias: Option<&Ident>,
    ) -> Result<(String, Source), AdqlError> {
        let sql_alias = self.fresh("_t");
        if let [one] = name {
            if let Some(cte) = self.ctes.iter().rev().find(|c| one.matches(&c.name.value)) {
                let columns = columns_of_subquery(&sql_alias, &cte.columns);
                let sql = format!("{} AS {sql_alias}", cte.sql_name);
                return Ok((
                    sql,
                    Source {
                        alias: Some(alias.cloned().unwrap_or_else(|| one.clone())),
                        table: None,
                        columns,
                        rowid: None,
                        spatial: None,
                    },
                ));
            }
        }
        let table = self.find_table(name)?.clone();
        let base = self.printer.table_name(&table.schema, &table.name);
        let filter = self.options.row_filters.get(&table.qualified_name());
        let sql = self
            .printer
            .table_ref(&base, &sql_alias, filter.map(String::as_str));
        let rowid = Some(RowId {
            alias: sql_alias.clone(),
            filtered: filter.is_some(),
        });
        let columns = table
            .columns
            .iter()
            .map(|c| SourceColumn {
                name: c.name.clone(),
                ty: c.ty,
                meta: c.meta.clone(),
                value: Value::Column {
                    alias: sql_alias.clone(),
                    column: c.name.clone(),
                },
                merged_away: false,
                stcs_text: c.ty == AdqlType::Region,
            })
            .collect();
        Ok((
            sql,
            Source {
                alias: alias.cloned(),
                table: Some((table.schema.clone(), table.name.clone())),
                columns,
                rowid,
                spatial: table.spatial.clone(),
            },
        ))
    }
}

/// A SELECT list being built.
#[derive(Default)]
struct SelectList {
    /// `expr AS "_cN"` items.
    sql: Vec<String>,
    /// The result columns.
    cols: Vec<OutColumn>,
    /// The translated values, for ORDER BY/GROUP BY by number or name.
    typed: Vec<Typed>,
}
