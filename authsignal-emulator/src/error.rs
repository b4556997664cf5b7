//! Errors mapped to responses in one place: Server API errors as the service's JSON error body
//! (`error`, `errorCode`, `errorDescription`), hosted-page errors as a plain HTML page.
//! 5xx bodies are opaque; the cause is logged once.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use authsignal_sdk::types::ApiErrorBody;

use crate::store::StoreError;

/// The description the service sends with a 401.
pub const UNAUTHORIZED_DESCRIPTION: &str = "The request is unauthorized. Check that your API key and region base URL are correctly configured.";

/// An error of the Server API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Missing or wrong secret (401 `unauthorized`).
    #[error("unauthorized")]
    Unauthorized,
    /// Bad input (400 `invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is larger than the limit (413 `invalid_request`; status UNVERIFIED).
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Unknown resource (404 `not_found`; the service's 404 body is UNVERIFIED).
    #[error("{0}")]
    NotFound(String),
    /// Too many attempts (429 `too_many_requests`).
    #[error("{0}")]
    TooManyRequests(String),
    /// Client API: no, or no valid, Bearer token or tenant id (401 `unauthorized`).
    #[error("{0}")]
    ClientUnauthorized(String),
    /// Client API: the Bearer token has expired (401 `expired_token`, which makes the Web SDK
    /// call `onTokenExpired`; the service's status is UNVERIFIED).
    #[error("the token has expired")]
    ExpiredToken,
    /// Client API: a registration or assertion failed verification (400
    /// `invalid_credential`; status UNVERIFIED).
    #[error("{0}")]
    InvalidCredential(String),
    /// Client API: the credential id is not a passkey of this tenant (400
    /// `unknown_credential`, which makes the Web SDK signal the browser to forget it; status
    /// UNVERIFIED).
    #[error("the passkey is not known")]
    UnknownCredential,
    /// Client API: the request's `Origin` is not an expected origin (403 `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// Something broke inside the emulator (500, opaque).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::InvalidRequest(message.into())
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::ClientUnauthorized(_) => "unauthorized",
            ApiError::ExpiredToken => "expired_token",
            ApiError::InvalidCredential(_) => "invalid_credential",
            ApiError::UnknownCredential => "unknown_credential",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::InvalidRequest(_) | ApiError::PayloadTooLarge(_) => "invalid_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ApiErrorBody {
        let description = match self {
            ApiError::Unauthorized => UNAUTHORIZED_DESCRIPTION.to_owned(),
            ApiError::Internal(_) => "An internal error occurred.".to_owned(),
            other => other.to_string(),
        };
        ApiErrorBody::new(self.code(), description)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::ClientUnauthorized(_) | ApiError::ExpiredToken => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::InvalidCredential(_) | ApiError::UnknownCredential => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, "server api request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"authsignal\""));
        }
        response.json(self.body())
    }
}

/// An error on the hosted pages, shown as an HTML page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// The request cannot be served (bad or expired token, no session, CSRF failure, ...).
    #[error("{message}")]
    Refused {
        /// Status code.
        status: StatusCode,
        /// What the person sees.
        message: String,
    },
    /// The flow of this browser has ended (or was already complete): the browser is sent on to
    /// `location` (303) instead of being shown an error. Not a failure: the Back button after a
    /// finished sign-in lands here.
    #[error("the flow has ended; sending the browser to {location}")]
    SendOn {
        /// Where the browser goes.
        location: String,
    },
    /// Something broke inside the emulator.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where an error page's primary action leads: back to the relying party through `/back`
/// (which knows this browser's flow, or the last relying party it came from).
pub const BACK_PATH: &str = "/back";

impl PageError {
    /// A refusal with a status and a message for the person.
    pub fn refused(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError::Refused {
            status,
            message: message.into(),
        }
    }

    /// The session cookie is missing or the session expired.
    pub fn no_session() -> PageError {
        PageError::refused(
            StatusCode::BAD_REQUEST,
            "This verification session has expired or was not started here. Go back to the \
             application and sign in again.",
        )
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Internal(Box::new(e))
    }
}

impl From<tera::Error> for PageError {
    fn from(e: tera::Error) -> Self {
        PageError::Internal(Box::new(e))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Refused { status, .. } => *status,
            PageError::SendOn { .. } => StatusCode::SEE_OTHER,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            PageError::Refused { status, message } if *status == StatusCode::NOT_FOUND => {
                ("Page not found", message.as_str())
            }
            PageError::Refused { message, .. } => ("Verification not possible", message.as_str()),
            PageError::SendOn { location } => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location.as_str()))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .insert_header((header::REFERRER_POLICY, "no-referrer"))
                    .finish();
            }
            PageError::Internal(cause) => {
                tracing::error!(error = %cause, "hosted page failed");
                (
                    "Something went wrong",
                    "Something went wrong. Please try again.",
                )
            }
        };
        // The same frame as templates/base.html (this runs without the app state, so the
        // tenant's name is not known here).
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"referrer\" content=\"no-referrer\">\
             <title>{title} · Authsignal emulator</title>\
             <link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\
             <link rel=\"stylesheet\" href=\"/static/style.css\"></head><body>\
             <p class=\"dev-marker\" id=\"dev-marker\">Authsignal development emulator: for development and tests only</p>\
             <header class=\"site-header\"><span class=\"brand\"><img src=\"/static/favicon.svg\" alt=\"\" width=\"24\" height=\"24\">\
             <span class=\"product\">Authsignal emulator</span><span class=\"app\">Verification</span></span></header>\
             <main class=\"page\" id=\"main\"><div class=\"card\"><h1 id=\"title\">{title}</h1>\
             <p id=\"error\" class=\"alert alert-error\" role=\"alert\">{}</p>\
             <div class=\"actions\"><a class=\"btn btn-primary\" href=\"{BACK_PATH}\" id=\"continue\">Back to the application</a></div>\
             </div></main><footer class=\"site-footer\">Hosted verification pages of the Authsignal emulator</footer></body></html>",
            escape_html(message)
        );
        HttpResponse::build(self.status_code())
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONTENT_SECURITY_POLICY, crate::routes::pages::CSP))
            .body(html)
    }
}

/// Escapes text for HTML.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Errors that stop the emulator from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::configuration::ConfigError),
    /// TLS material could not be loaded or generated.
    #[error("tls: {0}")]
    Tls(#[from] dev_certs::Error),
    /// The data directory could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Binding or serving failed.
    #[error("cannot listen on '{address}': {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The webhook client or the templates could not be built.
    #[error("startup: {0}")]
    Other(String),
}
