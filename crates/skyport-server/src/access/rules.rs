//! Which scope each route needs: one table, consulted by the access middleware for every
//! request by its matched route. A route the table does not know is refused (fail closed), and
//! [`crate::route_patterns`] lets the tests walk every route of the router against it.

use axum::http::Method;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, even in `required` mode: the landing page, VOSI availability and
    /// capabilities, service discovery, metrics (clients and monitors find the service
    /// before they log in), and the portal's static files (the page asks for a token and
    /// reads the archive with it).
    Open,
    /// A caller holding this scope (anonymous callers hold the anonymous scopes in `open`
    /// mode and none in `required` mode).
    Scope(&'static str),
}

/// The scopes, named as Rubin's Gafaelfawr names them (defined once, in `skyport-auth`).
pub mod scopes {
    pub use skyport_auth::identity::{
        ADMIN_JOBS, ADMIN_TOKEN, READ_IMAGE, READ_TAP, WRITE_CONSDB, WRITE_FILES,
    };

    /// Every scope skyport knows.
    pub const ALL: &[&str] = skyport_auth::identity::ALL_SCOPES;
}

/// Where Rubin's Science Platform serves ConsDB's TAP service: skyport serves its TAP there
/// too, under the same rules as `/tap`.
pub const RSP_CONSDB_TAP: &str = "/api/consdbtap";

/// The rule of a request to route `pattern` (the router's matched path, `/tap/async/{id}`)
/// with `method`; `None` for a route no rule covers.
pub fn rule_for(method: &Method, pattern: &str) -> Option<Rule> {
    use scopes::*;
    if let Some(rest) = pattern.strip_prefix(RSP_CONSDB_TAP) {
        if rest.is_empty() || rest.starts_with('/') {
            return rule_for(method, &format!("/tap{rest}"));
        }
    }
    let first = pattern
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if pattern == "/"
        || pattern == "/metrics"
        || pattern == "/repertoire/discovery"
        || first == "portal"
        || (pattern.ends_with("/availability") || pattern.ends_with("/capabilities"))
            && pattern.matches('/').count() == 2
    {
        return Some(Rule::Open);
    }
    match first {
        // A user's own tables are written like their files.
        "tap" if user_table_write(method, pattern) => Some(Rule::Scope(WRITE_FILES)),
        "tap" => Some(Rule::Scope(READ_TAP)),
        "sia" | "datalink" | "soda" | "files" | "previews" | "moc" | "hips" => {
            Some(Rule::Scope(READ_IMAGE))
        }
        "consdb" => Some(Rule::Scope(consdb_scope(method, pattern))),
        // The observers' logs: read like TAP, written like ConsDB.
        "exposurelog" | "narrativelog" => Some(Rule::Scope(
            if method == Method::GET || method == Method::HEAD {
                READ_TAP
            } else {
                WRITE_CONSDB
            },
        )),
        "auth" => Some(Rule::Scope(ADMIN_TOKEN)),
        // The scheduler's plan is observatory metadata, written like ConsDB's.
        "obsplan" => Some(Rule::Scope(WRITE_CONSDB)),
        // A release's own services check each request by their own routes (the same rules);
        // the list shows collections by the caller's rights.
        "releases" if pattern == "/releases" => Some(Rule::Scope(READ_TAP)),
        "releases" => Some(Rule::Open),
        // A user's own files, and what they share: whoever uses them holds `write:files`
        // (as on Rubin's Science Platform); the owner's shares decide who reads and who
        // writes which tree.
        "webdav" | "workspace" => Some(Rule::Scope(WRITE_FILES)),
        _ => None,
    }
}

/// Whether a request to a `/tap` route makes, fills, indexes, grants or drops a user table.
fn user_table_write(method: &Method, pattern: &str) -> bool {
    let reads = method == Method::GET || method == Method::HEAD;
    pattern.starts_with("/tap/load/")
        || pattern.starts_with("/tap/table-update")
        || pattern.starts_with("/tap/permissions/") && !reads
        || pattern.starts_with("/tap/tables/") && !reads
}

/// ConsDB: reads (and the read-only ADQL `POST /consdb/query`) need `read:tap`; every other
/// POST writes.
fn consdb_scope(method: &Method, pattern: &str) -> &'static str {
    let reads = method == Method::GET || method == Method::HEAD || pattern == "/consdb/query";
    if reads {
        scopes::READ_TAP
    } else {
        scopes::WRITE_CONSDB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_open_doors() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(rule_for(&get, "/"), Some(Rule::Open));
        assert_eq!(rule_for(&get, "/tap/capabilities"), Some(Rule::Open));
        assert_eq!(rule_for(&get, "/soda/availability"), Some(Rule::Open));
        assert_eq!(
            rule_for(&get, "/tap/async/{id}/results/{result}"),
            Some(Rule::Scope("read:tap"))
        );
        assert_eq!(
            rule_for(&post, "/consdb/flex/{instrument}/{obs_type}/addkey"),
            Some(Rule::Scope("write:consdb"))
        );
        assert_eq!(
            rule_for(&post, "/consdb/query"),
            Some(Rule::Scope("read:tap"))
        );
        assert_eq!(
            rule_for(&get, "/files/{root}/{*path}"),
            Some(Rule::Scope("read:image"))
        );
        // A file whose name ends in /capabilities is not a VOSI endpoint.
        assert_eq!(
            rule_for(&get, "/files/{root}/capabilities"),
            Some(Rule::Scope("read:image"))
        );
        assert_eq!(
            rule_for(&Method::DELETE, "/auth/tokens/{key}"),
            Some(Rule::Scope("admin:token"))
        );
        assert_eq!(rule_for(&get, "/portal/{*path}"), Some(Rule::Open));
        assert_eq!(
            rule_for(&post, "/obsplan"),
            Some(Rule::Scope("write:consdb"))
        );
        assert_eq!(rule_for(&get, "/somewhere/new"), None);
        assert_eq!(rule_for(&get, "/releases"), Some(Rule::Scope("read:tap")));
        assert_eq!(
            rule_for(&get, "/api/consdbtap/capabilities"),
            Some(Rule::Open)
        );
        assert_eq!(
            rule_for(&post, "/api/consdbtap/async/{id}/phase"),
            Some(Rule::Scope("read:tap"))
        );
        assert_eq!(rule_for(&get, "/api/consdbtapx"), None);
        assert_eq!(
            rule_for(&post, "/releases/{release}/{*rest}"),
            Some(Rule::Open)
        );
        let propfind = Method::from_bytes(b"PROPFIND").expect("method");
        assert_eq!(
            rule_for(&propfind, "/webdav/{user}/{*path}"),
            Some(Rule::Scope("write:files"))
        );
    }
}
