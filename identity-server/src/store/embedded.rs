//! The embedded backend: every store in ONE redb database file (`<data_dir>/identity-server.redb`),
//! ACID, crash-safe, pure Rust. The default: `cargo run` needs nothing else.
//!
//! **Writes are durable before they are acknowledged**: each write runs inside a redb write
//! transaction committed with `Durability::Immediate` (fsync). A SIGKILL or a power cut leaves
//! the file at the last commit, never torn; redb repairs its allocator state on the next open.
//! A file that redb cannot open (not a redb file, corrupt, newer format) stops start-up with an
//! error naming it: nothing is ever reset.
//!
//! **Group commit.** redb admits one write transaction at a time and each commit costs an fsync,
//! so writes go to one writer thread through a bounded queue ([`QUEUE`] jobs; a full queue makes
//! callers wait, never grows memory). The thread runs every job waiting in the queue inside one
//! transaction, one after the other, and commits once: N concurrent logins share one fsync, and
//! since the jobs of a batch run strictly in order, each is as atomic as if it ran alone. A job
//! whose operation fails (a corrupt record) aborts the batch; the others are then re-run one per
//! transaction so that one bad record cannot fail its neighbours.
//!
//! Reads use redb's MVCC read transactions on the caller's thread (microseconds, no lock).
//!
//! **Expiry.** Ephemeral records are stored as `[expires_at: 8 bytes BE][JSON]` and indexed in
//! the `expiry` table by `(expires_at, "<table>/<key>")`; reads ignore expired records and a sweep
//! (at most every [`SWEEP_EVERY`], in the writer thread) deletes them. Bounded tables count their
//! live entries: totals with redb's O(1) `len`, per-owner counts in the `counts` table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::rules::{
    self, BudgetPolicy, ChallengeBudget, LockoutCounter, LockoutPolicy, QuotaWindow, Rotation,
    SecondFactorBudget,
};
use super::{
    AccessTokenRecord, AccessTokenStore, AuthorizeRequest, AuthorizeRequestStore, CodeRecord,
    CodeStore, CodeUse, FailedLoginStore, Full, Grant, GrantStore, LockoutKey, LoginTransaction,
    LoginTransactionStore, QuotaKey, QuotaRefused, QuotaStore, RefreshUse, Session, SessionStore,
    StoreError, StoreFuture, StoreHealth, StoredUser, Stores, TransactionId, UserStore, budget_key,
    digest,
};
use crate::oidc::now;

/// The database file in the data directory.
pub const FILE_NAME: &str = "identity-server.redb";

/// Most write jobs waiting for the writer thread.
pub const QUEUE: usize = 4096;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 512;

/// How often expired records are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Most expired records deleted per sweep transaction (a sweep never holds the writer long).
const SWEEP_BATCH: usize = 2000;

type Bytes = &'static [u8];
const AUTHORIZE: TableDefinition<&str, Bytes> = TableDefinition::new("authorize_requests");
const TRANSACTIONS: TableDefinition<&str, Bytes> = TableDefinition::new("login_transactions");
const SESSIONS: TableDefinition<&str, Bytes> = TableDefinition::new("sessions");
const CODES: TableDefinition<&str, Bytes> = TableDefinition::new("codes");
const GRANTS: TableDefinition<&str, Bytes> = TableDefinition::new("grants");
const GRANT_TOMBS: TableDefinition<&str, Bytes> = TableDefinition::new("grant_tombstones");
const REFRESH: TableDefinition<&str, Bytes> = TableDefinition::new("refresh_tokens");
const ACCESS: TableDefinition<&str, Bytes> = TableDefinition::new("access_tokens");
const USERS: TableDefinition<&str, Bytes> = TableDefinition::new("users");
const USERNAMES: TableDefinition<&str, &str> = TableDefinition::new("usernames");
const LOCKOUT: TableDefinition<&str, Bytes> = TableDefinition::new("failed_logins");
const BUDGETS: TableDefinition<&str, Bytes> = TableDefinition::new("second_factor_budgets");
const QUOTAS: TableDefinition<&str, Bytes> = TableDefinition::new("quotas");
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");
const EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("expiry");
/// Every session under its subject: `(subject, session key)`. Written in the transaction that
/// writes, removes or sweeps the session.
const SESSION_INDEX: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("sessions_by_subject");
/// Every unexpired grant under its subject: `(subject, grant id)` -> the grant's expiry.
const GRANT_INDEX: TableDefinition<(&str, &str), u64> = TableDefinition::new("grants_by_subject");

/// Bounds of the embedded store (the Redis backend relies on `maxmemory` instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedLimits {
    /// Most pending authorize requests in total.
    pub max_authorize_requests: u64,
    /// Most login transactions in total.
    pub max_transactions: u64,
    /// Most codes (used ones included, for reuse detection).
    pub max_codes: u64,
    /// Most access-token records.
    pub max_access_tokens: u64,
    /// Most live sessions.
    pub max_sessions: u64,
    /// Bytes of redb's page cache (reads and not yet written pages). redb's own default is
    /// 1 GiB, filled with every page the server reads or writes until it is reached: the
    /// resident memory of a long-running server would grow with its data. Pages beyond the
    /// cache are read from the file again (the operating system's page cache, not this
    /// process's memory).
    pub cache_bytes: usize,
}

/// Default of [`EmbeddedLimits::cache_bytes`] (2 MiB: the tables' upper levels and the recent
/// records; the rest costs one `pread` of 4 KiB, microseconds, when read again).
pub const DEFAULT_CACHE_BYTES: usize = 2 * 1024 * 1024;

