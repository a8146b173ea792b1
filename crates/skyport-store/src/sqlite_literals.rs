//! Numbers lifted out of SQL text into bound parameters, so that queries differing only in
//! their numbers share one compiled statement.
//!
//! SQLite compiles each distinct SQL text, and the connection's statement cache is keyed by
//! that text. A cone search at a new position is a new text: its circle and its R*Tree box are
//! printed as numbers, and compiling the ~1 kB statement was about a fifth of a random TAP cone's
//! CPU on a million rows. With its numbers as `?N` parameters, every cone at every position is
//! the same text, compiled once per reader connection.
//!
//! The lexer here follows SQLite's tokenizer far enough to tell a numeric literal from the
//! digits inside a name (`_t1`, `"_c10"`) or a string. Anything it is not sure of leaves the
//! text as it is: a parameter already in the text, a number it cannot read back exactly, one
//! glued to a name. SQLite still decides whether the lifted text is valid (a number is not
//! always replaceable by a parameter, e.g. inside a type name); the caller falls back to the
//! original text when the lifted one does not compile, so a query's errors stay its own.
//!
//! Some numbers stay in the text:
//! - in an ORDER BY, GROUP BY or PARTITION BY list, where an integer names a result column and
//!   a parameter would not, and in LIMIT and OFFSET, where SQLite reads a constant while
//!   compiling and compiles the statement again whenever a parameter there is bound. Such a
//!   clause is kept to the end of its parentheses (past a HAVING or UNION that may end it
//!   sooner: keeping more only lifts less);
//! - anywhere, a number also written in such a clause: SQLite matches a select item with an
//!   ORDER BY or GROUP BY term by their text (the translator writes `round(x, 1)` in both for
//!   an alias), and a mismatch would evaluate them apart (a random number, or the sign of a
//!   zero, then differs between the two);
//! - integers beyond i64 and float zeros, which no parameter reproduces exactly.
//!
//! A lifted text also names an unaliased result column differently (`?1 + ?2` for `1 + 1`);
//! the translator aliases every column.
//!
//! Without `sqlite_stat4` data (skyport never runs ANALYZE on SQLite) a bound value cannot
//! change SQLite's plan, so a lifted statement runs as its literal text would have.

use std::collections::HashSet;
use std::ops::Range;

use crate::Value;

/// Most numbers lifted from one text. A query with more (a long IN list) is rarely repeated
/// with the same shape, and SQLite limits a statement's parameters.
const MAX_LIFTED: usize = 512;

/// `sql` with each numeric literal replaced by a numbered parameter, and the values in
/// parameter order; `None` when nothing was lifted or the text should be left alone.
///
/// A literal's sign goes with it (`>= -0.5`, and `-(12.3)` as the ADQL translator writes a
/// negated number) where the minus cannot be a subtraction, so that a cone south of the equator
/// has the same text as one north of it.
pub fn lift_numbers(sql: &str) -> Option<(String, Vec<Value>)> {
    let numbers = scan(sql)?;
    // The numbers that stay: SQLite matches a select item with an ORDER BY or GROUP BY term by
    // their text (`round(x, 1)` in both), so a number written in a kept clause stays wherever
    // it is written.
    let staying: HashSet<&str> = numbers
        .iter()
        .filter(|n| n.kept)
        .map(|n| &sql[n.digits.clone()])
        .collect();
    let mut lifted = Lifted {
        sql,
        out: String::new(),
        values: Vec::new(),
        copied: 0,
    };
    for number in numbers {
        let digits = &sql[number.digits];
        if number.kept || staying.contains(digits) {
            continue;
        }
        let value = match number.negative {
            true => number_value(digits).and_then(negated),
            false => number_value(digits),
        };
        // A number that cannot be a parameter (with its sign) stays whole.
        if let Some(value) = value {
            lifted.push(number.text, value)?;
        }
    }
    lifted.finish()
}

/// A numeric literal found by [`scan`].
struct Number {
    /// Its text, a sign included when it has one (`-0.5`, `-(12.3)`).
    text: Range<usize>,
    /// Its digits, without the sign.
    digits: Range<usize>,
    /// Whether it carries a minus sign.
    negative: bool,
    /// Whether it is in a clause whose numbers stay: after BY, LIMIT or OFFSET, at that depth
    /// of parentheses or deeper, to the end of that depth.
    kept: bool,
}

