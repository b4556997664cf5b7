//! End-to-end tests: the emulator, the identity server and the web client started in-process
//! on free ports with a CA made for this run, driven over HTTPS by a cookie-jar browser and by
//! real headless Chromium.
//!
//! Run: `cargo test -p tests`. The browser tests need Chromium (`CHROME_PATH` or
//! `/usr/bin/chromium`); without it they print a loud warning and return, unless
//! `E2E_REQUIRE_BROWSER=1` (set by `.ci/run`), which turns a missing browser into a failure.
//! `TEST_LOG=1` shows the apps' logs.

mod harness;
mod journeys;
// A toolbox: not every journey uses every tool.
#[allow(dead_code)]
mod helpers;