impl Default for EmbeddedLimits {
    fn default() -> Self {
        Self {
            max_authorize_requests: u64::from(super::MAX_PENDING_AUTHORIZE_REQUESTS),
            max_transactions: 100_000,
            max_codes: 100_000,
            max_access_tokens: 200_000,
            max_sessions: 1_000_000,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// Opens (or creates) the database at `path`, or an in-memory one when `path` is `None`
/// (tests), and returns every store on it.
pub async fn open(
    path: Option<&Path>,
    policy: LockoutPolicy,
    limits: EmbeddedLimits,
) -> Result<Stores, StoreError> {
    Ok(open_embedded(path, policy, limits).await?.stores())
}

/// Like [`open`], returning the store itself (for `migrate-data` and tests).
pub async fn open_embedded(
    path: Option<&Path>,
    policy: LockoutPolicy,
    limits: EmbeddedLimits,
) -> Result<Arc<Embedded>, StoreError> {
    let db = match path {
        Some(p) => open_file(p, limits.cache_bytes).await?,
        None => Database::builder()
            .set_cache_size(limits.cache_bytes)
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::backend("in-memory database", e))?,
    };
    let db = Arc::new(db);
    create_tables(&db)?;
    let (tx, rx) = mpsc::channel::<Box<dyn Job>>(QUEUE);
    let writer_db = db.clone();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer(writer_db, rx))
        .map_err(|e| StoreError::backend("cannot start the store writer", e))?;
    Ok(Arc::new(Embedded {
        db,
        jobs: tx,
        policy,
        limits,
        path: path.map(Path::to_path_buf),
    }))
}

/// How long start-up waits for another holder of the database file to let go (the previous
/// process of a restart still shutting down, or an in-process restart in tests).
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

async fn open_file(path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // redb asserts on some damaged pages while it opens a file (in debug builds it walks
        // every page): a panic there is a damaged file too, reported with its name.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Database::builder().set_cache_size(cache_bytes).create(path)
        }))
        .map_err(|_| {
            StoreError::Backend(format!(
                "cannot open the database '{}': it is damaged; restore it from a backup or move it away to start empty (accounts and grants in it are then lost)",
                path.display()
            ))
        })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Backend(format!(
                    "the database '{}' is in use by another process; one embedded database serves one identity server (use store.url = \"redis://...\" for several replicas)",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "cannot open the database '{}': {e}; if the file is damaged, restore it from a backup or move it away to start empty (accounts and grants in it are then lost)",
                    path.display()
                )));
            }
        }
    }
}

fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db
        .begin_write()
        .map_err(|e| StoreError::backend("begin", e))?;
    {
        let e = |e: redb::TableError| StoreError::backend("create table", e);
        for t in [
            AUTHORIZE,
            TRANSACTIONS,
            SESSIONS,
            CODES,
            GRANTS,
            GRANT_TOMBS,
            REFRESH,
            ACCESS,
            USERS,
            LOCKOUT,
            BUDGETS,
            QUOTAS,
        ] {
            txn.open_table(t).map_err(e)?;
        }
        txn.open_table(USERNAMES).map_err(e)?;
        txn.open_table(COUNTS).map_err(e)?;
        txn.open_table(EXPIRY).map_err(e)?;
        txn.open_table(SESSION_INDEX).map_err(e)?;
        txn.open_table(GRANT_INDEX).map_err(e)?;
        index_earlier_records(&txn)?;
    }
    txn.commit().map_err(|e| StoreError::backend("commit", e))
}

/// Marks (in `counts`) that the subject indexes cover every record.
const INDEXED_MARK: &str = "subject-indexes:v1";

/// Once per database: indexes the sessions and grants written before the subject indexes
/// existed, so that "sign out everywhere" reaches them too. Undecodable records are left to
/// their expiry.
fn index_earlier_records(txn: &WriteTransaction) -> Result<(), StoreError> {
    if count_get(txn, INDEXED_MARK)? > 0 {
        return Ok(());
    }
    // Streamed: one entry at a time, however many records there are.
    let (mut sessions, mut grants) = (0usize, 0usize);
    {
        let table = txn.open_table(SESSIONS).map_err(be)?;
        let mut index = txn.open_table(SESSION_INDEX).map_err(be)?;
        for entry in table.iter().map_err(be)? {
            let (k, v) = entry.map_err(be)?;
            if let Ok(s) = decode::<Session>(split_exp(v.value()).1) {
                index
                    .insert((s.subject.as_str(), k.value()), ())
                    .map_err(be)?;
                sessions += 1;
            }
        }
    }
    {
        let table = txn.open_table(GRANTS).map_err(be)?;
        let mut index = txn.open_table(GRANT_INDEX).map_err(be)?;
        for entry in table.iter().map_err(be)? {
            let (_, v) = entry.map_err(be)?;
            let (exp, body) = split_exp(v.value());
            if let Ok(g) = decode::<Grant>(body) {
                index
                    .insert((g.subject.as_str(), g.id.as_str()), exp)
                    .map_err(be)?;
                grants += 1;
            }
        }
    }
    if sessions > 0 || grants > 0 {
        tracing::info!(
            sessions,
            grants,
            "indexed earlier sessions and grants under their subjects"
        );
    }
    count_add(txn, INDEXED_MARK, 1)
}

/// The embedded store (one per process; the database file is locked by redb).
pub struct Embedded {
    db: Arc<Database>,
    jobs: mpsc::Sender<Box<dyn Job>>,
    policy: LockoutPolicy,
    limits: EmbeddedLimits,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// The writer thread.

/// One write operation, run inside a batch's transaction.
trait Job: Send {
    /// Runs the operation. An error aborts the batch.
    fn run(&mut self, txn: &WriteTransaction) -> Result<(), StoreError>;
    /// Whether the caller was already answered (the job failed): it must not run again.
    fn answered(&self) -> bool;
    /// Delivers the result once the batch committed (`Ok`) or failed.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Op<R, F> {
    f: F,
    out: Option<R>,
    reply: Option<oneshot::Sender<Result<R, StoreError>>>,
}

impl<R, F> Job for Op<R, F>
where
    R: Send,
    F: FnMut(&WriteTransaction) -> Result<R, StoreError> + Send,
{
    fn run(&mut self, txn: &WriteTransaction) -> Result<(), StoreError> {
        self.out = None;
        match (self.f)(txn) {
            Ok(r) => {
                self.out = Some(r);
                Ok(())
            }
            Err(e) => {
                // Answer now: this job fails whatever happens to the batch.
                if let Some(reply) = self.reply.take() {
                    let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                }
                Err(e)
            }
        }
    }

    fn answered(&self) -> bool {
        self.reply.is_none()
    }

    fn finish(mut self: Box<Self>, committed: Result<(), String>) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let result = match (committed, self.out.take()) {
            (Ok(()), Some(r)) => Ok(r),
            (Ok(()), None) => Err(StoreError::Backend("the write did not run".into())),
            (Err(e), _) => Err(StoreError::Backend(e)),
        };
        let _ = reply.send(result);
    }
}

fn commit(txn: WriteTransaction) -> Result<(), String> {
    let mut txn = txn;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| format!("commit: {e}"))
}

