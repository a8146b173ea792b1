//! VO units (IVOA VOUnits 1.0): the one grammar skyport reads unit strings with, to check the
//! units a flexible-metadata key declares and to convert values for ADQL's `IN_UNIT`.
//!
//! A unit string is an optional scale factor (`10**-3`, `1.5`) and a product of terms joined by
//! `.` (and, after the first `/`, divided): a known unit name with an optional SI prefix where
//! VOUnits allows one (`km`, `mJy`, not `kdeg`), a power (`m**2`, `s**-1`, `m**(1/2)`), the
//! FITS spelling of a power (`m2`, `s-1`), a parenthesised sub-expression, a function
//! (`log(Hz)`), or a quoted unit outside the list (`'furlong'`). The astropy/FITS spellings
//! Rubin's metadata uses (`m3 / (kg s2)`, `erg*s^-1`) are read as the same units.
//!
//! Units with an SI dimension carry a scale to SI (radians for angles) so that two units of the
//! same dimension convert; the others (`pix`, `mag`, `beam`…) are valid but convert only to
//! themselves. No Rust crate implements this grammar, hence this module.

/// Dimension exponents: metre, kilogram, second, radian, kelvin, ampere, mole, candela.
type Dim = [i32; 8];

const NONE: Dim = [0; 8];

/// Whether a unit takes SI prefixes (VOUnits 1.0 §2.4).
#[derive(Clone, Copy, PartialEq)]
enum Prefix {
    Allowed,
    Forbidden,
}

/// A known unit: its scale to SI and dimension, when it has one.
struct Known {
    si: Option<(f64, Dim)>,
    prefix: Prefix,
}

