//! JWT verification with real keys: a test issuer signs, its JWKS is served over loopback HTTP
//! (or read from a file), and the verifier must accept the good tokens and name what is wrong
//! with the bad ones.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use common::{invalid_reason, issuer, malformed_reason, url_verifier, verifier};
use serde_json::{json, Value};
use skyport_auth::testing::{TestKey, TestServer, EC_KID, RSA_KID};
use skyport_auth::{AuthError, JwksSource, JwtVerifier, MAX_GROUPS, MAX_TOKEN_BYTES};

async fn served() -> (JwtVerifier, TestServer) {
    let (url, server) = issuer().serve_jwks().await.expect("server");
    (url_verifier(&url), server)
}

fn claims_with(changes: Value) -> Value {
    let mut claims = issuer().claims("alice");
    for (k, v) in changes.as_object().expect("object") {
        if v.is_null() {
            claims.as_object_mut().expect("object").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("in range")
}

#[tokio::test]
async fn rs256_and_es256_verify_with_keys_over_http() {
    let (verifier, server) = served().await;
    let claims = issuer().claims("alice");
    for token in [issuer().sign_rs256(&claims), issuer().sign_es256(&claims)] {
        let identity = verifier.verify(&token).await.expect("valid token");
        assert_eq!(identity.user, "alice");
        assert!(identity.memberships.is_empty());
        assert_eq!(
            identity.token_expires.map(|e| e.timestamp()),
            claims["exp"].as_i64()
        );
    }
    assert_eq!(server.requests(), 1, "the keys are fetched once and cached");
}

#[tokio::test]
async fn keys_from_a_file() {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), issuer().jwks_json()).expect("write");
    let verifier = verifier(issuer().settings(JwksSource::File(file.path().to_owned())));
    assert_eq!(verifier.prefetch().await, Ok(2));
    let claims = issuer().claims("bob");
    assert_eq!(
        verifier
            .verify(&issuer().sign_es256(&claims))
            .await
            .expect("valid")
            .user,
        "bob"
    );
    assert_eq!(
        verifier
            .verify(&issuer().sign_rs256(&claims))
            .await
            .expect("valid")
            .user,
        "bob"
    );
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_fitting_key() {
    let (verifier, _server) = served().await;
    let claims = issuer().claims("carol").to_string();
    for (alg, key) in [("ES256", TestKey::Ec), ("RS256", TestKey::Rsa)] {
        let token = issuer().sign_custom(&json!({ "alg": alg }), claims.as_bytes(), key, alg);
        assert_eq!(verifier.verify(&token).await.expect("valid").user, "carol");
    }
}

#[tokio::test]
async fn expiry_is_checked_with_leeway() {
    let (verifier, _server) = served().await;
    let exp = Utc::now().timestamp() - 1000;
    let token = issuer().sign_rs256(&claims_with(json!({"exp": exp, "iat": exp - 3600})));
    // The default leeway is 60 s.
    assert!(verifier.verify_at(&token, at(exp + 59)).await.is_ok());
    assert_eq!(
        verifier.verify_at(&token, at(exp + 61)).await,
        Err(AuthError::Expired)
    );
    assert_eq!(verifier.verify(&token).await, Err(AuthError::Expired));
    assert_eq!(AuthError::Expired.to_string(), "the token has expired");
    // A fractional exp is a valid NumericDate.
    let token = issuer().sign_rs256(&claims_with(json!({"exp": exp as f64 + 0.5})));
    assert!(verifier.verify_at(&token, at(exp)).await.is_ok());
}

#[tokio::test]
async fn not_before_is_checked_with_leeway() {
    let (verifier, _server) = served().await;
    let now = Utc::now().timestamp();
    let soon = issuer().sign_rs256(&claims_with(json!({"nbf": now + 30})));
    assert!(verifier.verify_at(&soon, at(now)).await.is_ok());
    let later = issuer().sign_rs256(&claims_with(json!({"nbf": now + 120})));
    assert!(invalid_reason(verifier.verify_at(&later, at(now)).await).contains("not valid yet"));
    let bad = issuer().sign_rs256(&claims_with(json!({"nbf": "tomorrow"})));
    assert!(malformed_reason(verifier.verify(&bad).await).contains("nbf"));
}

#[tokio::test]
async fn issuer_and_audience_must_match() {
    let (verifier, _server) = served().await;
    let wrong_iss = issuer().sign_rs256(&claims_with(json!({"iss": "https://evil.test"})));
    assert!(invalid_reason(verifier.verify(&wrong_iss).await).contains("issuer is not trusted"));
    let prefix_iss = issuer().sign_rs256(&claims_with(json!({"iss": "https://issuer.test/"})));
    assert!(invalid_reason(verifier.verify(&prefix_iss).await).contains("issuer"));
    let no_iss = issuer().sign_rs256(&claims_with(json!({"iss": null})));
    assert!(invalid_reason(verifier.verify(&no_iss).await).contains("no issuer"));

    let wrong_aud = issuer().sign_rs256(&claims_with(json!({"aud": "another-service"})));
    assert_eq!(
        invalid_reason(verifier.verify(&wrong_aud).await),
        "the token's audience is not this service"
    );
    let list_without = issuer().sign_rs256(&claims_with(json!({"aud": ["a", "b"]})));
    assert!(invalid_reason(verifier.verify(&list_without).await).contains("audience"));
    let list_with = issuer().sign_rs256(&claims_with(json!({"aud": ["a", "skyport"]})));
    assert!(verifier.verify(&list_with).await.is_ok());
    let no_aud = issuer().sign_rs256(&claims_with(json!({"aud": null})));
    assert!(invalid_reason(verifier.verify(&no_aud).await).contains("no audience"));
    let odd_aud = issuer().sign_rs256(&claims_with(json!({"aud": 7})));
    assert!(malformed_reason(verifier.verify(&odd_aud).await).contains("aud"));
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let (verifier, _server) = served().await;
    let token = issuer().sign_rs256(&claims_with(json!({"exp": null})));
    assert!(invalid_reason(verifier.verify(&token).await).contains("no expiry"));
    let token = issuer().sign_rs256(&claims_with(json!({"exp": "never"})));
    assert!(malformed_reason(verifier.verify(&token).await).contains("exp"));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (verifier, _server) = served().await;
    let token = issuer().unsigned_alg_none(&issuer().claims("mallory"));
    assert!(invalid_reason(verifier.verify(&token).await).contains("algorithm is not accepted"));
}

#[tokio::test]
async fn hmac_with_the_public_key_as_secret_is_refused() {
    let (verifier, _server) = served().await;
    let token = issuer().hmac_signed_with_public_key_pem(&issuer().claims("mallory"));
    // The forgery is real: a library that let the header choose HS256 and was handed the
    // issuer's public key PEM as "the key" would accept it.
    let pem = issuer().rsa_public_key_pem();
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    let naive = jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &jsonwebtoken::DecodingKey::from_secret(pem.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    );
    assert_eq!(naive.ok(), Some(true));
    assert!(invalid_reason(verifier.verify(&token).await).contains("algorithm is not accepted"));
}

#[tokio::test]
async fn another_key_under_the_same_kid_is_refused() {
    let (verifier, _server) = served().await;
    let token = issuer().sign_with_other_key(&issuer().claims("mallory"), RSA_KID);
    assert_eq!(
        invalid_reason(verifier.verify(&token).await),
        "the token's signature is not valid"
    );
}

#[tokio::test]
async fn header_algorithm_must_fit_the_key() {
    let (verifier, _server) = served().await;
    let claims = issuer().claims("mallory").to_string();
    // Signed by the EC key but naming the RSA key.
    let token = issuer().sign_custom(
        &json!({"alg": "ES256", "kid": RSA_KID}),
        claims.as_bytes(),
        TestKey::Ec,
        "ES256",
    );
    assert!(invalid_reason(verifier.verify(&token).await).contains("does not match its key"));
    // RS256 naming the EC key.
    let token = issuer().sign_custom(
        &json!({"alg": "RS256", "kid": EC_KID}),
        claims.as_bytes(),
        TestKey::Rsa,
        "RS256",
    );
    assert!(invalid_reason(verifier.verify(&token).await).contains("does not match its key"));
    // The JWKS says the RSA key is for RS256 only: PS256 with it is refused.
    let token = issuer().sign_custom(
        &json!({"alg": "PS256", "kid": RSA_KID}),
        claims.as_bytes(),
        TestKey::Rsa,
        "PS256",
    );
    assert!(invalid_reason(verifier.verify(&token).await).contains("does not match its key"));
    // A header claiming RS256 over an ES256 signature: the signature does not check.
    let token = issuer().sign_custom(
        &json!({"alg": "RS256", "kid": RSA_KID}),
        claims.as_bytes(),
        TestKey::Ec,
        "ES256",
    );
    assert!(invalid_reason(verifier.verify(&token).await).contains("signature"));
    // Critical header parameters are not understood.
    let token = issuer().sign_custom(
        &json!({"alg": "RS256", "kid": RSA_KID, "crit": ["exp"]}),
        claims.as_bytes(),
        TestKey::Rsa,
        "RS256",
    );
    assert!(invalid_reason(verifier.verify(&token).await).contains("critical"));
}

#[tokio::test]
async fn malformed_tokens() {
    let (verifier, _server) = served().await;
    let good = issuer().sign_rs256(&issuer().claims("alice"));
    let parts: Vec<&str> = good.split('.').collect();
    for broken in ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e"] {
        assert!(
            malformed_reason(verifier.verify(broken).await).contains("three parts"),
            "{broken:?}"
        );
    }
    let bad_header = format!("!!!.{}.{}", parts[1], parts[2]);
    assert!(malformed_reason(verifier.verify(&bad_header).await).contains("header"));
    let not_json = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode("nope"),
        parts[1],
        parts[2]
    );
    assert!(malformed_reason(verifier.verify(&not_json).await).contains("header"));
    let no_alg = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"kid":"rsa-1"}"#),
        parts[1],
        parts[2]
    );
    assert!(malformed_reason(verifier.verify(&no_alg).await).contains("alg"));
    let bad_signature = format!("{}.{}.***", parts[0], parts[1]);
    assert!(malformed_reason(verifier.verify(&bad_signature).await).contains("signature"));
    // Claims that are signed but are not base64url, or not a JSON object.
    let token = issuer().sign_parts(parts[0], "***", TestKey::Rsa, "RS256");
    assert!(malformed_reason(verifier.verify(&token).await).contains("base64url"));
    let token = issuer().sign_parts(
        parts[0],
        &URL_SAFE_NO_PAD.encode("[1, 2]"),
        TestKey::Rsa,
        "RS256",
    );
    assert!(malformed_reason(verifier.verify(&token).await).contains("JSON object"));
    // A tampered claims part fails the signature.
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(issuer().claims("root").to_string()),
        parts[2]
    );
    assert!(invalid_reason(verifier.verify(&tampered).await).contains("signature"));
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let (verifier, server) = served().await;
    let huge = "a".repeat(1 << 20);
    assert!(malformed_reason(verifier.verify(&huge).await).contains("longer than"));
    // Refused on size alone: the keys were never fetched.
    assert_eq!(server.requests(), 0);
    let big_claims = claims_with(json!({"padding": "x".repeat(MAX_TOKEN_BYTES)}));
    let token = issuer().sign_rs256(&big_claims);
    assert!(malformed_reason(verifier.verify(&token).await).contains("longer than"));
}

