//! The package tests' support: building the .deb once, a systemd-style notify listener, and
//! starting the installed binary the way fulcrum.service does (user fulcrum, only the unit's
//! capabilities, `NOTIFY_SOCKET` and `WATCHDOG_USEC` set), killed by PID when its guard drops.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::process::KillOnDrop;
use std::time::{Duration, Instant};

/// The capabilities fulcrum.service grants (AmbientCapabilities=), in setpriv's spelling.
pub const UNIT_CAPS: &str = "+net_raw,+net_admin,+net_bind_service,+bpf";

pub use crate::repo_root;

pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Whether dpkg has the package installed (config-files only does not count).
pub fn installed(package: &str) -> bool {
    let out = run("dpkg-query", &["-W", "-f=${Status}", package]);
    text(&out.stdout).contains("install ok installed")
}

pub fn dpkg_status(package: &str) -> String {
    text(&run("dpkg-query", &["-W", "-f=${Status}", package]).stdout)
}

/// Runs scripts/package.sh (a release build, incremental after the first) and returns the .deb.
pub fn build_package() -> PathBuf {
    let out = Command::new(repo_root().join("scripts/package.sh"))
        .current_dir(repo_root())
        .output()
        .expect("run scripts/package.sh");
    assert!(
        out.status.success(),
        "scripts/package.sh failed:\n{}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().expect("package.sh names the .deb");
    let deb = repo_root().join(last.trim());
    assert!(deb.is_file(), "{} missing", deb.display());
    deb
}

/// The socket systemd would listen on for `sd_notify` messages.
pub struct NotifyListener {
    socket: UnixDatagram,
    pub path: PathBuf,
    /// Every message so far, in order of arrival, with the time it came.
    pub seen: Vec<(Instant, String)>,
}

impl NotifyListener {
    pub fn bind(dir: &Path) -> NotifyListener {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        // The daemon runs as user fulcrum and must be able to send to it.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifyListener {
            socket,
            path,
            seen: Vec::new(),
        }
    }

    /// Reads whatever arrived, for up to `wait`.
    pub fn collect(&mut self, wait: Duration) {
        let end = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                for line in text(&buf[..n]).lines() {
                    self.seen.push((Instant::now(), line.to_string()));
                }
            }
        }
    }

    /// Waits until a message satisfying `wanted` arrives after `since`; returns it.
    pub fn wait_for(
        &mut self,
        since: Instant,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
        what: &str,
        logs: impl Fn() -> String,
    ) -> String {
        let end = Instant::now() + limit;
        loop {
            if let Some((_, m)) = self.seen.iter().find(|(at, m)| *at >= since && wanted(m)) {
                return m.clone();
            }
            assert!(
                Instant::now() < end,
                "no {what} within {limit:?}; messages: {:?}\nlogs:\n{}",
                self.messages(),
                logs()
            );
            self.collect(Duration::from_millis(200));
        }
    }

    pub fn messages(&self) -> Vec<String> {
        self.seen.iter().map(|(_, m)| m.clone()).collect()
    }

    pub fn count_since(&self, since: Instant, message: &str) -> usize {
        self.seen
            .iter()
            .filter(|(at, m)| *at >= since && m == message)
            .count()
    }
}

/// The installed daemon, started as the unit starts it; killed by PID on drop.
pub struct ServiceProcess {
    pub child: KillOnDrop,
    pub log: PathBuf,
}

impl ServiceProcess {
    /// `setpriv` drops to user fulcrum keeping only the unit's capabilities, as systemd does
    /// with User=, AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges=.
    pub fn start(args: &[&str], notify: &Path, log: &Path, watchdog: Duration) -> ServiceProcess {
        let log_file = std::fs::File::create(log).unwrap();
        let child = as_unit_user(args)
            .env("NOTIFY_SOCKET", notify)
            .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
            .env("FULCRUM_TEST_HOOKS", "1")
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start the installed fulcrum");
        ServiceProcess {
            child: KillOnDrop(child),
            log: log.to_path_buf(),
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        self.child.signal(signal);
    }

    /// Waits for the exit, killing the process after `limit`; None when it had to be killed.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let status = crate::process::wait_exit(&mut self.child.0, limit);
        if status.is_none() {
            self.child.kill();
        }
        status
    }
}

/// A command running `/usr/sbin/fulcrum ARGS` as user fulcrum with the unit's capabilities.
pub fn as_unit_user(args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid", "fulcrum", "--regid", "fulcrum", "--init-groups"])
        .args(["--inh-caps", UNIT_CAPS, "--ambient-caps", UNIT_CAPS])
        .args(["--bounding-set", &format!("-all,{UNIT_CAPS}")])
        .arg("--no-new-privs")
        .arg("/usr/sbin/fulcrum")
        .args(args);
    command
}
