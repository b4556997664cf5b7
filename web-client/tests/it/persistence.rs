//! The embedded session database: a signed-in session survives a restart and a SIGKILL of the
//! real binary, and a corrupt database file stops start-up with a message naming it.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use web_client::startup::{Application, SESSION_DB_FILE};

use crate::helpers::{browser, location, settings, spawn_replica, start_provider, tls};
use crate::mock_provider::{Behaviour, MockProvider};

#[actix_web::test]
async fn a_signed_in_session_survives_a_restart_on_the_same_data_dir() {
    let data = tempfile::tempdir().unwrap();
    let provider = start_provider(Behaviour::default());
    let browser = browser();
    let with_data = || {
        let mut s = settings(&provider.issuer);
        s.data_dir = Some(data.path().to_owned());
        s
    };
    let first = spawn_replica(with_data(), &provider, &browser).await;
    first.signed_in().await;
    first.stop().await;

    let second = spawn_replica(with_data(), &provider, &browser).await;

    assert!(second.home_page().await.contains("Alice Smith"));
    assert_eq!(
        provider.record(|r| r.token_requests.len()),
        1,
        "no second sign-in"
    );
    assert!(data.path().join(SESSION_DB_FILE).exists());
}

#[actix_web::test]
async fn a_corrupt_session_database_stops_start_up_naming_the_file() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join(SESSION_DB_FILE);
    std::fs::write(&file, b"not a database ".repeat(300)).unwrap();
    let mut settings = settings("https://localhost:1");
    settings.data_dir = Some(data.path().to_owned());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Application::build_with(settings, listener, tls().clone())
        .await
        .unwrap_err()
        .to_string();

    assert!(err.contains(&format!("'{}'", file.display())), "{err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"not a database ".repeat(300),
        "the file is never reset"
    );
}

/// The real `web-client` binary on a data dir, with the test CA's certificate.
struct Binary {
    child: Child,
    base: String,
}

impl Binary {
    fn start(data: &Path, certs: &Path, provider: &MockProvider) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_web-client"))
            .env_remove("WEBCLIENT_CONFIG")
            .env("RUST_LOG", "info")
            .env("WEBCLIENT__PORT", "0")
            .env("WEBCLIENT__WORKERS", "1")
            .env("WEBCLIENT__ISSUER_URL", &provider.issuer)
            .env("WEBCLIENT__DATA_DIR", data)
            .env("WEBCLIENT__TLS_CERT", certs.join("cert.pem"))
            .env("WEBCLIENT__TLS_KEY", certs.join("key.pem"))
            .env("WEBCLIENT__TLS_CA", certs.join("ca.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("web client listening") {
                    let base = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("url="))
                        .map(str::to_owned);
                    let _ = tx.send(base);
                    sent = true;
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the binary never said it was listening")
            .expect("no url in the listening line");
        Self { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until_ready(browser: &reqwest::Client, app: &Binary) {
    for _ in 0..200 {
        if let Ok(r) = browser.get(app.url("/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the binary never became ready");
}

#[actix_web::test]
async fn a_signed_in_session_survives_a_sigkill_of_the_binary() {
    let data = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("cert.pem"), tls().cert_chain_pem()).unwrap();
    std::fs::write(certs.path().join("key.pem"), tls().key_pem()).unwrap();
    std::fs::write(certs.path().join("ca.pem"), tls().ca_pem()).unwrap();
    let provider = start_provider(Behaviour::default());
    let browser = browser();

    let mut first = Binary::start(data.path(), certs.path(), &provider);
    wait_until_ready(&browser, &first).await;
    let to_provider = browser.get(first.url("/")).send().await.unwrap();
    assert_eq!(to_provider.status(), 303);
    let back = browser.get(location(&to_provider)).send().await.unwrap();
    let signed_in = browser.get(location(&back)).send().await.unwrap();
    assert_eq!(
        signed_in.status(),
        303,
        "{}",
        signed_in.text().await.unwrap()
    );
    assert_eq!(location(&signed_in), "/");

    // SIGKILL right after the sign-in was acknowledged: nothing gets a chance to flush.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = Binary::start(data.path(), certs.path(), &provider);
    wait_until_ready(&browser, &second).await;

    let home = browser.get(second.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("Alice Smith"));
    assert_eq!(
        provider.record(|r| r.token_requests.len()),
        1,
        "no second sign-in"
    );
}
