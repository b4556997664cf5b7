//! Connection errors keep their cause: refused, reset, closed early, connect timeout and DNS
//! each come back as their [`TransportErrorKind`], in the error's `Display` and with the
//! operating system's words in the source chain. (The untrusted certificate is in `tls.rs`.)

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use authsignal_sdk::*;

use crate::helpers::{chain, closed_port, raw_builder, raw_server, read_request_head};

#[tokio::test]
async fn a_refused_connection_says_refused_in_its_display_and_its_chain() {
    let client = raw_builder(closed_port()).build().unwrap();

    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(error.transport_kind(), Some(TransportErrorKind::Refused));
    assert_eq!(
        error.to_string(),
        "authsignal transport error: connection refused"
    );
    let chain = chain(&error);
    assert!(chain.contains("Connection refused"), "{chain}");
    assert!(error.is_retryable(), "nothing was sent");
}

#[tokio::test]
async fn a_connection_reset_after_the_request_was_sent_says_reset_and_is_not_retried() {
    // Closing a socket with unread data makes the kernel answer with a reset (RST), not FIN.
    let (port, _done) = raw_server(|stream| {
        let mut first = [0u8; 1];
        let _ = stream.read_exact(&mut first);
        std::thread::sleep(Duration::from_millis(100));
    });
    let client = raw_builder(port)
        .retry_policy(RetryPolicy::default().with_initial_backoff(Duration::from_millis(5)))
        .build()
        .unwrap();

    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportErrorKind::Reset),
        "{}",
        chain(&error)
    );
    assert_eq!(
        error.to_string(),
        "authsignal transport error: connection reset or closed early"
    );
    let chain = chain(&error);
    assert!(chain.contains("reset"), "{chain}");
    assert!(
        !error.is_retryable(),
        "the request reached the service, which may have acted on it"
    );
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_says_reset() {
    let (port, _done) = raw_server(|stream| {
        read_request_head(stream);
        // Dropping the stream after reading everything: a clean FIN, no response.
    });
    let client = raw_builder(port).build().unwrap();

    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportErrorKind::Reset),
        "{}",
        chain(&error)
    );
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_is_a_connect_timeout() {
    // The TCP connection is accepted, but the server never answers the TLS ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held = listener.accept();
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });
    let client = Client::builder("s")
        .base_url(format!("https://localhost:{port}/v1"))
        .connect_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportErrorKind::Timeout),
        "{}",
        chain(&error)
    );
    assert_eq!(
        error.to_string(),
        "authsignal transport error: connect timed out"
    );
    assert!(error.is_retryable(), "nothing was sent");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_host_that_does_not_resolve_says_dns() {
    // `.invalid` never resolves (RFC 6761); the connect timeout is long so that a slow
    // resolver still reports the lookup failure rather than a timeout.
    let client = Client::builder("s")
        .base_url("https://authsignal-sdk-test.invalid/v1")
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(30))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportErrorKind::Dns),
        "{}",
        chain(&error)
    );
    assert_eq!(
        error.to_string(),
        "authsignal transport error: dns lookup failed"
    );
    let chain = chain(&error);
    assert!(chain.contains("dns error"), "{chain}");
}

#[test]
fn every_transport_kind_has_a_distinct_phrase() {
    let kinds = [
        TransportErrorKind::Refused,
        TransportErrorKind::Reset,
        TransportErrorKind::Timeout,
        TransportErrorKind::Tls,
        TransportErrorKind::Dns,
        TransportErrorKind::Other,
    ];
    let phrases: std::collections::HashSet<String> =
        kinds.iter().map(ToString::to_string).collect();
    assert_eq!(phrases.len(), kinds.len(), "{phrases:?}");
}