fn run_batch(db: &Database, mut batch: Vec<Box<dyn Job>>) {
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let msg = format!("begin: {e}");
            for job in batch {
                job.finish(Err(msg.clone()));
            }
            return;
        }
    };
    let mut failed = false;
    for job in &mut batch {
        if job.run(&txn).is_err() {
            failed = true;
            break;
        }
    }
    if !failed {
        let committed = commit(txn);
        if let Err(e) = &committed {
            tracing::error!(error = %e, "store commit failed");
        }
        for job in batch {
            job.finish(committed.clone());
        }
        return;
    }
    drop(txn);
    // One job failed: its reply is sent (it never runs again: its caller was told it failed);
    // run the others alone so that they do not fail with it.
    for mut job in batch {
        if job.answered() {
            continue;
        }
        let txn = match db.begin_write() {
            Ok(t) => t,
            Err(e) => {
                job.finish(Err(format!("begin: {e}")));
                continue;
            }
        };
        match job.run(&txn) {
            Ok(()) => {
                let committed = commit(txn);
                job.finish(committed);
            }
            Err(_) => job.finish(Err("aborted".into())),
        }
    }
}

fn writer(db: Arc<Database>, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut last_sweep = Instant::now();
    sweep(&db);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&db, batch);
        if last_sweep.elapsed() >= SWEEP_EVERY {
            sweep(&db);
            last_sweep = Instant::now();
        }
    }
}

/// Deletes expired records, a bounded number per transaction.
fn sweep(db: &Database) {
    loop {
        match sweep_once(db, now()) {
            Ok(n) if n >= SWEEP_BATCH => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "store sweep failed");
                return;
            }
        }
    }
}

fn sweep_once(db: &Database, now: i64) -> Result<usize, StoreError> {
    let txn = db
        .begin_write()
        .map_err(|e| StoreError::backend("begin", e))?;
    let due: Vec<(u64, String)> = {
        let expiry = txn.open_table(EXPIRY).map_err(be)?;
        let mut due = Vec::new();
        for entry in expiry.range(..(as_u64(now), "")).map_err(be)? {
            let (k, _) = entry.map_err(be)?;
            let (exp, name) = k.value();
            due.push((exp, name.to_owned()));
            if due.len() >= SWEEP_BATCH {
                break;
            }
        }
        due
    };
    for (exp, name) in &due {
        txn.open_table(EXPIRY)
            .map_err(be)?
            .remove((*exp, name.as_str()))
            .map_err(be)?;
        let Some((table, key)) = name.split_once('/') else {
            continue;
        };
        expire(&txn, table, key, *exp)?;
    }
    commit(txn).map_err(StoreError::Backend)?;
    Ok(due.len())
}

