//! Server-side store of signed-in sessions: the tokens and claims are kept here, keyed by a
//! random id, so that the encrypted session cookie stays far below the 4 KB cookie limit and
//! tokens never travel back to the browser.
//!
//! [`SessionStore`] is async and fallible; a failing store is a [`StoreError`], which the pages
//! turn into a 503 (nothing half-done, never a panic). Two backends, one conformance suite
//! (`tests/it/store.rs`):
//! - [`EmbeddedStore`] (the default): one redb database file, `data_dir/sessions.redb`, so
//!   signed-in sessions survive a restart and a SIGKILL; in memory when there is no data dir.
//!   Its refresh lock is in-process (one process owns the file).
//! - [`RedisStore`] (`store.url = "redis://…"`): one Redis shared by every replica, with a
//!   refresh lock that holds across replicas.
//!
//! Both keep a session under the SHA-256 digest of its id ([`digest`]) and its value sealed
//! with AES-256-GCM under a key derived from the session key ([`Sealer`]), so the raw file or
//! Redis holds neither a usable session id nor a token.
//!
//! # Back-channel logout
//!
//! A verified logout token ([`crate::backchannel`]) is recorded with
//! [`SessionStore::record_logout`] as one atomic step: its `jti` is inserted if absent (a token
//! is accepted once, also across replicas) and, only then, a **logout marker** is written: "the
//! provider session `sid` has ended" or, for a token with only `sub`, "every session of `sub`
//! created at or before T has ended". [`SessionStore::get`] checks the markers of the session's
//! `sid` and `sub` and treats (and removes) a marked session as signed out.
//!
//! Markers rather than an index from `sid`/`sub` to session ids, because:
//! - they are atomic and bounded on both backends with the primitives the sessions already
//!   use: one key per marker with an expiry (one redb row with an expiry-index entry, swept like
//!   sessions; one Redis key with `PXAT`), written in the same transaction or Lua script as
//!   the `jti`. An index would be a set per `sid`/`sub` to keep in step with every put, remove,
//!   expiry and sweep of a session, growing with the sessions of a user.
//! - they also catch a session stored *after* the logout token arrived (a code exchange that
//!   was in flight while the user signed out at the identity server): the check is on every
//!   read, not a one-time delete.
//! - a marker lives [`Logout::marker_expires_at`]: the session lifetime plus the time a
//!   sign-in may take to finish, so every session it can match has expired before it does.
//!
//! The time of a `sub` marker is the receiving replica's clock and `created_at` the signing-in
//! replica's: replicas are expected to keep their clocks in step (NTP). Tokens of our identity
//! server always carry `sid`, whose marker does not depend on any clock.

mod embedded;
mod redis;
mod seal;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub use self::embedded::EmbeddedStore;
pub use self::redis::{RedisOptions, RedisStore};
pub use self::seal::{Sealer, digest};
use crate::secret::Secret;

/// Whom a verified logout token signs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogoutTarget {
    /// The provider session with this `sid`: every local session that recorded it.
    Session(String),
    /// Every local session of this `sub` created at or before [`Logout::at`] (a token without
    /// `sid`).
    Subject(String),
}

/// A verified logout token, as the store records it.
#[derive(Clone, Debug)]
pub struct Logout {
    /// The token's `jti`: recorded once; a second token with it is a replay.
    pub jti: String,
    /// Until when the `jti` is remembered: past it the token is refused for its age anyway.
    pub jti_expires_at: DateTime<Utc>,
    /// Whom it signs out.
    pub target: LogoutTarget,
    /// When it was received.
    pub at: DateTime<Utc>,
    /// Until when the marker is kept: longer than any session it can match lives.
    pub marker_expires_at: DateTime<Utc>,
}

/// The key of a logout record in either backend (`jti:`, `sid:` or `sub:` and the digest of
/// the value: the raw store holds no token id and no provider session id).
fn logout_key(kind: &str, value: &str) -> String {
    format!("{kind}:{}", digest(value))
}

fn jti_key(jti: &str) -> String {
    logout_key("jti", jti)
}

fn sid_key(sid: &str) -> String {
    logout_key("sid", sid)
}

fn sub_key(sub: &str) -> String {
    logout_key("sub", sub)
}

impl Logout {
    /// The marker's key and, for a `sub` marker, the time sessions created up to are ended
    /// (unix milliseconds).
    fn marker(&self) -> (String, Option<i64>) {
        match &self.target {
            LogoutTarget::Session(sid) => (sid_key(sid), None),
            LogoutTarget::Subject(sub) => (sub_key(sub), Some(self.at.timestamp_millis())),
        }
    }
}

