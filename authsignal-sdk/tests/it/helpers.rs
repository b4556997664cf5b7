//! Shared test set-up: a mock server with a catch-all, and clients pointed at it.

use std::time::Duration;

use authsignal_sdk::{Client, ClientBuilder, RetryPolicy};
use wiremock::matchers::{any, header};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// The secret key every test client uses.
pub const SECRET: &str = "test-secret";
/// `Basic base64("test-secret:")`: the secret as username, an empty password.
pub const AUTHORIZATION: &str = "Basic dGVzdC1zZWNyZXQ6";

/// Starts a mock server whose unmatched requests get a 500 "route not mocked".
pub async fn server() -> MockServer {
    init_tracing();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_string("route not mocked"))
        .with_priority(u8::MAX)
        .named("catch-all")
        .mount(&server)
        .await;
    server
}

/// A builder pointed at `server` under `/v1`, with fast retries (so tests stay quick).
pub fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder(SECRET)
        .base_url(format!("{}/v1", server.uri()))
        .retry_policy(fast_retries())
}

/// A client pointed at `server` under `/v1`.
pub fn client(server: &MockServer) -> Client {
    builder(server).build().expect("test client builds")
}

/// The default number of retries with millisecond back-off.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20))
}

/// A mock for `method` + `path` (under `/v1`) that also requires the Basic auth header.
pub fn api(method: &str, path: &str) -> MockBuilder {
    Mock::given(wiremock::matchers::method(method))
        .and(wiremock::matchers::path(format!("/v1{path}")))
        .and(header("authorization", AUTHORIZATION))
}

/// A mock that additionally requires a JSON content type.
pub fn api_json(method: &str, path: &str) -> MockBuilder {
    api(method, path).and(header("content-type", "application/json"))
}

/// How many requests reached the server (the catch-all included).
pub async fn request_count(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .len()
}

/// Log output only when `TEST_LOG=1`.
fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("authsignal_sdk=debug")
            .with_test_writer()
            .try_init();
    }
}
