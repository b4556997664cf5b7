//! The embedded session store: one redb database (an ACID, crash-safe, pure-Rust key-value
//! file), `data_dir/sessions.redb`, or the same in memory when there is no data dir.
//!
//! Tables: `sessions` maps the digest of a session id to `expires_at (8 bytes, big-endian unix
//! seconds) || sealed session`; `sessions_by_expiry` indexes `expires_at || digest`, so expired
//! sessions are found without decrypting anything. `logout` holds the back-channel logout
//! records (see [`super`]): the `jti` of every accepted logout token and the logout markers,
//! keyed `jti:`/`sid:`/`sub:` and a digest, valued `expires_at || payload` (a `sub` marker's
//! payload is its time, unix milliseconds, 8 bytes big-endian), with `logout_by_expiry` beside
//! it, swept like the sessions. Every write commits with redb's default
//! durability (fsync before it returns), so an acknowledged sign-in survives a SIGKILL. Expired
//! sessions are swept at start-up and, a bounded batch at a time, on every write.
//!
//! A file that redb cannot open (not a redb file, failed integrity check, another process holds
//! it) stops start-up with a message naming it; it is never reset. The refresh lock is
//! in-process: the file lock means one process owns the database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{
    GuardKind, Logout, RefreshGuard, Sealer, SessionStore, SignedIn, StoreError, StoreFuture,
    digest, encode, ended, jti_key, sid_key, sub_key, unseal,
};

const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const BY_EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("sessions_by_expiry");
const LOGOUT: TableDefinition<&str, &[u8]> = TableDefinition::new("logout");
const LOGOUT_BY_EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("logout_by_expiry");
/// Expired sessions removed per write at most, so one write never does unbounded work (a
/// session is created by one write, so sweeping more than one per write keeps up).
const SWEEP_PER_WRITE: usize = 64;
/// Expired sessions removed per transaction in the start-up sweep.
const SWEEP_BATCH: usize = 1024;
/// redb's page cache (default 1 GiB): sessions are small and mostly read once per request.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Associated data of sealed values: the table and the digest (see [`Sealer`]).
const CONTEXT: &str = "sessions.redb:";

/// The database and a signal that it has been closed. Fields drop in order: the database is
/// closed (redb writes its allocator state and releases the file lock) before the sender goes,
/// which is what [`EmbeddedStore::closed`] waits for.
struct Db {
    database: Database,
    _closed: tokio::sync::watch::Sender<()>,
}

