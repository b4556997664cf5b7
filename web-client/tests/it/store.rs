//! The session store conformance suite, run against every backend: the embedded database in a
//! file and in memory, and a real `redis-server` started by the test (skipped loudly without
//! one, a failure with `REDIS_REQUIRED=1`). Plus what only one backend has: the raw bytes at
//! rest, reopening the file, refusing a corrupt file, Redis outages and lock expiry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use redis_testkit::{Durability, RedisServer};
use web_client::secret::Secret;
use web_client::store::{
    EmbeddedStore, Logout, LogoutTarget, RedisOptions, RedisStore, Sealer, SessionStore, SignedIn,
    StoreError, digest,
};

const KEY: [u8; 64] = [7u8; 64];
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// A session whose tokens are recognisable in raw bytes.
pub fn session(tag: &str, lifetime: chrono::Duration) -> SignedIn {
    let now = Utc::now();
    SignedIn {
        subject: "alice".into(),
        sid: Some(format!("sid-{tag}")),
        claims: serde_json::json!({"name": "Alice Smith"})
            .as_object()
            .cloned()
            .unwrap(),
        id_token: Secret::new(format!("id-token-{tag}")),
        access_token: Secret::new(format!("access-token-{tag}")),
        access_token_expires_at: Some(now + chrono::Duration::hours(1)),
        refresh_token: Some(Secret::new(format!("refresh-token-{tag}"))),
        scopes: vec!["openid".into(), "profile".into()],
        created_at: now,
        expires_at: now + lifetime,
        refresh_count: 0,
    }
}

fn hour() -> chrono::Duration {
    chrono::Duration::hours(1)
}

fn id(n: u32) -> String {
    format!("session-id-{n}-{}", web_client::session::random_token(16))
}

/// Where a fixture's data lives, kept alive as long as the fixture.
enum Raw {
    File(PathBuf, #[allow(dead_code)] tempfile::TempDir),
    Memory,
    Redis(RedisServer),
}

struct Fixture {
    /// The store under test.
    store: Arc<dyn SessionStore>,
    /// Another handle on the same data: a second replica for Redis, the same store otherwise.
    other: Arc<dyn SessionStore>,
    raw: Raw,
}

pub fn redis_store(server: &RedisServer, key: &[u8], lock_ttl: Duration) -> RedisStore {
    RedisStore::new(
        RedisOptions {
            url: Secret::new(server.url()),
            prefix: "wc:v1:".into(),
            timeout: TIMEOUT,
            lock_ttl,
            ca_pem: None,
        },
        Sealer::derive(key).unwrap(),
    )
    .unwrap()
}

async fn embedded_file() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let store: Arc<dyn SessionStore> =
        Arc::new(EmbeddedStore::open(&path, Sealer::derive(&KEY).unwrap()).unwrap());
    Some(Fixture {
        other: store.clone(),
        store,
        raw: Raw::File(path, dir),
    })
}

async fn embedded_memory() -> Option<Fixture> {
    let store: Arc<dyn SessionStore> =
        Arc::new(EmbeddedStore::in_memory(Sealer::derive(&KEY).unwrap()).unwrap());
    Some(Fixture {
        other: store.clone(),
        store,
        raw: Raw::Memory,
    })
}

async fn redis() -> Option<Fixture> {
    let server = RedisServer::require()?;
    Some(Fixture {
        store: Arc::new(redis_store(&server, &KEY, Duration::from_secs(5))),
        other: Arc::new(redis_store(&server, &KEY, Duration::from_secs(5))),
        raw: Raw::Redis(server),
    })
}

