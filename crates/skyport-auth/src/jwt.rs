//! Verifying JWTs from an OpenID Connect issuer and reading the identity they assert.
//!
//! The order of checks is chosen so that nothing an attacker controls is trusted before the
//! signature is: the token's size, its shape, its header (only `alg`, `kid` and `crit` are
//! read), the key, the signature, and only then the claims — issuer, audience, expiry, and
//! the identity.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::claims::{identity_from_claims, ClaimNames};
use crate::identity::Identity;
use crate::jwks::{accepted_algorithm, CachePolicy, JwksCache, JwksSource};
use crate::AuthError;

/// The longest token read, in bytes; longer ones are refused before anything is decoded.
/// Over a thousand groups in Gafaelfawr's form would not fit, so this also bounds the claims.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The longest encoded JOSE header read: a real one is well under 1 KiB.
const MAX_HEADER_PART: usize = 2048;
/// The longest `kid` accepted.
const MAX_KID_CHARS: usize = 256;
/// The most clock skew that may be configured: more would keep stolen tokens alive.
pub const MAX_LEEWAY_SECONDS: u64 = 3600;

/// How to trust an OpenID Connect issuer's tokens. [`JwtSettings::new`] fills in the usual
/// values for everything but the issuer, audiences and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The issuer, compared exactly with the `iss` claim.
    pub issuer: String,
    /// The names this service answers to; the token's `aud` must name at least one.
    pub audiences: Vec<String>,
    /// Where the issuer's signing keys come from.
    pub jwks: JwksSource,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 60, at most
    /// [`MAX_LEEWAY_SECONDS`]).
    pub leeway_seconds: u64,
    /// The claim holding the user name (default `sub`).
    pub username_claim: String,
    /// The claim listing groups (default `isMemberOf`, as Gafaelfawr and CILogon send it).
    pub groups_claim: String,
    /// The claim holding OAuth scopes (default `scope`).
    pub scope_claim: String,
    /// How old cached keys may get before they are re-fetched in the background (default
    /// 10 minutes).
    pub refresh_interval: Duration,
    /// The longest one fetch of the keys may take, connection included (default 5 s); no
    /// caller waits longer than this for keys.
    pub fetch_timeout: Duration,
    /// The least time between two fetches that were not due (a token naming an unknown key,
    /// or no keys at all; default 30 s), so made-up key ids cannot hammer the issuer.
    pub unknown_kid_cooldown: Duration,
}

impl JwtSettings {
    /// Settings for `issuer`, `audiences` and `jwks`, with the defaults for the rest.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, jwks: JwksSource) -> Self {
        JwtSettings {
            issuer: issuer.into(),
            audiences,
            jwks,
            leeway_seconds: 60,
            username_claim: "sub".to_owned(),
            groups_claim: "isMemberOf".to_owned(),
            scope_claim: "scope".to_owned(),
            refresh_interval: Duration::from_secs(600),
            fetch_timeout: Duration::from_secs(5),
            unknown_kid_cooldown: Duration::from_secs(30),
        }
    }
}

/// Settings that cannot work, found when the verifier is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A setting is missing or out of range.
    #[error("JWT settings: {0}")]
    Invalid(String),
    /// The HTTP client for fetching keys could not be made.
    #[error("JWT settings: cannot make the HTTP client for the JWKS: {0}")]
    HttpClient(String),
}

/// Checks tokens from one issuer. Cloning is cheap and shares the key cache.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    settings: Arc<JwtSettings>,
    keys: Arc<JwksCache>,
}

