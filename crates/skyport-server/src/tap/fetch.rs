//! Fetching `UPLOAD=name,http(s)://…` documents without letting a caller reach what only the
//! server can reach (server-side request forgery).
//!
//! A TAP upload makes the server fetch a URL the caller chose. Left alone, that reaches the
//! server's loopback services, its private network and the cloud metadata address, and the
//! error messages would tell a caller what answered there (a port scanner). So:
//!
//! * **Only public addresses**, unless `[server] upload_allow` names the host or a network
//!   holding the address. "Public" is decided by [`special_purpose`] (loopback, private,
//!   link-local, unspecified, multicast, broadcast, carrier-grade NAT, documentation,
//!   benchmarking, reserved, the IPv6 ranges outside global unicast, and the IPv4-mapped,
//!   NAT64 and 6to4 forms judged by the IPv4 address they carry) and by whether the address
//!   is one of this machine's own (a socket can be bound to it), which covers the server's
//!   own listen address whatever interface it is on.
//! * **Checked after DNS resolution, on the addresses connected to.** The client's DNS
//!   resolver is [`GuardedResolver`]: it resolves a name once, refuses the whole name if any
//!   of its addresses is refused, and hands the connector exactly the addresses it checked.
//!   There is no second lookup between check and connect, so DNS rebinding (a name answering
//!   public first and private next) has no window. Hosts written as IP addresses never reach a
//!   resolver (the connector uses them as they are), so [`Fetcher`] checks those itself before
//!   each request; the `url` crate has already turned `2130706433`, `0x7f.1` and friends into
//!   the address they mean, and the connector connects to that same parsed host.
//! * **Every redirect hop.** The client follows no redirect itself; [`Fetcher`] follows at
//!   most `[limits] upload_max_redirects`, and each `Location` goes through the same checks
//!   (scheme, user info, literal address, the resolver) as the first URL.
//! * **No proxy**: with one, the resolver would check the proxy and the proxy would resolve
//!   the target, so proxies from the environment are ignored.
//! * **Only http and https, no user info** (`http://public@127.0.0.1/` is refused outright),
//!   so the host checked is the one connected to and no credentials are sent anywhere.
//! * **Limits**: the whole fetch (every hop and the body) ends after
//!   `[limits] upload_fetch_seconds`, and the body stops at `upload_max_bytes`.
//! * **Uniform failures**: whatever went wrong (refused connection, a 404 or a 500, HTML,
//!   a timeout, too many redirects, too large) is one [`Failure::Failed`]; its details are
//!   logged here and never shown to the caller. [`Failure::Refused`] (the policy refused an
//!   address) is decided before any connection, so it says nothing about what listens there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Url;

use crate::limits::Limits;

/// One entry of `[server] upload_allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// A network (`10.1.0.0/16`, `fd00::/8`); a bare address is a network of one.
    Network {
        /// Its address (host bits are ignored).
        addr: IpAddr,
        /// Its prefix length in bits.
        prefix: u8,
    },
    /// A host name (lower case, no trailing dot), matched exactly against an upload URL's
    /// host: every address it resolves to is then fetched.
    Host(String),
}

/// `[server] upload_allow`: hosts and networks uploads may be fetched from although they are
/// not public (a VO service on the local network, say). Empty by default: only public
/// addresses are fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct UploadAllow {
    entries: Vec<AllowEntry>,
}

/// An `upload_allow` entry that is neither a network nor a host name.
#[derive(Debug, thiserror::Error)]
#[error("upload_allow entry {entry:?} is neither a network (10.1.0.0/16, fd00::/8, 192.168.1.7) nor a host name (vo.example.org)")]
pub struct AllowError {
    entry: String,
}

impl TryFrom<Vec<String>> for UploadAllow {
    type Error = AllowError;

    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        UploadAllow::parse(entries)
    }
}

