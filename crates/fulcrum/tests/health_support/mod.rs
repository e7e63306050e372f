//! Shared by the health-check integration tests: free ports, Bind9 on loopback, `fulcrum run`
//! killed by PID on drop (also on panic), its control socket and log, and `dig`.

#![allow(dead_code)]

use crate::common::targets;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, LoopbackNetns, Zone};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");
pub const DIG: &str = "/usr/bin/dig";
pub const ZONE: &str = "fulcrum.test";
/// INTERVAL + TIMEOUT of the `1,2` checks, and the margin the shared machine gets on top.
pub const DOWN_WITHIN: Duration = Duration::from_secs(3);
pub const MARGIN: Duration = Duration::from_millis(1500);

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// A Bind9 on 127.0.0.1:`port` whose zone's apex TXT record is `name`.
pub fn bind9(name: &str, port: u16) -> Bind9 {
    let record = format!("@ IN TXT \"{name}\"");
    Bind9::start(Bind9Options {
        listen: vec![Ipv4Addr::LOCALHOST.into()],
        port,
        zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
        netns: None,
        extra_options: String::new(),
    })
    .unwrap_or_else(|e| panic!("starting Bind9 {name}: {e}"))
}

/// A child process killed by PID on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

/// A running `fulcrum run`, killed by PID on drop.
pub struct Daemon {
    child: Guard,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(config: &str) -> Daemon {
        Daemon::start_in(config, None)
    }

    /// Writes `config`, starts the daemon (inside `netns` when given) and waits until its
    /// control socket answers.
    pub fn start_in(config: &str, netns: Option<&LoopbackNetns>) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("fulcrum.conf");
        std::fs::write(&config_path, config).expect("write the configuration");
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let mut command = match netns {
            Some(netns) => netns.command(FULCRUM),
            None => Command::new(FULCRUM),
        };
        let child = command
            .args(["run", "--log-level", "info", "-c"])
            .arg(&config_path)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .expect("start fulcrum run");
        let mut daemon = Daemon {
            child: Guard(child),
            socket,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            if let Ok(Some(status)) = daemon.child.0.try_wait() {
                panic!("fulcrum run exited early ({status}):\n{}", daemon.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no control socket:\n{}",
                daemon.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs one control command; panics with the daemon's log if it fails.
    pub fn control(&self, line: &str) -> String {
        let output = Command::new(FULCRUM)
            .arg("control")
            .arg("--socket")
            .arg(&self.socket)
            .args(["-e", line])
            .stdin(Stdio::null())
            .output()
            .expect("run fulcrum control");
        assert!(
            output.status.success(),
            "fulcrum control -e {line:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The `op` column of target `id` in `show targets`.
    pub fn operational(&self, id: u32) -> bool {
        let table = self.control("show targets");
        targets::operational_in(&table, id).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Polls until target `id` is `up` (or down); returns how long that took.
    pub fn wait_for(&self, id: u32, up: bool, within: Duration) -> Duration {
        targets::wait_operational(
            id,
            up,
            within,
            || self.operational(id),
            || format!("{}\n{}", self.control("show targets"), self.logs()),
        )
    }

    /// Waits until the daemon's log contains `text` (it is written just after the state
    /// `show targets` reads changes).
    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.logs().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `path` has at least `lines` lines (alert scripts run asynchronously).
    pub fn wait_for_lines(&self, path: &Path, lines: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let found: Vec<String> = text.lines().map(str::to_string).collect();
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

/// `dig` from `source` to `vip` for the zone's TXT: the instance that answered.
pub fn dig(vip: SocketAddr, source: Ipv4Addr) -> Result<String, String> {
    assert!(
        Path::new(DIG).exists(),
        "{DIG} is missing: install bind9-dnsutils"
    );
    let output = Command::new(DIG)
        .arg(format!("@{}", vip.ip()))
        .args(["-p", &vip.port().to_string()])
        .args(["-b", &source.to_string()])
        .args(["+time=1", "+tries=1", "+short", "TXT", ZONE])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match text.trim_matches('"') {
        name @ ("inst-a" | "inst-b") => Ok(name.to_string()),
        _ => Err(format!("dig from {source}: {text:?}")),
    }
}

/// A server on `vip` with targets 1 and 2 on 127.0.0.1 at the given ports, each with the
/// extra target lines `checks`.
pub fn two_target_config(vip: SocketAddr, ports: [u16; 2], checks: [&str; 2]) -> String {
    format!(
        "hostname HEALTHTEST\n\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {pa}\n{ca}\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {pb}\n{cb}\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        ip = vip.ip(),
        port = vip.port(),
        pa = ports[0],
        pb = ports[1],
        ca = checks[0],
        cb = checks[1],
    )
}

/// A script that appends its arguments, one line per run, to `file`.
pub fn recorder(dir: &Path, file: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("record.sh");
    let text = format!("#!/bin/sh\necho \"$*\" >> {}\n", file.display());
    std::fs::write(&script, text).expect("write the alert script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("make the alert script executable");
    script
}
