//! Checks of the IVOA metadata a flexible-metadata key may carry: UCD1+ word lists (IVOA UCD1+
//! controlled vocabulary, shipped in `data/ucd1p-words.txt`) and VOUnit strings (IVOA VOUnits
//! 1.0). Both are small, self-contained grammars; no Rust crate implements either.

use std::collections::HashMap;
use std::sync::OnceLock;

const UCD_WORDS: &str = include_str!("../data/ucd1p-words.txt");

/// Where a UCD word may stand, from its syntax code in the vocabulary.
#[derive(Debug, Clone, Copy)]
struct Placement {
    primary: bool,
    secondary: bool,
}

fn words() -> &'static HashMap<String, Placement> {
    static WORDS: OnceLock<HashMap<String, Placement>> = OnceLock::new();
    WORDS.get_or_init(|| {
        UCD_WORDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut parts = l.split('|').map(str::trim);
                let code = parts.next()?;
                let word = parts.next()?;
                // P: primary only, S: secondary only; Q (either), E (photometric), C (colour)
                // and V (vector) may stand anywhere.
                Some((
                    word.to_ascii_lowercase(),
                    Placement {
                        primary: "QPEVC".contains(code),
                        secondary: "QSEVC".contains(code),
                    },
                ))
            })
            .collect()
    })
}

/// Checks a UCD1+ string (`phot.mag;em.opt.V`): words from the vocabulary, the first one valid
/// as a primary word and the others as secondary words. Words of other namespaces
/// (`custom:word`) are accepted unchecked.
pub fn check_ucd(ucd: &str) -> Result<(), String> {
    if ucd.trim().is_empty() {
        return Err("a UCD may not be empty".into());
    }
    for (n, word) in ucd.split(';').enumerate() {
        let word = word.trim();
        let (namespace, word) = match word.split_once(':') {
            Some((ns, w)) => (ns.to_ascii_lowercase(), w),
            None => ("ivoa".to_string(), word),
        };
        let well_formed = !word.is_empty()
            && word.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !well_formed {
            return Err(format!("'{word}' is not a well-formed UCD word"));
        }
        if namespace != "ivoa" {
            continue;
        }
        let Some(placement) = words().get(&word.to_ascii_lowercase()) else {
            return Err(format!("'{word}' is not a word of the UCD1+ vocabulary"));
        };
        if n == 0 && !placement.primary {
            return Err(format!(
                "'{word}' may not be the first (primary) word of a UCD"
            ));
        }
        if n > 0 && !placement.secondary {
            return Err(format!(
                "'{word}' may only be the first (primary) word of a UCD"
            ));
        }
    }
    Ok(())
}

/// Units that take SI prefixes (VOUnits 1.0 §2.4, with the astronomy units it allows prefixed).
const PREFIXABLE: &[&str] = &[
    "m", "s", "A", "K", "mol", "cd", "g", "rad", "sr", "Hz", "N", "Pa", "J", "W", "C", "V", "S",
    "F", "Wb", "T", "H", "lm", "lx", "Ohm", "Bq", "Gy", "Sv", "kat", "eV", "Jy", "pc", "a", "yr",
    "erg", "G", "barn", "bit", "byte", "B", "mag", "R", "Ry", "u", "D", "ct", "ph", "photon",
    "pix", "pixel", "adu", "arcsec", "l", "L", "t", "dex",
];

/// Units that take no prefix.
const PLAIN: &[&str] = &[
    "deg", "arcmin", "mas", "uas", "min", "h", "d", "AU", "au", "Angstrom", "angstrom", "beam",
    "bin", "chan", "voxel", "solLum", "solMass", "solRad", "lyr", "Sun", "%", "dB", "count",
    "electron", "e", "ea",
];

const PREFIXES: &[&str] = &[
    "da", "y", "z", "a", "f", "p", "n", "u", "m", "c", "d", "h", "k", "M", "G", "T", "P", "E", "Z",
    "Y", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
];

fn known_unit(name: &str) -> bool {
    if PLAIN.contains(&name) || PREFIXABLE.contains(&name) {
        return true;
    }
    // Quoted units are explicitly outside the known list (VOUnits §2.9).
    if name.len() > 2 && name.starts_with('\'') && name.ends_with('\'') {
        return true;
    }
    PREFIXES.iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| PREFIXABLE.contains(&rest))
    })
}

fn check_power(power: &str) -> bool {
    let p = power.trim();
    let inner = p.strip_prefix('(').and_then(|q| q.strip_suffix(')'));
    match inner {
        Some(inner) => match inner.split_once('/') {
            Some((n, d)) => {
                n.trim().parse::<i64>().is_ok() && d.trim().parse::<u64>().is_ok_and(|d| d > 0)
            }
            None => inner.trim().parse::<f64>().is_ok(),
        },
        None => p.parse::<i64>().is_ok(),
    }
}

