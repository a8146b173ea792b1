//! FITS header cards: parsing 80-character records into typed values.
//!
//! Pure code: the caller supplies the records (from cfitsio, or from a text dump). Handles
//! quoted strings with doubled quotes, logical, integer and real values (including Fortran `D`
//! exponents), `HIERARCH` keywords, `CONTINUE` long strings, and turns the header of a
//! tile-compressed image (a binary table carrying `ZIMAGE = T`) back into the image header it
//! stands for, as FITS readers present it.

use std::collections::HashMap;

/// A header value.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    /// A quoted string, quotes removed, trailing blanks trimmed.
    Str(String),
    /// `T` or `F`.
    Logical(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// A complex number `(re, im)`, kept as text.
    Complex(String),
    /// A keyword with no value (`KEY     =` followed by blanks).
    Undefined,
    /// A value that follows no FITS syntax (real headers carry lists, unterminated strings…),
    /// kept verbatim so nothing is lost; it is never read as a number.
    Unparsed(String),
}

impl HeaderValue {
    /// The value as a real number, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            HeaderValue::Int(i) => Some(*i as f64),
            HeaderValue::Real(r) => Some(*r),
            // Some writers quote numbers; accept them where a number is expected.
            HeaderValue::Str(s) => parse_real(s.trim()),
            _ => None,
        }
    }

    /// The value as an integer, when it is an integer (or a real with no fraction).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            HeaderValue::Int(i) => Some(*i),
            HeaderValue::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e15 => Some(*r as i64),
            HeaderValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text: strings as they are, other values in their FITS spelling.
    pub fn as_text(&self) -> Option<String> {
        match self {
            HeaderValue::Str(s) => Some(s.clone()),
            HeaderValue::Logical(b) => Some(if *b { "T" } else { "F" }.to_string()),
            HeaderValue::Int(i) => Some(i.to_string()),
            HeaderValue::Real(r) => Some(r.to_string()),
            HeaderValue::Complex(c) | HeaderValue::Unparsed(c) => Some(c.clone()),
            HeaderValue::Undefined => None,
        }
    }
}

/// One header card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// Keyword, upper-case (for HIERARCH cards, the words after `HIERARCH` joined by spaces).
    pub key: String,
    /// The value; `None` for commentary cards (COMMENT, HISTORY, blank keyword).
    pub value: Option<HeaderValue>,
    /// The comment after `/`, or the text of a commentary card.
    pub comment: Option<String>,
}

