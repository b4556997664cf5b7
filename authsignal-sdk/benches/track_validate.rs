//! `track` and `validate_challenge` through the SDK, next to the same HTTP requests made with a
//! bare `reqwest::Client` configured the same way, against a local in-process HTTP/1.1 server
//! (keep-alive, canned JSON). The difference between the two is the SDK's own cost per call:
//! URL building and percent-encoding, JSON serialisation, the retry wrapper and typed decoding.
//! A paired run (printed as `paired/...` before the criterion groups) times a raw call and the
//! same SDK call back to back 20,000 times and reports the median difference, which is robust
//! against a busy machine. `codec_only` measures
//! serialisation + decoding alone, without any I/O.
//!
//! Run: `cargo bench -p authsignal-sdk -- --warm-up-time 1 --measurement-time 5`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use authsignal_sdk::{
    Client, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, RetryPolicy, TrackAttributes, TrackResponse,
    ValidateChallengeRequest, ValidateChallengeResponse,
};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

const SECRET: &str = "bench-secret";
const TRACK_RESPONSE: &str = r#"{"idempotencyKey":"5b9a6f1e-8d0c-4a47-9d4e-3c2f8a1b7e60","state":"CHALLENGE_REQUIRED","url":"https://localhost:5003/prebuilt?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhNWEwYzE2Yy0wMDI3LTQwMTEtOGUyZi1hN2UxNzlkYzc4NGIifQ.sig","token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhNWEwYzE2Yy0wMDI3LTQwMTEtOGUyZi1hN2UxNzlkYzc4NGIifQ.sig","isEnrolled":true,"enrolledVerificationMethods":["AUTHENTICATOR_APP","EMAIL_OTP"],"allowedVerificationMethods":["AUTHENTICATOR_APP","EMAIL_OTP","PASSKEY"],"defaultVerificationMethod":"AUTHENTICATOR_APP","ruleIds":[]}"#;
const VALIDATE_RESPONSE: &str = r#"{"isValid":true,"state":"CHALLENGE_SUCCEEDED","stateUpdatedAt":"2026-11-29T00:00:00.000Z","userId":"a5a0c16c-0027-4011-8e2f-a7e179dc784b","action":"identity-server-login","actionCode":"identity-server-login","idempotencyKey":"5b9a6f1e-8d0c-4a47-9d4e-3c2f8a1b7e60","verificationMethod":"AUTHENTICATOR_APP"}"#;
const USER_ID: &str = "a5a0c16c-0027-4011-8e2f-a7e179dc784b";
const ACTION: &str = "identity-server-login";

/// A minimal keep-alive HTTP/1.1 server on a std thread per connection.
fn spawn_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let header_end = loop {
            if let Some(position) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break position + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
        let content_length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        while buffer.len() < header_end + content_length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let body = if path.ends_with("/validate") {
            VALIDATE_RESPONSE
        } else {
            TRACK_RESPONSE
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
        buffer.drain(..header_end + content_length);
    }
}

/// Prints medians of raw and SDK latency and of the per-round difference (in microseconds).
fn report(name: &str, pairs: &[(Duration, Duration)]) {
    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let raw = median(pairs.iter().map(|p| micros(p.0)).collect());
    let sdk = median(pairs.iter().map(|p| micros(p.1)).collect());
    let difference = median(pairs.iter().map(|p| micros(p.1) - micros(p.0)).collect());
    println!(
        "paired/{name}: {} rounds, median raw {raw:.1} µs, median sdk {sdk:.1} µs, \
         median per-call sdk overhead {difference:.1} µs",
        pairs.len()
    );
}

