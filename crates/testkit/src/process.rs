//! Processes a test starts outside a lab (a lab's `netlab::Proc` dies with its lab), bounded
//! waits, logs and the tools a test needs. [`KillOnDrop`] is the one "daemon killed on drop"
//! guard: SIGKILL by the PID the test holds, then reaped, also during a panic.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A child process killed by its PID (SIGKILL) and reaped when the guard drops, unless it has
/// exited already.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the process");
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }

    /// SIGKILL now (if it still runs) and reap it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `timeout` for `child` to exit; `None` if it still runs.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits for a process that is expected to exit on its own (a refused start); kills it by PID and
/// fails the test with `what` if it keeps running for 10 s.
pub fn expect_exit(child: Child, what: &str) -> ExitStatus {
    let mut guard = KillOnDrop(child);
    match wait_exit(&mut guard.0, Duration::from_secs(10)) {
        Some(status) => status,
        None => {
            guard.kill();
            panic!("{what}");
        }
    }
}

/// Waits until `check` holds, at most `limit` (checked once more at the end); returns how long
/// it took.
pub fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The text of `path`, empty if it cannot be read (a log not written yet).
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until the file at `log` contains `needle`, at most `limit`; returns the whole text.
pub fn wait_for_log(log: &Path, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = read(log);
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not log {needle:?} within {limit:?}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `body` to `path` with mode 0755 (an agent or alert script).
pub fn write_executable(path: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let written = std::fs::write(path, body)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)));
    if let Err(e) = written {
        panic!("writing {}: {e}", path.display());
    }
    path.to_path_buf()
}

/// Fails the test unless every one of `tools` (absolute paths) exists; `hint` says what to
/// install.
pub fn require_tools(tools: &[&str], hint: &str) {
    for tool in tools {
        assert!(Path::new(tool).exists(), "{tool} is missing: {hint}");
    }
}

/// Fails the test unless it runs as root (namespaces, raw and AF_PACKET sockets).
pub fn require_root() {
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    assert!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "this test builds network namespaces and opens AF_PACKET sockets: run it as root"
    );
}

/// Fails the test unless `tool` is on `PATH`.
pub fn require_on_path(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` installed (Debian package of the same name)"
    );
}
