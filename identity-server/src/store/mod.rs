//! Server-side state behind small traits, so that a shared store (Redis) can replace the
//! embedded one for several replicas.
//!
//! The embedded default ([`memory`] and [`mod@file`]) keeps short-lived state (pending authorize
//! requests, sessions, codes, access-token records) in memory and durable state (accounts created
//! at run time, refresh-token grants) in the data directory, written atomically and synced
//! before a write is acknowledged. Signing keys are kept by [`crate::keys`].
//!
//! The traits are synchronous with internal locks: every operation is a map lookup or a short
//! append. [`UserStore::verify_password`] and [`UserStore::create`] run Argon2id (about 12 ms,
//! 19 MiB): call them through [`crate::hashing::run_limited`].

pub mod file;
pub mod memory;

use serde::{Deserialize, Serialize};

use crate::domain::{NewUser, User};
use crate::oidc::authorize::AuthorizeRequest;

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateUserError {
    /// Another account has this username.
    #[error("the username is taken")]
    UsernameTaken,
    /// The account could not be written.
    #[error("storage: {0}")]
    Storage(String),
}

/// A durable-store failure.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

/// User accounts.
pub trait UserStore: Send + Sync {
    /// The account with this username (case-insensitive).
    fn find_by_username(&self, username: &str) -> Option<User>;
    /// The account with this subject.
    fn find_by_subject(&self, subject: &str) -> Option<User>;
    /// The account when the password matches. For an unknown user a dummy hash is verified so
    /// that both failures take about the same time. CPU-heavy: call through
    /// [`crate::hashing::run_limited`].
    fn verify_password(&self, username: &str, password: &str) -> Option<User>;
    /// Creates an account with a fresh subject id (UUID v4). CPU-heavy: call through
    /// [`crate::hashing::run_limited`].
    fn create(&self, new_user: NewUser) -> Result<User, CreateUserError>;
}

/// Why a bounded store refused an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The store holds its maximum of live entries.
    Total,
    /// The owner (a network, a session) holds its maximum of live entries.
    Owner,
}

/// Pending authorize requests, waiting for a sign-in under a random id.
pub trait AuthorizeRequestStore: Send + Sync {
    /// Stores `request` under `id` until `expires_at` (unix seconds), counted against the
    /// caller's `network` (see [`crate::throttle::network_key`]). Anyone can create pending
    /// requests, so the store is bounded in total and per network (answer 429).
    fn put(
        &self,
        id: &str,
        request: AuthorizeRequest,
        expires_at: i64,
        network: &str,
    ) -> Result<(), Full>;
    /// The request, if present and not expired.
    fn get(&self, id: &str) -> Option<AuthorizeRequest>;
    /// Removes and returns the request (single use).
    fn take(&self, id: &str) -> Option<AuthorizeRequest>;
}

/// A signed-in browser session of the identity server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// Public session id (the `sid` claim of ID tokens); 256 random bits, base64url. It is NOT
    /// the cookie: the store key is the SHA-256 of the cookie's separate secret handle.
    pub sid: String,
    /// The user.
    pub subject: String,
    /// When the user authenticated (unix seconds).
    pub auth_time: i64,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// Persistent cookie.
    pub remember: bool,
    /// Created (unix seconds): the absolute timeout counts from here.
    pub created: i64,
    /// Last use (unix seconds): the idle timeout counts from here.
    pub last_seen: i64,
}

/// Sessions.
pub trait SessionStore: Send + Sync {
    /// Stores a new session under `key` (the SHA-256 of the cookie handle, see
    /// [`crate::signin::session_key`]) until its absolute expiry `expires_at` (unix seconds),
    /// after which the store may drop it.
    fn put(&self, key: &str, session: Session, expires_at: i64);
    /// The session if it exists and neither timeout has passed; refreshes `last_seen`.
    fn touch(&self, key: &str, now: i64, idle_secs: i64, absolute_secs: i64) -> Option<Session>;
    /// Ends a session.
    fn remove(&self, key: &str);
}

