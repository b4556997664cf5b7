//! The Redis session store, for several web-client replicas behind one URL.
//!
//! Keys (`P` = `store.prefix`, default `wc:v1:`; `H` = [`digest`] of the session id):
//! - `P sess:H`: the sealed session, `SET … PXAT expires_at` (Redis drops it when the session
//!   ends; the expiry inside is checked again on read).
//! - `P lock:H`: the refresh lock, `SET … NX PX ttl` with a random token, released by a Lua
//!   compare-and-delete, so a replica whose lock expired never deletes another's.
//! - `P logout:jti:D`, `P logout:sid:D`, `P logout:sub:D` (`D` a digest): the back-channel
//!   logout records of [`super`], each with `PXAT`. One Lua script records a logout token:
//!   `SET NX` of its `jti` and, only if that succeeded, its marker, so across replicas a token
//!   is accepted once and never half-recorded. A marker's value is `time:expires` (unix
//!   milliseconds; the time is 0 for a `sid` marker), and a second marker keeps the later of
//!   each.
//!
//! One [`ConnectionManager`] per process (a multiplexed connection that reconnects by itself;
//! no pool needed without blocking commands), created lazily so that start-up does not need
//! Redis. Every call is bounded by `store.timeout_ms`: past it, or on any error, the request
//! fails closed with a 503; there is no fallback to memory (that would let two replicas refresh
//! the same token). A command whose answer is lost is not retried.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script, TlsCertificates};
use chrono::{DateTime, Utc};

use super::{
    GuardKind, Logout, RefreshGuard, Sealer, SessionStore, SignedIn, StoreError, StoreFuture,
    digest, encode, ended, jti_key, sid_key, sub_key, unseal,
};
use crate::secret::Secret;

/// Deletes the lock only while it still holds this caller's token.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";
/// Records a logout token: KEYS[1] its `jti`, KEYS[2] its marker; ARGV[1] the `jti`'s expiry,
/// ARGV[2] the marker's time, ARGV[3] its expiry (unix milliseconds). 0: a replay, nothing
/// written; 1: recorded.
const RECORD_LOGOUT: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[1]) then
    return 0
end
local time = tonumber(ARGV[2])
local expires = tonumber(ARGV[3])
local old = redis.call('GET', KEYS[2])
if old then
    local t, e = string.match(old, '^(%d+):(%d+)$')
    if t then
        time = math.max(time, tonumber(t))
        expires = math.max(expires, tonumber(e))
    end
end
redis.call('SET', KEYS[2], string.format('%.0f:%.0f', time, expires),
    'PXAT', string.format('%.0f', expires))
return 1
";

/// First and longest pause between two attempts at a held refresh lock.
const LOCK_POLL_MIN: Duration = Duration::from_millis(20);
const LOCK_POLL_MAX: Duration = Duration::from_millis(200);

/// How to reach Redis and how long to wait.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// `redis://`, `rediss://` or `redis+unix://` URL (may hold a password: kept secret).
    pub url: Secret,
    /// Prefix of every key.
    pub prefix: String,
    /// Bound on every call (connecting included).
    pub timeout: Duration,
    /// Lifetime of a refresh lock: longer than the longest refresh (the identity server's
    /// timeout plus two store calls), so it never expires under a live holder.
    pub lock_ttl: Duration,
    /// PEM of the CA a `rediss://` server's certificate must chain to (else the system's
    /// trust store).
    pub ca_pem: Option<Vec<u8>>,
}