/// An ordered list of cards with keyword lookup (the last occurrence of a keyword wins, as in
/// most FITS readers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    cards: Vec<Card>,
    index: HashMap<String, usize>,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeaderError {
    /// A record is not a FITS card.
    #[error("card {index}: {reason}")]
    BadCard {
        /// 1-based card number.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Header {
    /// Reads a header dump as files hold them: one card per line, or 80-character records back
    /// to back (as in a FITS file). Invalid UTF-8 becomes U+FFFD.
    pub fn from_dump(bytes: &[u8]) -> Result<Header, HeaderError> {
        if bytes.contains(&b'\n') {
            let text = String::from_utf8_lossy(bytes);
            Header::from_records(text.lines())
        } else {
            Header::from_records(bytes.chunks(80).map(String::from_utf8_lossy))
        }
    }

    /// Builds a header from 80-character records (shorter records are padded; `END` stops).
    pub fn from_records<I, S>(records: I) -> Result<Header, HeaderError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut header = Header::default();
        for (i, record) in records.into_iter().enumerate() {
            let record = record.as_ref();
            if record.trim_end() == "END" {
                break;
            }
            let card = parse_card(record).map_err(|reason| HeaderError::BadCard {
                index: i + 1,
                reason,
            })?;
            header.push_card(card);
        }
        Ok(header)
    }

    /// Adds a card at the end; a `CONTINUE` card extends the previous long string.
    pub fn push_card(&mut self, card: Card) {
        if card.key == "CONTINUE" {
            if let (Some(last), Some(HeaderValue::Str(more))) = (self.cards.last_mut(), &card.value)
            {
                if let Some(HeaderValue::Str(s)) = &mut last.value {
                    if s.ends_with('&') {
                        // Appended in place: a long chain of CONTINUE cards stays linear.
                        s.pop();
                        s.push_str(more);
                        return;
                    }
                }
            }
        }
        if card.value.is_some() {
            self.index.insert(card.key.clone(), self.cards.len());
        }
        self.cards.push(card);
    }

    /// Sets a keyword to a value, replacing the existing card if there is one.
    pub fn set(&mut self, key: &str, value: HeaderValue) {
        let key = key.to_ascii_uppercase();
        match self.index.get(&key) {
            Some(&i) => self.cards[i].value = Some(value),
            None => self.push_card(Card {
                key,
                value: Some(value),
                comment: None,
            }),
        }
    }

    /// All cards in order.
    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    /// The value of a keyword.
    pub fn get(&self, key: &str) -> Option<&HeaderValue> {
        let i = self
            .index
            .get(key)
            .or_else(|| self.index.get(&key.to_ascii_uppercase()))?;
        self.cards[*i].value.as_ref()
    }

    /// True when the keyword is present with a value.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A numeric keyword as f64.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(HeaderValue::as_f64)
    }

    /// An integer keyword.
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(HeaderValue::as_i64)
    }

    /// A keyword as trimmed text; empty strings count as absent.
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key)
            .and_then(HeaderValue::as_text)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// A logical keyword.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            HeaderValue::Logical(b) => Some(*b),
            _ => None,
        }
    }

    /// Copies every keyword of `base` that this header lacks (FITS "INHERIT": an extension
    /// takes the primary header's keywords it does not set itself).
    pub fn inherit_from(&mut self, base: &Header) {
        const STRUCTURAL: [&str; 9] = [
            "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "EXTNAME",
            "INHERIT",
        ];
        for card in &base.cards {
            let structural =
                STRUCTURAL.contains(&card.key.as_str()) || card.key.starts_with("NAXIS");
            if card.value.is_some() && !structural && !self.contains(&card.key) {
                self.push_card(card.clone());
            }
        }
    }

    /// True for the binary table that stores a tile-compressed image.
    pub fn is_compressed_image(&self) -> bool {
        self.bool("ZIMAGE") == Some(true)
    }

    /// For a tile-compressed image, the image header it represents: `ZBITPIX`, `ZNAXISn`
    /// become `BITPIX`, `NAXISn`, and the table's own bookkeeping keywords are dropped.
    /// Any other header is returned unchanged.
    pub fn decompressed_view(&self) -> Header {
        if !self.is_compressed_image() {
            return self.clone();
        }
        let mut out = Header::default();
        out.push_card(card("XTENSION", HeaderValue::Str("IMAGE".into())));
        if let Some(v) = self.get("ZBITPIX") {
            out.push_card(card("BITPIX", v.clone()));
        }
        // FITS allows at most 999 axes; a larger ZNAXIS is not looped over.
        let naxis = self.i64("ZNAXIS").unwrap_or(0).clamp(0, 999);
        out.push_card(card("NAXIS", HeaderValue::Int(naxis)));
        for i in 1..=naxis {
            if let Some(v) = self.get(&format!("ZNAXIS{i}")) {
                out.push_card(card(&format!("NAXIS{i}"), v.clone()));
            }
        }
        for c in &self.cards {
            if !is_compression_bookkeeping(&c.key) {
                out.push_card(c.clone());
            }
        }
        out
    }
}

fn card(key: &str, value: HeaderValue) -> Card {
    Card {
        key: key.to_string(),
        value: Some(value),
        comment: None,
    }
}

