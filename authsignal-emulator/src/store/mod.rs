//! State behind small traits, so that a shared store could replace the embedded one.
//!
//! - [`embedded::DurableStore`]: users, authenticators, recovery codes and actions, in memory and
//!   (unless in-memory mode) persisted to `<data_dir>/emulator-state.json` on every
//!   acknowledged write: write a temporary file, fsync, rename, fsync the directory.
//! - [`ephemeral::EphemeralStore`]: hosted sessions, the outbox, Server API challenges and
//!   sessions, Client API passkey challenges, in memory only (they are short-lived by nature).
//!
//! Every compound change that must not race (a TOTP step accepted once, a recovery code used
//! once, an action created once per idempotency key, a passkey credential id registered once,
//! a passkey counter that must rise, a passkey challenge answered once) is one trait method,
//! done under one lock.

pub mod embedded;
pub mod ephemeral;
pub mod models;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use models::*;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data file could not be read or written.
    #[error("data file '{path}': {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The data file exists but is not valid.
    #[error("data file '{path}' is not valid: {source}")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Short for `Result<T, StoreError>`.
pub type StoreResult<T> = Result<T, StoreError>;

/// Users.
pub trait UserStore: Send + Sync {
    /// A user, if known.
    fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// Creates the user if absent, applies `update`, stores and returns it.
    fn upsert_user(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
        update: &mut dyn FnMut(&mut User),
    ) -> StoreResult<User>;
    /// Deletes a user with their authenticators and recovery codes. `false` if unknown.
    fn delete_user(&self, user_id: &str) -> StoreResult<bool>;
    /// All users, ordered by id.
    fn list_users(&self) -> StoreResult<Vec<User>>;
}

/// The result of removing an authenticator on the settings page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// Removed.
    Removed,
    /// No such authenticator.
    NotFound,
    /// It is the user's last one: kept.
    LastOne,
}

