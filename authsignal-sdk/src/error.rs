//! The error type of every [`Client`](crate::Client) call.
//!
//! Errors keep what a caller needs to decide and to debug: the HTTP status and parsed error body
//! of an API error, the raw body of a response that did not decode, and the request id the
//! service returned (quote it to support). They never contain the secret key.

use crate::types::ApiErrorBody;

/// An error from a [`Client`](crate::Client) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with a non-2xx status.
    #[error("authsignal api error: status {status}{}", describe(.body))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The parsed error body (all fields empty if the body was not the usual JSON).
        body: ApiErrorBody,
        /// The service's request id (`x-request-id` or `x-amzn-requestid`), if sent.
        request_id: Option<String>,
    },
    /// The request could not be sent or the response could not be read (DNS, connect, connect
    /// timeout, TLS, connection reset). The error's URL never includes the query string.
    #[error("authsignal transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// The attempt exceeded the configured total timeout after the connection was established
    /// (a connect timeout is a [`Transport`](Error::Transport) error: nothing was sent).
    #[error("authsignal request timed out")]
    Timeout,
    /// A 2xx response whose body is not the expected JSON. The raw body is kept.
    #[error("authsignal response could not be decoded (status {status}): {source}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// The body as received (lossily converted to UTF-8).
        raw_body: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The client is misconfigured (bad base URL, bad certificate, bad secret).
    #[error("invalid authsignal client configuration: {0}")]
    Configuration(String),
    /// An argument cannot be sent (e.g. an empty user id, which would change the path).
    #[error("invalid authsignal request: {0}")]
    InvalidRequest(String),
}

fn describe(body: &ApiErrorBody) -> String {
    match (body.code(), body.description()) {
        (Some(code), Some(description)) => format!(" ({code}): {description}"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(description)) => format!(": {description}"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// The HTTP status, for API and decode errors.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// if let Err(error) = client.get_user("user-123").await {
    ///     println!("{:?}", error.status());
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            Error::Transport(error) => error.status().map(|status| status.as_u16()),
            _ => None,
        }
    }

    /// The API error code (`errorCode`, else `error`), e.g. `unauthorized`.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// if let Err(error) = client.get_user("user-123").await {
    ///     println!("{:?}", error.error_code());
    /// }
    /// # }
    /// ```
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } => body.code(),
            _ => None,
        }
    }

    /// The API error description, if any.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// if let Err(error) = client.get_user("user-123").await {
    ///     println!("{:?}", error.error_description());
    /// }
    /// # }
    /// ```
    pub fn error_description(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } => body.description(),
            _ => None,
        }
    }

    /// The service's request id, for API errors that carried one.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// if let Err(error) = client.get_user("user-123").await {
    ///     println!("{:?}", error.request_id());
    /// }
    /// # }
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether the failure is transient: a connection failure, or status 429, 502, 503 or 504.
    ///
    /// This is the condition the built-in retry policy uses (it additionally requires the
    /// request to be safe to repeat). A timeout is not retryable: the service may have acted.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// if let Err(error) = client.get_user("user-123").await {
    ///     println!("{:?}", error.is_retryable());
    /// }
    /// # }
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => matches!(status, 429 | 502..=504),
            Error::Transport(error) => error.is_connect(),
            _ => false,
        }
    }

    /// Whether this is a 401 (wrong secret key or wrong region).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// if let Err(error) = client.get_user("user-123").await {
    ///     println!("{:?}", error.is_unauthorized());
    /// }
    /// # }
    /// ```
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }
}
