//! Who is calling and what they may do: the [`Access`] service identifies the caller of every
//! request (a skyport API token, a JWT from the configured OpenID Connect issuer, the user an
//! authenticating proxy names, or nobody), gives them their scopes and memberships (with the
//! membership ends the archive recorded), and meters them by quota. The middleware in
//! [`http`] applies it to every route by the rule [`rules`] gives; data rights are then
//! enforced below, where rows and images are read (`skyport_store::rights`).

pub mod http;
pub mod rules;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::Digest;
use skyport_auth::{
    ApiToken, AuthError, ConcurrencyGuard, ConcurrencyLimiter, Identity, JwtSettings, JwtVerifier,
    RateDecision, RateLimiter, ScopePolicy,
};
use skyport_store::{Accounts, Caller, Membership, StoredToken};

pub use rules::{rule_for, scopes, Rule};

/// `[auth] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anonymous callers may read what is public (the demo's default).
    #[default]
    Open,
    /// Every request needs credentials, except the landing page and VOSI.
    Required,
}

/// Per-user limits (`[quotas]`, and `[quotas.groups.NAME]` overrides, which replace the
/// defaults for the group's members; of several groups, each limit is the most generous).
/// Zero means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaLimits {
    /// Requests per minute to one service (the first path segment: `tap`, `soda`…).
    pub requests_per_minute: u32,
    /// Synchronous TAP queries at once.
    pub sync_queries: u32,
    /// Async jobs pending, queued or running at once, per service.
    pub async_jobs: u32,
    /// Bytes of stored async results.
    pub job_result_bytes: u64,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        QuotaLimits {
            requests_per_minute: 0,
            sync_queries: 8,
            async_jobs: 16,
            job_result_bytes: 20 << 30,
        }
    }
}

/// `[quotas]`: the defaults and per-group overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Everyone's limits (anonymous callers share them per client address).
    #[serde(flatten)]
    pub default: QuotaLimits,
    /// Overrides by group.
    pub groups: BTreeMap<String, QuotaLimits>,
}

/// What the access layer is configured with.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `open` or `required`.
    pub mode: AuthMode,
    /// The realm named in `WWW-Authenticate`.
    pub realm: String,
    /// Where a person gets a token (the `ivoa_bearer` challenge's `access_url`).
    pub login_url: String,
    /// Whether capabilities declare bearer tokens (`ivo://ivoa.net/sso#token`, not an SSO 2.0
    /// method) beside HTTP Basic; `[auth] declare_token_method`.
    pub declare_token_method: bool,
    /// The OpenID Connect issuer whose JWTs are accepted, if any.
    pub jwt: Option<JwtSettings>,
    /// Which scopes groups give.
    pub scopes: ScopePolicy,
    /// The scopes of a user named by a trusted authenticating proxy (`[server]
    /// trusted_proxies`), which has checked them itself; by default every scope but the
    /// administrators'.
    pub proxy_scopes: Vec<String>,
    /// How long a looked-up API token (and a user's recorded membership ends) is trusted
    /// before it is read again: revocations take effect within this time.
    pub cache: Duration,
    /// Quotas.
    pub quotas: Quotas,
    /// The size of the database's reader pool (0: not known). One caller's synchronous
    /// queries are held to half of it, whatever their quota, so that no caller (an anonymous
    /// one is known by their address) can take every reader.
    pub readers: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Open,
            realm: "skyport".into(),
            login_url: String::new(),
            declare_token_method: false,
            jwt: None,
            scopes: ScopePolicy::default(),
            proxy_scopes: [
                scopes::READ_TAP,
                scopes::READ_IMAGE,
                scopes::WRITE_CONSDB,
                scopes::WRITE_FILES,
            ]
            .map(String::from)
            .to_vec(),
            cache: Duration::from_secs(30),
            quotas: Quotas::default(),
            readers: 0,
        }
    }
}

/// Why a request is turned away before its handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no credentials where they are needed, or credentials that are not accepted.
    Unauthenticated {
        /// What was wrong, for the client.
        message: String,
        /// RFC 6750 `error` (`invalid_token`…), when a token was presented.
        bearer_error: Option<&'static str>,
    },
    /// 403: the caller is known but lacks the scope.
    Forbidden(String),
    /// 429: over the rate limit.
    RateLimited(RateDecision),
    /// 503: the identity provider cannot be reached.
    IssuerUnavailable(String),
}