/// Removes record `key` of `table` whose index entry at `exp` fell due, unless it was rewritten
/// with a later expiry (then a newer index entry exists).
fn expire(txn: &WriteTransaction, table: &str, key: &str, exp: u64) -> Result<(), StoreError> {
    let def = match table {
        "ar" => AUTHORIZE,
        "tx" => TRANSACTIONS,
        "s" => SESSIONS,
        "c" => CODES,
        "g" => GRANTS,
        "gt" => GRANT_TOMBS,
        "rt" => REFRESH,
        "at" => ACCESS,
        "lf" => LOCKOUT,
        "sf" => BUDGETS,
        "q" => QUOTAS,
        _ => return Ok(()),
    };
    let mut t = txn.open_table(def).map_err(be)?;
    let current = t.get(key).map_err(be)?.map(|v| split_exp(v.value()).0);
    if current != Some(exp) {
        return Ok(());
    }
    let removed = t.remove(key).map_err(be)?.map(|v| v.value().to_vec());
    drop(t);
    // Release what the record counted against.
    if let Some(bytes) = removed {
        match table {
            "ar" => {
                if let Ok(r) = decode::<StoredAuthorize>(split_exp(&bytes).1) {
                    count_add(txn, &format!("arn:{}", r.network), -1)?;
                }
            }
            "c" => {
                if let Ok(c) = decode::<StoredCode>(split_exp(&bytes).1)
                    && !c.used
                {
                    count_add(txn, &format!("codes:{}", c.record.sid), -1)?;
                }
            }
            "s" => {
                if let Ok(s) = decode::<Session>(split_exp(&bytes).1) {
                    txn.open_table(SESSION_INDEX)
                        .map_err(be)?
                        .remove((s.subject.as_str(), key))
                        .map_err(be)?;
                }
            }
            "g" => {
                if let Ok(g) = decode::<Grant>(split_exp(&bytes).1) {
                    txn.open_table(GRANT_INDEX)
                        .map_err(be)?
                        .remove((g.subject.as_str(), key))
                        .map_err(be)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers.

fn be(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn as_u64(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn encode<T: Serialize>(exp: i64, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = as_u64(exp).to_be_bytes().to_vec();
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::backend("encode", e))?;
    Ok(out)
}

fn split_exp(bytes: &[u8]) -> (u64, &[u8]) {
    if bytes.len() < 8 {
        return (0, &[]);
    }
    let (head, body) = bytes.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(head);
    (u64::from_be_bytes(b), body)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A live record of `t`: `None` when absent or expired at `now`.
fn read_live<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
    now: i64,
) -> Result<Option<(u64, T)>, StoreError> {
    let Some(v) = t.get(key).map_err(be)? else {
        return Ok(None);
    };
    let (exp, body) = split_exp(v.value());
    if exp <= as_u64(now) {
        return Ok(None);
    }
    Ok(Some((exp, decode(body)?)))
}

/// Writes record `key` of table `name` (short name used in the expiry index) expiring at `exp`,
/// keeping exactly one expiry-index entry for it.
fn put_exp<T: Serialize>(
    txn: &WriteTransaction,
    def: TableDefinition<&str, Bytes>,
    name: &str,
    key: &str,
    exp: i64,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = encode(exp, value)?;
    let mut t = txn.open_table(def).map_err(be)?;
    let old = t
        .insert(key, bytes.as_slice())
        .map_err(be)?
        .map(|v| split_exp(v.value()).0);
    drop(t);
    let index = format!("{name}/{key}");
    let mut expiry = txn.open_table(EXPIRY).map_err(be)?;
    let exp = as_u64(exp);
    if let Some(old) = old {
        if old == exp {
            return Ok(());
        }
        expiry.remove((old, index.as_str())).map_err(be)?;
    }
    expiry.insert((exp, index.as_str()), ()).map_err(be)?;
    Ok(())
}

/// Removes record `key` and its expiry-index entry; returns its bytes.
fn remove_exp(
    txn: &WriteTransaction,
    def: TableDefinition<&str, Bytes>,
    name: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut t = txn.open_table(def).map_err(be)?;
    let old = t.remove(key).map_err(be)?.map(|v| v.value().to_vec());
    drop(t);
    if let Some(bytes) = &old {
        let exp = split_exp(bytes).0;
        let index = format!("{name}/{key}");
        txn.open_table(EXPIRY)
            .map_err(be)?
            .remove((exp, index.as_str()))
            .map_err(be)?;
    }
    Ok(old)
}

fn count_get(txn: &WriteTransaction, key: &str) -> Result<u64, StoreError> {
    let t = txn.open_table(COUNTS).map_err(be)?;
    Ok(t.get(key).map_err(be)?.map_or(0, |v| v.value()))
}

fn count_add(txn: &WriteTransaction, key: &str, delta: i64) -> Result<(), StoreError> {
    let mut t = txn.open_table(COUNTS).map_err(be)?;
    let current = t.get(key).map_err(be)?.map_or(0, |v| v.value());
    let next = current.saturating_add_signed(delta);
    if next == 0 {
        t.remove(key).map_err(be)?;
    } else {
        t.insert(key, next).map_err(be)?;
    }
    Ok(())
}

fn table_len(txn: &WriteTransaction, def: TableDefinition<&str, Bytes>) -> Result<u64, StoreError> {
    txn.open_table(def).map_err(be)?.len().map_err(be)
}

/// The session keys indexed under `subject`.
fn session_keys_of(
    t: &impl ReadableTable<(&'static str, &'static str), ()>,
    subject: &str,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    for entry in t.range((subject, "")..).map_err(be)? {
        let (k, _) = entry.map_err(be)?;
        let (owner, key) = k.value();
        if owner != subject {
            break;
        }
        keys.push(key.to_owned());
    }
    Ok(keys)
}

/// The grant ids indexed under `subject`, with their expiry.
fn grants_of(
    t: &impl ReadableTable<(&'static str, &'static str), u64>,
    subject: &str,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut ids = Vec::new();
    for entry in t.range((subject, "")..).map_err(be)? {
        let (k, v) = entry.map_err(be)?;
        let (owner, id) = k.value();
        if owner != subject {
            break;
        }
        ids.push((id.to_owned(), v.value()));
    }
    Ok(ids)
}

/// Indexes `grant` under its subject, drops the subject's expired entries and, past
/// [`super::MAX_GRANTS_PER_SUBJECT`], revokes and drops the subject's oldest grants (expiring
/// first).
fn index_grant(txn: &WriteTransaction, grant: &Grant, now: i64) -> Result<(), StoreError> {
    let subject = grant.subject.as_str();
    txn.open_table(GRANT_INDEX)
        .map_err(be)?
        .insert((subject, grant.id.as_str()), as_u64(grant.expires_at))
        .map_err(be)?;
    let entries = grants_of(&txn.open_table(GRANT_INDEX).map_err(be)?, subject)?;
    if entries.len() <= super::MAX_GRANTS_PER_SUBJECT {
        return Ok(());
    }
    let (expired, mut entries): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(_, exp)| *exp <= as_u64(now));
    {
        let mut index = txn.open_table(GRANT_INDEX).map_err(be)?;
        for (id, _) in &expired {
            index.remove((subject, id.as_str())).map_err(be)?;
        }
    }
    entries.sort_by_key(|(id, exp)| (*exp, id.clone()));
    let over = entries.len().saturating_sub(super::MAX_GRANTS_PER_SUBJECT);
    for (id, _) in entries.iter().filter(|(id, _)| *id != grant.id).take(over) {
        let grants = txn.open_table(GRANTS).map_err(be)?;
        let found = read_live::<Grant>(&grants, id, now)?;
        drop(grants);
        if let Some((_, mut old)) = found
            && !old.revoked
        {
            old.revoked = true;
            put_exp(txn, GRANTS, "g", &old.id, old.expires_at, &old)?;
        }
        txn.open_table(GRANT_INDEX)
            .map_err(be)?
            .remove((subject, id.as_str()))
            .map_err(be)?;
    }
    Ok(())
}

/// Removes session `key` with its expiry and subject index entries; returns the record when it
/// could be decoded.
fn remove_session(txn: &WriteTransaction, key: &str) -> Result<Option<Session>, StoreError> {
    let Some(bytes) = remove_exp(txn, SESSIONS, "s", key)? else {
        return Ok(None);
    };
    let Ok(session) = decode::<Session>(split_exp(&bytes).1) else {
        return Ok(None);
    };
    txn.open_table(SESSION_INDEX)
        .map_err(be)?
        .remove((session.subject.as_str(), key))
        .map_err(be)?;
    Ok(Some(session))
}

/// Writes session `key` and its index entry, then ends the subject's least recently used
/// sessions past [`super::MAX_SESSIONS_PER_SUBJECT`] (records already expired go first and are
/// not reported); returns the ended live ones.
fn create_session(
    txn: &WriteTransaction,
    key: &str,
    session: &Session,
    expires_at: i64,
    now: i64,
) -> Result<Vec<Session>, StoreError> {
    put_exp(txn, SESSIONS, "s", key, expires_at, session)?;
    txn.open_table(SESSION_INDEX)
        .map_err(be)?
        .insert((session.subject.as_str(), key), ())
        .map_err(be)?;
    let keys = session_keys_of(
        &txn.open_table(SESSION_INDEX).map_err(be)?,
        &session.subject,
    )?;
    if keys.len() <= super::MAX_SESSIONS_PER_SUBJECT {
        return Ok(Vec::new());
    }
    let mut others = Vec::with_capacity(keys.len());
    for other in keys.iter().filter(|k| k.as_str() != key) {
        let t = txn.open_table(SESSIONS).map_err(be)?;
        let found = read_live::<Session>(&t, other, now)?;
        drop(t);
        match found {
            Some((_, s)) => others.push((other.clone(), s)),
            None => {
                // Expired (not swept yet) or gone: prune it.
                remove_session(txn, other)?;
                txn.open_table(SESSION_INDEX)
                    .map_err(be)?
                    .remove((session.subject.as_str(), other.as_str()))
                    .map_err(be)?;
            }
        }
    }
    others.sort_by_key(|(_, s)| (s.last_seen, s.created));
    let over = (others.len() + 1).saturating_sub(super::MAX_SESSIONS_PER_SUBJECT);
    let mut ended = Vec::with_capacity(over);
    for (other, s) in others.into_iter().take(over) {
        remove_session(txn, &other)?;
        ended.push(s);
    }
    Ok(ended)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAuthorize {
    request: AuthorizeRequest,
    network: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCode {
    record: CodeRecord,
    used: bool,
}

impl Embedded {
    /// Every store trait on this database.
    pub fn stores(self: &Arc<Self>) -> Stores {
        Stores {
            authorize_requests: self.clone(),
            transactions: self.clone(),
            sessions: self.clone(),
            codes: self.clone(),
            grants: self.clone(),
            access_tokens: self.clone(),
            users: self.clone(),
            failed_logins: self.clone(),
            quotas: self.clone(),
            health: self.clone(),
        }
    }

    /// Imports an account of the old journal format (`migrate-data`); `false` when its username
    /// or subject exists already.
    pub async fn import_user(&self, user: &StoredUser) -> Result<bool, StoreError> {
        UserStore::create(self, user).await
    }

    /// Imports a grant of the old journal format with the refresh tokens it rotated away, so
    /// that their reuse keeps revoking it.
    pub async fn import_grant(&self, grant: &Grant, rotated: &[String]) -> Result<(), StoreError> {
        // Not through `GrantStore::create`: an imported grant may be revoked already.
        let grant = grant.clone();
        let rotated = rotated.to_vec();
        self.write(move |txn| {
            put_exp(txn, GRANTS, "g", &grant.id, grant.expires_at, &grant)?;
            for hash in grant.refresh_hash.iter().chain(&rotated) {
                put_exp(txn, REFRESH, "rt", hash, grant.expires_at, &grant.id)?;
            }
            index_grant(txn, &grant, now())?;
            Ok(())
        })
        .await
    }

    /// Runs `f` in the writer thread inside a batch transaction, and waits for the commit.
    fn write<R, F>(&self, f: F) -> StoreFuture<'_, R>
    where
        R: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Op {
            f,
            out: None,
            reply: Some(reply),
        });
        Box::pin(async move {
            self.jobs
                .send(job)
                .await
                .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?
        })
    }

    /// Runs `f` on a read transaction, on the caller's thread.
    fn read<R>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = self.db.begin_read().map_err(be)?;
        f(&txn)
    }

    fn read_record<T: DeserializeOwned>(
        &self,
        def: TableDefinition<&str, Bytes>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let t = now();
        self.read(|txn| {
            let table = txn.open_table(def).map_err(be)?;
            Ok(read_live::<T>(&table, key, t)?.map(|(_, v)| v))
        })
    }
}

fn ready<'a, T: Send + 'a>(r: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(r))
}

// ---------------------------------------------------------------------------------------------
// The stores.

impl AuthorizeRequestStore for Embedded {
    fn put<'a>(
        &'a self,
        key: &'a str,
        request: &'a AuthorizeRequest,
        expires_at: i64,
        network: &'a str,
        max_per_network: u32,
    ) -> StoreFuture<'a, Result<(), Full>> {
        let (key, network) = (key.to_owned(), network.to_owned());
        let stored = StoredAuthorize {
            request: request.clone(),
            network: network.clone(),
        };
        let max_total = self.limits.max_authorize_requests;
        self.write(move |txn| {
            let owner = format!("arn:{network}");
            if count_get(txn, &owner)? >= u64::from(max_per_network) {
                return Ok(Err(Full::Owner));
            }
            if table_len(txn, AUTHORIZE)? >= max_total {
                return Ok(Err(Full::Total));
            }
            let existed = txn
                .open_table(AUTHORIZE)
                .map_err(be)?
                .get(key.as_str())
                .map_err(be)?
                .is_some();
            put_exp(txn, AUTHORIZE, "ar", &key, expires_at, &stored)?;
            if !existed {
                count_add(txn, &owner, 1)?;
            }
            Ok(Ok(()))
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<AuthorizeRequest>> {
        ready(
            self.read_record::<StoredAuthorize>(AUTHORIZE, key)
                .map(|r| r.map(|s| s.request)),
        )
    }

    fn take<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<AuthorizeRequest>> {
        let key = key.to_owned();
        self.write(move |txn| {
            let Some(bytes) = remove_exp(txn, AUTHORIZE, "ar", &key)? else {
                return Ok(None);
            };
            let (exp, body) = split_exp(&bytes);
            let stored: StoredAuthorize = decode(body)?;
            count_add(txn, &format!("arn:{}", stored.network), -1)?;
            Ok((exp > as_u64(now())).then_some(stored.request))
        })
    }
}

impl LoginTransactionStore for Embedded {
    fn insert<'a>(&'a self, transaction: &'a LoginTransaction) -> StoreFuture<'a, ()> {
        let key = digest(transaction.id.as_str());
        let tx = transaction.clone();
        let max = self.limits.max_transactions;
        self.write(move |txn| {
            if table_len(txn, TRANSACTIONS)? >= max {
                return Err(StoreError::Backend(
                    "login transactions are at their limit".into(),
                ));
            }
            put_exp(txn, TRANSACTIONS, "tx", &key, tx.expires, &tx)
        })
    }

    fn take<'a>(&'a self, id: &'a TransactionId) -> StoreFuture<'a, Option<LoginTransaction>> {
        let key = digest(id.as_str());
        let id = id.clone();
        self.write(move |txn| {
            let Some(bytes) = remove_exp(txn, TRANSACTIONS, "tx", &key)? else {
                return Ok(None);
            };
            let (exp, body) = split_exp(&bytes);
            let mut tx: LoginTransaction = decode(body)?;
            tx.id = id.clone();
            Ok((exp > as_u64(now()) && !tx.is_expired_at(now())).then_some(tx))
        })
    }
}

/// `last_seen` is written back at most this often: every page view would otherwise cost a
/// commit (fsync). The idle timeout is then exact to within this many seconds.
pub const TOUCH_GRANULARITY_SECS: i64 = 30;

impl SessionStore for Embedded {
    fn create<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, Vec<Session>> {
        let key = key.to_owned();
        let session = session.clone();
        let max = self.limits.max_sessions;
        self.write(move |txn| {
            let exists = txn
                .open_table(SESSIONS)
                .map_err(be)?
                .get(key.as_str())
                .map_err(be)?
                .is_some();
            if !exists && table_len(txn, SESSIONS)? >= max {
                return Err(StoreError::Backend("sessions are at their limit".into()));
            }
            create_session(txn, &key, &session, expires_at, now())
        })
    }

    fn replace<'a>(
        &'a self,
        old_key: &'a str,
        new_key: &'a str,
        session: &'a Session,
        expires_at: i64,
    ) -> StoreFuture<'a, bool> {
        let (old_key, new_key) = (old_key.to_owned(), new_key.to_owned());
        let session = session.clone();
        self.write(move |txn| {
            let t = now();
            let table = txn.open_table(SESSIONS).map_err(be)?;
            let live = read_live::<Session>(&table, &old_key, t)?.is_some();
            drop(table);
            if !live || expires_at <= t {
                return Ok(false);
            }
            // The old record and its index entry go first, so the subject's count is the same
            // after the write and the cap ends nobody.
            remove_session(txn, &old_key)?;
            create_session(txn, &new_key, &session, expires_at, t)?;
            Ok(true)
        })
    }

    fn list<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
        idle_secs: i64,
        absolute_secs: i64,
    ) -> StoreFuture<'a, Vec<Session>> {
        ready(self.read(|txn| {
            let keys = session_keys_of(&txn.open_table(SESSION_INDEX).map_err(be)?, subject)?;
            let t = txn.open_table(SESSIONS).map_err(be)?;
            let mut live = Vec::with_capacity(keys.len());
            for key in &keys {
                if let Some((_, s)) = read_live::<Session>(&t, key, now)?
                    && s.subject == subject
                    && s.is_live_at(now, idle_secs, absolute_secs)
                {
                    live.push(s);
                }
            }
            live.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.sid.cmp(&b.sid)));
            Ok(live)
        }))
    }

    fn end<'a>(&'a self, subject: &'a str, sid: &'a str) -> StoreFuture<'a, Option<Session>> {
        let (subject, sid) = (subject.to_owned(), sid.to_owned());
        self.write(move |txn| {
            let keys = session_keys_of(&txn.open_table(SESSION_INDEX).map_err(be)?, &subject)?;
            for key in &keys {
                let t = txn.open_table(SESSIONS).map_err(be)?;
                let found = read_live::<Session>(&t, key, now())?;
                drop(t);
                if let Some((_, s)) = found
                    && s.sid == sid
                    && s.subject == subject
                {
                    remove_session(txn, key)?;
                    return Ok(Some(s));
                }
            }
            Ok(None)
        })
    }

    fn end_all<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<Session>> {
        let subject = subject.to_owned();
        self.write(move |txn| {
            let keys = session_keys_of(&txn.open_table(SESSION_INDEX).map_err(be)?, &subject)?;
            let mut ended = Vec::with_capacity(keys.len());
            for key in &keys {
                let t = txn.open_table(SESSIONS).map_err(be)?;
                let live = read_live::<Session>(&t, key, now())?.is_some();
                drop(t);
                if let Some(s) = remove_session(txn, key)?
                    && live
                {
                    ended.push(s);
                }
                // An index entry without its record (never written so) goes too.
                txn.open_table(SESSION_INDEX)
                    .map_err(be)?
                    .remove((subject.as_str(), key.as_str()))
                    .map_err(be)?;
            }
            Ok(ended)
        })
    }

    fn touch<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        idle_secs: i64,
        absolute_secs: i64,
    ) -> StoreFuture<'a, Option<Session>> {
        // Read first: most touches need no write.
        let current = self.read(|txn| {
            let t = txn.open_table(SESSIONS).map_err(be)?;
            read_live::<Session>(&t, key, now)
        });
        let (exp, session) = match current {
            Err(e) => return ready(Err(e)),
            Ok(None) => return ready(Ok(None)),
            Ok(Some(found)) => found,
        };
        let live = session.is_live_at(now, idle_secs, absolute_secs);
        if live && now.saturating_sub(session.last_seen) < TOUCH_GRANULARITY_SECS {
            return ready(Ok(Some(session)));
        }
        let key = key.to_owned();
        self.write(move |txn| {
            let t = txn.open_table(SESSIONS).map_err(be)?;
            let found = read_live::<Session>(&t, &key, now)?;
            drop(t);
            let Some((_, mut s)) = found else {
                return Ok(None);
            };
            if !s.is_live_at(now, idle_secs, absolute_secs) {
                remove_session(txn, &key)?;
                return Ok(None);
            }
            s.last_seen = now;
            put_exp(
                txn,
                SESSIONS,
                "s",
                &key,
                i64::try_from(exp).unwrap_or(i64::MAX),
                &s,
            )?;
            Ok(Some(s))
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        let key = key.to_owned();
        self.write(move |txn| remove_session(txn, &key).map(drop))
    }
}