/// Signed-in sessions in a redb database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Db>,
    closed: tokio::sync::watch::Receiver<()>,
    sealer: Arc<Sealer>,
    locks: Arc<LocalLocks>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates, mode 0600) the database file at `path`, checks its integrity and
    /// sweeps expired sessions. The error names the file and says what to do.
    pub fn open(path: &Path, sealer: Sealer) -> Result<Self, String> {
        let named =
            |e: &dyn std::fmt::Display| format!("session database '{}': {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("data directory '{}': {e}", dir.display()))?;
        }
        create_private(path).map_err(|e| named(&e))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            // Without it, a file altered outside redb may make the open panic; with it, such a
            // file is reported as corrupt and start-up stops.
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => named(
                    &"already open (is another web client running on this data_dir? Only one \
                      may; replicas share a Redis instead: store.url)",
                ),
                other => named(&format!(
                    "{other}; it is not a readable redb database. It was left untouched: \
                     restore it from a backup, or move it away to start with no sessions \
                     (every user signs in again)"
                )),
            })?;
        Self::init(db, sealer, Some(path.to_owned())).map_err(|e| named(&e))
    }

    /// A database in memory: sessions end with the process (tests, or no data dir).
    pub fn in_memory(sealer: Sealer) -> Result<Self, String> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| format!("in-memory session database: {e}"))?;
        Self::init(db, sealer, None)
    }

    fn init(db: Database, sealer: Sealer, path: Option<PathBuf>) -> Result<Self, String> {
        // Create every table (also in a file of an earlier version), so that reads find them.
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(SESSIONS).map_err(|e| e.to_string())?;
        txn.open_table(BY_EXPIRY).map_err(|e| e.to_string())?;
        txn.open_table(LOGOUT).map_err(|e| e.to_string())?;
        txn.open_table(LOGOUT_BY_EXPIRY)
            .map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        let (closed_tx, closed) = tokio::sync::watch::channel(());
        let store = Self {
            db: Arc::new(Db {
                database: db,
                _closed: closed_tx,
            }),
            closed,
            sealer: Arc::new(sealer),
            locks: Arc::default(),
            path,
        };
        let now = Utc::now().timestamp();
        loop {
            let swept = store
                .sweep_batch(now, SWEEP_BATCH)
                .map_err(|e| e.to_string())?;
            if swept < SWEEP_BATCH {
                if swept > 0 {
                    tracing::info!(swept, "expired sessions removed");
                }
                break;
            }
        }
        Ok(store)
    }

    /// Resolves once every handle on this store has been dropped and the database is closed
    /// (its file lock released, so another store may open the file).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closed = self.closed.clone();
        async move { while closed.changed().await.is_ok() {} }
    }

    /// Runs `op` on the blocking pool (redb reads and fsyncs block).
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Self) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || op(&me))
            .await
            .map_err(|e| StoreError::Unavailable(format!("session database task: {e}")))?
            .map_err(|e| StoreError::Unavailable(format!("session database: {e}")))
    }

    fn sweep_batch(&self, now: i64, max: usize) -> Result<usize, redb::Error> {
        let txn = self.db.database.begin_write()?;
        let swept = {
            let mut sessions = txn.open_table(SESSIONS)?;
            let mut by_expiry = txn.open_table(BY_EXPIRY)?;
            let mut logout = txn.open_table(LOGOUT)?;
            let mut logout_by_expiry = txn.open_table(LOGOUT_BY_EXPIRY)?;
            sweep(&mut sessions, &mut by_expiry, now, max)?.max(sweep(
                &mut logout,
                &mut logout_by_expiry,
                now,
                max,
            )?)
        };
        txn.commit()?;
        Ok(swept)
    }
}

/// Creates an empty file with mode 0600 unless it exists (redb initialises an empty file), so
/// the database is never readable by other users, whatever the umask.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn seconds(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp()).unwrap_or(0)
}

fn index_key(expires: u64, digest: &str) -> Vec<u8> {
    let mut key = expires.to_be_bytes().to_vec();
    key.extend_from_slice(digest.as_bytes());
    key
}