fn known(name: &str) -> Option<Known> {
    use std::f64::consts::PI;
    use Prefix::{Allowed as P, Forbidden as F};
    let deg = PI / 180.0;
    let d = |m, kg, s, rad, k, a, mol, cd| [m, kg, s, rad, k, a, mol, cd];
    let with = |scale: f64, dim: Dim, prefix| Known {
        si: Some((scale, dim)),
        prefix,
    };
    let bare = |prefix| Known { si: None, prefix };
    Some(match name {
        "m" => with(1.0, d(1, 0, 0, 0, 0, 0, 0, 0), P),
        "g" => with(1e-3, d(0, 1, 0, 0, 0, 0, 0, 0), P),
        "s" => with(1.0, d(0, 0, 1, 0, 0, 0, 0, 0), P),
        "rad" => with(1.0, d(0, 0, 0, 1, 0, 0, 0, 0), P),
        "K" => with(1.0, d(0, 0, 0, 0, 1, 0, 0, 0), P),
        "A" => with(1.0, d(0, 0, 0, 0, 0, 1, 0, 0), P),
        "mol" => with(1.0, d(0, 0, 0, 0, 0, 0, 1, 0), P),
        "cd" => with(1.0, d(0, 0, 0, 0, 0, 0, 0, 1), P),
        "sr" => with(1.0, d(0, 0, 0, 2, 0, 0, 0, 0), P),
        "Hz" | "Bq" => with(1.0, d(0, 0, -1, 0, 0, 0, 0, 0), P),
        "N" => with(1.0, d(1, 1, -2, 0, 0, 0, 0, 0), P),
        "J" => with(1.0, d(2, 1, -2, 0, 0, 0, 0, 0), P),
        "W" => with(1.0, d(2, 1, -3, 0, 0, 0, 0, 0), P),
        "Pa" => with(1.0, d(-1, 1, -2, 0, 0, 0, 0, 0), P),
        "C" => with(1.0, d(0, 0, 1, 0, 0, 1, 0, 0), P),
        "V" => with(1.0, d(2, 1, -3, 0, 0, -1, 0, 0), P),
        "Ohm" => with(1.0, d(2, 1, -3, 0, 0, -2, 0, 0), P),
        "S" => with(1.0, d(-2, -1, 3, 0, 0, 2, 0, 0), P),
        "F" => with(1.0, d(-2, -1, 4, 0, 0, 2, 0, 0), P),
        "Wb" => with(1.0, d(2, 1, -2, 0, 0, -1, 0, 0), P),
        "T" => with(1.0, d(0, 1, -2, 0, 0, -1, 0, 0), P),
        "G" => with(1e-4, d(0, 1, -2, 0, 0, -1, 0, 0), P),
        "H" => with(1.0, d(2, 1, -2, 0, 0, -2, 0, 0), P),
        "lm" => with(1.0, d(0, 0, 0, 2, 0, 0, 0, 1), P),
        "lx" => with(1.0, d(-2, 0, 0, 2, 0, 0, 0, 1), P),
        "Gy" | "Sv" => with(1.0, d(2, 0, -2, 0, 0, 0, 0, 0), P),
        "kat" => with(1.0, d(0, 0, -1, 0, 0, 0, 1, 0), P),
        "eV" => with(1.602_176_634e-19, d(2, 1, -2, 0, 0, 0, 0, 0), P),
        "erg" => with(1e-7, d(2, 1, -2, 0, 0, 0, 0, 0), P),
        "Jy" => with(1e-26, d(0, 1, -2, 0, 0, 0, 0, 0), P),
        "pc" => with(3.085_677_581_491_367e16, d(1, 0, 0, 0, 0, 0, 0, 0), P),
        "a" | "yr" => with(31_557_600.0, d(0, 0, 1, 0, 0, 0, 0, 0), P),
        "arcsec" => with(deg / 3600.0, d(0, 0, 0, 1, 0, 0, 0, 0), P),
        "barn" => with(1e-28, d(2, 0, 0, 0, 0, 0, 0, 0), P),
        "l" | "L" => with(1e-3, d(3, 0, 0, 0, 0, 0, 0, 0), P),
        "t" => with(1e3, d(0, 1, 0, 0, 0, 0, 0, 0), P),
        "deg" => with(deg, d(0, 0, 0, 1, 0, 0, 0, 0), F),
        "arcmin" => with(deg / 60.0, d(0, 0, 0, 1, 0, 0, 0, 0), F),
        "mas" => with(deg / 3.6e6, d(0, 0, 0, 1, 0, 0, 0, 0), F),
        "uas" => with(deg / 3.6e9, d(0, 0, 0, 1, 0, 0, 0, 0), F),
        "min" => with(60.0, d(0, 0, 1, 0, 0, 0, 0, 0), F),
        "h" => with(3600.0, d(0, 0, 1, 0, 0, 0, 0, 0), F),
        "d" => with(86400.0, d(0, 0, 1, 0, 0, 0, 0, 0), F),
        "AU" | "au" => with(1.495_978_707e11, d(1, 0, 0, 0, 0, 0, 0, 0), F),
        "Angstrom" | "angstrom" => with(1e-10, d(1, 0, 0, 0, 0, 0, 0, 0), F),
        "lyr" => with(9.460_730_472_580_8e15, d(1, 0, 0, 0, 0, 0, 0, 0), F),
        "solMass" => with(1.988_47e30, d(0, 1, 0, 0, 0, 0, 0, 0), F),
        "solRad" => with(6.957e8, d(1, 0, 0, 0, 0, 0, 0, 0), F),
        "bit" | "byte" | "B" | "mag" | "R" | "Ry" | "u" | "D" | "ct" | "ph" | "photon" | "pix"
        | "pixel" | "adu" | "dex" => bare(P),
        "beam" | "bin" | "chan" | "voxel" | "solLum" | "Sun" | "%" | "dB" | "count"
        | "electron" | "e" | "ea" => bare(F),
        _ => return None,
    })
}

const PREFIXES: &[(&str, f64)] = &[
    ("da", 1e1),
    ("y", 1e-24),
    ("z", 1e-21),
    ("a", 1e-18),
    ("f", 1e-15),
    ("p", 1e-12),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("c", 1e-2),
    ("d", 1e-1),
    ("h", 1e2),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
    ("Z", 1e21),
    ("Y", 1e24),
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
];

/// What a unit expression amounts to: a scale to SI and a dimension, or `None` for a valid
/// unit without an SI dimension (`pix`, `mag`, a function, a quoted unit, a fractional power).
type Meaning = Option<(f64, Dim)>;

/// A unit name, prefixed or not.
fn name(text: &str) -> Result<Meaning, String> {
    if text.len() > 2 && text.starts_with('\'') && text.ends_with('\'') {
        return Ok(None);
    }
    if let Some(k) = known(text) {
        return Ok(k.si);
    }
    for (prefix, factor) in PREFIXES {
        if let Some(k) = text.strip_prefix(prefix).and_then(known) {
            if k.prefix == Prefix::Allowed {
                return Ok(k.si.map(|(scale, dim)| (scale * factor, dim)));
            }
        }
    }
    Err(format!("'{text}' is not a known unit"))
}