/// The numeric literals of `sql`, in order; `None` when the text is to be left alone (a
/// parameter already in it, an unclosed quote, a number glued to a name).
fn scan(sql: &str) -> Option<Vec<Number>> {
    let bytes = sql.as_bytes();
    let mut numbers = Vec::new();
    // One entry per open parenthesis (and one for the statement): whether a kept clause
    // started at that depth. Once started, a clause is kept to the end of its depth, past
    // whatever keyword may end it, which errs on the side of lifting less.
    let mut kept = vec![false];
    // The last byte of the token before: whether a minus here is a sign or a subtraction.
    let mut previous = b'(';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        match b {
            _ if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |p| p + 2);
                continue;
            }
            b'(' => {
                kept.push(false);
                i += 1;
            }
            b')' => {
                if kept.len() > 1 {
                    kept.pop();
                }
                i += 1;
            }
            b'\'' | b'"' | b'`' => i = after_quoted(bytes, i, b)?,
            b'[' => i = after_quoted(bytes, i, b']')?,
            // Parameters of the caller's own: their numbering is not ours to extend.
            b'?' | b':' | b'@' | b'$' | b'#' => return None,
            _ if is_name_start(b) => {
                i += 1;
                while i < bytes.len() && is_name_part(bytes[i]) {
                    i += 1;
                }
                if starts_kept_clause(&sql[start..i]) {
                    if let Some(last) = kept.last_mut() {
                        *last = true;
                    }
                }
            }
            b'-' if is_sign_position(previous) => match after_minus(bytes, start) {
                AfterMinus::Number { digits, end } => {
                    numbers.push(Number {
                        text: start..end,
                        digits,
                        negative: true,
                        kept: kept.contains(&true),
                    });
                    i = end;
                }
                AfterMinus::Other => i += 1,
                AfterMinus::Glued => return None,
            },
            _ if starts_number(bytes, i) => {
                let end = number_end(bytes, i)?;
                numbers.push(Number {
                    text: i..end,
                    digits: i..end,
                    negative: false,
                    kept: kept.contains(&true),
                });
                i = end;
            }
            _ => i += 1,
        }
        previous = bytes[i - 1];
    }
    Some(numbers)
}

/// The text being rewritten and what has been lifted from it so far.
struct Lifted<'s> {
    sql: &'s str,
    out: String,
    values: Vec<Value>,
    /// Start of the text not yet copied to `out`.
    copied: usize,
}

impl Lifted<'_> {
    /// Replaces `range` of the text by the next parameter, bound to `value`; `None` past
    /// [`MAX_LIFTED`].
    fn push(&mut self, range: Range<usize>, value: Value) -> Option<()> {
        if self.values.len() == MAX_LIFTED {
            return None;
        }
        if self.out.is_empty() {
            self.out.reserve(self.sql.len() + 16);
        }
        self.values.push(value);
        self.out.push_str(&self.sql[self.copied..range.start]);
        self.out.push('?');
        self.out.push_str(&self.values.len().to_string());
        self.copied = range.end;
        Some(())
    }

    fn finish(mut self) -> Option<(String, Vec<Value>)> {
        if self.values.is_empty() {
            return None;
        }
        self.out.push_str(&self.sql[self.copied..]);
        Some((self.out, self.values))
    }
}

/// Whether a minus after a token ending in `previous` is a sign: after an operator, an opening
/// parenthesis or a comma. After a name it may be a subtraction from a column (or follow a
/// keyword: such a minus just stays in the text).
fn is_sign_position(previous: u8) -> bool {
    matches!(
        previous,
        b'(' | b',' | b'=' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'|' | b'&' | b'~'
    )
}

/// What follows a minus that may be a sign.
enum AfterMinus {
    /// A number it negates, written `-n` or `-(n)`: its digits, and where that ends.
    Number { digits: Range<usize>, end: usize },
    /// Something else.
    Other,
    /// A number glued to a name (the whole text is left alone).
    Glued,
}