/// Refusal counters for `/metrics`, by reason.
#[derive(Debug, Default)]
pub struct RefusalCounts {
    /// 401s.
    pub unauthenticated: std::sync::atomic::AtomicU64,
    /// 403s for want of a scope.
    pub forbidden: std::sync::atomic::AtomicU64,
    /// 429s.
    pub rate_limited: std::sync::atomic::AtomicU64,
    /// Sync queries refused for too many at once.
    pub concurrency: std::sync::atomic::AtomicU64,
    /// Async jobs refused (count or stored bytes).
    pub jobs: std::sync::atomic::AtomicU64,
}

/// The access service.
pub struct Access {
    settings: AuthSettings,
    jwt: Option<JwtVerifier>,
    accounts: Accounts,
    /// Looked-up API tokens, by key, with when they were read.
    tokens: Mutex<HashMap<String, (StoredToken, Instant)>>,
    /// Verified JWTs, by the SHA-256 of the token, with when they were verified: a client
    /// sends the same token with every request, and a signature check costs more than the
    /// rest of a small query. Kept until the token expires or `settings.cache` passes.
    jwts: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
    /// Recorded membership ends, by user, with when they were read.
    ends: Mutex<HashMap<String, (MembershipEnds, Instant)>>,
    rate: RateLimiter,
    /// Synchronous queries per caller, running or waiting for a reader: the quota.
    sync: ConcurrencyLimiter,
    /// Synchronous queries per caller holding a reader: at most half the pool.
    reading: ConcurrencyLimiter,
    /// Woken whenever a reader share is given back, for the queries waiting for one.
    reader_freed: Arc<tokio::sync::Notify>,
    /// Refusals so far.
    pub refused: RefusalCounts,
}

/// The recorded ends of one user's memberships, by group.
type MembershipEnds = Vec<(String, DateTime<Utc>)>;

