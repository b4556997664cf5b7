//! Errors and how they look on the wire: [`AppError`] is an HTML page for a person,
//! [`OAuthError`] is the JSON error of the token-side endpoints (RFC 6749 5.2) and the code set of
//! the error redirects. 5xx bodies are opaque; the cause is logged once.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error shown to a person as an HTML page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The request cannot be served as sent (400); the message is shown.
    #[error("{0}")]
    BadRequest(String),
    /// The user may not do this (403); the message is shown.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here (404).
    #[error("not found")]
    NotFound,
    /// Too many attempts (429); the message is shown.
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency (Authsignal) failed or is unreachable (503); the message is shown, the
    /// cause is logged.
    #[error("{message}")]
    Unavailable {
        /// Shown to the user.
        message: String,
        /// Logged.
        cause: String,
    },
    /// A bug or a storage failure (500): opaque page, the cause is logged.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// An internal error from anything displayable.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn title_and_message(&self) -> (&'static str, String) {
        match self {
            Self::BadRequest(m) => ("Bad request", m.clone()),
            Self::Forbidden(m) => ("Not allowed", m.clone()),
            Self::NotFound => ("Not found", "There is nothing at this address.".into()),
            Self::TooManyRequests(m) => ("Too many attempts", m.clone()),
            Self::Unavailable { message, .. } => ("Temporarily unavailable", message.clone()),
            Self::Internal(_) => (
                "Something went wrong",
                "The request could not be completed. Please try again later.".into(),
            ),
        }
    }
}

/// The message of a page whose request failed because the store is unavailable.
pub const STORE_UNAVAILABLE: &str =
    "The service is temporarily unavailable. Nothing was changed; please try again in a moment.";

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Unavailable {
            message: STORE_UNAVAILABLE.into(),
            cause: e.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store unavailable");
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable, try again later",
        )
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            Self::Unavailable { cause, .. } => {
                tracing::error!(error = %cause, "dependency unavailable")
            }
            _ => {}
        }
        let (title, message) = self.title_and_message();
        let mut page = error_page(self.status_code(), title, &message);
        if matches!(self, Self::Unavailable { .. }) {
            page.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        page
    }
}

/// Renders `error.html` (a small Tera instance of its own: errors have no access to the app
/// state, and they are rare enough that parsing two templates per error costs nothing).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("title", title);
    context.insert("message", message);
    context.insert("status", &status.as_u16());
    let body = crate::templates::render_standalone("error.html", &context).unwrap_or_else(|e| {
        tracing::error!(error = %e, "error page template failed");
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
    });
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// The registered OAuth 2.0 / OpenID Connect error codes this provider returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// RFC 6749: malformed or missing parameter.
    InvalidRequest,
    /// RFC 6749: client authentication failed.
    InvalidClient,
    /// RFC 6749: code, refresh token or verifier invalid.
    InvalidGrant,
    /// RFC 6749: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749: unknown grant type.
    UnsupportedGrantType,
    /// RFC 6749: scope unknown or not allowed.
    InvalidScope,
    /// RFC 6749: the user or the server refused.
    AccessDenied,
    /// RFC 6749: only `code` is supported.
    UnsupportedResponseType,
    /// RFC 6749: internal error.
    ServerError,
    /// OpenID Connect: `prompt=none` but a login is needed.
    LoginRequired,
    /// OpenID Connect: `prompt=none` but the user must interact (a step-up challenge).
    InteractionRequired,
    /// OpenID Connect Core Unmet Authentication Requirements 1.0: an essential `acr` that the
    /// user cannot reach.
    UnmetAuthenticationRequirements,
    /// OpenID Connect: `request` objects are not supported.
    RequestNotSupported,
    /// OpenID Connect: `request_uri` is not supported.
    RequestUriNotSupported,
    /// RFC 6750: the bearer token is invalid.
    InvalidToken,
    /// RFC 6750: the token lacks the scope.
    InsufficientScope,
    /// RFC 7009: the token type cannot be revoked.
    UnsupportedTokenType,
    /// RFC 6749: the server is temporarily overloaded (503).
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error answered as JSON (`{"error": .., "error_description": ..}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The code.
    pub code: ErrorCode,
    /// A human-readable description (never contains a secret).
    pub description: String,
    /// `WWW-Authenticate` to send with a 401 (client_secret_basic or bearer failures).
    pub www_authenticate: Option<String>,
    /// A status other than the code's usual one (413 for an oversized body).
    pub status: Option<StatusCode>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            www_authenticate: None,
            status: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `server_error` (the cause is logged here, not sent).
    pub fn server_error(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "token endpoint internal error");
        Self::new(ErrorCode::ServerError, "the request could not be completed")
    }

    /// Answers with `status` instead of the code's usual status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a `WWW-Authenticate` challenge (answers 401).
    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.www_authenticate = Some(challenge.into());
        self
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(challenge) = &self.www_authenticate
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        response.json(OAuthErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_page_does_not_show_the_cause() {
        let response = AppError::Internal("db password=hunter2".into()).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2"));
        assert!(text.contains("Something went wrong"));
    }

    #[test]
    fn invalid_client_answers_401_with_the_challenge() {
        let err = OAuthError::invalid_client("client authentication failed")
            .with_challenge("Basic realm=\"x\"");
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"x\""
        );
        assert_eq!(
            response.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
    }
}