/// What follows the minus at `minus`.
fn after_minus(bytes: &[u8], minus: usize) -> AfterMinus {
    let at = skip_spaces(bytes, minus + 1);
    let (inner, parenthesised) = if starts_number(bytes, at) {
        (at, false)
    } else if bytes.get(at) == Some(&b'(') && starts_number(bytes, skip_spaces(bytes, at + 1)) {
        (skip_spaces(bytes, at + 1), true)
    } else {
        return AfterMinus::Other;
    };
    let Some(digits_end) = number_end(bytes, inner) else {
        return AfterMinus::Glued;
    };
    let end = if parenthesised {
        let close = skip_spaces(bytes, digits_end);
        if bytes.get(close) != Some(&b')') {
            return AfterMinus::Other;
        }
        close + 1
    } else {
        digits_end
    };
    AfterMinus::Number {
        digits: inner..digits_end,
        end,
    }
}

/// The value of minus `value`; `None` for a zero (kept whole in the text, as `-0` is) and an
/// integer without a negative.
fn negated(value: Value) -> Option<Value> {
    match value {
        Value::Int(n) if n != 0 => n.checked_neg().map(Value::Int),
        Value::Float(x) if x != 0.0 => Some(Value::Float(-x)),
        _ => None,
    }
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn starts_number(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        Some(b) if b.is_ascii_digit() => true,
        Some(b'.') => bytes.get(i + 1).is_some_and(u8::is_ascii_digit),
        _ => false,
    }
}