/// Entries the two caches keep at most (beyond it they are cleared: a lookup costs one small
/// query, and memory must not grow with what clients send).
const CACHE_ENTRIES: usize = 10_000;

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("mode", &self.settings.mode)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The service over the archive's `accounts`.
    pub fn new(settings: AuthSettings, accounts: Accounts) -> Result<Access, String> {
        settings.scopes.validate()?;
        let jwt = match &settings.jwt {
            Some(j) => Some(JwtVerifier::new(j.clone()).map_err(|e| format!("[auth.jwt]: {e}"))?),
            None => None,
        };
        Ok(Access {
            settings,
            jwt,
            accounts,
            tokens: Mutex::new(HashMap::new()),
            jwts: Mutex::new(HashMap::new()),
            ends: Mutex::new(HashMap::new()),
            rate: RateLimiter::new(100_000),
            sync: ConcurrencyLimiter::new(),
            reading: ConcurrencyLimiter::new(),
            reader_freed: Arc::new(tokio::sync::Notify::new()),
            refused: RefusalCounts::default(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The archive's user records (tokens, membership ends).
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The caller of a request with `authorization` (the header's bytes) or, failing that, the
    /// user a trusted proxy names in `proxy_user`.
    pub async fn identify(
        &self,
        authorization: Option<&[u8]>,
        proxy_user: Option<&str>,
    ) -> Result<Caller, Refusal> {
        let now = Utc::now();
        let identity = match authorization {
            Some(value) => {
                let credential = skyport_auth::parse_authorization(value).map_err(unaccepted)?;
                Some(self.verify(credential.token(), now).await?)
            }
            None => proxy_user.map(|u| {
                let mut identity = Identity::new(u);
                identity.scopes = self.settings.proxy_scopes.iter().cloned().collect();
                identity
            }),
        };
        let Some(mut identity) = identity else {
            let scopes = match self.settings.mode {
                AuthMode::Open => self.settings.scopes.anonymous_scopes(),
                AuthMode::Required => Default::default(),
            };
            return Ok(Caller {
                scopes,
                ..Caller::anonymous()
            });
        };
        self.apply_recorded_ends(&mut identity).await;
        let scopes = self.settings.scopes.scopes_for_at(&identity, now);
        Ok(Caller {
            user: Some(identity.user),
            groups: identity
                .memberships
                .into_iter()
                .map(|m| Membership {
                    group: m.group,
                    ends: m.ends,
                })
                .collect(),
            scopes,
        })
    }

    /// The identity a bearer token stands for: a skyport API token, or a JWT.
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Identity, Refusal> {
        if ApiToken::is_api_token(token) {
            let stored = self.api_token(token).await?;
            if !stored.is_valid_at(now) {
                return Err(unaccepted(AuthError::Invalid(
                    "the token has expired or was revoked".into(),
                )));
            }
            let mut identity = Identity::new(stored.user.clone());
            identity.scopes = stored.scopes.iter().cloned().collect();
            identity.memberships = stored
                .groups
                .iter()
                .map(|g| skyport_auth::Membership {
                    group: g.clone(),
                    ends: None,
                })
                .collect();
            identity.token_expires = stored.expires;
            return Ok(identity);
        }
        let Some(jwt) = &self.jwt else {
            return Err(unaccepted(AuthError::Invalid(
                "the token is not one this service issued, and it accepts no other".into(),
            )));
        };
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let cached = self.jwts.lock().ok().and_then(|c| {
            c.get(&digest)
                .filter(|(i, at)| {
                    at.elapsed() < self.settings.cache && i.token_expires.is_none_or(|e| now < e)
                })
                .map(|(i, _)| i.clone())
        });
        if let Some(identity) = cached {
            return Ok(identity);
        }
        let identity = jwt.verify_at(token, now).await.map_err(unaccepted)?;
        if let Ok(mut c) = self.jwts.lock() {
            if c.len() >= CACHE_ENTRIES {
                c.clear();
            }
            c.insert(digest, (identity.clone(), Instant::now()));
        }
        Ok(identity)
    }

    /// The stored record of API token `token`, its secret checked (cached for
    /// `settings.cache`).
    async fn api_token(&self, token: &str) -> Result<StoredToken, Refusal> {
        let unknown = || unaccepted(AuthError::Invalid("the token is not valid".into()));
        let (key, secret) = ApiToken::parse(token).ok_or_else(unknown)?;
        let cached = self.tokens.lock().ok().and_then(|c| {
            c.get(key)
                .filter(|(_, at)| at.elapsed() < self.settings.cache)
                .map(|(t, _)| t.clone())
        });
        let stored = match cached {
            Some(t) => t,
            None => {
                let t = self
                    .accounts
                    .token(key)
                    .await
                    .map_err(|e| {
                        tracing::error!("cannot read API tokens: {e}");
                        Refusal::IssuerUnavailable("the token store cannot be read".into())
                    })?
                    .ok_or_else(unknown)?;
                if let Ok(mut c) = self.tokens.lock() {
                    if c.len() >= CACHE_ENTRIES {
                        c.clear();
                    }
                    c.insert(key.to_string(), (t.clone(), Instant::now()));
                }
                t
            }
        };
        if !ApiToken::verify_secret(secret, &stored.secret_hash) {
            return Err(unknown());
        }
        Ok(stored)
    }

    /// Forgets a cached token (after revoking it here).
    pub fn forget_token(&self, key: &str) {
        if let Ok(mut c) = self.tokens.lock() {
            c.remove(key);
        }
    }

    /// Adds the membership ends the archive recorded (`skyport rights revoke`) to
    /// `identity`: an end moves a membership's end earlier, and a membership the identity
    /// provider no longer reports is kept as ended, so what was released before its end stays
    /// visible.
    async fn apply_recorded_ends(&self, identity: &mut Identity) {
        let cached = self.ends.lock().ok().and_then(|c| {
            c.get(&identity.user)
                .filter(|(_, at)| at.elapsed() < self.settings.cache)
                .map(|(e, _)| e.clone())
        });
        let ends = match cached {
            Some(e) => e,
            None => {
                let e = match self.accounts.membership_ends(&identity.user).await {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!("cannot read membership ends: {e}");
                        Vec::new()
                    }
                };
                if let Ok(mut c) = self.ends.lock() {
                    if c.len() >= CACHE_ENTRIES {
                        c.clear();
                    }
                    c.insert(identity.user.clone(), (e.clone(), Instant::now()));
                }
                e
            }
        };
        for (group, end) in ends {
            match identity.memberships.iter_mut().find(|m| m.group == group) {
                Some(m) => m.ends = Some(m.ends.map_or(end, |e| e.min(end))),
                None => identity.memberships.push(skyport_auth::Membership {
                    group,
                    ends: Some(end),
                }),
            }
        }
    }

    /// The limits that apply to `caller`: the most generous of their current groups'
    /// overrides, or the defaults.
    pub fn limits_for(&self, caller: &Caller) -> QuotaLimits {
        let now = Utc::now();
        let mut overrides = caller
            .groups
            .iter()
            .filter(|m| m.ends.is_none_or(|e| now < e))
            .filter_map(|m| self.settings.quotas.groups.get(&m.group));
        // A group's limits replace the defaults (so a group may have less as well as more);
        // of several groups', each limit is the most generous (0 is no limit).
        let Some(first) = overrides.next() else {
            return self.settings.quotas.default.clone();
        };
        let more = |a: u64, b: u64| if a == 0 || b == 0 { 0 } else { a.max(b) };
        overrides.fold(first.clone(), |mut l, g| {
            l.requests_per_minute =
                more(l.requests_per_minute.into(), g.requests_per_minute.into()) as u32;
            l.sync_queries = more(l.sync_queries.into(), g.sync_queries.into()) as u32;
            l.async_jobs = more(l.async_jobs.into(), g.async_jobs.into()) as u32;
            l.job_result_bytes = more(l.job_result_bytes, g.job_result_bytes);
            l
        })
    }

    /// Who a quota is counted for: the user, or (anonymous callers share) the client address.
    pub fn quota_key(caller: &Caller, peer: Option<IpAddr>) -> String {
        match (&caller.user, peer) {
            (Some(u), _) => format!("user:{u}"),
            (None, Some(ip)) => format!("addr:{}", ip.to_canonical()),
            (None, None) => "addr:unknown".into(),
        }
    }

    /// Counts a request of `caller` to `service`; refused over the limit.
    pub fn count_request(
        &self,
        caller: &Caller,
        peer: Option<IpAddr>,
        service: &str,
    ) -> Result<Option<RateDecision>, Refusal> {
        let limit = self.limits_for(caller).requests_per_minute;
        if limit == 0 {
            return Ok(None);
        }
        let key = format!("{}|{service}", Self::quota_key(caller, peer));
        let decision = self.rate.check(&key, limit);
        if decision.allowed {
            Ok(Some(decision))
        } else {
            self.refused
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(Refusal::RateLimited(decision))
        }
    }

    /// A slot for one synchronous query of `caller`, held until it is dropped (when the
    /// result has been sent).
    ///
    /// Two limits apply. The caller's quota of synchronous queries (`sync_queries`) counts
    /// every query they have running or waiting; beyond it the query is refused at once with
    /// the limit (`Err`). Of those, at most half the database's readers run at a time, so
    /// that no caller (an anonymous one is known by their address) can take every reader; the
    /// rest wait their turn, as a client sending a few queries in parallel expects, for at
    /// most `wait` (then `Err` too).
    pub async fn sync_slot(
        &self,
        caller: &Caller,
        peer: Option<IpAddr>,
        wait: Duration,
    ) -> Result<SyncSlot, u32> {
        let key = Self::quota_key(caller, peer);
        let quota = self.limits_for(caller).sync_queries;
        let counted = match quota {
            0 => None,
            q => Some(self.sync.try_acquire(&key, q).ok_or_else(|| {
                self.refused
                    .concurrency
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                q
            })?),
        };
        let mut slot = SyncSlot {
            _counted: counted,
            reading: None,
            freed: Arc::clone(&self.reader_freed),
        };
        if self.settings.readers == 0 {
            return Ok(slot);
        }
        let share = (self.settings.readers / 2).max(1) as u32;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the attempt, so a share given back in between is not missed.
            let freed = self.reader_freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(reading) = self.reading.try_acquire(&key, share) {
                slot.reading = Some(reading);
                return Ok(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                self.refused
                    .concurrency
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(share);
            }
        }
    }
}

/// One synchronous query's place: counted against its caller's quota and, once it runs,
/// holding one of the caller's share of readers. Dropping it gives both back.
#[derive(Debug)]
#[must_use = "the slot is freed as soon as it is dropped"]
pub struct SyncSlot {
    _counted: Option<ConcurrencyGuard>,
    reading: Option<ConcurrencyGuard>,
    freed: Arc<tokio::sync::Notify>,
}

impl Drop for SyncSlot {
    fn drop(&mut self) {
        if let Some(reading) = self.reading.take() {
            drop(reading);
            self.freed.notify_waiters();
        }
    }
}

/// A credential that was not accepted, as a refusal.
fn unaccepted(e: AuthError) -> Refusal {
    match e {
        AuthError::IssuerUnavailable(m) => Refusal::IssuerUnavailable(m),
        other => Refusal::Unauthenticated {
            bearer_error: other.bearer_error(),
            message: other.to_string(),
        },
    }
}