/// Every raw key and value the backend holds.
fn raw_entries(raw: &Raw) -> Vec<(Vec<u8>, Vec<u8>)> {
    match raw {
        Raw::File(path, _) => vec![(Vec::new(), std::fs::read(path).unwrap())],
        Raw::Memory => Vec::new(),
        Raw::Redis(server) => {
            let mut conn = ::redis::Client::open(server.url())
                .unwrap()
                .get_connection()
                .unwrap();
            let keys: Vec<Vec<u8>> = ::redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
            keys.into_iter()
                .map(|k| {
                    let v: Vec<u8> = ::redis::cmd("GET").arg(&k).query(&mut conn).unwrap();
                    (k, v)
                })
                .collect()
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn a_stored_session_is_read_back_replaced_and_removed_once(f: Fixture) {
    let id = id(1);
    let now = Utc::now();
    assert!(f.store.get(&id, now).await.unwrap().is_none());

    f.store.put(&id, &session("a", hour())).await.unwrap();
    let read = f.other.get(&id, now).await.unwrap().expect("stored");
    assert_eq!(read.access_token.expose(), "access-token-a");
    assert_eq!(read.refresh_token.unwrap().expose(), "refresh-token-a");
    assert_eq!(read.claims["name"], "Alice Smith");

    f.store.put(&id, &session("b", hour())).await.unwrap();
    let read = f.other.get(&id, now).await.unwrap().expect("replaced");
    assert_eq!(read.access_token.expose(), "access-token-b");

    let removed = f.other.remove(&id).await.unwrap().expect("removed");
    assert_eq!(removed.id_token.expose(), "id-token-b");
    assert!(f.store.remove(&id).await.unwrap().is_none());
    assert!(f.store.get(&id, now).await.unwrap().is_none());
}

async fn sessions_are_kept_apart_by_id(f: Fixture) {
    let (a, b) = (id(1), id(2));
    f.store.put(&a, &session("a", hour())).await.unwrap();
    f.store.put(&b, &session("b", hour())).await.unwrap();
    f.store.remove(&a).await.unwrap();
    let read = f.store.get(&b, Utc::now()).await.unwrap().expect("b stays");
    assert_eq!(read.access_token.expose(), "access-token-b");
}

async fn an_expired_session_is_not_returned_and_is_removed(f: Fixture) {
    let id = id(1);
    f.store
        .put(&id, &session("short", chrono::Duration::seconds(1)))
        .await
        .unwrap();
    let now = Utc::now();
    assert!(f.store.get(&id, now).await.unwrap().is_some());
    assert!(
        f.store
            .get(&id, now + chrono::Duration::seconds(2))
            .await
            .unwrap()
            .is_none(),
        "expired at the given time"
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Any write sweeps the embedded database; Redis expires the key by itself.
    let live = self::id(2);
    f.store.put(&live, &session("other", hour())).await.unwrap();

    assert!(f.store.get(&id, Utc::now()).await.unwrap().is_none());
    if let Some(stored) = stored_digests(f).await {
        assert_eq!(stored, [digest(&live)], "only the live session is left");
    }
}

/// The digests of the sessions the backend holds, read around the store (`None` in memory).
/// Closes the store first.
async fn stored_digests(f: Fixture) -> Option<Vec<String>> {
    let Fixture { store, other, raw } = f;
    drop((store, other));
    match &raw {
        Raw::Memory => None,
        Raw::File(path, _) => {
            use redb::ReadableDatabase;
            let db = redb::Database::open(path).unwrap();
            let txn = db.begin_read().unwrap();
            let table = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("sessions"))
                .unwrap();
            use redb::ReadableTable;
            Some(
                table
                    .iter()
                    .unwrap()
                    .map(|e| e.unwrap().0.value().to_owned())
                    .collect(),
            )
        }
        Raw::Redis(_) => Some(
            raw_entries(&raw)
                .into_iter()
                .filter_map(|(k, _)| {
                    String::from_utf8(k)
                        .unwrap()
                        .strip_prefix("wc:v1:sess:")
                        .map(str::to_owned)
                })
                .collect(),
        ),
    }
}

async fn the_refresh_lock_lets_one_holder_in_at_a_time(f: Fixture) {
    let id = id(1);
    let first = f.store.lock_refresh(&id).await.unwrap();
    let other = f.other.clone();
    let waiting = {
        let id = id.clone();
        tokio::spawn(async move {
            let guard = other.lock_refresh(&id).await.unwrap();
            (Instant::now(), guard)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second caller waits");

    let released_at = Instant::now();
    f.store.unlock_refresh(first).await.unwrap();
    let (acquired_at, second) = waiting.await.unwrap();

    assert!(acquired_at >= released_at);
    // Another session's lock is independent.
    let unrelated = f.store.lock_refresh(&self::id(2)).await.unwrap();
    f.store.unlock_refresh(unrelated).await.unwrap();
    f.other.unlock_refresh(second).await.unwrap();
}

async fn a_session_sealed_under_another_key_reads_as_absent(f: Fixture) {
    let id = id(1);
    f.store.put(&id, &session("a", hour())).await.unwrap();
    let other_key: Arc<dyn SessionStore> = match &f.raw {
        Raw::Redis(server) => Arc::new(redis_store(server, &[9u8; 64], Duration::from_secs(5))),
        Raw::File(path, _) => {
            drop(f.store);
            drop(f.other);
            Arc::new(EmbeddedStore::open(path, Sealer::derive(&[9u8; 64]).unwrap()).unwrap())
        }
        Raw::Memory => return,
    };
    assert!(other_key.get(&id, Utc::now()).await.unwrap().is_none());
}

fn logout(jti: &str, target: LogoutTarget) -> Logout {
    let now = Utc::now();
    Logout {
        jti: jti.into(),
        jti_expires_at: now + chrono::Duration::minutes(6),
        target,
        at: now,
        marker_expires_at: now + chrono::Duration::hours(2),
    }
}

async fn a_logout_token_is_recorded_once_even_by_twenty_at_once(f: Fixture) {
    let first = logout("jti-1", LogoutTarget::Session("sid-x".into()));
    assert!(f.store.record_logout(&first).await.unwrap());
    assert!(!f.other.record_logout(&first).await.unwrap(), "a replay");
    let other_target = logout("jti-1", LogoutTarget::Subject("bob".into()));
    assert!(
        !f.store.record_logout(&other_target).await.unwrap(),
        "the jti alone decides"
    );

    let racers = (0..20).map(|n| {
        let store = if n % 2 == 0 {
            f.store.clone()
        } else {
            f.other.clone()
        };
        tokio::spawn(async move {
            store
                .record_logout(&logout("jti-2", LogoutTarget::Session(format!("sid-{n}"))))
                .await
                .unwrap()
        })
    });
    let won = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(
        won, 1,
        "exactly one of 20 concurrent callers records the jti"
    );
}

async fn a_sid_marker_signs_out_the_sessions_of_that_sid_only(f: Fixture) {
    let (a, b) = (id(1), id(2));
    f.store.put(&a, &session("a", hour())).await.unwrap();
    f.store.put(&b, &session("b", hour())).await.unwrap();

    let recorded = f
        .other
        .record_logout(&logout("jti-a", LogoutTarget::Session("sid-a".into())))
        .await
        .unwrap();

    assert!(recorded);
    assert!(f.store.get(&a, Utc::now()).await.unwrap().is_none());
    assert!(
        f.other.remove(&a).await.unwrap().is_none(),
        "removed when it was read"
    );
    assert!(f.store.get(&b, Utc::now()).await.unwrap().is_some());
    // A session of that sid stored after the token arrived is signed out too.
    let late = id(3);
    f.store.put(&late, &session("a", hour())).await.unwrap();
    assert!(f.other.get(&late, Utc::now()).await.unwrap().is_none());
}

async fn a_sub_marker_signs_out_the_sessions_of_that_sub_started_until_then(f: Fixture) {
    let (old, new, bob) = (id(1), id(2), id(3));
    let mut earlier = session("old", hour());
    earlier.created_at -= chrono::Duration::seconds(1);
    f.store.put(&old, &earlier).await.unwrap();
    let mut of_bob = session("bob", hour());
    of_bob.subject = "bob".into();
    of_bob.created_at -= chrono::Duration::seconds(1);
    f.store.put(&bob, &of_bob).await.unwrap();

    assert!(
        f.other
            .record_logout(&logout("jti-s", LogoutTarget::Subject("alice".into())))
            .await
            .unwrap()
    );
    let mut later = session("new", hour());
    later.created_at += chrono::Duration::seconds(1);
    f.store.put(&new, &later).await.unwrap();

    assert!(f.store.get(&old, Utc::now()).await.unwrap().is_none());
    assert!(
        f.store.get(&new, Utc::now()).await.unwrap().is_some(),
        "a sign-in after the logout"
    );
    assert!(f.store.get(&bob, Utc::now()).await.unwrap().is_some());
    // An older marker for the same sub does not move its time back.
    let mut older = logout("jti-t", LogoutTarget::Subject("alice".into()));
    older.at -= chrono::Duration::hours(1);
    assert!(f.store.record_logout(&older).await.unwrap());
    let again = id(4);
    let mut just_before = session("again", hour());
    just_before.created_at -= chrono::Duration::milliseconds(500);
    f.store.put(&again, &just_before).await.unwrap();
    assert!(f.other.get(&again, Utc::now()).await.unwrap().is_none());
}

macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            #[tokio::test]
            async fn a_logout_token_is_recorded_once_even_by_twenty_at_once() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::a_logout_token_is_recorded_once_even_by_twenty_at_once(f).await;
            }

            #[tokio::test]
            async fn a_sid_marker_signs_out_the_sessions_of_that_sid_only() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::a_sid_marker_signs_out_the_sessions_of_that_sid_only(f).await;
            }

            #[tokio::test]
            async fn a_sub_marker_signs_out_the_sessions_of_that_sub_started_until_then() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::a_sub_marker_signs_out_the_sessions_of_that_sub_started_until_then(f).await;
            }

            #[tokio::test]
            async fn a_stored_session_is_read_back_replaced_and_removed_once() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::a_stored_session_is_read_back_replaced_and_removed_once(f).await;
            }

            #[tokio::test]
            async fn sessions_are_kept_apart_by_id() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::sessions_are_kept_apart_by_id(f).await;
            }

            #[tokio::test]
            async fn an_expired_session_is_not_returned_and_is_removed() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::an_expired_session_is_not_returned_and_is_removed(f).await;
            }

            #[tokio::test]
            async fn the_refresh_lock_lets_one_holder_in_at_a_time() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::the_refresh_lock_lets_one_holder_in_at_a_time(f).await;
            }

            #[tokio::test]
            async fn a_session_sealed_under_another_key_reads_as_absent() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::a_session_sealed_under_another_key_reads_as_absent(f).await;
            }
        }
    };
}

