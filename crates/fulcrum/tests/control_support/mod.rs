//! Helpers for the control integration tests: the loopback configuration, a guard around a
//! running `fulcrum run` (killed by PID on drop, also on panic), and runners for `fulcrum control`.

#![allow(dead_code)] // each test binary that includes this module uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on loopback");
        let port = tcp.local_addr().expect("local address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// The loopback configuration every `run` test starts from.
pub fn loopback_config() -> String {
    let port = free_port();
    let backend = free_port();
    format!(
        "// loopback test configuration\n\
         hostname LOOPTEST\n\
         server 1 {{\n  ipaddr 127.0.0.1\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.2\n  port {backend}\n  dsr disable\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.3\n  port {backend}\n  dsr disable\n}}\n\
         register targets 1,2\nenable targets 1,2\n"
    )
}

/// A running `fulcrum run`, killed by PID on drop.
pub struct Daemon {
    pub child: Child,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts the daemon and waits until its control socket answers.
    pub fn start(config: &Path, socket: &Path) -> Daemon {
        let log = unique_log(config);
        let child = spawn_run(config, socket, &log);
        let mut daemon = Daemon {
            child,
            config: config.to_path_buf(),
            socket: socket.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("fulcrum run exited early ({status}):\n{}", daemon.logs());
            }
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "control socket never answered:\n{}",
                daemon.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the daemon");
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status within 10 s.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal(Signal::SIGTERM);
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(10));
        status.unwrap_or_else(|| panic!("daemon ignored SIGTERM:\n{}", self.logs()))
    }

    pub fn control(&self, commands: &[&str]) -> Output {
        control(&self.socket, commands)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

pub fn unique_log(base: &Path) -> PathBuf {
    let mut n = 0;
    loop {
        let candidate = base.with_extension(format!("log{n}"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

pub fn spawn_run(config: &Path, socket: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("create the log file");
    Command::new(FULCRUM)
        .args(["run", "--log-level", "info", "-c"])
        .arg(config)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start fulcrum run")
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn control(socket: &Path, commands: &[&str]) -> Output {
    let mut command = Command::new(FULCRUM);
    command.arg("control").arg("--socket").arg(socket);
    for line in commands {
        command.arg("-e").arg(line);
    }
    command
        .stdin(Stdio::null())
        .output()
        .expect("run fulcrum control")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A temporary directory with the loopback configuration in it.
pub fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("fulcrum.conf");
    std::fs::write(&config, loopback_config()).expect("write the configuration");
    let socket = dir.path().join("run/fulcrum.sock");
    (dir, config, socket)
}

/// The cells of target `id`'s row in `show targets`:
/// [id, ip, port, proto, weight, dsr, reg, ena, op, ...counters].
pub fn target_row(table: &str, id: u32) -> Option<Vec<String>> {
    table
        .lines()
        .skip_while(|line| !line.starts_with("---"))
        .skip(1)
        .map(|line| {
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(&id.to_string()))
}

/// (registered, enabled) of target `id` as the running daemon reports it.
pub fn target_state(daemon: &Daemon, id: u32) -> Option<(String, String)> {
    let output = daemon.control(&["show targets"]);
    assert!(output.status.success(), "{}", stderr(&output));
    target_row(&stdout(&output), id).map(|cells| (cells[6].clone(), cells[7].clone()))
}

/// True when `text` has a line `FILE:LINE:COL: error: ...` for `file`.
pub fn has_positioned_error(text: &str, file: &str) -> bool {
    text.lines().any(|line| {
        let Some(rest) = line.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
            return false;
        };
        let mut parts = rest.splitn(3, ':');
        let numeric = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        numeric(parts.next())
            && numeric(parts.next())
            && parts.next().is_some_and(|r| r.starts_with(" error: "))
    })
}

/// Waits for a process that is expected to exit on its own (a refused start); kills it by PID and
/// fails the test if it keeps running.
pub fn expect_exit(mut child: Child, what: &str) -> std::process::ExitStatus {
    match wait_with_timeout(&mut child, Duration::from_secs(10)) {
        Some(status) => status,
        None => {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            panic!("{what}");
        }
    }
}