/// What an authorization code is bound to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorize request.
    pub redirect_uri: String,
    /// PKCE S256 challenge, if one was sent.
    pub code_challenge: Option<String>,
    /// The nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// The user.
    pub subject: String,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Session id.
    pub sid: String,
    /// Granted scopes.
    pub scope: Vec<String>,
    /// Expiry (unix seconds).
    pub expires_at: i64,
    /// The grant created when the code was redeemed.
    pub grant_id: Option<String>,
}

/// Result of redeeming a code.
#[derive(Debug)]
pub enum CodeUse {
    /// First use: the record.
    First(CodeRecord),
    /// Second use: the record as stored (its `grant_id` names what must be revoked).
    Reused(CodeRecord),
    /// Unknown or long gone.
    Unknown,
}

/// Authorization codes, keyed by a SHA-256 of the code.
pub trait CodeStore: Send + Sync {
    /// Stores a new code; `false` when the store or the code's session (`record.sid`) holds its
    /// maximum of codes (answer `temporarily_unavailable`).
    fn put(&self, code_hash: &str, record: CodeRecord) -> bool;
    /// Marks the code used, returning what it was bound to. A used code is remembered (for
    /// reuse detection) for a while after its expiry.
    fn redeem(&self, code_hash: &str) -> CodeUse;
    /// Remembers which grant the code's redemption created.
    fn set_grant(&self, code_hash: &str, grant_id: &str);
}

/// A grant: what a user allowed a client, with its refresh-token chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// Random id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// Granted scopes.
    pub scope: Vec<String>,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Session id at sign-in.
    pub sid: String,
    /// Created (unix seconds).
    pub created: i64,
    /// Absolute end of the grant (unix seconds).
    pub expires_at: i64,
    /// SHA-256 of the current refresh token, if the grant has one.
    pub refresh_hash: Option<String>,
    /// SHA-256 of every refresh token already rotated away (reuse revokes the grant).
    pub rotated: Vec<String>,
    /// Revoked grants stay until they expire, so that reuse keeps being detected.
    pub revoked: bool,
}

/// Result of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshUse {
    /// The current token: the grant, now carrying `new_hash`.
    Rotated(Grant),
    /// A token already rotated away: the grant has been revoked.
    Reused(Grant),
    /// Unknown, expired or revoked.
    Invalid,
}

/// Grants (durable in the embedded store).
pub trait GrantStore: Send + Sync {
    /// Stores a new grant.
    fn create(&self, grant: Grant) -> Result<(), StoreError>;
    /// The grant by id.
    fn get(&self, id: &str) -> Option<Grant>;
    /// The grant whose current or rotated refresh token has this hash.
    fn find_by_refresh(&self, refresh_hash: &str) -> Option<Grant>;
    /// Atomically replaces the current refresh token `old_hash` by `new_hash`; a rotated-away
    /// `old_hash` revokes the grant.
    fn rotate(&self, old_hash: &str, new_hash: &str, now: i64) -> Result<RefreshUse, StoreError>;
    /// Revokes a grant (and with it its refresh and access tokens).
    fn revoke(&self, id: &str) -> Result<(), StoreError>;
    /// Whether the grant exists, is not revoked and has not expired.
    fn is_active(&self, id: &str, now: i64) -> bool {
        self.get(id)
            .is_some_and(|g| !g.revoked && g.expires_at > now)
    }
}

/// What the provider remembers of an issued access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    /// The client.
    pub client_id: String,
    /// The user (or the client id for client credentials).
    pub subject: String,
    /// Scopes.
    pub scope: Vec<String>,
    /// Audiences.
    pub aud: Vec<String>,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// The grant it belongs to (code and refresh flows).
    pub grant_id: Option<String>,
    /// Revoked by RFC 7009 revocation.
    pub revoked: bool,
}

/// Access-token records keyed by `jti`.
pub trait AccessTokenStore: Send + Sync {
    /// Stores a record until its expiry; `false` when the store is full (the token must not be
    /// issued: introspection could not answer for it).
    fn put(&self, jti: &str, record: AccessTokenRecord) -> bool;
    /// The record, if present and not expired.
    fn get(&self, jti: &str) -> Option<AccessTokenRecord>;
    /// Marks the token revoked.
    fn revoke(&self, jti: &str);
}