/// Whether `session` is ended by the markers found for its `sid` (`sid_marked`) and its `sub`
/// (the time of the `sub` marker, unix milliseconds).
fn ended(session: &SignedIn, sid_marked: bool, sub_marker: Option<i64>) -> bool {
    (session.sid.is_some() && sid_marked)
        || sub_marker.is_some_and(|t| session.created_at.timestamp_millis() <= t)
}

/// What the web client knows about a signed-in user.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The `sub` claim.
    pub subject: String,
    /// The `sid` claim of the ID token (the identity server's session), if it had one: a
    /// back-channel logout token with this `sid` ends the session.
    pub sid: Option<String>,
    /// The verified ID token claims, as JSON (what the home page lists).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The raw ID token (sent back as `id_token_hint` on sign-out).
    pub id_token: Secret,
    /// The access token.
    pub access_token: Secret,
    /// When the access token expires (from `expires_in`), if the provider said.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<Secret>,
    /// The scopes granted (from the token response, else the ones requested).
    pub scopes: Vec<String>,
    /// When the session started.
    pub created_at: DateTime<Utc>,
    /// When the session ends, whatever happens (absolute lifetime).
    pub expires_at: DateTime<Utc>,
    /// How often the access token was refreshed in this session.
    pub refresh_count: u32,
}

/// A session store failed; the request is answered with a 503 and nothing is changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store did not answer within the configured timeout.
    #[error("session store did not answer within {0} ms")]
    Timeout(u128),
    /// The store could not be reached or failed the operation.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The refresh lock of a session stayed held elsewhere for longer than any refresh takes.
    #[error("the refresh lock of the session stayed held elsewhere")]
    LockBusy,
    /// A session could not be encoded or sealed for storage.
    #[error("session could not be encoded: {0}")]
    Encoding(String),
}

/// The boxed future every store operation returns (the trait is used as `dyn SessionStore`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Held while one request refreshes a session's tokens; give it back with
/// [`SessionStore::unlock_refresh`]. Dropping it releases an in-process lock at once; a Redis
/// lock that is never given back expires with its TTL.
#[derive(Debug)]
pub struct RefreshGuard(pub(crate) GuardKind);

#[derive(Debug)]
pub(crate) enum GuardKind {
    /// Released on drop.
    Local(#[allow(dead_code)] embedded::LocalGuard),
    /// Released by a compare-and-delete of this token.
    Remote { key: String, token: Secret },
}

/// Storage of signed-in sessions by id. Implementations are shared by every worker (and, for
/// Redis, every replica).
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores (or replaces) a session, durably before it returns.
    fn put<'a>(&'a self, id: &'a str, session: &'a SignedIn) -> StoreFuture<'a, ()>;
    /// The session if it exists and has not expired at `now`. A value that cannot be
    /// decrypted (another session key) counts as absent; so does a session a logout marker
    /// ends (see [`SessionStore::record_logout`]), which is removed.
    fn get<'a>(&'a self, id: &'a str, now: DateTime<Utc>) -> StoreFuture<'a, Option<SignedIn>>;
    /// Removes a session, returning it.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SignedIn>>;
    /// Waits until this caller alone may refresh the tokens of session `id` (bounded: an
    /// error after the longest a refresh can take).
    fn lock_refresh<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RefreshGuard>;
    /// Gives the refresh lock back (only if it is still this caller's).
    fn unlock_refresh(&self, guard: RefreshGuard) -> StoreFuture<'_, ()>;
    /// Records a verified logout token in one atomic step: inserts its `jti` unless it is
    /// already there and, only then, writes its logout marker (a `sub` marker keeps the later of
    /// two times). `Ok(false)`: the `jti` was seen before, nothing changed. An error changes
    /// nothing either, so the identity server's retry is not taken for a replay.
    fn record_logout<'a>(&'a self, logout: &'a Logout) -> StoreFuture<'a, bool>;
    /// Whether the store answers (for `/readyz`).
    fn ping(&self) -> StoreFuture<'_, ()>;
}

/// The form a session is serialised in before it is sealed. Secrets are plain strings here
/// only: this never leaves the process unencrypted.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    subject: String,
    /// Absent in sessions stored before back-channel logout was supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    id_token: String,
    access_token: String,
    access_token_expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<String>,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    refresh_count: u32,
}

fn encode(session: &SignedIn) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Stored {
        subject: session.subject.clone(),
        sid: session.sid.clone(),
        claims: session.claims.clone(),
        id_token: session.id_token.expose().to_owned(),
        access_token: session.access_token.expose().to_owned(),
        access_token_expires_at: session.access_token_expires_at,
        refresh_token: session
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        scopes: session.scopes.clone(),
        created_at: session.created_at,
        expires_at: session.expires_at,
        refresh_count: session.refresh_count,
    })
    .map_err(|e| StoreError::Encoding(e.to_string()))
}

