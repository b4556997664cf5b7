//! Real headless Chromium driven over CDP (chromiumoxide), used like a person uses a browser:
//! open a URL, wait until something is on the screen, type, click.
//!
//! Rules learnt the hard way (see shared/reference/crates.md):
//! - flags are given without the leading `--` (chromiumoxide adds it);
//! - the only certificate trusted beyond the system store is the test leaf, pinned with
//!   `ignore-certificate-errors-spki-list`; chromiumoxide's default of telling the page to ignore
//!   ALL certificate errors is switched off with `respect_https_errors()`;
//! - a fresh `user-data-dir` per browser (also required for the SPKI pin to be honoured);
//! - open `about:blank` first, then navigate;
//! - after a click, poll for the next page's element instead of waiting for a navigation event;
//! - the CDP handler stream is polled in a spawned task; the browser is closed and waited for.
//!
//! Chromium is found through `CHROME_PATH` or at `/usr/bin/chromium`. When it is missing the
//! browser tests fail if `E2E_REQUIRE_BROWSER=1` (CI sets it) and otherwise print a loud warning
//! to stderr and return without testing anything.
//!
//! Accessibility: [`Chrome::check_accessibility`] injects axe-core (the file named by
//! `AXE_CORE_JS`, which `.ci/run` installs from npm into a temporary directory) into the page,
//! runs it in the light and the dark colour scheme (CDP `Emulation.setEmulatedMedia`) and fails
//! on any violation of impact serious or critical, listing them. Without `AXE_CORE_JS` the check
//! fails when `E2E_REQUIRE_BROWSER=1` and is skipped with a loud warning otherwise.
//!
//! Screenshots: [`Chrome::shoot`] saves the page at 1280x800 and 390x844 under
//! `<target dir>/screenshots/`, for a reviewer to look at.

use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::{
    ClearDeviceMetricsOverrideParams, MediaFeature, SetDeviceMetricsOverrideParams,
    SetEmulatedMediaParams,
};
use chromiumoxide::cdp::browser_protocol::log::EventEntryAdded;
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::element::Element;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures_util::{FutureExt, StreamExt};
use tokio::task::JoinHandle;

/// How long to wait for something to appear on the page.
const WAIT: Duration = Duration::from_secs(20);
/// How often to look again.
const POLL: Duration = Duration::from_millis(50);

/// Where the Chromium binary is, if anywhere.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROME_PATH") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Whether a missing browser must fail the test run (CI) rather than skip loudly.
pub fn browser_required() -> bool {
    std::env::var("E2E_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// The target directory (`CARGO_TARGET_DIR`, else `target/`): where the test binary lives.
fn target_dir() -> PathBuf {
    // The test binary lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The directory for failure screenshots: `<target dir>/e2e-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("e2e-screenshots")
}

/// The directory of the journeys' page screenshots: `<target dir>/screenshots`.
pub fn journey_screenshot_dir() -> PathBuf {
    target_dir().join("screenshots")
}

/// axe-core's source, from the file named by `AXE_CORE_JS`. `None` (after a loud warning) when
/// it is not set and the browser is not required; a failure when it is required or unreadable.
pub fn axe_source() -> Option<String> {
    match std::env::var_os("AXE_CORE_JS") {
        Some(path) => {
            Some(std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("AXE_CORE_JS names {path:?}, which cannot be read: {e}")
            }))
        }
        None if browser_required() => panic!(
            "AXE_CORE_JS is not set (the path of axe.min.js; .ci/run installs axe-core from npm); \
             E2E_REQUIRE_BROWSER=1 makes the missing accessibility checks a failure"
        ),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "WARNING: AXE_CORE_JS is not set: the accessibility checks of the browser tests were NOT run."
            );
            None
        }
    }
}

/// The axe run: WCAG 2.1 A/AA rules and best practices; the violations as JSON.
const AXE_RUN: &str = r#"axe.run(document, {
  runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
  resultTypes: ["violations"]
}).then(function (r) {
  return JSON.stringify(r.violations.map(function (v) {
    return { id: v.id, impact: v.impact, help: v.help,
             nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(" ") + ": " + (n.failureSummary || ""); }) };
  }));
})"#;

/// One axe violation.
#[derive(Debug, serde::Deserialize)]
pub struct Violation {
    /// Rule id (`color-contrast`, ...).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks.
    pub help: String,
    /// Where (CSS selectors) and why.
    pub nodes: Vec<String>,
}

