//! The Redis backend: every store on one shared Redis (or Valkey), so that N identity-server
//! replicas behind one URL see one state. Selected by `store.url = "redis://…"` (or `rediss://`,
//! `redis+unix://`, `valkey://`); built by [`open`].
//!
//! **One connection, bounded waits.** A process holds one [`ConnectionManager`] (a multiplexed
//! connection that reconnects by itself in the background); every store call runs under the
//! configured deadline (`store.timeout_ms`), which bounds the connect, the answer and the wait for
//! a reconnection. Past it the call answers [`StoreError::Unavailable`] and the handler 503 /
//! `temporarily_unavailable`: the backend fails closed, never falls back to memory (that would
//! reopen code replay and lockout bypass across replicas). When Redis is back, the next calls
//! succeed without a restart of the replica.
//!
//! **Every single-use step is one atomic operation**: `GETDEL` (login transaction and authorize
//! request take), `SET NX PX`, or one Lua script (`*.lua` beside this file, loaded once as
//! [`Script`]s, sent as `EVALSHA` and re-sent as `EVAL` after a Redis restart emptied the script
//! cache). Scripts that apply time rules read Redis `TIME`, so that every replica counts on one
//! clock; where a trait method takes `now` (refresh rotation, session touch), the script uses it.
//! The lockout, second-factor budget and quota scripts are line-by-line ports of
//! [`super::rules`]. A command whose outcome is unknown (the connection dropped after it was
//! sent) is never retried: the call fails. Every key a script touches is passed in `KEYS`.
//!
//! # Key schema
//!
//! `P` is `store.prefix` (default `idsrv:v1:`); `H(x)` is base64url SHA-256 ([`super::digest`]).
//! No key holds a raw secret: codes, refresh tokens, session handles, transaction ids and
//! authorize-request ids appear only as digests, usernames only as digests.
//!
//! | key | type | TTL | operations |
//! |---|---|---|---|
//! | `P ar:{H(id)}` + `P arn:{net}` + `P ar-total` | STRING JSON {request, network, expires_at} | PX lifetime | put: `ar_put.lua` (with the cap); get: `GET`; take: `GETDEL`, then `ZREM` from `arn` |
//! | `P arn:{network}` | ZSET member `H(id)`, score expiry (ms, Redis clock) | PX longest member | `ar_put.lua` drops expired members, refuses at `max_per_network` |
//! | `P mfa:{H(txid)}` | STRING JSON | PX lifetime | insert: `SET NX PX`; take: `GETDEL` |
//! | `P sess:{H(handle)}` | HASH {s JSON, created, last_seen, exp} | PXAT min(last_seen + idle, created + absolute, exp) | create/put: `session_create.lua`; replace: `session_replace.lua` (only while the old record exists); touch: `session_touch.lua`; remove: `HGET`, then `MULTI` DEL + ZREM from `sessions`; list: `ZRANGE`, then `HMGET` each; end/end_all: `ZRANGE`, then `session_end.lua` |
//! | `P sessions:{subject}` | ZSET member `H(handle)`, score the session key's deadline (ms) | PXAT latest member | `session_create.lua` drops expired members, checks the members it is given against the index (else `retry`) and, past [`super::MAX_SESSIONS_PER_SUBJECT`], ends the least recently used; members whose session is gone (idle timeout) are pruned there and in `session_end.lua` |
//! | `P code:{H(code)}` | HASH {r JSON, used, grant} | PX expiry + 600 s reuse memory | put: `code_put.lua` (with the cap); redeem: `code_redeem.lua`, then `ZREM` from `codes`; set_grant: `hset_if_exists.lua` |
//! | `P codes:{sid}` | ZSET of unredeemed codes, score code expiry (ms) | PX longest member | `code_put.lua` drops expired members, refuses at `max_per_session` |
//! | `P grant:{id}` | HASH {g JSON, cur, prev, rot, revoked, exp} | PXAT grant expiry | create: `grant_create.lua`; get: `HMGET`; rotate: `grant_rotate.lua`; revoke: `grant_revoke.lua` (a missing grant becomes a revoked tombstone for 600 s, which create refuses); revoke_for_subject: `ZRANGE grants`, then `grant_revoke_subject.lua` |
//! | `P grants:{subject}` | ZSET member grant id, score the grant key's deadline (ms) | PXAT latest member | `grant_create.lua` drops expired members and, past [`super::MAX_GRANTS_PER_SUBJECT`], revokes the oldest (named by the caller, else `oldest:<id>`) |
//! | `P rt:{H(refresh)}` | STRING grant id (kept after rotation, for reuse detection) | PXAT grant expiry | find_by_refresh: `GET`, then the grant |
//! | `P at:{jti}` | HASH {r JSON, revoked} | PXAT token expiry | put: `MULTI` HSET PEXPIREAT; get: `HMGET`; revoke: `hset_if_exists.lua` |
//! | `P user:{subject}`, `P uname:{H(lowercased username)}` | STRING JSON (the same record in both: accounts are never updated) | none | create: `user_create.lua` (`SET uname NX`); find: `GET` |
//! | `P lf:u:{H(name)}`, `P lf:ip:{network}` | HASH {failures, window_start, locked_until, in_flight, last_begin} | EXPIREAT when nothing in it matters | `lockout.lua` + one of `lockout_*.lua` |
//! | `P sf:{H(subject)}` | HASH {unsuccessful, window_start, blocked_until, blocks, last_block} | EXPIREAT when nothing in it matters | `budget.lua` + one of `budget_*.lua` |
//! | `P q:{quota key}` (e.g. `P q:cq:n:203.0.113.7`) | HASH {start, count} | EXPIREAT window end | `quota_reserve.lua` (all or none), `quota_give_back.lua` |
//!
//! TTLs computed from a replica's clock get [`TTL_LEEWAY_SECS`] more, so that a little clock skew
//! between replicas and Redis never drops a record early; the expiry stored in every record is
//! re-checked on read (Redis never returns an expired key; the re-check is defence in depth).
//!
//! # Round trips
//!
//! One per call, except: session `create` 2 at the subject's cap (the index, then the script),
//! `remove` 2, `list` 2, `end` 3 (the index, the script, the index again when the sid was not
//! found, more while a concurrent `replace` moves it), `end_all` and `revoke_for_subject` 2 (3 when a sign-in races
//! them), grant `create` 2 at the subject's cap; authorize-request `take` 2 (`GETDEL`, then the `ZREM` bookkeeping), code
//! `redeem` 2 on first use (the script, then the `ZREM`; 1 on reuse), `find_by_refresh` 2 and
//! `rotate` 2 (the token's index, then the grant: the index names the grant key, and a script
//! may only touch keys it is given). A quota reservation of no keys costs none.
//!
//! # Durability: what the Redis server must be configured with
//!
//! - `appendonly yes` and `appendfsync always`: accounts, grants and refresh rotations are
//!   acknowledged only after they are on disk, as in the embedded backend. With `everysec` a
//!   crash can lose the last second of acknowledged writes (a created account, a rotation whose
//!   lost answer then revokes the grant as a replay).
//! - `maxmemory-policy noeviction` (the Redis default): an evicted lockout counter, code or grant
//!   would be a security bug. A full Redis refuses writes; the stores answer "full" where the
//!   trait has such an answer (authorize requests, codes, access tokens) and fail otherwise.
//!   [`open`] warns when the server says otherwise (and stays quiet when `CONFIG` is disabled).
//! - Replication is asynchronous: after a failover to a replica, writes acknowledged by the old
//!   primary but not yet replicated are lost (a used code usable again, a rotation undone, a
//!   created account missing). `WAIT` narrows the window but does not make Redis consistent; run
//!   one primary with AOF, and treat a failover as an incident. Sentinel and Cluster are not
//!   supported by this backend (Cluster would need hash tags, see the scale-out note).
//! - The connection must be private: use `rediss://` with the identity server's CA (and, when
//!   configured, the system roots) or a unix socket, and an ACL user limited to the prefix and
//!   the commands in [`ACL_RULES`].
//!
//! [`open`] is called once per process: the [`Stores`] it returns share one connection.

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use redis::aio::ConnectionManager;
use redis::{Client, ErrorKind, RedisError, Script, ServerErrorKind, TlsCertificates};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::records::CODE_REUSE_MEMORY_SECS;
use super::rules::{BudgetPolicy, ChallengeBudget, LockoutPolicy};
use super::{
    AccessTokenRecord, AccessTokenStore, AuthorizeRequest, AuthorizeRequestStore, CodeRecord,
    CodeStore, CodeUse, FailedLoginStore, Full, Grant, GrantStore, LockoutKey, LoginTransaction,
    LoginTransactionStore, QuotaKey, QuotaRefused, QuotaStore, RefreshUse, Session, SessionStore,
    StoreError, StoreFuture, StoreHealth, StoredUser, Stores, TransactionId, UserStore, budget_key,
    digest,
};
use crate::configuration::StoreSettings;
use crate::oidc::now;

