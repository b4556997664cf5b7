//! Every way a request can fail, and the one place ([`AppError::into_response`]) that turns a
//! failure into a page: the right status, a clear message, no secret, 5xx causes logged once.
//! The back-channel logout endpoint answers the identity server, not a person: its failures
//! are [`LogoutError`], answered in JSON ([`LogoutError::into_response`]).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::backchannel::LogoutTokenError;
use crate::oidc::OidcError;
use crate::store::StoreError;
use crate::templates::{self, ErrorPage};

/// A failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// Discovery has not answered yet: sign-in is not possible for the moment.
    #[error("the identity server has not answered discovery yet")]
    ProviderUnavailable,
    /// `/signin-oidc` without a sign-in started from this browser (or it expired, or was used).
    #[error("no sign-in in progress")]
    NoPendingSignIn,
    /// `/signin-oidc` with a `state` that is not the one sent.
    #[error("state does not match")]
    StateMismatch,
    /// `/signin-oidc` without a `code`.
    #[error("no authorization code")]
    MissingCode,
    /// `/signin-oidc` with an `iss` parameter (RFC 9207) that is not the configured issuer.
    #[error("the iss parameter names another issuer")]
    WrongIssuer,
    /// `/signout-callback-oidc` with a `state` that is not the one sent (or none was sent).
    #[error("logout state does not match")]
    LogoutStateMismatch,
    /// The identity server sent the browser back with an OAuth error (`access_denied`, ...).
    #[error("the identity server answered '{code}'")]
    ProviderError {
        /// The `error` parameter.
        code: String,
        /// The `error_description` parameter.
        description: Option<String>,
    },
    /// The identity server refused the code or refresh token.
    #[error("the identity server refused the request: '{code}'")]
    Refused {
        /// The OAuth error code.
        code: String,
    },
    /// The ID token did not verify.
    #[error("the ID token failed verification: {0}")]
    InvalidIdToken(String),
    /// The identity server could not be reached or answered nonsense.
    #[error("the identity server could not be reached: {0}")]
    Upstream(String),
    /// The session store failed or did not answer in time: nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A form without the right CSRF token.
    #[error("csrf token missing or wrong")]
    Csrf,
    /// A query string or form that does not parse.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// No such page.
    #[error("not found")]
    NotFound,
    /// A bug or an environment problem (template, session serialisation, ...).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<OidcError> for AppError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::Discovery(m) | OidcError::Transport(m) => Self::Upstream(m),
            OidcError::Refused { code, .. } => Self::Refused { code },
            OidcError::InvalidIdToken(m) => Self::InvalidIdToken(m),
            // Handled where it can happen (userinfo: refresh, else sign in again); anywhere else
            // it is an upstream failure, never "refused to exchange the authorization code".
            OidcError::TokenRejected => {
                Self::Upstream("the identity server rejected the access token".into())
            }
        }
    }
}

impl AppError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ProviderUnavailable | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoPendingSignIn
            | Self::StateMismatch
            | Self::MissingCode
            | Self::WrongIssuer
            | Self::LogoutStateMismatch => StatusCode::BAD_REQUEST,
            Self::ProviderError { code, .. } if code == "access_denied" => StatusCode::FORBIDDEN,
            Self::ProviderError { .. } | Self::Refused { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidIdToken(_) => StatusCode::UNAUTHORIZED,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self, issuer: &str) -> ErrorPage {
        let (title, message, detail): (&str, &str, Option<String>) = match self {
            Self::ProviderUnavailable => (
                "Identity server not reachable yet",
                "The web client has not been able to reach the identity server yet. It keeps \
                 trying in the background; reload this page in a moment.",
                None,
            ),
            Self::NoPendingSignIn => (
                "Sign-in expired",
                "No sign-in was in progress in this browser, or it took too long, or this link \
                 was already used. Start again.",
                None,
            ),
            Self::StateMismatch => (
                "Sign-in refused",
                "The answer from the identity server does not belong to the sign-in this \
                 browser started (state mismatch). Start again.",
                None,
            ),
            Self::MissingCode => (
                "Sign-in refused",
                "The identity server sent the browser back without an authorization code.",
                None,
            ),
            Self::WrongIssuer => (
                "Sign-in refused",
                "The answer claims to come from another identity server than the one this \
                 app signs in with (iss mismatch).",
                None,
            ),
            Self::LogoutStateMismatch => (
                "Sign-out not confirmed",
                "This answer does not belong to a sign-out started from this browser. You are \
                 signed out of this app in any case.",
                None,
            ),
            Self::ProviderError { code, description } if code == "access_denied" => (
                "Sign-in cancelled",
                "The sign-in was cancelled or denied at the identity server, so you are not \
                 signed in.",
                Some(detail_of(code, description.as_deref())),
            ),
            Self::ProviderError { code, description } => (
                "Sign-in failed",
                "The identity server could not complete the sign-in.",
                Some(detail_of(code, description.as_deref())),
            ),
            Self::Refused { code } => (
                "Sign-in failed",
                "The identity server refused to exchange the authorization code for tokens \
                 (it may have expired or been used already). Start again.",
                Some(code.clone()),
            ),
            Self::InvalidIdToken(reason) => (
                "Sign-in refused",
                "The ID token from the identity server failed verification, so it was not \
                 accepted and you are not signed in.",
                Some(reason.clone()),
            ),
            Self::Upstream(_) => (
                "Identity server unavailable",
                "The identity server could not be reached or gave an answer that made no \
                 sense. Try again in a moment.",
                None,
            ),
            Self::Store(_) => (
                "Temporarily unavailable",
                "The web client cannot reach its session store right now, so nothing was \
                 changed. Try again in a moment.",
                None,
            ),
            Self::Csrf => (
                "Form expired",
                "This form was not sent from the page this app gave you (CSRF check failed). \
                 Go back, reload and try again.",
                None,
            ),
            Self::Malformed(_) => (
                "Bad request",
                "This request could not be understood (a malformed query string or form).",
                None,
            ),
            Self::NotFound => ("Not found", "There is no page at this address.", None),
            Self::Internal(_) => (
                "Something went wrong",
                "The web client failed to handle this request. It has been logged.",
                None,
            ),
        };
        ErrorPage {
            issuer: issuer.to_owned(),
            title: title.into(),
            message: message.into(),
            detail: detail.map(|d| truncate(&d, 300)),
        }
    }

    /// The error page for this failure; 5xx causes are logged here, once.
    pub fn into_response(self, tera: &tera::Tera, issuer: &str) -> HttpResponse {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %self, "request refused");
        }
        let html = templates::render(tera, "error.html", &self.page(issuer)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "error page failed to render");
            "<!doctype html><title>Error</title><h1>Error</h1>".to_owned()
        });
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        response.content_type("text/html; charset=utf-8").body(html)
    }
}