impl CodeStore for Embedded {
    fn put<'a>(
        &'a self,
        key: &'a str,
        record: &'a CodeRecord,
        max_per_session: u32,
    ) -> StoreFuture<'a, bool> {
        let key = key.to_owned();
        let stored = StoredCode {
            record: record.clone(),
            used: false,
        };
        let max_total = self.limits.max_codes;
        self.write(move |txn| {
            let owner = format!("codes:{}", stored.record.sid);
            if count_get(txn, &owner)? >= u64::from(max_per_session)
                || table_len(txn, CODES)? >= max_total
            {
                return Ok(false);
            }
            let exp = stored
                .record
                .expires_at
                .saturating_add(super::records::CODE_REUSE_MEMORY_SECS);
            put_exp(txn, CODES, "c", &key, exp, &stored)?;
            count_add(txn, &owner, 1)?;
            Ok(true)
        })
    }

    fn redeem<'a>(&'a self, key: &'a str) -> StoreFuture<'a, CodeUse> {
        let key = key.to_owned();
        self.write(move |txn| {
            let t = txn.open_table(CODES).map_err(be)?;
            let found = read_live::<StoredCode>(&t, &key, now())?;
            drop(t);
            let Some((exp, mut stored)) = found else {
                return Ok(CodeUse::Unknown);
            };
            if stored.used {
                return Ok(CodeUse::Reused(stored.record));
            }
            stored.used = true;
            put_exp(
                txn,
                CODES,
                "c",
                &key,
                i64::try_from(exp).unwrap_or(i64::MAX),
                &stored,
            )?;
            count_add(txn, &format!("codes:{}", stored.record.sid), -1)?;
            Ok(CodeUse::First(stored.record))
        })
    }

    fn set_grant<'a>(&'a self, key: &'a str, grant_id: &'a str) -> StoreFuture<'a, ()> {
        let (key, grant_id) = (key.to_owned(), grant_id.to_owned());
        self.write(move |txn| {
            let t = txn.open_table(CODES).map_err(be)?;
            let found = read_live::<StoredCode>(&t, &key, now())?;
            drop(t);
            if let Some((exp, mut stored)) = found {
                stored.record.grant_id = Some(grant_id.clone());
                put_exp(
                    txn,
                    CODES,
                    "c",
                    &key,
                    i64::try_from(exp).unwrap_or(i64::MAX),
                    &stored,
                )?;
            }
            Ok(())
        })
    }
}