/// Keywords that describe the compressed table rather than the image (and the structural
/// keywords a written HDU gets anew: `XTENSION`, `BITPIX`, `NAXISn`, `PCOUNT`, `GCOUNT`).
pub(crate) fn is_compression_bookkeeping(key: &str) -> bool {
    const EXACT: [&str; 22] = [
        "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "ZIMAGE",
        "ZCMPTYPE", "ZBITPIX", "ZNAXIS", "ZQUANTIZ", "ZDITHER0", "ZSIMPLE", "ZTENSION", "ZEXTEND",
        "ZBLOCKED", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZTHEAP",
    ];
    if EXACT.contains(&key) {
        return true;
    }
    let indexed = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    [
        "NAXIS", "TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO", "TNULL", "ZNAXIS", "ZTILE",
        "ZNAME", "ZVAL",
    ]
    .iter()
    .any(|p| indexed(p))
}

/// Formats a card as an 80-character FITS record (fixed format for numbers and logicals,
/// strings quoted from column 11 and at least 8 characters wide).
pub fn format_card(card: &Card) -> String {
    let key = &card.key;
    let body = match &card.value {
        None => format!("{key:<8}{}", card.comment.as_deref().unwrap_or("")),
        Some(value) => {
            let v = match value {
                HeaderValue::Str(s) => format!("{:<20}", format!("'{:<8}'", s.replace('\'', "''"))),
                HeaderValue::Logical(b) => format!("{:>20}", if *b { "T" } else { "F" }),
                HeaderValue::Int(i) => format!("{i:>20}"),
                HeaderValue::Real(r) => format!("{:>20}", format_real(*r)),
                HeaderValue::Complex(c) | HeaderValue::Unparsed(c) => format!("{c:>20}"),
                HeaderValue::Undefined => " ".repeat(20),
            };
            let key = if key.len() > 8 {
                format!("HIERARCH {key}")
            } else {
                format!("{key:<8}")
            };
            match &card.comment {
                Some(c) => format!("{key}= {v} / {c}"),
                None => format!("{key}= {v}"),
            }
        }
    };
    let mut s: String = body.chars().take(80).collect();
    while s.len() < 80 {
        s.push(' ');
    }
    s
}

/// A real in FITS fixed form that parses back to the same f64.
fn format_real(r: f64) -> String {
    let s = format!("{r:?}");
    let s = if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    };
    s.replace('e', "E")
}

/// Parses one card image.
pub fn parse_card(record: &str) -> Result<Card, String> {
    if !record.is_ascii() {
        return Err("contains non-ASCII characters".into());
    }
    let record = record.trim_end_matches(['\n', '\r']);
    if record.len() > 80 {
        return Err(format!("is {} characters long, more than 80", record.len()));
    }
    let key_field = record.get(..8.min(record.len())).unwrap_or("").trim_end();
    let rest = record.get(8..).unwrap_or("");

    // Keywords are read case-insensitively, HIERARCH among them.
    if key_field.eq_ignore_ascii_case("HIERARCH") {
        // HIERARCH words... = value / comment
        let Some(eq) = rest.find('=') else {
            return Ok(Card {
                key: "HIERARCH".into(),
                value: None,
                comment: Some(rest.trim().into()),
            });
        };
        let key = rest[..eq]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        let (value, comment) = parse_value_field(&rest[eq + 1..])?;
        return Ok(Card {
            key,
            value: Some(value),
            comment,
        });
    }

    let key = key_field.to_ascii_uppercase();
    if key == "CONTINUE" {
        let (value, comment) = parse_value_field(rest)?;
        return Ok(Card {
            key,
            value: Some(value),
            comment,
        });
    }
    if rest.starts_with("= ") || (rest == "=") {
        if key.is_empty() {
            return Err("value indicator with a blank keyword".into());
        }
        let (value, comment) = parse_value_field(&rest[1..])?;
        return Ok(Card {
            key,
            value: Some(value),
            comment,
        });
    }
    // Commentary card (COMMENT, HISTORY, blank, or any keyword without "= ").
    let text = rest.trim_end();
    Ok(Card {
        key,
        value: None,
        comment: (!text.is_empty()).then(|| text.trim_start().to_string()),
    })
}

