//! The Redis backend (N replicas on one shared Redis). Placeholder until the backend lands:
//! configuring `store.url` fails start-up with a clear message rather than falling back to a
//! per-process store (which would break single use across replicas).

use super::rules::LockoutPolicy;
use super::{StoreError, Stores};
use crate::configuration::StoreSettings;

/// Connects to the configured Redis and returns every store on it.
pub async fn open(
    _settings: &StoreSettings,
    _policy: LockoutPolicy,
    _ca_pem: &str,
) -> Result<Stores, StoreError> {
    Err(StoreError::Unavailable(
        "store.url: the Redis backend is not available in this build".into(),
    ))
}