#[tokio::test]
async fn gafaelfawr_groups_plain_groups_and_scopes() {
    let (verifier, _server) = served().await;
    let ends = Utc::now().timestamp() + 86_400;
    let claims = claims_with(json!({
        "isMemberOf": [
            {"name": "g-users", "id": 1001},
            {"name": "g-survey", "id": 2002, "expires": ends},
            "g-plain"
        ],
        "scope": "read:tap write:files"
    }));
    let identity = verifier
        .verify(&issuer().sign_es256(&claims))
        .await
        .expect("valid");
    let groups: Vec<(&str, Option<i64>)> = identity
        .memberships
        .iter()
        .map(|m| (m.group.as_str(), m.ends.map(|e| e.timestamp())))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("g-plain", None),
            ("g-survey", Some(ends)),
            ("g-users", None)
        ]
    );
    assert!(identity.scopes.contains("read:tap") && identity.scopes.contains("write:files"));
    let later = Utc::now() + TimeDelta::days(2);
    assert!(!identity.is_member_of("g-survey", later));
    assert!(identity.is_member_of("g-users", later));

    let plain = claims_with(json!({"isMemberOf": ["a", "b"]}));
    let identity = verifier
        .verify(&issuer().sign_rs256(&plain))
        .await
        .expect("valid");
    assert_eq!(identity.memberships.len(), 2);
}