/// Seconds added to every key lifetime computed from a replica's clock (clock skew between the
/// replicas and Redis must not drop a record early; every read re-checks the stored expiry).
pub const TTL_LEEWAY_SECS: i64 = 5;

/// The least a Redis ACL user needs for the default prefix `idsrv:v1:` (the commands the stores
/// send, including those the scripts call), e.g. `ACL SETUSER idsrv on >password` followed by
/// these rules. `+config|get` may be added so that [`open`] can check the durability settings.
/// For another prefix, change the `~idsrv:v1:*` key pattern.
pub const ACL_RULES: &str = "resetkeys ~idsrv:v1:* resetchannels -@all +ping +time +get +set +getdel +del +exists +hmget +hset +hmset +pexpire +pexpireat +expireat +pttl +zadd +zrem +zcard +zremrangebyscore +zrange +zscore +hget +hexists +evalsha +script|load +multi +exec";

/// Reconnection attempts per outage episode of the [`ConnectionManager`]; a call after they are
/// used up starts a new episode, so the backend recovers whatever the length of the outage.
const RECONNECT_RETRIES: usize = 4;
/// First reconnection delay (doubles per attempt, with jitter).
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Longest reconnection delay.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// Most requests queued on the one multiplexed connection (beyond it callers wait, within their
/// deadline, instead of growing memory).
const PIPELINE_BUFFER: usize = 4096;

const LOCKOUT: &str = include_str!("lockout.lua");
const BUDGET: &str = include_str!("budget.lua");

/// Most calls of a script that checks what the caller read of a subject's index (sessions or
/// grants at their cap), while concurrent calls keep changing it; then the call fails.
const MAX_INDEX_ATTEMPTS: usize = 32;

/// Which certificates a `rediss://` connection trusts.
#[derive(Clone, Copy, Debug)]
pub struct RedisTrust<'a> {
    /// The identity server's CA (PEM; `AppState.ca_pem`, the development CA by default). May be
    /// empty when `system_roots` is set.
    pub ca_pem: &'a str,
    /// Also trust the operating system's roots (a managed Redis with a public certificate).
    pub system_roots: bool,
}

/// Connects to the Redis named by `settings.url` and returns every store on it; a `rediss://`
/// connection trusts `ca_pem` (the identity server's CA) only. See [`open_with_trust`].
pub async fn open(
    settings: &StoreSettings,
    policy: LockoutPolicy,
    ca_pem: &str,
) -> Result<Stores, StoreError> {
    let trust = RedisTrust {
        ca_pem,
        system_roots: false,
    };
    open_with_trust(settings, policy, trust).await
}

/// Connects to the Redis named by `settings.url` and returns every store on it.
///
/// Fails when the URL is not a Redis URL, asks for unchecked TLS (`#insecure`), or when Redis
/// does not answer `PING` within `settings.timeout_ms` (a wrong URL, password or certificate
/// shows at start-up rather than at the first sign-in). `policy` is the lockout's durations.
pub async fn open_with_trust(
    settings: &StoreSettings,
    policy: LockoutPolicy,
    trust: RedisTrust<'_>,
) -> Result<Stores, StoreError> {
    let url = settings
        .redis_url()
        .ok_or_else(|| StoreError::Backend("store.url: no Redis URL is configured".into()))?;
    let timeout = Duration::from_millis(settings.timeout_ms.max(1));
    let client = client(url, trust)?;
    // One plain attempt first, so that a wrong address, password or certificate is reported as
    // what it is (the connection manager below retries, and would only report a timeout).
    let probe_config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let probe = client.get_multiplexed_async_connection_with_config(&probe_config);
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(_connection)) => {}
        Ok(Err(e)) => return Err(classify("connect", &e)),
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "redis did not accept a connection within {} ms",
                timeout.as_millis()
            )));
        }
    }
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY)
        .set_pipeline_buffer_size(PIPELINE_BUFFER);
    let connect = ConnectionManager::new_with_config(client, config);
    let conn = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(classify("connect", &e)),
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "redis did not accept a connection within {} ms",
                timeout.as_millis()
            )));
        }
    };
    let redis = Redis {
        conn,
        prefix: settings.prefix.clone(),
        timeout,
        policy,
        scripts: Scripts::new(),
    };
    redis.check_ping().await?;
    redis.warn_about_durability().await;
    let inner = std::sync::Arc::new(redis);
    Ok(Stores {
        authorize_requests: inner.clone(),
        transactions: inner.clone(),
        sessions: inner.clone(),
        codes: inner.clone(),
        grants: inner.clone(),
        access_tokens: inner.clone(),
        users: inner.clone(),
        failed_logins: inner.clone(),
        quotas: inner.clone(),
        health: inner,
    })
}

/// The client for `url`: plain, unix socket, or TLS trusting exactly `trust`.
fn client(url: &str, trust: RedisTrust<'_>) -> Result<Client, StoreError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| StoreError::Backend(format!("store.url: not a URL ({e})")))?;
    let scheme = parsed.scheme();
    if !matches!(
        scheme,
        "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys"
    ) {
        return Err(StoreError::Backend(format!(
            "store.url: the scheme '{scheme}' is not redis://, rediss://, redis+unix:// or valkey://"
        )));
    }
    if parsed.fragment().is_some() {
        // `#insecure` would turn certificate checks off; no fragment means anything else.
        return Err(StoreError::Backend(
            "store.url: a '#' fragment is not accepted (certificate checks stay on)".into(),
        ));
    }
    let bad_url = |e: RedisError| StoreError::Backend(format!("store.url: {e}"));
    if !matches!(scheme, "rediss" | "valkeys") {
        return Client::open(url).map_err(bad_url);
    }
    let roots = trusted_roots(trust)?;
    Client::build_with_tls(
        url,
        TlsCertificates {
            client_tls: None,
            root_cert: Some(roots.into_bytes()),
        },
    )
    .map_err(bad_url)
}