impl GrantStore for Embedded {
    fn create<'a>(&'a self, grant: &'a Grant) -> StoreFuture<'a, bool> {
        let grant = grant.clone();
        self.write(move |txn| {
            let tombs = txn.open_table(GRANT_TOMBS).map_err(be)?;
            let revoked_before = read_live::<bool>(&tombs, &grant.id, now())?.is_some();
            drop(tombs);
            if revoked_before {
                return Ok(false);
            }
            put_exp(txn, GRANTS, "g", &grant.id, grant.expires_at, &grant)?;
            if let Some(hash) = &grant.refresh_hash {
                put_exp(txn, REFRESH, "rt", hash, grant.expires_at, &grant.id)?;
            }
            index_grant(txn, &grant, now())?;
            Ok(true)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        ready(self.read_record::<Grant>(GRANTS, id))
    }

    fn find_by_refresh<'a>(&'a self, refresh_hash: &'a str) -> StoreFuture<'a, Option<Grant>> {
        let t = now();
        ready(self.read(|txn| {
            let index = txn.open_table(REFRESH).map_err(be)?;
            let Some((_, id)) = read_live::<String>(&index, refresh_hash, t)? else {
                return Ok(None);
            };
            let grants = txn.open_table(GRANTS).map_err(be)?;
            Ok(read_live::<Grant>(&grants, &id, t)?.map(|(_, g)| g))
        }))
    }

    fn rotate<'a>(
        &'a self,
        old_hash: &'a str,
        new_hash: &'a str,
        now: i64,
        reuse_interval_secs: i64,
    ) -> StoreFuture<'a, RefreshUse> {
        let (old_hash, new_hash) = (old_hash.to_owned(), new_hash.to_owned());
        self.write(move |txn| {
            let index = txn.open_table(REFRESH).map_err(be)?;
            let found = read_live::<String>(&index, &old_hash, now)?;
            drop(index);
            let Some((_, id)) = found else {
                return Ok(RefreshUse::Invalid);
            };
            let grants = txn.open_table(GRANTS).map_err(be)?;
            let found = read_live::<Grant>(&grants, &id, now)?;
            drop(grants);
            let Some((_, mut grant)) = found else {
                return Ok(RefreshUse::Invalid);
            };
            let outcome = rules::rotate(&mut grant, &old_hash, &new_hash, now, reuse_interval_secs);
            match outcome {
                Rotation::Invalid => Ok(RefreshUse::Invalid),
                Rotation::Reused => {
                    put_exp(txn, GRANTS, "g", &grant.id, grant.expires_at, &grant)?;
                    Ok(RefreshUse::Reused(grant))
                }
                Rotation::Rotated => {
                    put_exp(txn, GRANTS, "g", &grant.id, grant.expires_at, &grant)?;
                    put_exp(txn, REFRESH, "rt", &new_hash, grant.expires_at, &grant.id)?;
                    Ok(RefreshUse::Rotated(grant))
                }
            }
        })
    }

