//! End-to-end tests of the proxy data plane: the real `fulcrum run` in front of two real Bind9
//! instances (each with its own zone whose TXT record names it), queried with the real `dig`
//! over UDP and TCP from many distinct 127.x source addresses, steered with the real
//! `fulcrum control`. Every process a test starts is killed by PID when its guard drops, also
//! on panic. Each test has its own 127.0.N.0/24 range and free ports, so tests run in parallel.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, Zone};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");
const DIG: &str = "/usr/bin/dig";
const ZONE: &str = "fulcrum.test";

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// A Bind9 on 127.0.0.1 whose zone's apex TXT record is `name`.
fn bind9(name: &str) -> Bind9 {
    let record = format!("@ IN TXT \"{name}\"");
    Bind9::start(Bind9Options {
        listen: vec![Ipv4Addr::LOCALHOST.into()],
        port: free_port(),
        zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
        netns: None,
        extra_options: String::new(),
    })
    .unwrap_or_else(|e| panic!("starting Bind9 {name}: {e}"))
}

/// A running `fulcrum run`, killed by PID on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Writes `config`, starts the daemon and waits until its control socket answers.
    fn start(config: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("fulcrum.conf");
        std::fs::write(&config_path, config).expect("write the configuration");
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let child = Command::new(FULCRUM)
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
            child,
            socket,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
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

    /// Runs control commands; panics with the daemon's log if any fails.
    fn control(&self, commands: &[&str]) -> String {
        let mut command = Command::new(FULCRUM);
        command.arg("control").arg("--socket").arg(&self.socket);
        for line in commands {
            command.arg("-e").arg(line);
        }
        let output = command
            .stdin(Stdio::null())
            .output()
            .expect("run fulcrum control");
        assert!(
            output.status.success(),
            "fulcrum control {commands:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// One session-method server on `vip` in front of the two Bind9 (targets 1 and 2).
fn config(vip: SocketAddr, a: &Bind9, b: &Bind9) -> String {
    format!(
        "hostname PROXYTEST\n\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {pa}\n  dsr disable\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {pb}\n  dsr disable\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        ip = vip.ip(),
        port = vip.port(),
        pa = a.addr().port(),
        pb = b.addr().port(),
    )
}

/// `dig` from `source` to `vip` for the zone's TXT; returns the instance named, or the output.
fn dig(vip: SocketAddr, source: Ipv4Addr, tcp: bool) -> Result<String, String> {
    assert!(
        Path::new(DIG).exists(),
        "{DIG} is missing: install bind9-dnsutils"
    );
    let mut command = Command::new(DIG);
    command
        .arg(format!("@{}", vip.ip()))
        .args(["-p", &vip.port().to_string()])
        .args(["-b", &source.to_string()])
        .args(["+time=2", "+tries=1", "+short", "TXT", ZONE]);
    if tcp {
        command.arg("+tcp");
    }
    let output: Output = command.output().expect("run dig");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match text.as_str() {
        "\"inst-a\"" => Ok("inst-a".into()),
        "\"inst-b\"" => Ok("inst-b".into()),
        _ => Err(format!(
            "dig from {source} ({}): {text} {}",
            if tcp { "tcp" } else { "udp" },
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

fn dig_ok(daemon: &Daemon, vip: SocketAddr, source: Ipv4Addr, tcp: bool) -> String {
    dig(vip, source, tcp).unwrap_or_else(|e| panic!("{e}\n{}", daemon.logs()))
}

/// The five counters at the end of server 1's row in `show servers`:
/// queries, responses, timeouts, drops, sessions.
fn server_row(daemon: &Daemon, vip: SocketAddr) -> [u64; 5] {
    let text = daemon.control(&["show servers"]);
    let ip = vip.ip().to_string();
    let row = text
        .lines()
        .find(|l| l.starts_with("1 ") && l.contains(&ip))
        .unwrap_or_else(|| panic!("no server 1 row:\n{text}"));
    let fields: Vec<u64> = row
        .split_whitespace()
        .rev()
        .take(5)
        .map(|f| {
            f.parse()
                .unwrap_or_else(|_| panic!("counter {f:?} in {row:?}"))
        })
        .collect();
    [fields[4], fields[3], fields[2], fields[1], fields[0]]
}

#[test]
fn dig_through_fulcrum_run_sticks_clients_and_drains_a_disabled_target() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = SocketAddr::from(([127, 0, 41, 10], free_port()));
    let daemon = Daemon::start(&config(vip, &a, &b));

    // UDP and TCP both reach a backend, and a client stays put across transports.
    let one = Ipv4Addr::new(127, 0, 41, 1);
    let first = dig_ok(&daemon, vip, one, false);
    assert_eq!(dig_ok(&daemon, vip, one, true), first);

    // Many distinct clients: each keeps its target, and both targets get some.
    let clients: Vec<Ipv4Addr> = (1..=40u8).map(|i| Ipv4Addr::new(127, 0, 42, i)).collect();
    let placed: Vec<String> = clients
        .iter()
        .map(|c| dig_ok(&daemon, vip, *c, false))
        .collect();
    for (c, want) in clients.iter().zip(&placed) {
        assert_eq!(&dig_ok(&daemon, vip, *c, false), want, "{c} moved (udp)");
        assert_eq!(&dig_ok(&daemon, vip, *c, true), want, "{c} moved (tcp)");
    }
    let on_b = placed.iter().filter(|p| *p == "inst-b").count();
    assert!(
        on_b > 3 && on_b < 37,
        "lopsided placement: {on_b} of 40 on inst-b"
    );

    // `show sessions all`: the seed's layout, one row per client with its target.
    let text = daemon.control(&["show sessions all"]);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("41 sessions"), "{text}");
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec![
            "hash",
            "ip-address",
            "port",
            "srv",
            "tgt",
            "age",
            "stout"
        ]),
        "{text}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("--------")),
        "{text}"
    );
    let mut rows = 0;
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 7, "{line:?}");
        let addr: Ipv4Addr = f[1].parse().expect("address");
        assert_eq!(
            f[0].parse::<u32>().ok(),
            Some(u32::from(addr) & 0xff_ffff),
            "{line}"
        );
        assert_eq!((f[2], f[3], f[6]), ("any", "1", "600"), "{line}");
        let age: u32 = f[5].parse().expect("age");
        assert!(age < 60, "{line}");
        if let Some(i) = clients.iter().position(|c| *c == addr) {
            let want = if placed[i] == "inst-a" { "1" } else { "2" };
            assert_eq!(f[4], want, "{line}");
        }
        rows += 1;
    }
    assert_eq!(rows, 41, "{text}");
    let shown = daemon.control(&["show sessions 3"]);
    assert!(
        shown.contains("... remaining sessions not shown"),
        "{shown}"
    );

    // Disabled: target 2 takes no new client; its present clients drain.
    daemon.control(&["disable target 2"]);
    for i in 1..=30u8 {
        let newcomer = Ipv4Addr::new(127, 0, 43, i);
        assert_eq!(
            dig_ok(&daemon, vip, newcomer, i % 3 == 0),
            "inst-a",
            "{newcomer}"
        );
    }
    let [queries, responses, timeouts, drops, sessions] = server_row(&daemon, vip);
    assert_eq!(queries, responses, "every query answered");
    assert_eq!((timeouts, drops), (0, 0));
    assert_eq!(sessions, 71);
}

#[test]
fn malformed_datagrams_are_counted_and_do_not_stop_the_daemon() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = SocketAddr::from(([127, 0, 44, 10], free_port()));
    let daemon = Daemon::start(&config(vip, &a, &b));
    let source = Ipv4Addr::new(127, 0, 44, 1);
    dig_ok(&daemon, vip, source, false);
    let sock = UdpSocket::bind((source, 0)).expect("bind");
    let garbage: [&[u8]; 5] = [
        b"",
        b"short",
        // QR set: a response where a query belongs.
        &[0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 1],
        // QDCOUNT 3.
        &[0, 2, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 1],
        // A label running past the end.
        &[0, 3, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, b'a'],
    ];
    for _ in 0..20 {
        for g in garbage {
            sock.send_to(g, vip).expect("send garbage");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let [_, _, _, drops, _] = server_row(&daemon, vip);
        if drops == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "drops counted: {drops} of 100");
        std::thread::sleep(Duration::from_millis(50));
    }
    dig_ok(&daemon, vip, source, false);
    dig_ok(&daemon, vip, source, true);
}
