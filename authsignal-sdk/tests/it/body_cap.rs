//! The response body cap: refused by `Content-Length` before reading, abandoned at the cap while
//! streaming a chunked body, error bodies included, never retried.

use std::io::Write;
use std::time::{Duration, Instant};

use authsignal_sdk::*;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::{
    api, builder, chunked_server, client, endless_chunked_server, raw_builder, raw_server,
    read_request_head, request_count, server,
};

/// `{"isEnrolled":true,"pad":"…"}` padded to exactly `size` bytes.
fn user_body(size: usize) -> Vec<u8> {
    let empty = br#"{"isEnrolled":true,"pad":""}"#.len();
    let body = format!(
        r#"{{"isEnrolled":true,"pad":"{}"}}"#,
        "x".repeat(size - empty)
    );
    assert_eq!(body.len(), size);
    body.into_bytes()
}

#[tokio::test]
async fn a_body_over_the_default_cap_of_one_mebibyte_is_refused_with_a_typed_error() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            user_body(DEFAULT_MAX_RESPONSE_BYTES + 1),
            "application/json",
        ))
        .mount(&server)
        .await;
    api("GET", "/users/user-2")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(user_body(DEFAULT_MAX_RESPONSE_BYTES), "application/json"),
        )
        .mount(&server)
        .await;

    let client = client(&server);
    let error = client.get_user("user-1").await.unwrap_err();
    match &error {
        Error::ResponseTooLarge { status, limit } => {
            assert_eq!(*status, 200);
            assert_eq!(*limit, 1024 * 1024);
        }
        other => panic!("expected a too-large error, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "authsignal response too large (status 200): more than 1048576 bytes"
    );
    assert!(!error.is_retryable());
    assert_eq!(error.status(), Some(200));
    // Exactly at the cap is still accepted.
    assert!(client.get_user("user-2").await.unwrap().is_enrolled);
}

#[tokio::test]
async fn the_cap_is_configurable_and_exactly_the_cap_is_accepted() {
    let server = server().await;
    api("GET", "/users/at-cap")
        .respond_with(ResponseTemplate::new(200).set_body_raw(user_body(100), "application/json"))
        .mount(&server)
        .await;
    api("GET", "/users/over-cap")
        .respond_with(ResponseTemplate::new(200).set_body_raw(user_body(101), "application/json"))
        .mount(&server)
        .await;

    let client = builder(&server).max_response_bytes(100).build().unwrap();
    assert!(client.get_user("at-cap").await.unwrap().is_enrolled);
    let error = client.get_user("over-cap").await.unwrap_err();
    assert!(
        matches!(error, Error::ResponseTooLarge { limit: 100, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_oversized_error_body_is_refused_and_not_retried() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(503).set_body_raw(vec![b' '; 4096], "text/html"))
        .mount(&server)
        .await;

    let client = builder(&server).max_response_bytes(1024).build().unwrap();
    let error = client.get_user("user-1").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::ResponseTooLarge {
                status: 503,
                limit: 1024
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        request_count(&server).await,
        1,
        "a 503 is retryable for a GET, a too-large body is not"
    );
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_the_body_is_read() {
    // The server announces 10 GiB and then sends nothing: a client that waited for the body
    // would sit until its timeout.
    let (port, _done) = raw_server(|stream| {
        read_request_head(stream);
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10737418240\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.flush();
        std::thread::sleep(Duration::from_secs(15));
    });
    let client = raw_builder(port)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            error,
            Error::ResponseTooLarge {
                status: 200,
                limit: DEFAULT_MAX_RESPONSE_BYTES
            }
        ),
        "{error:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "refused from the header, not after waiting for the body: took {elapsed:?}"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused() {
    let port = chunked_server("HTTP/1.1 200 OK", user_body(2049));
    let client = raw_builder(port).max_response_bytes(2048).build().unwrap();
    let error = client.get_user("user-1").await.unwrap_err();
    assert!(
        matches!(error, Error::ResponseTooLarge { limit: 2048, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_chunked_body_within_the_cap_is_decoded() {
    let port = chunked_server("HTTP/1.1 200 OK", user_body(2048));
    let client = raw_builder(port).max_response_bytes(2048).build().unwrap();
    assert!(client.get_user("user-1").await.unwrap().is_enrolled);
}

#[tokio::test]
async fn an_endless_chunked_body_is_abandoned_at_the_cap_and_memory_stays_bounded() {
    // Without a cap the client reads until its timeout: hundreds of megabytes a second on
    // loopback. The server stops by itself at 256 MiB so that a broken client cannot exhaust
    // the test machine.
    const GIVE_UP: u64 = 256 * 1024 * 1024;
    const CAP: usize = 256 * 1024;
    let (port, written) = endless_chunked_server(GIVE_UP);
    let client = raw_builder(port)
        .max_response_bytes(CAP)
        .timeout(Duration::from_secs(20))
        .call_timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::ResponseTooLarge {
                status: 200,
                limit: CAP
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(client);

    // The client dropped the connection at the cap: the server's writes fail once the kernel's
    // socket buffers (a few MiB on loopback) are full. What it managed to write bounds what
    // the client could have held.
    let written =
        tokio::task::spawn_blocking(move || written.recv_timeout(Duration::from_secs(15)))
            .await
            .unwrap()
            .expect("the server notices the closed connection");
    assert!(
        written < 32 * 1024 * 1024,
        "the server wrote {written} bytes: the client kept reading past its {CAP}-byte cap"
    );
    assert!(written < GIVE_UP);
}

#[tokio::test]
async fn a_json_error_body_within_the_cap_is_still_parsed() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorCode": "invalid_request", "errorDescription": "bad"
        })))
        .mount(&server)
        .await;

    let client = builder(&server).max_response_bytes(128).build().unwrap();
    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(error.error_code(), Some("invalid_request"));
}