/// The parts of the JOSE header that are read; everything else in it is ignored.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl JwtVerifier {
    /// A verifier for `settings`; no key is fetched yet (see [`JwtVerifier::prefetch`]).
    pub fn new(settings: JwtSettings) -> Result<Self, SettingsError> {
        let invalid = |why: &str| Err(SettingsError::Invalid(why.to_owned()));
        if settings.issuer.is_empty() {
            return invalid("the issuer is empty");
        }
        if settings.audiences.is_empty() || settings.audiences.iter().any(String::is_empty) {
            return invalid("at least one non-empty audience is needed");
        }
        if settings.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(SettingsError::Invalid(format!(
                "the leeway is more than {MAX_LEEWAY_SECONDS} seconds"
            )));
        }
        if [
            &settings.username_claim,
            &settings.groups_claim,
            &settings.scope_claim,
        ]
        .iter()
        .any(|c| c.is_empty())
        {
            return invalid("a claim name is empty");
        }
        if settings.fetch_timeout.is_zero() {
            return invalid("the fetch timeout is zero");
        }
        let client = match &settings.jwks {
            JwksSource::Url(url) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return invalid("the JWKS URL is not http or https");
                }
                Some(http_client(settings.fetch_timeout)?)
            }
            JwksSource::File(_) => None,
        };
        let policy = CachePolicy {
            refresh_interval: settings.refresh_interval,
            fetch_timeout: settings.fetch_timeout,
            unknown_kid_cooldown: settings.unknown_kid_cooldown,
        };
        Ok(JwtVerifier {
            keys: Arc::new(JwksCache::new(settings.jwks.clone(), client, policy)),
            settings: Arc::new(settings),
        })
    }

    /// The settings this verifier was made with.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Fetches the issuer's keys now (at start-up, say, to log a bad configuration early)
    /// unless a fetch finished within the cool-down. Returns how many usable keys are cached,
    /// or [`AuthError::IssuerUnavailable`] if none.
    pub async fn prefetch(&self) -> Result<usize, AuthError> {
        match self.keys.prefetch().await {
            0 => Err(AuthError::IssuerUnavailable(
                "the identity provider's signing keys could not be fetched".to_owned(),
            )),
            n => Ok(n),
        }
    }

    /// Checks `token` and returns the identity it asserts.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verify_at(token, Utc::now()).await
    }

    /// Checks `token` as of `now` (for tests, and for checking when a token was used).
    pub async fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::malformed(format!(
                "the token is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::malformed(
                "the token is not a signed JWT (three parts separated by dots)",
            ));
        };
        let header = read_header(header_part)?;
        let Some(algorithm) = accepted_algorithm(&header.alg) else {
            return Err(AuthError::invalid(
                "the token's signing algorithm is not accepted (RS256, RS384, RS512, PS256, \
                 PS384, PS512, ES256 and ES384 are)",
            ));
        };
        if header.crit.is_some() {
            return Err(AuthError::invalid(
                "the token has critical header parameters this service does not understand",
            ));
        }
        if header
            .kid
            .as_ref()
            .is_some_and(|kid| kid.chars().count() > MAX_KID_CHARS)
        {
            return Err(AuthError::malformed("the token's key id is too long"));
        }
        let key = self.keys.key_for(header.kid.as_deref(), algorithm).await?;

        // The signed message is the two encoded parts with the dot between them.
        let message = &token[..header_part.len() + 1 + claims_part.len()];
        match jsonwebtoken::crypto::verify(signature_part, message.as_bytes(), &key.key, algorithm)
        {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::invalid("the token's signature is not valid")),
            Err(e) if matches!(e.kind(), ErrorKind::Base64(_)) => {
                return Err(AuthError::malformed(
                    "the token's signature is not valid base64url",
                ))
            }
            Err(e) => {
                // A key the library cannot use (an EC point off its curve, say): the issuer's
                // fault, but all the client can be told is that the signature did not check.
                tracing::warn!(error = %e, kid = ?header.kid, "a published key could not verify");
                return Err(AuthError::invalid("the token's signature is not valid"));
            }
        }

        let claims = read_claims(claims_part)?;
        let expires = self.check_claims(&claims, now)?;
        let names = ClaimNames {
            username: &self.settings.username_claim,
            groups: &self.settings.groups_claim,
            scope: &self.settings.scope_claim,
        };
        // An `exp` beyond chrono's range is as good as never.
        let expires = DateTime::from_timestamp(expires, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        identity_from_claims(&claims, &names, Some(expires))
    }

    /// Checks issuer, audience and validity times; returns the expiry (unix seconds).
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<i64, AuthError> {
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.settings.issuer => {}
            None => return Err(AuthError::invalid("the token names no issuer")),
            Some(_) => {
                return Err(AuthError::invalid(
                    "the token's issuer is not trusted by this service",
                ))
            }
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => self.settings.audiences.contains(aud),
            Some(Value::Array(auds)) => auds.iter().any(|aud| {
                aud.as_str()
                    .is_some_and(|aud| self.settings.audiences.iter().any(|a| a == aud))
            }),
            None => return Err(AuthError::invalid("the token names no audience")),
            Some(_) => {
                return Err(AuthError::malformed(
                    "the token's aud claim is not a string or list",
                ))
            }
        };
        if !audience_ok {
            return Err(AuthError::invalid(
                "the token's audience is not this service",
            ));
        }
        // Leeway is at most an hour (checked in `new`), so this cannot overflow.
        let leeway = self.settings.leeway_seconds as i64;
        let now = now.timestamp();
        let expires = match claims.get("exp") {
            None | Some(Value::Null) => {
                return Err(AuthError::invalid("the token has no expiry time (exp)"))
            }
            Some(value) => numeric_date(value, "exp")?,
        };
        if expires.saturating_add(leeway) < now {
            return Err(AuthError::Expired);
        }
        if let Some(value) = claims.get("nbf").filter(|v| !v.is_null()) {
            let not_before = numeric_date(value, "nbf")?;
            if not_before.saturating_sub(leeway) > now {
                return Err(AuthError::invalid("the token is not valid yet (nbf)"));
            }
        }
        Ok(expires)
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, SettingsError> {
    // reqwest is built without a default TLS provider; installing ring fails harmlessly when
    // another part of the process already installed one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("skyport/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SettingsError::HttpClient(e.to_string()))
}

fn read_header(part: &str) -> Result<JoseHeader, AuthError> {
    if part.len() > MAX_HEADER_PART {
        return Err(AuthError::malformed("the token's header is too long"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::malformed("the token's header is not valid base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::malformed("the token's header is not a JSON object with an alg"))
}

fn read_claims(part: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::malformed("the token's claims are not valid base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(AuthError::malformed(
            "the token's claims are not a JSON object",
        )),
    }
}

/// A JWT NumericDate: seconds since the epoch, possibly with a fraction (dropped).
fn numeric_date(value: &Value, claim: &str) -> Result<i64, AuthError> {
    let not_a_date = || AuthError::malformed(format!("the token's {claim} claim is not a number"));
    let Value::Number(number) = value else {
        return Err(not_a_date());
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(seconds);
    }
    // Beyond i64 or fractional: `as` saturates, which keeps the comparisons right.
    number
        .as_f64()
        .map(|f| f.floor() as i64)
        .ok_or_else(not_a_date)
}