/// Authenticators and recovery codes.
pub trait AuthenticatorStore: Send + Sync {
    /// A user's authenticators, oldest first.
    fn list_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>>;
    /// Adds an authenticator (the user must exist: see [`UserStore::upsert_user`]).
    fn insert_authenticator(&self, authenticator: Authenticator) -> StoreResult<()>;
    /// Deletes one. `false` if unknown.
    fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Deletes one unless it is the user's last.
    fn delete_authenticator_unless_last(
        &self,
        user_id: &str,
        id: &str,
    ) -> StoreResult<RemoveOutcome>;
    /// Records that a TOTP code of `step` was accepted, only if `step` is after the last
    /// accepted one. `false` means a replay (or an unknown authenticator).
    fn accept_totp_step(
        &self,
        user_id: &str,
        id: &str,
        step: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Records a successful use.
    fn mark_used(&self, user_id: &str, id: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// The passkey with this credential id, if any (any user).
    fn find_passkey(&self, credential_id: &str) -> StoreResult<Option<Authenticator>>;
    /// Adds a passkey unless its credential id is held already (by anyone): one atomic step,
    /// so two registrations of one credential cannot both succeed. `false` means held.
    fn insert_passkey_if_unused(&self, authenticator: Authenticator) -> StoreResult<bool>;
    /// Records a verified assertion: stores `sign_count`, the BS flag and the last use, only if
    /// the counter still rises (re-checked under the lock, so two concurrent assertions with
    /// one counter value cannot both pass). `false` means refused (or no such passkey).
    fn record_passkey_use(
        &self,
        credential_id: &str,
        sign_count: u32,
        backup_state: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Replaces a user's recovery codes (hashes).
    fn set_recovery_codes(&self, user_id: &str, hashes: Vec<String>) -> StoreResult<()>;
    /// Marks the code with this hash used; `false` if unknown or already used.
    fn consume_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool>;
    /// Unused recovery codes left.
    fn remaining_recovery_codes(&self, user_id: &str) -> StoreResult<usize>;
}

/// Actions.
pub trait ActionStore: Send + Sync {
    /// An action, if known.
    fn get_action(&self, key: &ActionKey) -> StoreResult<Option<Action>>;
    /// Inserts `action` unless one with the same key exists; returns the stored action and
    /// whether it was created (the idempotency-key dedupe).
    fn insert_action_if_absent(&self, action: Action) -> StoreResult<(Action, bool)>;
    /// Applies `update` to an action and stores it.
    fn update_action(
        &self,
        key: &ActionKey,
        update: &mut dyn FnMut(&mut Action),
    ) -> StoreResult<Option<Action>>;
    /// A user's actions, newest first.
    fn list_actions(&self, user_id: &str) -> StoreResult<Vec<Action>>;
    /// Deletes a user's actions.
    fn delete_actions(&self, user_id: &str) -> StoreResult<()>;
}

/// Hosted-page sessions.
pub trait HostedSessionStore: Send + Sync {
    /// Stores a new session (dropping expired ones).
    fn create_session(&self, session: HostedSession);
    /// A live session.
    fn get_session(&self, id: &str, now: DateTime<Utc>) -> Option<HostedSession>;
    /// Applies `update` to a live session.
    fn update_session(
        &self,
        id: &str,
        now: DateTime<Utc>,
        update: &mut dyn FnMut(&mut HostedSession),
    ) -> Option<HostedSession>;
    /// Ends a session.
    fn delete_session(&self, id: &str);
}

/// The dev outbox.
pub trait OutboxStore: Send + Sync {
    /// Adds a message.
    fn push_message(&self, message: OutboxMessage);
    /// Every message, oldest first.
    fn messages(&self) -> Vec<OutboxMessage>;
    /// Adds a notice (`POST /dev/notices`).
    fn push_notice(&self, notice: OutboxNotice);
    /// Every notice, oldest first.
    fn notices(&self) -> Vec<OutboxNotice>;
}

/// Server API OTP challenges.
pub trait ChallengeStore: Send + Sync {
    /// Stores a challenge.
    fn insert_challenge(&self, challenge: ServerChallenge);
    /// A challenge by id.
    fn get_challenge(&self, id: &str) -> Option<ServerChallenge>;
    /// Applies `update` to a challenge.
    fn update_challenge(
        &self,
        id: &str,
        update: &mut dyn FnMut(&mut ServerChallenge),
    ) -> Option<ServerChallenge>;
    /// All challenges (for the filters of `GET /challenges`).
    fn list_challenges(&self) -> Vec<ServerChallenge>;
}

/// Client API passkey challenges (short-lived, single use).
pub trait PasskeyChallengeStore: Send + Sync {
    /// Stores a challenge (dropping expired ones; bounded).
    fn insert_passkey_challenge(&self, challenge: PasskeyChallenge);
    /// Applies `update` to a live, unanswered challenge; `None` if unknown or expired.
    fn update_passkey_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
        update: &mut dyn FnMut(&mut PasskeyChallenge),
    ) -> Option<PasskeyChallenge>;
    /// Removes and returns a challenge, expired or not: an answer consumes it whatever the
    /// outcome, so it can never be tried twice.
    fn take_passkey_challenge(&self, id: &str) -> Option<PasskeyChallenge>;
}

/// Sessions from `POST /sessions`.
pub trait SessionStore: Send + Sync {
    /// Stores a session.
    fn insert_auth_session(&self, session: SessionRecord);
    /// A session by access-token id.
    fn get_auth_session(&self, jti: &str) -> Option<SessionRecord>;
    /// Finds the live session holding this refresh-token hash and revokes it (rotation).
    fn take_by_refresh_hash(&self, refresh_hash: &str) -> Option<SessionRecord>;
    /// Revokes one session.
    fn revoke_auth_session(&self, jti: &str) -> bool;
    /// Revokes every session of a user.
    fn revoke_user_auth_sessions(&self, user_id: &str) -> usize;
}

/// Something that can forget everything (the handle's `reset`).
pub trait Reset: Send + Sync {
    /// Forgets all records.
    fn clear(&self) -> StoreResult<()>;
}

/// The stores one emulator uses.
#[derive(Clone)]
pub struct Stores {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Authenticators and recovery codes.
    pub authenticators: Arc<dyn AuthenticatorStore>,
    /// Actions.
    pub actions: Arc<dyn ActionStore>,
    /// Hosted sessions.
    pub hosted: Arc<dyn HostedSessionStore>,
    /// Outbox.
    pub outbox: Arc<dyn OutboxStore>,
    /// Server API challenges.
    pub challenges: Arc<dyn ChallengeStore>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Client API passkey challenges.
    pub passkey_challenges: Arc<dyn PasskeyChallengeStore>,
    resets: Vec<Arc<dyn Reset>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// The embedded stores: durable records in `data_dir` (loaded now), or in memory only.
    pub fn embedded(data_dir: Option<&Path>) -> StoreResult<Stores> {
        let durable = Arc::new(embedded::DurableStore::open(data_dir)?);
        let ephemeral = Arc::new(ephemeral::EphemeralStore::default());
        Ok(Stores {
            users: durable.clone(),
            authenticators: durable.clone(),
            actions: durable.clone(),
            hosted: ephemeral.clone(),
            outbox: ephemeral.clone(),
            challenges: ephemeral.clone(),
            sessions: ephemeral.clone(),
            passkey_challenges: ephemeral.clone(),
            resets: vec![durable, ephemeral],
        })
    }

    /// Forgets users, authenticators, actions, sessions and the outbox.
    pub fn reset(&self) -> StoreResult<()> {
        for store in &self.resets {
            store.clear()?;
        }
        Ok(())
    }
}