/// A power: an integer, `(n/m)` or `(x)`; `None` when it is not an integer.
fn power(text: &str) -> Result<Option<i32>, String> {
    let p = text.trim();
    let invalid = || format!("'{p}' is not a valid power");
    match p.strip_prefix('(').and_then(|q| q.strip_suffix(')')) {
        Some(inner) => match inner.split_once('/') {
            Some((n, d)) => {
                let n: i64 = n.trim().parse().map_err(|_| invalid())?;
                let d: u64 = d.trim().parse().map_err(|_| invalid())?;
                match d {
                    0 => Err(invalid()),
                    1 => i32::try_from(n).map(Some).map_err(|_| invalid()),
                    _ => Ok(None),
                }
            }
            None => {
                let x: f64 = inner.trim().parse().map_err(|_| invalid())?;
                Ok((x.fract() == 0.0 && x.abs() < 1e6).then_some(x as i32))
            }
        },
        None => p.parse::<i32>().map(Some).map_err(|_| invalid()),
    }
}

fn raise(meaning: Meaning, power: Option<i32>) -> Meaning {
    let (scale, dim) = meaning?;
    let p = power?;
    Some((scale.powi(p), dim.map(|x| x * p)))
}

/// Where the `**` of a term's power is: the first one outside parentheses (`(kg.s**2)` has
/// none; `(kg.s)**2` has one after the group).
fn top_level_power(term: &str) -> Option<usize> {
    let mut depth = 0i32;
    let bytes = term.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'*' if depth == 0 && bytes.get(i + 1) == Some(&b'*') => return Some(i),
            _ => {}
        }
    }
    None
}

/// One term: a function, a parenthesised expression, or a name with an optional power.
fn term(text: &str) -> Result<Meaning, String> {
    let t = text.trim();
    for f in ["log", "ln", "exp", "sqrt"] {
        if let Some(inner) = t
            .strip_prefix(f)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
        {
            expression(inner)?;
            return Ok(None);
        }
    }
    let (base, exponent) = match top_level_power(t) {
        Some(at) => (&t[..at], Some(power(&t[at + 2..])?)),
        None => (t, None),
    };
    let meaning = match base.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => expression(inner)?,
        None => match name(base) {
            Ok(m) => m,
            // The FITS spelling of a power: `m3`, `s-1`.
            Err(e) => {
                let split = base
                    .find(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
                    .unwrap_or(base.len());
                match (exponent, base[split..].parse::<i32>()) {
                    (None, Ok(p)) if split > 0 => {
                        return Ok(raise(name(&base[..split])?, Some(p)));
                    }
                    _ => return Err(e),
                }
            }
        },
    };
    Ok(match exponent {
        Some(p) => raise(meaning, p),
        None => meaning,
    })
}

/// Splits on `.` and `/` outside parentheses and quotes, keeping which operator came before
/// each term (true: a division).
fn split_terms(unit: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start, mut divided) = (0i32, false, 0usize, false);
    for (i, b) in unit.bytes().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b'.' | b'/' if !quoted && depth == 0 => {
                out.push((divided, &unit[start..i]));
                // Everything after the first division is in the denominator.
                divided |= b == b'/';
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((divided, &unit[start..]));
    out
}

/// A product of terms.
fn expression(unit: &str) -> Result<Meaning, String> {
    let terms = split_terms(unit);
    if terms.iter().any(|(_, t)| t.trim().is_empty()) {
        return Err("an empty unit between operators".into());
    }
    let mut total: Meaning = Some((1.0, NONE));
    for (divided, text) in terms {
        let meaning = term(text)?;
        total = match (total, meaning) {
            (Some((f, mut dim)), Some((g, d))) => {
                let sign = if divided { -1 } else { 1 };
                dim.iter_mut().zip(d).for_each(|(a, b)| *a += sign * b);
                Some((if divided { f / g } else { f * g }, dim))
            }
            _ => None,
        };
    }
    Ok(total)
}

