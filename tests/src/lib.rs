//! End-to-end tests of the whole system; this library is empty on purpose.
//!
//! The suite is the integration binary `tests/e2e/main.rs` (`cargo test -p tests`): it starts the
//! Authsignal emulator, the identity server and the web client in-process on free ports with a
//! certificate authority made for the run, and drives them over HTTPS with a cookie-jar browser
//! and in real headless Chromium (`CHROME_PATH` or `/usr/bin/chromium`). Without Chromium the
//! browser tests print a loud warning and return, unless `E2E_REQUIRE_BROWSER=1` (set by CI),
//! which makes a missing browser a failure. Failure screenshots go to
//! `<target>/e2e-screenshots/`. `TEST_LOG=1` shows the apps' logs.