/// The PEM bundle a TLS connection trusts: the configured CA, plus the system roots if asked.
fn trusted_roots(trust: RedisTrust<'_>) -> Result<String, StoreError> {
    let mut pem = trust.ca_pem.trim().to_owned();
    if trust.system_roots {
        let native = rustls_native_certs::load_native_certs();
        if native.certs.is_empty() {
            let why = native
                .errors
                .first()
                .map_or_else(|| "none found".to_owned(), ToString::to_string);
            return Err(StoreError::Backend(format!(
                "store: the system's root certificates could not be loaded ({why})"
            )));
        }
        for cert in native.certs {
            pem.push('\n');
            pem.push_str(&pem_certificate(cert.as_ref()));
        }
    }
    if pem.trim().is_empty() {
        return Err(StoreError::Backend(
            "store.url: rediss:// needs a CA to trust (the identity server's CA is empty)".into(),
        ));
    }
    Ok(pem)
}

/// One DER certificate as PEM.
fn pem_certificate(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The scripts, hashed once.
struct Scripts {
    ar_put: Script,
    code_put: Script,
    code_redeem: Script,
    hset_if_exists: Script,
    grant_create: Script,
    grant_revoke: Script,
    grant_rotate: Script,
    user_create: Script,
    session_touch: Script,
    session_create: Script,
    session_end: Script,
    session_replace: Script,
    grant_revoke_subject: Script,
    lockout_is_locked: Script,
    lockout_begin: Script,
    lockout_fail: Script,
    lockout_forgive: Script,
    lockout_reset: Script,
    budget_begin: Script,
    budget_passed: Script,
    quota_reserve: Script,
    quota_give_back: Script,
}

impl Scripts {
    fn new() -> Self {
        let lockout = |op: &str| Script::new(&format!("{LOCKOUT}\n{op}"));
        let budget = |op: &str| Script::new(&format!("{BUDGET}\n{op}"));
        Self {
            ar_put: Script::new(include_str!("ar_put.lua")),
            code_put: Script::new(include_str!("code_put.lua")),
            code_redeem: Script::new(include_str!("code_redeem.lua")),
            hset_if_exists: Script::new(include_str!("hset_if_exists.lua")),
            grant_create: Script::new(include_str!("grant_create.lua")),
            grant_revoke: Script::new(include_str!("grant_revoke.lua")),
            grant_rotate: Script::new(include_str!("grant_rotate.lua")),
            user_create: Script::new(include_str!("user_create.lua")),
            session_touch: Script::new(include_str!("session_touch.lua")),
            session_create: Script::new(include_str!("session_create.lua")),
            session_end: Script::new(include_str!("session_end.lua")),
            session_replace: Script::new(include_str!("session_replace.lua")),
            grant_revoke_subject: Script::new(include_str!("grant_revoke_subject.lua")),
            lockout_is_locked: lockout(include_str!("lockout_is_locked.lua")),
            lockout_begin: lockout(include_str!("lockout_begin.lua")),
            lockout_fail: lockout(include_str!("lockout_fail.lua")),
            lockout_forgive: lockout(include_str!("lockout_forgive.lua")),
            lockout_reset: lockout(include_str!("lockout_reset.lua")),
            budget_begin: budget(include_str!("budget_begin.lua")),
            budget_passed: budget(include_str!("budget_passed.lua")),
            quota_reserve: Script::new(include_str!("quota_reserve.lua")),
            quota_give_back: Script::new(include_str!("quota_give_back.lua")),
        }
    }
}

/// Every store on one Redis connection.
pub struct Redis {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    policy: LockoutPolicy,
    scripts: Scripts,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the connection: its URL may carry a password.
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a Redis call failed, as a [`StoreError`]: no connection or no answer is
/// [`StoreError::Unavailable`]; an answer that does not decode is [`StoreError::Corrupt`].
fn classify(op: &str, e: &RedisError) -> StoreError {
    let unavailable = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
            )
        );
    if unavailable {
        return StoreError::Unavailable(format!("redis {op}: {e}"));
    }
    if e.code() == Some("CORRUPT")
        || matches!(e.kind(), ErrorKind::Parse | ErrorKind::UnexpectedReturnType)
    {
        return StoreError::Corrupt(format!("redis {op}: {e}"));
    }
    StoreError::Backend(format!("redis {op}: {e}"))
}

/// Whether Redis refused a write because it is at `maxmemory` (with `noeviction`).
fn is_out_of_memory(e: &RedisError) -> bool {
    e.code() == Some("OOM")
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::backend("encode", e))
}

fn decode<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("redis {what}: {e}")))
}

/// Milliseconds from `now` until `expires_at` plus [`TTL_LEEWAY_SECS`], or `None` when the
/// record has expired already (nothing to store: a read would not return it).
fn lifetime_ms(expires_at: i64, now: i64) -> Option<i64> {
    (expires_at > now).then(|| {
        expires_at
            .saturating_sub(now)
            .saturating_add(TTL_LEEWAY_SECS)
            .saturating_mul(1000)
    })
}

/// The unix time in milliseconds at which a key for a record expiring at `expires_at` goes.
fn deadline_ms(expires_at: i64) -> i64 {
    expires_at
        .saturating_add(TTL_LEEWAY_SECS)
        .saturating_mul(1000)
}

/// An authorize request as stored: with the network it counts against and its expiry.
#[derive(Serialize, Deserialize)]
struct StoredAuthorize {
    request: AuthorizeRequest,
    network: String,
    expires_at: i64,
}

impl Redis {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs one store call under the deadline; past it, [`StoreError::Unavailable`].
    async fn run<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer '{op}' within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    fn conn(&self) -> ConnectionManager {
        // A clone shares the one multiplexed connection.
        self.conn.clone()
    }

