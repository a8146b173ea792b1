//! Queries, set operations, SELECT lists, names and FROM items: sqlparser's query nodes
//! converted to ADQL's, and everything ADQL's query grammar lacks refused.

use sqlparser::ast as sql;

use crate::ast::*;
use crate::error::{AdqlError, Pos};
use crate::lexical::is_reserved;

use super::{node_name, not_adql, query_start, set_expr_start, span_pos, Converter};

impl Converter {
    pub(super) fn query(&mut self, q: &sql::Query, top_level: bool) -> Result<Query, AdqlError> {
        let pos = query_start(q);
        self.enter(pos)?;
        if q.fetch.is_some() {
            return Err(not_adql(pos, "FETCH"));
        }
        if !q.locks.is_empty() || q.for_clause.is_some() {
            return Err(not_adql(pos, "FOR UPDATE/FOR XML"));
        }
        if q.settings.is_some() || q.format_clause.is_some() || !q.pipe_operators.is_empty() {
            return Err(not_adql(pos, "this query clause"));
        }
        let mut with = Vec::new();
        if let Some(w) = &q.with {
            let wpos = Pos::from_location(w.with_token.0.span.start);
            if !top_level {
                return Err(AdqlError::syntax(
                    wpos,
                    "WITH is allowed only at the start of the whole query, not in a subquery or set operand",
                ));
            }
            if w.recursive {
                return Err(not_adql(wpos, "WITH RECURSIVE"));
            }
            for cte in &w.cte_tables {
                if cte.from.is_some() || cte.materialized.is_some() {
                    return Err(not_adql(wpos, "this WITH option"));
                }
                let name = self.ident(&cte.alias.name)?;
                let mut columns = Vec::new();
                for c in &cte.alias.columns {
                    if c.data_type.is_some() {
                        return Err(not_adql(
                            Pos::from_location(c.name.span.start),
                            "a typed WITH column",
                        ));
                    }
                    columns.push(self.ident(&c.name)?);
                }
                with.push(Cte {
                    name,
                    columns,
                    query: Box::new(self.query(&cte.query, false)?),
                });
            }
        }
        let body = self.set_expr(&q.body)?;
        let mut order_by = Vec::new();
        if let Some(ob) = &q.order_by {
            if ob.interpolate.is_some() {
                return Err(not_adql(pos, "INTERPOLATE"));
            }
            match &ob.kind {
                sql::OrderByKind::All(_) => return Err(not_adql(pos, "ORDER BY ALL")),
                sql::OrderByKind::Expressions(items) => {
                    for item in items {
                        let ipos = span_pos(&item.expr);
                        if item.with_fill.is_some() || item.options.nulls_first.is_some() {
                            return Err(not_adql(ipos, "NULLS FIRST/LAST"));
                        }
                        let descending = match &item.options.sort {
                            None | Some(sql::OrderBySort::Asc) => false,
                            Some(sql::OrderBySort::Desc) => true,
                            Some(sql::OrderBySort::Using(_)) => {
                                return Err(not_adql(ipos, "ORDER BY … USING"))
                            }
                        };
                        order_by.push(OrderItem {
                            expr: self.value(&item.expr)?,
                            descending,
                        });
                    }
                }
            }
        }
        let mut offset = None;
        if let Some(limit) = &q.limit_clause {
            match limit {
                sql::LimitClause::LimitOffset {
                    limit: None,
                    offset: Some(o),
                    limit_by,
                } if limit_by.is_empty() && matches!(o.rows, sql::OffsetRows::None) => {
                    offset = Some(self.unsigned_integer(&o.value, "OFFSET")?);
                }
                _ => {
                    return Err(AdqlError::syntax(
                        pos,
                        "LIMIT is not ADQL: write SELECT TOP n (and OFFSET n after ORDER BY)",
                    ))
                }
            }
        }
        self.depth -= 1;
        Ok(Query {
            with,
            body,
            order_by,
            offset,
        })
    }