/// The index after the quoted text opened at `start` and closed by `close` (a doubled closing
/// character is an escaped one); `None` when it is never closed.
fn after_quoted(bytes: &[u8], start: usize, close: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == close {
            if close != b']' && bytes.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Whether the keyword `word` starts a clause whose numbers stay in the text.
fn starts_kept_clause(word: &str) -> bool {
    ["BY", "LIMIT", "OFFSET"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_name_part(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit() || b == b'$'
}

/// The end of the number starting at `start`: digits, an optional fraction and an optional
/// exponent, as SQLite reads them; `None` when a name character follows (`1abc`, `1_000`,
/// `0x1F`: not a plain literal, and the whole text is left alone).
fn number_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if bytes.get(i) == Some(&b'.') {
        i = digits(i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        }
    }
    match bytes.get(i) {
        Some(&b) if is_name_part(b) => None,
        _ => Some(i),
    }
}

/// The value SQLite gives the literal `text`: an integer when it is all digits and fits,
/// otherwise a float. `None` (the literal stays in the text) for an integer too large for i64
/// (SQLite reads one after a minus sign as the smallest integer, which a parameter cannot
/// imitate), for a float zero (a minus before it makes negative zero of a literal but +0.0 of
/// a parameter, and after a keyword the lexer cannot tell a sign from a subtraction), and for
/// anything unreadable.
fn number_value(text: &str) -> Option<Value> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok().map(Value::Int);
    }
    text.parse::<f64>()
        .ok()
        .filter(|x| *x != 0.0)
        .map(Value::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifted(sql: &str) -> (String, Vec<Value>) {
        lift_numbers(sql).unwrap_or_else(|| (sql.to_string(), Vec::new()))
    }

    #[test]
    fn numbers_become_parameters_and_names_and_strings_do_not() {
        let (sql, values) = lifted(
            "SELECT _t1.\"_c10\" AS \"x1\", 'a 1.5' FROM \"t#2\" AS _t1 \
             WHERE maxX >= -0.5390236889186194 AND a = 12 AND b < .5e-3 AND c > 2E+3",
        );
        assert_eq!(
            sql,
            "SELECT _t1.\"_c10\" AS \"x1\", 'a 1.5' FROM \"t#2\" AS _t1 \
             WHERE maxX >= ?1 AND a = ?2 AND b < ?3 AND c > ?4"
        );
        assert_eq!(
            values,
            vec![
                Value::Float(-0.5390236889186194),
                Value::Int(12),
                Value::Float(0.0005),
                Value::Float(2000.0),
            ]
        );
    }

    #[test]
    fn a_sign_goes_with_its_number_and_a_subtraction_stays() {
        let (sql, values) = lifted(
            "SELECT adql_circle(1.5, -(12.25), 0.5), a - 5, (a) -6, 7 - -8, f(- 9), x * -(10), \
             'q' -11, -(y)",
        );
        assert_eq!(
            sql,
            "SELECT adql_circle(?1, ?2, ?3), a - ?4, (a) -?5, ?6 - ?7, f(?8), x * ?9, \
             'q' -?10, -(y)"
        );
        assert_eq!(
            values,
            vec![
                Value::Float(1.5),
                Value::Float(-12.25),
                Value::Float(0.5),
                Value::Int(5),
                Value::Int(6),
                Value::Int(7),
                Value::Int(-8),
                Value::Int(-9),
                Value::Int(-10),
                Value::Int(11),
            ]
        );
        // A cone south and one north of the equator: one text.
        let south = lifted("WHERE maxY >= -0.25 AND c = adql_circle(10.0, -(3.5), 0.1)");
        let north = lifted("WHERE maxY >= 0.25 AND c = adql_circle(10.0, 3.5, 0.1)");
        assert_eq!(south.0, north.0);
        // Signed zeros stay whole in the text.
        assert_eq!(
            lifted("SELECT -0.0, -(0), 1, x -0.0, 0.0").0,
            "SELECT -0.0, -(0), ?1, x -0.0, 0.0"
        );
    }

    #[test]
    fn escaped_quotes_comments_and_brackets_are_skipped_whole() {
        let (sql, values) =
            lifted("SELECT 'it''s 3', \"a\"\"4\", [x 5], `y 6` -- 7\n /* 8 */ FROM t WHERE z = 9");
        assert_eq!(
            sql,
            "SELECT 'it''s 3', \"a\"\"4\", [x 5], `y 6` -- 7\n /* 8 */ FROM t WHERE z = ?1"
        );
        assert_eq!(values, vec![Value::Int(9)]);
    }

    #[test]
    fn the_text_is_left_alone_when_unsure() {
        for sql in [
            "SELECT 1 WHERE a = ?1",          // the caller's own parameters
            "SELECT 1 WHERE a = :name",       // likewise
            "SELECT 0x1F",                    // hexadecimal
            "SELECT 1_000",                   // digit separators
            "SELECT 'unclosed 1",             // not SQL SQLite reads
            "SELECT \"_t1\" FROM t",          // no numbers at all
            "SELECT name FROM sqlite_master", // likewise
        ] {
            assert_eq!(lift_numbers(sql), None, "{sql}");
        }
    }

    #[test]
    fn order_and_group_lists_limits_and_offsets_keep_their_numbers() {
        let (sql, values) = lifted(
            "SELECT a, 2 FROM t WHERE b = 3 GROUP BY 1, f(a, 4) HAVING count(*) > 5 \
             ORDER BY (SELECT 6), 2 DESC LIMIT 7",
        );
        assert_eq!(
            sql,
            "SELECT a, 2 FROM t WHERE b = ?1 GROUP BY 1, f(a, 4) HAVING count(*) > 5 \
             ORDER BY (SELECT 6), 2 DESC LIMIT 7"
        );
        assert_eq!(values, vec![Value::Int(3)]);
        let (sql, _) = lifted(
            "SELECT x FROM (SELECT a AS x FROM t ORDER BY 1 LIMIT -1 OFFSET 2) WHERE x > 8 LIMIT 9",
        );
        assert_eq!(
            sql,
            "SELECT x FROM (SELECT a AS x FROM t ORDER BY 1 LIMIT -1 OFFSET 2) WHERE x > ?1 LIMIT 9"
        );
        // A clause inside parentheses does not end the one outside.
        for sql in [
            "SELECT a, count(*) FROM t WHERE b > 3 GROUP BY (SELECT 1 FROM u LIMIT 1), 1",
            "SELECT a FROM t WHERE b > 3 ORDER BY (SELECT k FROM u LIMIT 1), 2",
            "SELECT a FROM t WHERE b > 3 ORDER BY coalesce((SELECT k FROM u LIMIT 1), 0), 2",
            "SELECT a FROM t WHERE b > 3 ORDER BY max(a) OVER (PARTITION BY b), 2",
            "SELECT window FROM t WHERE b > 3 ORDER BY window, 2",
        ] {
            let (text, values) = lifted(sql);
            assert_eq!(text, sql.replace("b > 3", "b > ?1"), "{sql}");
            assert_eq!(values, vec![Value::Int(3)], "{sql}");
        }
    }

    #[test]
    fn a_number_written_in_an_order_or_group_list_stays_everywhere() {
        let (sql, values) = lifted(
            "SELECT (adql_rand() * 10) AS r, round(x, 1) AS d, y * 2 FROM t WHERE z > -(10) \
             GROUP BY round(x, 1) ORDER BY (adql_rand() * 10) DESC",
        );
        assert_eq!(
            sql,
            "SELECT (adql_rand() * 10) AS r, round(x, 1) AS d, y * ?1 FROM t WHERE z > -(10) \
             GROUP BY round(x, 1) ORDER BY (adql_rand() * 10) DESC"
        );
        assert_eq!(values, vec![Value::Int(2)]);
    }

    #[test]
    fn a_grouped_expression_keeps_its_key() {
        // With the select item lifted and the GROUP BY term not, SQLite would give the value of
        // the MAX row (-0.0) instead of the group's key (0.0).
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t(d REAL, r REAL); INSERT INTO t VALUES (0.03, 10), (-0.04, 20);",
        )
        .unwrap();
        let sql = "SELECT round(d, 1) AS k, max(r) FROM t WHERE r > 5 GROUP BY round(d, 1)";
        let (text, values) = lifted(sql);
        let key = |text: &str, values: &[Value]| -> String {
            conn.query_row(text, rusqlite::params_from_iter(values.iter()), |r| {
                Ok(format!("{:?}", r.get_ref(0)?))
            })
            .unwrap()
        };
        assert_eq!(key(&text, &values), key(sql, &[]), "{text}");
        assert_eq!(values, vec![Value::Int(5)]);
    }

    #[test]
    fn an_integer_beyond_i64_stays_in_the_text() {
        let (sql, values) = lifted("SELECT -9223372036854775808, 9223372036854775807");
        assert_eq!(sql, "SELECT -9223372036854775808, ?1");
        assert_eq!(values, vec![Value::Int(i64::MAX)]);
    }

    #[test]
    fn too_many_numbers_leave_the_text_alone() {
        let list: Vec<String> = (0..=MAX_LIFTED).map(|i| i.to_string()).collect();
        let sql = format!("SELECT 1 WHERE a IN ({})", list.join(", "));
        assert_eq!(lift_numbers(&sql), None);
    }

    #[test]
    fn sqlite_gives_the_lifted_text_the_literal_texts_answer() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in [
            "SELECT 7 / 2, 7.0 / 2, -5, 1e3, .25, 2.5e-1, 10 % 3, typeof(3), typeof(3.0)",
            "SELECT 10 - 3, 10 - -3, -(2.5) * 2, 2 * -(2.5), abs(-7), 1 - -(1), 3 -2, - 4, -(0.0), -0.0, 0.0, -1.5",
            "SELECT -0.0, - 0.0, -1",
            "SELECT typeof(-(3)), typeof(-3), -9223372036854775807, 2 * -(9223372036854775807)",
            "SELECT substr('abcdef', 2, 3), abs(-2.5), 1 = 1.0, 9223372036854775807",
            "SELECT -9223372036854775808, typeof(-9223372036854775808), 1",
            "SELECT x FROM (SELECT 1 AS x UNION SELECT 2 UNION SELECT 3) ORDER BY x DESC LIMIT 2 OFFSET 1",
            "SELECT x, 10 - x FROM (SELECT 1 AS x UNION SELECT 2 UNION SELECT 3) ORDER BY 2 LIMIT 2",
        ] {
            let run = |text: &str, params: &[Value]| -> Vec<String> {
                let mut stmt = conn.prepare(text).unwrap();
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).unwrap();
                let mut cells = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    for i in 0..n {
                        cells.push(format!("{:?}", row.get_ref(i).unwrap()));
                    }
                }
                cells
            };
            let (text, params) = lifted(sql);
            assert_ne!(text, sql, "nothing lifted from {sql}");
            assert_eq!(run(&text, &params), run(sql, &[]), "{sql} as {text}");
        }
    }
}
