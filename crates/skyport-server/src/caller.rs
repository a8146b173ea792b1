//! Who a request is made for: the [`Caller`] every image, row and file lookup carries and
//! every write records.
//!
//! Identity comes from one place, this extractor. Until skyport verifies credentials itself,
//! the only identity it accepts is the `X-Auth-Request-User` header set by an authenticating
//! proxy (oauth2-proxy, Rubin's Gafaelfawr), and only from a peer listed in
//! `[server] trusted_proxies`: a client that sends the header itself stays anonymous.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
pub use skyport_store::Caller;

use crate::state::AppState;

/// The header an authenticating proxy names the user in.
pub const PROXY_USER_HEADER: &str = "x-auth-request-user";

/// The caller of a request, as a handler argument.
#[derive(Debug, Clone)]
pub struct RequestCaller(pub Caller);

impl FromRequestParts<Arc<AppState>> for RequestCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(RequestCaller(identify(
            &parts.headers,
            peer,
            &state.settings.trusted_proxies,
        )))
    }
}

/// The caller a request with `headers` from `peer` is made for.
pub fn identify(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[IpAddr]) -> Caller {
    let from_proxy = peer.is_some_and(|p| trusted.contains(&p.to_canonical()));
    let user = headers
        .get(PROXY_USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|u| from_proxy && !u.is_empty() && u.len() <= 256);
    match user {
        Some(u) => Caller {
            user: Some(u.to_string()),
            ..Caller::default()
        },
        None => Caller::anonymous(),
    }
}

/// The caller an async job runs for: its owner.
pub fn job_caller(job: &skyport_uws::Job) -> Caller {
    Caller {
        user: job.owner.clone(),
        ..Caller::default()
    }
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
        let user = |peer, trusted: &[IpAddr]| identify(&headers, peer, trusted).user;
        assert_eq!(user(Some(proxy), &[proxy]), Some("rubin-admin".into()));
        assert_eq!(user(Some(stranger), &[proxy]), None);
        assert_eq!(user(None, &[proxy]), None, "no peer known");
        assert_eq!(user(Some(proxy), &[]), None, "nobody is trusted by default");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert_eq!(user(Some(mapped), &[proxy]), Some("rubin-admin".into()));
        assert_eq!(
            identify(&HeaderMap::new(), Some(proxy), &[proxy]).user,
            None
        );
    }
}
