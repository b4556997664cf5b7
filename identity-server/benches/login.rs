//! Login throughput on this machine, end to end over HTTPS, with the Authsignal emulator
//! in-process (one request at a time, keep-alive connections, one actix worker per server):
//! - `argon2id_verify`: one Argon2id verification at the configured cost (OWASP: m = 19456 KiB,
//!   t = 2, p = 1) — the limit of a password login;
//! - `password_login`: a password-only login of an enrolled user for whom Authsignal answers
//!   `ALLOW`: `GET /connect/authorize` (prompt=login), `GET /Account/Login`, `POST
//!   /Account/Login` (CSRF, lockout, Argon2id, `track`, sign-in, code);
//! - `mfa_login`: the full second-factor login: the above with `CHALLENGE_REQUIRED`, then the
//!   emulator's hosted challenge (start, page, TOTP code) and `GET /Account/Login/Callback`
//!   (`validate`, sign-in, code). Each login uses a fresh TOTP time step, so the users rotate
//!   over a pool (creating users is not timed).
//!
//! Besides criterion's wall-clock times, each login benchmark prints logins per CPU-second of
//! the whole process (client, identity server and emulator together, from `/proc/self/stat`),
//! which is the per-core figure.
//!
//! Run: `cargo bench -p identity-server --bench login`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authsignal_emulator::Outcome;
use criterion::{Criterion, criterion_group, criterion_main};
use identity_server::configuration::Settings;
use identity_server::domain::{NewUser, Secret};
use identity_server::startup::{AppState, Application};
use tokio::sync::Mutex;

const ACTION: &str = "identity-server-login";
const REDIRECT: &str = "https://localhost:5002/signin-oidc";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "bench passphrase 1";

struct Stack {
    idp: String,
    emulator_url: String,
    state: actix_web::web::Data<AppState>,
    emulator: authsignal_emulator::EmulatorHandle,
    sdk: authsignal_sdk::Client,
    browser: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A user with an enrolled authenticator app.
struct MfaUser {
    username: String,
    totp: totp_rs::TOTP,
    last_step: Option<u64>,
}

fn spawn(rt: &tokio::runtime::Runtime) -> Stack {
    rt.block_on(async {
        let tls = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
        let idp_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let idp_origin = format!(
            "https://localhost:{}",
            idp_listener.local_addr().unwrap().port()
        );
        let emulator_settings = authsignal_emulator::configuration::Settings {
            port: 0,
            data_dir: None,
            in_memory: true,
            workers: Some(1),
            disable_signals: true,
            redirect_origins: vec![idp_origin.clone()],
            ..Default::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let emulator =
            authsignal_emulator::Application::build_with(emulator_settings, listener, tls.clone())
                .await
                .unwrap();
        let emulator_url = emulator.base_url();
        let emulator_api = emulator.api_url();
        let handle = emulator.handle();
        tokio::spawn(emulator.run_until_stopped());

        let dir = tempfile::tempdir().unwrap();
        let listener = idp_listener;
        let mut settings = Settings {
            port: 0,
            data_dir: dir.path().to_path_buf(),
            workers: 1,
            disable_signals: true,
            issuer: idp_origin,
            ..Settings::default()
        };
        settings.keys.signing_key_pem = Some(Secret::new(
            identity_server::keys::SigningKey::generate_pem().unwrap(),
        ));
        settings.account.authsignal.api_url = emulator_api.clone();
        // The benchmark logs in thousands of times from one address.
        settings.account.lockout.max_failures_per_ip = 1_000_000;
        let app = Application::build_with(settings, listener, tls.clone())
            .await
            .unwrap();
        let idp = app.base_url();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());

        let ca = reqwest::Certificate::from_pem(tls.ca_pem().as_bytes()).unwrap();
        let browser = reqwest::Client::builder()
            .add_root_certificate(ca)
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let sdk = authsignal_sdk::Client::builder("dev-emulator-secret-key")
            .base_url(&emulator_api)
            .add_root_certificate_pem(tls.ca_pem())
            .build()
            .unwrap();
        Stack {
            idp,
            emulator_url,
            state,
            emulator: handle,
            sdk,
            browser,
            _dir: dir,
        }
    })
}

fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("input present") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

fn location(response: &reqwest::Response) -> String {
    assert!(
        matches!(response.status().as_u16(), 302 | 303),
        "expected a redirect, got {}",
        response.status()
    );
    response.headers()["location"].to_str().unwrap().to_owned()
}

impl Stack {
    /// Creates a user and enrolls an authenticator app for it (not timed).
    async fn new_mfa_user(&self, n: usize) -> MfaUser {
        let users = self.state.users.clone();
        let username = format!("bench{n}");
        let new_user = NewUser {
            username: username.clone(),
            password: Secret::new(PASSWORD),
            name: Some(format!("Bench User {n}")),
            email: Some(format!("bench{n}@example.com")),
        };
        let stored = self
            .state
            .hashing
            .run(move |memory| identity_server::users::hash_new_user(memory, new_user))
            .await
            .unwrap()
            .unwrap();
        let user = users.create(stored).await.unwrap();
        let secret = totp_rs::Secret::generate_secret();
        let encoded = secret.to_encoded().to_string();
        let uri = format!(
            "otpauth://totp/Bench:{username}?secret={encoded}&issuer=Bench&algorithm=SHA1&digits=6&period=30"
        );
        self.sdk
            .enroll_verified_authenticator(
                &user.subject,
                &authsignal_sdk::EnrollVerifiedAuthenticatorRequest {
                    otp_uri: Some(uri),
                    ..authsignal_sdk::EnrollVerifiedAuthenticatorRequest::new(
                        authsignal_sdk::VerificationMethod::AuthenticatorApp,
                    )
                },
            )
            .await
            .unwrap();
        let totp = totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            secret.to_bytes().unwrap(),
            None,
            String::new(),
        );
        MfaUser {
            username,
            totp,
            last_step: None,
        }
    }

