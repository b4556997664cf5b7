//! User accounts: the configured ones (settings, the same on every replica) plus the ones created
//! at run time (the [`UserStore`]). A username is unique across both, case-insensitively.
//!
//! Password checks are split in two: the account (and its Argon2id hash) comes from here, the
//! hash is verified on the hashing pool ([`crate::hashing`]) in the memory of its thread; an
//! unknown username verifies a dummy hash with the current parameters so that both failures
//! cost the same.

use std::collections::HashMap;
use std::sync::Arc;

use crate::configuration::UserConfig;
use crate::domain::{NewUser, User, UserClaims};
use crate::hashing::Memory;
use crate::store::{StoreError, StoredUser, UserStore};

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateUserError {
    /// Another account has this username.
    #[error("the username is taken")]
    UsernameTaken,
    /// The password could not be hashed.
    #[error("hashing: {0}")]
    Hash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Configured and created accounts.
#[derive(Debug, Clone)]
pub struct Users {
    configured: Arc<Configured>,
    store: Arc<dyn UserStore>,
}

#[derive(Debug, Default)]
struct Configured {
    users: Vec<StoredUser>,
    by_username: HashMap<String, usize>,
    by_subject: HashMap<String, usize>,
}

fn from_config(u: &UserConfig) -> StoredUser {
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

impl Users {
    /// The configured accounts (already validated by the settings) over `store`.
    pub fn new(configured: &[UserConfig], store: Arc<dyn UserStore>) -> Self {
        let mut index = Configured::default();
        for u in configured {
            let stored = from_config(u);
            let name = stored.user.username.to_lowercase();
            if index.by_username.contains_key(&name)
                || index.by_subject.contains_key(&stored.user.subject)
            {
                continue;
            }
            let i = index.users.len();
            index.by_username.insert(name, i);
            index.by_subject.insert(stored.user.subject.clone(), i);
            index.users.push(stored);
        }
        Self {
            configured: Arc::new(index),
            store,
        }
    }

    /// The account with this username (case-insensitive) and its hash.
    pub async fn find_stored_by_username(
        &self,
        username: &str,
    ) -> Result<Option<StoredUser>, StoreError> {
        let lower = username.to_lowercase();
        if let Some(&i) = self.configured.by_username.get(&lower) {
            return Ok(Some(self.configured.users[i].clone()));
        }
        self.store.find_by_username(&lower).await
    }

    /// The account with this username (case-insensitive).
    pub async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .find_stored_by_username(username)
            .await?
            .map(|u| u.user))
    }

    /// The account with this subject.
    pub async fn find_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        if let Some(&i) = self.configured.by_subject.get(subject) {
            return Ok(Some(self.configured.users[i].user.clone()));
        }
        Ok(self.store.find_by_subject(subject).await?.map(|u| u.user))
    }

    /// Stores a new account whose password is already hashed ([`hash_new_user`]).
    pub async fn create(&self, user: StoredUser) -> Result<User, CreateUserError> {
        let lower = user.user.username.to_lowercase();
        if self.configured.by_username.contains_key(&lower) {
            return Err(CreateUserError::UsernameTaken);
        }
        if !self.store.create(&user).await? {
            return Err(CreateUserError::UsernameTaken);
        }
        Ok(user.user)
    }
}

/// Verifies `password` against `hash` (a PHC string) in `memory`; CPU-heavy (Argon2id): run it
/// on the hashing pool ([`crate::hashing::run_limited`]). `None` as the hash verifies the
/// dummy hash of the current parameters and fails.
pub fn verify_password(memory: &mut Memory, hash: Option<&str>, password: &str) -> bool {
    memory.verify(hash, password.as_bytes())
}

/// The account to store for `new_user`, with a fresh subject (UUID v4) and the password hashed
/// in `memory` with the parameters of new hashes; CPU-heavy (Argon2id): run it on the hashing
/// pool.
pub fn hash_new_user(
    memory: &mut Memory,
    new_user: NewUser,
) -> Result<StoredUser, CreateUserError> {
    let password_hash = memory
        .hash(new_user.password.expose().as_bytes())
        .map_err(|e| CreateUserError::Hash(e.to_string()))?;
    Ok(StoredUser {
        user: User {
            subject: uuid::Uuid::new_v4().to_string(),
            username: new_user.username,
            email: new_user.email.clone(),
            name: new_user.name.clone(),
            claims: UserClaims {
                name: new_user.name,
                email: new_user.email,
                email_verified: Some(false),
                ..UserClaims::default()
            },
        },
        password_hash,
    })
}
