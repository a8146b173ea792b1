//! A real OpenID Connect issuer in miniature, for test suites (feature `testing`).
//!
//! [`TestIssuer`] holds fresh RSA-2048 and P-256 keys, publishes them as a JWKS (key ids
//! `rsa-1` and `ec-1`), signs tokens with them, and forges the classic hostile tokens. Its
//! [`TestServer`] serves the JWKS over HTTP on 127.0.0.1 — a few lines on a Tokio listener —
//! and counts requests; [`serve_hanging`] and [`serve_garbage`] play a broken issuer.
//!
//! This is test support: it panics (with a message) if key generation fails.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::ecdsa::SigningKey as EcKey;
use p256::pkcs8::EncodePrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::jwks::JwksSource;
use crate::jwt::JwtSettings;

/// The key id of the issuer's RSA key.
pub const RSA_KID: &str = "rsa-1";
/// The key id of the issuer's EC key.
pub const EC_KID: &str = "ec-1";

/// Which private key [`TestIssuer::sign_custom`] signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// The published RSA key (`rsa-1`).
    Rsa,
    /// The published P-256 key (`ec-1`).
    Ec,
    /// A second RSA key that is not published (unless [`TestIssuer::jwks_json_with_other_key`]
    /// is served).
    OtherRsa,
}

struct RsaPair {
    private: RsaPrivateKey,
    signing: EncodingKey,
}

impl RsaPair {
    fn generate() -> Self {
        let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation");
        let der = private.to_pkcs1_der().expect("RSA key encoding");
        let signing = EncodingKey::from_rsa_der(der.as_bytes());
        RsaPair { private, signing }
    }

    fn jwk(&self, kid: &str) -> Value {
        let public = self.private.to_public_key();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        })
    }
}

/// A miniature OpenID Connect issuer (see the module documentation).
pub struct TestIssuer {
    /// The `iss` of the tokens [`TestIssuer::claims`] makes (`https://issuer.test`).
    pub issuer: String,
    /// The `aud` of the tokens [`TestIssuer::claims`] makes (`skyport`).
    pub audience: String,
    rsa: RsaPair,
    ec: EcKey,
    ec_signing: EncodingKey,
    // Made on first use: RSA key generation is the slow part of a test run.
    other_rsa: OnceLock<RsaPair>,
}

impl Default for TestIssuer {
    fn default() -> Self {
        TestIssuer::new()
    }
}

impl TestIssuer {
    /// An issuer with fresh keys.
    pub fn new() -> Self {
        let ec = EcKey::random(&mut OsRng);
        let der = ec.to_pkcs8_der().expect("EC key encoding");
        TestIssuer {
            issuer: "https://issuer.test".to_owned(),
            audience: "skyport".to_owned(),
            rsa: RsaPair::generate(),
            ec_signing: EncodingKey::from_ec_der(der.as_bytes()),
            ec,
            other_rsa: OnceLock::new(),
        }
    }

    fn other(&self) -> &RsaPair {
        self.other_rsa.get_or_init(RsaPair::generate)
    }

    /// Verifier settings trusting this issuer, its audience and the keys at `jwks`, with short
    /// timings for tests (2 s fetch timeout).
    pub fn settings(&self, jwks: JwksSource) -> JwtSettings {
        let mut settings = JwtSettings::new(&self.issuer, vec![self.audience.clone()], jwks);
        settings.fetch_timeout = Duration::from_secs(2);
        settings
    }

