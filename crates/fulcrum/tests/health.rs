//! End-to-end tests of the health checks in the running daemon: the real `fulcrum run` in front
//! of real Bind9 instances, a real `fulcrum agent`, real TCP listeners and a real ICMP target in
//! a network namespace the test creates, read back through the real `fulcrum control`.
//!
//! Checks run with short settings (`1,2`: a probe every second, down after two without
//! success), so a target must be reported down within INTERVAL + TIMEOUT = 3 s of its failure
//! (asserted with a margin for a busy shared machine) and up again on its next success. Every
//! process a test starts is killed by PID when its guard drops, also on panic; each test has
//! its own 127.0.N.0/24 client range and free ports, so tests run in parallel.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, LoopbackNetns, Zone};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");
const DIG: &str = "/usr/bin/dig";
const ZONE: &str = "fulcrum.test";
/// INTERVAL + TIMEOUT of the `1,2` checks, and the margin the shared machine gets on top.
const DOWN_WITHIN: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_millis(1500);

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
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
fn bind9(name: &str, port: u16) -> Bind9 {
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
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

/// A running `fulcrum run`, killed by PID on drop.
struct Daemon {
    child: Guard,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(config: &str) -> Daemon {
        Daemon::start_in(config, None)
    }

    /// Writes `config`, starts the daemon (inside `netns` when given) and waits until its
    /// control socket answers.
    fn start_in(config: &str, netns: Option<&LoopbackNetns>) -> Daemon {
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

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs one control command; panics with the daemon's log if it fails.
    fn control(&self, line: &str) -> String {
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
    fn operational(&self, id: u32) -> bool {
        let text = self.control("show targets");
        let row = text
            .lines()
            .find(|l| {
                let mut cells = l.split_whitespace();
                cells.next() == Some(&id.to_string())
                    && cells
                        .next()
                        .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok())
            })
            .unwrap_or_else(|| panic!("no row for target {id}:\n{text}"));
        // tgt ip-address port proto weight dsr reg ena op ...
        match row.split_whitespace().nth(8) {
            Some("yes") => true,
            Some("no") => false,
            other => panic!("op column {other:?} in {row:?}"),
        }
    }

    /// Polls until target `id`'s operational state is `up`; returns how long that took.
    fn wait_for(&self, id: u32, up: bool, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.operational(id) == up {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "target {id} not {} within {within:?}:\n{}\n{}",
                if up { "up" } else { "down" },
                self.control("show targets"),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the daemon's log contains `text` (it is written just after the state
    /// `show targets` reads changes).
    fn wait_for_log(&self, text: &str) {
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
    fn wait_for_lines(&self, path: &Path, lines: usize) -> Vec<String> {
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
fn dig(vip: SocketAddr, source: Ipv4Addr) -> Result<String, String> {
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
fn two_target_config(vip: SocketAddr, ports: [u16; 2], checks: [&str; 2]) -> String {
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
fn recorder(dir: &Path, file: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("record.sh");
    let text = format!("#!/bin/sh\necho \"$*\" >> {}\n", file.display());
    std::fs::write(&script, text).expect("write the alert script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("make the alert script executable");
    script
}

#[test]
fn a_stopped_bind9_goes_down_its_clients_move_and_it_comes_back_up() {
    let ports = [free_port(), free_port()];
    let mut a = bind9("inst-a", ports[0]);
    let _b = bind9("inst-b", ports[1]);
    let vip = SocketAddr::from(([127, 0, 51, 10], free_port()));
    let scripts = tempfile::tempdir().expect("temporary directory");
    let alerts = scripts.path().join("alerts");
    let script = recorder(scripts.path(), &alerts);
    // `alert "SCRIPT"` runs as `sh -c 'SCRIPT "$@"' fulcrum-alert ID ADDR REASON`.
    let checks = |port: u16| {
        format!(
            "  tcpopen {port},1,2\n  dns {ZONE},1,2\n  alert \"{s} down\"\n  upalert \"{s} up\"",
            s = script.display()
        )
    };
    let (ca, cb) = (checks(ports[0]), checks(ports[1]));
    let daemon = Daemon::start(&two_target_config(vip, ports, [&ca, &cb]));
    daemon.wait_for(1, true, MARGIN);
    daemon.wait_for(2, true, MARGIN);

    // A client on inst-a (the session method keeps it there).
    let client = (1..=40)
        .map(|i| Ipv4Addr::new(127, 0, 51, 100 + i))
        .find(|source| dig(vip, *source).as_deref() == Ok("inst-a"))
        .unwrap_or_else(|| panic!("no client placed on inst-a:\n{}", daemon.logs()));

    let text = daemon.control("show targets");
    assert!(text.contains("tcpopen"), "{text}");
    assert!(text.contains(&format!("dns {ZONE},1,2 up")), "{text}");

    a.stop();
    let took = daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 1 reported down {took:?} after its Bind9 stopped");
    assert!(daemon.operational(2), "the other target stays up");
    // The session moved at once: the same client is answered, by the other node.
    for _ in 0..3 {
        assert_eq!(
            dig(vip, client).as_deref(),
            Ok("inst-b"),
            "{}",
            daemon.logs()
        );
    }
    daemon.wait_for_log(&format!("target 1 (127.0.0.1:{}) down: ", ports[0]));
    let lines = daemon.wait_for_lines(&alerts, 1);
    assert!(
        lines[0].starts_with("down 1 127.0.0.1 tcpopen "),
        "alert arguments: {lines:?}"
    );
    let detail = daemon.control("show target 1");
    assert!(detail.contains("operational  no"), "{detail}");
    assert!(detail.contains("connection refused"), "{detail}");

    let _a = bind9("inst-a", ports[0]);
    daemon.wait_for(1, true, Duration::from_secs(1) + MARGIN);
    let lines = daemon.wait_for_lines(&alerts, 2);
    assert!(
        lines[1].starts_with("up 1 127.0.0.1 "),
        "upalert arguments: {lines:?}"
    );
    // Moved sessions stay where they are.
    assert_eq!(dig(vip, client).as_deref(), Ok("inst-b"));
}

#[test]
fn an_agent_reporting_zero_takes_its_target_down() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (bind9("inst-a", ports[0]), bind9("inst-b", ports[1]));
    let vip = SocketAddr::from(([127, 0, 52, 10], free_port()));
    let work = tempfile::tempdir().expect("temporary directory");
    let value = work.path().join("value");
    std::fs::write(&value, "7\n").expect("write the agent value");
    let key = work.path().join("key");
    std::fs::write(&key, "health-test-secret\n").expect("write the key");
    let agent_port = free_port();
    let _agent = Guard(
        Command::new(FULCRUM)
            .args(["agent", "-b", "127.0.0.1", "-k"])
            .arg(&key)
            .arg("-c")
            .arg(format!("cat {}", value.display()))
            .arg(agent_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fulcrum agent"),
    );
    let checks = format!("  agent {agent_port},1,2");
    let config =
        two_target_config(vip, ports, [&checks, ""]) + "set agentkey \"health-test-secret\"\n";
    let daemon = Daemon::start(&config);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.control("show target 1").contains("value 7") {
        assert!(
            Instant::now() < deadline,
            "no agent value:\n{}\n{}",
            daemon.control("show target 1"),
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(daemon.operational(1));

    std::fs::write(&value, "0\n").expect("write the agent value");
    // The agent caches its command's result for up to a second.
    let took = daemon.wait_for(1, false, DOWN_WITHIN + Duration::from_secs(1) + MARGIN);
    eprintln!("target 1 reported down {took:?} after its agent turned to 0");
    assert!(daemon.operational(2));
    let detail = daemon.control("show target 1");
    assert!(detail.contains("value 0"), "{detail}");
    daemon.wait_for_log("down: agent value 0 for ");

    std::fs::write(&value, "3\n").expect("write the agent value");
    daemon.wait_for(1, true, Duration::from_secs(2) + MARGIN);
}

#[test]
fn a_closed_tcp_port_fails_tcpopen_and_a_zone_not_served_fails_dns() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (bind9("inst-a", ports[0]), bind9("inst-b", ports[1]));
    let vip = SocketAddr::from(([127, 0, 53, 10], free_port()));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
    let open_port = listener.local_addr().expect("local address").port();
    let tcp_check = format!("  tcpopen {open_port},1,2");
    // inst-b is not authoritative for this zone: REFUSED, no SOA.
    let dns_check = "  dns missing.test,1,2";
    let daemon = Daemon::start(&two_target_config(vip, ports, [&tcp_check, dns_check]));
    let took = daemon.wait_for(2, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 2 (zone not served) reported down after {took:?}");
    let detail = daemon.control("show target 2");
    assert!(detail.contains("SOA query failed"), "{detail}");
    assert!(daemon.operational(1), "{}", daemon.control("show targets"));
    // With every other target down, the session method still places clients on target 1.
    assert_eq!(
        dig(vip, Ipv4Addr::new(127, 0, 53, 20)).as_deref(),
        Ok("inst-a")
    );

    drop(listener);
    let took = daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 1 (port closed) reported down after {took:?}");
    let detail = daemon.control("show target 1");
    assert!(detail.contains("connection refused"), "{detail}");
    // No target operational: queries are dropped (and counted by the data plane). The data
    // plane learns of the transition just after the scheduler, so allow it a moment.
    std::thread::sleep(Duration::from_millis(200));
    let answer = dig(vip, Ipv4Addr::new(127, 0, 53, 21));
    assert!(
        answer.is_err(),
        "answered {answer:?} with no target up:\n{}\n{}",
        daemon.control("show targets"),
        daemon.logs()
    );

    // Fixing the configuration live brings target 2 back (the `dns` check is replaced).
    daemon.control(&format!("target 2 {{ dns {ZONE},1,2 }}"));
    daemon.wait_for(2, true, Duration::from_secs(1) + MARGIN);
    // Target 1's unchanged check kept its state through that change: still down, its
    // failures still counted (a restart from scratch would show it `pending` and up).
    assert!(!daemon.operational(1), "{}", daemon.control("show targets"));
    let text = daemon.control("show targets");
    let line = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("tcpopen {open_port},1,2"))
        })
        .unwrap_or_else(|| panic!("no tcpopen line:\n{text}"));
    assert!(line.contains(" down for "), "{line}");
    assert!(!line.contains(" 0 failures"), "{line}");
}

#[test]
fn ping_over_a_raw_socket_fails_once_the_address_is_gone() {
    // Nobody may open ICMP datagram sockets: the probe falls back to a raw socket.
    ping_scenario("raw", "1 0");
}

#[test]
fn ping_over_a_datagram_socket_fails_once_the_address_is_gone() {
    // Every group may open ICMP datagram sockets (what systemd sets on most hosts).
    ping_scenario("dgram", "0 2147483647");
}

/// Pings 192.0.2.77 on the `lo` of a namespace of the test's own, where the daemon runs with
/// `net.ipv4.ping_group_range` set to `group_range`, then removes the address.
fn ping_scenario(tag: &str, group_range: &str) {
    let name = format!("fulcrum-health-{tag}-{}", std::process::id());
    let addr = Ipv4Addr::new(192, 0, 2, 77);
    let netns = LoopbackNetns::create(&name, &[addr.into()])
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    let status = netns
        .command("/usr/sbin/sysctl")
        .args([
            "-q",
            "-w",
            &format!("net.ipv4.ping_group_range={group_range}"),
        ])
        .status()
        .expect("run sysctl (Debian package procps)");
    assert!(status.success(), "setting ping_group_range in {name}");
    let config = format!(
        "target 1 {{\n  ipaddr {addr}\n  port 53\n  ping 1,2\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port 53\n  ping 1,2\n}}\n\
         register targets 1,2\nenable targets 1,2\n"
    );
    let daemon = Daemon::start_in(&config, Some(&netns));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.control("show target 1").contains("ping 1,2 up") {
        assert!(
            Instant::now() < deadline,
            "ping never succeeded:\n{}\n{}",
            daemon.control("show target 1"),
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("/usr/sbin/ip")
        .args([
            "-n",
            &name,
            "addr",
            "del",
            &format!("{addr}/32"),
            "dev",
            "lo",
        ])
        .status()
        .expect("run ip");
    assert!(status.success(), "removing {addr} from {name}");
    let took = daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 1 reported down {took:?} after its address went away");
    assert!(daemon.operational(2));
    daemon.wait_for_log(&format!("target 1 ({addr}:53) down: ping "));
    drop(daemon);
}