fn bench(c: &mut Criterion) {
    let port = spawn_server();
    let base = format!("http://127.0.0.1:{port}/v1");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let sdk = Client::builder(SECRET)
        .base_url(&base)
        .retry_policy(RetryPolicy::default())
        .build()
        .expect("client");
    // The same kind of pooled client the SDK builds, used directly.
    let raw = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(DEFAULT_TIMEOUT)
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .build()
        .expect("raw client");
    let authorization = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{SECRET}:")
        )
    );

    let attributes = TrackAttributes {
        redirect_url: Some("https://localhost:5001/account/login/callback?returnUrl=%2F".into()),
        username: Some("alice".into()),
        email: Some("AliceSmith@example.com".into()),
        ip_address: Some("127.0.0.1".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0".into()),
        ..Default::default()
    };
    let validate = ValidateChallengeRequest {
        token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhNWEwYzE2Yy0wMDI3LTQwMTEtOGUyZi1hN2UxNzlkYzc4NGIifQ.sig".into(),
        user_id: Some(USER_ID.into()),
        action: Some(ACTION.into()),
    };
    let track_body = serde_json::to_vec(&attributes).expect("json");
    let validate_body = serde_json::to_vec(&validate).expect("json");
    let track_url = format!("{base}/users/{USER_ID}/actions/{ACTION}");
    let validate_url = format!("{base}/validate");

    // Warm both pools so no benchmark pays for the first connection.
    runtime.block_on(async {
        sdk.track(USER_ID, ACTION, &attributes)
            .await
            .expect("track");
        raw.get(&validate_url).send().await.expect("raw");
    });

    let mut group = c.benchmark_group("track");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sdk", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = sdk
                .track(USER_ID, ACTION, &attributes)
                .await
                .expect("track");
            black_box(response);
        })
    });
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = raw
                .post(&track_url)
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(track_body.clone())
                .send()
                .await
                .expect("send");
            black_box(response.bytes().await.expect("body"));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("validate_challenge");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sdk", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = sdk.validate_challenge(&validate).await.expect("validate");
            black_box(response);
        })
    });
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = raw
                .post(&validate_url)
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(validate_body.clone())
                .send()
                .await
                .expect("send");
            black_box(response.bytes().await.expect("body"));
        })
    });
    group.finish();

    // Paired measurement: each round makes one raw call then the same SDK call; the median of
    // the per-round differences is the SDK's overhead. Pairing cancels the drift of a busy
    // machine that makes the separate groups above hard to compare. Criterion cannot report a
    // difference that may be negative, so this one is computed and printed here.
    runtime.block_on(async {
        const ROUNDS: usize = 20_000;
        let mut track_pairs = Vec::with_capacity(ROUNDS);
        let mut validate_pairs = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let response = raw
                .post(&track_url)
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(track_body.clone())
                .send()
                .await
                .expect("send");
            black_box(response.bytes().await.expect("body"));
            let raw_done = Instant::now();
            black_box(
                sdk.track(USER_ID, ACTION, &attributes)
                    .await
                    .expect("track"),
            );
            track_pairs.push((raw_done - started, raw_done.elapsed()));

            let started = Instant::now();
            let response = raw
                .post(&validate_url)
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(validate_body.clone())
                .send()
                .await
                .expect("send");
            black_box(response.bytes().await.expect("body"));
            let raw_done = Instant::now();
            black_box(sdk.validate_challenge(&validate).await.expect("validate"));
            validate_pairs.push((raw_done - started, raw_done.elapsed()));
        }
        report("track", &track_pairs);
        report("validate_challenge", &validate_pairs);
    });

    // The SDK's CPU work alone: serialise the request, decode the typed response.
    let mut group = c.benchmark_group("codec_only");
    group.throughput(Throughput::Elements(1));
    group.bench_function("track", |b| {
        b.iter(|| {
            let body = serde_json::to_vec(black_box(&attributes)).expect("json");
            let response: TrackResponse =
                serde_json::from_slice(black_box(TRACK_RESPONSE.as_bytes())).expect("decode");
            black_box((body, response));
        })
    });
    group.bench_function("validate_challenge", |b| {
        b.iter(|| {
            let body = serde_json::to_vec(black_box(&validate)).expect("json");
            let response: ValidateChallengeResponse =
                serde_json::from_slice(black_box(VALIDATE_RESPONSE.as_bytes())).expect("decode");
            black_box((body, response));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