    async fn check_ping(&self) -> Result<(), StoreError> {
        self.run("ping", async {
            let pong: String = redis::cmd("PING")
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("ping", &e))?;
            if pong == "PONG" {
                Ok(())
            } else {
                Err(StoreError::Backend(format!(
                    "redis ping: answered '{pong}'"
                )))
            }
        })
        .await
    }

    /// Logs a warning when the server's settings lose or evict acknowledged state. Quiet when
    /// `CONFIG` is refused (managed services often disable it).
    async fn warn_about_durability(&self) {
        let query = async {
            let mut conn = self.conn();
            let config: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .arg("appendonly")
                .arg("appendfsync")
                .query_async(&mut conn)
                .await
                .map_err(|e| classify("config get", &e))?;
            Ok::<_, StoreError>(config)
        };
        let Ok(Ok(config)) = tokio::time::timeout(self.timeout, query).await else {
            tracing::debug!("redis CONFIG GET refused: durability settings not checked");
            return;
        };
        let setting = |name: &str| {
            config
                .chunks(2)
                .find(|pair| pair.first().is_some_and(|n| n == name))
                .and_then(|pair| pair.get(1).cloned())
                .unwrap_or_default()
        };
        let policy = setting("maxmemory-policy");
        if policy != "noeviction" {
            tracing::warn!(
                maxmemory_policy = %policy,
                "redis may evict keys: set maxmemory-policy noeviction, or lockout counters, codes and grants can vanish"
            );
        }
        let (aof, fsync) = (setting("appendonly"), setting("appendfsync"));
        if aof != "yes" || fsync != "always" {
            tracing::warn!(
                appendonly = %aof,
                appendfsync = %fsync,
                "redis does not sync every write: set appendonly yes and appendfsync always, or a crash loses acknowledged accounts and grants"
            );
        }
    }

    async fn script_i64(
        &self,
        op: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<Result<i64, RedisError>, StoreError> {
        let mut conn = self.conn();
        let result = invocation.invoke_async::<i64>(&mut conn).await;
        match result {
            Ok(v) => Ok(Ok(v)),
            Err(e) if is_out_of_memory(&e) => Ok(Err(e)),
            Err(e) => Err(classify(op, &e)),
        }
    }

    async fn lockout(
        &self,
        op: &'static str,
        script: &Script,
        key: &LockoutKey,
        extra: &[String],
    ) -> Result<i64, StoreError> {
        let mut invocation = script.key(self.key(&format!("lf:{}", key.storage_key())));
        invocation
            .arg(self.policy.window_secs)
            .arg(self.policy.lockout_secs);
        for arg in extra {
            invocation.arg(arg);
        }
        invocation
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map_err(|e| classify(op, &e))
    }

    /// Runs a second-factor budget script (`budget.lua` + one operation) for `subject`.
    async fn budget<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        script: &Script,
        subject: &str,
        policy: BudgetPolicy,
    ) -> Result<T, StoreError> {
        script
            .key(self.key(&budget_key(subject)))
            .arg(policy.max_unsuccessful)
            .arg(policy.window_secs)
            .arg(policy.first_block_secs)
            .arg(policy.max_block_secs)
            .arg(policy.memory_secs)
            .invoke_async::<T>(&mut self.conn())
            .await
            .map_err(|e| classify(op, &e))
    }

    /// `P sessions:{subject}`: the subject's session index.
    fn session_index(&self, subject: &str) -> String {
        self.key(&format!("sessions:{subject}"))
    }

    /// `P grants:{subject}`: the subject's grant index.
    fn grant_index(&self, subject: &str) -> String {
        self.key(&format!("grants:{subject}"))
    }

    /// Every member of an index (bounded by its cap).
    async fn index_members(&self, index: &str) -> Result<Vec<String>, StoreError> {
        redis::cmd("ZRANGE")
            .arg(index)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| classify("index read", &e))
    }

    /// Runs `session_end.lua` on `members` of `index`: those of `sid`, or all for `""`.
    async fn end_sessions(
        &self,
        index: &str,
        sid: &str,
        members: &[String],
    ) -> Result<Vec<Session>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.scripts.session_end.key(index);
        invocation.arg(sid);
        for m in members {
            invocation.key(self.key(&format!("sess:{m}"))).arg(m);
        }
        let ended: Vec<String> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| classify("session end", &e))?;
        // Ended either way; reported only when not past its expiry (the key outlives it by
        // the leeway), as the embedded store does.
        let t = now();
        let mut live = Vec::with_capacity(ended.len() / 2);
        for pair in ended.chunks(2) {
            let [json, exp] = pair else {
                return Err(StoreError::Corrupt("redis session end: odd answer".into()));
            };
            if exp.parse::<i64>().is_ok_and(|exp| exp > t) {
                live.push(decode::<Session>("session", json)?);
            }
        }
        Ok(live)
    }

    async fn grant_by_id(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key(&format!("grant:{id}")))
            .arg(&["g", "cur", "prev", "rot", "revoked"])
            .query_async(&mut self.conn())
            .await
            .map_err(|e| classify("grant get", &e))?;
        let Some(grant) = grant_from_fields(&fields)? else {
            return Ok(None);
        };
        Ok((grant.expires_at > now()).then_some(grant))
    }
}

/// A grant from its hash fields `g, cur, prev, rot, revoked` (the JSON, then the fields that
/// rotation and revocation change). `None` when there is no such grant.
fn grant_from_fields(fields: &[Option<String>]) -> Result<Option<Grant>, StoreError> {
    let field = |i: usize| fields.get(i).cloned().flatten();
    let Some(json) = field(0) else {
        return Ok(None);
    };
    let mut grant: Grant = decode("grant", &json)?;
    let hash = |v: Option<String>| v.filter(|s| !s.is_empty());
    grant.refresh_hash = hash(field(1));
    grant.previous_hash = hash(field(2));
    grant.rotated_at = match field(3) {
        Some(rot) => rot
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("redis grant: rotated_at '{rot}'")))?,
        None => return Err(StoreError::Corrupt("redis grant: no rotated_at".into())),
    };
    grant.revoked = match field(4).as_deref() {
        Some("1") => true,
        Some("0") => false,
        other => {
            return Err(StoreError::Corrupt(format!(
                "redis grant: revoked '{}'",
                other.unwrap_or_default()
            )));
        }
    };
    Ok(Some(grant))
}

impl AuthorizeRequestStore for Redis {
    fn put<'a>(
        &'a self,
        key: &'a str,
        request: &'a AuthorizeRequest,
        expires_at: i64,
        network: &'a str,
        max_per_network: u32,
    ) -> StoreFuture<'a, Result<(), Full>> {
        Box::pin(self.run("authorize put", async move {
            let Some(ttl) = lifetime_ms(expires_at, now()) else {
                return Ok(Ok(()));
            };
            let json = encode(&StoredAuthorize {
                request: request.clone(),
                network: network.to_owned(),
                expires_at,
            })?;
            let mut invocation = self.scripts.ar_put.key(self.key(&format!("ar:{key}")));
            invocation
                .key(self.key(&format!("arn:{network}")))
                .key(self.key("ar-total"))
                .arg(json)
                .arg(ttl)
                .arg(max_per_network)
                .arg(key)
                .arg(super::MAX_PENDING_AUTHORIZE_REQUESTS);
            match self.script_i64("authorize put", &invocation).await? {
                Ok(1) => Ok(Ok(())),
                Ok(0) => Ok(Err(Full::Owner)),
                Ok(-2) => Ok(Err(Full::Total)),
                Ok(_) => Err(StoreError::Backend(
                    "redis authorize put: the key exists already".into(),
                )),
                Err(_) => Ok(Err(Full::Total)),
            }
        }))
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<AuthorizeRequest>> {
        Box::pin(self.run("authorize get", async move {
            let json: Option<String> = redis::cmd("GET")
                .arg(self.key(&format!("ar:{key}")))
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("authorize get", &e))?;
            let Some(json) = json else {
                return Ok(None);
            };
            let stored: StoredAuthorize = decode("authorize request", &json)?;
            Ok((stored.expires_at > now()).then_some(stored.request))
        }))
    }

    fn take<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<AuthorizeRequest>> {
        Box::pin(self.run("authorize take", async move {
            let json: Option<String> = redis::cmd("GETDEL")
                .arg(self.key(&format!("ar:{key}")))
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("authorize take", &e))?;
            let Some(json) = json else {
                return Ok(None);
            };
            let stored: StoredAuthorize = decode("authorize request", &json)?;
            // Bookkeeping only: the request is gone already. A failure leaves the member
            // counting against its network until its score (the request's expiry) passes.
            let released: Result<(), _> = redis::pipe()
                .cmd("ZREM")
                .arg(self.key(&format!("arn:{}", stored.network)))
                .arg(key)
                .ignore()
                .cmd("ZREM")
                .arg(self.key("ar-total"))
                .arg(key)
                .ignore()
                .query_async(&mut self.conn())
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %classify("authorize take", &e), "a taken authorize request still counts against its network until it expires");
            }
            Ok((stored.expires_at > now()).then_some(stored.request))
        }))
    }
}

