//! Server-side state of the identity server behind async, fallible traits, with two backends
//! that run one conformance suite: [`embedded`] (one redb database file in the data directory,
//! the default: `cargo run` needs nothing) and [`redis`] (N replicas on one shared Redis).
//!
//! The traits own every piece of state a handler needs beyond the request: pending authorize
//! requests, login transactions, browser sessions, authorization codes (with reuse detection),
//! grants with refresh rotation, access-token records, created user accounts, failed-login
//! counters (reserved before the hash), second-factor budgets per account and fixed-window
//! quotas (account creation, client authentication). Records are in [`records`]; the counting
//! rules both backends follow are in [`rules`].
//!
//! Invariants every implementation keeps:
//! - **Every single-use step is one atomic operation** (a redb write transaction, or one Redis
//!   command or Lua script): `take` of an authorize request or a login transaction, `redeem` of a
//!   code, `rotate` of a refresh token, `begin_attempt` of a lockout counter, `begin_challenge`
//!   of a second-factor budget, `reserve` of a quota. Of N concurrent callers exactly one wins.
//! - **Secrets are keys only as SHA-256 digests** ([`digest`]): callers pass the digest of a
//!   session handle, code, refresh token, login-transaction id or authorize-request id, never the
//!   secret itself. `jti`, `sid` and grant ids are not bearer secrets.
//! - **A failure is an error, never a guess**: an unreachable or corrupt store answers
//!   [`StoreError`], which handlers turn into 503 / `temporarily_unavailable` with nothing issued.
//! - Records carry their own expiry and are re-checked on read (defence in depth next to TTLs).
//! - **Every session and every grant is indexed under its subject** in the step that writes,
//!   removes or expires it, bounded by [`MAX_SESSIONS_PER_SUBJECT`] and
//!   [`MAX_GRANTS_PER_SUBJECT`]: "sign out everywhere" ([`SessionStore::end_all`],
//!   [`GrantStore::revoke_for_subject`]) reaches all of them.

pub mod embedded;
pub mod migrate;
pub mod records;
pub mod redis;
pub mod rules;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use rules::{BudgetPolicy, ChallengeBudget};

pub use records::{
    AccessTokenRecord, AuthorizeRequest, CodeRecord, CodeUse, Grant, LockoutKey, LoginTransaction,
    Purpose, RefreshUse, SecondFactorProof, Session, SessionDevice, StoredUser, TransactionId,
};

/// A boxed future, so that store traits stay object safe and can be backed by network stores.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed. Handlers answer 503 / `temporarily_unavailable`: nothing may
/// be issued on a failed store call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time (Redis down, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered, but the operation failed (a full disk, a refused write, a bug).
    #[error("store failed: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("store record undecodable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A backend failure with context.
    pub fn backend(context: &str, e: impl fmt::Display) -> Self {
        Self::Backend(format!("{context}: {e}"))
    }
}

/// The store key of a secret: base64url (no padding) of its SHA-256. 256-bit random secrets need
/// no salt or slow hash.
pub fn digest(secret: &str) -> String {
    crate::oidc::sha256_b64(secret)
}

/// Most pending authorize requests of all networks together, on either backend.
pub const MAX_PENDING_AUTHORIZE_REQUESTS: u32 = 100_000;

/// Why a bounded store refused an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The store holds its maximum of live entries.
    Total,
    /// The owner (a network, a session) holds its maximum of live entries.
    Owner,
}

/// Pending authorize requests, waiting for a sign-in, keyed by the digest of a random id.
pub trait AuthorizeRequestStore: Send + Sync + fmt::Debug {
    /// Stores `request` under `key` until `expires_at` (unix seconds), counted against the
    /// caller's `network` (see [`crate::throttle::network_key`]): at most `max_per_network` live
    /// requests per network, and a bounded total. `Ok(Err(_))` says which bound refused it.
    fn put<'a>(
        &'a self,
        key: &'a str,
        request: &'a AuthorizeRequest,
        expires_at: i64,
        network: &'a str,
        max_per_network: u32,
    ) -> StoreFuture<'a, Result<(), Full>>;
    /// The request, if present and not expired.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<AuthorizeRequest>>;
    /// Removes and returns the request (single use, atomic).
    fn take<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<AuthorizeRequest>>;
}

