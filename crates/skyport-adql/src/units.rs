//! VO-unit conversion factors for ADQL's `IN_UNIT` (VOUnits 1.0): a unit string is parsed into
//! a scale factor and a dimension; two units convert when their dimensions agree. Covers the
//! SI prefixes, SI base and derived units and the astronomical ones archives use (deg, arcsec,
//! mas, pc, AU, yr, Jy, Angstrom, eV…), products (`.`), one division (`/`) and powers (`**n`).

/// Dimension exponents: metre, kilogram, second, radian, kelvin, ampere, mole, candela.
type Dim = [i32; 8];

fn base(unit: &str) -> Option<(f64, Dim)> {
    use std::f64::consts::PI;
    let deg = PI / 180.0;
    Some(match unit {
        "m" => (1.0, [1, 0, 0, 0, 0, 0, 0, 0]),
        "g" => (1e-3, [0, 1, 0, 0, 0, 0, 0, 0]),
        "s" => (1.0, [0, 0, 1, 0, 0, 0, 0, 0]),
        "rad" => (1.0, [0, 0, 0, 1, 0, 0, 0, 0]),
        "K" => (1.0, [0, 0, 0, 0, 1, 0, 0, 0]),
        "A" => (1.0, [0, 0, 0, 0, 0, 1, 0, 0]),
        "mol" => (1.0, [0, 0, 0, 0, 0, 0, 1, 0]),
        "cd" => (1.0, [0, 0, 0, 0, 0, 0, 0, 1]),
        "deg" => (deg, [0, 0, 0, 1, 0, 0, 0, 0]),
        "arcmin" => (deg / 60.0, [0, 0, 0, 1, 0, 0, 0, 0]),
        "arcsec" => (deg / 3600.0, [0, 0, 0, 1, 0, 0, 0, 0]),
        "mas" => (deg / 3.6e6, [0, 0, 0, 1, 0, 0, 0, 0]),
        "sr" => (1.0, [0, 0, 0, 2, 0, 0, 0, 0]),
        "Hz" => (1.0, [0, 0, -1, 0, 0, 0, 0, 0]),
        "N" => (1.0, [1, 1, -2, 0, 0, 0, 0, 0]),
        "J" => (1.0, [2, 1, -2, 0, 0, 0, 0, 0]),
        "W" => (1.0, [2, 1, -3, 0, 0, 0, 0, 0]),
        "Pa" => (1.0, [-1, 1, -2, 0, 0, 0, 0, 0]),
        "eV" => (1.602_176_634e-19, [2, 1, -2, 0, 0, 0, 0, 0]),
        "erg" => (1e-7, [2, 1, -2, 0, 0, 0, 0, 0]),
        "Jy" => (1e-26, [0, 1, -2, 0, 0, 0, 0, 0]),
        "Angstrom" | "angstrom" => (1e-10, [1, 0, 0, 0, 0, 0, 0, 0]),
        "AU" | "au" => (1.495_978_707e11, [1, 0, 0, 0, 0, 0, 0, 0]),
        "pc" => (3.085_677_581_491_367e16, [1, 0, 0, 0, 0, 0, 0, 0]),
        "lyr" => (9.460_730_472_580_8e15, [1, 0, 0, 0, 0, 0, 0, 0]),
        "min" => (60.0, [0, 0, 1, 0, 0, 0, 0, 0]),
        "h" => (3600.0, [0, 0, 1, 0, 0, 0, 0, 0]),
        "d" => (86400.0, [0, 0, 1, 0, 0, 0, 0, 0]),
        "a" | "yr" => (31_557_600.0, [0, 0, 1, 0, 0, 0, 0, 0]),
        "solMass" => (1.988_47e30, [0, 1, 0, 0, 0, 0, 0, 0]),
        "solRad" => (6.957e8, [1, 0, 0, 0, 0, 0, 0, 0]),
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
];

fn simple(unit: &str) -> Option<(f64, Dim)> {
    if let Some(b) = base(unit) {
        return Some(b);
    }
    for (p, f) in PREFIXES {
        if let Some(rest) = unit.strip_prefix(p) {
            // Prefixes go on metric units only, not on deg/arcmin/min/h/d/yr.
            if matches!(
                rest,
                "deg" | "arcmin" | "min" | "h" | "d" | "AU" | "au" | "solMass" | "solRad"
            ) {
                continue;
            }
            if let Some((g, dim)) = base(rest) {
                return Some((f * g, dim));
            }
        }
    }
    None
}

fn factor_with_power(term: &str) -> Option<(f64, Dim)> {
    let (name, power) = match term.split_once("**") {
        Some((n, p)) => (
            n,
            p.trim_matches(|c| c == '(' || c == ')')
                .parse::<i32>()
                .ok()?,
        ),
        None => {
            // `m2`, `s-1` (the FITS style) also appear in archives.
            let split = term
                .find(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
                .unwrap_or(term.len());
            if split == term.len() {
                (term, 1)
            } else {
                (&term[..split], term[split..].parse::<i32>().ok()?)
            }
        }
    };
    let (f, dim) = simple(name)?;
    Some((f.powi(power), dim.map(|d| d * power)))
}

/// Scale (to SI, radians for angles) and dimension of a VO unit string.
fn parse(unit: &str) -> Option<(f64, Dim)> {
    let unit = unit.trim();
    if unit.is_empty() {
        return None;
    }
    let mut parts = unit.split('/');
    let numerator = parts.next()?;
    let mut factor = 1.0;
    let mut dim: Dim = [0; 8];
    for term in numerator.split('.').filter(|t| !t.is_empty()) {
        let (f, d) = factor_with_power(term)?;
        factor *= f;
        dim.iter_mut().zip(d).for_each(|(a, b)| *a += b);
    }
    for denominator in parts {
        for term in denominator.split('.').filter(|t| !t.is_empty()) {
            let (f, d) = factor_with_power(term)?;
            factor /= f;
            dim.iter_mut().zip(d).for_each(|(a, b)| *a -= b);
        }
    }
    Some((factor, dim))
}

/// The factor that turns a value in `from` into one in `to`, or why not.
pub fn conversion_factor(from: &str, to: &str) -> Result<f64, String> {
    let (f1, d1) = parse(from).ok_or_else(|| format!("`{from}` is not a unit skyport knows"))?;
    let (f2, d2) = parse(to).ok_or_else(|| format!("`{to}` is not a unit skyport knows"))?;
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

    #[test]
    fn conversions() {
        assert!(close(conversion_factor("deg", "arcsec").unwrap(), 3600.0));
        assert!(close(conversion_factor("mas", "deg").unwrap(), 1.0 / 3.6e6));
        assert!(close(conversion_factor("m", "nm").unwrap(), 1e9));
        assert!(close(conversion_factor("km/s", "m/s").unwrap(), 1e3));
        assert!(close(conversion_factor("Angstrom", "um").unwrap(), 1e-4));
        assert!(close(conversion_factor("d", "h").unwrap(), 24.0));
        assert!(close(
            conversion_factor("deg**2", "arcmin**2").unwrap(),
            3600.0
        ));
        assert!(conversion_factor("deg", "m").is_err());
        assert!(conversion_factor("furlong", "m").is_err());
        assert!(conversion_factor("", "m").is_err());
    }
}
