//! VOSI 1.1 documents: availability and capabilities.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use skyport_votable::escape_xml;

use crate::limits::Limits;

/// The VOSI availability document.
pub fn availability(available: bool, up_since: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <vosi:availability xmlns:vosi=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\n\
         \x20 <vosi:available>{available}</vosi:available>\n\
         \x20 <vosi:upSince>{}</vosi:upSince>\n\
         \x20 <vosi:note>{}</vosi:note>\n\
         </vosi:availability>\n",
        escape_xml(up_since),
        escape_xml(note)
    )
}

/// A VOSI capability whose interface is one full URL (VOSI 1.1: `accessURL use="full"`).
fn vosi_capability(standard_id: &str, url: &str) -> String {
    format!(
        "  <capability standardID=\"{standard_id}\">\n\
         \x20   <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\n\
         \x20     <accessURL use=\"full\">{}</accessURL>\n\
         \x20   </interface>\n\
         \x20 </capability>\n",
        escape_xml(url)
    )
}

/// The VOSI capabilities and availability capabilities of the service at `base`.
pub(crate) fn vosi_capabilities_and_availability(base: &str) -> String {
    vosi_capability(
        "ivo://ivoa.net/std/VOSI#capabilities",
        &format!("{base}/capabilities"),
    ) + &vosi_capability(
        "ivo://ivoa.net/std/VOSI#availability",
        &format!("{base}/availability"),
    )
}

/// ADQL feature groups this service declares, with their forms (TAPRegExt / ADQL 2.1 §4).
///
/// COALESCE is supported but not declared: ADQL 2.1 §4.9 names its group
/// `features-adql-conditional`, which the TAPRegExt vocabulary that STILTS taplint checks against
/// does not list, and taplint reports it as an error.
const FEATURES: [(&str, &[&str]); 7] = [
    (
        "features-adqlgeo",
        &[
            "POINT",
            "CIRCLE",
            "BOX",
            "POLYGON",
            "REGION",
            "CONTAINS",
            "INTERSECTS",
            "DISTANCE",
            "AREA",
            "CENTROID",
            "COORD1",
            "COORD2",
            "COORDSYS",
        ],
    ),
    ("features-adql-string", &["LOWER", "UPPER", "ILIKE"]),
    ("features-adql-common-table", &["WITH"]),
    ("features-adql-sets", &["UNION", "EXCEPT", "INTERSECT"]),
    ("features-adql-type", &["CAST"]),
    ("features-adql-unit", &["IN_UNIT"]),
    ("features-adql-offset", &["OFFSET"]),
];

/// The TAP service's capabilities (VOSI capabilities with a TAPRegExt `tr:TableAccess`).
/// `base` is the TAP base URL without a trailing slash.
pub fn tap_capabilities(base: &str, limits: &Limits) -> String {
    let b = escape_xml(base);
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\"\n\
         \x20   xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\"\n\
         \x20   xmlns:vr=\"http://www.ivoa.net/xml/VOResource/v1.0\"\n\
         \x20   xmlns:tr=\"http://www.ivoa.net/xml/TAPRegExt/v1.0\"\n\
         \x20   xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    s.push_str(&format!(
        "  <capability standardID=\"ivo://ivoa.net/std/TAP\" xsi:type=\"tr:TableAccess\">\n\
         \x20   <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.1\">\n\
         \x20     <accessURL use=\"base\">{b}</accessURL>\n\
         \x20   </interface>\n\
         \x20   <dataModel ivo-id=\"ivo://ivoa.net/std/ObsCore#core-1.1\">ObsCore-1.1</dataModel>\n\
         \x20   <dataModel ivo-id=\"ivo://ivoa.net/std/obsloctap#table-1.0\">ObsLocTAP-1.0</dataModel>\n\
         \x20   <language>\n\
         \x20     <name>ADQL</name>\n\
         \x20     <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.0\">2.0</version>\n\
         \x20     <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.1\">2.1</version>\n\
         \x20     <description>The Astronomical Data Query Language</description>\n"
    ));
    for (key, forms) in FEATURES {
        s.push_str(&format!(
            "      <languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#{key}\">\n"
        ));
        for form in forms {
            s.push_str(&format!("        <feature><form>{form}</form></feature>\n"));
        }
        s.push_str("      </languageFeatures>\n");
    }
    s.push_str("    </language>\n");
    for format in skyport_votable::ALL_FORMATS {
        match format.ivo_id() {
            Some(id) => s.push_str(&format!("    <outputFormat ivo-id=\"{id}\">\n")),
            None => s.push_str("    <outputFormat>\n"),
        }
        s.push_str(&format!(
            "      <mime>{}</mime>\n",
            escape_xml(format.mime())
        ));
        for alias in format.aliases().iter().take(1) {
            s.push_str(&format!("      <alias>{alias}</alias>\n"));
        }
        s.push_str("    </outputFormat>\n");
    }
    s.push_str(&format!(
        "    <uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-inline\"/>\n\
         \x20   <uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-http\"/>\n\
         \x20   <uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-https\"/>\n\
         \x20   <retentionPeriod><default>{}</default></retentionPeriod>\n\
         \x20   <executionDuration><default>{}</default><hard>{}</hard></executionDuration>\n\
         \x20   <outputLimit><default unit=\"row\">{}</default><hard unit=\"row\">{}</hard></outputLimit>\n\
         \x20   <uploadLimit><hard unit=\"byte\">{}</hard></uploadLimit>\n\
         \x20 </capability>\n",
        limits.retention_seconds,
        limits.execution_seconds_default,
        limits.execution_seconds_hard,
        limits.maxrec_default,
        limits.maxrec_hard,
        limits.upload_max_bytes,
    ));
    s.push_str(&vosi_capabilities_and_availability(base));
    s.push_str(&format!(
        "  <capability standardID=\"ivo://ivoa.net/std/VOSI#tables-1.1\">\n\
         \x20   <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.1\">\n\
         \x20     <accessURL use=\"base\">{b}/tables</accessURL>\n\
         \x20   </interface>\n\
         \x20 </capability>\n\
         \x20 <capability standardID=\"ivo://ivoa.net/std/DALI#examples\">\n\
         \x20   <interface xsi:type=\"vr:WebBrowser\">\n\
         \x20     <accessURL use=\"full\">{b}/examples</accessURL>\n\
         \x20   </interface>\n\
         \x20 </capability>\n"
    ));
    s.push_str("</vosi:capabilities>\n");
    s
}