/// One headless Chromium with one tab.
#[derive(Debug)]
pub struct Chrome {
    name: String,
    browser: Browser,
    handler: JoinHandle<()>,
    page: Page,
    console: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Chrome {
    /// Launches Chromium trusting the leaf certificate with SPKI hash `spki_sha256_base64`.
    /// Returns `None` (after a loud warning) when Chromium is missing and not required.
    pub async fn launch(name: &str, spki_sha256_base64: &str) -> Option<Chrome> {
        let Some(executable) = chromium_path() else {
            let message = format!(
                "browser test '{name}': Chromium not found (set CHROME_PATH or install /usr/bin/chromium)"
            );
            if browser_required() {
                panic!("{message}; E2E_REQUIRE_BROWSER=1 makes this a failure");
            }
            // Written to the process's stderr directly: the test harness captures `eprintln!`
            // of passing tests, and this must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\nWARNING: {message}.\nWARNING: the browser test was NOT run. Set E2E_REQUIRE_BROWSER=1 to make this an error.\n{bar}\n",
                bar = "!".repeat(78)
            );
            return None;
        };
        let profile = tempfile::tempdir().expect("profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(executable)
            .no_sandbox()
            .respect_https_errors()
            .user_data_dir(profile.path())
            .window_size(1280, 900)
            // A deadline, not a delay: Chromium usually starts in about a second, but on a loaded
            // 2-core machine, with other tests compiling or running, it has taken over 30 s.
            .launch_timeout(Duration::from_secs(90))
            .request_timeout(Duration::from_secs(30))
            .args([
                "disable-gpu",
                "disable-dev-shm-usage",
                "disable-background-networking",
                "disable-component-update",
                "disable-sync",
                "no-first-run",
                "disable-quic",
                "disable-features=HttpsUpgrades",
            ])
            .arg(("ignore-certificate-errors-spki-list", spki_sha256_base64))
            .build()
            .unwrap_or_else(|e| panic!("browser config: {e}"));
        let (browser, mut handler) = Browser::launch(config)
            .await
            .unwrap_or_else(|e| panic!("launching Chromium for '{name}' failed: {e}"));
        // The CDP connection only makes progress while its handler is polled.
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                // Errors on single messages (e.g. an event the bindings do not know) are not
                // fatal to the connection; the stream ends when the browser goes away.
                let _ = event;
            }
        });
        let page = browser
            .new_page("about:blank")
            .await
            .expect("open about:blank");
        // The browser's console (CSP violations, blocked requests, script errors) is printed
        // when a journey fails: it is often the only trace of why a click did nothing.
        let console = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut entries = page
            .event_listener::<EventEntryAdded>()
            .await
            .expect("log events");
        page.enable_log().await.expect("enable the log domain");
        let sink = console.clone();
        tokio::spawn(async move {
            while let Some(event) = entries.next().await {
                let entry = &event.entry;
                let line = format!(
                    "[{:?}/{:?}] {} {}",
                    entry.source,
                    entry.level,
                    entry.text,
                    entry.url.as_deref().unwrap_or_default()
                );
                sink.lock().expect("console lock").push(line);
            }
        });
        // Uncaught exceptions and unhandled rejections of page scripts, and `console.error`.
        let mut exceptions = page
            .event_listener::<EventExceptionThrown>()
            .await
            .expect("exception events");
        let sink = console.clone();
        tokio::spawn(async move {
            while let Some(event) = exceptions.next().await {
                let details = &event.exception_details;
                let line = format!(
                    "[Exception/Error] {} {}",
                    details.text,
                    details
                        .exception
                        .as_ref()
                        .and_then(|e| e.description.clone())
                        .unwrap_or_default()
                );
                sink.lock().expect("console lock").push(line);
            }
        });
        let mut calls = page
            .event_listener::<EventConsoleApiCalled>()
            .await
            .expect("console events");
        let sink = console.clone();
        tokio::spawn(async move {
            while let Some(event) = calls.next().await {
                if matches!(
                    event.r#type,
                    ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
                ) {
                    let args: Vec<String> = event
                        .args
                        .iter()
                        .map(|a| {
                            a.value
                                .as_ref()
                                .map(|v| v.to_string())
                                .or_else(|| a.description.clone())
                                .unwrap_or_default()
                        })
                        .collect();
                    let line = format!("[Console/Error] {}", args.join(" "));
                    sink.lock().expect("console lock").push(line);
                }
            }
        });
        Some(Chrome {
            name: name.to_owned(),
            browser,
            handler,
            page,
            console,
            _profile: profile,
        })
    }

    /// The tab.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// What the browser reported as an error so far: console entries of level error (blocked
    /// requests, CSP violations), uncaught exceptions and unhandled rejections, `console.error`.
    pub fn errors(&self) -> Vec<String> {
        self.console
            .lock()
            .expect("console lock")
            .iter()
            .filter(|line| line.contains("/Error]"))
            .cloned()
            .collect()
    }

    /// Runs `expression` in the page (awaiting a promise) and returns its JSON value.
    pub async fn eval(&self, expression: &str) -> serde_json::Value {
        use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
        let params = EvaluateParams::builder()
            .expression(expression)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("evaluate params");
        let result = self
            .page
            .evaluate_expression(params)
            .await
            .unwrap_or_else(|e| panic!("evaluating in the page failed: {e}"));
        result.value().cloned().unwrap_or(serde_json::Value::Null)
    }

    /// Types `url` into the address bar.
    pub async fn open(&self, url: &str) {
        self.page
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("navigating to {url}: {e}"));
    }

    /// Tries to open `url`; the navigation error (e.g. a certificate error) if it fails.
    pub async fn try_open(&self, url: &str) -> Result<(), String> {
        self.page
            .goto(url)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The address bar.
    pub async fn url(&self) -> String {
        self.page.url().await.ok().flatten().unwrap_or_default()
    }

    /// The visible text of the page (`document.body.innerText`).
    pub async fn text(&self) -> String {
        self.page
            .evaluate("document.body ? document.body.innerText : ''")
            .await
            .ok()
            .and_then(|v| v.into_value::<String>().ok())
            .unwrap_or_default()
    }

    /// Waits until an element matching `selector` is on the page.
    pub async fn wait_for(&self, selector: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.page.find_element(selector).await {
                return el;
            }
            if Instant::now() > deadline {
                panic!(
                    "'{selector}' did not appear within {WAIT:?} on {}; page text: {}",
                    self.url().await,
                    self.text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the visible text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "'{needle}' did not appear within {WAIT:?} on {}; page text: {text}",
                    self.url().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the address bar's path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if url::Url::parse(&url).is_ok_and(|u| u.path() == path) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the browser did not reach '{path}' within {WAIT:?}; it is on {url}: {}",
                    self.text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The visible text of the element matching `selector` (waits for it).
    pub async fn text_of(&self, selector: &str) -> String {
        let el = self.wait_for(selector).await;
        el.inner_text()
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Clicks into the field matching `selector` and types `text` key by key.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let el = self.wait_for(selector).await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("clicking into '{selector}': {e}"));
        el.type_str(text)
            .await
            .unwrap_or_else(|e| panic!("typing into '{selector}': {e}"));
    }

    /// Clicks the element matching `selector` (waits for it; retries while the page settles).
    pub async fn click(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let el = self.wait_for(selector).await;
            match el.click().await {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("clicking '{selector}': {e}"),
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Emulates `prefers-color-scheme: dark` (or light).
    pub async fn set_dark(&self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        let params = SetEmulatedMediaParams::builder()
            .feature(MediaFeature::new("prefers-color-scheme", scheme))
            .build();
        self.page
            .execute(params)
            .await
            .unwrap_or_else(|e| panic!("emulating prefers-color-scheme: {scheme}: {e}"));
    }

    /// The page's `document.title`.
    pub async fn title(&self) -> String {
        self.page
            .evaluate_expression("document.title")
            .await
            .ok()
            .and_then(|v| v.into_value::<String>().ok())
            .unwrap_or_default()
    }

    /// Runs axe-core on the page as it is now, in the light and the dark scheme; panics listing
    /// every violation of impact serious or critical. `page` names the page in the message.
    pub async fn check_accessibility(&self, axe: Option<&str>, page: &str) {
        let Some(axe) = axe else {
            return;
        };
        let mut failures = Vec::new();
        for dark in [false, true] {
            self.set_dark(dark).await;
            // Injected through the DevTools protocol: the page's CSP (no inline script) does not
            // apply to it, and nothing of it stays once the page is left.
            let defined = self
                .page
                .evaluate_expression("typeof axe")
                .await
                .ok()
                .and_then(|v| v.into_value::<String>().ok());
            if defined.as_deref() != Some("object") {
                self.page
                    .evaluate_expression(axe)
                    .await
                    .unwrap_or_else(|e| panic!("injecting axe-core into '{page}': {e}"));
            }
            let json: String = self
                .page
                .evaluate_expression(AXE_RUN)
                .await
                .unwrap_or_else(|e| panic!("running axe-core on '{page}': {e}"))
                .into_value()
                .unwrap_or_else(|e| panic!("axe-core's answer on '{page}': {e}"));
            let violations: Vec<Violation> = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("axe-core's answer on '{page}': {e}: {json}"));
            for v in violations {
                if matches!(v.impact.as_deref(), Some("serious" | "critical")) {
                    failures.push(format!(
                        "[{}] {} ({}), {}:\n      {}",
                        if dark { "dark" } else { "light" },
                        v.id,
                        v.impact.unwrap_or_default(),
                        v.help,
                        v.nodes.join("\n      ")
                    ));
                }
            }
        }
        self.set_dark(false).await;
        assert!(
            failures.is_empty(),
            "axe-core found serious or critical violations on '{page}' ({}):\n  {}",
            self.url().await,
            failures.join("\n  ")
        );
    }

    /// Saves the page at 1280x800 and at 390x844 (a phone) under
    /// `<target dir>/screenshots/<name>-<label>-{desktop,phone}.png`, in the current scheme.
    pub async fn shoot(&self, label: &str) {
        let dir = journey_screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        for (size, width, height, mobile) in
            [("desktop", 1280, 800, false), ("phone", 390, 844, true)]
        {
            self.page
                .execute(SetDeviceMetricsOverrideParams::new(
                    width, height, 1.0, mobile,
                ))
                .await
                .unwrap_or_else(|e| panic!("resizing the page to {width}x{height}: {e}"));
            let path = dir.join(format!("{}-{label}-{size}.png", self.name));
            self.page
                .save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path)
                .await
                .unwrap_or_else(|e| panic!("saving {}: {e}", path.display()));
        }
        self.page
            .execute(ClearDeviceMetricsOverrideParams::default())
            .await
            .unwrap_or_else(|e| panic!("restoring the window size: {e}"));
    }

    /// The page's width against the viewport's: `(scrollWidth, innerWidth)` (content wider than
    /// the window means a horizontal scroll bar on a phone).
    pub async fn widths(&self) -> (i64, i64) {
        let json: String = self
            .page
            .evaluate_expression(
                "JSON.stringify([document.documentElement.scrollWidth, window.innerWidth])",
            )
            .await
            .ok()
            .and_then(|v| v.into_value().ok())
            .unwrap_or_default();
        let pair: Vec<i64> = serde_json::from_str(&json).unwrap_or_default();
        (
            pair.first().copied().unwrap_or(0),
            pair.get(1).copied().unwrap_or(0),
        )
    }

    /// Shows the page at 390x844 (a phone) until [`Chrome::at_window_size`].
    pub async fn at_phone_size(&self) {
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(390, 844, 1.0, true))
            .await
            .unwrap_or_else(|e| panic!("resizing the page to 390x844: {e}"));
    }

    /// Undoes [`Chrome::at_phone_size`].
    pub async fn at_window_size(&self) {
        self.page
            .execute(ClearDeviceMetricsOverrideParams::default())
            .await
            .unwrap_or_else(|e| panic!("restoring the window size: {e}"));
    }

    /// Goes one page back in the history (the browser's Back button).
    pub async fn back(&self) {
        self.page
            .evaluate_expression("history.back()")
            .await
            .unwrap_or_else(|e| panic!("history.back(): {e}"));
    }

    /// Saves a full-page PNG to the screenshot directory and returns its path.
    pub async fn screenshot(&self, label: &str) -> Option<PathBuf> {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{}-{label}.png", self.name));
        self.page
            .save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path)
            .await
            .ok()?;
        Some(path)
    }

    /// Closes the browser and waits for the process to exit.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.browser.wait()).await;
        self.handler.abort();
    }
}

/// Runs a browser journey, catching its failure so that [`Chrome::finish`] can take a
/// screenshot before the test fails.
pub async fn catching<F: Future<Output = ()>>(journey: F) -> std::thread::Result<()> {
    AssertUnwindSafe(journey).catch_unwind().await
}

impl Chrome {
    /// Ends a journey run with [`catching`]: on failure saves a screenshot (path printed),
    /// closes the browser and fails the test; on success closes the browser.
    pub async fn finish(self, outcome: std::thread::Result<()>) {
        if let Err(panic) = outcome {
            let name = self.name.clone();
            let shot = self.screenshot("failure").await;
            let url = self.url().await;
            let console = self.console.lock().expect("console lock").join("\n  ");
            eprintln!("browser console of '{name}':\n  {console}");
            self.close().await;
            match shot {
                Some(path) => eprintln!(
                    "browser test '{name}' failed on {url}; screenshot: {}",
                    path.display()
                ),
                None => eprintln!(
                    "browser test '{name}' failed on {url}; the screenshot could not be saved"
                ),
            }
            std::panic::resume_unwind(panic);
        }
        self.close().await;
    }
}