impl LoginTransactionStore for Redis {
    fn insert<'a>(&'a self, transaction: &'a LoginTransaction) -> StoreFuture<'a, ()> {
        Box::pin(self.run("transaction insert", async move {
            let Some(ttl) = lifetime_ms(transaction.expires, now()) else {
                return Ok(());
            };
            let json = encode(transaction)?;
            let set: Option<String> = redis::cmd("SET")
                .arg(self.key(&format!("mfa:{}", digest(transaction.id.as_str()))))
                .arg(json)
                .arg("NX")
                .arg("PX")
                .arg(ttl)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("transaction insert", &e))?;
            match set {
                Some(_) => Ok(()),
                None => Err(StoreError::Backend(
                    "redis transaction insert: the key exists already".into(),
                )),
            }
        }))
    }

    fn take<'a>(&'a self, id: &'a TransactionId) -> StoreFuture<'a, Option<LoginTransaction>> {
        Box::pin(self.run("transaction take", async move {
            let json: Option<String> = redis::cmd("GETDEL")
                .arg(self.key(&format!("mfa:{}", digest(id.as_str()))))
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("transaction take", &e))?;
            let Some(json) = json else {
                return Ok(None);
            };
            let mut transaction: LoginTransaction = decode("login transaction", &json)?;
            // The id is not stored (only its digest, as the key): set it back.
            transaction.id = id.clone();
            Ok((!transaction.is_expired_at(now())).then_some(transaction))
        }))
    }
}

impl SessionStore for Redis {
    fn create<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, Vec<Session>> {
        Box::pin(self.run("session create", async move {
            if expires_at <= now() {
                return Ok(Vec::new());
            }
            let json = encode(session)?;
            let index = self.session_index(&session.subject);
            let record = self.key(&format!("sess:{key}"));
            // Under the cap one call; at the cap the call names every member, and is repeated
            // while concurrent sign-ins of the subject change the index.
            let mut members: Option<Vec<String>> = None;
            for _ in 0..MAX_INDEX_ATTEMPTS {
                let mut invocation = self.scripts.session_create.key(&index);
                invocation.key(&record);
                for m in members.iter().flatten() {
                    invocation.key(self.key(&format!("sess:{m}")));
                }
                invocation
                    .arg(&json)
                    .arg(session.created)
                    .arg(session.last_seen)
                    .arg(expires_at)
                    .arg(deadline_ms(expires_at))
                    .arg(key)
                    .arg(super::MAX_SESSIONS_PER_SUBJECT)
                    .arg(if members.is_some() { "full" } else { "fast" });
                for m in members.iter().flatten() {
                    invocation.arg(m);
                }
                let answer: Vec<String> = invocation
                    .invoke_async(&mut self.conn())
                    .await
                    .map_err(|e| classify("session create", &e))?;
                match answer.split_first() {
                    Some((status, ended)) if status == "ok" => {
                        return ended
                            .iter()
                            .map(|json| decode::<Session>("session", json))
                            .collect();
                    }
                    Some((status, _)) if status == "full" || status == "retry" => {
                        members = Some(self.index_members(&index).await?);
                    }
                    _ => {
                        return Err(StoreError::Corrupt(
                            "redis session create: unexpected answer".into(),
                        ));
                    }
                }
            }
            Err(StoreError::Unavailable(
                "redis session create: the subject's sessions kept changing".into(),
            ))
        }))
    }

    fn replace<'a>(
        &'a self,
        old_key: &'a str,
        new_key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.run("session replace", async move {
            let json = encode(session)?;
            let replaced: i64 = self
                .scripts
                .session_replace
                .key(self.session_index(&session.subject))
                .key(self.key(&format!("sess:{old_key}")))
                .key(self.key(&format!("sess:{new_key}")))
                .arg(&json)
                .arg(session.created)
                .arg(session.last_seen)
                .arg(expires_at)
                .arg(deadline_ms(expires_at))
                .arg(old_key)
                .arg(new_key)
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| classify("session replace", &e))?;
            Ok(replaced == 1)
        }))
    }

    fn list<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
        idle_secs: i64,
        absolute_secs: i64,
    ) -> StoreFuture<'a, Vec<Session>> {
        Box::pin(self.run("session list", async move {
            let members = self.index_members(&self.session_index(subject)).await?;
            if members.is_empty() {
                return Ok(Vec::new());
            }
            let mut pipe = redis::pipe();
            for m in &members {
                pipe.cmd("HMGET").arg(self.key(&format!("sess:{m}"))).arg(&[
                    "s",
                    "last_seen",
                    "exp",
                ]);
            }
            let rows: Vec<(Option<String>, Option<i64>, Option<i64>)> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("session list", &e))?;
            let mut live = Vec::with_capacity(rows.len());
            for (json, last_seen, exp) in rows {
                let (Some(json), Some(last_seen), Some(exp)) = (json, last_seen, exp) else {
                    continue;
                };
                let mut s: Session = decode("session", &json)?;
                s.last_seen = last_seen;
                if exp > now && s.subject == subject && s.is_live_at(now, idle_secs, absolute_secs)
                {
                    live.push(s);
                }
            }
            live.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.sid.cmp(&b.sid)));
            Ok(live)
        }))
    }

    fn end<'a>(&'a self, subject: &'a str, sid: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(self.run("session end", async move {
            if sid.is_empty() {
                return Ok(None);
            }
            let index = self.session_index(subject);
            let mut members = self.index_members(&index).await?;
            // A concurrent `replace` may move the session to a new member between the read and
            // the script: when it was not found and the index changed, look again (bounded).
            for _ in 0..MAX_INDEX_ATTEMPTS {
                let ended = self.end_sessions(&index, sid, &members).await?;
                if let Some(found) = ended
                    .into_iter()
                    .find(|s| s.sid == sid && s.subject == subject)
                {
                    return Ok(Some(found));
                }
                let now_members = self.index_members(&index).await?;
                if now_members == members {
                    return Ok(None);
                }
                members = now_members;
            }
            Err(StoreError::Unavailable(
                "redis session end: the subject's sessions kept changing".into(),
            ))
        }))
    }

    fn end_all<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<Session>> {
        Box::pin(self.run("session end_all", async move {
            let index = self.session_index(subject);
            let mut ended = Vec::new();
            // A sign-in racing this one may add a member after the read: read again until
            // the index is empty (bounded).
            for _ in 0..MAX_INDEX_ATTEMPTS {
                let members = self.index_members(&index).await?;
                if members.is_empty() {
                    return Ok(ended);
                }
                ended.extend(self.end_sessions(&index, "", &members).await?);
            }
            Err(StoreError::Unavailable(
                "redis session end_all: the subject's sessions kept changing".into(),
            ))
        }))
    }

    fn touch<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        idle_secs: i64,
        absolute_secs: i64,
    ) -> StoreFuture<'a, Option<Session>> {
        Box::pin(self.run("session touch", async move {
            let found: Option<(String, i64)> = self
                .scripts
                .session_touch
                .key(self.key(&format!("sess:{key}")))
                .arg(now)
                .arg(idle_secs)
                .arg(absolute_secs)
                .arg(TTL_LEEWAY_SECS)
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| classify("session touch", &e))?;
            let Some((json, last_seen)) = found else {
                return Ok(None);
            };
            let mut session: Session = decode("session", &json)?;
            session.last_seen = last_seen;
            Ok(Some(session))
        }))
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.run("session remove", async move {
            let record = self.key(&format!("sess:{key}"));
            let json: Option<String> = redis::cmd("HGET")
                .arg(&record)
                .arg("s")
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("session remove", &e))?;
            let subject = json
                .as_deref()
                .and_then(|j| serde_json::from_str::<Session>(j).ok())
                .map(|s| s.subject);
            let mut pipe = redis::pipe();
            pipe.atomic().del(&record).ignore();
            if let Some(subject) = subject {
                pipe.zrem(self.session_index(&subject), key).ignore();
            }
            pipe.query_async::<()>(&mut self.conn())
                .await
                .map_err(|e| classify("session remove", &e))
        }))
    }
}