/// Capabilities of a simple DALI service at `base` (no trailing slash): its own capability
/// (`standard_id`, one ParamHTTP interface at `{base}/{resource}`, `version`) and the VOSI ones.
pub fn service_capabilities(
    base: &str,
    standard_id: &str,
    version: &str,
    resource: &str,
) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\"\n\
         \x20   xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\"\n\
         \x20   xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    s.push_str(&format!(
        "  <capability standardID=\"{}\">\n\
         \x20   <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"{}\">\n\
         \x20     <accessURL use=\"base\">{}</accessURL>\n\
         \x20   </interface>\n\
         \x20 </capability>\n",
        escape_xml(standard_id),
        escape_xml(version),
        escape_xml(&format!("{base}/{resource}"))
    ));
    s.push_str(&vosi_capabilities_and_availability(base));
    s.push_str("</vosi:capabilities>\n");
    s
}

/// A capabilities document as the response, its interfaces' security methods declared for
/// the `[auth]` mode in force, with the archive's other data services beside its own.
pub fn capabilities_response(state: &crate::AppState, document: String) -> Response {
    let settings = state.access.settings();
    let declared = SecurityDeclaration {
        anonymous_too: settings.mode == crate::access::AuthMode::Open,
        bearer: settings.declare_token_method,
    };
    let document = with_companions(&document, &state.settings.public_url);
    xml_response(with_security(&document, declared))
}

/// The services a client of one service goes on to (DataLink from a search result, SODA from
/// DataLink, the files and previews DataLink points at), each as a capability: clients such
/// as pyvo learn from capabilities which URLs take which credentials, and would otherwise
/// call these anonymously. Those the document has already are not repeated.
pub fn with_companions(document: &str, public_url: &str) -> String {
    let companions = [
        ("ivo://ivoa.net/std/DataLink#links-1.1", "/datalink/links"),
        ("ivo://ivoa.net/std/SODA#sync-1.0", "/soda/sync"),
        ("ivo://ivoa.net/std/SODA#async-1.0", "/soda/async"),
        // Not IVOA standards: named under skyport's own URI, since clients expect every
        // capability to carry a standardID.
        ("ivo://skyport/std/files", "/files/"),
        ("ivo://skyport/std/previews", "/previews/"),
        ("ivo://skyport/std/moc", "/moc/"),
        // HiPS 1.0's own identifier for a HiPS service (its list of HiPS).
        ("ivo://ivoa.net/std/hips#hips-1.0", "/hips/list"),
    ];
    let mut extra = String::new();
    for (standard_id, path) in companions {
        let url = format!("{public_url}{path}");
        if document.contains(&format!(">{}</accessURL>", escape_xml(&url))) {
            continue;
        }
        extra.push_str(&format!(
            "  <capability standardID=\"{standard_id}\">\n\
             \x20   <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\n\
             \x20     <accessURL use=\"base\">{}</accessURL>\n\
             \x20   </interface>\n\
             \x20 </capability>\n",
            escape_xml(&url)
        ));
    }
    match document.rfind("</vosi:capabilities>") {
        Some(at) => format!("{}{extra}{}", &document[..at], &document[at..]),
        None => document.to_string(),
    }
}