    /// Authorize (forcing a login) and post the password; returns the POST's answer.
    async fn password_step(&self, username: &str, password: &str) -> reqwest::Response {
        let authorize = format!(
            "{}/connect/authorize?client_id=web&redirect_uri={REDIRECT}&response_type=code&scope=openid%20profile&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=login",
            self.idp
        );
        let response = self.browser.get(&authorize).send().await.unwrap();
        let login = location(&response);
        let ar = login.split("ar=").nth(1).unwrap().to_owned();
        let page = self
            .browser
            .get(format!("{}{login}", self.idp))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = input_value(&page, "csrf_token");
        self.browser
            .post(format!("{}/Account/Login", self.idp))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("ar", &ar),
                ("username", username),
                ("password", password),
                ("button", "login"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// A password-only login (Authsignal answers ALLOW).
    async fn password_login(&self, username: &str, password: &str) {
        let response = self.password_step(username, password).await;
        assert!(location(&response).starts_with(REDIRECT));
    }

    /// A full login with the hosted TOTP challenge.
    async fn mfa_login(&self, user: &mut MfaUser, step: u64) {
        let response = self.password_step(&user.username, PASSWORD).await;
        let challenge = location(&response);
        assert!(challenge.starts_with(&self.emulator_url));
        let start = self.browser.get(&challenge).send().await.unwrap();
        let flow = format!("{}{}", self.emulator_url, location(&start));
        let page = self
            .browser
            .get(&flow)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = input_value(&page, "csrf");
        let code = user.totp.generate(step * 30);
        let verified = self
            .browser
            .post(format!("{}/verify", self.emulator_url))
            .form(&[("csrf", csrf.as_str()), ("code", &code)])
            .send()
            .await
            .unwrap();
        let callback = location(&verified);
        assert!(callback.starts_with(&self.idp), "challenge passed");
        let done = self.browser.get(&callback).send().await.unwrap();
        assert!(location(&done).starts_with(REDIRECT));
        user.last_step = Some(step);
    }
}

fn now_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

/// CPU time of the whole process (user + system), from `/proc/self/stat` (clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, i.e. 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Logins and CPU time accumulated over a benchmark's timed iterations.
#[derive(Default)]
struct CpuTally {
    logins: u64,
    cpu: Duration,
}

impl CpuTally {
    fn report(&self, name: &str) {
        if self.cpu > Duration::ZERO {
            println!(
                "{name}: {} logins in {:.2} CPU-s of the whole process = {:.1} logins per CPU-second",
                self.logins,
                self.cpu.as_secs_f64(),
                self.logins as f64 / self.cpu.as_secs_f64()
            );
        }
    }
}

fn logins(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stack = Arc::new(spawn(&rt));

    // The same code path as a login: the reused block of a hashing thread.
    let mut memory =
        identity_server::hashing::Memory::new(identity_server::hashing::NewHashParams::OWASP)
            .unwrap();
    let hash = memory.hash(b"alice").unwrap();
    let started = process_cpu();
    let wall = Instant::now();
    let mut n = 0u64;
    c.bench_function("argon2id_verify", |b| {
        b.iter(|| {
            n += 1;
            memory.verify(Some(&hash), b"alice")
        })
    });
    let cpu = process_cpu().saturating_sub(started);
    println!(
        "argon2id_verify: {n} verifications in {:.2} CPU-s ({:.2} s wall) = {:.1} per CPU-second",
        cpu.as_secs_f64(),
        wall.elapsed().as_secs_f64(),
        n as f64 / cpu.as_secs_f64().max(f64::EPSILON)
    );

    // Password-only logins: alice, enrolled, with ALLOW.
    rt.block_on(async {
        let mut alice = stack.new_mfa_user(0).await;
        let step = now_step();
        stack.mfa_login(&mut alice, step).await;
        stack.emulator.set_action_outcome(ACTION, Outcome::Allow);
    });
    let tally = Arc::new(std::sync::Mutex::new(CpuTally::default()));
    c.bench_function("password_login", |b| {
        let (stack, tally) = (stack.clone(), tally.clone());
        b.to_async(&rt).iter_custom(move |iters| {
            let (stack, tally) = (stack.clone(), tally.clone());
            async move {
                let cpu = process_cpu();
                let start = Instant::now();
                for _ in 0..iters {
                    stack.password_login("bench0", PASSWORD).await;
                }
                let elapsed = start.elapsed();
                let mut t = tally.lock().unwrap();
                t.logins += iters;
                t.cpu += process_cpu().saturating_sub(cpu);
                elapsed
            }
        })
    });
    tally.lock().unwrap().report("password_login");

    // Full MFA logins over a pool of enrolled users.
    stack
        .emulator
        .set_action_outcome(ACTION, Outcome::Challenge);
    let pool: Arc<Mutex<(VecDeque<MfaUser>, usize)>> = Arc::new(Mutex::new((VecDeque::new(), 1)));
    let tally = Arc::new(std::sync::Mutex::new(CpuTally::default()));
    let mut group = c.benchmark_group("mfa");
    group.sample_size(10);
    group.bench_function("mfa_login", |b| {
        let (stack, pool, tally) = (stack.clone(), pool.clone(), tally.clone());
        b.to_async(&rt).iter_custom(move |iters| {
            let (stack, pool, tally) = (stack.clone(), pool.clone(), tally.clone());
            async move {
                let mut timed = Duration::ZERO;
                let mut cpu_timed = Duration::ZERO;
                let mut guard = pool.lock().await;
                for _ in 0..iters {
                    // A user whose next step is usable now (the emulator accepts ±1 step and
                    // never the same step twice), else a new one (setup, not timed).
                    let current = now_step();
                    let position = guard
                        .0
                        .iter()
                        .position(|u| u.last_step.is_none_or(|s| s < current + 1));
                    let mut user = match position {
                        Some(i) => guard.0.remove(i).unwrap(),
                        None => {
                            let n = guard.1;
                            guard.1 += 1;
                            stack.new_mfa_user(n).await
                        }
                    };
                    let step = user.last_step.map_or(current, |s| (s + 1).max(current));
                    let cpu = process_cpu();
                    let start = Instant::now();
                    stack.mfa_login(&mut user, step).await;
                    timed += start.elapsed();
                    cpu_timed += process_cpu().saturating_sub(cpu);
                    guard.0.push_back(user);
                }
                let mut t = tally.lock().unwrap();
                t.logins += iters;
                t.cpu += cpu_timed;
                timed
            }
        })
    });
    group.finish();
    tally.lock().unwrap().report("mfa_login");
}

criterion_group!(benches, logins);
criterion_main!(benches);
