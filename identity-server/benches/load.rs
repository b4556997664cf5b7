//! Load benchmark: the release identity server under a login flood and at its two limits.
//!
//! Spawns the release binary (`CARGO_BIN_EXE_identity-server`, built with the bench profile) as
//! its own process, so that its resident memory and CPU time (`/proc/<pid>/status`, `stat`)
//! are the server's alone; the Authsignal emulator (answering `ALLOW` for enrolled users) and
//! the HTTPS client run in this process.
//!
//! - (a) flood: 2,000 wrong-password and 2,000 right-password login POSTs, interleaved, 200 in
//!   flight, from 127.0.0.1: answers by status, the 5xx (503 "busy" is the documented answer
//!   past the 2 s permit wait; anything else is a bug), POSTs per second, and resident memory
//!   before, at its peak (`VmHWM`) and after.
//! - (b) password-only logins (authorize, login page, POST with `ALLOW`: three requests, one
//!   Argon2id verification, a session and a code) per CPU-second of the server, next to Argon2id
//!   verifications per CPU-second of one core measured here, with the same code path
//!   (`hashing::Memory`, a reused block). Target: at least 0.9.
//! - (c) `client_credentials` grants per CPU-second of the server, next to RS256 signatures per
//!   CPU-second of one core measured here with the same key. Target: at least 0.8.
//!
//! CPU-second ratios are the per-core figures: the machine is shared (client, emulator and other
//! work compete for the cores), so wall-clock rates are printed too but say less.
//!
//! The clients are the defaults without the web client's back-channel logout URI (see
//! `spawn_server`). The lockout limits are raised for the run (every guess must reach the hash; the flood comes
//! from one address) and so is the per-network cap on pending authorize requests (the right
//! logins' requests are prepared before the flood). Hashing uses the defaults: OWASP
//! parameters, one permit per core.
//!
//! Run: `cargo bench -p identity-server --bench load` (all three), or name phases to run only
//! those: `cargo bench -p identity-server --bench load -- logins grants` (`flood`, `logins`,
//! `grants`), e.g. under `perf record` (the server is a child of the benchmark process).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authsignal_emulator::Outcome;
use futures_util::StreamExt as _;
use identity_server::hashing::{Memory, NewHashParams};
use identity_server::keys::SigningKey;

const ACTION: &str = "identity-server-login";
const REDIRECT: &str = "https://localhost:5002/signin-oidc";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The configured users (subject, username = password).
const USERS: [(&str, &str); 2] = [
    ("a5a0c16c-0027-4011-8e2f-a7e179dc784b", "alice"),
    ("e4f1a0a3-6c9a-4b4e-8a54-0f3f1c2b7d90", "bob"),
];
const FLOOD_EACH: usize = 2_000;
const FLOOD_CONCURRENCY: usize = 200;
const LOGINS: usize = 600;
const GRANTS: usize = 6_000;
const IN_FLIGHT: usize = 16;
/// Clock ticks per second of `/proc/*/stat` (`CLK_TCK`, 100 on Linux).
const TICKS: f64 = 100.0;

