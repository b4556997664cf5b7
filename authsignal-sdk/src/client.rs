//! The [`Client`], its [`ClientBuilder`] and the transport every call goes through.
//!
//! One `Client` holds one pooled `reqwest::Client` behind an `Arc`, so cloning it is cheap and
//! clones share connections. Every call builds the URL from percent-encoded path segments,
//! serialises the body once, and runs the attempt loop of the [retry policy](crate::retry)
//! inside the call's overall deadline ([`ClientBuilder::call_timeout`]); each response body is
//! read chunk by chunk and never past [`ClientBuilder::max_response_bytes`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, TransportErrorKind};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::types::*;

/// The default total timeout of one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default timeout for establishing a connection (TCP + TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default overall deadline of one call: every attempt, back-off and `Retry-After` wait.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The default cap of a response body (1 MiB; the API's answers are a few kilobytes).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("authsignal-rust/", env!("CARGO_PKG_VERSION"));

/// Everything but the RFC 3986 unreserved characters is percent-encoded in a path segment, so a
/// user id such as `a/b c?d#e%` stays one segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Response headers that carry the service's request id (first match wins).
const REQUEST_ID_HEADERS: [&str; 3] = ["x-request-id", "x-amzn-requestid", "x-amz-request-id"];

/// An Authsignal region: selects the Server API base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Region {
    /// United States (Oregon): `https://api.authsignal.com/v1` (the default).
    #[default]
    Us,
    /// Australia (Sydney): `https://au.api.authsignal.com/v1`.
    Au,
    /// Europe (Dublin): `https://eu.api.authsignal.com/v1`.
    Eu,
    /// Canada: `https://ca.api.authsignal.com/v1`.
    Ca,
}

impl Region {
    /// The Server API base URL of this region.
    ///
    /// ```
    /// # use authsignal_sdk::Region;
    /// assert_eq!(Region::Eu.base_url(), "https://eu.api.authsignal.com/v1");
    /// ```
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.authsignal.com/v1",
            Region::Au => "https://au.api.authsignal.com/v1",
            Region::Eu => "https://eu.api.authsignal.com/v1",
            Region::Ca => "https://ca.api.authsignal.com/v1",
        }
    }
}

/// The tenant's Server API secret key. Its `Debug` output is redacted.
#[derive(Clone)]
struct SecretKey(String);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Configures and builds a [`Client`]. Created by [`Client::builder`].
///
/// | setting | default |
/// |---|---|
/// | base URL | [`Region::Us`], `https://api.authsignal.com/v1` |
/// | total timeout per attempt | 10 s ([`DEFAULT_TIMEOUT`]) |
/// | connect timeout | 5 s ([`DEFAULT_CONNECT_TIMEOUT`]) |
/// | overall deadline per call (attempts and waits) | 30 s ([`DEFAULT_CALL_TIMEOUT`]) |
/// | retries | [`RetryPolicy::default()`]: 2 retries, 100 ms doubling to 2 s, safe requests only |
/// | response body cap | 1 MiB ([`DEFAULT_MAX_RESPONSE_BYTES`]) |
/// | trusted roots | the Mozilla root set compiled in (webpki-roots), plus any added certificate |
/// | user agent | `authsignal-rust/<version>` |
///
/// ```no_run
/// use std::time::Duration;
/// use authsignal_sdk::{Client, Region, RetryPolicy};
///
/// # fn main() -> Result<(), authsignal_sdk::Error> {
/// let client = Client::builder(std::env::var("AUTHSIGNAL_SECRET").unwrap_or_default())
///     .region(Region::Eu)
///     .timeout(Duration::from_secs(5))
///     .call_timeout(Duration::from_secs(8))
///     .retry_policy(RetryPolicy::none())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    secret: SecretKey,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    call_timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    root_certificates: Vec<Vec<u8>>,
    user_agent: String,
}