/// Rewrites the astropy/FITS spellings (`m3 / (kg s2)`, `erg*s^-1`) into VOUnit syntax
/// (`m3/(kg.s2)`, `erg.s**-1`): blanks and `*` as products, `^` as powers.
fn to_vounit_syntax(unit: &str) -> String {
    let compact = unit.replace('^', "**");
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

/// Reads a unit string (see the module doc); the empty string is the dimensionless unit.
fn parse(unit: &str) -> Result<Meaning, String> {
    let mut u = unit.trim();
    let mut scale = 1.0;
    // A leading scale factor: 10**n, or a decimal number, then the unit.
    if let Some(rest) = u.strip_prefix("10**") {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+'))
            .unwrap_or(rest.len());
        let n: i32 = rest[..end]
            .parse()
            .map_err(|_| format!("'{unit}' has an incomplete scale factor"))?;
        scale = 10f64.powi(n);
        u = rest[end..].trim_start();
    } else if u.starts_with(|c: char| c.is_ascii_digit()) {
        let end = u
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
            .unwrap_or(u.len());
        scale = u[..end]
            .parse()
            .map_err(|_| format!("'{unit}' has an invalid scale factor"))?;
        u = u[end..].trim_start();
    }
    // A unit stands for a positive, finite multiple of its SI unit: `0m`, `10**-400 m` or
    // `km**200` would make every conversion from it 0, infinite or NaN.
    let positive = |f: f64| {
        if f.is_finite() && f > 0.0 {
            Ok(f)
        } else {
            Err(format!(
                "'{unit}' is {f} times its SI unit, not a positive finite multiple"
            ))
        }
    };
    let scale = positive(scale)?;
    if u.is_empty() {
        return Ok(Some((scale, NONE)));
    }
    let meaning = expression(&to_vounit_syntax(u)).map_err(|e| format!("'{unit}': {e}"))?;
    match meaning {
        Some((f, dim)) => Ok(Some((positive(f * scale)?, dim))),
        None => Ok(None),
    }
}

/// Checks a unit string: VOUnit syntax (`m.s**-2`, `mJy/beam`, `10**-3 W.m**-2`,
/// `'furlong'`) or the astropy/FITS spellings of the same units (`m3 / (kg s2)`). Unknown unit
/// names are refused; the empty string is the dimensionless unit.
pub fn check_unit(unit: &str) -> Result<(), String> {
    parse(unit).map(|_| ())
}

/// The factor that turns a value in `from` into one in `to`, or why not.
pub fn conversion_factor(from: &str, to: &str) -> Result<f64, String> {
    let si = |u: &str| -> Result<(f64, Dim), String> {
        match parse(u) {
            Ok(Some(m)) if !u.trim().is_empty() => Ok(m),
            Ok(Some(_)) | Err(_) => Err(format!("`{u}` is not a unit skyport knows")),
            Ok(None) => Err(format!("`{u}` has no SI dimension to convert with")),
        }
    };
    let (f1, d1) = si(from)?;
    let (f2, d2) = si(to)?;
    if d1 != d2 {
        return Err(format!("`{from}` cannot be converted to `{to}`"));
    }
    Ok(f1 / f2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    fn factor(from: &str, to: &str) -> f64 {
        conversion_factor(from, to).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"))
    }

    #[test]
    fn conversions() {
        assert!(close(factor("deg", "arcsec"), 3600.0));
        assert!(close(factor("mas", "deg"), 1.0 / 3.6e6));
        assert!(close(factor("m", "nm"), 1e9));
        assert!(close(factor("km/s", "m/s"), 1e3));
        assert!(close(factor("km.s**-1", "m/s"), 1e3));
        assert!(close(factor("Angstrom", "um"), 1e-4));
        assert!(close(factor("d", "h"), 24.0));
        assert!(close(factor("deg**2", "arcmin**2"), 3600.0));
        assert!(close(factor("kg", "g"), 1e3));
        assert!(close(factor("10**-3 W", "mW"), 1.0));
        assert!(close(factor("m3 / (kg s2)", "m**3/(kg.s**2)"), 1.0));
        assert!(close(factor("erg*s^-1", "W"), 1e-7));
        assert!(close(factor("Mpc", "pc"), 1e6));
        assert!(close(factor("(km/s)**2", "m**2.s**-2"), 1e6));
        assert!(conversion_factor("deg", "m").is_err());
        assert!(conversion_factor("furlong", "m").is_err());
        assert!(conversion_factor("", "m").is_err());
        assert!(conversion_factor("pix", "m").is_err());
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
            "m3 / (kg s2)",
        ] {
            assert!(check_unit(ok).is_ok(), "{ok}: {:?}", check_unit(ok));
        }
        for bad in [
            "tacos / s",
            "kdeg",
            "m**",
            "furlong",
            "m..s",
            "10**",
            "m**(1/0)",
        ] {
            assert!(check_unit(bad).is_err(), "{bad}");
        }
    }
}
