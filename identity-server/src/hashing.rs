//! A bound on concurrent Argon2id work.
//!
//! Every Argon2id hash or verification allocates about 19 MiB (m = 19456 KiB) and takes a
//! blocking thread for ~12 ms. Unauthenticated requests trigger them (wrong client secrets at the
//! token endpoint, password guesses at the login page, account creation), and `web::block` would
//! run up to 512 of them per worker at once: a flood of wrong secrets could exhaust memory.
//! [`run_limited`] admits at most one hash per core at a time ([`AppState::hash_permits`]); a
//! request that cannot get a permit within [`PERMIT_WAIT`] is answered 503 ([`Busy`]) instead of
//! queueing without bound.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use tokio::sync::Semaphore;

use crate::error::{AppError, ErrorCode, OAuthError};
use crate::state::AppState;

/// How long a request waits for a hashing permit before it is answered 503.
pub const PERMIT_WAIT: Duration = Duration::from_secs(2);

/// The permits for [`AppState::hash_permits`]: one per available core (at least one), so the
/// hashes in flight never take more than the CPUs can serve and memory stays bounded
/// (cores × 19 MiB).
pub fn permits() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    Arc::new(Semaphore::new(cores))
}

/// No hashing permit became free in time (or the blocking pool failed): the server is busy.
///
/// As a response it is the HTML "busy" page (503); OAuth endpoints convert it into
/// `temporarily_unavailable` JSON (503) through `From<Busy> for OAuthError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy")]
pub struct Busy;

/// The message of the HTML busy page.
pub const BUSY_MESSAGE: &str = "The server is busy. Please try again in a moment.";

impl From<Busy> for OAuthError {
    fn from(_: Busy) -> Self {
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server is busy, try again later",
        )
    }
}

impl From<Busy> for AppError {
    fn from(_: Busy) -> Self {
        AppError::Unavailable {
            message: BUSY_MESSAGE.into(),
            cause: "no argon2 permit within the wait".into(),
        }
    }
}

impl ResponseError for Busy {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        crate::error::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            BUSY_MESSAGE,
        )
    }
}

/// Runs the CPU- and memory-heavy `f` (an Argon2id hash or verification) on the blocking pool
/// once a permit of [`AppState::hash_permits`] is free, waiting at most [`PERMIT_WAIT`].
pub async fn run_limited<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Busy> {
    let permit = tokio::time::timeout(PERMIT_WAIT, state.hash_permits.clone().acquire_owned())
        .await
        .map_err(|_| {
            tracing::warn!("argon2 permits exhausted; answering busy");
            Busy
        })?
        .map_err(|_| Busy)?;
    let result = web::block(move || {
        let value = f();
        // The permit is held until the hash has finished, even if the request was dropped.
        drop(permit);
        value
    })
    .await;
    result.map_err(|_| Busy)
}
