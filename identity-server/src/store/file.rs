//! Durable embedded stores in the data directory: user accounts (`users.json`, plus the
//! append-only `users.jsonl` of accounts created since start-up, folded in at the next start) and grants (`grants.jsonl`, an append-only journal synced before a write is
//! acknowledged, compacted at start-up; concurrent appends share one `fsync`). A `None`
//! directory keeps everything in memory (tests, benchmarks).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use argon2::{PasswordHash, PasswordVerifier};
use serde::{Deserialize, Serialize};

use super::{CreateUserError, Grant, GrantStore, RefreshUse, StoreError, UserStore};
use crate::configuration::{UserConfig, argon2_hasher, hash_secret};
use crate::domain::{NewUser, User, UserClaims};

/// Verified for unknown users so that "no such user" costs as much as "wrong password".
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$6BgY3KQDrGfCZrVRJlllsQ$K5zCFPIQVlANd9Vf7HFA9l1oxDy1n//SSaSVqVXlRoA";

/// Writes through the workspace's one atomic, durable write (`durable-file`); `private` files
/// are owner-only.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let access = if private {
        durable_file::Access::OwnerOnly
    } else {
        durable_file::Access::Default
    };
    durable_file::write_atomic(path, bytes, access)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredUser {
    user: User,
    password_hash: String,
}

/// Users indexed by lowercased username and by subject.
#[derive(Debug, Default)]
struct UserIndex {
    users: Vec<StoredUser>,
    by_username: HashMap<String, usize>,
    by_subject: HashMap<String, usize>,
}

impl UserIndex {
    /// Adds `user` unless its username or subject is already present; returns whether it was.
    fn add(&mut self, user: StoredUser) -> bool {
        let name = user.user.username.to_ascii_lowercase();
        if self.by_username.contains_key(&name) || self.by_subject.contains_key(&user.user.subject)
        {
            return false;
        }
        let i = self.users.len();
        self.by_username.insert(name, i);
        self.by_subject.insert(user.user.subject.clone(), i);
        self.users.push(user);
        true
    }

    fn by_username(&self, username: &str) -> Option<&StoredUser> {
        self.by_username
            .get(&username.to_ascii_lowercase())
            .map(|&i| &self.users[i])
    }

    fn by_subject(&self, subject: &str) -> Option<&StoredUser> {
        self.by_subject.get(subject).map(|&i| &self.users[i])
    }
}

/// The append-only journal of created accounts (`users.jsonl`) and its length, so that a failed
/// append can be cut off instead of leaving a torn line before the next one.
#[derive(Debug)]
struct UserJournal {
    file: File,
    len: u64,
}

/// Users from configuration plus accounts created at run time, indexed by lowercased username
/// and by subject.
///
/// Created accounts are appended to `users.jsonl` (one JSON object a line, synced before the
/// account is acknowledged): one short write per account instead of rewriting every account.
/// At start-up the journal is folded into `users.json` (the same format as before: a JSON array,
/// written atomically) and emptied; a crash between the two only repeats accounts, which the
/// replay skips.
#[derive(Debug)]
pub struct FileUserStore {
    configured: UserIndex,
    created: Mutex<(UserIndex, Option<UserJournal>)>,
}

fn user_from_config(u: &UserConfig) -> StoredUser {
    StoredUser {
        user: User {
            subject: u.subject.clone(),
            username: u.username.clone(),
            email: u.claims.email.clone(),
            name: u.claims.name.clone(),
            claims: u.claims.clone(),
        },
        password_hash: u.password_hash.clone().unwrap_or_default(),
    }
}