conformance!(embedded_file);
conformance!(embedded_memory);
conformance!(redis);

async fn at_rest_there_is_no_token_and_no_session_id(f: Fixture) {
    let id = id(1);
    f.store.put(&id, &session("secret", hour())).await.unwrap();

    let raw = raw_entries(&f.raw);

    assert!(
        raw.iter()
            .any(|(k, v)| contains(k, &digest(&id)) || contains(v, &digest(&id))),
        "the session is stored under the digest of its id"
    );
    for (key, value) in &raw {
        for secret in [
            id.as_str(),
            "access-token-secret",
            "refresh-token-secret",
            "id-token-secret",
            "Alice Smith",
        ] {
            assert!(!contains(key, secret), "'{secret}' in a raw key");
            assert!(!contains(value, secret), "'{secret}' in a raw value");
        }
    }
}

#[tokio::test]
async fn embedded_file_at_rest_there_is_no_token_and_no_session_id() {
    at_rest_there_is_no_token_and_no_session_id(embedded_file().await.unwrap()).await;
}

#[tokio::test]
async fn redis_at_rest_there_is_no_token_and_no_session_id() {
    let Some(f) = redis().await else { return };
    at_rest_there_is_no_token_and_no_session_id(f).await;
}

#[tokio::test]
async fn redis_keys_are_the_prefix_and_the_digest_of_the_session_id() {
    let Some(f) = redis().await else { return };
    let id = id(1);
    f.store.put(&id, &session("a", hour())).await.unwrap();
    let guard = f.store.lock_refresh(&id).await.unwrap();

    let mut keys: Vec<String> = raw_entries(&f.raw)
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect();
    keys.sort();

    let d = digest(&id);
    assert_eq!(keys, [format!("wc:v1:lock:{d}"), format!("wc:v1:sess:{d}")]);
    f.store.unlock_refresh(guard).await.unwrap();
}