impl UploadAllow {
    /// Reads entries such as `"127.0.0.1"`, `"10.1.0.0/16"`, `"fd00::/8"` or
    /// `"vo.example.org"`.
    pub fn parse<I, S>(entries: I) -> Result<UploadAllow, AllowError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entries = entries
            .into_iter()
            .map(|e| parse_entry(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(UploadAllow { entries })
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        self.entries
            .iter()
            .any(|e| matches!(e, AllowEntry::Host(h) if h.eq_ignore_ascii_case(host)))
    }

    fn allows_addr(&self, ip: IpAddr) -> bool {
        self.entries.iter().any(|e| match *e {
            AllowEntry::Network { addr, prefix } => network_contains(addr, prefix, ip),
            AllowEntry::Host(_) => false,
        })
    }
}

fn parse_entry(entry: &str) -> Result<AllowEntry, AllowError> {
    let bad = || AllowError {
        entry: entry.to_string(),
    };
    let text = entry.trim();
    let address = |s: &str| {
        let s = s
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(s);
        s.parse::<IpAddr>().ok()
    };
    if let Some((addr, prefix)) = text.split_once('/') {
        let addr = address(addr).ok_or_else(bad)?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if u32::from(prefix) > width(addr) {
            return Err(bad());
        }
        return Ok(AllowEntry::Network { addr, prefix });
    }
    if let Some(addr) = address(text) {
        return Ok(AllowEntry::Network {
            addr,
            prefix: width(addr) as u8,
        });
    }
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(AllowEntry::Host(name))
}

fn width(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Whether `ip` lies in the network `addr/prefix`; an IPv4 address is also found in an IPv6
/// network by its mapped form (`::ffff:a.b.c.d`).
fn network_contains(addr: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let prefix = u32::from(prefix);
    match (addr, ip.to_canonical()) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            within(u32::from(ip).into(), u32::from(net).into(), prefix, 32)
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => within(u128::from(ip), u128::from(net), prefix, 128),
        (IpAddr::V6(net), IpAddr::V4(ip)) => within(
            u128::from(ip.to_ipv6_mapped()),
            u128::from(net),
            prefix,
            128,
        ),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// Whether the first `prefix` of `bits` (an address `width` bits wide) equal those of `net`.
fn within(bits: u128, net: u128, prefix: u32, width: u32) -> bool {
    let shift = width.saturating_sub(prefix);
    // A zero prefix holds everything (and a shift by the full 128 bits would overflow).
    shift >= width || bits.checked_shr(shift) == net.checked_shr(shift)
}

/// Why `ip` is not a public address (a short description for logs), or `None` when it is.
///
/// IPv4: 0.0.0.0/8, 10/8, 100.64/10 (carrier-grade NAT), 127/8, 169.254/16, 172.16/12,
/// 192.0.0/24, 192.0.2/24, 192.88.99/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24,
/// 224/4 (multicast), 240/4 (reserved, with the broadcast address).
/// IPv6: everything outside global unicast (2000::/3: unspecified, loopback, IPv4-compatible,
/// unique local, link-local, site-local, multicast, discard…) and, inside it, 2001::/23
/// (IETF protocol assignments, Teredo), 2001:db8::/32 and 3fff::/20 (documentation).
/// IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses
/// are judged by the IPv4 address they lead to.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
        ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
        ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
        ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
        (
            [192, 0, 0, 0],
            24,
            "IETF protocol assignments (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
        ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
        ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
        ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
        ([240, 0, 0, 0], 4, "reserved or broadcast (240.0.0.0/4)"),
    ];
    let bits = u128::from(ip.to_bits());
    RANGES
        .iter()
        .find(|(net, prefix, _)| within(bits, u32::from_be_bytes(*net).into(), *prefix, 32))
        .map(|(_, _, why)| *why)
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    const fn net(a: u16, b: u16) -> u128 {
        Ipv6Addr::new(a, b, 0, 0, 0, 0, 0, 0).to_bits()
    }
    let bits = ip.to_bits();
    let in_net = |net: u128, prefix: u32| within(bits, net, prefix, 128);
    // Addresses that lead to an IPv4 address are as public as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_v4(v4);
    }
    if in_net(net(0x64, 0xff9b), 96) {
        return special_v4(Ipv4Addr::from_bits(bits as u32));
    }
    if in_net(net(0x2002, 0), 16) {
        return special_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    const RANGES: &[(u128, u32, &str)] = &[
        (0, 128, "unspecified (::)"),
        (1, 128, "loopback (::1)"),
        (0, 96, "IPv4-compatible (::/96, deprecated)"),
        (
            net(0x64, 0xff9b) | 1u128 << 80,
            48,
            "local-use NAT64 (64:ff9b:1::/48)",
        ),
        (net(0x100, 0), 64, "discard-only (100::/64)"),
        (net(0x2001, 0xdb8), 32, "documentation (2001:db8::/32)"),
        (net(0x2001, 0), 23, "IETF protocol assignments (2001::/23)"),
        (net(0x3fff, 0), 20, "documentation (3fff::/20)"),
        (net(0xfc00, 0), 7, "unique local (fc00::/7)"),
        (net(0xfe80, 0), 10, "link-local (fe80::/10)"),
        (net(0xfec0, 0), 10, "site-local (fec0::/10, deprecated)"),
        (net(0xff00, 0), 8, "multicast (ff00::/8)"),
    ];
    if let Some((_, _, why)) = RANGES.iter().find(|(n, prefix, _)| in_net(*n, *prefix)) {
        return Some(why);
    }
    if !in_net(net(0x2000, 0), 3) {
        return Some("not global unicast (outside 2000::/3)");
    }
    None
}

/// Whether `ip` is one of this machine's own addresses. Binding a socket succeeds only for
/// those (no packet is sent), and this needs no list of interfaces that could go stale.
fn is_own_address(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// What may be fetched: the operator's allow-list, then public addresses that are not this
/// machine's own.
#[derive(Debug)]
struct Policy {
    allow: UploadAllow,
}

impl Policy {
    /// `Err` with the reason when `ip` may not be fetched.
    fn check_addr(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = ip.to_canonical();
        if self.allow.allows_addr(ip) {
            return Ok(());
        }
        if let Some(why) = special_purpose(ip) {
            return Err(why);
        }
        if is_own_address(ip) {
            return Err("an address of this server");
        }
        Ok(())
    }
}

/// A refusal by the policy, carried through the HTTP client's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {addr}, which is {reason}")]
struct Refused {
    host: String,
    addr: IpAddr,
    reason: &'static str,
}

/// The DNS resolver of the upload client: resolves once, checks every address, and returns
/// exactly the checked addresses for the connector to use.
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(resolve_checked(
            Arc::clone(&self.policy),
            name.as_str().to_string(),
        ))
    }
}

async fn resolve_checked(
    policy: Arc<Policy>,
    host: String,
) -> Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    if !policy.allow.allows_host(&host) {
        for a in &addrs {
            // One refused address refuses the name: a host that is partly private is not a
            // public one.
            policy.check_addr(a.ip()).map_err(|reason| Refused {
                host: host.clone(),
                addr: a.ip(),
                reason,
            })?;
        }
    }
    Ok(Box::new(addrs.into_iter()))
}