/// Login transactions (the MFA step), keyed by the digest of the transaction id.
pub trait LoginTransactionStore: Send + Sync + fmt::Debug {
    /// Stores a new transaction until its `expires`.
    fn insert<'a>(&'a self, transaction: &'a LoginTransaction) -> StoreFuture<'a, ()>;
    /// Removes the transaction with this id and returns it, unless it is unknown or expired.
    /// Atomic: of concurrent takes of one id, at most one gets it.
    fn take<'a>(&'a self, id: &'a TransactionId) -> StoreFuture<'a, Option<LoginTransaction>>;
}

/// Most sessions one subject holds. A sign-in that would make one more ends the subject's least
/// recently used session (the one with the oldest `last_seen`; sessions past their idle timeout
/// go first), so that the list a user sees, and every index behind it, stays bounded.
pub const MAX_SESSIONS_PER_SUBJECT: usize = 50;

/// Most unexpired grants indexed per subject. A grant that would make one more revokes the
/// subject's oldest grant (the one expiring first), so that "sign out everywhere" stays bounded
/// and reaches every grant.
pub const MAX_GRANTS_PER_SUBJECT: usize = 200;

/// Signed-in browser sessions, keyed by the digest of the cookie's secret handle.
///
/// **Every session is indexed under its subject**, in the same atomic step as its write, its
/// removal and its expiry, so that a subject's sessions can be listed and ended together; the
/// index holds at most [`MAX_SESSIONS_PER_SUBJECT`] sessions per subject.
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// Stores a session until its absolute expiry `expires_at` (unix seconds), like
    /// [`SessionStore::create`], for callers that replace a session under its key (the
    /// sessions a new key would end past the cap are not reported: sign-ins use `create`).
    fn put<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.create(key, session, expires_at).await.map(drop) })
    }
    /// Stores a session (new, or replacing the record under `key`) until `expires_at` and
    /// indexes it under its subject, atomically. When the subject would hold more than
    /// [`MAX_SESSIONS_PER_SUBJECT`] sessions, the least recently used ones are ended in the same
    /// step and returned (their clients are owed a back-channel logout).
    fn create<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, Vec<Session>>;
    /// Replaces the session under `old_key` with `session` under `new_key` (the same key to
    /// change it in place) until `expires_at`, atomically and **only while a live session is
    /// still under `old_key`**: `false`, with nothing written, when it has ended meanwhile
    /// (signed out, ended from the sessions page or by "sign out everywhere", expired). A
    /// request that read a session before it ended can therefore never write it back. The
    /// subject's count of sessions does not change, so nothing is ended past the cap.
    fn replace<'a>(
        &'a self,
        old_key: &'a str,
        new_key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, bool>;
    /// The subject's sessions that are live at `now` under both timeouts, newest first. Display
    /// only: it bumps no `last_seen`.
    fn list<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
        idle_secs: i64,
        absolute_secs: i64,
    ) -> StoreFuture<'a, Vec<Session>>;
    /// Ends the subject's session whose public id is `sid` and returns it, atomically (of
    /// concurrent ends, one gets it). A `sid` of another subject's session, or of none, ends
    /// nothing and answers `None`.
    fn end<'a>(&'a self, subject: &'a str, sid: &'a str) -> StoreFuture<'a, Option<Session>>;
    /// Ends every session of the subject and returns the ended ones.
    fn end_all<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<Session>>;
    /// The session if it exists and neither timeout has passed at `now`; bumps `last_seen` in
    /// the same step. An expired session is removed.
    fn touch<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        idle_secs: i64,
        absolute_secs: i64,
    ) -> StoreFuture<'a, Option<Session>>;
    /// Ends a session.
    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

/// Authorization codes, keyed by the digest of the code.
pub trait CodeStore: Send + Sync + fmt::Debug {
    /// Stores a new code; `false` when the code's session (`record.sid`) holds `max_per_session`
    /// unredeemed codes or the store is full (answer `temporarily_unavailable`). The record is
    /// kept for [`records::CODE_REUSE_MEMORY_SECS`] past its expiry for reuse detection.
    fn put<'a>(
        &'a self,
        key: &'a str,
        record: &'a CodeRecord,
        max_per_session: u32,
    ) -> StoreFuture<'a, bool>;
    /// Marks the code used, atomically, returning what it was bound to: the first caller gets
    /// [`CodeUse::First`], every later one [`CodeUse::Reused`].
    fn redeem<'a>(&'a self, key: &'a str) -> StoreFuture<'a, CodeUse>;
    /// Remembers which grant the code's redemption created (so that a replay revokes it).
    fn set_grant<'a>(&'a self, key: &'a str, grant_id: &'a str) -> StoreFuture<'a, ()>;
}

