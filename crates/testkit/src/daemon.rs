//! `fulcrum run` outside a lab: on the host's loopback (or inside a
//! [`netlab::bind9::LoopbackNetns`]), killed by PID when its [`Daemon`] drops, also on panic.
//! [`Daemon::start`] takes a configuration file and a socket path the test chose (the control
//! tests look at both); [`Daemon::with_config`] writes a configuration text into a temporary
//! directory of its own. Either waits until the control socket answers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::LoopbackNetns;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::control;
use crate::process::{read, wait_exit, KillOnDrop};
use crate::show::{self, Session};

/// A running `fulcrum run`, killed by PID on drop.
pub struct Daemon {
    child: KillOnDrop,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Starts the daemon on `config` with its socket at `socket`; the log goes next to the
    /// configuration (`NAME.logN`, a new one per start).
    pub fn start(config: &Path, socket: &Path) -> Daemon {
        Daemon::start_with(config, socket, &[])
    }

    /// [`Daemon::start`] with more arguments to `fulcrum run` (e.g. `--socket-group`).
    pub fn start_with(config: &Path, socket: &Path, args: &[&str]) -> Daemon {
        let log = unique_log(config);
        let command = Command::new(crate::fulcrum());
        let child = spawn_run_with(command, config, socket, &log, args);
        Daemon::ready(child, config, socket, log, None)
    }

    /// Writes `config` into a temporary directory and starts the daemon on it.
    pub fn with_config(config: &str) -> Daemon {
        Daemon::with_config_in(config, None)
    }

