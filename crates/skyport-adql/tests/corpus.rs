//! The ADQL conformance corpora in ../shared/data/conformance/adql: every lyonetia query is
//! accepted or refused as its `valid` attribute says (syntax-only), and every ADQL string from
//! the pyvo and astroquery documentation parses. Entries we believe wrong upstream are listed
//! in `DISAGREEMENTS` with the reason; they are still run, and must fail the way we say.

use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/conformance/adql")
}

/// (directory/uuid, reason): lyonetia entries whose `valid` flag we believe wrong for ADQL 2.1.
const DISAGREEMENTS: &[(&str, &str)] = &[
    (
        "lyonetia-validator-sample/052cd50e-4509-11e6-b60c-9d2c33f9b7a2",
        "`Point(2,3)`: ADQL 2.1 made the coordinate system optional (§4.2.1); this validator sample \
         follows 2.0 rules, and the same query in lyonetia's gavo set is marked valid",
    ),
    (
        "lyonetia-validator-sample/dfd90750-450d-11e6-b20b-6d529bdffd4c",
        "`POINT(3,4)`: as above, a 2.0 rule; valid in 2.1",
    ),
];

/// Documentation strings that are not ADQL, with why (matched by a fragment of their text).
const NOT_ADQL_IN_DOCS: &[(&str, &str)] = &[
    (
        "WHERE 1\n",
        "`WHERE 1`: a bare number is not a search condition in ADQL (some services tolerate it)",
    ),
    (
        "https://tapvizier",
        "a whole TAP request URL, not an ADQL string",
    ),
    (
        "FROM SpecAll LIMIT 100",
        "SDSS SkyServer SQL (LIMIT), not ADQL; the docs send it to SkyServer, not to a TAP service",
    ),
];

/// Documentation strings that are fragments (the docs build them up in pieces).
const FRAGMENTS_IN_DOCS: &[&str] = &["select * from"];

struct Case {
    file: String,
    uuid: String,
    valid: bool,
    adql: String,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

/// The text of an element body: CDATA sections verbatim, entities decoded elsewhere.
fn element_text(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("<![CDATA[") {
        out.push_str(&decode_entities(&rest[..start]));
        let after = &rest[start + 9..];
        let end = after.find("]]>").expect("closed CDATA");
        out.push_str(&after[..end]);
        rest = &after[end + 3..];
    }
    out.push_str(&decode_entities(rest));
    out
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Reads the `<query uuid><adql valid>…</adql></query>` entries (the files are simple enough
/// that scanning is exact: no nesting of these elements).
fn read_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("read corpus file");
    let mut cases = Vec::new();
    let mut rest = text.as_str();
    while let Some(q) = rest.find("<query") {
        rest = &rest[q..];
        let tag_end = rest.find('>').expect("tag end");
        let uuid = attribute(&rest[..tag_end], "uuid").unwrap_or_default();
        let a = rest.find("<adql").expect("adql element");
        let adql_tag_end = a + rest[a..].find('>').expect("adql tag end");
        let valid = attribute(&rest[a..adql_tag_end], "valid").as_deref() == Some("true");
        let close = rest.find("</adql>").expect("adql end");
        cases.push(Case {
            file: path.file_name().unwrap().to_string_lossy().into_owned(),
            uuid,
            valid,
            adql: element_text(&rest[adql_tag_end + 1..close]),
        });
        rest = &rest[close..];
    }
    cases
}

#[test]
fn lyonetia_queries_are_accepted_or_refused_as_marked() {
    let mut total = 0;
    let mut failures = Vec::new();
    for dir in ["lyonetia-gavo", "lyonetia-validator-sample"] {
        let mut files: Vec<_> = std::fs::read_dir(corpus_dir().join(dir))
            .expect("corpus directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        files.sort();
        for file in files {
            for case in read_cases(&file) {
                total += 1;
                let result = skyport_adql::parse(&case.adql);
                let accepted = result.is_ok();
                let key = format!("{dir}/{}", case.uuid);
                let disagreement = DISAGREEMENTS.iter().find(|(k, _)| *k == key);
                let expected = match disagreement {
                    Some(_) => !case.valid,
                    None => case.valid,
                };
                if accepted != expected {
                    failures.push(format!(
                        "{dir}/{} {}: expected {}, got {:?}\n    {}",
                        case.file,
                        case.uuid,
                        if expected { "valid" } else { "invalid" },
                        result.err().map(|e| e.to_string()),
                        case.adql.trim()
                    ));
                }
            }
        }
    }
    assert!(total > 300, "only {total} corpus queries found");
    assert!(
        failures.is_empty(),
        "{} of {total} corpus queries disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Placeholders in documentation queries (`{ra}`, `<ra_deg>`) replaced by what the surrounding
/// code fills in.
fn fill_placeholders(adql: &str) -> String {
    let mut out = String::new();
    let mut rest = adql;
    while let Some(c) = rest.chars().next() {
        let close = match c {
            '{' => Some('}'),
            '<' => Some('>'),
            _ => None,
        };
        if let Some(close) = close {
            if let Some(len) = rest[1..].find(close) {
                let name = &rest[1..1 + len];
                let plausible = if close == '}' {
                    !name.contains(['\n', '{'])
                } else {
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if !name.is_empty() && plausible {
                    out.push_str(placeholder_value(name));
                    rest = &rest[len + 2..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn placeholder_value(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if n.contains("where") {
        "1=1"
    } else if n.contains("coords") || n.contains("center") {
        "10.0, 20.0"
    } else if n.contains("table") || n.contains("name") && !n.contains("source") {
        "some_table"
    } else {
        "1"
    }
}

#[test]
fn documentation_queries_parse() {
    let mut total = 0;
    let mut failures = Vec::new();
    for file in ["pyvo_docs_queries.json", "astroquery_docs_queries.json"] {
        let text = std::fs::read_to_string(corpus_dir().join(file)).expect("read");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        let queries = doc
            .get("queries")
            .and_then(|q| q.as_array())
            .or_else(|| doc.as_array())
            .expect("query list")
            .clone();
        for q in queries {
            let Some(adql) = q.get("adql").and_then(|a| a.as_str()) else {
                continue;
            };
            total += 1;
            let filled = fill_placeholders(adql);
            let result = skyport_adql::parse(&filled);
            let not_adql = NOT_ADQL_IN_DOCS.iter().any(|(frag, _)| adql.contains(frag))
                || FRAGMENTS_IN_DOCS.contains(&adql.trim());
            match (result, not_adql) {
                (Ok(_), false) | (Err(_), true) => {}
                (Ok(_), true) => failures.push(format!(
                    "{file}: listed as not ADQL but accepted\n    {}",
                    adql.trim()
                )),
                (Err(e), false) => failures.push(format!("{file}: {e}\n    {}", filled.trim())),
            }
        }
    }
    assert!(total > 90, "only {total} documentation queries found");
    assert!(
        failures.is_empty(),
        "{} of {total} documentation queries fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
