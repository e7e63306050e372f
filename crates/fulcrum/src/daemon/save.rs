//! `save`: writes the running configuration to its file atomically.
//!
//! The text goes to a temporary file in the same directory, is fsynced, renamed over the target,
//! and the directory is fsynced so the rename survives a crash. Until the rename, the old file is
//! untouched; on any failure the temporary file is removed and the error names the step.
//! Just before the rename the old file becomes `FILE.bak` (a hard link, renamed into place, so
//! the backup also appears whole or not at all); the previous `.bak` is replaced.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {}: {source}", path.display())]
pub struct SaveError {
    step: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

/// Where the previous file is kept: `fulcrum.conf` -> `fulcrum.conf.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// Replaces `path` with `text`, keeping the old file's permissions (0644 for a new file) and
/// the old file itself as [`backup_path`]. Returns the backup's path when there was an old file.
pub fn save_atomically(path: &Path, text: &str) -> Result<Option<PathBuf>, SaveError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let temp = dir.join(format!(".{name}.fulcrum-save.{}", std::process::id()));
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let result = write_and_rename(&temp, path, &dir, text, mode);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Links the current file as `FILE.bak` (through a temporary name, then a rename).
fn keep_backup(path: &Path, dir: &Path) -> Result<Option<PathBuf>, SaveError> {
    // Only a regular file is kept; anything else makes the rename below fail and say why.
    if !fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let backup = backup_path(path);
    let temp = dir.join(format!(".fulcrum-backup.{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let linked = fs::hard_link(path, &temp).and_then(|()| fs::rename(&temp, &backup));
    if let Err(source) = linked {
        let _ = fs::remove_file(&temp);
        return Err(SaveError {
            step: "keep the previous file as",
            path: backup,
            source,
        });
    }
    Ok(Some(backup))
}

fn write_and_rename(
    temp: &Path,
    path: &Path,
    dir: &Path,
    text: &str,
    mode: u32,
) -> Result<Option<PathBuf>, SaveError> {
    let fail = |step: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| SaveError {
            step,
            path: at,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(temp)
        .map_err(fail("create", temp))?;
    file.write_all(text.as_bytes())
        .map_err(fail("write", temp))?;
    file.sync_all().map_err(fail("fsync", temp))?;
    drop(file);
    let backup = keep_backup(path, dir)?;
    fs::rename(temp, path).map_err(fail("rename into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail("fsync directory", dir))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fulcrum.conf");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let backup = save_atomically(&path, "new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(backup, Some(dir.path().join("fulcrum.conf.bak")));
        assert_eq!(
            fs::read_to_string(dir.path().join("fulcrum.conf.bak")).unwrap(),
            "old\n"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "temporary file left behind");
    }

    #[test]
    fn a_second_save_keeps_the_file_just_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fulcrum.conf");
        assert_eq!(save_atomically(&path, "first\n").unwrap(), None);
        save_atomically(&path, "second\n").unwrap();
        save_atomically(&path, "third\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "third\n");
        let backup = fs::read_to_string(dir.path().join("fulcrum.conf.bak")).unwrap();
        assert_eq!(backup, "second\n");
    }

    #[test]
    fn failure_leaves_the_old_file_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails after the temp file was written.
        let path = dir.path().join("occupied");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "old").unwrap();
        let err = save_atomically(&path, "new\n").unwrap_err().to_string();
        assert!(err.starts_with("cannot rename into place"), "{err}");
        assert_eq!(fs::read_to_string(path.join("keep")).unwrap(), "old");
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "temporary file left behind");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = save_atomically(&dir.path().join("no/such/f.conf"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot create"), "{err}");
    }
}
