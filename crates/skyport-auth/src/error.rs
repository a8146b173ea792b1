//! The one error type of credential checking, shaped so the server can pick a status code.

/// Why a credential was not accepted.
///
/// Every message is written to be shown to the client as it is: it says what was wrong with the
/// credential and never carries key material, the token itself or the issuer's internal
/// addresses (those go to the log).
///
/// The server maps [`Malformed`](Self::Malformed), [`Invalid`](Self::Invalid) and
/// [`Expired`](Self::Expired) to 401 and [`IssuerUnavailable`](Self::IssuerUnavailable) to 503;
/// [`AuthError::http_status`] and [`AuthError::bearer_error`] spell that out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The credential cannot be read at all: an unknown scheme, bad base64, a token that is not
    /// a JWT, claims of the wrong type, something over a size limit.
    #[error("malformed credentials: {0}")]
    Malformed(String),
    /// The credential is well formed but not acceptable: a bad signature, a disallowed
    /// algorithm, the wrong issuer or audience, a key the issuer does not publish.
    #[error("{0}")]
    Invalid(String),
    /// The token's `exp` is in the past, beyond the allowed clock skew.
    #[error("the token has expired")]
    Expired,
    /// No usable signing keys could be had from the issuer, so no token can be checked; the
    /// fault is not the client's.
    #[error("the identity provider is unavailable: {0}")]
    IssuerUnavailable(String),
}

impl AuthError {
    /// The HTTP status this error should produce: 401 for the client's credential, 503 when
    /// the issuer cannot be reached.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::Malformed(_) | AuthError::Invalid(_) | AuthError::Expired => 401,
            AuthError::IssuerUnavailable(_) => 503,
        }
    }

    /// The RFC 6750 `error` attribute for a `WWW-Authenticate: Bearer` challenge, or `None`
    /// when the failure is not about the client's token.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            AuthError::Malformed(_) => Some("invalid_request"),
            AuthError::Invalid(_) | AuthError::Expired => Some("invalid_token"),
            AuthError::IssuerUnavailable(_) => None,
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        AuthError::Malformed(reason.into())
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        AuthError::Invalid(reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_whose_fault_it_is() {
        assert_eq!(AuthError::malformed("x").http_status(), 401);
        assert_eq!(AuthError::Invalid("x".into()).http_status(), 401);
        assert_eq!(AuthError::Expired.http_status(), 401);
        assert_eq!(AuthError::IssuerUnavailable("x".into()).http_status(), 503);
        assert_eq!(AuthError::Expired.bearer_error(), Some("invalid_token"));
        assert_eq!(
            AuthError::IssuerUnavailable("x".into()).bearer_error(),
            None
        );
        assert_eq!(AuthError::Expired.to_string(), "the token has expired");
    }
}
