//! The server's resident memory under a flood of wrong passwords, measured on the real binary
//! (`CARGO_BIN_EXE_identity-server`, spawned with its own process so that `/proc/<pid>/status`
//! shows the server alone, not the test harness and its other servers).
//!
//! Not timed: the assertions are about memory only.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use crate::helpers::{test_signing_key_pem, test_tls};

/// The identity server binary, killed (by its own pid) when dropped.
struct Spawned {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory now and at its peak (`VmRSS`, `VmHWM`), in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(content.as_bytes()).unwrap();
    path
}

/// Starts the binary on a free port with `permits` hashing permits and the default Argon2
/// parameters, lockout limits out of the way (every guess must reach the hash), and waits
/// until it answers.
async fn spawn_binary(permits: usize, http: &reqwest::Client) -> Spawned {
    let dir = tempfile::tempdir().unwrap();
    let tls = test_tls();
    let cert = write(dir.path(), "cert.pem", tls.cert_chain_pem());
    let key = write(dir.path(), "key.pem", tls.key_pem());
    let ca = write(dir.path(), "ca.pem", tls.ca_pem());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base_url = format!("https://localhost:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_identity-server"))
        .env_clear()
        .env("RUST_LOG", "error")
        .env("IDP__PORT", port.to_string())
        .env("IDP__ISSUER", &base_url)
        .env("IDP__DATA_DIR", dir.path().join("data"))
        .env("IDP__TLS_CERT", cert)
        .env("IDP__TLS_KEY", key)
        .env("IDP__TLS_CA", ca)
        .env("IDP__KEYS__SIGNING_KEY_PEM", test_signing_key_pem())
        .env("IDP__HASHING__PERMITS", permits.to_string())
        // The blocks stay resident: the bound is the worst case, with hashes coming all the
        // time (an idle release after 5 s would make "resident from the start" a race).
        .env("IDP__HASHING__IDLE_RELEASE_SECS", "0")
        .env("IDP__ACCOUNT__LOCKOUT__MAX_FAILURES_PER_USER", "1000000")
        .env("IDP__ACCOUNT__LOCKOUT__MAX_FAILURES_PER_IP", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let spawned = Spawned {
        child,
        base_url,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let discovery = format!("{}/.well-known/openid-configuration", spawned.base_url);
    while !http
        .get(&discovery)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the binary did not answer in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    spawned
}

#[tokio::test]
async fn five_hundred_wrong_passwords_leave_the_servers_memory_within_its_hashing_bound() {
    const PERMITS: usize = 2;
    const BLOCK_KIB: u64 = 19_456;
    // What the server may add under load besides hashing: connections, TLS buffers, the
    // lockout counters, allocator slack. Far below one Argon2 block per login (19 MiB), which is
    // what allocating per hash used to leave behind.
    const SLACK_KIB: u64 = 24 * 1024;
    let ca = reqwest::Certificate::from_pem(test_tls().ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let server = spawn_binary(PERMITS, &http).await;
    let pid = server.child.id();

    // One login page: its `ar`, CSRF cookie and token serve every guess.
    let authorize = format!(
        "{}/connect/authorize?client_id=web&redirect_uri={}&response_type=code&scope=openid&state=s&nonce=n&code_challenge={}&code_challenge_method=S256",
        server.base_url,
        crate::helpers::REDIRECT,
        crate::helpers::CHALLENGE
    );
    let response = http.get(&authorize).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let login = url::Url::parse(&server.base_url)
        .unwrap()
        .join(&location)
        .unwrap();
    let ar = crate::helpers::query_param(login.as_str(), "ar").unwrap();
    let page = http
        .get(format!("{}/Account/Login?ar={ar}", server.base_url))
        .send()
        .await
        .unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let body = page.text().await.unwrap();
    let csrf = super::account::input_value(&body, "csrf_token").unwrap();

    let (before, _) = memory_kib(pid);
    assert!(
        before >= PERMITS as u64 * BLOCK_KIB,
        "the hashing blocks are resident from the start: {before} KiB"
    );
    let url = format!("{}/Account/Login", server.base_url);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut peak_seen = 0;
    let mut guesses = futures_util::stream::iter(0..500)
        .map(|i| {
            let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
            let form = [
                ("csrf_token", csrf.clone()),
                ("ar", ar.clone()),
                // Unknown users and a real one: both verify a hash of the current cost.
                (
                    "username",
                    if i % 2 == 0 {
                        "alice".into()
                    } else {
                        format!("nobody-{i}")
                    },
                ),
                ("password", format!("wrong-{i}")),
                ("button", "login".to_owned()),
            ];
            async move {
                // A busy answer (503, documented: no permit within 2 s on a loaded machine) is
                // retried as a client would, so that all 500 guesses are checked.
                let mut busy = 0;
                loop {
                    let response = http
                        .post(&url)
                        .header("cookie", cookie.as_str())
                        .form(&form)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    if status != 503 || busy == 20 {
                        return (status, busy);
                    }
                    busy += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .buffer_unordered(20);
    let mut busy_answers = 0;
    while let Some((status, busy)) = guesses.next().await {
        *statuses.entry(status).or_default() += 1;
        busy_answers += busy;
        peak_seen = peak_seen.max(memory_kib(pid).0);
    }
    let (after, peak) = memory_kib(pid);

    assert_eq!(
        statuses.get(&200).copied().unwrap_or(0),
        500,
        "every guess was checked and refused: {statuses:?}"
    );
    let bound = before + SLACK_KIB;
    assert!(
        peak <= bound,
        "peak {peak} KiB above {bound} KiB (start {before} KiB + {SLACK_KIB} KiB; hashing: {PERMITS} x {BLOCK_KIB} KiB, resident from the start)"
    );
    assert!(after <= bound, "after {after} KiB above {bound} KiB");
    eprintln!(
        "resident memory: start {before} KiB, peak {peak} KiB (sampled {peak_seen}), after {after} KiB; {busy_answers} busy answers retried"
    );
}
