//! The retry policy: which failures are repeated, how often, and how long to wait in between.
//!
//! A request is retried only when **both** hold:
//! - the request is safe to repeat: a `GET`, or a request that carries an idempotency key
//!   (`track` or `challenge` with `idempotency_key` set, `update_action`, whose path names the
//!   action instance and which sets an absolute state);
//! - the failure is transient: the connection could not be established (DNS, refused, reset
//!   before a response, TLS handshake), or the status is 429, 502, 503 or 504.
//!
//! A timeout is never retried (the service may have acted on the request), nor is any other
//! status (a 500 may mean the action was recorded, a 4xx will not change).
//!
//! The wait before retry `n` (0-based) is `min(initial_backoff × 2ⁿ, max_backoff)`, with "equal
//! jitter" (a random point in the upper half of that interval) so that many clients do not retry
//! in lockstep. A `Retry-After` header (seconds or an HTTP date) on a 429/503 replaces the computed
//! wait when it is longer; if it asks for more than `max_retry_after`, the SDK does not wait and
//! returns the error instead, so a caller is never blocked for minutes.
//!
//! All of it runs inside the call's overall deadline
//! ([`ClientBuilder::call_timeout`](crate::ClientBuilder::call_timeout)): a wait (computed or
//! `Retry-After`) that would reach the deadline is not started and the last error is returned at
//! once, and each attempt's timeout is cut to what is left of the deadline.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// How failed requests are retried. See the [module docs](self) for the exact policy.
///
/// The default is 2 retries (3 attempts in all, like the official .NET, Node and Java SDKs),
/// 100 ms initial back-off doubling up to 2 s, and `Retry-After` honoured up to 10 s.
///
/// ```
/// use std::time::Duration;
/// use authsignal_sdk::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .with_max_retries(3)
///     .with_initial_backoff(Duration::from_millis(50));
/// assert_eq!(policy.max_retries, 3);
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// Back-off before the first retry.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential back-off.
    pub max_backoff: Duration,
    /// The longest `Retry-After` the client will wait; a longer one ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: every call makes exactly one attempt.
    ///
    /// ```
    /// # use authsignal_sdk::RetryPolicy;
    /// let policy = RetryPolicy::none();
    /// # let _ = policy;
    /// ```
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries after the first attempt.
    ///
    /// ```
    /// # use authsignal_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().with_max_retries(3);
    /// # let _ = policy;
    /// ```
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the back-off before the first retry (doubled for each further retry).
    ///
    /// ```
    /// # use authsignal_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().with_initial_backoff(std::time::Duration::from_millis(50));
    /// # let _ = policy;
    /// ```
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the cap of the exponential back-off.
    ///
    /// ```
    /// # use authsignal_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().with_max_backoff(std::time::Duration::from_secs(1));
    /// # let _ = policy;
    /// ```
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets the longest `Retry-After` honoured.
    ///
    /// ```
    /// # use authsignal_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().with_max_retry_after(std::time::Duration::from_secs(5));
    /// # let _ = policy;
    /// ```
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The wait before retry number `retry` (0-based), or `None` when the service asked for a
    /// longer pause than [`max_retry_after`](Self::max_retry_after).
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let exponential = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff);
        let half = exponential / 2;
        let jittered = half + jitter(exponential - half);
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait.max(jittered)),
            None => Some(jittered),
        }
    }
}

/// A random duration in `[0, max]`, from the standard library's randomly keyed hasher (no RNG
/// dependency needed for jitter).
fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    Duration::from_nanos(hasher.finish() % (nanos + 1))
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.delay(0, None).unwrap();
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = policy.delay(1, None).unwrap();
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let capped = policy.delay(9, None).unwrap();
            assert!(capped >= Duration::from_millis(150) && capped <= Duration::from_millis(300));
        }
    }

    #[test]
    fn retry_after_replaces_a_shorter_backoff_and_a_too_long_one_stops_retries() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(policy.delay(0, Some(Duration::from_secs(11))), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        let in_five = SystemTime::now() + Duration::from_secs(5);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(in_five)).unwrap();
        assert!(parsed <= Duration::from_secs(5) && parsed >= Duration::from_secs(3));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn huge_retry_counts_do_not_overflow() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(u32::MAX, None).unwrap() <= policy.max_backoff);
    }
}
