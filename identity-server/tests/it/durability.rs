//! Durable state of the embedded store, against the real binary: SIGKILL in the middle of
//! account creations and refresh rotations loses nothing acknowledged; a corrupt database file
//! and old journal files stop start-up with a message naming the file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use identity_server::configuration::Settings;
use identity_server::oidc::sha256_b64;
use identity_server::startup::Application;
use identity_server::store::embedded::{self, EmbeddedLimits};
use identity_server::store::{Grant, GrantStore, UserStore};

use crate::helpers::{test_settings, test_signing_key_pem, test_tls};

const ALICE: &str = "a5a0c16c-0027-4011-8e2f-a7e179dc784b";

/// The identity-server binary on a free port, on `data_dir`, with certificates in `certs`.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, certs: &Path, log: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_identity-server"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("IDP__PORT", port.to_string())
            .env("IDP__ISSUER", format!("https://localhost:{port}"))
            .env("IDP__DATA_DIR", data_dir)
            .env("IDP__CERTS_DIR", certs)
            .env("IDP__WORKERS", "2")
            .env("IDP__KEYS__SIGNING_KEY_PEM", test_signing_key_pem())
            .env("IDP__TOKENS__REFRESH_REUSE_INTERVAL_SECS", "60")
            .env("IDP__ACCOUNT__CREATION__MAX_PER_IP", "1000000")
            .env("IDP__ACCOUNT__CREATION__MAX_GLOBAL", "1000000")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        Server {
            child,
            base: format!("https://localhost:{port}"),
            log: log.to_owned(),
        }
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http
                .get(format!("{}/.well-known/openid-configuration", self.base))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the server exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

async fn open_db(path: &Path) -> std::sync::Arc<embedded::Embedded> {
    embedded::open_embedded(
        Some(path),
        identity_server::account::AccountSettings::default()
            .lockout
            .policy(),
        EmbeddedLimits::default(),
    )
    .await
    .unwrap()
}

fn client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn seed_grant(refresh: &str) -> Grant {
    Grant {
        id: "seeded-grant".into(),
        client_id: "web".into(),
        subject: ALICE.into(),
        scope: vec!["openid".into(), "profile".into()],
        auth_time: 0,
        amr: vec!["pwd".into(), "mfa".into()],
        sid: "seeded-sid".into(),
        acr: None,
        created: 0,
        expires_at: identity_server::oidc::now() + 86_400,
        refresh_hash: Some(sha256_b64(refresh)),
        previous_hash: None,
        rotated_at: 0,
        revoked: false,
    }
}

/// One account creation; `true` once the server acknowledged it.
async fn create_account(http: &reqwest::Client, base: &str, csrf: &str, name: &str) -> bool {
    let answer = http
        .post(format!("{base}/Account/Create"))
        .form(&[
            ("csrf_token", csrf),
            ("ar", ""),
            ("username", name),
            ("password", "correct horse battery staple"),
            ("name", "Crash Test"),
            ("email", "crash@example.com"),
        ])
        .send()
        .await;
    match answer {
        Ok(r) => {
            let ok = r.status().is_success() || r.status() == 303;
            // Acknowledged only once the whole answer arrived.
            r.bytes().await.is_ok() && ok
        }
        Err(_) => false,
    }
}