/// Grants and their refresh-token chains (durable before acknowledged).
pub trait GrantStore: Send + Sync + fmt::Debug {
    /// Stores a new grant (with its current refresh-token digest, if any). `false` when the id
    /// was revoked before it was created (a replay of the code raced its first redemption):
    /// nothing is stored, and nothing may be issued for it.
    fn create<'a>(&'a self, grant: &'a Grant) -> StoreFuture<'a, bool>;
    /// The grant by id (revoked ones too, until they expire).
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>>;
    /// The grant that issued the refresh token with this digest (current or rotated away).
    fn find_by_refresh<'a>(&'a self, refresh_hash: &'a str) -> StoreFuture<'a, Option<Grant>>;
    /// Atomically replaces the current refresh token `old_hash` by `new_hash` at `now`.
    /// The previous token presented within `reuse_interval_secs` of its rotation also rotates
    /// (its answer may have been lost); any other rotated-away token revokes the grant
    /// ([`RefreshUse::Reused`]). See [`rules::rotate`].
    fn rotate<'a>(
        &'a self,
        old_hash: &'a str,
        new_hash: &'a str,
        now: i64,
        reuse_interval_secs: i64,
    ) -> StoreFuture<'a, RefreshUse>;
    /// Revokes a grant (and with it its refresh and access tokens). An id not created yet is
    /// remembered as revoked for [`records::GRANT_TOMBSTONE_SECS`], so that a creation racing
    /// the revocation fails.
    fn revoke<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    /// Revokes every unrevoked grant of `subject` — only those issued in session `sid` when it
    /// is given — and returns how many. Grants are indexed under their subject when created
    /// (at most [`MAX_GRANTS_PER_SUBJECT`], see there), so this reaches grants whose session
    /// has ended too.
    fn revoke_for_subject<'a>(
        &'a self,
        subject: &'a str,
        sid: Option<&'a str>,
    ) -> StoreFuture<'a, usize>;
}

/// Whether grant `id` exists, is not revoked and has not expired at `now`.
pub async fn grant_is_active(
    grants: &dyn GrantStore,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(grants
        .get(id)
        .await?
        .is_some_and(|g| !g.revoked && g.expires_at > now))
}

/// Access-token records keyed by `jti`.
pub trait AccessTokenStore: Send + Sync + fmt::Debug {
    /// Stores a record until its expiry; `false` when the store is full (the token must not be
    /// issued: introspection could not answer for it).
    fn put<'a>(&'a self, jti: &'a str, record: &'a AccessTokenRecord) -> StoreFuture<'a, bool>;
    /// The record, if present and not expired.
    fn get<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, Option<AccessTokenRecord>>;
    /// Marks the token revoked.
    fn revoke<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, ()>;
}

/// Accounts created at run time (configured accounts live in the settings; see
/// [`crate::users::Users`], which combines both).
pub trait UserStore: Send + Sync + fmt::Debug {
    /// The account whose lowercased username is `username_lower`.
    fn find_by_username<'a>(
        &'a self,
        username_lower: &'a str,
    ) -> StoreFuture<'a, Option<StoredUser>>;
    /// The account with this subject.
    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<StoredUser>>;
    /// Creates the account unless its lowercased username is taken (`Ok(false)`), atomically:
    /// of two concurrent creations of one name, one wins. Durable before it answers.
    fn create<'a>(&'a self, user: &'a StoredUser) -> StoreFuture<'a, bool>;
}

