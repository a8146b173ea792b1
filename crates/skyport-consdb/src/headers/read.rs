//! Reading a header from the forms it is kept in: FITS files, plain or gzipped (the primary HDU, with the first
//! image extension's cards for what the primary lacks), and text dumps — the flat `KEY: value`
//! YAML and JSON that `fitsheader`-style tools write, the `lsst.daf.base.PropertyList` YAML
//! (`- [KEY, type, value, comment]`), and the HeaderService YAML (`PRIMARY:` and per-detector
//! sections of `{keyword, value, comment}`), whose detector sections become one header each.

use std::path::Path;

use serde_json::Value as Json;
use skyport_fits::{Header, HeaderValue};

/// A header read from a file: the primary cards, and per-detector overlays when the file holds
/// them (HeaderService YAML: section `R22S11_PRIMARY` → detector `R22_S11`).
#[derive(Debug, Clone, Default)]
pub struct HeaderSet {
    /// The primary header.
    pub primary: Header,
    /// (detector name, its cards) for every detector section.
    pub detectors: Vec<(String, Header)>,
}

fn json_value(v: &Json) -> Option<HeaderValue> {
    Some(match v {
        Json::Null => HeaderValue::Undefined,
        Json::Bool(b) => HeaderValue::Logical(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => HeaderValue::Int(i),
            None => HeaderValue::Real(n.as_f64()?),
        },
        Json::String(s) => HeaderValue::Str(s.clone()),
        Json::Array(_) | Json::Object(_) => HeaderValue::Unparsed(v.to_string()),
    })
}

fn set(header: &mut Header, key: &str, value: &Json) {
    if key.is_empty() || key.starts_with("__") {
        return;
    }
    if let Some(v) = json_value(value) {
        header.set(&key.to_ascii_uppercase(), v);
    }
}

/// Cards from a list of `{keyword, value}` objects (HeaderService) or `[KEY, type, value,
/// comment]` lists (PropertyList).
fn from_list(items: &[Json]) -> Header {
    let mut header = Header::default();
    for item in items {
        match item {
            Json::Object(m) => {
                if let Some(key) = m.get("keyword").and_then(Json::as_str) {
                    set(&mut header, key, m.get("value").unwrap_or(&Json::Null));
                }
            }
            Json::Array(a) => {
                if let (Some(key), Some(value)) = (a.first().and_then(Json::as_str), a.get(2)) {
                    set(&mut header, key, value);
                }
            }
            _ => {}
        }
    }
    header
}