/// Signed-in sessions in Redis.
pub struct RedisStore {
    manager: ConnectionManager,
    prefix: String,
    timeout: Duration,
    lock_ttl: Duration,
    sealer: Sealer,
    unlock: Script,
    record_logout: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Sets up the client (no connection yet: the first call connects). Fails only on a URL or
    /// CA the `redis` crate refuses. Must run inside a Tokio runtime.
    pub fn new(options: RedisOptions, sealer: Sealer) -> Result<Self, String> {
        let client = match &options.ca_pem {
            Some(pem) => Client::build_with_tls(
                options.url.expose(),
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => Client::open(options.url.expose()),
        }
        // The error names what is wrong, never the URL (it may hold a password).
        .map_err(|e| format!("configuration key 'store.url': {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            // Reconnect quickly once Redis is back; callers are bounded by `timeout` anyway.
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(3);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("redis client: {e}"))?;
        Ok(Self {
            manager,
            prefix: options.prefix,
            timeout: options.timeout,
            lock_ttl: options.lock_ttl,
            sealer,
            unlock: Script::new(UNLOCK),
            record_logout: Script::new(RECORD_LOGOUT),
        })
    }

    fn session_key(&self, digest: &str) -> String {
        format!("{}sess:{digest}", self.prefix)
    }

    fn lock_key(&self, digest: &str) -> String {
        format!("{}lock:{digest}", self.prefix)
    }

    /// The Redis key of a logout record (`jti:…`, `sid:…` or `sub:…`).
    fn logout_key(&self, record: &str) -> String {
        format!("{}logout:{record}", self.prefix)
    }

    /// Whether the logout markers end `session`.
    async fn logged_out(&self, session: &SignedIn) -> Result<bool, StoreError> {
        let mut keys = vec![self.logout_key(&sub_key(&session.subject))];
        if let Some(sid) = &session.sid {
            keys.push(self.logout_key(&sid_key(sid)));
        }
        let mut markers: Vec<Option<String>> = self.call(::redis::cmd("MGET").arg(&keys)).await?;
        let sid_marker = if markers.len() > 1 {
            markers.pop().flatten()
        } else {
            None
        };
        let sub_marker = markers.pop().flatten();
        let sub_time = sub_marker.and_then(|v| v.split(':').next()?.parse::<i64>().ok());
        Ok(ended(session, sid_marker.is_some(), sub_time))
    }

    /// Runs one command within the timeout; any failure is a [`StoreError`].
    async fn call<T: ::redis::FromRedisValue>(&self, cmd: &::redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.manager.clone();
        bounded(self.timeout, cmd.query_async(&mut conn)).await
    }

    async fn try_lock(&self, key: &str, token: &Secret) -> Result<bool, StoreError> {
        let answer: Option<String> = self
            .call(
                ::redis::cmd("SET")
                    .arg(key)
                    .arg(token.expose())
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(self.lock_ttl)),
            )
            .await?;
        Ok(answer.is_some())
    }
}

async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(StoreError::Timeout(timeout.as_millis())),
        Ok(Err(e)) => Err(StoreError::Unavailable(e.to_string())),
        Ok(Ok(value)) => Ok(value),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl SessionStore for RedisStore {
    fn put<'a>(&'a self, id: &'a str, session: &'a SignedIn) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.session_key(&digest(id));
            let expires_ms = session.expires_at.timestamp_millis();
            if expires_ms <= Utc::now().timestamp_millis() {
                // Already over: nothing to keep (PXAT in the past would delete it anyway).
                let _: i64 = self.call(::redis::cmd("DEL").arg(&key)).await?;
                return Ok(());
            }
            let sealed = self.sealer.seal(key.as_bytes(), &encode(session)?)?;
            let _: String = self
                .call(
                    ::redis::cmd("SET")
                        .arg(&key)
                        .arg(sealed)
                        .arg("PXAT")
                        .arg(expires_ms),
                )
                .await?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, id: &'a str, now: DateTime<Utc>) -> StoreFuture<'a, Option<SignedIn>> {
        Box::pin(async move {
            let key = self.session_key(&digest(id));
            let value: Option<Vec<u8>> = self.call(::redis::cmd("GET").arg(&key)).await?;
            let Some(session) = value.and_then(|v| unseal(&self.sealer, key.as_bytes(), &v)) else {
                return Ok(None);
            };
            // A marker written after the GET is seen by the next request: the request that
            // read the session before the logout arrived is ordered before it.
            if self.logged_out(&session).await? {
                let _: i64 = self.call(::redis::cmd("DEL").arg(&key)).await?;
                tracing::info!("session ended by a back-channel logout");
                return Ok(None);
            }
            Ok(Some(session).filter(|s| s.expires_at > now))
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SignedIn>> {
        Box::pin(async move {
            let key = self.session_key(&digest(id));
            let value: Option<Vec<u8>> = self.call(::redis::cmd("GETDEL").arg(&key)).await?;
            Ok(value.and_then(|v| unseal(&self.sealer, key.as_bytes(), &v)))
        })
    }

    fn record_logout<'a>(&'a self, logout: &'a Logout) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let (marker, time) = logout.marker();
            let mut conn = self.manager.clone();
            let mut invocation = self
                .record_logout
                .key(self.logout_key(&jti_key(&logout.jti)));
            invocation
                .key(self.logout_key(&marker))
                .arg(logout.jti_expires_at.timestamp_millis().max(1))
                .arg(time.unwrap_or(0).max(0))
                .arg(logout.marker_expires_at.timestamp_millis().max(1));
            let recorded: i64 = bounded(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(recorded == 1)
        })
    }

    fn lock_refresh<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RefreshGuard> {
        Box::pin(async move {
            let key = self.lock_key(&digest(id));
            let token = Secret::new(crate::session::random_token(16));
            // A holder gives the lock back or it expires after `lock_ttl`: waiting a little
            // longer than that is always enough, unless another request takes it again.
            let deadline = tokio::time::Instant::now() + self.lock_ttl + Duration::from_secs(1);
            let mut pause = LOCK_POLL_MIN;
            loop {
                if self.try_lock(&key, &token).await? {
                    return Ok(RefreshGuard(GuardKind::Remote { key, token }));
                }
                if tokio::time::Instant::now() + pause > deadline {
                    return Err(StoreError::LockBusy);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LOCK_POLL_MAX);
            }
        })
    }

    fn unlock_refresh(&self, guard: RefreshGuard) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let GuardKind::Remote { key, token } = guard.0 else {
                return Ok(());
            };
            let mut conn = self.manager.clone();
            let mut invocation = self.unlock.key(&key);
            invocation.arg(token.expose());
            let _: i64 = bounded(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(())
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let _: String = self.call(&::redis::cmd("PING")).await?;
            Ok(())
        })
    }
}
