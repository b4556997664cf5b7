//! The official Authsignal SDKs' own test suites, run against the emulator: the project's claim
//! that the emulator is API-faithful, checked with the vendor's tests rather than ours.
//!
//! Only the Python suite can run here: its sdist on PyPI (`authsignal`) ships
//! `authsignal/client_tests.py`. `.ci/run` downloads a pinned sdist, makes a virtualenv with the
//! SDK's dependencies (requests, pyjwt, pyhumps) outside the clone and names both in
//! `AUTHSIGNAL_PYTHON` (the interpreter) and `AUTHSIGNAL_PYTHON_SDK` (the unpacked sdist, the
//! directory holding `authsignal/`). Without them the test says so on stderr and returns, unless
//! `OFFICIAL_SDKS_REQUIRED=1` (CI sets it), which makes it a failure. The Node and Go suites live
//! only in the SDKs' repositories, which no registry serves; `README.md` says how to run them by
//! hand.
//!
//! The suite is run unchanged. What it expects of the tenant beforehand is set up through the
//! emulator's own Server API: `user123` is enrolled (its `test_actions` and
//! `test_validate_challenge` expect `CHALLENGE_REQUIRED` and `isEnrolled`), and its
//! `redirect_url` origin `http://localhost:3000` is an allowed redirect origin (the loopback
//! exception). TLS is verified against the test CA (`REQUESTS_CA_BUNDLE`), never turned off.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use authsignal_sdk::{EnrollVerifiedAuthenticatorRequest, VerificationMethod};

use crate::helpers::{settings, spawn_with, tls};

/// The suite's module inside the sdist.
const PYTHON_SUITE: &str = "authsignal/client_tests.py";

/// A suite that has not finished by then is stopped and fails (each of its requests has a 2 s
/// timeout; the whole suite takes well under a second).
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether a missing SDK fails instead of skipping (`OFFICIAL_SDKS_REQUIRED=1`, set by CI).
fn required() -> bool {
    std::env::var("OFFICIAL_SDKS_REQUIRED").is_ok_and(|v| v == "1")
}

/// The interpreter and the sdist directory, or `None` (after a warning) when they are not given
/// and not required.
fn python_sdk() -> Option<(PathBuf, PathBuf)> {
    let python = std::env::var_os("AUTHSIGNAL_PYTHON").map(PathBuf::from);
    let sdk = std::env::var_os("AUTHSIGNAL_PYTHON_SDK").map(PathBuf::from);
    let missing = match (&python, &sdk) {
        (Some(_), Some(sdk)) if !sdk.join(PYTHON_SUITE).is_file() => Some(format!(
            "AUTHSIGNAL_PYTHON_SDK='{}' holds no {PYTHON_SUITE}",
            sdk.display()
        )),
        (Some(_), Some(_)) => None,
        _ => Some(
            "AUTHSIGNAL_PYTHON (an interpreter with requests, pyjwt and pyhumps) and \
             AUTHSIGNAL_PYTHON_SDK (the unpacked `authsignal` sdist from PyPI) are not both set"
                .to_owned(),
        ),
    };
    match missing {
        None => python.zip(sdk),
        Some(message) if required() => {
            panic!("{message}; OFFICIAL_SDKS_REQUIRED=1 makes this a failure")
        }
        Some(message) => {
            eprintln!(
                "WARNING: {message}: the official Python SDK's suite was NOT run. \
                 Set OFFICIAL_SDKS_REQUIRED=1 to make this an error."
            );
            None
        }
    }
}

/// How many tests the suite defines: its `def test_…` methods.
fn defined_tests(suite_source: &str) -> usize {
    suite_source
        .lines()
        .filter(|line| line.trim_start().starts_with("def test_"))
        .count()
}

/// What unittest reported: the `Ran N tests` count, and whether it closed with `OK` (skips and
/// expected failures allowed in parentheses, as unittest prints them).
fn unittest_summary(output: &str) -> (Option<usize>, bool) {
    let ran = output.lines().find_map(|line| {
        let rest = line.strip_prefix("Ran ")?;
        let (count, unit) = rest.split_once(' ')?;
        unit.starts_with("test").then(|| count.parse().ok())?
    });
    let ok = output
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line == "OK" || line.starts_with("OK ("));
    (ran, ok)
}