fn decode(bytes: &[u8]) -> Option<SignedIn> {
    let s: Stored = serde_json::from_slice(bytes).ok()?;
    Some(SignedIn {
        subject: s.subject,
        sid: s.sid,
        claims: s.claims,
        id_token: Secret::new(s.id_token),
        access_token: Secret::new(s.access_token),
        access_token_expires_at: s.access_token_expires_at,
        refresh_token: s.refresh_token.map(Secret::new),
        scopes: s.scopes,
        created_at: s.created_at,
        expires_at: s.expires_at,
        refresh_count: s.refresh_count,
    })
}

/// Opens `sealed` (bound to `context`) and decodes it; `None` (with a warning) when it does not
/// decrypt or parse: the session key changed, or the value was tampered with.
fn unseal(sealer: &Sealer, context: &[u8], sealed: &[u8]) -> Option<SignedIn> {
    let session = sealer
        .open(context, sealed)
        .and_then(|plain| decode(&plain));
    if session.is_none() {
        tracing::warn!(
            "a stored session could not be decrypted (was the session key changed?); \
             treating it as signed out"
        );
    }
    session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_survives_encoding_with_every_field() {
        let now = Utc::now();
        let session = SignedIn {
            subject: "alice".into(),
            sid: Some("sid-1".into()),
            claims: serde_json::json!({"name": "Alice"})
                .as_object()
                .cloned()
                .unwrap(),
            id_token: Secret::new("id"),
            access_token: Secret::new("at"),
            access_token_expires_at: Some(now),
            refresh_token: Some(Secret::new("rt")),
            scopes: vec!["openid".into()],
            created_at: now,
            expires_at: now,
            refresh_count: 3,
        };
        let back = decode(&encode(&session).unwrap()).unwrap();
        assert_eq!(back.subject, "alice");
        assert_eq!(back.claims["name"], "Alice");
        assert_eq!(back.id_token.expose(), "id");
        assert_eq!(back.access_token.expose(), "at");
        assert_eq!(back.refresh_token.unwrap().expose(), "rt");
        assert_eq!(back.access_token_expires_at, Some(now));
        assert_eq!(back.expires_at, now);
        assert_eq!(back.refresh_count, 3);
        assert_eq!(back.sid.as_deref(), Some("sid-1"));
    }

    #[test]
    fn a_session_stored_before_sids_were_recorded_decodes_without_one() {
        let now = Utc::now();
        let old = serde_json::json!({
            "subject": "alice", "claims": {}, "id_token": "id", "access_token": "at",
            "access_token_expires_at": null, "refresh_token": null, "scopes": [],
            "created_at": now, "expires_at": now, "refresh_count": 0,
        });
        let back = decode(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(back.sid, None);
    }

    fn signed_in(sid: Option<&str>, created_at: DateTime<Utc>) -> SignedIn {
        SignedIn {
            subject: "alice".into(),
            sid: sid.map(str::to_owned),
            claims: serde_json::Map::new(),
            id_token: Secret::new("id"),
            access_token: Secret::new("at"),
            access_token_expires_at: None,
            refresh_token: None,
            scopes: Vec::new(),
            created_at,
            expires_at: created_at + chrono::Duration::hours(1),
            refresh_count: 0,
        }
    }

    #[test]
    fn a_sid_marker_ends_a_session_with_a_sid_whenever_it_started() {
        let now = Utc::now();
        assert!(ended(&signed_in(Some("s"), now), true, None));
        assert!(ended(
            &signed_in(Some("s"), now + chrono::Duration::seconds(5)),
            true,
            None
        ));
        assert!(!ended(&signed_in(None, now), true, None));
        assert!(!ended(&signed_in(Some("s"), now), false, None));
    }

    #[test]
    fn a_sub_marker_ends_only_the_sessions_started_until_its_time() {
        let now = Utc::now();
        let at = Some(now.timestamp_millis());
        assert!(ended(&signed_in(Some("s"), now), false, at));
        assert!(ended(
            &signed_in(None, now - chrono::Duration::hours(1)),
            false,
            at
        ));
        assert!(!ended(
            &signed_in(Some("s"), now + chrono::Duration::seconds(1)),
            false,
            at
        ));
    }

    #[test]
    fn logout_keys_hold_digests_only() {
        let logout = Logout {
            jti: "the-jti".into(),
            jti_expires_at: Utc::now(),
            target: LogoutTarget::Session("the-sid".into()),
            at: Utc::now(),
            marker_expires_at: Utc::now(),
        };
        let (key, time) = logout.marker();
        assert_eq!(key, format!("sid:{}", digest("the-sid")));
        assert_eq!(time, None);
        assert!(!jti_key("the-jti").contains("the-jti"));
    }
}
