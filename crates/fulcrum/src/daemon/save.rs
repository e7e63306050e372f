//! `save`: writes the running configuration to its file atomically.
//!
//! The text goes to a temporary file in the same directory, is fsynced, renamed over the target,
//! and the directory is fsynced so the rename survives a crash. Until the rename, the old file is
//! untouched; on any failure the temporary file is removed and the error names the step.
//! Just before the rename the old file becomes `FILE.bak` (a hard link, renamed into place, so
//! the backup also appears whole or not at all); the previous `.bak` is replaced.
//!
//! The new file keeps the old one's mode, and its owner and group where the daemon may set
//! them (as root, or a group it is in). Temporary names are random, so saves from two processes
//! never share one (the daemon also runs its own saves one at a time). A configuration path
//! that is a symbolic link is followed: the link stays and its target is replaced, with the
//! backup beside the target.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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
    // A symbolic link is followed to the file it names (a missing file is created as named).
    let path = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|source| SaveError {
                step: "follow the link",
                path: path.to_path_buf(),
                source,
            })?
        }
        _ => path.to_path_buf(),
    };
    let path = path.as_path();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let old = fs::metadata(path).ok();
    let mode = old
        .as_ref()
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let owner = old.as_ref().map(|m| (m.uid(), m.gid()));
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}.fulcrum-save."))
        .tempfile_in(&dir)
        .map_err(|source| SaveError {
            step: "create",
            path: dir.join(format!(".{name}.fulcrum-save.*")),
            source,
        })?;
    let (file, temp) = temp.into_parts();
    // On success the rename used the temporary name up; on failure dropping `temp` removes it.
    write_and_rename(file, &temp, path, &dir, text, mode, owner)
}

/// Links the current file as `FILE.bak` (through a random temporary name, then a rename).
fn keep_backup(path: &Path, dir: &Path) -> Result<Option<PathBuf>, SaveError> {
    // Only a regular file is kept; anything else makes the rename below fail and say why.
    if !fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let backup = backup_path(path);
    let fail = |source| SaveError {
        step: "keep the previous file as",
        path: backup.clone(),
        source,
    };
    let temp = tempfile::Builder::new()
        .prefix(".fulcrum-backup.")
        .make_in(dir, |name| link_current(path, name))
        .map_err(fail)?;
    // Dropping `temp` removes the temporary name where it is still there: after a failure, and
    // after a rename that did nothing because another save had just linked the same file as
    // the backup (rename(2) between two links of one file succeeds and changes nothing).
    fs::rename(&temp, &backup).map_err(fail)?;
    Ok(Some(backup))
}

/// Hard-links the file `path` names now. Another process's save may replace it between the
/// lookup and the link, which then fails with ENOENT (the old file's last name is gone): the
/// name then holds the new file, so look again.
fn link_current(path: &Path, name: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::hard_link(path, name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 16 => tries += 1,
            done => return done,
        }
    }
}

fn write_and_rename(
    mut file: File,
    temp: &Path,
    path: &Path,
    dir: &Path,
    text: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Option<PathBuf>, SaveError> {
    let fail = |step: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| SaveError {
            step,
            path: at,
            source,
        }
    };
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(fail("set the mode of", temp))?;
    if let Some((uid, gid)) = owner {
        // Owner and group as before where allowed; else the group alone; else the daemon's.
        if std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).is_err() {
            let _ = std::os::unix::fs::fchown(&file, None, Some(gid));
        }
    }
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
    fn a_symlinked_configuration_is_followed_and_keeps_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.conf");
        fs::write(&real, "old\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        // Another group than ours (as root: any; else one of ours, which is all we may set).
        let gid = if nix::unistd::geteuid().is_root() {
            4
        } else {
            fs::metadata(&real).unwrap().gid()
        };
        std::os::unix::fs::chown(&real, None, Some(gid)).unwrap();
        let link = dir.path().join("fulcrum.conf");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let backup = save_atomically(&link, "new\n").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new\n");
        let meta = fs::metadata(&real).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.gid(), gid);
        assert_eq!(backup, Some(dir.path().join("real.conf.bak")));
        assert_eq!(
            fs::read_to_string(dir.path().join("real.conf.bak")).unwrap(),
            "old\n"
        );
    }

    #[test]
    fn concurrent_saves_each_write_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fulcrum.conf");
        fs::write(&path, "start\n").unwrap();
        let texts: Vec<String> = (0..8).map(|i| format!("{i}\n").repeat(10_000)).collect();
        std::thread::scope(|scope| {
            for text in &texts {
                let path = &path;
                scope.spawn(move || save_atomically(path, text).unwrap());
            }
        });
        let now = fs::read_to_string(&path).unwrap();
        assert!(texts.contains(&now), "a mixed file");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
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
