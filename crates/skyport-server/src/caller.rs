//! Who a request is made for: the [`Caller`] every image, row and file lookup carries and
//! every write records.
//!
//! Identity is established in one place, the access middleware (`crate::access`), from a
//! bearer token or from the `X-Auth-Request-User` header an authenticating proxy
//! (oauth2-proxy, Rubin's Gafaelfawr) sets — believed only from a peer listed in
//! `[server] trusted_proxies`: a client that sends the header itself stays anonymous.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
pub use skyport_store::Caller;

/// The header an authenticating proxy names the user in.
pub const PROXY_USER_HEADER: &str = "x-auth-request-user";

/// The caller of a request, as a handler argument: the one the access middleware identified
/// (anonymous, with no scopes, where it did not run).
#[derive(Debug, Clone)]
pub struct RequestCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for RequestCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestCaller(
            parts
                .extensions
                .get::<Caller>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

/// The user an authenticating proxy names in `headers`, believed only from a `trusted` peer.
pub fn proxy_user<'a>(
    headers: &'a HeaderMap,
    peer: Option<IpAddr>,
    trusted: &[IpAddr],
) -> Option<&'a str> {
    let from_proxy = peer.is_some_and(|p| trusted.contains(&p.to_canonical()));
    headers
        .get(PROXY_USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|u| from_proxy && !u.is_empty() && u.len() <= 256)
}

/// The caller an async job runs for: its owner, with the memberships they had when they
/// made it (scopes were checked then).
pub fn job_caller(job: &skyport_uws::Job) -> Caller {
    Caller {
        user: job.owner.clone(),
        groups: job
            .owner_groups
            .iter()
            .map(|(group, ends)| skyport_store::Membership {
                group: group.clone(),
                ends: ends.and_then(chrono::DateTime::from_timestamp_millis),
            })
            .collect(),
        ..Caller::default()
    }
}

/// The groups `caller` belongs to now (memberships that have not ended).
pub fn current_groups(caller: &Caller) -> Vec<String> {
    let now = chrono::Utc::now();
    caller
        .groups
        .iter()
        .filter(|m| m.ends.is_none_or(|end| end > now))
        .map(|m| m.group.clone())
        .collect()
}

/// The data-rights groups (among `restricting`) whose data `caller` may hold: every group they
/// are or were a member of, ended memberships too, since an ended member still sees what was
/// released to the group before the end. Sorted, each once.
pub fn groups_ever_held(
    caller: &Caller,
    restricting: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let mut held: Vec<String> = caller
        .groups
        .iter()
        .map(|m| m.group.clone())
        .filter(|g| restricting.contains(g))
        .collect();
    held.sort();
    held.dedup();
    held
}

impl RequestCaller {
    /// The name a write is recorded under: the user, or `anonymous`.
    pub fn author(&self) -> String {
        self.0.user.clone().unwrap_or_else(|| "anonymous".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_header_counts_only_from_a_trusted_peer() {
        let mut headers = HeaderMap::new();
        headers.insert(PROXY_USER_HEADER, "rubin-admin".parse().expect("value"));
        let proxy: IpAddr = "127.0.0.1".parse().expect("ip");
        let stranger: IpAddr = "192.0.2.7".parse().expect("ip");
        let user =
            |peer, trusted: &[IpAddr]| proxy_user(&headers, peer, trusted).map(str::to_string);
        assert_eq!(user(Some(proxy), &[proxy]), Some("rubin-admin".into()));
        assert_eq!(user(Some(stranger), &[proxy]), None);
        assert_eq!(user(None, &[proxy]), None, "no peer known");
        assert_eq!(user(Some(proxy), &[]), None, "nobody is trusted by default");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert_eq!(user(Some(mapped), &[proxy]), Some("rubin-admin".into()));
        assert_eq!(proxy_user(&HeaderMap::new(), Some(proxy), &[proxy]), None);
    }
}

#[cfg(test)]
mod groups_tests {
    use super::*;

    #[test]
    fn ended_memberships_count_for_what_a_caller_may_hold_but_not_for_what_they_may_do() {
        let ended = chrono::Utc::now() - chrono::Duration::days(1);
        let caller = Caller {
            user: Some("alice".into()),
            groups: [
                ("team", None),
                ("old-team", Some(ended)),
                ("chat", None),
                ("team", None),
            ]
            .into_iter()
            .map(|(g, ends)| skyport_store::Membership {
                group: g.into(),
                ends,
            })
            .collect(),
            ..Caller::default()
        };
        let restricting = ["old-team", "team", "other"].map(String::from).into();
        assert_eq!(
            groups_ever_held(&caller, &restricting),
            ["old-team", "team"]
        );
        assert_eq!(current_groups(&caller), ["team", "chat", "team"]);
    }
}