fn check_term(term: &str) -> Result<(), String> {
    let term = term.trim();
    // Functions of a unit expression: log(...), ln(...), exp(...), sqrt(...).
    for f in ["log", "ln", "exp", "sqrt"] {
        if let Some(inner) = term
            .strip_prefix(f)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
        {
            return check_unit(inner);
        }
    }
    if let Some(inner) = term.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return check_unit(inner);
    }
    let (name, power) = match term.split_once("**") {
        Some((n, p)) => (n, Some(p)),
        None => (term, None),
    };
    if let Some(p) = power {
        if !check_power(p) {
            return Err(format!("'{p}' is not a valid power"));
        }
    }
    if known_unit(name) {
        return Ok(());
    }
    // FITS-style powers: `m3`, `s-1`.
    let split = name
        .find(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
        .unwrap_or(name.len());
    if power.is_none()
        && split > 0
        && split < name.len()
        && known_unit(&name[..split])
        && name[split..].parse::<i64>().is_ok()
    {
        return Ok(());
    }
    Err(format!("'{name}' is not a known unit"))
}

/// Splits on `.` and `/` outside parentheses and quotes.
fn split_terms(unit: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = unit.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b'.' | b'/' if !quoted && depth == 0 => {
                // A dot inside a number (a power like **1.5 without parentheses) is not a
                // product; VOUnits requires parentheses there, so it is an error anyway.
                out.push(&unit[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&unit[start..]);
    out
}

/// Rewrites the astropy/FITS spellings Rubin's data uses (`m3 / (kg s2)`, `erg*s^-1`) into
/// VOUnit syntax (`m**3/(kg.s**2)`, `erg.s**-1`): blanks and `*` as products, `^` and trailing
/// integers as powers.
fn to_vounit_syntax(unit: &str) -> String {
    let compact = unit.replace('^', "**");
    // Blanks next to an operator or parenthesis vanish; others are products.
    let mut out = String::new();
    let chars: Vec<char> = compact.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() {
            let prev = out.chars().last();
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            let joins = |x: Option<&char>| matches!(x, Some('/' | '.' | '(' | ')' | '*'));
            if prev.is_none() || next.is_none() || joins(prev.as_ref()) || joins(next) {
                continue;
            }
            out.push('.');
        } else if c == '*' && chars.get(i + 1) != Some(&'*') && (i == 0 || chars[i - 1] != '*') {
            out.push('.');
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks a unit string: VOUnit syntax (`m.s**-2`, `mJy/beam`, `10**-3 W.m**-2`,
/// `'furlong'`), or the astropy/FITS spellings of the same units (`m3 / (kg s2)`), which
/// Rubin's own flexible-metadata keys use. Unknown unit names are refused. The empty string is
/// the dimensionless unit.
pub fn check_unit(unit: &str) -> Result<(), String> {
    let mut u = unit.trim();
    if u.is_empty() {
        return Ok(());
    }
    // A leading scale factor: 10**n, or a decimal number, then the unit.
    if let Some(rest) = u.strip_prefix("10**") {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+'))
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("'{unit}' has an incomplete scale factor"));
        }
        u = rest[end..].trim_start();
    } else if u.starts_with(|c: char| c.is_ascii_digit()) {
        let end = u
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
            .unwrap_or(u.len());
        if u[..end].parse::<f64>().is_err() {
            return Err(format!("'{unit}' has an invalid scale factor"));
        }
        u = u[end..].trim_start();
    }
    if u.is_empty() {
        return Ok(());
    }
    let normal = to_vounit_syntax(u);
    let terms = split_terms(&normal);
    if terms.iter().any(|t| t.is_empty()) {
        return Err(format!("'{unit}' has an empty unit between operators"));
    }
    for term in terms {
        check_term(term).map_err(|e| format!("'{unit}': {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucds_follow_the_vocabulary_and_word_order() {
        assert!(check_ucd("phot.mag;em.opt.V").is_ok());
        assert!(check_ucd("pos.eq.ra;meta.main").is_ok());
        assert!(check_ucd("meta.main").is_err(), "secondary only");
        assert!(
            check_ucd("pos.eq.ra;meta.abstract").is_err(),
            "primary only as second"
        );
        assert!(check_ucd("but not").is_err());
        assert!(check_ucd("custom:anything").is_ok());
    }

    #[test]
    fn units_follow_vounits() {
        for ok in [
            "",
            "m",
            "km.s**-1",
            "mJy/beam",
            "deg",
            "10**-3 W",
            "m**(1/2)",
            "'furlong'",
            "adu",
            "electron/s",
            "log(Hz)",
        ] {
            assert!(check_unit(ok).is_ok(), "{ok}: {:?}", check_unit(ok));
        }
        for bad in ["tacos / s", "kdeg", "m**", "furlong", "m..s"] {
            assert!(check_unit(bad).is_err(), "{bad}");
        }
    }
}
