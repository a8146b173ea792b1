//! The cache of one issuer's keys, and fetching them (see the parent module).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use tokio::io::AsyncReadExt;

use super::keys::{KeySet, Lookup, VerifyKey};
use super::{JwksSource, MAX_JWKS_BYTES};
use crate::AuthError;

/// How the cache behaves; copied from the verifier's settings.
#[derive(Debug, Clone)]
pub(crate) struct CachePolicy {
    pub(crate) refresh_interval: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) unknown_kid_cooldown: Duration,
}

#[derive(Debug, Default)]
struct State {
    keys: Arc<KeySet>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<Instant>,
    /// When the last fetch, good or bad, finished.
    attempted_at: Option<Instant>,
    /// Counts finished fetches, so a caller that waited for another's fetch does not repeat it.
    generation: u64,
}

/// The cached key set of one issuer.
#[derive(Debug)]
pub(crate) struct JwksCache {
    source: JwksSource,
    client: Option<reqwest::Client>,
    policy: CachePolicy,
    state: RwLock<State>,
    fetch_lock: Arc<tokio::sync::Mutex<()>>,
}

impl JwksCache {
    pub(crate) fn new(
        source: JwksSource,
        client: Option<reqwest::Client>,
        policy: CachePolicy,
    ) -> Self {
        JwksCache {
            source,
            client,
            policy,
            state: RwLock::default(),
            fetch_lock: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fetches now unless a fetch finished within the cool-down; returns how many keys are
    /// cached afterwards.
    pub(crate) async fn prefetch(&self) -> usize {
        let (generation, recent) = {
            let state = self.state();
            (
                state.generation,
                self.recently_attempted(&state, Instant::now()),
            )
        };
        if !recent {
            self.refresh(generation).await;
        }
        self.state().keys.len()
    }

    /// The key that should have signed a token with this `kid` and `alg`.
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<VerifyKey>, AuthError> {
        let (mut keys, generation, never_fetched) = {
            let state = self.state();
            (
                Arc::clone(&state.keys),
                state.generation,
                state.attempted_at.is_none(),
            )
        };
        if never_fetched {
            self.refresh(generation).await;
            keys = Arc::clone(&self.state().keys);
        }
        let mut lookup = keys.find(kid, algorithm);
        if matches!(lookup, Lookup::Unknown) && (kid.is_some() || keys.len() == 0) {
            // A new key id may mean the issuer rotated its keys; an empty cache may mean the
            // issuer is back. Either is worth one fetch per cool-down.
            let (generation, recent) = {
                let state = self.state();
                (
                    state.generation,
                    self.recently_attempted(&state, Instant::now()),
                )
            };
            if !recent {
                self.refresh(generation).await;
                keys = Arc::clone(&self.state().keys);
                lookup = keys.find(kid, algorithm);
            }
        }
        match lookup {
            Lookup::Found(key) => {
                self.refresh_in_background_if_due();
                Ok(key)
            }
            Lookup::WrongAlgorithm => Err(AuthError::invalid(
                "the token's signing algorithm does not match its key",
            )),
            Lookup::Ambiguous => Err(AuthError::invalid(
                "the token does not name its signing key (no kid)",
            )),
            Lookup::Unknown if keys.len() == 0 => Err(AuthError::IssuerUnavailable(
                "the identity provider's signing keys could not be fetched".to_owned(),
            )),
            Lookup::Unknown => Err(AuthError::invalid(
                "the token was signed with a key the identity provider does not publish",
            )),
        }
    }

    fn recently_attempted(&self, state: &State, now: Instant) -> bool {
        state
            .attempted_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.policy.unknown_kid_cooldown)
    }

    /// Fetches unless another caller's fetch finished while this one waited for the lock.
    async fn refresh(&self, seen_generation: u64) {
        let _only_fetch = self.fetch_lock.lock().await;
        if self.state().generation != seen_generation {
            return;
        }
        self.fetch_and_store().await;
    }

    /// Starts a fetch without waiting for it when the keys are old, unless one is running,
    /// one failed within the cool-down, or there is no Tokio runtime to run it on.
    fn refresh_in_background_if_due(self: &Arc<Self>) {
        let now = Instant::now();
        {
            let state = self.state();
            let old = state
                .fetched_at
                .is_none_or(|at| now.saturating_duration_since(at) >= self.policy.refresh_interval);
            if !old || self.recently_attempted(&state, now) {
                return;
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(guard) = Arc::clone(&self.fetch_lock).try_lock_owned() else {
            return;
        };
        let cache = Arc::clone(self);
        runtime.spawn(async move {
            let _only_fetch = guard;
            cache.fetch_and_store().await;
        });
    }

    /// One fetch, bounded by the fetch timeout; the outcome is recorded either way. Called
    /// with the fetch lock held.
    async fn fetch_and_store(&self) {
        let outcome = match tokio::time::timeout(self.policy.fetch_timeout, self.fetch()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {:?}", self.policy.fetch_timeout)),
        };
        let now = Instant::now();
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.generation += 1;
        state.attempted_at = Some(now);
        match outcome {
            Ok(keys) => {
                tracing::debug!(source = ?self.source, keys = keys.len(), "fetched the issuer's signing keys");
                state.keys = Arc::new(keys);
                state.fetched_at = Some(now);
            }
            Err(error) => tracing::warn!(
                source = ?self.source,
                %error,
                cached_keys = state.keys.len(),
                "could not fetch the issuer's signing keys; keeping the cached ones"
            ),
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let bytes = match (&self.source, &self.client) {
            (JwksSource::File(path), _) => read_file(path).await?,
            (JwksSource::Url(url), Some(client)) => download(client, url).await?,
            (JwksSource::Url(_), None) => return Err("no HTTP client".to_owned()),
        };
        KeySet::parse(&bytes)
    }
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells an over-long file from one exactly at the limit.
    file.take(MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "{} is larger than {MAX_JWKS_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
    {
        return Err(format!("the answer is larger than {MAX_JWKS_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
    {
        if bytes.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("the answer is larger than {MAX_JWKS_BYTES} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
