//! Shared by the integration tests: one issuer per test binary (RSA key generation is the
//! slow part), and small helpers.

#![allow(dead_code)] // each test binary uses a different part

use std::sync::OnceLock;
use std::time::Duration;

use skyport_auth::testing::TestIssuer;
use skyport_auth::{AuthError, JwksSource, JwtSettings, JwtVerifier};

pub fn issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(TestIssuer::new)
}

pub fn verifier(settings: JwtSettings) -> JwtVerifier {
    JwtVerifier::new(settings).expect("valid settings")
}

/// A verifier of the test issuer's tokens with keys from `url`.
pub fn url_verifier(url: &str) -> JwtVerifier {
    verifier(issuer().settings(JwksSource::Url(url.to_owned())))
}

/// Settings with short timings: a fetch timeout of `timeout` and a cool-down of `cooldown`.
pub fn quick_settings(url: &str, timeout: Duration, cooldown: Duration) -> JwtSettings {
    let mut settings = issuer().settings(JwksSource::Url(url.to_owned()));
    settings.fetch_timeout = timeout;
    settings.unknown_kid_cooldown = cooldown;
    settings
}

pub fn invalid_reason(result: Result<skyport_auth::Identity, AuthError>) -> String {
    match result {
        Err(AuthError::Invalid(reason)) => reason,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

pub fn malformed_reason(result: Result<skyport_auth::Identity, AuthError>) -> String {
    match result {
        Err(AuthError::Malformed(reason)) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}
