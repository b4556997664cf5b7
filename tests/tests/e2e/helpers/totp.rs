//! The authenticator app on the person's phone: it is given the base32 key shown on the
//! enrollment page and produces the codes a person would type.
//!
//! Servers refuse a time step that was already used (replay protection), so the device remembers
//! the last step it showed and never offers the same one twice: it uses the next step (inside the
//! verifier's one-step skew) or, if that one was used too, waits for the clock to reach it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use totp_rs::{Algorithm, Secret, TOTP};

/// The authenticator app: SHA-1, 6 digits, 30 s steps (what apps assume for a bare key).
#[derive(Debug)]
pub struct Authenticator {
    totp: TOTP,
    last_step: Mutex<Option<u64>>,
}

const STEP: u64 = 30;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

impl Authenticator {
    /// Adds an account from the base32 key a person copies from the enrollment page.
    pub fn from_key(base32_key: &str) -> Self {
        let cleaned: String = base32_key
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let secret = Secret::Encoded(
            cleaned
                .to_ascii_uppercase()
                .trim_end_matches('=')
                .to_owned(),
        )
        .to_bytes()
        .unwrap_or_else(|e| panic!("the key '{base32_key}' is not base32: {e:?}"));
        assert!(
            secret.len() >= 10,
            "the key '{base32_key}' is shorter than 80 bits"
        );
        let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP, secret, None, String::new());
        Self {
            totp,
            last_step: Mutex::new(None),
        }
    }

    /// The code for an arbitrary time step (for tests that need a stale or wrong code).
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp.generate(step * STEP)
    }

    /// The time step now.
    pub fn current_step() -> u64 {
        unix_now() / STEP
    }

    /// A code that has not been shown before: the current step, else the next one (accepted by a
    /// verifier with one step of skew), else waits until the clock makes a fresh step valid.
    pub async fn fresh_code(&self) -> String {
        loop {
            let now = Self::current_step();
            let candidate = {
                let mut last = self.last_step.lock().expect("lock");
                let step = match *last {
                    None => Some(now),
                    Some(l) if l < now => Some(now),
                    Some(l) if l == now => Some(now + 1),
                    Some(_) => None,
                };
                if let Some(step) = step {
                    *last = Some(step);
                }
                step
            };
            if let Some(step) = candidate {
                return self.code_at_step(step);
            }
            // Both the current and the next step were used: wait for the next step to start.
            let wait = STEP - unix_now() % STEP;
            tokio::time::sleep(Duration::from_millis(wait * 1000 + 50)).await;
        }
    }
}