/// A refused or failed `POST /backchannel-logout` (Back-Channel Logout 1.0 section 2.8).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The request or its logout token is not acceptable: 400 `invalid_request`.
    #[error(transparent)]
    Invalid(#[from] LogoutTokenError),
    /// The token's `jti` was accepted before: 400 `invalid_request`.
    #[error("the logout token was already used")]
    Replayed,
    /// Discovery has not answered, so the token cannot be verified yet: 503 (the identity
    /// server retries).
    #[error("the identity server has not answered discovery yet")]
    ProviderUnavailable,
    /// The store failed: nothing was recorded, the token is not used up: 503 (retried).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LogoutError {
    /// The HTTP status of this failure: 400 for anything in the request, 503 for our side.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::Replayed => StatusCode::BAD_REQUEST,
            Self::ProviderUnavailable | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The JSON answer: `{"error": "invalid_request", "error_description": …}` for a 400,
    /// `{"error": "temporarily_unavailable"}` for a 503 (its cause logged here, once).
    pub fn into_response(self) -> HttpResponse {
        let status = self.status();
        let body = if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "back-channel logout failed");
            serde_json::json!({ "error": "temporarily_unavailable" })
        } else {
            tracing::info!(status = status.as_u16(), error = %self, "back-channel logout refused");
            serde_json::json!({
                "error": "invalid_request",
                "error_description": self.to_string(),
            })
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        response
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .json(body)
    }
}

fn detail_of(code: &str, description: Option<&str>) -> String {
    match description {
        Some(d) => format!("{code}: {d}"),
        None => code.to_owned(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_sign_in_is_forbidden_and_other_provider_errors_are_bad_requests() {
        let denied = AppError::ProviderError {
            code: "access_denied".into(),
            description: None,
        };
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        let other = AppError::ProviderError {
            code: "server_error".into(),
            description: None,
        };
        assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_store_failure_is_a_503_page_without_detail() {
        let error = AppError::Store(StoreError::Timeout(1000));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        let page = error.page("i");
        assert!(page.detail.is_none());
        assert!(page.message.contains("session store"), "{}", page.message);
    }

    #[test]
    fn a_rejected_access_token_is_never_called_a_refused_code_exchange() {
        let page = AppError::from(OidcError::TokenRejected).page("i");
        assert!(
            !page.message.contains("authorization code"),
            "{}",
            page.message
        );
    }

    #[test]
    fn internal_errors_show_no_detail() {
        let page = AppError::Internal("secret path /etc/x".into()).page("i");
        assert!(page.detail.is_none());
        assert!(!page.message.contains("/etc/x"));
    }

    #[test]
    fn a_refused_logout_token_is_a_400_and_a_store_failure_a_503() {
        let refused = LogoutError::Invalid(LogoutTokenError::BadSignature);
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(LogoutError::Replayed.status(), StatusCode::BAD_REQUEST);
        let failed = LogoutError::Store(StoreError::Timeout(500));
        assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            LogoutError::ProviderUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn long_details_are_cut() {
        let page = AppError::InvalidIdToken("x".repeat(1000)).page("i");
        assert!(page.detail.unwrap().chars().count() <= 301);
    }
}