#[tokio::test]
async fn redis_session_keys_expire_with_the_session() {
    let Some(f) = redis().await else { return };
    let id = id(1);
    f.store
        .put(&id, &session("a", chrono::Duration::seconds(100)))
        .await
        .unwrap();
    let Raw::Redis(server) = &f.raw else {
        unreachable!()
    };
    let mut conn = ::redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg(format!("wc:v1:sess:{}", digest(&id)))
        .query(&mut conn)
        .unwrap();
    assert!((95_000..=100_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn a_reopened_database_file_still_has_its_sessions() {
    let f = embedded_file().await.unwrap();
    let Raw::File(path, _dir) = f.raw else {
        unreachable!()
    };
    let id = id(1);
    f.store.put(&id, &session("a", hour())).await.unwrap();
    drop(f.store);
    drop(f.other);

    let reopened = EmbeddedStore::open(&path, Sealer::derive(&KEY).unwrap()).unwrap();

    let read = reopened.get(&id, Utc::now()).await.unwrap().expect("kept");
    assert_eq!(read.access_token.expose(), "access-token-a");
}

#[tokio::test]
async fn a_database_file_is_created_readable_by_its_owner_only() {
    let f = embedded_file().await.unwrap();
    let Raw::File(path, _dir) = &f.raw else {
        unreachable!()
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_corrupt_database_file_is_refused_naming_the_file_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let garbage = b"this is not a redb database, but it holds someone's data".repeat(100);
    std::fs::write(&path, &garbage).unwrap();

    let err = EmbeddedStore::open(&path, Sealer::derive(&KEY).unwrap()).unwrap_err();

    assert!(err.contains(&format!("'{}'", path.display())), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "never reset");
}

#[tokio::test]
async fn a_database_file_with_a_damaged_page_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let ids: Vec<String> = (0..50).map(id).collect();
    {
        let store = EmbeddedStore::open(&path, Sealer::derive(&KEY).unwrap()).unwrap();
        for id in &ids {
            store.put(id, &session("a", hour())).await.unwrap();
        }
    }
    // Damage every copy of one session's key (older copies sit in freed pages), so the page
    // that holds it now is damaged for sure.
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = digest(&ids[25]).into_bytes();
    let hits: Vec<usize> = (0..bytes.len() - needle.len())
        .filter(|&i| bytes[i..i + needle.len()] == needle[..])
        .collect();
    assert!(!hits.is_empty());
    for i in hits {
        bytes[i] ^= 0x20;
    }
    std::fs::write(&path, &bytes).unwrap();

    let err = EmbeddedStore::open(&path, Sealer::derive(&KEY).unwrap()).unwrap_err();

    assert!(err.contains(&format!("'{}'", path.display())), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "never reset or repaired away"
    );
}

#[tokio::test]
async fn a_database_file_open_in_another_store_is_refused() {
    let f = embedded_file().await.unwrap();
    let Raw::File(path, _dir) = &f.raw else {
        unreachable!()
    };

    let err = EmbeddedStore::open(path, Sealer::derive(&KEY).unwrap()).unwrap_err();

    assert!(err.contains("already open"), "{err}");
}

#[tokio::test]
async fn with_redis_stopped_calls_fail_within_the_timeout_and_work_again_once_it_is_back() {
    let Some(mut server) = RedisServer::require_with(Durability::AppendFsyncAlways) else {
        return;
    };
    let store = redis_store(&server, &KEY, Duration::from_secs(5));
    let id = id(1);
    store.put(&id, &session("a", hour())).await.unwrap();

    server.kill();
    let started = Instant::now();
    let err = store.get(&id, Utc::now()).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, StoreError::Timeout(_) | StoreError::Unavailable(_)),
        "{err}"
    );
    assert!(waited <= TIMEOUT + Duration::from_millis(300), "{waited:?}");
    assert!(store.ping().await.is_err());

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let read = loop {
        match store.get(&id, Utc::now()).await {
            Ok(read) => break read,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    };
    assert_eq!(
        read.expect("kept by the append-only file")
            .access_token
            .expose(),
        "access-token-a"
    );
}

#[tokio::test]
async fn a_redis_refresh_lock_left_by_a_dead_replica_expires() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let ttl = Duration::from_millis(400);
    let dead = redis_store(&server, &KEY, ttl);
    let alive = redis_store(&server, &KEY, ttl);
    let id = id(1);
    // Taken and never given back, as by a replica killed mid-refresh.
    std::mem::forget(dead.lock_refresh(&id).await.unwrap());

    let started = Instant::now();
    let guard = alive.lock_refresh(&id).await.unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < ttl + Duration::from_secs(1));
    alive.unlock_refresh(guard).await.unwrap();
}