    /// [`Daemon::with_config`] inside `netns` when given.
    pub fn with_config_in(config: &str, netns: Option<&LoopbackNetns>) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("fulcrum.conf");
        std::fs::write(&config_path, config).expect("write the configuration");
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let command = match netns {
            Some(netns) => netns.command(crate::fulcrum()),
            None => Command::new(crate::fulcrum()),
        };
        let child = spawn_run_with(command, &config_path, &socket, &log, &[]);
        Daemon::ready(child, &config_path, &socket, log, Some(dir))
    }

    fn ready(
        child: Child,
        config: &Path,
        socket: &Path,
        log: PathBuf,
        dir: Option<tempfile::TempDir>,
    ) -> Daemon {
        let mut daemon = Daemon {
            child: KillOnDrop(child),
            config: config.to_path_buf(),
            socket: socket.to_path_buf(),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            if let Some(status) = daemon.child.try_wait() {
                panic!("fulcrum run exited early ({status}):\n{}", daemon.logs());
            }
            assert!(
                Instant::now() < deadline,
                "control socket never answered:\n{}",
                daemon.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    pub fn pid(&self) -> Pid {
        self.child.pid()
    }

    /// The process id, as `fulcrum control` reports the daemon it connected to.
    pub fn id(&self) -> u32 {
        self.child.0.id()
    }

    pub fn signal(&self, signal: Signal) {
        self.child.signal(signal);
    }

    pub fn logs(&self) -> String {
        read(&self.log)
    }

    /// Waits until the log contains `needle` (at most 10 s); returns the log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        crate::process::wait_for_log(&self.log, needle, Duration::from_secs(10))
    }

    /// Waits until the log contains `needle`, at most `limit`; returns the line.
    pub fn wait_for_log_line(&self, needle: &str, limit: Duration) -> String {
        let text = crate::process::wait_for_log(&self.log, needle, limit);
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .to_string()
    }

    /// SIGTERM, then the exit status within 10 s.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let status = wait_exit(&mut self.child.0, Duration::from_secs(10));
        status.unwrap_or_else(|| panic!("daemon ignored SIGTERM:\n{}", self.logs()))
    }

    /// The client's whole output for `lines` in one session, whatever the exit.
    pub fn control_output(&self, lines: &[&str]) -> Output {
        control::control(&self.socket, lines)
    }

    /// One command's stdout; panics with stderr and the daemon's log if the client fails.
    pub fn control(&self, line: &str) -> String {
        self.control_all(&[line])
    }

    /// Several commands in one session; panics with the daemon's log if the client fails.
    pub fn control_all(&self, lines: &[&str]) -> String {
        control::control_ok(&self.socket, lines, || self.logs())
    }

    /// One command's JSON document, typed; panics with the daemon's log if it cannot be read.
    pub fn show<T: serde::de::DeserializeOwned>(&self, line: &str) -> T {
        control::show(&self.socket, line).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Whether target `id` is operational in `show targets`.
    pub fn operational(&self, id: u32) -> bool {
        let targets: show::TargetsDoc = self.show("show targets");
        show::operational_in(&targets, id).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Polls until target `id` is `up` (or down); returns how long that took.
    pub fn wait_for(&self, id: u32, up: bool, within: Duration) -> Duration {
        show::wait_operational(
            id,
            up,
            within,
            || self.operational(id),
            || format!("{}\n{}", self.control("show targets"), self.logs()),
        )
    }

    /// (registered, enabled) of target `id` as `show targets` reports it.
    pub fn target_state(&self, id: u32) -> Option<(bool, bool)> {
        let targets: show::TargetsDoc = self.show("show targets");
        show::target_row(&targets, id).map(|row| (row.registered, row.enabled))
    }

    /// `show sessions all` as (hash, address, server, target) rows.
    pub fn sessions(&self) -> std::collections::BTreeSet<Session> {
        show::sessions(&self.show("show sessions all"))
    }

    /// Waits until `path` has at least `lines` lines (alert scripts run asynchronously).
    pub fn wait_for_lines(&self, path: &Path, lines: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found: Vec<String> = read(path).lines().map(str::to_string).collect();
            if found.len() >= lines {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} has {found:?}, expected {lines} line(s):\n{}",
                path.display(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `BASE.logN` for the first N not taken yet.
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

/// Starts `fulcrum run` on `config` and `socket`, its stderr to `log`; the caller owns the child
/// (a start expected to be refused goes to [`crate::process::expect_exit`]).
pub fn spawn_run(config: &Path, socket: &Path, log: &Path) -> Child {
    spawn_run_with(Command::new(crate::fulcrum()), config, socket, log, &[])
}

/// [`spawn_run`] with `command` as the binary (maybe wrapped, or in a namespace) and `args`
/// after `run`'s own.
pub fn spawn_run_with(
    mut command: Command,
    config: &Path,
    socket: &Path,
    log: &Path,
    args: &[&str],
) -> Child {
    run_arguments(&mut command, config, socket, log, args)
        .spawn()
        .expect("start fulcrum run")
}

/// `fulcrum run` in the lab namespace `ns`, held by its real PID (killed with the lab at the
/// latest), run by `wrapper` if one is given (`wrapper... fulcrum run ...`, e.g. `setpriv`):
/// `config`, `socket` and `log` as [`spawn_run`] takes them.
pub fn spawn_run_in(
    ns: &netlab::Ns,
    wrapper: &[&str],
    config: &Path,
    socket: &Path,
    log: &Path,
) -> netlab::Proc {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = ns.command(program);
            command.args(args).arg(crate::fulcrum());
            command
        }
        None => ns.command(crate::fulcrum()),
    };
    run_arguments(&mut command, config, socket, log, &[]);
    ns.spawn(command).expect("start fulcrum run")
}

fn run_arguments<'a>(
    command: &'a mut Command,
    config: &Path,
    socket: &Path,
    log: &Path,
    args: &[&str],
) -> &'a mut Command {
    let log = std::fs::File::create(log).expect("create the log file");
    command
        .args(["run", "--log-level", "info", "-c"])
        .arg(config)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
}

/// The loopback configuration the control tests start from: server 1 on 127.0.0.1 with targets
/// 1 and 2 (127.0.0.2 and 127.0.0.3), all on free ports.
pub fn loopback_config() -> String {
    let port = crate::free_port();
    let backend = crate::free_port();
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

/// A temporary directory with the loopback configuration in it: (dir, config, socket path).
pub fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("fulcrum.conf");
    std::fs::write(&config, loopback_config()).expect("write the configuration");
    let socket = dir.path().join("run/fulcrum.sock");
    (dir, config, socket)
}