    fn revoke_for_subject<'a>(
        &'a self,
        subject: &'a str,
        sid: Option<&'a str>,
    ) -> StoreFuture<'a, usize> {
        let (subject, sid) = (subject.to_owned(), sid.map(str::to_owned));
        self.write(move |txn| {
            let ids = grants_of(&txn.open_table(GRANT_INDEX).map_err(be)?, &subject)?;
            let mut revoked = 0;
            for (id, _) in &ids {
                let grants = txn.open_table(GRANTS).map_err(be)?;
                let found = read_live::<Grant>(&grants, id, now())?;
                drop(grants);
                let Some((_, mut grant)) = found else {
                    txn.open_table(GRANT_INDEX)
                        .map_err(be)?
                        .remove((subject.as_str(), id.as_str()))
                        .map_err(be)?;
                    continue;
                };
                if grant.revoked || sid.as_ref().is_some_and(|sid| *sid != grant.sid) {
                    continue;
                }
                grant.revoked = true;
                put_exp(txn, GRANTS, "g", &grant.id, grant.expires_at, &grant)?;
                revoked += 1;
            }
            Ok(revoked)
        })
    }

    fn revoke<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        let id = id.to_owned();
        self.write(move |txn| {
            let grants = txn.open_table(GRANTS).map_err(be)?;
            let found = read_live::<Grant>(&grants, &id, now())?;
            drop(grants);
            match found {
                Some((_, mut grant)) => {
                    if !grant.revoked {
                        grant.revoked = true;
                        put_exp(txn, GRANTS, "g", &grant.id, grant.expires_at, &grant)?;
                    }
                }
                None => {
                    let until = now().saturating_add(super::records::GRANT_TOMBSTONE_SECS);
                    put_exp(txn, GRANT_TOMBS, "gt", &id, until, &true)?;
                }
            }
            Ok(())
        })
    }
}

impl AccessTokenStore for Embedded {
    fn put<'a>(&'a self, jti: &'a str, record: &'a AccessTokenRecord) -> StoreFuture<'a, bool> {
        let jti = jti.to_owned();
        let record = record.clone();
        let max = self.limits.max_access_tokens;
        self.write(move |txn| {
            if table_len(txn, ACCESS)? >= max {
                return Ok(false);
            }
            put_exp(txn, ACCESS, "at", &jti, record.exp, &record)?;
            Ok(true)
        })
    }

    fn get<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, Option<AccessTokenRecord>> {
        ready(self.read_record::<AccessTokenRecord>(ACCESS, jti))
    }

    fn revoke<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, ()> {
        let jti = jti.to_owned();
        self.write(move |txn| {
            let t = txn.open_table(ACCESS).map_err(be)?;
            let found = read_live::<AccessTokenRecord>(&t, &jti, now())?;
            drop(t);
            if let Some((_, mut record)) = found {
                record.revoked = true;
                put_exp(txn, ACCESS, "at", &jti, record.exp, &record)?;
            }
            Ok(())
        })
    }
}

impl UserStore for Embedded {
    fn find_by_username<'a>(
        &'a self,
        username_lower: &'a str,
    ) -> StoreFuture<'a, Option<StoredUser>> {
        ready(self.read(|txn| {
            let names = txn.open_table(USERNAMES).map_err(be)?;
            let Some(subject) = names.get(username_lower).map_err(be)? else {
                return Ok(None);
            };
            let subject = subject.value().to_owned();
            let users = txn.open_table(USERS).map_err(be)?;
            users
                .get(subject.as_str())
                .map_err(be)?
                .map(|v| decode::<StoredUser>(v.value()))
                .transpose()
        }))
    }

    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<StoredUser>> {
        ready(self.read(|txn| {
            let users = txn.open_table(USERS).map_err(be)?;
            users
                .get(subject)
                .map_err(be)?
                .map(|v| decode::<StoredUser>(v.value()))
                .transpose()
        }))
    }

    fn create<'a>(&'a self, user: &'a StoredUser) -> StoreFuture<'a, bool> {
        let user = user.clone();
        self.write(move |txn| {
            let lower = user.user.username.to_lowercase();
            let mut names = txn.open_table(USERNAMES).map_err(be)?;
            if names.get(lower.as_str()).map_err(be)?.is_some() {
                return Ok(false);
            }
            let mut users = txn.open_table(USERS).map_err(be)?;
            if users.get(user.user.subject.as_str()).map_err(be)?.is_some() {
                return Ok(false);
            }
            let bytes = serde_json::to_vec(&user).map_err(|e| StoreError::backend("encode", e))?;
            users
                .insert(user.user.subject.as_str(), bytes.as_slice())
                .map_err(be)?;
            names
                .insert(lower.as_str(), user.user.subject.as_str())
                .map_err(be)?;
            Ok(true)
        })
    }
}