#[tokio::test]
async fn a_redis_refresh_lock_is_only_released_by_its_holder() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let slow = redis_store(&server, &KEY, Duration::from_millis(300));
    let next = redis_store(&server, &KEY, Duration::from_secs(5));
    let third = redis_store(&server, &KEY, Duration::from_secs(5));
    let id = id(1);
    let stale = slow.lock_refresh(&id).await.unwrap();
    // `slow` outlives its lock; `next` takes it over.
    let current = next.lock_refresh(&id).await.unwrap();

    // The late release of the expired lock must not free the lock `next` holds now.
    slow.unlock_refresh(stale).await.unwrap();
    let contender = tokio::spawn(async move {
        let guard = third.lock_refresh(&id).await.unwrap();
        third.unlock_refresh(guard).await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        !contender.is_finished(),
        "the lock was released by a stale holder"
    );

    next.unlock_refresh(current).await.unwrap();
    contender.await.unwrap();
}

#[tokio::test]
async fn rediss_works_with_the_configured_ca_and_refuses_a_server_it_does_not_trust() {
    let certs = tempfile::tempdir().unwrap();
    let tls = crate::helpers::tls();
    let file = |name: &str, pem: &str| {
        let path = certs.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let files = redis_testkit::TlsFiles {
        cert: file("cert.pem", tls.cert_chain_pem()),
        key: file("key.pem", tls.key_pem()),
        ca: file("ca.pem", tls.ca_pem()),
    };
    let Some(server) = RedisServer::require_tls(files) else {
        return;
    };
    let over_tls = |ca_pem: Option<&str>| {
        RedisStore::new(
            RedisOptions {
                url: Secret::new(server.tls_url().unwrap()),
                prefix: "wc:v1:".into(),
                timeout: Duration::from_secs(2),
                lock_ttl: Duration::from_secs(5),
                ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()),
            },
            Sealer::derive(&KEY).unwrap(),
        )
        .unwrap()
    };

    let trusted = over_tls(Some(tls.ca_pem()));
    let id = id(1);
    trusted.put(&id, &session("tls", hour())).await.unwrap();
    assert!(trusted.get(&id, Utc::now()).await.unwrap().is_some());

    let system_roots = over_tls(None);
    assert!(
        system_roots.ping().await.is_err(),
        "the dev CA is not a system root"
    );
    let another = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
    let wrong_ca = over_tls(Some(another.ca_pem()));
    assert!(wrong_ca.get(&id, Utc::now()).await.is_err());
}