/// Parses the part of a card after `= `: a value and an optional `/ comment`.
fn parse_value_field(field: &str) -> Result<(HeaderValue, Option<String>), String> {
    let s = field.trim_start();
    if let Some(body) = s.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    value.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                value.push(c);
            }
        }
        let Some(end) = end else {
            return Ok((HeaderValue::Unparsed(s.trim_end().to_string()), None));
        };
        let comment = comment_after(&body[end..]);
        return Ok((HeaderValue::Str(value.trim_end().to_string()), comment));
    }
    let (raw, comment) = match s.find('/') {
        Some(i) => (&s[..i], comment_after(&s[i..])),
        None => (s, None),
    };
    let raw = raw.trim();
    let value = if raw.is_empty() {
        HeaderValue::Undefined
    } else if raw == "T" {
        HeaderValue::Logical(true)
    } else if raw == "F" {
        HeaderValue::Logical(false)
    } else if raw.starts_with('(') {
        HeaderValue::Complex(raw.to_string())
    } else if let Some(i) = parse_int(raw) {
        HeaderValue::Int(i)
    } else if let Some(r) = parse_real(raw) {
        HeaderValue::Real(r)
    } else {
        HeaderValue::Unparsed(raw.to_string())
    };
    Ok((value, comment))
}

fn comment_after(s: &str) -> Option<String> {
    let t = s.trim_start().strip_prefix('/')?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.trim_start_matches('+').parse().ok()
}

