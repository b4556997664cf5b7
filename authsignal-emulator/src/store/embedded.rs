//! The embedded durable store: one lock over all durable records, and a JSON snapshot written
//! atomically (temp file, fsync, rename, directory fsync) before each write is acknowledged.
//!
//! Writing the whole snapshot on every change is plenty for an emulator's handful of users and
//! keeps the file format trivially consistent: a crash leaves either the old or the new file.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// File name of the snapshot inside the data directory.
pub const STATE_FILE: &str = "emulator-state.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Default)]
struct State {
    users: BTreeMap<String, User>,
    authenticators: BTreeMap<String, Vec<Authenticator>>,
    recovery_codes: BTreeMap<String, Vec<RecoveryCode>>,
    actions: HashMap<ActionKey, Action>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotRef<'a> {
    version: u32,
    users: &'a BTreeMap<String, User>,
    authenticators: &'a BTreeMap<String, Vec<Authenticator>>,
    recovery_codes: &'a BTreeMap<String, Vec<RecoveryCode>>,
    actions: Vec<&'a Action>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    version: u32,
    #[serde(default)]
    users: BTreeMap<String, User>,
    #[serde(default)]
    authenticators: BTreeMap<String, Vec<Authenticator>>,
    #[serde(default)]
    recovery_codes: BTreeMap<String, Vec<RecoveryCode>>,
    #[serde(default)]
    actions: Vec<Action>,
}

/// Users, authenticators, recovery codes and actions.
pub struct DurableStore {
    state: Mutex<State>,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStore")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl DurableStore {
    /// Opens the store: loads `<dir>/emulator-state.json` if present (creating `dir`), or keeps
    /// everything in memory when `dir` is `None`.
    pub fn open(dir: Option<&Path>) -> StoreResult<DurableStore> {
        let Some(dir) = dir else {
            return Ok(DurableStore {
                state: Mutex::new(State::default()),
                file: None,
            });
        };
        fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.into(),
            source,
        })?;
        let file = dir.join(STATE_FILE);
        let state = match fs::read(&file) {
            Ok(bytes) => {
                let snapshot: Snapshot =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                        path: file.clone(),
                        source,
                    })?;
                if snapshot.version != FORMAT_VERSION {
                    return Err(StoreError::Corrupt {
                        path: file.clone(),
                        source: serde::de::Error::custom(format!(
                            "unsupported version '{}'",
                            snapshot.version
                        )),
                    });
                }
                State {
                    users: snapshot.users,
                    authenticators: snapshot.authenticators,
                    recovery_codes: snapshot.recovery_codes,
                    actions: snapshot
                        .actions
                        .into_iter()
                        .map(|a| (a.key.clone(), a))
                        .collect(),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(source) => return Err(StoreError::Io { path: file, source }),
        };
        Ok(DurableStore {
            state: Mutex::new(state),
            file: Some(file),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change visible on disk:
        // the snapshot is written only after a change completes. Keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the snapshot (called with the lock held, so writes are ordered).
    fn persist(&self, state: &State) -> StoreResult<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut actions: Vec<&Action> = state.actions.values().collect();
        actions.sort_by_key(|a| a.created_at);
        let snapshot = SnapshotRef {
            version: FORMAT_VERSION,
            users: &state.users,
            authenticators: &state.authenticators,
            recovery_codes: &state.recovery_codes,
            actions,
        };
        let bytes = serde_json::to_vec(&snapshot).expect("state serialises to json");
        write_atomic(file, &bytes)
    }

    /// Runs a change; persists it when `changed` says so. On a failed write the in-memory
    /// state is restored from the change's undo (the caller gets the error, nothing is
    /// acknowledged).
    fn write<T>(&self, change: impl FnOnce(&mut State) -> (T, bool)) -> StoreResult<T> {
        let mut state = self.lock();
        let before = self.file.as_ref().map(|_| clone_state(&state));
        let (value, changed) = change(&mut state);
        if changed && let Err(e) = self.persist(&state) {
            if let Some(before) = before {
                *state = before;
            }
            return Err(e);
        }
        Ok(value)
    }
}

fn clone_state(state: &State) -> State {
    State {
        users: state.users.clone(),
        authenticators: state.authenticators.clone(),
        recovery_codes: state.recovery_codes.clone(),
        actions: state.actions.clone(),
    }
}

/// TOTP secrets live in this file: owner-only, written atomically and durably.
fn write_atomic(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    durable_file::write_atomic(path, bytes, durable_file::Access::OwnerOnly).map_err(|source| {
        StoreError::Io {
            path: path.into(),
            source,
        }
    })
}