/// Reads, changes and writes back a lockout counter inside `txn`.
fn with_counter<R>(
    txn: &WriteTransaction,
    key: &str,
    now: i64,
    policy: LockoutPolicy,
    f: impl FnOnce(&mut LockoutCounter) -> R,
) -> Result<R, StoreError> {
    let t: Table<&str, Bytes> = txn.open_table(LOCKOUT).map_err(be)?;
    let found = read_live::<LockoutCounter>(&t, key, now)?;
    drop(t);
    let mut counter = found.map_or_else(|| LockoutCounter::new(now), |(_, c)| c);
    let r = f(&mut counter);
    let exp = counter.expires_at(policy);
    if exp > now {
        put_exp(txn, LOCKOUT, "lf", key, exp, &counter)?;
    } else {
        remove_exp(txn, LOCKOUT, "lf", key)?;
    }
    Ok(r)
}

/// Reads, changes and writes back a second-factor budget inside `txn`.
fn with_budget<R>(
    txn: &WriteTransaction,
    key: &str,
    now: i64,
    policy: BudgetPolicy,
    f: impl FnOnce(&mut SecondFactorBudget) -> R,
) -> Result<R, StoreError> {
    let t: Table<&str, Bytes> = txn.open_table(BUDGETS).map_err(be)?;
    let found = read_live::<SecondFactorBudget>(&t, key, now)?;
    drop(t);
    let mut budget = found.map_or_else(|| SecondFactorBudget::new(now), |(_, b)| b);
    let r = f(&mut budget);
    let exp = budget.expires_at(policy);
    if exp > now {
        put_exp(txn, BUDGETS, "sf", key, exp, &budget)?;
    } else {
        remove_exp(txn, BUDGETS, "sf", key)?;
    }
    Ok(r)
}

impl FailedLoginStore for Embedded {
    fn is_locked<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, bool> {
        let t = now();
        ready(self.read(|txn| {
            let table = txn.open_table(LOCKOUT).map_err(be)?;
            Ok(read_live::<LockoutCounter>(&table, &key.storage_key(), t)?
                .is_some_and(|(_, c)| c.is_locked(t)))
        }))
    }

    fn begin_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
        max: u32,
        count_in_flight: bool,
    ) -> StoreFuture<'a, bool> {
        let (key, policy) = (key.storage_key(), self.policy);
        self.write(move |txn| {
            let t = now();
            with_counter(txn, &key, t, policy, |c| {
                c.begin(t, policy, max, count_in_flight)
            })
        })
    }

    fn fail_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
        max: u32,
        reserved: bool,
    ) -> StoreFuture<'a, u32> {
        let (key, policy) = (key.storage_key(), self.policy);
        self.write(move |txn| {
            let t = now();
            with_counter(txn, &key, t, policy, |c| c.fail(t, policy, max, reserved))
        })
    }

    fn forgive<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, ()> {
        let (key, policy) = (key.storage_key(), self.policy);
        self.write(move |txn| {
            let t = now();
            with_counter(txn, &key, t, policy, |c| c.forgive(t, policy))
        })
    }

    fn reset<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, ()> {
        let (key, policy) = (key.storage_key(), self.policy);
        self.write(move |txn| {
            let t = now();
            with_counter(txn, &key, t, policy, |c| c.reset(t, policy))
        })
    }

    fn begin_challenge<'a>(
        &'a self,
        subject: &'a str,
        policy: BudgetPolicy,
    ) -> StoreFuture<'a, ChallengeBudget> {
        let key = budget_key(subject);
        self.write(move |txn| {
            let t = now();
            with_budget(txn, &key, t, policy, |b| b.begin(t, policy))
        })
    }

    fn challenge_passed<'a>(
        &'a self,
        subject: &'a str,
        policy: BudgetPolicy,
    ) -> StoreFuture<'a, ()> {
        let key = budget_key(subject);
        self.write(move |txn| {
            let t = now();
            with_budget(txn, &key, t, policy, |b| b.passed(t, policy))
        })
    }
}

impl QuotaStore for Embedded {
    fn reserve<'a>(&'a self, keys: &'a [QuotaKey]) -> StoreFuture<'a, Result<(), QuotaRefused>> {
        let keys = keys.to_vec();
        self.write(move |txn| {
            let t = now();
            let table = txn.open_table(QUOTAS).map_err(be)?;
            let mut windows = Vec::with_capacity(keys.len());
            for (index, k) in keys.iter().enumerate() {
                let w = read_live::<QuotaWindow>(&table, &k.key, t)?
                    .map(|(_, w)| w)
                    .filter(|w| !w.is_over(t, k.window_secs))
                    .unwrap_or(QuotaWindow { start: t, count: 0 });
                if w.count >= k.max {
                    return Ok(Err(QuotaRefused {
                        index,
                        retry_after_secs: w.retry_after(t, k.window_secs),
                    }));
                }
                windows.push(w);
            }
            drop(table);
            for (k, mut w) in keys.iter().zip(windows) {
                w.count += 1;
                put_exp(
                    txn,
                    QUOTAS,
                    "q",
                    &k.key,
                    w.start.saturating_add(k.window_secs),
                    &w,
                )?;
            }
            Ok(Ok(()))
        })
    }

    fn give_back<'a>(&'a self, keys: &'a [QuotaKey]) -> StoreFuture<'a, ()> {
        let keys = keys.to_vec();
        self.write(move |txn| {
            let t = now();
            for k in &keys {
                let table = txn.open_table(QUOTAS).map_err(be)?;
                let found = read_live::<QuotaWindow>(&table, &k.key, t)?;
                drop(table);
                if let Some((exp, mut w)) = found
                    && w.count > 0
                {
                    w.count -= 1;
                    put_exp(
                        txn,
                        QUOTAS,
                        "q",
                        &k.key,
                        i64::try_from(exp).unwrap_or(i64::MAX),
                        &w,
                    )?;
                }
            }
            Ok(())
        })
    }
}

impl StoreHealth for Embedded {
    fn check(&self) -> StoreFuture<'_, ()> {
        ready(self.read(|_| Ok(())))
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}
