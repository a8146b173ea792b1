//! DALI 1.1, shared by every service: errors with their fault kind ([`DaliError`]), request
//! parameters ([`DaliParams`]), and the parameter values several protocols take — output
//! formats and MAXREC ([`format`]), intervals ([`interval`]) and sky shapes ([`shapes`]).

pub mod format;
pub mod interval;
mod params;
pub mod shapes;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub use params::{DaliParams, UploadedPart};

/// The class of a DALI error (DALI 1.1 §4.4, with the fault names TAP and DataLink use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The client's request is wrong (`UsageFault`).
    Usage,
    /// The client asked for something that does not exist (`NotFoundFault`).
    NotFound,
    /// The service failed (`Error`): a fault of ours, not the client's.
    Service,
}

impl Fault {
    /// The label DALI error documents start their message with.
    pub fn label(self) -> &'static str {
        match self {
            Fault::Usage => "UsageFault",
            Fault::NotFound => "NotFoundFault",
            Fault::Service => "Error",
        }
    }

    /// The label SODA's `text/plain` errors use (SODA 1.0 §5.2: `UsageError` or `Error`).
    pub fn soda_label(self) -> &'static str {
        match self {
            Fault::Usage => "UsageError",
            Fault::NotFound | Fault::Service => "Error",
        }
    }
}

/// A DALI error: its class, HTTP status and a message that names the parameter and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaliError {
    /// What kind of fault it is.
    pub kind: Fault,
    /// HTTP status (4xx for client faults, 5xx for server faults).
    pub status: StatusCode,
    /// What went wrong, without the class label.
    pub detail: String,
}

impl DaliError {
    /// A client error (400) of class UsageFault.
    pub fn usage(detail: impl Into<String>) -> DaliError {
        DaliError {
            kind: Fault::Usage,
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
        }
    }

    /// A server error (500): the service failed.
    pub fn internal(detail: impl Into<String>) -> DaliError {
        DaliError {
            kind: Fault::Service,
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: detail.into(),
        }
    }

    /// A 404 with a NotFoundFault message.
    pub fn not_found(detail: impl Into<String>) -> DaliError {
        DaliError {
            kind: Fault::NotFound,
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
        }
    }

    /// A refusal for want of rights: 401 for an anonymous caller (credentials would help; the
    /// response gets its `WWW-Authenticate` challenge on the way out), 403 for one who has
    /// them and may still not.
    pub fn not_allowed(caller: &crate::caller::Caller, detail: impl Into<String>) -> DaliError {
        DaliError {
            kind: Fault::Usage,
            status: if caller.user.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            },
            detail: detail.into(),
        }
    }

    /// The same fault with another HTTP status (413 for a body over the limit, for instance).
    pub fn with_status(self, status: StatusCode) -> DaliError {
        DaliError { status, ..self }
    }

    /// The message of the error document: the class label, then the detail
    /// (`UsageFault: parameter MAXREC …`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for DaliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.detail)
    }
}

impl std::error::Error for DaliError {}

impl IntoResponse for DaliError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/x-votable+xml")],
            skyport_votable::error_document(&self.message()),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_response_is_a_votable_with_the_status() {
        let resp = DaliError::usage("bad thing").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/x-votable+xml"
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        assert!(
            String::from_utf8_lossy(&body).contains("value=\"ERROR\">UsageFault: bad thing</INFO>")
        );
    }

    #[test]
    fn the_kind_gives_the_label_and_the_status_stays_apart() {
        let e = DaliError::usage("big").with_status(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            (e.kind, e.status),
            (Fault::Usage, StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert_eq!(e.message(), "UsageFault: big");
        assert_eq!(DaliError::not_found("x").message(), "NotFoundFault: x");
        assert_eq!(DaliError::internal("x").to_string(), "Error: x");
        assert_eq!(Fault::NotFound.soda_label(), "Error");
        assert_eq!(Fault::Usage.soda_label(), "UsageError");
    }
}