/// One refresh; the new refresh token once the server's answer arrived whole.
async fn refresh(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<Option<String>, String> {
    let answer = http
        .post(format!("{base}/connect/token"))
        .basic_auth("web", Some("secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await;
    let Ok(r) = answer else {
        return Ok(None);
    };
    let status = r.status();
    let Ok(body) = r.bytes().await else {
        return Ok(None);
    };
    if status == 200 {
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        return Ok(v["refresh_token"].as_str().map(str::to_owned));
    }
    if status.is_server_error() {
        return Ok(None);
    }
    Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_server_restarts_every_time_and_loses_no_acknowledged_account_or_grant() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let certs = dir.path().join("certs");
    let log = dir.path().join("server.log");
    let tls = dev_certs::TlsMaterial::load_or_generate(&certs).unwrap();
    let mut refresh_token = "seeded-refresh-token-0123456789".to_owned();
    std::fs::create_dir_all(&data).unwrap();
    {
        let db = open_db(&data.join(embedded::FILE_NAME)).await;
        GrantStore::create(&*db, &seed_grant(&refresh_token))
            .await
            .unwrap();
    }
    let mut acknowledged: Vec<String> = Vec::new();
    let mut rotations = 0usize;
    for round in 0..20u64 {
        let http = client(tls.ca_pem());
        let mut server = Server::start(&data, &certs, &log);
        server.wait_ready(&http).await;
        // What was acknowledged before the last kill still works: the refresh token rotates.
        let next = refresh(&http, &server.base, &refresh_token)
            .await
            .unwrap_or_else(|e| {
                panic!("round {round}: the acknowledged refresh token was refused: {e}")
            })
            .unwrap_or_else(|| panic!("round {round}: no answer to the first refresh"));
        refresh_token = next;
        rotations += 1;
        let form = http
            .get(format!("{}/Account/Create", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = crate::account::input_value(&form, "csrf_token").unwrap();
        let base = server.base.clone();
        let work = async {
            let mut n = 0;
            loop {
                let name = format!("crash-{round}-{n}");
                n += 1;
                if create_account(&http, &base, &csrf, &name).await {
                    acknowledged.push(name);
                }
                match refresh(&http, &base, &refresh_token).await {
                    Ok(Some(next)) => {
                        refresh_token = next;
                        rotations += 1;
                    }
                    Ok(None) => {}
                    Err(e) => panic!("round {round}: refresh refused mid-run: {e}"),
                }
            }
        };
        // Kill at a different moment each round, in the middle of the work.
        let _ = tokio::time::timeout(Duration::from_millis(150 + 37 * round), work).await;
        server.kill();
    }
    // Every acknowledged account is in the database.
    let db = open_db(&data.join(embedded::FILE_NAME)).await;
    for name in &acknowledged {
        assert!(
            db.find_by_username(name).await.unwrap().is_some(),
            "acknowledged account '{name}' was lost"
        );
    }
    let grant = db
        .find_by_refresh(&sha256_b64(&refresh_token))
        .await
        .unwrap()
        .expect("the last acknowledged refresh token belongs to the grant");
    assert!(
        !grant.revoked,
        "a crash during a refresh must not revoke the grant"
    );
    assert!(
        acknowledged.len() >= 20 && rotations >= 20,
        "the loop did real work: {} accounts, {rotations} rotations",
        acknowledged.len()
    );
}

fn settings_in(dir: &Path) -> Settings {
    test_settings(dir)
}

async fn start_error(settings: Settings) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    match Application::build_with(settings, listener, test_tls().clone()).await {
        Ok(_) => panic!("start-up succeeded"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_corrupt_database_file_stops_start_up_naming_the_file_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(embedded::FILE_NAME);
    let garbage = b"this is not a redb database, but somebody's data".repeat(200);
    std::fs::write(&file, &garbage).unwrap();
    let e = start_error(settings_in(dir.path())).await;
    assert!(e.contains(&file.display().to_string()), "{e}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        garbage,
        "the file is never rewritten"
    );
}

#[tokio::test]
async fn a_database_damaged_in_the_middle_stops_start_up_or_is_read_intact() {
    // Flip bytes in the middle of a real database holding an account: redb either refuses it
    // (checksums) or, if the damage hit free space, still returns the account intact.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(embedded::FILE_NAME);
    {
        let db = open_db(&file).await;
        let user = identity_server::users::hash_new_user(
            &mut identity_server::hashing::Memory::new(
                identity_server::hashing::NewHashParams::OWASP,
            )
            .unwrap(),
            identity_server::domain::NewUser {
                username: "zoe".into(),
                password: identity_server::domain::Secret::new("correct horse battery staple"),
                name: None,
                email: None,
            },
        )
        .unwrap();
        assert!(UserStore::create(&*db, &user).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 3..len / 3 + 4096] {
        *b ^= 0xA5;
    }
    std::fs::write(&file, &bytes).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    match Application::build_with(settings_in(dir.path()), listener, test_tls().clone()).await {
        Err(e) => assert!(e.to_string().contains(&file.display().to_string()), "{e}"),
        Ok(app) => {
            let found = app.state().users.find_by_username("zoe").await;
            assert!(
                matches!(found, Ok(Some(_)) | Err(_)),
                "a damaged database never silently loses the account: {found:?}"
            );
            drop(app);
        }
    }
}

#[tokio::test]
async fn old_journal_files_stop_start_up_until_migrated_and_migration_keeps_accounts_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let user = identity_server::users::hash_new_user(
        &mut identity_server::hashing::Memory::new(identity_server::hashing::NewHashParams::OWASP)
            .unwrap(),
        identity_server::domain::NewUser {
            username: "Olga".into(),
            password: identity_server::domain::Secret::new("correct horse battery staple"),
            name: Some("Olga".into()),
            email: None,
        },
    )
    .unwrap();
    let line = serde_json::to_string(&user).unwrap();
    // users.jsonl with a torn last line (a crash mid-append, never acknowledged).
    std::fs::write(
        dir.path().join("users.jsonl"),
        format!("{line}\n{{\"user\":{{\"subj"),
    )
    .unwrap();
    let mut grant = serde_json::to_value(seed_grant("old-refresh-0")).unwrap();
    grant["rotated"] = serde_json::json!([]);
    let put = serde_json::json!({ "op": "put", "grant": grant });
    let rotate = serde_json::json!({ "op": "rotate", "id": "seeded-grant", "new_hash": sha256_b64("old-refresh-1") });
    std::fs::write(
        dir.path().join("grants.jsonl"),
        format!("{put}\n{rotate}\n"),
    )
    .unwrap();

    let e = start_error(settings_in(dir.path())).await;
    assert!(
        e.contains("users.jsonl") && e.contains("grants.jsonl"),
        "{e}"
    );
    assert!(e.contains("migrate-data"), "{e}");

    let db = open_db(&dir.path().join(embedded::FILE_NAME)).await;
    let report =
        identity_server::store::migrate::migrate(dir.path(), &db, identity_server::oidc::now())
            .await
            .unwrap()
            .unwrap();
    assert_eq!((report.users, report.grants, report.torn.len()), (1, 1, 1));
    assert!(db.find_by_username("olga").await.unwrap().is_some());
    let current = db
        .find_by_refresh(&sha256_b64("old-refresh-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.id, "seeded-grant");
    // The rotated-away token is still known, so its reuse still revokes the grant.
    let old = db
        .rotate(
            &sha256_b64("old-refresh-0"),
            &sha256_b64("x"),
            identity_server::oidc::now(),
            0,
        )
        .await
        .unwrap();
    assert!(
        matches!(old, identity_server::store::RefreshUse::Reused(_)),
        "{old:?}"
    );
    assert!(dir.path().join("users.jsonl.migrated").exists());
    assert!(!dir.path().join("grants.jsonl").exists());
}

#[tokio::test]
async fn a_journal_line_that_does_not_parse_stops_the_migration_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.jsonl"), "not json\n{}\n").unwrap();
    let db = open_db(&dir.path().join(embedded::FILE_NAME)).await;
    let e = identity_server::store::migrate::migrate(dir.path(), &db, 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("users.jsonl") && e.contains("line 1"), "{e}");
    assert!(
        dir.path().join("users.jsonl").exists(),
        "nothing is renamed after a failure"
    );
}