impl CodeStore for Redis {
    fn put<'a>(
        &'a self,
        key: &'a str,
        record: &'a CodeRecord,
        max_per_session: u32,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.run("code put", async move {
            let t = now();
            let keep_until = record.expires_at.saturating_add(CODE_REUSE_MEMORY_SECS);
            let Some(keep) = lifetime_ms(keep_until, t) else {
                return Ok(true);
            };
            // How long the code counts against its session: until it can no longer be redeemed.
            let redeemable = record.expires_at.saturating_sub(t).saturating_mul(1000);
            let json = encode(record)?;
            let mut invocation = self.scripts.code_put.key(self.key(&format!("code:{key}")));
            invocation
                .key(self.key(&format!("codes:{}", record.sid)))
                .arg(json)
                .arg(keep)
                .arg(redeemable)
                .arg(max_per_session)
                .arg(key);
            match self.script_i64("code put", &invocation).await? {
                Ok(1) => Ok(true),
                Ok(0) => Ok(false),
                Ok(_) => Err(StoreError::Backend(
                    "redis code put: the key exists already".into(),
                )),
                Err(_) => Ok(false),
            }
        }))
    }

    fn redeem<'a>(&'a self, key: &'a str) -> StoreFuture<'a, CodeUse> {
        Box::pin(self.run("code redeem", async move {
            let found: Option<(String, String, String)> = self
                .scripts
                .code_redeem
                .key(self.key(&format!("code:{key}")))
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| classify("code redeem", &e))?;
            let Some((used, json, grant)) = found else {
                return Ok(CodeUse::Unknown);
            };
            let mut record: CodeRecord = decode("code", &json)?;
            if !grant.is_empty() {
                record.grant_id = Some(grant);
            }
            let first = match used.as_str() {
                "first" => true,
                "reused" => false,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "redis code redeem: answered '{other}'"
                    )));
                }
            };
            if first {
                // Bookkeeping: a redeemed code no longer counts against its session. A failure
                // leaves it counted until the code's expiry.
                let released: Result<i64, _> = redis::cmd("ZREM")
                    .arg(self.key(&format!("codes:{}", record.sid)))
                    .arg(key)
                    .query_async(&mut self.conn())
                    .await;
                if let Err(e) = released {
                    tracing::warn!(error = %classify("code redeem", &e), "a redeemed code still counts against its session until it expires");
                }
            }
            if record.expires_at.saturating_add(CODE_REUSE_MEMORY_SECS) <= now() {
                return Ok(CodeUse::Unknown);
            }
            Ok(if first {
                CodeUse::First(record)
            } else {
                CodeUse::Reused(record)
            })
        }))
    }

    fn set_grant<'a>(&'a self, key: &'a str, grant_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.run("code set_grant", async move {
            self.scripts
                .hset_if_exists
                .key(self.key(&format!("code:{key}")))
                .arg("grant")
                .arg(grant_id)
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map(drop)
                .map_err(|e| classify("code set_grant", &e))
        }))
    }
}

impl GrantStore for Redis {
    fn create<'a>(&'a self, grant: &'a Grant) -> StoreFuture<'a, bool> {
        Box::pin(self.run("grant create", async move {
            let json = encode(grant)?;
            let own = self.key(&format!("grant:{}", grant.id));
            // At the cap the script names the oldest grant, which must then be passed as a key.
            let mut oldest = String::new();
            for _ in 0..MAX_INDEX_ATTEMPTS {
                let mut invocation = self.scripts.grant_create.key(&own);
                invocation.key(self.grant_index(&grant.subject));
                if oldest.is_empty() {
                    invocation.key(&own);
                } else {
                    invocation.key(self.key(&format!("grant:{oldest}")));
                }
                for hash in [&grant.refresh_hash, &grant.previous_hash]
                    .into_iter()
                    .flatten()
                {
                    invocation.key(self.key(&format!("rt:{hash}")));
                }
                invocation
                    .arg(&json)
                    .arg(grant.refresh_hash.as_deref().unwrap_or_default())
                    .arg(grant.previous_hash.as_deref().unwrap_or_default())
                    .arg(grant.rotated_at)
                    .arg(if grant.revoked { "1" } else { "0" })
                    .arg(grant.expires_at)
                    .arg(deadline_ms(grant.expires_at))
                    .arg(&grant.id)
                    .arg(super::MAX_GRANTS_PER_SUBJECT)
                    .arg(&oldest);
                let answer: String = invocation
                    .invoke_async(&mut self.conn())
                    .await
                    .map_err(|e| classify("grant create", &e))?;
                match answer.as_str() {
                    "created" => return Ok(true),
                    // The key exists: a revocation tombstone (a replay of the code won the
                    // race) or a repeated id; either way nothing may be issued for it.
                    "exists" => return Ok(false),
                    other => match other.strip_prefix("oldest:") {
                        Some(id) => oldest = id.to_owned(),
                        None => {
                            return Err(StoreError::Corrupt(format!(
                                "redis grant create: answered '{other}'"
                            )));
                        }
                    },
                }
            }
            Err(StoreError::Unavailable(
                "redis grant create: the subject's grants kept changing".into(),
            ))
        }))
    }