/// The server process, killed (by its pid) when dropped.
struct Server {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `RssAnon` of `pid` in KiB: the resident memory that is not file-backed (the binary's code and
/// read-only data are `RssFile`).
fn anon_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU seconds from a `/proc/.../stat` file.
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime: fields 14 and 15 of the line, 11 and 12 after the command name.
    (ticks(11) + ticks(12)) as f64 / TICKS
}

fn server_cpu(pid: u32) -> f64 {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

fn thread_cpu() -> f64 {
    cpu_seconds("/proc/thread-self/stat")
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(content.as_bytes()).unwrap();
    path
}

async fn spawn_server(
    tls: &dev_certs::TlsMaterial,
    signing_pem: &str,
    emulator_api: &str,
    http: &reqwest::Client,
    port: u16,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "cert.pem", tls.cert_chain_pem());
    let key = write(dir.path(), "key.pem", tls.key_pem());
    let ca = write(dir.path(), "ca.pem", tls.ca_pem());
    // The default clients, but the web client without a back-channel logout URI: the bench signs
    // its two users in thousands of times, so past the cap of sessions per account every login
    // would end the oldest session and owe a logout token (an RS256 signature and a delivery
    // to a web client that is not running), which real accounts with a handful of sessions do
    // not pay.
    let config = write(
        dir.path(),
        "identity-server.toml",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/identity-server-compose.toml"
        ))
        .unwrap()
        .replace(
            "backchannel_logout_uri = \"https://identity-server:5002/backchannel-logout\"\n",
            "",
        )
        .replace("backchannel_logout_session_required = true\n", ""),
    );
    assert!(
        !std::fs::read_to_string(&config)
            .unwrap()
            .contains("backchannel_logout"),
        "the bench's clients have no back-channel logout"
    );
    let base_url = format!("https://localhost:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_identity-server"))
        .env_clear()
        // glibc allocator tunables (`MALLOC_ARENA_MAX`, ...) reach the server when set.
        .envs(std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_")))
        .env("RUST_LOG", "error")
        .env("IDP_CONFIG", &config)
        .env("IDP__PORT", port.to_string())
        .env("IDP__ISSUER", &base_url)
        .env("IDP__DATA_DIR", dir.path().join("data"))
        .env("IDP__TLS_CERT", cert)
        .env("IDP__TLS_KEY", key)
        .env("IDP__TLS_CA", ca)
        .env("IDP__KEYS__SIGNING_KEY_PEM", signing_pem)
        .env("IDP__ACCOUNT__AUTHSIGNAL__API_URL", emulator_api)
        .env("IDP__ACCOUNT__LOCKOUT__MAX_FAILURES_PER_USER", "100000000")
        .env("IDP__ACCOUNT__LOCKOUT__MAX_FAILURES_PER_IP", "100000000")
        .env(
            "IDP__LIMITS__MAX_PENDING_AUTHORIZE_REQUESTS_PER_NETWORK",
            "100000",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base_url,
        _dir: dir,
    };
    let discovery = format!("{}/.well-known/openid-configuration", server.base_url);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(&discovery)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the server did not answer in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("input present") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// The CSRF cookie and token of a login page.
struct Csrf {
    cookie: String,
    token: String,
}

/// One browser-less login client: no cookie jar (every login is a new browser), no redirects.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// `GET /connect/authorize` (prompt=login): the `ar` of the login page.
    async fn authorize(&self) -> String {
        let url = format!(
            "{}/connect/authorize?client_id=web&redirect_uri={REDIRECT}&response_type=code&scope=openid%20profile&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=login",
            self.base
        );
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 302, "authorize");
        let location = response.headers()["location"].to_str().unwrap();
        location
            .split("ar=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned()
    }

    /// `GET /Account/Login?ar=`: the CSRF cookie and token.
    async fn login_page(&self, ar: &str) -> Csrf {
        let response = self
            .http
            .get(format!("{}/Account/Login?ar={ar}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login page");
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let token = input_value(&response.text().await.unwrap(), "csrf_token");
        Csrf { cookie, token }
    }

    /// `POST /Account/Login`: the status and where it redirects; a 503 is `None` unless it is
    /// the documented busy answer (no hashing permit within 2 s), then `Some("busy")`.
    async fn post(
        &self,
        csrf: &Csrf,
        ar: &str,
        username: &str,
        password: &str,
    ) -> (u16, Option<String>) {
        let response = self
            .http
            .post(format!("{}/Account/Login", self.base))
            .header("cookie", csrf.cookie.as_str())
            .form(&[
                ("csrf_token", csrf.token.as_str()),
                ("ar", ar),
                ("username", username),
                ("password", password),
                ("button", "login"),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == 503 {
            let body = response.text().await.unwrap_or_default();
            let busy = body.contains("The server is busy. Please try again in a moment.");
            return (status, busy.then(|| "busy".to_owned()));
        }
        (status, location)
    }

    /// A password-only login (Authsignal answers `ALLOW`): authorize, page, POST; a code.
    async fn password_login(&self, username: &str) {
        let ar = self.authorize().await;
        let csrf = self.login_page(&ar).await;
        let (status, location) = self.post(&csrf, &ar, username, username).await;
        assert!(
            status == 303 && location.as_deref().is_some_and(|l| l.starts_with(REDIRECT)),
            "password login: {status} {location:?}"
        );
    }

    async fn client_credentials(&self) {
        let response = self
            .http
            .post(format!("{}/connect/token", self.base))
            .basic_auth("client", Some("secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", "api1")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "client_credentials");
        response.bytes().await.unwrap();
    }
}

/// Runs `job(i)` for `0..n` with `in_flight` at once; returns the wall time, the server's CPU
/// seconds and the outputs.
async fn measure<T, F, Fut>(pid: u32, n: usize, in_flight: usize, job: F) -> (f64, f64, Vec<T>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let cpu = server_cpu(pid);
    let start = Instant::now();
    let out: Vec<T> = futures_util::stream::iter(0..n)
        .map(job)
        .buffer_unordered(in_flight)
        .collect()
        .await;
    (start.elapsed().as_secs_f64(), server_cpu(pid) - cpu, out)
}

/// `f` repeated for at least `for_at_least` of this thread's CPU: operations per CPU-second.
fn per_cpu_second(for_at_least: Duration, mut f: impl FnMut()) -> (f64, u64) {
    let start = thread_cpu();
    let mut n = 0u64;
    while thread_cpu() - start < for_at_least.as_secs_f64() {
        for _ in 0..10 {
            f();
        }
        n += 10;
    }
    (n as f64 / (thread_cpu() - start), n)
}

fn main() {
    // `cargo bench` passes `--bench`; other words name the phases to run.
    let phases: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |phase: &str| phases.is_empty() || phases.iter().any(|p| p == phase);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .unwrap();
    let tls = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
    let signing_pem = SigningKey::generate_pem().unwrap();
    let ca = reqwest::Certificate::from_pem(tls.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    rt.block_on(async {
        // The server's port first: the emulator redirects only to its origin.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The emulator, in this process.
        let emulator_settings = authsignal_emulator::configuration::Settings {
            port: 0,
            data_dir: None,
            in_memory: true,
            workers: Some(1),
            disable_signals: true,
            redirect_origins: vec![format!("https://localhost:{port}")],
            ..Default::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let emulator =
            authsignal_emulator::Application::build_with(emulator_settings, listener, tls.clone())
                .await
                .unwrap();
        let emulator_api = emulator.api_url();
        let handle = emulator.handle();
        tokio::spawn(emulator.run_until_stopped());
        let sdk = authsignal_sdk::Client::builder("dev-emulator-secret-key")
            .base_url(&emulator_api)
            .add_root_certificate_pem(tls.ca_pem())
            .build()
            .unwrap();
        for (subject, username) in USERS {
            let secret = totp_rs::Secret::generate_secret().to_encoded().to_string();
            let uri = format!(
                "otpauth://totp/Bench:{username}?secret={secret}&issuer=Bench&algorithm=SHA1&digits=6&period=30"
            );
            sdk.enroll_verified_authenticator(
                subject,
                &authsignal_sdk::EnrollVerifiedAuthenticatorRequest {
                    otp_uri: Some(uri),
                    ..authsignal_sdk::EnrollVerifiedAuthenticatorRequest::new(
                        authsignal_sdk::VerificationMethod::AuthenticatorApp,
                    )
                },
            )
            .await
            .unwrap();
        }
        handle.set_action_outcome(ACTION, Outcome::Allow);

        let server = spawn_server(&tls, &signing_pem, &emulator_api, &http, port).await;
        let pid = server.pid();
        let client = Client {
            http: http.clone(),
            base: server.base_url.clone(),
        };
        let (idle, _) = memory_kib(pid);
        println!(
            "load benchmark: release identity server (pid {pid}), {cores} cores, hashing {} permits x {} KiB (defaults), idle RSS {}",
            cores,
            NewHashParams::OWASP.memory_kib,
            mb(idle)
        );
        // Warm-up: both users once, and the client secret's first (Argon2) verification.
        for (_, user) in USERS {
            client.password_login(user).await;
        }
        client.client_credentials().await;

        if run("flood") {
            for round in 1..=2 {
                flood(&client, pid, round).await;
            }
        }
        if run("logins") {
            logins(&client, pid).await;
        }
        if run("grants") {
            grants(&client, pid, &signing_pem).await;
        }
        let (end, end_peak) = memory_kib(pid);
        println!(
            "server RSS at the end: {} (peak over the whole run {})",
            mb(end),
            mb(end_peak)
        );
        drop(server);
    });
}

/// (a) The flood, `round` of two: the second shows whether memory keeps growing.
async fn flood(client: &Client, pid: u32, round: usize) {
    // One pending authorize request per right login (each consumes its own), and one more
    // that every wrong guess reuses.
    let mut ars = Vec::with_capacity(FLOOD_EACH + 1);
    for _ in 0..=FLOOD_EACH {
        ars.push(client.authorize().await);
    }
    let csrf = Arc::new(client.login_page(&ars[FLOOD_EACH]).await);
    let ars = Arc::new(ars);
    let (before, _) = memory_kib(pid);
    let anon_before = anon_kib(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampled_peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let (sampling, sampled_peak) = (sampling.clone(), sampled_peak.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                sampled_peak.fetch_max(memory_kib(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (wall, cpu, answers) = measure(pid, 2 * FLOOD_EACH, FLOOD_CONCURRENCY, |i| {
        let (client, csrf, ars) = (client.clone(), csrf.clone(), ars.clone());
        async move {
            let right = i % 2 == 1;
            let (_, user) = USERS[(i / 2) % 2];
            let (status, location) = if right {
                client.post(&csrf, &ars[i / 2], user, user).await
            } else {
                // Wrong passwords at a real account and at unknown ones.
                let name = if i % 4 == 0 {
                    user.to_owned()
                } else {
                    format!("nobody-{i}")
                };
                client
                    .post(&csrf, &ars[FLOOD_EACH], &name, "wrong password")
                    .await
            };
            let busy = status == 503 && location.as_deref() == Some("busy");
            let ok = if right {
                status == 303 && location.is_some_and(|l| l.starts_with(REDIRECT))
            } else {
                status == 200
            };
            (right, status, ok, busy)
        }
    })
    .await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let (just_after, peak) = memory_kib(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after_2s, _) = memory_kib(pid);
    // Past the server's keep-alive (5 s): the flood's 200 connections are closed.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (after_8s, _) = memory_kib(pid);
    let anon_after = anon_kib(pid);
    let mut by_status: BTreeMap<(bool, u16), usize> = BTreeMap::new();
    for (right, status, _, _) in &answers {
        *by_status.entry((*right, *status)).or_default() += 1;
    }
    let wrong_ok = answers.iter().filter(|a| !a.0 && a.2).count();
    let right_ok = answers.iter().filter(|a| a.0 && a.2).count();
    let busy = answers.iter().filter(|a| a.3).count();
    let other_5xx = answers.iter().filter(|a| a.1 >= 500 && !a.3).count();
    println!();
    println!(
        "(a) flood, round {round}: {} login POSTs ({FLOOD_EACH} wrong, {FLOOD_EACH} right, interleaved), {FLOOD_CONCURRENCY} in flight, one address",
        2 * FLOOD_EACH
    );
    println!("    answers (right?, status): {by_status:?}");
    println!(
        "    wrong refused 200: {wrong_ok}/{FLOOD_EACH}; right signed in 303: {right_ok}/{FLOOD_EACH}; 503 busy (documented): {busy}; other 5xx: {other_5xx}"
    );
    println!(
        "    {:.1} POSTs/s wall ({wall:.1} s), {:.2} ms server CPU per POST",
        (2 * FLOOD_EACH) as f64 / wall,
        cpu * 1000.0 / (2 * FLOOD_EACH) as f64
    );
    println!(
        "    RSS before {}, peak {} (VmHWM; sampled {}), right after {}, 2 s later {}, 8 s later {}",
        mb(before),
        mb(peak),
        mb(sampled_peak.load(Ordering::Relaxed)),
        mb(just_after),
        mb(after_2s),
        mb(after_8s)
    );
    println!(
        "    of which anonymous (RssAnon; the rest is the binary's code): before {}, 8 s later {}",
        mb(anon_before),
        mb(anon_after)
    );
}

/// (b) Password-only logins against one Argon2id verification.
async fn logins(client: &Client, pid: u32) {
    let (logins_wall, logins_cpu, _) = measure(pid, LOGINS, IN_FLIGHT, |i| {
        let client = client.clone();
        async move { client.password_login(USERS[i % 2].1).await }
    })
    .await;
    let mut memory = Memory::new(NewHashParams::OWASP).unwrap();
    let hash = memory.hash(b"alice").unwrap();
    let (argon2_per_cpu_s, argon2_n) = per_cpu_second(Duration::from_secs(3), || {
        assert!(memory.verify(Some(&hash), b"alice"));
    });
    // The same on every core at once, as the server's hashing threads run under load: the
    // cores share caches and memory bandwidth, so a hash can cost more CPU than alone.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parallel: Vec<(f64, u64)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                let hash = hash.clone();
                scope.spawn(move || {
                    let mut memory = Memory::new(NewHashParams::OWASP).unwrap();
                    per_cpu_second(Duration::from_secs(3), || {
                        assert!(memory.verify(Some(&hash), b"alice"));
                    })
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let parallel_n: u64 = parallel.iter().map(|p| p.1).sum();
    let parallel_per_cpu_s = parallel.iter().map(|p| p.0).sum::<f64>() / cores as f64;

    let logins_per_cpu_s = LOGINS as f64 / logins_cpu;
    println!();
    println!("| (b) figure | measured | per CPU-second (one core) | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| Argon2id verification (m=19456 t=2 p=1, reused block) | {argon2_n} in this process | {argon2_per_cpu_s:.1} | | |"
    );
    println!(
        "| password-only login (authorize + page + POST, ALLOW), {IN_FLIGHT} in flight | {LOGINS} in {logins_wall:.1} s = {:.1}/s wall, {:.2} ms server CPU each | {logins_per_cpu_s:.1} | {:.2} | >= 0.9 |",
        LOGINS as f64 / logins_wall,
        logins_cpu * 1000.0 / LOGINS as f64,
        logins_per_cpu_s / argon2_per_cpu_s
    );
    println!(
        "| Argon2id verification on all {cores} cores at once | {parallel_n} in this process | {parallel_per_cpu_s:.1} | login / this: {:.2} | |",
        logins_per_cpu_s / parallel_per_cpu_s
    );
}

/// (c) client_credentials grants against one RS256 signature.
async fn grants(client: &Client, pid: u32, signing_pem: &str) {
    let (grants_wall, grants_cpu, _) = measure(pid, GRANTS, IN_FLIGHT, |_| {
        let client = client.clone();
        async move { client.client_credentials().await }
    })
    .await;
    let key = SigningKey::from_pem(signing_pem).unwrap();
    // About the size of an access token's signing input.
    let message = [b'x'; 420];
    let (sign_per_cpu_s, sign_n) = per_cpu_second(Duration::from_secs(3), || {
        key.sign_rs256(&message).unwrap();
    });

    let grants_per_cpu_s = GRANTS as f64 / grants_cpu;
    println!();
    println!("| (c) figure | measured | per CPU-second (one core) | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| RS256 signature (ring, 2048-bit) | {sign_n} in this process | {sign_per_cpu_s:.0} | | |"
    );
    println!(
        "| client_credentials grant, {IN_FLIGHT} in flight | {GRANTS} in {grants_wall:.1} s = {:.0}/s wall, {:.3} ms server CPU each | {grants_per_cpu_s:.0} | {:.2} | >= 0.8 |",
        GRANTS as f64 / grants_wall,
        grants_cpu * 1000.0 / GRANTS as f64,
        grants_per_cpu_s / sign_per_cpu_s
    );
}