#[tokio::test]
async fn groups_of_the_wrong_type_are_malformed() {
    let (verifier, _server) = served().await;
    for groups in [
        json!("g"),
        json!([1, 2]),
        json!([{"id": 5}]),
        json!([{"name": "g", "expires": "x"}]),
        json!({"name": "g"}),
    ] {
        let token = issuer().sign_rs256(&claims_with(json!({ "isMemberOf": groups })));
        malformed_reason(verifier.verify(&token).await);
    }
    let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
    let token = issuer().sign_rs256(&claims_with(json!({ "isMemberOf": many })));
    assert!(
        token.len() < MAX_TOKEN_BYTES,
        "the group cap, not the size cap, must refuse it"
    );
    assert!(malformed_reason(verifier.verify(&token).await).contains("more than"));
}

#[tokio::test]
async fn configured_claim_names() {
    let (url, _server) = issuer().serve_jwks().await.expect("server");
    let mut settings = issuer().settings(JwksSource::Url(url));
    settings.username_claim = "preferred_username".into();
    settings.groups_claim = "groups".into();
    settings.scope_claim = "scp".into();
    let verifier = verifier(settings);
    let claims = claims_with(json!({
        "sub": "opaque-id-123", "preferred_username": "dave",
        "groups": ["g1"], "scp": ["admin:jobs"]
    }));
    let identity = verifier
        .verify(&issuer().sign_rs256(&claims))
        .await
        .expect("valid");
    assert_eq!(identity.user, "dave");
    assert_eq!(identity.memberships[0].group, "g1");
    assert!(identity.scopes.contains("admin:jobs"));
    let no_name = claims_with(json!({}));
    assert!(
        malformed_reason(verifier.verify(&issuer().sign_rs256(&no_name)).await)
            .contains("preferred_username")
    );
}

#[test]
fn settings_are_checked() {
    let mut settings = issuer().settings(JwksSource::Url("ftp://x".into()));
    assert!(JwtVerifier::new(settings.clone()).is_err());
    settings.jwks = JwksSource::Url("http://127.0.0.1:1/jwks".into());
    assert!(JwtVerifier::new(settings.clone()).is_ok());
    let mut bad = settings.clone();
    bad.audiences.clear();
    assert!(JwtVerifier::new(bad).is_err());
    let mut bad = settings.clone();
    bad.leeway_seconds = 100_000;
    assert!(JwtVerifier::new(bad).is_err());
    let mut bad = settings;
    bad.issuer.clear();
    assert!(JwtVerifier::new(bad).is_err());
}