fn expiry_of(value: &[u8]) -> Option<u64> {
    value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

fn context(digest: &str) -> Vec<u8> {
    format!("{CONTEXT}{digest}").into_bytes()
}

/// Writes `key` = `expires || payload` in a table with an expiry index, replacing its old index
/// entry.
fn put_record(
    table: &mut redb::Table<&str, &[u8]>,
    by_expiry: &mut redb::Table<&[u8], ()>,
    key: &str,
    expires: u64,
    payload: &[u8],
) -> Result<(), redb::Error> {
    let mut value = expires.to_be_bytes().to_vec();
    value.extend_from_slice(payload);
    let old = table
        .insert(key, value.as_slice())?
        .and_then(|old| expiry_of(old.value()));
    if let Some(old) = old {
        by_expiry.remove(index_key(old, key).as_slice())?;
    }
    by_expiry.insert(index_key(expires, key).as_slice(), ())?;
    Ok(())
}

/// The time of a `sub` marker (unix milliseconds), from its stored value.
fn marker_time(value: &[u8]) -> Option<i64> {
    value
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
}

/// Removes up to `max` rows (sessions or logout records) whose expiry is at or before `now`;
/// returns how many.
fn sweep(
    sessions: &mut redb::Table<&str, &[u8]>,
    by_expiry: &mut redb::Table<&[u8], ()>,
    now: i64,
    max: usize,
) -> Result<usize, redb::Error> {
    let bound = index_key(u64::try_from(now).unwrap_or(0).saturating_add(1), "");
    let expired: Vec<Vec<u8>> = by_expiry
        .range::<&[u8]>(..bound.as_slice())?
        .take(max)
        .map(|entry| entry.map(|(k, _)| k.value().to_vec()))
        .collect::<Result<_, _>>()?;
    for key in &expired {
        by_expiry.remove(key.as_slice())?;
        if let Ok(digest) = std::str::from_utf8(&key[8..]) {
            // Only if the session still carries this expiry (the index entry is its own).
            let stale = sessions
                .get(digest)?
                .is_some_and(|v| expiry_of(v.value()) == expiry_of(key));
            if stale {
                sessions.remove(digest)?;
            }
        }
    }
    Ok(expired.len())
}

impl SessionStore for EmbeddedStore {
    fn put<'a>(&'a self, id: &'a str, session: &'a SignedIn) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let digest = digest(id);
            let expires = seconds(session.expires_at);
            let mut value = expires.to_be_bytes().to_vec();
            value.extend(self.sealer.seal(&context(&digest), &encode(session)?)?);
            self.blocking(move |me| {
                let txn = me.db.database.begin_write()?;
                {
                    let mut sessions = txn.open_table(SESSIONS)?;
                    let mut by_expiry = txn.open_table(BY_EXPIRY)?;
                    let old = sessions
                        .insert(digest.as_str(), value.as_slice())?
                        .and_then(|old| expiry_of(old.value()));
                    if let Some(old) = old {
                        by_expiry.remove(index_key(old, &digest).as_slice())?;
                    }
                    by_expiry.insert(index_key(expires, &digest).as_slice(), ())?;
                    sweep(
                        &mut sessions,
                        &mut by_expiry,
                        Utc::now().timestamp(),
                        SWEEP_PER_WRITE,
                    )?;
                }
                txn.commit()?;
                Ok(())
            })
            .await
        })
    }

    fn get<'a>(&'a self, id: &'a str, now: DateTime<Utc>) -> StoreFuture<'a, Option<SignedIn>> {
        Box::pin(async move {
            let lookup = digest(id);
            // The session and its logout markers on one snapshot.
            let (session, logged_out) = self
                .blocking(move |me| {
                    let txn = me.db.database.begin_read()?;
                    let sessions = txn.open_table(SESSIONS)?;
                    let Some(value) = sessions.get(lookup.as_str())?.map(|v| v.value().to_vec())
                    else {
                        return Ok((None, false));
                    };
                    let Some(session) = value
                        .get(8..)
                        .and_then(|v| unseal(&me.sealer, &context(&lookup), v))
                    else {
                        return Ok((None, false));
                    };
                    let logout = txn.open_table(LOGOUT)?;
                    let sid_marked = match &session.sid {
                        Some(sid) => logout.get(sid_key(sid).as_str())?.is_some(),
                        None => false,
                    };
                    let sub_marker = logout
                        .get(sub_key(&session.subject).as_str())?
                        .and_then(|v| marker_time(v.value()));
                    let logged_out = ended(&session, sid_marked, sub_marker);
                    Ok((Some(session), logged_out))
                })
                .await?;
            if logged_out {
                self.remove(id).await?;
                tracing::info!("session ended by a back-channel logout");
                return Ok(None);
            }
            Ok(session.filter(|s| s.expires_at > now))
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SignedIn>> {
        Box::pin(async move {
            let digest = digest(id);
            let key = digest.clone();
            let value = self
                .blocking(move |me| {
                    let txn = me.db.database.begin_write()?;
                    let old = {
                        let mut sessions = txn.open_table(SESSIONS)?;
                        let mut by_expiry = txn.open_table(BY_EXPIRY)?;
                        let old = sessions.remove(key.as_str())?.map(|v| v.value().to_vec());
                        if let Some(expires) = old.as_deref().and_then(expiry_of) {
                            by_expiry.remove(index_key(expires, &key).as_slice())?;
                        }
                        old
                    };
                    txn.commit()?;
                    Ok(old)
                })
                .await?;
            Ok(value.and_then(|v| unseal(&self.sealer, &context(&digest), v.get(8..)?)))
        })
    }

    fn record_logout<'a>(&'a self, logout: &'a Logout) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let jti = jti_key(&logout.jti);
            let jti_expires = seconds(logout.jti_expires_at);
            let (marker, time) = logout.marker();
            let marker_expires = seconds(logout.marker_expires_at);
            self.blocking(move |me| {
                let txn = me.db.database.begin_write()?;
                {
                    let mut table = txn.open_table(LOGOUT)?;
                    let mut by_expiry = txn.open_table(LOGOUT_BY_EXPIRY)?;
                    if table.get(jti.as_str())?.is_some() {
                        // A replay: the transaction is dropped unchanged.
                        return Ok(false);
                    }
                    put_record(&mut table, &mut by_expiry, &jti, jti_expires, &[])?;
                    let old = table.get(marker.as_str())?.map(|v| {
                        let v = v.value();
                        (expiry_of(v).unwrap_or(0), marker_time(v))
                    });
                    let expires = old.map_or(marker_expires, |(e, _)| e.max(marker_expires));
                    let time = match (time, old.and_then(|(_, t)| t)) {
                        (Some(new), Some(old)) => Some(new.max(old)),
                        (new, _) => new,
                    };
                    let payload = time.map(i64::to_be_bytes);
                    put_record(
                        &mut table,
                        &mut by_expiry,
                        &marker,
                        expires,
                        payload.as_ref().map_or(&[][..], |p| &p[..]),
                    )?;
                    sweep(
                        &mut table,
                        &mut by_expiry,
                        Utc::now().timestamp(),
                        SWEEP_PER_WRITE,
                    )?;
                }
                txn.commit()?;
                Ok(true)
            })
            .await
        })
    }

    fn lock_refresh<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RefreshGuard> {
        Box::pin(async move {
            let guard = self.locks.lock_for(id).lock_owned().await;
            Ok(RefreshGuard(GuardKind::Local(LocalGuard {
                guard: Some(guard),
                locks: self.locks.clone(),
                id: id.to_owned(),
            })))
        })
    }

    fn unlock_refresh(&self, guard: RefreshGuard) -> StoreFuture<'_, ()> {
        drop(guard);
        Box::pin(async { Ok(()) })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// One in-process lock per session id, so that concurrent requests of one session refresh once:
/// the identity server rotates refresh tokens and treats a reused one as stolen (it revokes the
/// whole grant), so two parallel refreshes would sign the user out.
#[derive(Debug, Default)]
pub(crate) struct LocalLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl LocalLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Every operation is a single insert, lookup or remove: a poisoned map is still whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.map().entry(id.to_owned()).or_default().clone()
    }

    /// Forgets the lock of `id` unless another request still holds or waits for it.
    fn release(&self, id: &str) {
        let mut map = self.map();
        if map.get(id).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            map.remove(id);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

/// The held in-process lock; released (and forgotten when nobody waits) on drop.
#[derive(Debug)]
pub(crate) struct LocalGuard {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    locks: Arc<LocalLocks>,
    id: String,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.locks.release(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_released_lock_is_forgotten() {
        let store = EmbeddedStore::in_memory(Sealer::derive(&[1u8; 64]).unwrap()).unwrap();
        let guard = store.lock_refresh("a").await.unwrap();
        assert_eq!(store.locks.len(), 1);
        store.unlock_refresh(guard).await.unwrap();
        assert_eq!(store.locks.len(), 0);
    }

    #[tokio::test]
    async fn closed_resolves_only_once_every_handle_is_dropped() {
        let store = EmbeddedStore::in_memory(Sealer::derive(&[1u8; 64]).unwrap()).unwrap();
        let closed = store.closed();
        tokio::pin!(closed);
        let clone = store.clone();
        drop(store);
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), &mut closed);
        assert!(early.await.is_err(), "closed while a handle is alive");
        drop(clone);
        tokio::time::timeout(std::time::Duration::from_secs(1), closed)
            .await
            .expect("closed after the last handle");
    }

    #[test]
    fn index_keys_sort_by_expiry() {
        assert!(index_key(9, "zzz") < index_key(10, "aaa"));
        assert_eq!(expiry_of(&index_key(42, "d")), Some(42));
    }
}