impl FileUserStore {
    /// Loads `users.json` and replays `users.jsonl` from `data_dir` (if any) next to the
    /// configured users, then folds the journal into `users.json`.
    pub fn open(configured: &[UserConfig], data_dir: Option<&Path>) -> Result<Self, StoreError> {
        let mut index = UserIndex::default();
        for u in configured {
            index.add(user_from_config(u));
        }
        let mut created = UserIndex::default();
        let mut journal = None;
        if let Some(dir) = data_dir {
            let path = dir.join("users.json");
            let journal_path = dir.join("users.jsonl");
            let err =
                |p: &Path, e: &dyn std::fmt::Display| StoreError(format!("'{}': {e}", p.display()));
            if path.exists() {
                let text = fs::read_to_string(&path).map_err(|e| err(&path, &e))?;
                let users: Vec<StoredUser> =
                    serde_json::from_str(&text).map_err(|e| err(&path, &e))?;
                for u in users {
                    created.add(u);
                }
            }
            let mut replayed = 0usize;
            if journal_path.exists() {
                let reader =
                    BufReader::new(File::open(&journal_path).map_err(|e| err(&journal_path, &e))?);
                for line in reader.lines() {
                    let line = line.map_err(|e| err(&journal_path, &e))?;
                    if line.is_empty() {
                        continue;
                    }
                    // A torn last line (crash mid-append) was never acknowledged: skip it.
                    match serde_json::from_str::<StoredUser>(&line) {
                        Ok(u) => {
                            if created.add(u) {
                                replayed += 1;
                            }
                        }
                        Err(_) => tracing::warn!("skipped an unreadable user journal line"),
                    }
                }
            }
            if replayed > 0 {
                let bytes =
                    serde_json::to_vec_pretty(&created.users).map_err(|e| err(&path, &e))?;
                write_atomic(&path, &bytes, true).map_err(|e| err(&path, &e))?;
            }
            // Emptied only once users.json holds everything it had.
            write_atomic(&journal_path, b"", true).map_err(|e| err(&journal_path, &e))?;
            let file = OpenOptions::new()
                .append(true)
                .open(&journal_path)
                .map_err(|e| err(&journal_path, &e))?;
            journal = Some(UserJournal { file, len: 0 });
        }
        Ok(Self {
            configured: index,
            created: Mutex::new((created, journal)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (UserIndex, Option<UserJournal>)> {
        self.created.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find_username(&self, username: &str) -> Option<StoredUser> {
        if let Some(u) = self.configured.by_username(username) {
            return Some(u.clone());
        }
        self.lock().0.by_username(username).cloned()
    }
}

impl UserStore for FileUserStore {
    fn find_by_username(&self, username: &str) -> Option<User> {
        self.find_username(username).map(|u| u.user)
    }

    fn find_by_subject(&self, subject: &str) -> Option<User> {
        if let Some(u) = self.configured.by_subject(subject) {
            return Some(u.user.clone());
        }
        self.lock().0.by_subject(subject).map(|u| u.user.clone())
    }

    fn verify_password(&self, username: &str, password: &str) -> Option<User> {
        let found = self.find_username(username);
        let hash = found
            .as_ref()
            .map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
            argon2_hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        match found {
            Some(u) if ok => Some(u.user),
            _ => None,
        }
    }

    fn create(&self, new_user: NewUser) -> Result<User, CreateUserError> {
        if self.find_by_username(&new_user.username).is_some() {
            return Err(CreateUserError::UsernameTaken);
        }
        let password_hash =
            hash_secret(new_user.password.expose()).map_err(CreateUserError::Storage)?;
        let user = User {
            subject: uuid::Uuid::new_v4().to_string(),
            username: new_user.username.clone(),
            email: new_user.email.clone(),
            name: new_user.name.clone(),
            claims: UserClaims {
                name: new_user.name,
                email: new_user.email,
                email_verified: Some(false),
                ..UserClaims::default()
            },
        };
        let stored = StoredUser {
            user: user.clone(),
            password_hash,
        };
        let mut guard = self.lock();
        let (created, journal) = &mut *guard;
        // Checked again under the lock: two concurrent creations of the same name.
        if self.configured.by_username(&user.username).is_some()
            || created.by_username(&user.username).is_some()
        {
            return Err(CreateUserError::UsernameTaken);
        }
        if let Some(journal) = journal {
            let mut line =
                serde_json::to_vec(&stored).map_err(|e| CreateUserError::Storage(e.to_string()))?;
            line.push(b'\n');
            let written = (&journal.file)
                .write_all(&line)
                .and_then(|()| journal.file.sync_data());
            if let Err(e) = written {
                // Cut a partial line off so that the next account starts on a line of its own.
                let _ = journal.file.set_len(journal.len);
                return Err(CreateUserError::Storage(format!("user journal: {e}")));
            }
            journal.len += line.len() as u64;
        }
        created.add(stored);
        Ok(user)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum JournalEntry {
    /// A new grant (or, after compaction, a grant's whole state).
    Put { grant: Grant },
    /// The current refresh token was replaced by `new_hash`.
    Rotate { id: String, new_hash: String },
    /// The grant was revoked.
    Revoke { id: String },
}

#[derive(Debug, Default)]
struct GrantMaps {
    by_id: HashMap<String, Grant>,
    by_refresh: HashMap<String, String>,
}

impl GrantMaps {
    fn index(&mut self, grant: Grant) {
        if let Some(h) = &grant.refresh_hash {
            self.by_refresh.insert(h.clone(), grant.id.clone());
        }
        for h in &grant.rotated {
            self.by_refresh.insert(h.clone(), grant.id.clone());
        }
        self.by_id.insert(grant.id.clone(), grant);
    }

    fn apply(&mut self, entry: JournalEntry) {
        match entry {
            JournalEntry::Put { grant } => self.index(grant),
            JournalEntry::Rotate { id, new_hash } => {
                if let Some(g) = self.by_id.get_mut(&id) {
                    if let Some(old) = g.refresh_hash.take() {
                        g.rotated.push(old);
                    }
                    g.refresh_hash = Some(new_hash.clone());
                    self.by_refresh.insert(new_hash, id);
                }
            }
            JournalEntry::Revoke { id } => {
                if let Some(g) = self.by_id.get_mut(&id) {
                    g.revoked = true;
                }
            }
        }
    }
}

/// The append-only journal with group commit: appends happen in order under the store's lock;
/// the `fsync` that makes them durable happens outside it, and one `fsync` covers every append
/// written before it started, so concurrent requests share the cost of the disk.
#[derive(Debug)]
struct Journal {
    file: File,
    state: Mutex<SyncState>,
    synced: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    written: u64,
    synced: u64,
    syncing: bool,
}

impl Journal {
    fn append(&self, entry: &JournalEntry) -> Result<u64, StoreError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| StoreError(e.to_string()))?;
        line.push(b'\n');
        (&self.file)
            .write_all(&line)
            .map_err(|e| StoreError(format!("grant journal: {e}")))?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.written += 1;
        Ok(state.written)
    }

    /// Returns once append number `seq` is on disk.
    fn wait_durable(&self, seq: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.synced >= seq {
                return Ok(());
            }
            if state.syncing {
                state = self.synced.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.syncing = true;
            let target = state.written;
            drop(state);
            let result = self.file.sync_data();
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.syncing = false;
            if result.is_ok() {
                state.synced = state.synced.max(target);
            }
            self.synced.notify_all();
            result.map_err(|e| StoreError(format!("grant journal: {e}")))?;
        }
    }
}

/// Grants with their refresh-token chains, journaled to `grants.jsonl`.
#[derive(Debug)]
pub struct FileGrantStore {
    maps: Mutex<GrantMaps>,
    journal: Option<Journal>,
}

impl FileGrantStore {
    /// Replays the journal in `data_dir` (dropping expired grants), rewrites it compacted and
    /// opens it for appending. `None` keeps grants in memory only.
    pub fn open(data_dir: Option<&Path>, now: i64) -> Result<Self, StoreError> {
        let mut maps = GrantMaps::default();
        let mut journal = None;
        if let Some(dir) = data_dir {
            let path = dir.join("grants.jsonl");
            let err = |e: &dyn std::fmt::Display| StoreError(format!("'{}': {e}", path.display()));
            let mut replay = GrantMaps::default();
            if path.exists() {
                let reader = BufReader::new(File::open(&path).map_err(|e| err(&e))?);
                for line in reader.lines() {
                    let line = line.map_err(|e| err(&e))?;
                    // A torn last line (crash mid-append) was never acknowledged: skip it.
                    match serde_json::from_str::<JournalEntry>(&line) {
                        Ok(entry) => replay.apply(entry),
                        Err(_) => tracing::warn!("skipped an unreadable grant journal line"),
                    }
                }
            }
            let mut compacted = Vec::new();
            for grant in replay.by_id.into_values().filter(|g| g.expires_at > now) {
                compacted.extend(
                    serde_json::to_vec(&JournalEntry::Put {
                        grant: grant.clone(),
                    })
                    .map_err(|e| err(&e))?,
                );
                compacted.push(b'\n');
                maps.index(grant);
            }
            write_atomic(&path, &compacted, true).map_err(|e| err(&e))?;
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| err(&e))?;
            journal = Some(Journal {
                file,
                state: Mutex::new(SyncState::default()),
                synced: Condvar::new(),
            });
        }
        Ok(Self {
            maps: Mutex::new(maps),
            journal,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GrantMaps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends under the maps lock (the caller holds it); returns the sequence to wait for.
    fn append(&self, entry: &JournalEntry) -> Result<u64, StoreError> {
        match &self.journal {
            Some(journal) => journal.append(entry),
            None => Ok(0),
        }
    }

    /// Waits, outside the maps lock, until `seq` is durable.
    fn durable(&self, seq: u64) -> Result<(), StoreError> {
        match &self.journal {
            Some(journal) => journal.wait_durable(seq),
            None => Ok(()),
        }
    }
}

impl GrantStore for FileGrantStore {
    fn create(&self, grant: Grant) -> Result<(), StoreError> {
        let mut maps = self.lock();
        let seq = self.append(&JournalEntry::Put {
            grant: grant.clone(),
        })?;
        maps.index(grant);
        drop(maps);
        self.durable(seq)
    }

    fn get(&self, id: &str) -> Option<Grant> {
        self.lock().by_id.get(id).cloned()
    }

    fn find_by_refresh(&self, refresh_hash: &str) -> Option<Grant> {
        let maps = self.lock();
        maps.by_refresh
            .get(refresh_hash)
            .and_then(|id| maps.by_id.get(id))
            .cloned()
    }

    fn rotate(&self, old_hash: &str, new_hash: &str, now: i64) -> Result<RefreshUse, StoreError> {
        let mut maps = self.lock();
        let Some(id) = maps.by_refresh.get(old_hash).cloned() else {
            return Ok(RefreshUse::Invalid);
        };
        let Some(grant) = maps.by_id.get(&id).cloned() else {
            return Ok(RefreshUse::Invalid);
        };
        if grant.revoked || grant.expires_at <= now {
            return Ok(RefreshUse::Invalid);
        }
        if grant.refresh_hash.as_deref() != Some(old_hash) {
            let entry = JournalEntry::Revoke { id: id.clone() };
            let seq = self.append(&entry)?;
            maps.apply(entry);
            let revoked = maps.by_id.get(&id).cloned().unwrap_or(grant);
            drop(maps);
            self.durable(seq)?;
            return Ok(RefreshUse::Reused(revoked));
        }
        let entry = JournalEntry::Rotate {
            id: id.clone(),
            new_hash: new_hash.to_owned(),
        };
        let seq = self.append(&entry)?;
        maps.apply(entry);
        let next = maps.by_id.get(&id).cloned().unwrap_or(grant);
        drop(maps);
        self.durable(seq)?;
        Ok(RefreshUse::Rotated(next))
    }

    fn revoke(&self, id: &str) -> Result<(), StoreError> {
        let mut maps = self.lock();
        if maps.by_id.get(id).is_some_and(|g| !g.revoked) {
            let entry = JournalEntry::Revoke { id: id.to_owned() };
            let seq = self.append(&entry)?;
            maps.apply(entry);
            drop(maps);
            self.durable(seq)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;

    fn grant(id: &str, refresh: &str, expires_at: i64) -> Grant {
        Grant {
            id: id.into(),
            client_id: "web".into(),
            subject: "s".into(),
            scope: vec!["openid".into()],
            auth_time: 1,
            amr: vec!["pwd".into()],
            sid: "sid".into(),
            created: 1,
            expires_at,
            refresh_hash: Some(refresh.into()),
            rotated: vec![],
            revoked: false,
        }
    }

    #[test]
    fn rotation_then_reuse_of_the_old_token_revokes_the_grant() {
        let store = FileGrantStore::open(None, 0).unwrap();
        store.create(grant("g", "r1", 100)).unwrap();
        assert!(matches!(
            store.rotate("r1", "r2", 10).unwrap(),
            RefreshUse::Rotated(_)
        ));
        assert!(matches!(
            store.rotate("r1", "r3", 11).unwrap(),
            RefreshUse::Reused(_)
        ));
        assert!(matches!(
            store.rotate("r2", "r4", 12).unwrap(),
            RefreshUse::Invalid
        ));
        assert!(!store.is_active("g", 12));
    }

    #[test]
    fn an_expired_grant_cannot_be_refreshed() {
        let store = FileGrantStore::open(None, 0).unwrap();
        store.create(grant("g", "r1", 100)).unwrap();
        assert!(matches!(
            store.rotate("r1", "r2", 100).unwrap(),
            RefreshUse::Invalid
        ));
    }

    #[test]
    fn grants_and_revocations_survive_a_restart_and_expired_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = FileGrantStore::open(Some(dir.path()), 0).unwrap();
            store.create(grant("a", "ra", 1000)).unwrap();
            store.create(grant("b", "rb", 1000)).unwrap();
            store.create(grant("old", "ro", 5)).unwrap();
            store.rotate("ra", "ra2", 1).unwrap();
            store.revoke("b").unwrap();
        }
        let store = FileGrantStore::open(Some(dir.path()), 10).unwrap();
        assert_eq!(store.get("a").unwrap().refresh_hash.as_deref(), Some("ra2"));
        assert!(matches!(
            store.rotate("ra", "x", 11).unwrap(),
            RefreshUse::Reused(_)
        ));
        assert!(store.get("b").unwrap().revoked);
        assert!(store.get("old").is_none());
    }

    #[test]
    fn concurrent_rotations_are_all_durable_and_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = std::sync::Arc::new(FileGrantStore::open(Some(dir.path()), 0).unwrap());
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        store
                            .create(grant(&format!("g{t}"), &format!("g{t}-0"), 1000))
                            .unwrap();
                        for i in 1..=20 {
                            let rotated = store
                                .rotate(&format!("g{t}-{}", i - 1), &format!("g{t}-{i}"), 1)
                                .unwrap();
                            assert!(matches!(rotated, RefreshUse::Rotated(_)));
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        let store = FileGrantStore::open(Some(dir.path()), 2).unwrap();
        for t in 0..8 {
            let g = store.get(&format!("g{t}")).unwrap();
            assert_eq!(g.refresh_hash, Some(format!("g{t}-20")));
            assert_eq!(g.rotated.len(), 20);
        }
    }

    #[test]
    fn a_created_account_survives_a_restart_and_its_password_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let subject = {
            let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
            let user = store
                .create(NewUser {
                    username: "carol".into(),
                    password: Secret::new("a long passphrase"),
                    name: Some("Carol".into()),
                    email: None,
                })
                .unwrap();
            assert!(matches!(
                store.create(NewUser {
                    username: "CAROL".into(),
                    password: Secret::new("x"),
                    name: None,
                    email: None
                }),
                Err(CreateUserError::UsernameTaken)
            ));
            user.subject
        };
        let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
        assert_eq!(
            store
                .verify_password("carol", "a long passphrase")
                .unwrap()
                .subject,
            subject
        );
        assert!(store.verify_password("carol", "wrong").is_none());
        assert!(
            store
                .verify_password("nobody", "a long passphrase")
                .is_none()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("users.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    fn new_user(name: &str) -> NewUser {
        NewUser {
            username: name.into(),
            password: Secret::new("a long passphrase"),
            name: None,
            email: None,
        }
    }

    #[test]
    fn creating_an_account_appends_to_the_journal_instead_of_rewriting_every_account() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
            store.create(new_user("dave")).unwrap();
        }
        // The restart folded dave into users.json.
        let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
        let users_json = dir.path().join("users.json");
        let before = fs::read(&users_json).unwrap();
        assert!(String::from_utf8_lossy(&before).contains("dave"));
        let erin = store.create(new_user("Erin")).unwrap();
        assert_eq!(
            fs::read(&users_json).unwrap(),
            before,
            "users.json was rewritten"
        );
        let journal = fs::read_to_string(dir.path().join("users.jsonl")).unwrap();
        assert_eq!(journal.lines().count(), 1);
        assert!(journal.contains(&erin.subject));
        assert_eq!(
            store.find_by_username("ERIN").unwrap().subject,
            erin.subject
        );
        assert_eq!(
            store.find_by_subject(&erin.subject).unwrap().username,
            "Erin"
        );
        drop(store);
        let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
        assert!(store.find_by_username("dave").is_some());
        assert_eq!(
            store.find_by_username("erin").unwrap().subject,
            erin.subject
        );
        let folded: Vec<serde_json::Value> =
            serde_json::from_slice(&fs::read(&users_json).unwrap()).unwrap();
        assert_eq!(folded.len(), 2, "users.json stays a JSON array of accounts");
        assert_eq!(fs::read(dir.path().join("users.jsonl")).unwrap().len(), 0);
    }

    #[test]
    fn a_torn_or_repeated_journal_line_is_skipped_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let subject = {
            let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
            store.create(new_user("frank")).unwrap().subject
        };
        let journal = dir.path().join("users.jsonl");
        let line = fs::read_to_string(&journal).unwrap();
        // The same account twice (a crash after folding, before emptying) and a torn append.
        fs::write(&journal, format!("{line}{line}{{\"user\":{{\"subj")).unwrap();
        let store = FileUserStore::open(&[], Some(dir.path())).unwrap();
        assert_eq!(store.find_by_username("frank").unwrap().subject, subject);
        let folded: Vec<serde_json::Value> =
            serde_json::from_slice(&fs::read(dir.path().join("users.json")).unwrap()).unwrap();
        assert_eq!(folded.len(), 1);
    }

    #[test]
    fn a_configured_user_is_found_by_username_in_any_case_and_by_subject() {
        let settings = crate::configuration::Settings::default();
        let store = FileUserStore::open(&settings.users, None).unwrap();
        let alice = store.find_by_username("ALICE").unwrap();
        assert_eq!(
            store.find_by_subject(&alice.subject).unwrap().username,
            "alice"
        );
        assert!(matches!(
            store.create(new_user("Alice")),
            Err(CreateUserError::UsernameTaken)
        ));
        assert!(store.find_by_subject("nobody").is_none());
    }
}