/// Parses header text (YAML or JSON, any of the forms above).
pub fn parse_text(text: &str, name: &str) -> Result<HeaderSet, String> {
    // A YAML tag on the first line (`!<lsst.daf.base.PropertyList>`) names the form; the
    // content below it is a plain list.
    let body = match text.strip_prefix("!<") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, b)| b),
        None => text,
    };
    // YAML's non-finite floats have no JSON form: read them as null (an unknown value).
    let cleaned;
    let body = if body.contains(".nan") || body.contains(".inf") || body.contains(".NaN") {
        cleaned = body
            .lines()
            .map(|l| {
                let t = l.trim_end();
                for bad in [
                    ".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.inf", ".Inf", "-.Inf",
                ] {
                    if let Some(head) = t.strip_suffix(bad) {
                        if head.ends_with(": ") || head.ends_with("- ") || head.ends_with(", ") {
                            return format!("{head}null");
                        }
                    }
                }
                l.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace(", .nan,", ", null,")
            .replace(", .inf,", ", null,")
            .replace(", -.inf,", ", null,");
        cleaned.as_str()
    } else {
        body
    };
    let doc: Json = if body.trim_start().starts_with('{') {
        serde_json::from_str(body).map_err(|e| format!("{name}: not valid JSON: {e}"))?
    } else {
        serde_saphyr::from_str(body).map_err(|e| format!("{name}: not valid YAML: {e}"))?
    };
    match doc {
        Json::Array(items) => Ok(HeaderSet {
            primary: from_list(&items),
            detectors: Vec::new(),
        }),
        Json::Object(map) => {
            if let Some(Json::Array(primary)) = map.get("PRIMARY") {
                let detectors = map
                    .iter()
                    .filter_map(|(k, v)| {
                        let section = k.strip_suffix("_PRIMARY")?;
                        let items = v.as_array()?;
                        // R22S11 → R22_S11
                        let name = match (section.len(), section.get(..3), section.get(3..)) {
                            (6, Some(raft), Some(slot)) => format!("{raft}_{slot}"),
                            _ => section.to_string(),
                        };
                        Some((name, from_list(items)))
                    })
                    .collect();
                return Ok(HeaderSet {
                    primary: from_list(primary),
                    detectors,
                });
            }
            let mut header = Header::default();
            for (k, v) in &map {
                set(&mut header, k, v);
            }
            Ok(HeaderSet {
                primary: header,
                detectors: Vec::new(),
            })
        }
        _ => Err(format!("{name}: neither a header mapping nor a card list")),
    }
}

/// Reads the header of a FITS file or a header dump (by content: FITS files start with
/// `SIMPLE`).
pub fn read(path: &Path) -> Result<HeaderSet, String> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    // cfitsio reads gzip-compressed FITS files as they are.
    if bytes.starts_with(b"SIMPLE  =") || bytes.starts_with(&[0x1f, 0x8b]) {
        let summary = skyport_fits::read_summary(path).map_err(|e| format!("{name}: {e}"))?;
        let mut hdus = summary.hdus.into_iter();
        let mut primary = hdus
            .next()
            .map(|h| h.header)
            .ok_or_else(|| format!("{name}: no HDU"))?;
        // Cameras put the exposure's cards in the primary HDU and the detector's in the image
        // extension; what the primary lacks comes from the first extension.
        if let Some(first) = hdus.next() {
            primary.inherit_from(&first.header);
        }
        return Ok(HeaderSet {
            primary,
            detectors: Vec::new(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{name}: neither FITS nor text"))?;
    parse_text(&text, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dump_form_reads_to_cards() {
        let list = "!<lsst.daf.base.PropertyList>\n- [EXPTIME, Double, 30.0, '[s] Exposure']\n- [OBJECT, String, 'M13', '']\n";
        let h = parse_text(list, "t").expect("propertylist");
        assert_eq!(h.primary.f64("EXPTIME"), Some(30.0));
        assert_eq!(h.primary.str("OBJECT").as_deref(), Some("M13"));
        let flat = "EXPTIME: 30.0\nOBJECT: M13\nRA: null\n";
        let h = parse_text(flat, "t").expect("flat");
        assert_eq!(h.primary.f64("EXPTIME"), Some(30.0));
        assert_eq!(h.primary.f64("RA"), None);
        let json = "{\"__CONTENT__\": \"metadata\", \"EXPTIME\": 2.5}";
        assert_eq!(
            parse_text(json, "t").expect("json").primary.f64("EXPTIME"),
            Some(2.5)
        );
        let hs = "PRIMARY:\n- {keyword: EXPTIME, value: 30, comment: ''}\n- {keyword: null, value: null, comment: '---'}\nR22S11_PRIMARY:\n- {keyword: CCDSLOT, value: S11, comment: ''}\n";
        let h = parse_text(hs, "t").expect("headerservice");
        assert_eq!(h.primary.i64("EXPTIME"), Some(30));
        assert_eq!(h.detectors[0].0, "R22_S11");
        assert_eq!(h.detectors[0].1.str("CCDSLOT").as_deref(), Some("S11"));
        // A section name that is not ASCII is kept as it is (no slicing inside a character).
        let odd = "PRIMARY: []\nR2é2S_PRIMARY: []\n";
        assert_eq!(parse_text(odd, "t").expect("odd").detectors[0].0, "R2é2S");
    }
}