/// The suite's outcome: exit status and everything it printed.
struct SuiteRun {
    success: bool,
    output: String,
}

/// Runs `python -m unittest -v authsignal.client_tests` in `sdk` with `env`, bounded by
/// [`SUITE_TIMEOUT`]; its output goes to files (no pipe to fill up).
fn run_python_suite(python: &Path, sdk: &Path, env: &[(&str, String)]) -> SuiteRun {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let out_path = scratch.path().join("output.txt");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut command = Command::new(python);
    // Third-party code: it gets the variables it needs, not this process's environment.
    command
        .args(["-m", "unittest", "-v", "authsignal.client_tests"])
        .current_dir(sdk)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output file"))
        .stderr(out);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start '{}': {e}", python.display()));
    let deadline = Instant::now() + SUITE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the suite") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = std::fs::read_to_string(&out_path).unwrap_or_default();
    if status.is_none() {
        output.push_str(&format!(
            "\n(stopped: still running after {SUITE_TIMEOUT:?})\n"
        ));
    }
    SuiteRun {
        success: status.is_some_and(|s| s.success()),
        output,
    }
}

#[tokio::test]
async fn the_official_python_sdks_own_test_suite_passes_against_the_emulator() {
    let Some((python, sdk)) = python_sdk() else {
        return;
    };
    let suite = std::fs::read_to_string(sdk.join(PYTHON_SUITE)).expect("read the suite");
    let defined = defined_tests(&suite);
    assert!(defined > 0, "{PYTHON_SUITE} defines no test");

    // Arrange: the tenant state the suite expects, through the Server API.
    let mut settings = settings();
    settings
        .redirect_origins
        .push("http://localhost:3000".into());
    let app = spawn_with(settings).await;
    let mut enroll = EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::EmailOtp);
    enroll.email = Some("not-a-real-email@authsignal.com".into());
    app.sdk
        .enroll_verified_authenticator("user123", &enroll)
        .await
        .expect("enroll user123");
    let scratch = tempfile::tempdir().expect("temporary directory");
    let ca = scratch.path().join("ca.pem");
    std::fs::write(&ca, tls().ca_pem()).expect("write the CA");

    // Act: the suite, unchanged, on the blocking pool (the emulator keeps serving).
    let env = [
        ("AUTHSIGNAL_API_SECRET", app.secret.clone()),
        ("AUTHSIGNAL_API_URL", app.api_url.clone()),
        ("REQUESTS_CA_BUNDLE", ca.display().to_string()),
    ];
    let run = tokio::task::spawn_blocking(move || run_python_suite(&python, &sdk, &env))
        .await
        .expect("the suite's runner");
    app.stop().await;

    // Assert: exit 0, every defined test ran, and unittest said OK.
    let (ran, ok) = unittest_summary(&run.output);
    assert!(
        run.success && ok && ran == Some(defined),
        "the official Python SDK's suite failed against the emulator (exit ok: {}, \"OK\": {ok}, \
         ran: {ran:?} of {defined} defined):\n{}",
        run.success,
        run.output
    );
}

#[test]
fn the_suite_summary_counts_the_tests_run_and_needs_a_closing_ok() {
    let passed = "test_a (m.T.test_a) ... ok\n\n----\nRan 9 tests in 0.313s\n\nOK\n";
    assert_eq!(unittest_summary(passed), (Some(9), true));
    let skipped = "Ran 1 test in 0.001s\n\nOK (skipped=1)\n";
    assert_eq!(unittest_summary(skipped), (Some(1), true));
    let failed = "Ran 9 tests in 0.4s\n\nFAILED (failures=3)\n";
    assert_eq!(unittest_summary(failed), (Some(9), false));
    let none = "\n----\nRan 0 tests in 0.000s\n\nNO TESTS RAN\n";
    assert_eq!(unittest_summary(none), (Some(0), false));
    assert_eq!(
        unittest_summary("ImportError: no module named humps\n"),
        (None, false)
    );
}

#[test]
fn the_tests_a_suite_defines_are_its_test_methods() {
    let source = "class T(unittest.TestCase):\n    def setUpClass(cls):\n        pass\n\n    \
                  def test_one(self):\n        pass\n    def helper(self):\n        pass\n    \
                  def test_two(self):\n        pass\n";
    assert_eq!(defined_tests(source), 2);
}
