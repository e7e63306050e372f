//! `save`: writes the running configuration to its file atomically.
//!
//! The text goes to a temporary file in the same directory, is fsynced, renamed over the target,
//! and the directory is fsynced so the rename survives a crash. Until the rename, the old file is
//! untouched; on any failure the temporary file is removed and the error names the step.

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

/// Replaces `path` with `text`, keeping the old file's permissions (0644 for a new file).
pub fn save_atomically(path: &Path, text: &str) -> Result<(), SaveError> {
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

fn write_and_rename(
    temp: &Path,
    path: &Path,
    dir: &Path,
    text: &str,
    mode: u32,
) -> Result<(), SaveError> {
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
    fs::rename(temp, path).map_err(fail("rename into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail("fsync directory", dir))?;
    Ok(())
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
        save_atomically(&path, "new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
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
