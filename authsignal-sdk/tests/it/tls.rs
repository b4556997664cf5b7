//! TLS: an extra root certificate makes a private CA trusted; without it the handshake fails
//! with an error of kind [`TransportErrorKind::Tls`] whose source chain names the untrusted
//! issuer.
//!
//! The fixtures are a throw-away test CA and a `localhost`/`127.0.0.1` leaf signed by it
//! (P-256, valid for 100 years), generated with openssl for these tests only. The server is a
//! minimal rustls server on a std thread answering one canned JSON response per connection.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use authsignal_sdk::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const CA_PEM: &str = include_str!("fixtures/ca.pem");
const LEAF_PEM: &str = include_str!("fixtures/localhost.pem");
const LEAF_KEY: &str = include_str!("fixtures/localhost.key");

/// Serves `connections` TLS connections on a fresh port, each answering `{"isEnrolled":true}`.
fn tls_server(connections: usize) -> u16 {
    let certificates = vec![CertificateDer::from_pem_slice(LEAF_PEM.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY.as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            // A failed handshake (the untrusting client) ends here with an error: that is the point.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            if request.is_empty() {
                continue;
            }
            let body = r#"{"isEnrolled":true}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes());
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

#[tokio::test]
async fn a_server_signed_by_an_added_root_certificate_is_trusted() {
    let port = tls_server(1);
    let client = Client::builder("s")
        .base_url(format!("https://localhost:{port}/v1"))
        .add_root_certificate_pem(CA_PEM)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let user = client.get_user("user-1").await.unwrap();
    assert!(user.is_enrolled);
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_is_refused() {
    let port = tls_server(1);
    let client = Client::builder("s")
        .base_url(format!("https://localhost:{port}/v1"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportErrorKind::Tls),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "authsignal transport error: tls handshake failed"
    );
    // The source chain names the cause: the certificate's issuer is not trusted.
    let chain = crate::helpers::chain(&error);
    assert!(chain.contains("UnknownIssuer"), "{chain}");
}

#[test]
fn a_pem_bundle_with_several_certificates_is_accepted() {
    let bundle = format!("{CA_PEM}\n{LEAF_PEM}");
    Client::builder("s")
        .add_root_certificate_pem(bundle)
        .build()
        .unwrap();
}
