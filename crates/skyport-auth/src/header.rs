//! Reading a credential out of an `Authorization` header value.
//!
//! Two schemes are understood. `Bearer <token>` is the standard one. `Basic
//! <base64(user:password)>` is accepted because pyvo, TOPCAT and curl users often can only set
//! a user name and password: the password is taken as the token and the user name is ignored.
//! The one exception is GitHub's convention, which Rubin's Gafaelfawr also honours: when the
//! password is literally `x-oauth-basic`, the token is the user name.

use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use base64::Engine;

use crate::AuthError;

/// The longest `Authorization` value read, in bytes. It is checked before anything is decoded
/// so a hostile header costs no work; JWTs from OpenID Connect issuers are a few KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The password that marks the user name as the token (GitHub's and Gafaelfawr's convention).
const TOKEN_IN_USER_MARKER: &str = "x-oauth-basic";

/// A credential read from a request; what kind of token it is (a JWT or a skyport API token)
/// is decided by whoever checks it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token, from `Bearer` or from the password of `Basic`.
    Bearer(String),
}

impl Credential {
    /// The token text.
    pub fn token(&self) -> &str {
        match self {
            Credential::Bearer(token) => token,
        }
    }
}

// The token is a secret: keep it out of logs that print a credential by accident.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(token) => {
                write!(f, "Credential::Bearer(<{} bytes>)", token.len())
            }
        }
    }
}

/// Reads the credential in an `Authorization` header value given as raw bytes (as HTTP
/// libraries hand it over; it need not be UTF-8).
pub fn parse_authorization(value: &[u8]) -> Result<Credential, AuthError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(AuthError::malformed(format!(
            "the Authorization header is longer than {MAX_HEADER_BYTES} bytes"
        )));
    }
    let text = std::str::from_utf8(value)
        .map_err(|_| AuthError::malformed("the Authorization header is not valid UTF-8"))?;
    parse_authorization_str(text)
}

/// Reads the credential in an `Authorization` header value given as text.
pub fn parse_authorization_str(value: &str) -> Result<Credential, AuthError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(AuthError::malformed(format!(
            "the Authorization header is longer than {MAX_HEADER_BYTES} bytes"
        )));
    }
    // HTTP allows optional white space around a field value.
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = match value.split_once([' ', '\t']) {
        Some((scheme, rest)) => (scheme, rest.trim_start_matches([' ', '\t'])),
        None => (value, ""),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        check_token(rest)?;
        Ok(Credential::Bearer(rest.to_owned()))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let token = basic_token(rest)?;
        check_token(&token)?;
        Ok(Credential::Bearer(token))
    } else if scheme.is_empty() {
        Err(AuthError::malformed("the Authorization header is empty"))
    } else {
        Err(AuthError::malformed(
            "the Authorization scheme is neither Bearer nor Basic",
        ))
    }
}

/// The token carried by `Basic` credentials (see the module documentation).
fn basic_token(encoded: &str) -> Result<String, AuthError> {
    if encoded.is_empty() {
        return Err(AuthError::malformed("the Basic credentials are empty"));
    }
    let decoded = STANDARD_PAD_INDIFFERENT
        .decode(encoded)
        .map_err(|_| AuthError::malformed("the Basic credentials are not valid base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| AuthError::malformed("the Basic credentials are not valid UTF-8"))?;
    // RFC 7617: the user name cannot hold a colon, so the first one separates the two.
    let (user, password) = text.split_once(':').ok_or_else(|| {
        AuthError::malformed("the Basic credentials have no colon between user and password")
    })?;
    let token = if password == TOKEN_IN_USER_MARKER {
        user
    } else {
        password
    };
    Ok(token.to_owned())
}

/// A token is one run of visible ASCII: white space, control characters or anything beyond
/// ASCII can only be a client mistake or an attempt to smuggle something into logs.
fn check_token(token: &str) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(AuthError::malformed("the token is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::malformed(
            "the token contains white space, control or non-ASCII characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn bearer(token: &str) -> Credential {
        Credential::Bearer(token.to_owned())
    }

    fn malformed(value: &[u8]) -> String {
        match parse_authorization(value) {
            Err(AuthError::Malformed(reason)) => reason,
            other => panic!("expected Malformed for {value:?}, got {other:?}"),
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi ",
        ] {
            assert_eq!(
                parse_authorization(value.as_bytes()),
                Ok(bearer("abc.def.ghi"))
            );
        }
        assert_eq!(parse_authorization_str("\tBearer\tt0k"), Ok(bearer("t0k")));
    }

    #[test]
    fn basic_password_is_the_token() {
        let value = format!("Basic {}", STANDARD.encode("anyone:skp_secret.token"));
        assert_eq!(
            parse_authorization(value.as_bytes()),
            Ok(bearer("skp_secret.token"))
        );
        // The user name may be empty, and a colon in the password belongs to it.
        let value = format!("basic {}", STANDARD.encode(":a:b"));
        assert_eq!(parse_authorization_str(&value), Ok(bearer("a:b")));
        // Padding is optional: some clients drop it.
        let unpadded = STANDARD.encode("u:tok1").trim_end_matches('=').to_owned();
        assert_eq!(
            parse_authorization_str(&format!("Basic {unpadded}")),
            Ok(bearer("tok1"))
        );
    }

    #[test]
    fn basic_with_x_oauth_basic_password_takes_the_user_name() {
        let value = format!("Basic {}", STANDARD.encode("the-token:x-oauth-basic"));
        assert_eq!(parse_authorization_str(&value), Ok(bearer("the-token")));
    }

    #[test]
    fn hostile_and_broken_values_are_malformed() {
        assert!(malformed(b"").contains("empty"));
        assert!(malformed(b"Digest abc").contains("scheme"));
        assert!(malformed(b"Bearer").contains("empty"));
        assert!(malformed(b"Bearer    ").contains("empty"));
        assert!(malformed(b"Bearer a b").contains("white space"));
        assert!(malformed(b"Bearer a\x01b").contains("control"));
        assert!(malformed("Bearer tökén".as_bytes()).contains("non-ASCII"));
        assert!(malformed(b"Bearer \xff\xfe").contains("UTF-8"));
        assert!(malformed(b"Basic !!!notbase64").contains("base64"));
        assert!(malformed(b"Basic").contains("empty"));
        let no_colon = format!("Basic {}", STANDARD.encode("token-without-colon"));
        assert!(malformed(no_colon.as_bytes()).contains("colon"));
        let empty_password = format!("Basic {}", STANDARD.encode("user:"));
        assert!(malformed(empty_password.as_bytes()).contains("empty"));
        let bad_utf8 = format!("Basic {}", STANDARD.encode(b"u:\xff"));
        assert!(malformed(bad_utf8.as_bytes()).contains("UTF-8"));
        let newline = format!("Basic {}", STANDARD.encode("u:a\r\nX-Injected: 1"));
        assert!(malformed(newline.as_bytes()).contains("control"));
    }

    #[test]
    fn oversized_values_are_refused_before_decoding() {
        // Not base64 at all: the length check must come first.
        let mut huge = b"Basic ".to_vec();
        huge.resize(MAX_HEADER_BYTES + 1, b'!');
        assert!(malformed(&huge).contains("longer than"));
        let mut at_limit = b"Bearer ".to_vec();
        at_limit.resize(MAX_HEADER_BYTES, b'a');
        assert!(parse_authorization(&at_limit).is_ok());
    }

    #[test]
    fn debug_does_not_show_the_token() {
        let shown = format!("{:?}", bearer("secret-value"));
        assert!(!shown.contains("secret-value"), "{shown}");
    }
}