    pub(super) fn unsigned_integer(
        &mut self,
        e: &sql::Expr,
        clause: &str,
    ) -> Result<u64, AdqlError> {
        if let sql::Expr::Value(v) = e {
            if let sql::Value::Number(text, false) = &v.value {
                if let Ok(n) = text.parse::<u64>() {
                    return Ok(n);
                }
            }
        }
        Err(AdqlError::syntax(
            span_pos(e),
            format!("{clause} needs a non-negative whole number, found `{e}`"),
        ))
    }

    pub(super) fn set_expr(&mut self, s: &sql::SetExpr) -> Result<SetExpr, AdqlError> {
        match s {
            sql::SetExpr::Select(select) => Ok(SetExpr::Select(Box::new(self.select(select)?))),
            sql::SetExpr::Query(q) => Ok(SetExpr::Query(Box::new(self.query(q, false)?))),
            sql::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let pos = set_expr_start(s);
                let op = match op {
                    sql::SetOperator::Union => SetOp::Union,
                    sql::SetOperator::Intersect => SetOp::Intersect,
                    sql::SetOperator::Except => SetOp::Except,
                    sql::SetOperator::Minus => return Err(not_adql(pos, "MINUS (write EXCEPT)")),
                };
                let all = match set_quantifier {
                    sql::SetQuantifier::None => false,
                    sql::SetQuantifier::All => true,
                    other => return Err(not_adql(pos, &format!("{op:?} {other}"))),
                };
                Ok(SetExpr::Operation {
                    op,
                    all,
                    left: Box::new(self.set_expr(left)?),
                    right: Box::new(self.set_expr(right)?),
                })
            }
            other => Err(not_adql(
                span_pos(other),
                &node_name(format!("{other:?}")).to_uppercase(),
            )),
        }
    }

    pub(super) fn select(&mut self, s: &sql::Select) -> Result<Select, AdqlError> {
        let pos = Pos::from_location(s.select_token.0.span.start);
        let unsupported = |what: &str| Err(not_adql(pos, what));
        if !s.optimizer_hints.is_empty() || s.select_modifiers.is_some() {
            return unsupported("an optimizer hint");
        }
        if s.exclude.is_some() {
            return unsupported("EXCLUDE");
        }
        if s.into.is_some() {
            return unsupported("SELECT INTO");
        }
        if !s.lateral_views.is_empty() {
            return unsupported("LATERAL VIEW");
        }
        if s.prewhere.is_some() {
            return unsupported("PREWHERE");
        }
        if !s.connect_by.is_empty() {
            return unsupported("CONNECT BY");
        }
        if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
            return unsupported("CLUSTER/DISTRIBUTE/SORT BY");
        }
        if !s.named_window.is_empty() || s.qualify.is_some() {
            return unsupported("WINDOW/QUALIFY");
        }
        if s.value_table_mode.is_some() {
            return unsupported("SELECT AS VALUE/STRUCT");
        }
        if !matches!(s.flavor, sql::SelectFlavor::Standard) {
            return unsupported("FROM-first SELECT");
        }
        if s.top_before_distinct {
            return unsupported("TOP before DISTINCT (write SELECT DISTINCT TOP n)");
        }
        let distinct = match &s.distinct {
            None | Some(sql::Distinct::All) => false,
            Some(sql::Distinct::Distinct) => true,
            Some(_) => return unsupported("DISTINCT ON"),
        };
        let top = match &s.top {
            None => None,
            Some(t) => {
                if t.with_ties || t.percent {
                    return unsupported("TOP … PERCENT/WITH TIES");
                }
                match &t.quantity {
                    Some(sql::TopQuantity::Constant(n)) => Some(*n),
                    _ => {
                        return Err(AdqlError::syntax(
                            pos,
                            "TOP needs a whole number written directly: TOP 10",
                        ))
                    }
                }
            }
        };
        let mut items = Vec::new();
        for item in &s.projection {
            items.push(self.select_item(item)?);
        }
        if s.from.is_empty() {
            return Err(AdqlError::syntax(
                pos,
                "a SELECT needs a FROM clause in ADQL",
            ));
        }
        let mut from = Vec::new();
        for twj in &s.from {
            from.push(self.table_with_joins(twj)?);
        }
        let selection = s
            .selection
            .as_ref()
            .map(|e| self.condition(e))
            .transpose()?;
        let group_by = match &s.group_by {
            sql::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs
                .iter()
                .map(|e| self.value(e))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return unsupported("this GROUP BY form"),
        };
        let having = s.having.as_ref().map(|e| self.condition(e)).transpose()?;
        Ok(Select {
            distinct,
            top,
            items,
            from,
            selection,
            group_by,
            having,
            pos,
        })
    }

    pub(super) fn select_item(&mut self, item: &sql::SelectItem) -> Result<SelectItem, AdqlError> {
        let check_options = |o: &sql::WildcardAdditionalOptions, pos: Pos| {
            if o.opt_ilike.is_some()
                || o.opt_exclude.is_some()
                || o.opt_except.is_some()
                || o.opt_replace.is_some()
                || o.opt_rename.is_some()
                || o.opt_alias.is_some()
            {
                Err(not_adql(pos, "a wildcard option"))
            } else {
                Ok(())
            }
        };
        match item {
            sql::SelectItem::UnnamedExpr(e) => Ok(SelectItem::Expr {
                expr: self.value(e)?,
                alias: None,
            }),
            sql::SelectItem::ExprWithAlias { expr, alias } => Ok(SelectItem::Expr {
                expr: self.value(expr)?,
                alias: Some(self.ident(alias)?),
            }),
            sql::SelectItem::Wildcard(o) => {
                let pos = Pos::from_location(o.wildcard_token.0.span.start);
                check_options(o, pos)?;
                Ok(SelectItem::Wildcard(pos))
            }
            sql::SelectItem::QualifiedWildcard(kind, o) => {
                let pos = span_pos(item);
                check_options(o, pos)?;
                match kind {
                    sql::SelectItemQualifiedWildcardKind::ObjectName(name) => {
                        let parts = self.object_name(name)?;
                        if parts.len() > 3 {
                            return Err(AdqlError::syntax(
                                pos,
                                "a table name has at most three parts: catalog.schema.table",
                            ));
                        }
                        Ok(SelectItem::QualifiedWildcard(parts))
                    }
                    sql::SelectItemQualifiedWildcardKind::Expr(_) => {
                        Err(not_adql(pos, "`expression.*`"))
                    }
                }
            }
            sql::SelectItem::ExprWithAliases { .. } => {
                Err(not_adql(span_pos(item), "a multi-column alias"))
            }
        }
    }

    pub(super) fn ident(&mut self, i: &sql::Ident) -> Result<Ident, AdqlError> {
        let pos = Pos::from_location(i.span.start);
        match i.quote_style {
            None => {
                if is_reserved(&i.value) {
                    return Err(AdqlError::syntax(
                        pos,
                        format!(
                            "`{}` is a reserved word in ADQL; to use it as a name, write it in double quotes: \"{}\"",
                            i.value, i.value
                        ),
                    ));
                }
                Ok(Ident {
                    value: i.value.clone(),
                    delimited: false,
                    pos,
                })
            }
            Some('"') => Ok(Ident {
                value: i.value.clone(),
                delimited: true,
                pos,
            }),
            Some(q) => Err(AdqlError::syntax(
                pos,
                format!("`{q}` quoting is not ADQL: delimit names with double quotes"),
            )),
        }
    }

    pub(super) fn object_name(&mut self, name: &sql::ObjectName) -> Result<Vec<Ident>, AdqlError> {
        name.0
            .iter()
            .map(|part| match part {
                sql::ObjectNamePart::Identifier(i) => self.ident(i),
                sql::ObjectNamePart::Function(f) => Err(not_adql(
                    Pos::from_location(f.name.span.start),
                    "a function in a name",
                )),
            })
            .collect()
    }

    pub(super) fn table_alias(
        &mut self,
        alias: &Option<sql::TableAlias>,
    ) -> Result<Option<Ident>, AdqlError> {
        match alias {
            None => Ok(None),
            Some(a) => {
                if !a.columns.is_empty() || a.at.is_some() {
                    return Err(not_adql(
                        Pos::from_location(a.name.span.start),
                        "a column list after an alias",
                    ));
                }
                Ok(Some(self.ident(&a.name)?))
            }
        }
    }

    pub(super) fn table_with_joins(
        &mut self,
        twj: &sql::TableWithJoins,
    ) -> Result<FromItem, AdqlError> {
        let mut item = self.table_factor(&twj.relation)?;
        for join in &twj.joins {
            let pos = span_pos(&join.relation);
            if join.global {
                return Err(not_adql(pos, "GLOBAL JOIN"));
            }
            let (kind, constraint) = match &join.join_operator {
                sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
                sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
                sql::JoinOperator::Right(c) | sql::JoinOperator::RightOuter(c) => {
                    (JoinKind::Right, c)
                }
                sql::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
                sql::JoinOperator::CrossJoin(_) => {
                    return Err(not_adql(pos, "CROSS JOIN (list the tables with commas)"))
                }
                other => {
                    return Err(not_adql(
                        pos,
                        &format!("{} join", node_name(format!("{other:?}"))),
                    ))
                }
            };
            let right = self.table_factor(&join.relation)?;
            let (natural, condition) = match constraint {
                sql::JoinConstraint::On(e) => (false, JoinCondition::On(self.condition(e)?)),
                sql::JoinConstraint::Using(names) => {
                    let mut cols = Vec::new();
                    for n in names {
                        let parts = self.object_name(n)?;
                        match <[Ident; 1]>::try_from(parts) {
                            Ok([one]) => cols.push(one),
                            Err(_) => {
                                return Err(AdqlError::syntax(
                                    span_pos(n),
                                    "USING takes plain column names",
                                ))
                            }
                        }
                    }
                    (false, JoinCondition::Using(cols))
                }
                sql::JoinConstraint::Natural => (true, JoinCondition::None),
                sql::JoinConstraint::None => (false, JoinCondition::None),
            };
            item = FromItem::Join {
                left: Box::new(item),
                right: Box::new(right),
                kind,
                natural,
                condition,
            };
        }
        Ok(item)
    }

    pub(super) fn table_factor(&mut self, t: &sql::TableFactor) -> Result<FromItem, AdqlError> {
        let pos = span_pos(t);
        match t {
            sql::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
            } => {
                if args.is_some() {
                    return Err(not_adql(pos, "a table function"));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                {
                    return Err(not_adql(pos, "this table option"));
                }
                let parts = self.object_name(name)?;
                if parts.len() > 3 {
                    return Err(AdqlError::syntax(
                        pos,
                        "a table name has at most three parts: catalog.schema.table",
                    ));
                }
                Ok(FromItem::Table {
                    name: parts,
                    alias: self.table_alias(alias)?,
                })
            }
            sql::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                sample,
            } => {
                if *lateral || sample.is_some() {
                    return Err(not_adql(pos, "LATERAL/TABLESAMPLE"));
                }
                let query = Box::new(self.query(subquery, false)?);
                match self.table_alias(alias)? {
                    Some(alias) => Ok(FromItem::Derived { query, alias }),
                    None => Err(AdqlError::syntax(
                        pos,
                        "a subquery in FROM needs a name: (SELECT …) AS q",
                    )),
                }
            }
            sql::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(not_adql(pos, "an alias on a parenthesised join"));
                }
                Ok(FromItem::Nested(Box::new(
                    self.table_with_joins(table_with_joins)?,
                )))
            }
            other => Err(not_adql(
                pos,
                &format!("{} in FROM", node_name(format!("{other:?}"))),
            )),
        }
    }
}
