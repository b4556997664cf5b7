//! Shared test set-up: a mock server with a catch-all, clients pointed at it, and raw TCP
//! servers for what wiremock cannot do (an endless body, a reset, a connection closed early).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
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

/// The error and its whole source chain, one `Display` per link, joined by `: ` (what a log line
/// that prints the chain shows).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(source) = next {
        parts.push(source.to_string());
        next = source.source();
    }
    parts.join(": ")
}

/// A plain-HTTP client for a raw server on `port` (no retries unless the test sets them).
pub fn raw_builder(port: u16) -> ClientBuilder {
    init_tracing();
    Client::builder(SECRET)
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry_policy(RetryPolicy::none())
}

/// A port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

/// Reads from `stream` until the end of the request headers (or the peer stops sending).
pub fn read_request_head(stream: &mut TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
}

/// A one-connection raw TCP server on a std thread: `answer` gets the accepted stream and does
/// whatever the test needs (read the request, answer, misbehave). The thread's result (e.g. bytes written) comes back on the
/// returned channel when `answer` returns.
pub fn raw_server<T: Send + 'static>(
    answer: impl FnOnce(&mut TcpStream) -> T + Send + 'static,
) -> (u16, mpsc::Receiver<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        // A client that stopped reading must not park the thread forever.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let _ = done.send(answer(&mut stream));
    });
    (port, result)
}

/// A server answering 200 with a chunked JSON body that never ends: it writes 64 KiB chunks
/// until the client goes away, or `give_up_after` bytes. The channel receives the bytes written.
pub fn endless_chunked_server(give_up_after: u64) -> (u16, mpsc::Receiver<u64>) {
    raw_server(move |stream| {
        read_request_head(stream);
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).is_err() {
            return 0;
        }
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        let mut written = 0u64;
        while written < give_up_after {
            if stream.write_all(chunk.as_bytes()).is_err() {
                break;
            }
            written += 0x10000;
        }
        written
    })
}

/// A server answering with `status_line` and then `body`, sent as one chunk of chunked transfer encoding (no `Content-Length`).
pub fn chunked_server(status_line: &'static str, body: Vec<u8>) -> u16 {
    raw_server(move |stream| {
        read_request_head(stream);
        let mut answer = format!(
            "{status_line}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        answer.extend_from_slice(b"\r\n0\r\n\r\n");
        let _ = stream.write_all(&answer);
        let _ = stream.flush();
    })
    .0
}