/// Failed-login counters with lockout (see [`rules::LockoutCounter`] for the rules).
pub trait FailedLoginStore: Send + Sync + fmt::Debug {
    /// Whether the key is locked at the moment.
    fn is_locked<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, bool>;
    /// Reserves one password check for the key, atomically: refuses (`false`) while the key is
    /// locked or its failures plus the attempts in flight have reached `max`; otherwise counts
    /// the attempt as in flight. With `count_in_flight = false` only the lock and the failures
    /// are checked and nothing is reserved (the per-address key: parallel correct logins from one
    /// address must not refuse each other). Every reserved attempt ends with
    /// [`FailedLoginStore::fail_attempt`] or [`FailedLoginStore::forgive`].
    fn begin_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
        max: u32,
        count_in_flight: bool,
    ) -> StoreFuture<'a, bool>;
    /// Counts a failure (ending a reserved attempt when `reserved`); returns the failures left
    /// before the key locks: 0 when it is locked now (by this failure or before it).
    fn fail_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
        max: u32,
        reserved: bool,
    ) -> StoreFuture<'a, u32>;
    /// Ends a reserved attempt without counting it.
    fn forgive<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, ()>;
    /// Forgets the failures of a key (after a complete sign-in of that user). An active lockout
    /// and attempts in flight stay.
    fn reset<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, ()>;
    /// Counts a second-factor challenge about to start against the budget of the account with
    /// this `subject`, atomically: refused while the account's second factor is blocked, and of
    /// N concurrent calls at most the budget's maximum are allowed (see
    /// [`rules::SecondFactorBudget::begin`]).
    fn begin_challenge<'a>(
        &'a self,
        subject: &'a str,
        policy: BudgetPolicy,
    ) -> StoreFuture<'a, ChallengeBudget>;
    /// A challenge counted by [`FailedLoginStore::begin_challenge`] passed: its count is
    /// forgiven and the escalation forgotten (see [`rules::SecondFactorBudget::passed`]).
    fn challenge_passed<'a>(
        &'a self,
        subject: &'a str,
        policy: BudgetPolicy,
    ) -> StoreFuture<'a, ()>;
}

/// The name under which a store keeps the second-factor budget of the account `subject`:
/// `sf:` and the SHA-256 of the subject (like every per-user key).
pub fn budget_key(subject: &str) -> String {
    format!("sf:{}", digest(subject))
}

/// One counter of a [`QuotaStore`] reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaKey {
    /// What is counted, e.g. `cq:n:203.0.113.7` (never a secret or a raw username).
    pub key: String,
    /// At most this many per window.
    pub max: u32,
    /// The window, in seconds, starting at the key's first count.
    pub window_secs: i64,
}

/// A reservation refused by the counter at `index` of the request; retry after `retry_after_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaRefused {
    /// Which of the requested keys was at its maximum.
    pub index: usize,
    /// Seconds until that key's window ends (at least 1).
    pub retry_after_secs: u64,
}

/// Fixed-window counters for throttles that must act before expensive work (account creation
/// per network and globally; failed client authentication per client and per network).
pub trait QuotaStore: Send + Sync + fmt::Debug {
    /// Counts one for every key, or for none when any key is at its maximum (atomic).
    fn reserve<'a>(&'a self, keys: &'a [QuotaKey]) -> StoreFuture<'a, Result<(), QuotaRefused>>;
    /// Gives one back to every key (the reserved work turned out not to count).
    fn give_back<'a>(&'a self, keys: &'a [QuotaKey]) -> StoreFuture<'a, ()>;
}

/// Every store of the identity server, on one backend.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Pending authorize requests.
    pub authorize_requests: Arc<dyn AuthorizeRequestStore>,
    /// Login transactions.
    pub transactions: Arc<dyn LoginTransactionStore>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Authorization codes.
    pub codes: Arc<dyn CodeStore>,
    /// Grants and refresh tokens.
    pub grants: Arc<dyn GrantStore>,
    /// Access-token records.
    pub access_tokens: Arc<dyn AccessTokenStore>,
    /// Created accounts.
    pub users: Arc<dyn UserStore>,
    /// Failed-login counters.
    pub failed_logins: Arc<dyn FailedLoginStore>,
    /// Fixed-window quotas.
    pub quotas: Arc<dyn QuotaStore>,
    /// Whether the backend answers (readiness).
    pub health: Arc<dyn StoreHealth>,
}

/// Readiness of a backend.
pub trait StoreHealth: Send + Sync + fmt::Debug {
    /// `Ok` when the backend answers.
    fn check(&self) -> StoreFuture<'_, ()>;
    /// A short name of the backend for logs (`"embedded"`, `"redis"`).
    fn name(&self) -> &'static str;
}