    fn revoke_for_subject<'a>(
        &'a self,
        subject: &'a str,
        sid: Option<&'a str>,
    ) -> StoreFuture<'a, usize> {
        Box::pin(self.run("grant revoke_for_subject", async move {
            let index = self.grant_index(subject);
            let mut seen = std::collections::HashSet::new();
            let mut revoked = 0usize;
            // A grant created after the read is read on the next round (bounded).
            for _ in 0..MAX_INDEX_ATTEMPTS {
                let fresh: Vec<String> = self
                    .index_members(&index)
                    .await?
                    .into_iter()
                    .filter(|id| !seen.contains(id))
                    .collect();
                if fresh.is_empty() {
                    return Ok(revoked);
                }
                let mut invocation = self.scripts.grant_revoke_subject.key(&index);
                invocation.arg(sid.unwrap_or_default());
                for id in &fresh {
                    invocation.key(self.key(&format!("grant:{id}"))).arg(id);
                }
                let n: i64 = invocation
                    .invoke_async(&mut self.conn())
                    .await
                    .map_err(|e| classify("grant revoke_for_subject", &e))?;
                revoked += usize::try_from(n).unwrap_or(0);
                seen.extend(fresh);
            }
            Err(StoreError::Unavailable(
                "redis grant revoke_for_subject: the subject's grants kept changing".into(),
            ))
        }))
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        Box::pin(self.run("grant get", self.grant_by_id(id)))
    }

    fn find_by_refresh<'a>(&'a self, refresh_hash: &'a str) -> StoreFuture<'a, Option<Grant>> {
        Box::pin(self.run("grant find_by_refresh", async move {
            let id: Option<String> = redis::cmd("GET")
                .arg(self.key(&format!("rt:{refresh_hash}")))
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("grant find_by_refresh", &e))?;
            match id {
                Some(id) => self.grant_by_id(&id).await,
                None => Ok(None),
            }
        }))
    }

    fn rotate<'a>(
        &'a self,
        old_hash: &'a str,
        new_hash: &'a str,
        now: i64,
        reuse_interval_secs: i64,
    ) -> StoreFuture<'a, RefreshUse> {
        Box::pin(self.run("grant rotate", async move {
            let old_key = self.key(&format!("rt:{old_hash}"));
            let id: Option<String> = redis::cmd("GET")
                .arg(&old_key)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("grant rotate", &e))?;
            let Some(id) = id else {
                return Ok(RefreshUse::Invalid);
            };
            // The index of a token is never rewritten, so the script checks that it still names
            // this grant (it may have expired in between) and decides with the grant's fields.
            let answer: Vec<Option<String>> = self
                .scripts
                .grant_rotate
                .key(&old_key)
                .key(self.key(&format!("grant:{id}")))
                .key(self.key(&format!("rt:{new_hash}")))
                .arg(&id)
                .arg(old_hash)
                .arg(new_hash)
                .arg(now)
                .arg(reuse_interval_secs)
                .arg(TTL_LEEWAY_SECS)
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| classify("grant rotate", &e))?;
            let (status, fields) = answer
                .split_first()
                .ok_or_else(|| StoreError::Corrupt("redis grant rotate: empty answer".into()))?;
            let grant = || {
                grant_from_fields(fields)?.ok_or_else(|| {
                    StoreError::Corrupt("redis grant rotate: no grant in the answer".into())
                })
            };
            match status.as_deref() {
                Some("invalid") => Ok(RefreshUse::Invalid),
                Some("rotated") => Ok(RefreshUse::Rotated(grant()?)),
                Some("reused") => Ok(RefreshUse::Reused(grant()?)),
                other => Err(StoreError::Corrupt(format!(
                    "redis grant rotate: answered '{}'",
                    other.unwrap_or_default()
                ))),
            }
        }))
    }

    fn revoke<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.run("grant revoke", async move {
            self.scripts
                .grant_revoke
                .key(self.key(&format!("grant:{id}")))
                .arg(super::records::GRANT_TOMBSTONE_SECS * 1000)
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map(drop)
                .map_err(|e| classify("grant revoke", &e))
        }))
    }
}

impl AccessTokenStore for Redis {
    fn put<'a>(&'a self, jti: &'a str, record: &'a AccessTokenRecord) -> StoreFuture<'a, bool> {
        Box::pin(self.run("access token put", async move {
            if record.exp <= now() {
                return Ok(true);
            }
            let json = encode(record)?;
            let key = self.key(&format!("at:{jti}"));
            let stored = redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[
                        ("r", json),
                        ("revoked", if record.revoked { "1" } else { "0" }.into()),
                    ],
                )
                .ignore()
                .pexpire_at(&key, deadline_ms(record.exp))
                .ignore()
                .query_async::<()>(&mut self.conn())
                .await;
            match stored {
                Ok(()) => Ok(true),
                Err(e) if is_out_of_memory(&e) => Ok(false),
                Err(e) => Err(classify("access token put", &e)),
            }
        }))
    }

    fn get<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, Option<AccessTokenRecord>> {
        Box::pin(self.run("access token get", async move {
            let (json, revoked): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(self.key(&format!("at:{jti}")))
                .arg(&["r", "revoked"])
                .query_async(&mut self.conn())
                .await
                .map_err(|e| classify("access token get", &e))?;
            let Some(json) = json else {
                return Ok(None);
            };
            let mut record: AccessTokenRecord = decode("access token", &json)?;
            record.revoked = match revoked.as_deref() {
                Some("1") => true,
                Some("0") => false,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "redis access token: revoked '{}'",
                        other.unwrap_or_default()
                    )));
                }
            };
            Ok((record.exp > now()).then_some(record))
        }))
    }

    fn revoke<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.run("access token revoke", async move {
            self.scripts
                .hset_if_exists
                .key(self.key(&format!("at:{jti}")))
                .arg("revoked")
                .arg("1")
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map(drop)
                .map_err(|e| classify("access token revoke", &e))
        }))
    }
}

impl Redis {
    async fn user_at(&self, key: String) -> Result<Option<StoredUser>, StoreError> {
        let json: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| classify("user find", &e))?;
        json.map(|j| decode("user", &j)).transpose()
    }
}

impl UserStore for Redis {
    fn find_by_username<'a>(
        &'a self,
        username_lower: &'a str,
    ) -> StoreFuture<'a, Option<StoredUser>> {
        Box::pin(self.run(
            "user find_by_username",
            self.user_at(self.key(&format!("uname:{}", digest(username_lower)))),
        ))
    }

    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<StoredUser>> {
        Box::pin(self.run(
            "user find_by_subject",
            self.user_at(self.key(&format!("user:{subject}"))),
        ))
    }

    fn create<'a>(&'a self, user: &'a StoredUser) -> StoreFuture<'a, bool> {
        Box::pin(self.run("user create", async move {
            let json = encode(user)?;
            let lower = user.user.username.to_lowercase();
            let created: i64 = self
                .scripts
                .user_create
                .key(self.key(&format!("uname:{}", digest(&lower))))
                .key(self.key(&format!("user:{}", user.user.subject)))
                .arg(json)
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| classify("user create", &e))?;
            Ok(created == 1)
        }))
    }
}

impl FailedLoginStore for Redis {
    fn is_locked<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, bool> {
        Box::pin(self.run("lockout is_locked", async move {
            let locked = self
                .lockout(
                    "lockout is_locked",
                    &self.scripts.lockout_is_locked,
                    key,
                    &[],
                )
                .await?;
            Ok(locked == 1)
        }))
    }