impl UserStore for DurableStore {
    fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().users.get(user_id).cloned())
    }

    fn upsert_user(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
        update: &mut dyn FnMut(&mut User),
    ) -> StoreResult<User> {
        self.write(|state| {
            let created = !state.users.contains_key(user_id);
            let user = state
                .users
                .entry(user_id.to_owned())
                .or_insert_with(|| User::new(user_id, now));
            let before = user.clone();
            update(user);
            let changed = created || *user != before;
            (user.clone(), changed)
        })
    }

    fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        self.write(|state| {
            let existed = state.users.remove(user_id).is_some();
            let had_authenticators = state.authenticators.remove(user_id).is_some();
            let had_codes = state.recovery_codes.remove(user_id).is_some();
            let changed = existed || had_authenticators || had_codes;
            (existed || had_authenticators, changed)
        })
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        Ok(self.lock().users.values().cloned().collect())
    }
}

impl AuthenticatorStore for DurableStore {
    fn list_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>> {
        Ok(self
            .lock()
            .authenticators
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    fn insert_authenticator(&self, authenticator: Authenticator) -> StoreResult<()> {
        self.write(|state| {
            let list = state
                .authenticators
                .entry(authenticator.user_id.clone())
                .or_default();
            if authenticator.is_default {
                list.iter_mut().for_each(|a| a.is_default = false);
            }
            list.push(authenticator);
            ((), true)
        })
    }

    fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        self.write(|state| {
            let Some(list) = state.authenticators.get_mut(user_id) else {
                return (false, false);
            };
            let before = list.len();
            list.retain(|a| a.user_authenticator_id != id);
            let removed = list.len() != before;
            if list.is_empty() {
                state.authenticators.remove(user_id);
            }
            (removed, removed)
        })
    }

    fn delete_authenticator_unless_last(
        &self,
        user_id: &str,
        id: &str,
    ) -> StoreResult<RemoveOutcome> {
        self.write(|state| {
            let Some(list) = state.authenticators.get_mut(user_id) else {
                return (RemoveOutcome::NotFound, false);
            };
            if !list.iter().any(|a| a.user_authenticator_id == id) {
                return (RemoveOutcome::NotFound, false);
            }
            if list.len() == 1 {
                return (RemoveOutcome::LastOne, false);
            }
            list.retain(|a| a.user_authenticator_id != id);
            (RemoveOutcome::Removed, true)
        })
    }

    fn accept_totp_step(
        &self,
        user_id: &str,
        id: &str,
        step: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(|state| {
            let found = state
                .authenticators
                .get_mut(user_id)
                .and_then(|list| list.iter_mut().find(|a| a.user_authenticator_id == id));
            match found {
                Some(a) if a.last_totp_step.is_none_or(|last| step > last) => {
                    a.last_totp_step = Some(step);
                    a.last_verified_at = Some(now);
                    (true, true)
                }
                _ => (false, false),
            }
        })
    }

    fn mark_used(&self, user_id: &str, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|state| {
            let found = state
                .authenticators
                .get_mut(user_id)
                .and_then(|list| list.iter_mut().find(|a| a.user_authenticator_id == id));
            match found {
                Some(a) => {
                    a.last_verified_at = Some(now);
                    ((), true)
                }
                None => ((), false),
            }
        })
    }

    fn find_passkey(&self, credential_id: &str) -> StoreResult<Option<Authenticator>> {
        Ok(self
            .lock()
            .authenticators
            .values()
            .flatten()
            .find(|a| {
                a.passkey
                    .as_ref()
                    .is_some_and(|p| p.credential_id == credential_id)
            })
            .cloned())
    }

    fn insert_passkey_if_unused(&self, authenticator: Authenticator) -> StoreResult<bool> {
        let Some(credential_id) = authenticator
            .passkey
            .as_ref()
            .map(|p| p.credential_id.clone())
        else {
            return Ok(false);
        };
        self.write(|state| {
            let held = state.authenticators.values().flatten().any(|a| {
                a.passkey
                    .as_ref()
                    .is_some_and(|p| p.credential_id == credential_id)
            });
            if held {
                return (false, false);
            }
            let list = state
                .authenticators
                .entry(authenticator.user_id.clone())
                .or_default();
            if authenticator.is_default {
                list.iter_mut().for_each(|a| a.is_default = false);
            }
            list.push(authenticator);
            (true, true)
        })
    }

