//! skyport's own API tokens, for robots and services that cannot do an OpenID Connect login.
//!
//! A token reads `skp_<key>.<secret>`: the key (16 random bytes) names the token and may be
//! stored and logged; the secret (32 random bytes) is shown once, when the token is made, and
//! only its SHA-256 is kept. Both parts are base64url without padding. A database leak thus
//! gives out no usable token, and the key lets the server find the row without comparing
//! secrets.
//!
//! Storing tokens (key, hash, owner, scopes, expiry) is the server's business; this module
//! only makes, reads and checks them.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::SysRng;
use rand::TryRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every skyport API token starts with; a JWT never does (it starts with `eyJ`), so a
/// server can tell the two apart before checking either.
pub const PREFIX: &str = "skp_";

const KEY_BYTES: usize = 16;
const SECRET_BYTES: usize = 32;
// base64url without padding: 4 characters for every 3 bytes, rounded up.
const KEY_CHARS: usize = (KEY_BYTES * 4).div_ceil(3);
const SECRET_CHARS: usize = (SECRET_BYTES * 4).div_ceil(3);

/// Why an API token could not be made, or a duration not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// A duration such as `--expires 30d` could not be read.
    #[error("{0}")]
    Duration(String),
}

/// A freshly made token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The whole token, `skp_<key>.<secret>`: show it to its owner once, never store it.
    pub token: String,
    /// The token's key: store it, and look the token up by it.
    pub key: String,
    /// Lowercase hex SHA-256 of the secret's text: store it, and check secrets against it
    /// with [`ApiToken::verify_secret`].
    pub secret_hash: String,
}

// The token is a secret; a stray `{:?}` must not write it to a log.
impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &"<redacted>")
            .field("key", &self.key)
            .field("secret_hash", &self.secret_hash)
            .finish()
    }
}

/// The functions for skyport API tokens (see the module documentation).
pub struct ApiToken;