    fn begin_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
        max: u32,
        count_in_flight: bool,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.run("lockout begin", async move {
            let args = [max.to_string(), u8::from(count_in_flight).to_string()];
            let reserved = self
                .lockout("lockout begin", &self.scripts.lockout_begin, key, &args)
                .await?;
            Ok(reserved == 1)
        }))
    }

    fn fail_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
        max: u32,
        reserved: bool,
    ) -> StoreFuture<'a, u32> {
        Box::pin(self.run("lockout fail", async move {
            let args = [max.to_string(), u8::from(reserved).to_string()];
            let left = self
                .lockout("lockout fail", &self.scripts.lockout_fail, key, &args)
                .await?;
            u32::try_from(left).map_err(|_| {
                StoreError::backend("lockout fail", "a negative count of failures left")
            })
        }))
    }

    fn forgive<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, ()> {
        Box::pin(self.run("lockout forgive", async move {
            self.lockout("lockout forgive", &self.scripts.lockout_forgive, key, &[])
                .await
                .map(drop)
        }))
    }

    fn reset<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, ()> {
        Box::pin(self.run("lockout reset", async move {
            self.lockout("lockout reset", &self.scripts.lockout_reset, key, &[])
                .await
                .map(drop)
        }))
    }

    fn begin_challenge<'a>(
        &'a self,
        subject: &'a str,
        policy: BudgetPolicy,
    ) -> StoreFuture<'a, ChallengeBudget> {
        Box::pin(self.run("budget begin", async move {
            let (allowed, until): (i64, i64) = self
                .budget("budget begin", &self.scripts.budget_begin, subject, policy)
                .await?;
            Ok(match (allowed, until) {
                (1, 0) => ChallengeBudget::Allowed {
                    blocked_until: None,
                },
                (1, until) => ChallengeBudget::Allowed {
                    blocked_until: Some(until),
                },
                (0, until) => ChallengeBudget::Blocked { until },
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "redis budget begin: unexpected answer {other:?}"
                    )));
                }
            })
        }))
    }

    fn challenge_passed<'a>(
        &'a self,
        subject: &'a str,
        policy: BudgetPolicy,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.run("budget passed", async move {
            self.budget::<i64>(
                "budget passed",
                &self.scripts.budget_passed,
                subject,
                policy,
            )
            .await
            .map(drop)
        }))
    }
}

impl QuotaStore for Redis {
    fn reserve<'a>(&'a self, keys: &'a [QuotaKey]) -> StoreFuture<'a, Result<(), QuotaRefused>> {
        Box::pin(self.run("quota reserve", async move {
            let Some((first, rest)) = keys.split_first() else {
                return Ok(Ok(()));
            };
            let mut invocation = self
                .scripts
                .quota_reserve
                .key(self.key(&format!("q:{}", first.key)));
            invocation.arg(first.max).arg(first.window_secs);
            for k in rest {
                invocation
                    .key(self.key(&format!("q:{}", k.key)))
                    .arg(k.max)
                    .arg(k.window_secs);
            }
            let answer: Vec<i64> = invocation
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| classify("quota reserve", &e))?;
            match answer.as_slice() {
                [0] => Ok(Ok(())),
                [1, index, retry] => Ok(Err(QuotaRefused {
                    index: usize::try_from(*index).map_err(|_| {
                        StoreError::Corrupt(format!("redis quota reserve: index '{index}'"))
                    })?,
                    retry_after_secs: u64::try_from(*retry).unwrap_or(1).max(1),
                })),
                other => Err(StoreError::Corrupt(format!(
                    "redis quota reserve: answered {other:?}"
                ))),
            }
        }))
    }

    fn give_back<'a>(&'a self, keys: &'a [QuotaKey]) -> StoreFuture<'a, ()> {
        Box::pin(self.run("quota give_back", async move {
            let Some((first, rest)) = keys.split_first() else {
                return Ok(());
            };
            let mut invocation = self
                .scripts
                .quota_give_back
                .key(self.key(&format!("q:{}", first.key)));
            invocation.arg(first.window_secs);
            for k in rest {
                invocation
                    .key(self.key(&format!("q:{}", k.key)))
                    .arg(k.window_secs);
            }
            invocation
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map(drop)
                .map_err(|e| classify("quota give_back", &e))
        }))
    }
}

impl StoreHealth for Redis {
    fn check(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.check_ping())
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_der_certificate_becomes_a_pem_that_rustls_reads_back() {
        let tls = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
        let der = tls.ca_der().unwrap();
        let pem = pem_certificate(der.as_ref());
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        use rustls::pki_types::pem::PemObject as _;
        let back: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![der]);
    }

    #[test]
    fn a_tls_connection_without_any_ca_to_trust_is_refused() {
        let trust = RedisTrust {
            ca_pem: "  \n",
            system_roots: false,
        };
        let err = trusted_roots(trust).unwrap_err();
        assert!(err.to_string().contains("needs a CA"), "{err}");
        let trust = RedisTrust {
            ca_pem: "-----BEGIN CERTIFICATE-----",
            system_roots: false,
        };
        assert_eq!(trusted_roots(trust).unwrap(), "-----BEGIN CERTIFICATE-----");
    }

    #[test]
    fn a_key_lifetime_gets_the_leeway_and_an_expired_record_none() {
        assert_eq!(lifetime_ms(110, 100), Some((10 + TTL_LEEWAY_SECS) * 1000));
        assert_eq!(lifetime_ms(100, 100), None);
        assert_eq!(lifetime_ms(90, 100), None);
        assert_eq!(deadline_ms(100), (100 + TTL_LEEWAY_SECS) * 1000);
        assert_eq!(lifetime_ms(i64::MAX, 0), Some(i64::MAX));
    }

    fn fields(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn a_grant_is_rebuilt_from_its_json_and_its_changing_fields() {
        let json = r#"{"id":"g","client_id":"web","subject":"s","scope":[],"auth_time":1,"amr":[],"sid":"x","created":1,"expires_at":9,"refresh_hash":"stale","previous_hash":null,"rotated_at":0,"revoked":false}"#;
        let grant = grant_from_fields(&fields(&[
            Some(json),
            Some("r2"),
            Some("r1"),
            Some("5"),
            Some("1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(grant.refresh_hash.as_deref(), Some("r2"));
        assert_eq!(grant.previous_hash.as_deref(), Some("r1"));
        assert_eq!((grant.rotated_at, grant.revoked), (5, true));
        let empty = grant_from_fields(&fields(&[
            Some(json),
            Some(""),
            Some(""),
            Some("0"),
            Some("0"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((empty.refresh_hash, empty.previous_hash), (None, None));
        assert_eq!(
            grant_from_fields(&fields(&[None, None, None, None, None])).unwrap(),
            None
        );
    }

    #[test]
    fn a_grant_hash_with_bad_fields_is_corrupt_not_a_guess() {
        let json = r#"{"id":"g","client_id":"web","subject":"s","scope":[],"auth_time":1,"amr":[],"sid":"x","created":1,"expires_at":9,"refresh_hash":null,"revoked":false}"#;
        for bad in [
            fields(&[Some("{not json"), Some(""), Some(""), Some("0"), Some("0")]),
            fields(&[Some(json), Some(""), Some(""), Some("soon"), Some("0")]),
            fields(&[Some(json), Some(""), Some(""), None, Some("0")]),
            fields(&[Some(json), Some(""), Some(""), Some("0"), Some("yes")]),
            fields(&[Some(json), Some(""), Some(""), Some("0"), None]),
        ] {
            assert!(
                matches!(grant_from_fields(&bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }
}