    fn record_passkey_use(
        &self,
        credential_id: &str,
        sign_count: u32,
        backup_state: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(|state| {
            let found = state.authenticators.values_mut().flatten().find(|a| {
                a.passkey
                    .as_ref()
                    .is_some_and(|p| p.credential_id == credential_id)
            });
            let Some(authenticator) = found else {
                return (false, false);
            };
            let Some(passkey) = authenticator.passkey.as_mut() else {
                return (false, false);
            };
            if crate::domain::webauthn::check_counter(passkey.sign_count, sign_count).is_err() {
                return (false, false);
            }
            passkey.sign_count = sign_count;
            passkey.backup_state = backup_state;
            authenticator.last_verified_at = Some(now);
            (true, true)
        })
    }

    fn set_recovery_codes(&self, user_id: &str, hashes: Vec<String>) -> StoreResult<()> {
        self.write(|state| {
            let codes = hashes
                .into_iter()
                .map(|hash| RecoveryCode { hash, used: false })
                .collect();
            state.recovery_codes.insert(user_id.to_owned(), codes);
            ((), true)
        })
    }

    fn consume_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool> {
        self.write(|state| {
            let found = state.recovery_codes.get_mut(user_id).and_then(|codes| {
                codes
                    .iter_mut()
                    .find(|c| !c.used && crate::domain::secret::ct_eq_str(&c.hash, hash))
            });
            match found {
                Some(code) => {
                    code.used = true;
                    (true, true)
                }
                None => (false, false),
            }
        })
    }

    fn remaining_recovery_codes(&self, user_id: &str) -> StoreResult<usize> {
        Ok(self
            .lock()
            .recovery_codes
            .get(user_id)
            .map(|codes| codes.iter().filter(|c| !c.used).count())
            .unwrap_or(0))
    }
}

impl ActionStore for DurableStore {
    fn get_action(&self, key: &ActionKey) -> StoreResult<Option<Action>> {
        Ok(self.lock().actions.get(key).cloned())
    }

    fn insert_action_if_absent(&self, action: Action) -> StoreResult<(Action, bool)> {
        self.write(|state| match state.actions.get(&action.key) {
            Some(existing) => ((existing.clone(), false), false),
            None => {
                state.actions.insert(action.key.clone(), action.clone());
                ((action, true), true)
            }
        })
    }

    fn update_action(
        &self,
        key: &ActionKey,
        update: &mut dyn FnMut(&mut Action),
    ) -> StoreResult<Option<Action>> {
        self.write(|state| match state.actions.get_mut(key) {
            Some(action) => {
                update(action);
                (Some(action.clone()), true)
            }
            None => (None, false),
        })
    }

    fn list_actions(&self, user_id: &str) -> StoreResult<Vec<Action>> {
        let mut list: Vec<Action> = self
            .lock()
            .actions
            .values()
            .filter(|a| a.key.user_id == user_id)
            .cloned()
            .collect();
        list.sort_by_key(|a| std::cmp::Reverse(a.created_at));
        Ok(list)
    }

    fn delete_actions(&self, user_id: &str) -> StoreResult<()> {
        self.write(|state| {
            let before = state.actions.len();
            state.actions.retain(|k, _| k.user_id != user_id);
            ((), state.actions.len() != before)
        })
    }
}