impl ApiToken {
    /// Makes a new token from the operating system's random number generator.
    pub fn generate() -> Result<NewToken, TokenError> {
        let mut key = [0u8; KEY_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        let mut rng = SysRng;
        rng.try_fill_bytes(&mut key)
            .and_then(|()| rng.try_fill_bytes(&mut secret))
            .map_err(|e| TokenError::Random(e.to_string()))?;
        let key = URL_SAFE_NO_PAD.encode(key);
        let secret = URL_SAFE_NO_PAD.encode(secret);
        Ok(NewToken {
            token: format!("{PREFIX}{key}.{secret}"),
            secret_hash: Self::hash_secret(&secret),
            key,
        })
    }

    /// Splits a token into its key and secret, or `None` if it is not exactly the shape
    /// [`ApiToken::generate`] makes: the prefix, a 22-character key, a dot, a 43-character
    /// secret, base64url in canonical form.
    pub fn parse(token: &str) -> Option<(&str, &str)> {
        let rest = token.strip_prefix(PREFIX)?;
        let (key, secret) = rest.split_once('.')?;
        if key.len() != KEY_CHARS || secret.len() != SECRET_CHARS {
            return None;
        }
        // Decoding checks the alphabet and rejects non-canonical trailing bits, so each token
        // has one spelling.
        let key_ok = URL_SAFE_NO_PAD
            .decode(key)
            .is_ok_and(|b| b.len() == KEY_BYTES);
        let secret_ok = URL_SAFE_NO_PAD
            .decode(secret)
            .is_ok_and(|b| b.len() == SECRET_BYTES);
        (key_ok && secret_ok).then_some((key, secret))
    }

    /// Whether `token` looks like a skyport API token rather than a JWT (only the prefix is
    /// looked at; [`ApiToken::parse`] does the real check).
    pub fn is_api_token(token: &str) -> bool {
        token.starts_with(PREFIX)
    }

    /// The stored form of a secret: lowercase hex SHA-256 of its text.
    pub fn hash_secret(secret: &str) -> String {
        hex(&Sha256::digest(secret.as_bytes()))
    }

    /// Whether `secret` matches `stored_hash` (as made by [`ApiToken::hash_secret`]). The
    /// comparison takes the same time wherever the hashes differ; a stored hash that is not
    /// 64 hex digits matches nothing.
    pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
        let Some(stored) = unhex32(stored_hash) else {
            return false;
        };
        let computed: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        computed.ct_eq(&stored).into()
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

/// The longest lifetime [`parse_duration`] accepts: long-lived enough for any robot, short
/// enough that adding it to a date cannot overflow.
const MAX_DURATION: Duration = Duration::from_secs(36_525 * 24 * 3600);

/// Reads a token lifetime such as `3600s`, `90m`, `12h`, `30d` or `1w`: a positive whole
/// number followed by one unit letter, nothing else.
pub fn parse_duration(text: &str) -> Result<Duration, TokenError> {
    let err = |why: String| TokenError::Duration(why);
    let text = text.trim();
    let Some(unit) = text.chars().last() else {
        return Err(err(
            "the duration is empty (expected e.g. 30d, 12h, 90m, 3600s or 1w)".into(),
        ));
    };
    let number = &text[..text.len() - unit.len_utf8()];
    let seconds_per_unit: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ if unit.is_ascii_digit() => {
            return Err(err(format!(
                "the duration {text:?} has no unit (add s, m, h, d or w)"
            )))
        }
        _ => {
            return Err(err(format!(
                "the duration {text:?} has an unknown unit (use s, m, h, d or w)"
            )))
        }
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "the duration {text:?} does not start with a whole number"
        )));
    }
    let too_long = || err(format!("the duration {text:?} is longer than 100 years"));
    let count: u64 = number.parse().map_err(|_| too_long())?;
    if count == 0 {
        return Err(err(format!("the duration {text:?} is zero")));
    }
    let seconds = count.checked_mul(seconds_per_unit).ok_or_else(too_long)?;
    let duration = Duration::from_secs(seconds);
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_verify() {
        let made = ApiToken::generate().expect("token");
        assert_eq!(
            made.token.len(),
            PREFIX.len() + KEY_CHARS + 1 + SECRET_CHARS
        );
        let (key, secret) = ApiToken::parse(&made.token).expect("parses");
        assert_eq!(key, made.key);
        assert!(ApiToken::is_api_token(&made.token));
        assert!(ApiToken::verify_secret(secret, &made.secret_hash));
        assert_eq!(made.secret_hash.len(), 64);
        let other = ApiToken::generate().expect("token");
        assert_ne!(other.key, made.key);
        assert!(!ApiToken::verify_secret(secret, &other.secret_hash));
    }

    #[test]
    fn tampered_secrets_and_hashes_fail() {
        let made = ApiToken::generate().expect("token");
        let (_, secret) = ApiToken::parse(&made.token).expect("parses");
        let mut tampered = secret.to_owned().into_bytes();
        tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(!ApiToken::verify_secret(&tampered, &made.secret_hash));
        assert!(!ApiToken::verify_secret(secret, ""));
        assert!(!ApiToken::verify_secret(secret, &made.secret_hash[..63]));
        assert!(!ApiToken::verify_secret(secret, &"zz".repeat(32)));
        // Upper-case hex is the same hash.
        assert!(ApiToken::verify_secret(
            secret,
            &made.secret_hash.to_uppercase()
        ));
    }

    #[test]
    fn parse_is_strict() {
        let made = ApiToken::generate().expect("token");
        let body = made.token.strip_prefix(PREFIX).expect("prefix");
        for bad in [
            format!("SKP_{body}"),
            format!("skp-{body}"),
            body.to_owned(),
            format!("{}x", made.token),
            made.token[..made.token.len() - 1].to_owned(),
            made.token.replace('.', "_"),
            format!("{PREFIX}{}", "A".repeat(KEY_CHARS + 1 + SECRET_CHARS)),
            // Right lengths, wrong alphabet.
            format!(
                "{PREFIX}{}.{}",
                "+".repeat(KEY_CHARS),
                "A".repeat(SECRET_CHARS)
            ),
            // Right alphabet, but a last character with non-zero spare bits.
            format!(
                "{PREFIX}{}B.{}",
                "A".repeat(KEY_CHARS - 1),
                "A".repeat(SECRET_CHARS)
            ),
            String::new(),
            "skp_.".to_owned(),
        ] {
            assert_eq!(ApiToken::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let made = ApiToken::generate().expect("token");
        let shown = format!("{made:?}");
        assert!(!shown.contains(&made.token));
        assert!(shown.contains(&made.key));
    }

    #[test]
    fn durations() {
        let day = 86_400;
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * day)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_duration("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(7 * day)));
        assert_eq!(parse_duration("36525d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration(" 2d "), Ok(Duration::from_secs(2 * day)));
        for (bad, why) in [
            ("", "empty"),
            ("30", "no unit"),
            ("30y", "unknown unit"),
            ("d", "whole number"),
            ("-1d", "whole number"),
            ("1.5h", "whole number"),
            ("1 d", "whole number"),
            ("0s", "zero"),
            ("36526d", "100 years"),
            ("99999999999999999999999s", "100 years"),
            ("18446744073709551615w", "100 years"),
            ("3é", "unknown unit"),
        ] {
            match parse_duration(bad) {
                Err(TokenError::Duration(message)) => {
                    assert!(message.contains(why), "{bad:?}: {message}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