/// A `text/xml` response (VOSI documents).
pub fn xml_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// HTTP Basic with a token as its password: SSO 2.0's `BasicAA`.
const BASIC_METHOD: &str = "ivo://ivoa.net/sso#BasicAA";
/// `Authorization: Bearer`: CADC's identifier (not SSO 2.0's), declared only when configured.
const BEARER_METHOD: &str = "ivo://ivoa.net/sso#token";

/// Which security methods protected interfaces declare.
#[derive(Debug, Clone, Copy)]
pub struct SecurityDeclaration {
    /// Anonymous callers are served too (`open` mode): a `securityMethod` without
    /// `standardID`, which VOResource 1.1 defines as anonymous access (one interface, not
    /// two: TAP clients expect one standard interface).
    pub anonymous_too: bool,
    /// Bearer tokens are declared as `ivo://ivoa.net/sso#token` beside `#BasicAA`.
    pub bearer: bool,
}

/// `document` (capabilities made here) with the security methods of its protected
/// interfaces declared (VOResource 1.1 `securityMethod`): each standard ParamHTTP interface
/// other than VOSI availability and capabilities gets them.
pub fn with_security(document: &str, declared: SecurityDeclaration) -> String {
    let open = "<interface xsi:type=\"vs:ParamHTTP\" role=\"std\"";
    let mut methods = String::new();
    if declared.anonymous_too {
        methods.push_str("  <securityMethod/>\n    ");
    }
    let named = [Some(BASIC_METHOD), declared.bearer.then_some(BEARER_METHOD)];
    for m in named.into_iter().flatten() {
        methods.push_str(&format!("  <securityMethod standardID=\"{m}\"/>\n    "));
    }
    let mut out = String::with_capacity(document.len() + 1024);
    let mut rest = document;
    while let Some(at) = rest.find(open) {
        let Some(len) = rest[at..].find("</interface>") else {
            break;
        };
        let end = at + len + "</interface>".len();
        let block = &rest[at..end];
        out.push_str(&rest[..at]);
        let vosi = ["/capabilities</accessURL>", "/availability</accessURL>"]
            .iter()
            .any(|tail| block.contains(tail));
        if vosi {
            out.push_str(block);
        } else {
            out.push_str(&block.replacen("</interface>", &format!("{methods}</interface>"), 1));
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod security_tests {
    use super::*;

    #[test]
    fn protected_interfaces_declare_tokens_and_open_mode_keeps_an_anonymous_one() {
        let doc = service_capabilities(
            "http://h/sia",
            "ivo://ivoa.net/std/SIA#query-2.0",
            "2.0",
            "query",
        );
        let count = |d: &str, s: &str| d.matches(s).count();
        let declare = |anonymous_too, bearer| {
            with_security(
                &doc,
                SecurityDeclaration {
                    anonymous_too,
                    bearer,
                },
            )
        };
        let open = declare(true, false);
        let required = declare(false, false);
        let with_bearer = declare(false, true);
        // (anonymous, BasicAA, bearer) of the query interface.
        let query_interfaces = |d: &str| {
            d.split("<interface")
                .filter(|b| b.contains("/sia/query</accessURL>"))
                .map(|b| {
                    (
                        b.contains("<securityMethod/>"),
                        b.contains("standardID=\"ivo://ivoa.net/sso#BasicAA\""),
                        b.contains("sso#token"),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(query_interfaces(&open), [(true, true, false)]);
        assert_eq!(query_interfaces(&required), [(false, true, false)]);
        assert_eq!(query_interfaces(&with_bearer), [(false, true, true)]);
        assert_eq!(count(&with_bearer, "ivo://ivoa.net/sso#token"), 1);
        // VOSI endpoints stay open.
        assert!(required
            .split("<interface")
            .filter(|b| b.contains("/availability</accessURL>"))
            .all(|b| !b.contains("securityMethod")));
        // Still well-formed: as many opening as closing interface tags.
        assert_eq!(count(&open, "<interface"), count(&open, "</interface>"));
    }
}