/// Why a fetch failed, as far as the caller may know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The URL the caller gave is not one this service fetches (the reason is about that URL
    /// alone: scheme, user info, syntax).
    Unsupported(String),
    /// The URL, or one it redirects to, is at an address the policy refuses (decided before
    /// connecting there).
    Refused,
    /// Anything else; the details are in the log.
    Failed,
}

/// The upload fetcher: an HTTP client whose connections obey the address policy, plus the
/// redirect loop and limits.
pub struct Fetcher {
    client: Option<reqwest::Client>,
    policy: Arc<Policy>,
}

/// The redirect statuses followed (all with GET: an upload is only ever read).
const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

impl Fetcher {
    /// A fetcher trusting the system's roots plus the PEM certificates of `extra_ca_pem` for
    /// https, and fetching from non-public addresses only as `allow` says.
    pub fn new(extra_ca_pem: Option<&[u8]>, allow: UploadAllow) -> Fetcher {
        if !allow.entries().is_empty() {
            tracing::info!("uploads may also be fetched from {:?}", allow.entries());
        }
        // With non-local binding enabled (net.ipv4.ip_nonlocal_bind) every address looks like
        // this machine's own, so every fetch not allowed explicitly is refused: say why.
        if is_own_address(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 254))) {
            tracing::warn!(
                "binding to 203.0.113.254 works (non-local binding is enabled), so every address looks like this server's own: uploads by URL are refused unless [server] upload_allow names them"
            );
        }
        let policy = Arc::new(Policy { allow });
        // Installing fails harmlessly when a provider is already installed (a second service
        // in the same process, as in tests).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .referer(false)
                .dns_resolver(GuardedResolver {
                    policy: Arc::clone(&policy),
                })
        };
        let mut with_cas = builder();
        if let Some(pem) = extra_ca_pem {
            match reqwest::Certificate::from_pem_bundle(pem) {
                Ok(certs) => {
                    for cert in certs {
                        with_cas = with_cas.add_root_certificate(cert);
                    }
                }
                Err(e) => tracing::error!("the extra CA certificates are not PEM: {e}; ignored"),
            }
        }
        // Never an unguarded client in place of a failed one: without a client, uploads by
        // URL fail.
        let client = with_cas
            .build()
            .or_else(|e| {
                tracing::error!("cannot build the upload client with the extra CA certificates ({e}); trying without them");
                builder().build()
            })
            .map_err(|e| {
                tracing::error!("cannot build the upload client ({e}); uploads by URL will fail")
            })
            .ok();
        Fetcher { client, policy }
    }

    /// Fetches the document of upload `name` at `url`, following redirects, within the
    /// limits' time and size.
    pub async fn fetch(&self, name: &str, url: &str, limits: &Limits) -> Result<Bytes, Failure> {
        let start = Url::parse(url)
            .map_err(|e| Failure::Unsupported(format!("cannot be read as a URL ({e})")))?;
        if let Some(problem) = unsupported(&start) {
            return Err(Failure::Unsupported(problem.into()));
        }
        let Some(client) = &self.client else {
            tracing::warn!(upload = name, "UPLOAD of {url}: there is no upload client");
            return Err(Failure::Failed);
        };
        let deadline = Duration::from_secs(limits.upload_fetch_seconds);
        match tokio::time::timeout(deadline, self.follow(client, name, start, limits)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::info!(
                    upload = name,
                    "UPLOAD of {url}: not done within {} s",
                    limits.upload_fetch_seconds
                );
                Err(Failure::Failed)
            }
        }
    }

    async fn follow(
        &self,
        client: &reqwest::Client,
        name: &str,
        mut url: Url,
        limits: &Limits,
    ) -> Result<Bytes, Failure> {
        let failed = |url: &Url, detail: String| {
            // A Location may carry a password: keep it out of the log.
            let mut shown = url.clone();
            let _ = shown.set_password(None);
            tracing::info!(upload = name, "UPLOAD from {shown}: {detail}");
            Failure::Failed
        };
        let mut redirects = 0;
        loop {
            if let Some(problem) = unsupported(&url) {
                return Err(failed(&url, format!("redirected to a URL that {problem}")));
            }
            // Hosts written as addresses never reach the resolver: check them here.
            if let Some(ip) = literal_address(&url) {
                if let Err(reason) = self.policy.check_addr(ip) {
                    tracing::warn!(upload = name, "UPLOAD from {url} refused: {ip} is {reason}");
                    return Err(Failure::Refused);
                }
            }
            let response = match client.get(url.clone()).send().await {
                Ok(r) => r,
                Err(e) => {
                    if let Some(refused) = refusal(&e) {
                        tracing::warn!(upload = name, "UPLOAD from {url} refused: {refused}");
                        return Err(Failure::Refused);
                    }
                    return Err(failed(&url, format!("{e} ({})", chain(&e))));
                }
            };
            let status = response.status();
            if REDIRECTS.contains(&status.as_u16()) {
                if redirects == limits.upload_max_redirects {
                    return Err(failed(
                        &url,
                        format!("more than {} redirects", limits.upload_max_redirects),
                    ));
                }
                let next = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                let Some(next) = next else {
                    return Err(failed(&url, format!("{status} without a usable Location")));
                };
                redirects += 1;
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(failed(&url, format!("answered {status}")));
            }
            let limit = limits.upload_max_bytes;
            if response.content_length().is_some_and(|n| n > limit as u64) {
                return Err(failed(&url, format!("announces more than {limit} bytes")));
            }
            let mut body = Vec::new();
            let mut chunks = response.bytes_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| failed(&url, format!("reading: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(failed(&url, format!("sends more than {limit} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(Bytes::from(body));
        }
    }
}

/// Why this service does not fetch `url` at all, whatever its host.
fn unsupported(url: &Url) -> Option<&'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some("is not an http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("carries a user name or password");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some("names no host");
    }
    None
}