/// Reals may use a Fortran `D` exponent.
fn parse_real(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eEdD".contains(&b))
    {
        return None;
    }
    s.replace(['D', 'd'], "E").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> String {
        format!("{s:<80}")
    }

    #[test]
    fn parses_the_value_kinds() {
        let h = Header::from_records([
            rec("SIMPLE  =                    T / conforms"),
            rec("BITPIX  =                  -32"),
            rec("CRVAL1  =      1.2345678901D+02 / Fortran exponent"),
            rec("OBJECT  = 'O''Brien field  '   / quoted quote"),
            rec("EMPTY   ="),
            rec("HISTORY this is history"),
            rec("HIERARCH ESO DET CHIP NAME = 'CCD-1' / hierarch"),
            rec("END"),
            rec("AFTER   = 1"),
        ])
        .expect("valid header");
        assert_eq!(h.bool("SIMPLE"), Some(true));
        assert_eq!(h.i64("BITPIX"), Some(-32));
        assert!((h.f64("CRVAL1").expect("real") - 123.456_789_01).abs() < 1e-9);
        assert_eq!(h.str("OBJECT").as_deref(), Some("O'Brien field"));
        assert_eq!(h.get("EMPTY"), Some(&HeaderValue::Undefined));
        assert_eq!(h.str("ESO DET CHIP NAME").as_deref(), Some("CCD-1"));
        assert!(!h.contains("AFTER"), "cards after END are ignored");
        assert_eq!(h.cards()[5].comment.as_deref(), Some("this is history"));
    }

    #[test]
    fn continue_cards_join_long_strings() {
        let h = Header::from_records([
            rec("LONGSTR = 'first part &'"),
            rec("CONTINUE  'second part&'"),
            rec("CONTINUE  ' end'"),
        ])
        .expect("valid");
        assert_eq!(
            h.str("LONGSTR").as_deref(),
            Some("first part second part end")
        );
    }

    #[test]
    fn broken_records_are_reported_with_their_number() {
        let err = Header::from_records([rec("A       = 1"), "B       = 'caf\u{e9}'".to_string()])
            .expect_err("bad");
        assert_eq!(
            err,
            HeaderError::BadCard {
                index: 2,
                reason: "contains non-ASCII characters".into()
            }
        );
        assert!(Header::from_records([format!("{:<81}", "C       = 1")]).is_err());
    }

    #[test]
    fn nonstandard_values_are_kept_verbatim() {
        let h = Header::from_records([
            rec("PLTSCALE= -1.38E+00, -1.69E+00 / list"),
            rec("B       = 'unterminated"),
        ])
        .expect("kept");
        assert_eq!(
            h.get("PLTSCALE"),
            Some(&HeaderValue::Unparsed("-1.38E+00, -1.69E+00".into()))
        );
        assert_eq!(h.f64("PLTSCALE"), None);
        assert_eq!(h.str("B").as_deref(), Some("'unterminated"));
    }

    #[test]
    fn compressed_header_becomes_the_image_header() {
        let h = Header::from_records([
            rec("XTENSION= 'BINTABLE'"),
            rec("BITPIX  =                    8"),
            rec("NAXIS   =                    2"),
            rec("NAXIS1  =                    8"),
            rec("NAXIS2  =                  300"),
            rec("TFIELDS =                    1"),
            rec("TTYPE1  = 'COMPRESSED_DATA'"),
            rec("ZIMAGE  =                    T"),
            rec("ZBITPIX =                   16"),
            rec("ZNAXIS  =                    2"),
            rec("ZNAXIS1 =                  440"),
            rec("ZNAXIS2 =                  300"),
            rec("ZTILE1  =                  440"),
            rec("ZCMPTYPE= 'RICE_1  '"),
            rec("CTYPE1  = 'RA---SIN'"),
        ])
        .expect("valid");
        let v = h.decompressed_view();
        assert_eq!(v.i64("BITPIX"), Some(16));
        assert_eq!((v.i64("NAXIS1"), v.i64("NAXIS2")), (Some(440), Some(300)));
        assert_eq!(v.str("CTYPE1").as_deref(), Some("RA---SIN"));
        for gone in ["TTYPE1", "ZTILE1", "ZCMPTYPE", "TFIELDS", "ZIMAGE"] {
            assert!(!v.contains(gone), "{gone} should be dropped");
        }
    }

    #[test]
    fn formatted_cards_parse_back() {
        let cards = [
            Card {
                key: "CRVAL1".into(),
                value: Some(HeaderValue::Real(123.456_789_012_345_6)),
                comment: Some("deg".into()),
            },
            Card {
                key: "CD1_1".into(),
                value: Some(HeaderValue::Real(-5.5e-5)),
                comment: None,
            },
            Card {
                key: "EXPTIME".into(),
                value: Some(HeaderValue::Real(30.0)),
                comment: None,
            },
            Card {
                key: "OBJECT".into(),
                value: Some(HeaderValue::Str("it's".into())),
                comment: None,
            },
            Card {
                key: "NAXIS".into(),
                value: Some(HeaderValue::Int(2)),
                comment: None,
            },
            Card {
                key: "SIMPLE".into(),
                value: Some(HeaderValue::Logical(true)),
                comment: None,
            },
        ];
        for c in &cards {
            let rec = format_card(c);
            assert_eq!(rec.len(), 80);
            let back = parse_card(&rec).expect("parses");
            assert_eq!(&back, c, "{rec}");
        }
    }

    #[test]
    fn inherit_keeps_own_values() {
        let base = Header::from_records([
            rec("TELESCOP= 'LSST'"),
            rec("EXPTIME =  30."),
            rec("NAXIS   = 0"),
        ])
        .expect("ok");
        let mut ext =
            Header::from_records([rec("EXPTIME =  15."), rec("NAXIS   = 2")]).expect("ok");
        ext.inherit_from(&base);
        assert_eq!(ext.str("TELESCOP").as_deref(), Some("LSST"));
        assert_eq!(ext.f64("EXPTIME"), Some(15.0));
        assert_eq!(ext.i64("NAXIS"), Some(2));
    }
}
