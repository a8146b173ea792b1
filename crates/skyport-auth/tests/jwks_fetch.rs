//! How the verifier treats its issuer: caching, refetching on unknown key ids within a
//! cool-down, single flight, and issuers that hang, answer garbage or go away.

mod common;

use std::time::{Duration, Instant};

use common::{invalid_reason, issuer, quick_settings, url_verifier, verifier};
use skyport_auth::testing::{serve_garbage, serve_hanging, RSA_KID};
use skyport_auth::{AuthError, JwksSource, MAX_JWKS_BYTES};

const SHORT: Duration = Duration::from_millis(300);
const LONG_COOLDOWN: Duration = Duration::from_secs(600);

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_cooldown() {
    let cooldown = Duration::from_secs(1);
    let (url, server) = issuer().serve_jwks().await.expect("server");
    let verifier = verifier(quick_settings(&url, Duration::from_secs(2), cooldown));
    // Signed up front, so the loops below take far less than the cool-down.
    let strangers: Vec<String> = (0..40)
        .map(|i| issuer().sign_with_other_key(&issuer().claims("mallory"), &format!("kid-{i}")))
        .collect();
    let good = issuer().sign_rs256(&issuer().claims("alice"));
    verifier.verify(&good).await.expect("valid");
    assert_eq!(server.requests(), 1);
    // Right after a fetch, made-up key ids cost the issuer nothing.
    for token in &strangers[..20] {
        let reason = invalid_reason(verifier.verify(token).await);
        assert!(reason.contains("does not publish"), "{reason}");
    }
    assert_eq!(server.requests(), 1);
    // After the cool-down, one unknown kid refetches once; the next ones wait again.
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    for token in &strangers[20..] {
        invalid_reason(verifier.verify(token).await);
    }
    assert_eq!(server.requests(), 2);
    // Known keys never trigger a fetch of their own.
    verifier.verify(&good).await.expect("still valid");
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_found_by_refetching() {
    let (url, server) = issuer().serve_jwks().await.expect("server");
    let verifier = verifier(quick_settings(&url, Duration::from_secs(2), Duration::ZERO));
    verifier.prefetch().await.expect("keys");
    let rotated = issuer().sign_with_other_key(&issuer().claims("alice"), "rsa-2");
    invalid_reason(verifier.verify(&rotated).await);
    server.set_json(issuer().jwks_json_with_other_key("rsa-2"));
    assert_eq!(
        verifier
            .verify(&rotated)
            .await
            .expect("after rotation")
            .user,
        "alice"
    );
}

#[tokio::test]
async fn concurrent_first_verifications_fetch_once() {
    let (url, server) = issuer().serve_jwks().await.expect("server");
    let verifier = url_verifier(&url);
    let token = issuer().sign_es256(&issuer().claims("alice"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (verifier, token) = (verifier.clone(), token.clone());
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("valid");
    }
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_hanging_issuer_costs_at_most_the_fetch_timeout() {
    let (url, server) = serve_hanging().await.expect("server");
    let verifier = verifier(quick_settings(&url, SHORT, LONG_COOLDOWN));
    let token = issuer().sign_rs256(&issuer().claims("alice"));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (verifier, token) = (verifier.clone(), token.clone());
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(matches!(
            result.expect("task"),
            Err(AuthError::IssuerUnavailable(_))
        ));
    }
    let waited = start.elapsed();
    // Without the timeout this would hang for good; the bound leaves room for a busy machine.
    assert!(waited >= SHORT && waited < SHORT * 5, "{waited:?}");
    assert_eq!(server.requests(), 1, "one fetch for all the callers");
    // Within the cool-down, callers are told at once.
    let start = Instant::now();
    let error = verifier.verify(&token).await.expect_err("no keys");
    assert!(start.elapsed() < SHORT);
    assert_eq!(error.http_status(), 503);
}

#[tokio::test]
async fn garbage_from_the_issuer_is_unavailability() {
    let (url, _server) = serve_garbage().await.expect("server");
    let verifier = verifier(quick_settings(&url, SHORT, LONG_COOLDOWN));
    assert!(matches!(
        verifier.prefetch().await,
        Err(AuthError::IssuerUnavailable(_))
    ));
    let token = issuer().sign_rs256(&issuer().claims("alice"));
    match verifier.verify(&token).await {
        Err(AuthError::IssuerUnavailable(message)) => {
            assert!(
                !message.contains("127.0.0.1"),
                "no internal address in {message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_key_set_is_refused() {
    let (url, server) = issuer().serve_jwks().await.expect("server");
    let padding = "x".repeat(MAX_JWKS_BYTES);
    let jwks = issuer().jwks_json();
    server.set_json(format!("{{\"padding\": \"{padding}\", {}", &jwks[1..]));
    let verifier = verifier(quick_settings(&url, Duration::from_secs(2), LONG_COOLDOWN));
    assert!(matches!(
        verifier.prefetch().await,
        Err(AuthError::IssuerUnavailable(_))
    ));
}

#[tokio::test]
async fn a_missing_key_file_is_unavailability() {
    let settings = issuer().settings(JwksSource::File("/nonexistent/jwks.json".into()));
    let verifier = verifier(settings);
    let token = issuer().sign_rs256(&issuer().claims("alice"));
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::IssuerUnavailable(_))
    ));
}

#[tokio::test]
async fn cached_keys_outlive_the_issuer() {
    let (url, server) = issuer().serve_jwks().await.expect("server");
    let mut settings = quick_settings(&url, SHORT, Duration::ZERO);
    // Every verification finds the keys due for a refresh.
    settings.refresh_interval = Duration::ZERO;
    let verifier = verifier(settings);
    let good = issuer().sign_rs256(&issuer().claims("alice"));
    verifier.verify(&good).await.expect("valid");

    // The issuer starts answering garbage, then goes away altogether.
    server.set_json("{\"keys\": \"gone\"}".to_owned());
    // Each verification may start a background refresh; wait until one has reached the issuer.
    for _ in 0..100 {
        verifier
            .verify(&good)
            .await
            .expect("cached keys still work");
        if server.requests() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.requests() >= 2, "background refreshes were tried");
    server.stop().await;
    for _ in 0..3 {
        verifier
            .verify(&good)
            .await
            .expect("cached keys still work");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An unknown kid still refetches (and fails): the keys are there, so the token is
    // invalid rather than the issuer unavailable.
    let stranger = issuer().sign_with_other_key(&issuer().claims("mallory"), "rsa-9");
    invalid_reason(verifier.verify(&stranger).await);
    let forged = issuer().sign_with_other_key(&issuer().claims("mallory"), RSA_KID);
    invalid_reason(verifier.verify(&forged).await);
}