    /// Valid claims for `user`: this issuer, its audience, issued now, expiring in an hour.
    pub fn claims(&self, user: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer, "aud": self.audience, "sub": user,
            "iat": now, "exp": now + 3600,
        })
    }

    /// The published key set: the RSA key as `rsa-1` and the EC key as `ec-1`.
    pub fn jwks_json(&self) -> String {
        json!({ "keys": [self.rsa.jwk(RSA_KID), self.ec_jwk()] }).to_string()
    }

    /// The key set after a rotation: the usual keys plus the other RSA key as `kid`.
    pub fn jwks_json_with_other_key(&self, kid: &str) -> String {
        json!({ "keys": [self.rsa.jwk(RSA_KID), self.ec_jwk(), self.other().jwk(kid)] }).to_string()
    }

    fn ec_jwk(&self) -> Value {
        let point = self.ec.verifying_key().to_encoded_point(false);
        let coordinate =
            |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.expect("uncompressed point"));
        json!({
            "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": EC_KID,
            "x": coordinate(point.x()), "y": coordinate(point.y()),
        })
    }

    /// The RSA public key as a PEM document (`BEGIN PUBLIC KEY`).
    pub fn rsa_public_key_pem(&self) -> String {
        self.rsa
            .private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM encoding")
    }

    /// A token signed RS256 with the published RSA key.
    pub fn sign_rs256(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": RSA_KID});
        self.sign_custom(
            &header,
            claims.to_string().as_bytes(),
            TestKey::Rsa,
            "RS256",
        )
    }

    /// A token signed ES256 with the published EC key.
    pub fn sign_es256(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": EC_KID});
        self.sign_custom(&header, claims.to_string().as_bytes(), TestKey::Ec, "ES256")
    }

    /// A token signed RS256 by a second, unpublished RSA key under key id `kid`: `rsa-1`
    /// makes the ids collide, anything else is an unknown key.
    pub fn sign_with_other_key(&self, claims: &Value, kid: &str) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        self.sign_custom(
            &header,
            claims.to_string().as_bytes(),
            TestKey::OtherRsa,
            "RS256",
        )
    }

    /// A token with `alg: none` and no signature.
    pub fn unsigned_alg_none(&self, claims: &Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": RSA_KID});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    /// A token signed HS256 with the RSA public key's PEM text as the HMAC secret, naming
    /// `rsa-1`: what a verifier that lets the token pick the algorithm would accept.
    pub fn hmac_signed_with_public_key_pem(&self, claims: &Value) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": RSA_KID});
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let secret = EncodingKey::from_secret(self.rsa_public_key_pem().as_bytes());
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &secret, Algorithm::HS256)
            .expect("HMAC signing");
        format!("{message}.{signature}")
    }

    /// A token with any header and raw claims bytes, signed by `key` with algorithm `alg`
    /// (a JOSE name such as `RS256`, `PS256`, `ES256`), whatever the header says.
    pub fn sign_custom(&self, header: &Value, claims: &[u8], key: TestKey, alg: &str) -> String {
        self.sign_parts(
            &URL_SAFE_NO_PAD.encode(header.to_string()),
            &URL_SAFE_NO_PAD.encode(claims),
            key,
            alg,
        )
    }

    /// A token whose first two parts are taken as they are (they need not be base64url),
    /// with a real signature over them by `key` with algorithm `alg`.
    pub fn sign_parts(
        &self,
        header_part: &str,
        claims_part: &str,
        key: TestKey,
        alg: &str,
    ) -> String {
        let message = format!("{header_part}.{claims_part}");
        let signing = match key {
            TestKey::Rsa => &self.rsa.signing,
            TestKey::Ec => &self.ec_signing,
            TestKey::OtherRsa => &self.other().signing,
        };
        let algorithm = Algorithm::from_str(alg).expect("a JOSE algorithm name");
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), signing, algorithm).expect("signing");
        format!("{message}.{signature}")
    }

    /// Serves [`TestIssuer::jwks_json`] at `http://127.0.0.1:PORT/jwks.json`; returns that URL
    /// and the server.
    pub async fn serve_jwks(&self) -> std::io::Result<(String, TestServer)> {
        serve(Reply::json(self.jwks_json())).await
    }
}

/// What the test server answers.
#[derive(Debug, Clone)]
enum Reply {
    Answer {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Read the request, then say nothing, ever.
    Hang,
}

impl Reply {
    fn json(body: String) -> Self {
        Reply::Answer {
            status: 200,
            content_type: "application/json",
            body,
        }
    }
}

struct ServerState {
    reply: Mutex<Reply>,
    requests: AtomicUsize,
}

/// A loopback HTTP server for tests; it stops when dropped or [`stopped`](Self::stop).
pub struct TestServer {
    url: String,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// The URL it serves.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests it has read so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Answers later requests with `body` as JSON (a key rotation, say).
    pub fn set_json(&self, body: String) {
        *self
            .state
            .reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Reply::json(body);
    }

    /// Stops listening and drops open connections; the port then refuses connections.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that accepts connections and reads requests but never answers.
pub async fn serve_hanging() -> std::io::Result<(String, TestServer)> {
    serve(Reply::Hang).await
}

/// A server that answers every request with `200 OK` and an HTML page instead of a JWKS.
pub async fn serve_garbage() -> std::io::Result<(String, TestServer)> {
    serve(Reply::Answer {
        status: 200,
        content_type: "text/html",
        body: "<html><body>It works!</body></html>".to_owned(),
    })
    .await
}

async fn serve(reply: Reply) -> std::io::Result<(String, TestServer)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/jwks.json", listener.local_addr()?);
    let state = Arc::new(ServerState {
        reply: Mutex::new(reply),
        requests: AtomicUsize::new(0),
    });
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
    let server = TestServer {
        url: url.clone(),
        state,
        task,
    };
    Ok((url, server))
}

async fn accept_loop(listener: TcpListener, state: Arc<ServerState>) {
    // The connections live in the set, so aborting this task closes them all.
    let mut connections = JoinSet::new();
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            connections.spawn(answer(stream, Arc::clone(&state)));
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(mut stream: TcpStream, state: Arc<ServerState>) {
    // Read up to the end of the request head; the JWKS client sends no body.
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let reply = state
        .reply
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match reply {
        Reply::Hang => std::future::pending::<()>().await,
        Reply::Answer {
            status,
            content_type,
            body,
        } => {
            let response = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                if status == 200 { "OK" } else { "Error" },
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}