impl ClientBuilder {
    /// Selects a region's base URL (replaces any earlier [`base_url`](Self::base_url)).
    ///
    /// ```no_run
    /// # use authsignal_sdk::{Client, Region};
    /// let client = Client::builder("secret").region(Region::Au).build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn region(mut self, region: Region) -> Self {
        self.base_url = region.base_url().to_owned();
        self
    }

    /// Uses a custom base URL, path included, e.g. a local emulator at
    /// `https://localhost:5003/v1`. It must be `http` or `https` without query or fragment; it is
    /// checked by [`build`](Self::build). A trailing `/` is ignored.
    ///
    /// ```no_run
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("dev-emulator-secret-key")
    ///     .base_url("https://localhost:5003/v1")
    ///     .build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn base_url(mut self, url: impl AsRef<str>) -> Self {
        self.base_url = url.as_ref().to_owned();
        self
    }

    /// Sets the total timeout of one attempt (connect, send, wait and read the body). Default 10 s.
    /// Retries get a fresh timeout each, but no attempt runs past the call's overall deadline
    /// ([`call_timeout`](Self::call_timeout)).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").timeout(Duration::from_secs(3)).build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the timeout for establishing a connection (TCP and TLS). Default 5 s.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").connect_timeout(Duration::from_secs(1)).build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the overall deadline of one call: every attempt, every back-off and every
    /// `Retry-After` wait together. Default 30 s ([`DEFAULT_CALL_TIMEOUT`]).
    ///
    /// An attempt gets the smaller of [`timeout`](Self::timeout) and what is left of the
    /// deadline. A wait (back-off or `Retry-After`) that would reach the deadline is not
    /// started: the call returns the last error at once. When the deadline runs out during an
    /// attempt, the call fails with [`Error::Timeout`]. So a call never takes longer than this,
    /// whatever the service answers.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").call_timeout(Duration::from_secs(5)).build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn call_timeout(mut self, deadline: Duration) -> Self {
        self.call_timeout = deadline;
        self
    }

    /// Caps the size of a response body, error bodies included. Default 1 MiB
    /// ([`DEFAULT_MAX_RESPONSE_BYTES`]).
    ///
    /// A `Content-Length` above the cap is refused before the body is read; a body without
    /// one (chunked) is read chunk by chunk and abandoned as soon as it passes the cap. Either
    /// way the call fails with [`Error::ResponseTooLarge`], is not retried, and never holds more
    /// than the cap (plus one chunk of the HTTP stack) in memory.
    ///
    /// ```no_run
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").max_response_bytes(256 * 1024).build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Sets the retry policy. Default [`RetryPolicy::default()`]; [`RetryPolicy::none()`]
    /// disables retries. See [`crate::retry`] for what is retried.
    ///
    /// ```no_run
    /// # use authsignal_sdk::{Client, RetryPolicy};
    /// let client = Client::builder("secret")
    ///     .retry_policy(RetryPolicy::default().with_max_retries(4))
    ///     .build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Trusts one more root certificate (PEM; a bundle of several is accepted), e.g. the
    /// development CA of a local emulator. The public roots stay trusted; certificate and
    /// host name checks are never disabled. Parsed by [`build`](Self::build).
    ///
    /// ```no_run
    /// # use authsignal_sdk::Client;
    /// let ca = std::fs::read("certs/ca.pem").expect("dev CA");
    /// let client = Client::builder("dev-emulator-secret-key")
    ///     .base_url("https://localhost:5003/v1")
    ///     .add_root_certificate_pem(ca)
    ///     .build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Sets the `User-Agent` header. Default `authsignal-rust/<version>`.
    ///
    /// ```no_run
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").user_agent("my-service/1.2").build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// Fails with [`Error::Configuration`] on an empty secret, a base URL that is not an
    /// absolute `http(s)` URL without query or fragment, a root certificate that is not PEM,
    /// a zero timeout, deadline or body cap, or an invalid user agent.
    ///
    /// ```no_run
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn build(self) -> Result<Client, Error> {
        if self.secret.0.is_empty() {
            return Err(Error::Configuration("secret key must not be empty".into()));
        }
        let base_url = parse_base_url(&self.base_url)?;
        if self.timeout.is_zero() || self.connect_timeout.is_zero() || self.call_timeout.is_zero() {
            return Err(Error::Configuration(
                "timeouts must be greater than zero".into(),
            ));
        }
        if self.max_response_bytes == 0 {
            return Err(Error::Configuration(
                "the response body cap must be greater than zero".into(),
            ));
        }

        let credentials = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:", self.secret.0),
        );
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| Error::Configuration("secret key cannot be sent in a header".into()))?;
        // Keeps the value out of reqwest's and hyper's debug output.
        authorization.set_sensitive(true);

        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            Error::Configuration(format!("invalid user agent \"{}\"", self.user_agent))
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));

        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(user_agent)
            .default_headers(headers)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // The API never redirects; following one would resend the secret (same host) or turn
            // a POST into a GET. A 3xx is reported as an API error instead.
            .redirect(reqwest::redirect::Policy::none());
        for pem in &self.root_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Configuration(format!("invalid root certificate: {e}")))?;
            if certificates.is_empty() {
                return Err(Error::Configuration(
                    "root certificate contains no PEM certificate".into(),
                ));
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::Configuration(format!("cannot build the http client: {e}")))?;

        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                authorization,
                timeout: self.timeout,
                call_timeout: self.call_timeout,
                max_response_bytes: self.max_response_bytes,
                retry: self.retry,
            }),
        })
    }
}