/// The address `url`'s host is written as, if it is one (the connector then uses it without
/// asking any resolver).
fn literal_address(url: &Url) -> Option<IpAddr> {
    // The parser has turned every IPv4 spelling (`2130706433`, `0x7f.1`) into dotted
    // decimal and keeps IPv6 in brackets; this is the very test the connector applies.
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// The policy's refusal, if that is what ended a request.
fn refusal(e: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Some(r);
        }
        source = s.source();
    }
    None
}

/// The causes of an error, for the log (reqwest's own message stops at the first).
fn chain(e: &reqwest::Error) -> String {
    let mut out = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().expect("IPv4"))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().expect("IPv6"))
    }

    #[test]
    fn every_special_ipv4_range_is_refused_at_both_ends() {
        for (first, last, what) in [
            ("0.0.0.0", "0.255.255.255", "this network"),
            ("10.0.0.0", "10.255.255.255", "private"),
            ("100.64.0.0", "100.127.255.255", "carrier-grade NAT"),
            ("127.0.0.0", "127.255.255.255", "loopback"),
            ("169.254.0.0", "169.254.255.255", "link-local"),
            ("172.16.0.0", "172.31.255.255", "private"),
            ("192.0.0.0", "192.0.0.255", "IETF"),
            ("192.0.2.0", "192.0.2.255", "documentation"),
            ("192.88.99.0", "192.88.99.255", "6to4 relay"),
            ("192.168.0.0", "192.168.255.255", "private"),
            ("198.18.0.0", "198.19.255.255", "benchmarking"),
            ("198.51.100.0", "198.51.100.255", "documentation"),
            ("203.0.113.0", "203.0.113.255", "documentation"),
            ("224.0.0.0", "239.255.255.255", "multicast"),
            ("240.0.0.0", "255.255.255.255", "reserved or broadcast"),
        ] {
            for a in [first, last] {
                let why = special_purpose(v4(a)).unwrap_or_else(|| panic!("{a} is public?"));
                assert!(why.contains(what), "{a}: {why}");
            }
        }
    }

    #[test]
    fn neighbours_of_special_ipv4_ranges_are_public() {
        for a in [
            "1.0.0.0",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.88.98.255",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            assert_eq!(special_purpose(v4(a)), None, "{a}");
        }
    }

    #[test]
    fn every_special_ipv6_range_is_refused() {
        for (a, what) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::7f00:1", "IPv4-compatible"),
            ("::808:808", "IPv4-compatible"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard"),
            ("2001::1", "IETF"),
            ("2001:1ff:ffff::1", "IETF"),
            ("2001:db8::1", "documentation"),
            ("2001:db8:ffff::1", "documentation"),
            ("3fff::1", "documentation"),
            ("3fff:fff:ffff::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
            ("4000::1", "outside 2000::/3"),
            ("1fff:ffff::1", "outside 2000::/3"),
            ("::ffff:0:7f00:1", "outside 2000::/3"),
        ] {
            let why = special_purpose(v6(a)).unwrap_or_else(|| panic!("{a} is public?"));
            assert!(why.contains(what), "{a}: {why}");
        }
        for a in [
            "2001:200::1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450::1",
            "3ffe:ffff::1",
            "3fff:1000::1",
        ] {
            assert_eq!(special_purpose(v6(a)), None, "{a}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for (a, what) in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:100.64.0.1", "carrier-grade NAT"),
            ("::ffff:0.0.0.0", "this network"),
            ("::ffff:255.255.255.255", "broadcast"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::192.168.0.1", "private"),
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "link-local"),
            ("2002:c0a8:101::", "private"),
        ] {
            let why = special_purpose(v6(a)).unwrap_or_else(|| panic!("{a} is public?"));
            assert!(why.contains(what), "{a}: {why}");
        }
        for a in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1"] {
            assert_eq!(special_purpose(v6(a)), None, "{a}");
        }
    }

    #[test]
    fn the_policy_refuses_own_addresses_and_obeys_the_allow_list() {
        let strict = Policy {
            allow: UploadAllow::default(),
        };
        assert!(strict.check_addr(v4("127.0.0.1")).is_err());
        assert!(strict.check_addr(v6("::ffff:127.0.0.1")).is_err());
        assert_eq!(strict.check_addr(v4("8.8.8.8")), Ok(()));
        // This machine's addresses are its own; one it does not have is not. The address
        // it would send from (found through a connected UDP socket: no packet is sent) is
        // one of its own, public or not.
        assert!(is_own_address(v4("127.0.0.1")));
        assert!(!is_own_address(v4("8.8.8.8")));
        let routed = std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
            .and_then(|s| s.local_addr());
        match routed {
            Ok(a) if !a.ip().is_unspecified() => assert!(is_own_address(a.ip()), "{a}"),
            _ => {
                println!("note: no route out of this machine; its outgoing address is not checked")
            }
        }
        let allowing = Policy {
            allow: UploadAllow::parse(["127.0.0.2", "10.1.0.0/16", "fd00::/8"]).expect("parse"),
        };
        assert_eq!(allowing.check_addr(v4("127.0.0.2")), Ok(()));
        assert_eq!(allowing.check_addr(v6("::ffff:127.0.0.2")), Ok(()));
        assert!(allowing.check_addr(v4("127.0.0.1")).is_err());
        assert_eq!(allowing.check_addr(v4("10.1.255.255")), Ok(()));
        assert!(allowing.check_addr(v4("10.2.0.0")).is_err());
        assert_eq!(allowing.check_addr(v6("fd12::1")), Ok(()));
        assert!(allowing.check_addr(v6("fc00::1")).is_err());
    }

    #[test]
    fn allow_entries_are_networks_or_host_names() {
        let allow = UploadAllow::parse([
            "10.0.0.0/8",
            " 192.168.1.7 ",
            "[::1]",
            "fd00::/8",
            "::ffff:0:0/96",
            "VO.Example.org.",
            "localhost",
            "0.0.0.0/0",
        ])
        .expect("valid");
        assert_eq!(
            allow.entries()[..3],
            [
                AllowEntry::Network {
                    addr: v4("10.0.0.0"),
                    prefix: 8
                },
                AllowEntry::Network {
                    addr: v4("192.168.1.7"),
                    prefix: 32
                },
                AllowEntry::Network {
                    addr: v6("::1"),
                    prefix: 128
                },
            ]
        );
        assert_eq!(
            allow.entries()[5],
            AllowEntry::Host("vo.example.org".into())
        );
        assert!(allow.allows_host("vo.example.org"));
        assert!(allow.allows_host("VO.EXAMPLE.ORG."));
        assert!(!allow.allows_host("evil.vo.example.org"));
        assert!(!allow.allows_host("example.org"));
        // An IPv4 address is found in an IPv6 network by its mapped form.
        let mapped = UploadAllow::parse(["::ffff:0:0/96"]).expect("valid");
        assert!(mapped.allows_addr(v4("10.9.8.7")));
        let v4_only = UploadAllow::parse(["127.0.0.0/8"]).expect("valid");
        assert!(v4_only.allows_addr(v6("::ffff:127.0.0.5")));
        assert!(!v4_only.allows_addr(v6("::1")));
        let everything = UploadAllow::parse(["0.0.0.0/0"]).expect("valid");
        assert!(everything.allows_addr(v4("255.255.255.255")));
        assert!(!everything.allows_addr(v6("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "nowhere/8",
            "http://vo.example.org",
            "vo.example.org:8080",
            "a..b",
            "*.example.org",
        ] {
            let e = UploadAllow::parse([bad]).expect_err(bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let url = |s: &str| Url::parse(s).expect("URL");
        assert_eq!(
            unsupported(&url("http://public@127.0.0.1/")),
            Some("carries a user name or password")
        );
        assert_eq!(
            unsupported(&url("https://:pw@example.org/")),
            Some("carries a user name or password")
        );
        assert_eq!(
            unsupported(&url("ftp://example.org/t.xml")),
            Some("is not an http or https URL")
        );
        assert_eq!(unsupported(&url("https://example.org/t.xml")), None);
        // Every spelling of an address is the address the connector will use.
        for (s, ip) in [
            ("http://2130706433/", v4("127.0.0.1")),
            ("http://0x7f.1/", v4("127.0.0.1")),
            ("http://0177.0.0.01/", v4("127.0.0.1")),
            ("http://127.1/", v4("127.0.0.1")),
            ("http://[::ffff:127.0.0.1]/", v6("::ffff:127.0.0.1")),
            ("http://[::1]:8080/", v6("::1")),
        ] {
            assert_eq!(literal_address(&url(s)), Some(ip), "{s}");
        }
        assert_eq!(literal_address(&url("http://localhost/")), None);
    }
}
