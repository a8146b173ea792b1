//! The first pass: ADQL's lexical alphabet, checked on sqlparser's tokens before parsing, so
//! what sqlparser would accept but ADQL has no token for (hex literals, `::`, `$1`, `/* */`)
//! is refused with its exact position.

use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::dialect::AdqlDialect;
use crate::error::{AdqlError, Pos};

use super::MAX_OPERATORS;

/// True for a minus sign that begins an argument or a parenthesised expression and is followed
/// by a number (`POLYGON('ICRS', 10, -29, …)`): the sign of a literal, one level above a leaf
/// however many there are, not an operator that deepens the tree, so it is not counted against
/// [`MAX_OPERATORS`]. SIA writes the southern vertices of its RANGE polygons so, over a
/// thousand in one query. A binary minus (`a - 1`) follows an operand, and is counted.
fn signs_a_number(tokens: &[TokenWithSpan], at: usize) -> bool {
    let significant = |t: &&TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let before = tokens[..at].iter().rev().find(significant);
    let after = tokens[at + 1..].iter().find(significant);
    matches!(before.map(|t| &t.token), Some(Token::Comma | Token::LParen))
        && matches!(after.map(|t| &t.token), Some(Token::Number(..)))
}

/// Tokenises and checks the token stream against ADQL's lexical alphabet.
pub(super) fn check_tokens(text: &str) -> Result<Vec<TokenWithSpan>, AdqlError> {
    let tokens = Tokenizer::new(&AdqlDialect, text)
        .tokenize_with_location()
        .map_err(|e| {
            AdqlError::syntax(
                Pos::from_location(e.location),
                format!("syntax error: {}", e.message),
            )
        })?;
    let mut operators = 0usize;
    let mut semicolon: Option<Pos> = None;
    for (at, t) in tokens.iter().enumerate() {
        let pos = Pos::from_location(t.span.start);
        let refuse = |what: &str| Err(AdqlError::syntax(pos, what.to_string()));
        if let Some(at) = semicolon {
            if !matches!(
                t.token,
                Token::Whitespace(_) | Token::EOF | Token::SemiColon
            ) {
                return Err(AdqlError::syntax(
                    at,
                    "one query only: ADQL has no statement separator",
                ));
            }
        }
        match &t.token {
            Token::Word(w) => {
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("LIMIT") {
                    return refuse("LIMIT is not ADQL: write SELECT TOP n");
                }
                if w.quote_style == Some('"') && w.value.is_empty() {
                    return refuse("a delimited identifier cannot be empty");
                }
                if w.quote_style.is_none() {
                    let upper = w.value.to_ascii_uppercase();
                    if upper == "AND" || upper == "OR" {
                        operators += 1;
                    }
                }
            }
            Token::Minus if signs_a_number(&tokens, at) => {}
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::Comma
            | Token::LParen
            | Token::RParen
            | Token::Period
            | Token::EOF => {}
            Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::StringConcat => operators += 1,
            Token::SemiColon => {
                // A single trailing semicolon is tolerated (clients paste it from SQL tools).
                if semicolon.is_some() {
                    return refuse("one query only: ADQL has no statement separator");
                }
                semicolon = Some(pos);
            }
            Token::Whitespace(ws) => match ws {
                Whitespace::Space | Whitespace::Newline | Whitespace::Tab => {}
                Whitespace::SingleLineComment { prefix, .. } if prefix == "--" => {}
                // ADQL's grammar has only `--` comments, but block comments change nothing
                // and appear in archives' own examples (SIMBAD's), so they count as whitespace.
                Whitespace::MultiLineComment(_) => {}
                _ => return refuse("this comment syntax is not ADQL: use --"),
            },
            Token::DoubleColon => return refuse("`::` casts are not ADQL: write CAST(x AS type)"),
            Token::Placeholder(p) => {
                return refuse(&format!(
                    "`{p}` looks like a query parameter placeholder; ADQL has none: write the value"
                ))
            }
            Token::HexStringLiteral(_) => {
                return refuse(
                    "hexadecimal literals were removed from ADQL 2.1: write the number in decimal",
                )
            }
            Token::Ampersand | Token::Pipe | Token::Caret | Token::Tilde => {
                return refuse("bitwise operators were removed from ADQL 2.1")
            }
            Token::Mod => return refuse("`%` is not ADQL: write MOD(x, y)"),
            Token::DoubleEq => return refuse("`==` is not ADQL: write ="),
            Token::DoubleQuotedString(_) => {
                return refuse("this is not a valid delimited identifier")
            }
            Token::Char(c) => return refuse(&format!("unexpected character `{c}`")),
            other => return refuse(&format!("`{other}` is not ADQL")),
        }
    }
    if operators > MAX_OPERATORS {
        return Err(AdqlError::syntax(
            Pos::default(),
            format!("the query has more than {MAX_OPERATORS} operators; split it up"),
        ));
    }
    Ok(tokens)
}