/// Checks a base URL and returns it without a trailing `/`.
fn parse_base_url(raw: &str) -> Result<String, Error> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::Configuration(format!("invalid base url \"{raw}\": {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Configuration(format!(
            "base url \"{raw}\" must use http or https"
        )));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(Error::Configuration(format!(
            "base url \"{raw}\" has no host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Configuration(format!(
            "base url \"{raw}\" must not have a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Configuration(format!(
            "base url \"{raw}\" must not contain credentials"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A cheap-to-clone async client for the Authsignal Server API.
///
/// Clones share one connection pool. Build it once at start-up with [`Client::builder`].
/// Every method returns [`Error`] on failure; see its docs for the variants.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    authorization: HeaderValue,
    /// Per-attempt timeout (also set on `http`; repeated per request to cut it to the deadline).
    timeout: Duration,
    call_timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("secret_key", &"[redacted]")
            .field("call_timeout", &self.inner.call_timeout)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// One segment of an endpoint path.
enum Seg<'a> {
    /// A fixed part of the path.
    Lit(&'static str),
    /// A caller-supplied value (named for error messages), percent-encoded.
    Var(&'static str, &'a str),
}

/// A prepared request: everything the attempt loop needs to repeat it.
struct Prepared {
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    /// Whether the retry policy may repeat it (safe method or idempotency key).
    repeatable: bool,
}

/// A successful response: status and body bytes.
struct Success {
    status: u16,
    body: Vec<u8>,
}

impl Client {
    /// Starts configuring a client for the tenant's Server API secret key.
    ///
    /// ```no_run
    /// use authsignal_sdk::{Client, Region};
    ///
    /// let client = Client::builder(std::env::var("AUTHSIGNAL_SECRET").expect("secret"))
    ///     .region(Region::Us)
    ///     .build()?;
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn builder(secret: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            secret: SecretKey(secret.into()),
            base_url: Region::Us.base_url().to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            root_certificates: Vec::new(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }

    /// The base URL in use (without a trailing `/`).
    ///
    /// ```no_run
    /// # use authsignal_sdk::Client;
    /// let client = Client::builder("secret").build()?;
    /// assert_eq!(client.base_url(), "https://api.authsignal.com/v1");
    /// # Ok::<(), authsignal_sdk::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    // -- actions -------------------------------------------------------------------------------

    /// Tracks an action (`POST /users/{userId}/actions/{action}`) and returns the rules' decision:
    /// `ALLOW`, `BLOCK`, `CHALLENGE_REQUIRED` (send the user to `url`) or `REVIEW_REQUIRED`.
    ///
    /// Retried only when `attributes.idempotency_key` is set.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{TrackAttributes, UserActionState};
    ///
    /// let response = client
    ///     .track("user-123", "signIn", &TrackAttributes {
    ///         redirect_url: Some("https://app.example.com/mfa/callback".into()),
    ///         username: Some("alice".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// if response.state == UserActionState::ChallengeRequired || !response.is_enrolled {
    ///     println!("redirect to {}", response.url);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn track(
        &self,
        user_id: &str,
        action: &str,
        attributes: &TrackAttributes,
    ) -> Result<TrackResponse, Error> {
        let url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("actions"),
            Seg::Var("action", action),
        ])?;
        let repeatable = attributes.idempotency_key.is_some();
        self.call(Method::POST, url, Some(attributes), repeatable)
            .await
    }

    /// Validates the token the pre-built UI or a client SDK returned (`POST /validate`).
    ///
    /// Proceed only if `is_valid` is true **and** the state is `CHALLENGE_SUCCEEDED`, and the
    /// user and action are the ones you tracked. Not retried (a `POST` without idempotency key).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client, token: String) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{UserActionState, ValidateChallengeRequest};
    ///
    /// let result = client
    ///     .validate_challenge(&ValidateChallengeRequest {
    ///         token,
    ///         user_id: Some("user-123".into()),
    ///         action: Some("signIn".into()),
    ///     })
    ///     .await?;
    /// let ok = result.is_valid && result.state == Some(UserActionState::ChallengeSucceeded);
    /// # Ok(()) }
    /// ```
    pub async fn validate_challenge(
        &self,
        request: &ValidateChallengeRequest,
    ) -> Result<ValidateChallengeResponse, Error> {
        let url = self.url(&[Seg::Lit("validate")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Reads one action instance (`GET /users/{userId}/actions/{action}/{idempotencyKey}`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// let action = client.get_action("user-123", "signIn", "3f1c…").await?;
    /// println!("{}", action.state);
    /// # Ok(()) }
    /// ```
    pub async fn get_action(
        &self,
        user_id: &str,
        action: &str,
        idempotency_key: &str,
    ) -> Result<GetActionResponse, Error> {
        let url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("actions"),
            Seg::Var("action", action),
            Seg::Var("idempotency key", idempotency_key),
        ])?;
        self.call(Method::GET, url, None::<&()>, true).await
    }

    /// Sets an action's state, e.g. after a manual review
    /// (`PATCH /users/{userId}/actions/{action}/{idempotencyKey}`). Retryable: it names the
    /// instance by its idempotency key and sets an absolute state.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{UpdateActionRequest, UserActionState};
    ///
    /// let updated = client
    ///     .update_action("user-123", "signIn", "3f1c…", &UpdateActionRequest {
    ///         state: UserActionState::ReviewSucceeded,
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_action(
        &self,
        user_id: &str,
        action: &str,
        idempotency_key: &str,
        request: &UpdateActionRequest,
    ) -> Result<UpdateActionResponse, Error> {
        let url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("actions"),
            Seg::Var("action", action),
            Seg::Var("idempotency key", idempotency_key),
        ])?;
        self.call(Method::PATCH, url, Some(request), true).await
    }

    /// Lists a user's recent actions (`GET /users/{userId}/actions?fromDate=&codes=&state=`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{QueryUserActionsRequest, UserActionState};
    ///
    /// let actions = client
    ///     .query_user_actions("user-123", &QueryUserActionsRequest {
    ///         action_codes: Some(vec!["signIn".into()]),
    ///         state: Some(UserActionState::ChallengeSucceeded),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn query_user_actions(
        &self,
        user_id: &str,
        query: &QueryUserActionsRequest,
    ) -> Result<Vec<UserAction>, Error> {
        let mut url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("actions"),
        ])?;
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(from_date) = &query.from_date {
                pairs.append_pair("fromDate", from_date);
            }
            if let Some(codes) = &query.action_codes {
                pairs.append_pair("codes", &codes.join(","));
            }
            if let Some(state) = &query.state {
                pairs.append_pair("state", state.as_str());
            }
        }
        strip_empty_query(&mut url);
        self.call(Method::GET, url, None::<&()>, true).await
    }

    // -- users ---------------------------------------------------------------------------------

    /// Reads a user (`GET /users/{userId}`). An unknown user is not an error: it comes back
    /// with `is_enrolled: false`.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// let user = client.get_user("user-123").await?;
    /// if !user.is_enrolled { /* offer enrollment */ }
    /// # Ok(()) }
    /// ```
    pub async fn get_user(&self, user_id: &str) -> Result<GetUserResponse, Error> {
        let url = self.url(&[Seg::Lit("users"), Seg::Var("user id", user_id)])?;
        self.call(Method::GET, url, None::<&()>, true).await
    }

    /// Updates a user's attributes (`PATCH /users/{userId}`); omitted fields are unchanged.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::UpdateUserRequest;
    ///
    /// let user = client
    ///     .update_user("user-123", &UpdateUserRequest {
    ///         email: Some("alice@example.com".into()),
    ///         email_verified: Some(true),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_user(
        &self,
        user_id: &str,
        attributes: &UpdateUserRequest,
    ) -> Result<UpdateUserResponse, Error> {
        let url = self.url(&[Seg::Lit("users"), Seg::Var("user id", user_id)])?;
        self.call(Method::PATCH, url, Some(attributes), false).await
    }

    /// Deletes a user and their authenticators (`DELETE /users/{userId}`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// client.delete_user("user-123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_user(&self, user_id: &str) -> Result<(), Error> {
        let url = self.url(&[Seg::Lit("users"), Seg::Var("user id", user_id)])?;
        self.call_unit(Method::DELETE, url, None::<&()>, false)
            .await
    }

    /// Finds users by username, email, phone number or token, one page at a time
    /// (`GET /users?…`). Pass `last_evaluated_user_id` back to read the next page.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::QueryUsersRequest;
    ///
    /// let page = client
    ///     .query_users(&QueryUsersRequest {
    ///         email: Some("alice@example.com".into()),
    ///         limit: Some(10),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn query_users(
        &self,
        query: &QueryUsersRequest,
    ) -> Result<QueryUsersResponse, Error> {
        let mut url = self.url(&[Seg::Lit("users")])?;
        {
            let mut pairs = url.query_pairs_mut();
            let fields = [
                ("username", query.username.as_deref()),
                ("email", query.email.as_deref()),
                ("phoneNumber", query.phone_number.as_deref()),
                ("token", query.token.as_deref()),
                (
                    "lastEvaluatedUserId",
                    query.last_evaluated_user_id.as_deref(),
                ),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    pairs.append_pair(name, value);
                }
            }
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        strip_empty_query(&mut url);
        self.call(Method::GET, url, None::<&()>, true).await
    }

    // -- authenticators ------------------------------------------------------------------------

    /// Lists a user's authenticators (`GET /users/{userId}/authenticators`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// for authenticator in client.get_authenticators("user-123").await? {
    ///     println!("{} {}", authenticator.user_authenticator_id, authenticator.verification_method);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_authenticators(&self, user_id: &str) -> Result<Vec<UserAuthenticator>, Error> {
        let url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("authenticators"),
        ])?;
        self.call(Method::GET, url, None::<&()>, true).await
    }

    /// Enrolls an authenticator the caller has already verified, e.g. an email or phone number
    /// (`POST /users/{userId}/authenticators`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{EnrollVerifiedAuthenticatorRequest, VerificationMethod};
    ///
    /// let enrolled = client
    ///     .enroll_verified_authenticator("user-123", &EnrollVerifiedAuthenticatorRequest {
    ///         phone_number: Some("+64270000000".into()),
    ///         ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::Sms)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn enroll_verified_authenticator(
        &self,
        user_id: &str,
        request: &EnrollVerifiedAuthenticatorRequest,
    ) -> Result<EnrollVerifiedAuthenticatorResponse, Error> {
        let url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("authenticators"),
        ])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Imports passkeys in bulk, e.g. when migrating from another provider
    /// (`POST /users/authenticators`, at most 1000 items).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{BatchEnrollAuthenticator, BatchEnrollRequest, VerificationMethod};
    ///
    /// let result = client
    ///     .batch_enroll_verified_authenticators(&BatchEnrollRequest {
    ///         authenticators: vec![BatchEnrollAuthenticator {
    ///             user_id: "user-123".into(),
    ///             verification_method: VerificationMethod::Passkey,
    ///             credential_id: "Y3JlZA".into(),
    ///             credential_public_key: "cHVibGlj".into(),
    ///             name: None,
    ///             transports: Some(vec!["internal".into()]),
    ///             aaguid: None,
    ///         }],
    ///     })
    ///     .await?;
    /// println!("{} of {} imported", result.succeeded, result.total);
    /// # Ok(()) }
    /// ```
    pub async fn batch_enroll_verified_authenticators(
        &self,
        request: &BatchEnrollRequest,
    ) -> Result<BatchEnrollResponse, Error> {
        let url = self.url(&[Seg::Lit("users"), Seg::Lit("authenticators")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Removes an authenticator
    /// (`DELETE /users/{userId}/authenticators/{userAuthenticatorId}`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// client.delete_authenticator("user-123", "7c9e…").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_authenticator(
        &self,
        user_id: &str,
        user_authenticator_id: &str,
    ) -> Result<(), Error> {
        let url = self.url(&[
            Seg::Lit("users"),
            Seg::Var("user id", user_id),
            Seg::Lit("authenticators"),
            Seg::Var("user authenticator id", user_authenticator_id),
        ])?;
        self.call_unit(Method::DELETE, url, None::<&()>, false)
            .await
    }

    // -- server-driven challenges --------------------------------------------------------------

    /// Sends a one-time code by SMS, email or WhatsApp without the pre-built UI
    /// (`POST /challenge`). Retried only when `idempotency_key` is set.
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::{ChallengeRequest, VerificationMethod};
    ///
    /// let challenge = client
    ///     .challenge(&ChallengeRequest {
    ///         verification_method: Some(VerificationMethod::EmailOtp),
    ///         action: Some("signIn".into()),
    ///         email: Some("alice@example.com".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn challenge(&self, request: &ChallengeRequest) -> Result<ChallengeResponse, Error> {
        let url = self.url(&[Seg::Lit("challenge")])?;
        let repeatable = request.idempotency_key.is_some();
        self.call(Method::POST, url, Some(request), repeatable)
            .await
    }

    /// Checks the code the user typed (`POST /verify`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::VerifyRequest;
    ///
    /// let result = client
    ///     .verify(&VerifyRequest { challenge_id: "c-1".into(), verification_code: "123456".into() })
    ///     .await?;
    /// if !result.is_verified { println!("{:?}", result.failure_reason); }
    /// # Ok(()) }
    /// ```
    pub async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, Error> {
        let url = self.url(&[Seg::Lit("verify")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Binds a verified challenge to a user and returns a token for `/validate` or `/sessions`
    /// (`POST /claim`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::ClaimChallengeRequest;
    ///
    /// let claimed = client
    ///     .claim_challenge(&ClaimChallengeRequest {
    ///         challenge_id: "c-1".into(),
    ///         user_id: "user-123".into(),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn claim_challenge(
        &self,
        request: &ClaimChallengeRequest,
    ) -> Result<ClaimChallengeResponse, Error> {
        let url = self.url(&[Seg::Lit("claim")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Reads a pending challenge (`GET /challenges?challengeId=&userId=&action=&verificationMethod=`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::GetChallengeRequest;
    ///
    /// let challenge = client
    ///     .get_challenge(&GetChallengeRequest { challenge_id: Some("c-1".into()), ..Default::default() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_challenge(
        &self,
        query: &GetChallengeRequest,
    ) -> Result<GetChallengeResponse, Error> {
        let mut url = self.url(&[Seg::Lit("challenges")])?;
        {
            let mut pairs = url.query_pairs_mut();
            let fields = [
                ("challengeId", query.challenge_id.as_deref()),
                ("userId", query.user_id.as_deref()),
                ("action", query.action.as_deref()),
                (
                    "verificationMethod",
                    query.verification_method.as_ref().map(|m| m.as_str()),
                ),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    pairs.append_pair(name, value);
                }
            }
        }
        strip_empty_query(&mut url);
        self.call(Method::GET, url, None::<&()>, true).await
    }

    // -- sessions ------------------------------------------------------------------------------

    /// Exchanges a token from a successful challenge for an access and refresh token
    /// (`POST /sessions`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::CreateSessionRequest;
    ///
    /// let tokens = client
    ///     .create_session(&CreateSessionRequest {
    ///         client_id: "my-app".into(),
    ///         token: "eyJ…".into(),
    ///         action: None,
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_session(
        &self,
        request: &CreateSessionRequest,
    ) -> Result<SessionTokens, Error> {
        let url = self.url(&[Seg::Lit("sessions")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Checks an access token and returns its user (`POST /sessions/validate`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::ValidateSessionRequest;
    ///
    /// let session = client
    ///     .validate_session(&ValidateSessionRequest {
    ///         access_token: "eyJ…".into(),
    ///         client_ids: Some(vec!["my-app".into()]),
    ///     })
    ///     .await?;
    /// println!("{}", session.user.user_id);
    /// # Ok(()) }
    /// ```
    pub async fn validate_session(
        &self,
        request: &ValidateSessionRequest,
    ) -> Result<ValidateSessionResponse, Error> {
        let url = self.url(&[Seg::Lit("sessions"), Seg::Lit("validate")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Exchanges a refresh token for new tokens; the old ones are revoked
    /// (`POST /sessions/refresh`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::RefreshSessionRequest;
    ///
    /// let tokens = client
    ///     .refresh_session(&RefreshSessionRequest { refresh_token: "r-1".into() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn refresh_session(
        &self,
        request: &RefreshSessionRequest,
    ) -> Result<SessionTokens, Error> {
        let url = self.url(&[Seg::Lit("sessions"), Seg::Lit("refresh")])?;
        self.call(Method::POST, url, Some(request), false).await
    }

    /// Revokes one access token (`POST /sessions/revoke`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::RevokeSessionRequest;
    ///
    /// client.revoke_session(&RevokeSessionRequest { access_token: "eyJ…".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke_session(&self, request: &RevokeSessionRequest) -> Result<(), Error> {
        let url = self.url(&[Seg::Lit("sessions"), Seg::Lit("revoke")])?;
        self.call_unit(Method::POST, url, Some(request), false)
            .await
    }

    /// Revokes every session of a user (`POST /sessions/user/revoke`).
    ///
    /// ```no_run
    /// # async fn run(client: authsignal_sdk::Client) -> Result<(), authsignal_sdk::Error> {
    /// use authsignal_sdk::RevokeUserSessionsRequest;
    ///
    /// client.revoke_user_sessions(&RevokeUserSessionsRequest { user_id: "user-123".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke_user_sessions(
        &self,
        request: &RevokeUserSessionsRequest,
    ) -> Result<(), Error> {
        let url = self.url(&[Seg::Lit("sessions"), Seg::Lit("user"), Seg::Lit("revoke")])?;
        self.call_unit(Method::POST, url, Some(request), false)
            .await
    }

    // -- transport -----------------------------------------------------------------------------

    /// Joins the base URL and the percent-encoded segments.
    fn url(&self, segments: &[Seg<'_>]) -> Result<Url, Error> {
        let mut raw = String::with_capacity(self.inner.base_url.len() + 64);
        raw.push_str(&self.inner.base_url);
        for segment in segments {
            raw.push('/');
            match segment {
                Seg::Lit(literal) => raw.push_str(literal),
                Seg::Var(name, value) => {
                    // An empty, "." or ".." segment would address a different resource once the
                    // URL is normalised, so refuse it rather than call the wrong endpoint.
                    if value.is_empty() || *value == "." || *value == ".." {
                        return Err(Error::InvalidRequest(format!(
                            "{name} \"{value}\" cannot be used in a url path"
                        )));
                    }
                    raw.extend(utf8_percent_encode(value, PATH_SEGMENT));
                }
            }
        }
        Url::parse(&raw).map_err(|e| Error::Configuration(format!("invalid request url: {e}")))
    }

    async fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
        repeatable: bool,
    ) -> Result<R, Error> {
        let success = self.send(prepare(method, url, body, repeatable)?).await?;
        serde_json::from_slice(&success.body).map_err(|source| Error::Decode {
            status: success.status,
            raw_body: String::from_utf8_lossy(&success.body).into_owned(),
            source,
        })
    }

    /// Like [`call`](Self::call) for endpoints whose response body carries nothing the caller
    /// needs (`{"success": true}` or empty).
    async fn call_unit<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
        repeatable: bool,
    ) -> Result<(), Error> {
        self.send(prepare(method, url, body, repeatable)?).await?;
        Ok(())
    }

    /// The attempt loop of the retry policy, inside the call's overall deadline.
    async fn send(&self, request: Prepared) -> Result<Success, Error> {
        let policy = &self.inner.retry;
        let deadline = Instant::now() + self.inner.call_timeout;
        let mut retry = 0;
        loop {
            // The attempt's own timeout, cut to what is left of the call; the outer `timeout_at`
            // also bounds what the HTTP client's timeout does not see (the capped body loop).
            let budget = deadline.saturating_duration_since(Instant::now());
            let attempt = self.attempt(&request, budget.min(self.inner.timeout));
            let (error, retry_after) = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(success)) => return Ok(success),
                Ok(Err(failure)) => failure,
                Err(_elapsed) => return Err(Error::Timeout),
            };
            if !(request.repeatable && retry < policy.max_retries && error.is_retryable()) {
                return Err(error);
            }
            let Some(delay) = policy.delay(retry, retry_after) else {
                return Err(error);
            };
            // A wait that reaches the deadline leaves no time for the attempt it waits for:
            // answer now with what the service said rather than after a pointless pause.
            let left = deadline.saturating_duration_since(Instant::now());
            if delay >= left {
                tracing::debug!(
                    method = %request.method,
                    path = request.url.path(),
                    delay_ms = delay.as_millis() as u64,
                    left_ms = left.as_millis() as u64,
                    error = %error,
                    "authsignal request not retried: the wait would pass the call's deadline"
                );
                return Err(error);
            }
            tracing::debug!(
                method = %request.method,
                path = request.url.path(),
                retry = retry + 1,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "retrying authsignal request"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    /// One attempt within `timeout`. On failure also returns the `Retry-After` the service
    /// asked for.
    async fn attempt(
        &self,
        request: &Prepared,
        timeout: Duration,
    ) -> Result<Success, (Error, Option<Duration>)> {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .timeout(timeout)
            .header(AUTHORIZATION, self.inner.authorization.clone());
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| (transport_error(e), None))?;
        let status = response.status().as_u16();
        let request_id = REQUEST_ID_HEADERS.iter().find_map(|name| {
            response
                .headers()
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        });
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_capped(&mut response, status, self.inner.max_response_bytes)
            .await
            .map_err(|e| (e, None))?;
        if (200..300).contains(&status) {
            return Ok(Success { status, body });
        }
        // Bodies of proxies and load balancers (HTML 502 pages) are not the API's JSON; the
        // status still says what happened, so keep an empty body rather than fail decoding.
        let parsed = serde_json::from_slice::<ApiErrorBody>(&body).unwrap_or_default();
        Err((
            Error::Api {
                status,
                body: parsed,
                request_id,
            },
            retry_after,
        ))
    }
}

/// Reads the body chunk by chunk, refusing it as soon as it is known to exceed `limit`: by its
/// `Content-Length` before reading anything, else when the bytes read so far pass the cap. The
/// buffer therefore never grows past `limit`.
async fn read_capped(
    response: &mut reqwest::Response,
    status: u16,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::ResponseTooLarge { status, limit };
    let declared = response.content_length();
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // A declared length within the cap is a safe capacity hint; anything else starts small.
    let capacity = declared
        .map_or(8 * 1024, |length| length as usize)
        .min(limit);
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if chunk.len() > limit - body.len() {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn prepare<B: Serialize + ?Sized>(
    method: Method,
    url: Url,
    body: Option<&B>,
    repeatable: bool,
) -> Result<Prepared, Error> {
    let body = body
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|e| Error::InvalidRequest(format!("cannot serialise the request body: {e}")))?;
    Ok(Prepared {
        repeatable: repeatable || method == Method::GET,
        method,
        url,
        body,
    })
}

/// Removes the `?` left by an empty `query_pairs_mut` block.
fn strip_empty_query(url: &mut Url) {
    if url.query() == Some("") {
        url.set_query(None);
    }
}

/// Maps a reqwest error; a query string (it may hold a token filter) is removed from the URL
/// the error carries, since error messages end up in logs.
fn transport_error(mut error: reqwest::Error) -> Error {
    if let Some(url) = error.url_mut() {
        url.set_query(None);
    }
    if error.is_timeout() && !error.is_connect() {
        Error::Timeout
    } else {
        Error::Transport {
            kind: TransportErrorKind::classify(&error),
            source: error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            parse_base_url("https://localhost:5003/v1/").unwrap(),
            "https://localhost:5003/v1"
        );
        assert_eq!(
            parse_base_url("https://api.authsignal.com/v1").unwrap(),
            "https://api.authsignal.com/v1"
        );
        for bad in [
            "ftp://example.com/v1",
            "not a url",
            "https://example.com/v1?x=1",
            "https://example.com/v1#f",
            "https://user:pw@example.com/v1",
            "mailto:someone@example.com",
        ] {
            let error = parse_base_url(bad).unwrap_err();
            assert!(matches!(error, Error::Configuration(_)), "{bad}: {error}");
        }
    }

    #[test]
    fn regions_map_to_the_documented_hosts() {
        assert_eq!(Region::default(), Region::Us);
        assert_eq!(Region::Au.base_url(), "https://au.api.authsignal.com/v1");
        assert_eq!(Region::Eu.base_url(), "https://eu.api.authsignal.com/v1");
        assert_eq!(Region::Ca.base_url(), "https://ca.api.authsignal.com/v1");
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let builder = Client::builder("super-secret-value");
        assert!(!format!("{builder:?}").contains("super-secret-value"));
        let client = builder.build().unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("super-secret-value"));
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn odd_path_segments_are_percent_encoded_as_one_segment() {
        let client = Client::builder("s")
            .base_url("http://localhost:1/v1")
            .build()
            .unwrap();
        let url = client
            .url(&[Seg::Lit("users"), Seg::Var("user id", "a/b c?d#e%é")])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://localhost:1/v1/users/a%2Fb%20c%3Fd%23e%25%C3%A9"
        );
        for bad in ["", ".", ".."] {
            let error = client.url(&[Seg::Var("user id", bad)]).unwrap_err();
            assert!(matches!(error, Error::InvalidRequest(_)));
        }
    }
}
