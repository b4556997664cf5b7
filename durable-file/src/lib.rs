//! Atomic, crash-safe file writes: the one implementation every app of the workspace uses for
//! what must survive a restart (certificates and keys, signing keys, accounts, the emulator's
//! enrolled authenticators, the web client's cookie key).
//!
//! [`write_atomic`] writes a new temporary file in the target's directory, syncs it, renames it
//! over the target and syncs the directory, so a crash leaves either the old file or the new
//! one, never a half-written one, and an acknowledged write survives a power cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Who may read the written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Mode 0600 on Unix: private keys, secrets, TOTP seeds.
    OwnerOnly,
    /// The process's default mode (umask): certificates and other public data.
    Default,
}

/// Writes `bytes` to `path` atomically and durably (see the crate docs). The parent directory is
/// created when missing.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let (tmp, mut file) = create_temporary(dir, path, access)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Directories cannot be opened for syncing everywhere
    // (Windows): there the rename is as durable as the platform makes it.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// A new, never-before-existing temporary file beside `path`.
fn create_temporary(
    dir: &Path,
    path: &Path,
    access: Access,
) -> io::Result<(std::path::PathBuf, File)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for attempt in 0u32..100 {
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{nanos}-{attempt}",
            std::process::id()
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if access == Access::OwnerOnly {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = access;
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free temporary name beside '{}'", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"a much longer first version", Access::Default).unwrap();
        write_atomic(&path, b"second", Access::Default).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn missing_parent_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/key.pem");
        write_atomic(&path, b"k", Access::OwnerOnly).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"k");
    }

    #[cfg(unix)]
    #[test]
    fn owner_only_files_get_mode_0600_and_others_do_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        let public = dir.path().join("public");
        write_atomic(&private, b"s", Access::OwnerOnly).unwrap();
        write_atomic(&public, b"p", Access::Default).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&private), 0o600);
        assert_ne!(mode(&public), 0o600);
    }

    #[test]
    fn a_failed_rename_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should go: the rename fails.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        assert!(write_atomic(&path, b"new", Access::Default).is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("taken")]);
    }
}