impl Reset for DurableStore {
    fn clear(&self) -> StoreResult<()> {
        self.write(|state| {
            *state = State::default();
            ((), true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(user: &str, id: &str) -> Authenticator {
        Authenticator {
            user_authenticator_id: id.into(),
            user_id: user.into(),
            verification_method: "AUTHENTICATOR_APP".into(),
            created_at: Utc::now(),
            verified_at: Utc::now(),
            last_verified_at: None,
            email: None,
            phone_number: None,
            totp_secret: Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into()),
            last_totp_step: None,
            is_default: true,
            passkey: None,
        }
    }

    #[test]
    fn records_survive_reopening_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DurableStore::open(Some(dir.path())).unwrap();
            store
                .upsert_user("u1", Utc::now(), &mut |u| u.email = Some("a@b".into()))
                .unwrap();
            store
                .insert_authenticator(authenticator("u1", "a1"))
                .unwrap();
            store.set_recovery_codes("u1", vec!["h1".into()]).unwrap();
            assert!(store.accept_totp_step("u1", "a1", 7, Utc::now()).unwrap());
        }
        let store = DurableStore::open(Some(dir.path())).unwrap();
        assert_eq!(
            store.get_user("u1").unwrap().unwrap().email.as_deref(),
            Some("a@b")
        );
        let list = store.list_authenticators("u1").unwrap();
        assert_eq!(list[0].last_totp_step, Some(7));
        assert_eq!(store.remaining_recovery_codes("u1").unwrap(), 1);
        assert!(!store.accept_totp_step("u1", "a1", 7, Utc::now()).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn the_data_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = DurableStore::open(Some(dir.path())).unwrap();
        store.upsert_user("u1", Utc::now(), &mut |_| {}).unwrap();
        let mode = fs::metadata(dir.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_data_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        let err = DurableStore::open(Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains(STATE_FILE), "{err}");
    }

    #[test]
    fn a_recovery_code_is_consumed_once() {
        let store = DurableStore::open(None).unwrap();
        store
            .set_recovery_codes("u1", vec!["h1".into(), "h2".into()])
            .unwrap();
        assert!(store.consume_recovery_code("u1", "h1").unwrap());
        assert!(!store.consume_recovery_code("u1", "h1").unwrap());
        assert!(!store.consume_recovery_code("u2", "h2").unwrap());
        assert_eq!(store.remaining_recovery_codes("u1").unwrap(), 1);
    }

    #[test]
    fn the_last_authenticator_is_kept_on_removal() {
        let store = DurableStore::open(None).unwrap();
        store
            .insert_authenticator(authenticator("u1", "a1"))
            .unwrap();
        store
            .insert_authenticator(authenticator("u1", "a2"))
            .unwrap();
        assert_eq!(
            store.delete_authenticator_unless_last("u1", "a1").unwrap(),
            RemoveOutcome::Removed
        );
        assert_eq!(
            store.delete_authenticator_unless_last("u1", "a2").unwrap(),
            RemoveOutcome::LastOne
        );
        assert_eq!(
            store.delete_authenticator_unless_last("u1", "zz").unwrap(),
            RemoveOutcome::NotFound
        );
    }

    fn passkey(user: &str, id: &str, credential_id: &str) -> Authenticator {
        Authenticator {
            verification_method: "PASSKEY".into(),
            totp_secret: None,
            passkey: Some(PasskeyCredential {
                credential_id: credential_id.into(),
                credential_public_key: "pk".into(),
                name: None,
                aaguid: None,
                transports: None,
                sign_count: 3,
                backup_eligible: false,
                backup_state: false,
                algorithm: Some(-7),
                authenticator_attachment: None,
                device_id: None,
                user_agent: None,
            }),
            ..authenticator(user, id)
        }
    }

    #[test]
    fn a_passkey_credential_id_is_registered_once_across_users() {
        let store = DurableStore::open(None).unwrap();
        assert!(
            store
                .insert_passkey_if_unused(passkey("u1", "a1", "cred"))
                .unwrap()
        );
        assert!(
            !store
                .insert_passkey_if_unused(passkey("u2", "a2", "cred"))
                .unwrap()
        );
        assert!(store.list_authenticators("u2").unwrap().is_empty());
        assert!(
            store
                .insert_passkey_if_unused(passkey("u2", "a3", "other"))
                .unwrap()
        );
    }

    #[test]
    fn a_passkey_counter_is_stored_only_when_it_rises_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DurableStore::open(Some(dir.path())).unwrap();
            store
                .insert_passkey_if_unused(passkey("u1", "a1", "cred"))
                .unwrap();
            assert!(
                !store
                    .record_passkey_use("cred", 3, false, Utc::now())
                    .unwrap()
            );
            assert!(
                store
                    .record_passkey_use("cred", 4, true, Utc::now())
                    .unwrap()
            );
            assert!(
                !store
                    .record_passkey_use("cred", 4, true, Utc::now())
                    .unwrap()
            );
            assert!(
                !store
                    .record_passkey_use("unknown", 9, false, Utc::now())
                    .unwrap()
            );
        }
        let store = DurableStore::open(Some(dir.path())).unwrap();
        let found = store.find_passkey("cred").unwrap().unwrap();
        let stored = found.passkey.unwrap();
        assert_eq!(stored.sign_count, 4);
        assert!(stored.backup_state);
        assert!(found.last_verified_at.is_some());
    }

    #[test]
    fn deleting_a_user_removes_their_authenticators() {
        let store = DurableStore::open(None).unwrap();
        store.upsert_user("u1", Utc::now(), &mut |_| {}).unwrap();
        store
            .insert_authenticator(authenticator("u1", "a1"))
            .unwrap();
        assert!(store.delete_user("u1").unwrap());
        assert!(store.list_authenticators("u1").unwrap().is_empty());
        assert!(!store.delete_user("u1").unwrap());
    }
}
