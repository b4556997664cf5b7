//! `identity-server migrate-data`: moves the accounts and grants of the journal format (before
//! the embedded database: `users.json`, `users.jsonl`, `grants.jsonl`) into the embedded database,
//! once, at the operator's request.
//!
//! Nothing is dropped silently: a line that does not parse stops the migration with its file and
//! line number, except a torn LAST line without its newline (a crash in the middle of an append,
//! never acknowledged to anyone), which is reported and skipped, as the old start-up did. After
//! a complete import the old files are renamed to `*.migrated` (kept, not deleted), so start-up no
//! longer refuses the directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::embedded::Embedded;
use super::{Grant, StoreError, StoredUser};
use crate::state::LEGACY_FILES;

/// What a migration moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Accounts imported.
    pub users: usize,
    /// Grants imported (live ones; expired grants are not carried over).
    pub grants: usize,
    /// Torn last lines skipped (file names).
    pub torn: Vec<String>,
}

/// Why a migration stopped (nothing is renamed then; it can be run again).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A file could not be read or parsed.
    #[error("'{path}' line {line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An account's username exists already in the database.
    #[error("the account '{0}' exists already in the database")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Renaming the old files failed.
    #[error("'{0}': {1}")]
    Io(String, String),
}

/// A grant as the old journal kept it.
#[derive(Deserialize)]
struct LegacyGrant {
    #[serde(flatten)]
    grant: Grant,
    #[serde(default)]
    rotated: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum LegacyEntry {
    Put { grant: Box<LegacyGrant> },
    Rotate { id: String, new_hash: String },
    Revoke { id: String },
}

/// The lines of `path`; a torn last line (no final newline, not parseable) is returned apart.
fn lines(path: &Path) -> Result<(Vec<(usize, String)>, bool), MigrateError> {
    let text = std::fs::read_to_string(path).map_err(|e| MigrateError::Parse {
        path: path.display().to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    let ends_clean = text.is_empty() || text.ends_with('\n');
    let mut out: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect();
    let mut torn = false;
    if !ends_clean && let Some((_, last)) = out.last() {
        // Decided by the caller's parser: only an unparseable unterminated last line is torn.
        torn = serde_json::from_str::<serde_json::Value>(last).is_err();
        if torn {
            out.pop();
        }
    }
    Ok((out, torn))
}

fn parse_err(path: &Path, line: usize, e: impl std::fmt::Display) -> MigrateError {
    MigrateError::Parse {
        path: path.display().to_string(),
        line,
        message: e.to_string(),
    }
}

/// Imports the journal files of `dir` into `db` and renames them; `Ok(None)` when there is
/// nothing to migrate.
pub async fn migrate(dir: &Path, db: &Embedded, now: i64) -> Result<Option<Report>, MigrateError> {
    let present: Vec<PathBuf> = LEGACY_FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let mut report = Report::default();
    let mut users: Vec<StoredUser> = Vec::new();
    let users_json = dir.join("users.json");
    if users_json.exists() {
        let text =
            std::fs::read_to_string(&users_json).map_err(|e| parse_err(&users_json, 0, e))?;
        if !text.trim().is_empty() {
            users = serde_json::from_str(&text).map_err(|e| parse_err(&users_json, 0, e))?;
        }
    }
    let users_jsonl = dir.join("users.jsonl");
    if users_jsonl.exists() {
        let (lines, torn) = lines(&users_jsonl)?;
        for (n, line) in lines {
            users.push(serde_json::from_str(&line).map_err(|e| parse_err(&users_jsonl, n, e))?);
        }
        if torn {
            report.torn.push(users_jsonl.display().to_string());
        }
    }
    let grants_path = dir.join("grants.jsonl");
    let mut grants: HashMap<String, LegacyGrant> = HashMap::new();
    if grants_path.exists() {
        let (lines, torn) = lines(&grants_path)?;
        for (n, line) in lines {
            match serde_json::from_str::<LegacyEntry>(&line)
                .map_err(|e| parse_err(&grants_path, n, e))?
            {
                LegacyEntry::Put { grant } => {
                    grants.insert(grant.grant.id.clone(), *grant);
                }
                LegacyEntry::Rotate { id, new_hash } => {
                    if let Some(g) = grants.get_mut(&id) {
                        if let Some(old) = g.grant.refresh_hash.take() {
                            g.rotated.push(old);
                        }
                        g.grant.refresh_hash = Some(new_hash);
                    }
                }
                LegacyEntry::Revoke { id } => {
                    if let Some(g) = grants.get_mut(&id) {
                        g.grant.revoked = true;
                    }
                }
            }
        }
        if torn {
            report.torn.push(grants_path.display().to_string());
        }
    }
    // Accounts: the same account may appear in users.json and users.jsonl (a crash between
    // fold and truncate); identical repeats are one account.
    let mut seen: HashMap<String, StoredUser> = HashMap::new();
    for user in users {
        let name = user.user.username.to_lowercase();
        match seen.get(&name) {
            Some(existing) if existing == &user => continue,
            Some(_) => return Err(MigrateError::Conflict(user.user.username)),
            None => {
                seen.insert(name, user);
            }
        }
    }
    for user in seen.into_values() {
        if !db.import_user(&user).await? {
            return Err(MigrateError::Conflict(user.user.username));
        }
        report.users += 1;
    }
    for legacy in grants.into_values() {
        if legacy.grant.expires_at <= now {
            continue;
        }
        db.import_grant(&legacy.grant, &legacy.rotated).await?;
        report.grants += 1;
    }
    for path in present {
        let mut target = path.clone().into_os_string();
        target.push(".migrated");
        std::fs::rename(&path, &target)
            .map_err(|e| MigrateError::Io(path.display().to_string(), e.to_string()))?;
    }
    Ok(Some(report))
}
