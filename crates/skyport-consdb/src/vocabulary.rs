//! Checks of the IVOA metadata a flexible-metadata key may carry: UCD1+ word lists (IVOA UCD1+
//! controlled vocabulary, shipped in `data/ucd1p-words.txt`) and VOUnit strings (IVOA VOUnits
//! 1.0, read by `skyport_schema::units`). Both are small, self-contained grammars; no Rust crate
//! implements either.

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

/// Checks a unit string against VOUnits 1.0 (or its astropy/FITS spellings): the
/// vocabulary's one VOUnit grammar.
pub use skyport_schema::units::check_unit;

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
}
