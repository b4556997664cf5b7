//! The error type of every [`Client`](crate::Client) call.
//!
//! Errors keep what a caller needs to decide and to debug: the HTTP status and parsed error body
//! of an API error, the raw body of a response that did not decode, the request id the service
//! returned (quote it to support), and for a failed connection what failed
//! ([`TransportErrorKind`]) with the underlying error as its source. They never contain the
//! secret key.

use std::error::Error as StdError;
use std::fmt;
use std::io;

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
    /// The request could not be sent or the response could not be read: the connection was
    /// refused or reset, connecting timed out, the TLS handshake failed (e.g. an untrusted
    /// certificate), the host name did not resolve. `kind` says which; `source` is the
    /// underlying error, whose own chain ends at the operating system's or the TLS library's
    /// error. The error's URL never includes the query string.
    #[error("authsignal transport error: {kind}")]
    Transport {
        /// What failed.
        kind: TransportErrorKind,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer arrived in time: the attempt's timeout or the call's overall deadline
    /// ([`ClientBuilder::call_timeout`](crate::ClientBuilder::call_timeout)) ran out after the
    /// request may have been sent (a connect timeout is a [`Transport`](Error::Transport) error
    /// of kind [`TransportErrorKind::Timeout`]: nothing was sent).
    #[error("authsignal request timed out")]
    Timeout,
    /// The response body is larger than the configured cap
    /// ([`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes)), by its
    /// `Content-Length` or while it was read; reading stopped at the cap. Never retried.
    #[error("authsignal response too large (status {status}): more than {limit} bytes")]
    ResponseTooLarge {
        /// The HTTP status of the oversized response.
        status: u16,
        /// The cap in bytes.
        limit: usize,
    },
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
            Error::Api { status, .. }
            | Error::Decode { status, .. }
            | Error::ResponseTooLarge { status, .. } => Some(*status),
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

    /// Whether the failure is transient: a connection that could not be established (refused,
    /// connect timeout, TLS handshake, DNS), or status 429, 502, 503 or 504.
    ///
    /// This is the condition the built-in retry policy uses (it additionally requires the
    /// request to be safe to repeat). A timeout, a connection reset after the request was sent
    /// and an oversized response are not retryable: the service may have acted, and a body over
    /// the cap will be over it again.
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
            Error::Transport { source, .. } => source.is_connect(),
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

    /// What failed, for a [`Transport`](Error::Transport) error.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) {
    /// use authsignal_sdk::TransportErrorKind;
    ///
    /// if let Err(error) = client.get_user("user-123").await {
    ///     if error.transport_kind() == Some(TransportErrorKind::Tls) {
    ///         eprintln!("check the CA the client trusts");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        match self {
            Error::Transport { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// What failed when no answer arrived ([`Error::Transport`]). Its `Display` is a short phrase
/// for log lines, e.g. `connection refused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Nothing listens at the address (`ECONNREFUSED`): the service or a proxy is down.
    Refused,
    /// The connection was reset or closed before the answer was complete (`ECONNRESET`,
    /// `EPIPE`, an early end of stream): the request may have reached the service.
    Reset,
    /// Establishing the connection (TCP and TLS) took longer than the connect timeout.
    Timeout,
    /// The TLS handshake failed: most often a certificate that no trusted root signed (an
    /// unknown CA, a self-signed certificate) or one for another host name.
    Tls,
    /// The host name did not resolve.
    Dns,
    /// Any other failure (the source says what).
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Refused => "connection refused",
            Self::Reset => "connection reset or closed early",
            Self::Timeout => "connect timed out",
            Self::Tls => "tls handshake failed",
            Self::Dns => "dns lookup failed",
            Self::Other => "connection failed",
        })
    }
}

impl TransportErrorKind {
    /// Classifies a failed request by walking its source chain.
    ///
    /// The HTTP stack's own error types are private to it, so the kind comes from the
    /// standard `io::Error` kinds in the chain, where the operating system reports refused,
    /// reset and timed-out connections and where the TLS layer puts its handshake errors (as
    /// `InvalidData`, which plain TCP never produces), and from the resolver's message
    /// `dns error`. Anything else is [`Other`](Self::Other), with the chain intact.
    pub(crate) fn classify(error: &reqwest::Error) -> Self {
        if error.is_timeout() && error.is_connect() {
            return Self::Timeout;
        }
        let mut next: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(current) = next {
            let message = current.to_string();
            if message.starts_with("dns error") {
                return Self::Dns;
            }
            // hyper's words for a connection the peer closed before the response was complete.
            if message.starts_with("connection closed before message completed") {
                return Self::Reset;
            }
            next = current.source();
            if let Some(io) = current.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::ConnectionRefused => return Self::Refused,
                    io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof => return Self::Reset,
                    io::ErrorKind::TimedOut => return Self::Timeout,
                    io::ErrorKind::InvalidData if error.is_connect() => return Self::Tls,
                    _ => {}
                }
                // `io::Error::source` skips the error it wraps (it returns the wrapped error's
                // source), and the TLS layer's error is an `io::Error` wrapped in another one.
                if let Some(inner) = io.get_ref() {
                    next = Some(inner);
                }
            }
        }
        Self::Other
    }
}
