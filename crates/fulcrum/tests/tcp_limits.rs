//! The real `fulcrum run` under a file-descriptor limit of 1024 (soft and hard, as
//! `prlimit --nofile=1024:1024`), in a namespace of its own with a real Bind9 as its target,
//! flooded with TCP clients: a few that send queries and never read the answers, then idle
//! ones from 60 source addresses, 12 each (720 connections: without the bounds they would need
//! 1440 descriptors). While the flood holds its sockets:
//! - the per-client cap (10) and the total cap (what 1024 descriptors allow: 384) hold, each
//!   counted in `show tcp`;
//! - the target's health checks (`tcpopen`, `dns`: each probe needs a descriptor) keep passing
//!   and the UDP service answers through the proxy.
//!
//! Then the idle connections are closed after `set tcpidle 6`, the non-reading ones after
//! `set tcpwrite 2`. A second run under 512 soft / 1024 hard shows the soft limit raised and
//! the settings applied live.
//!
//! Needs root, iproute2, prlimit (util-linux), bind9 and dig. The flood is bounded in count
//! (720 + 4 connections) and time (the test's waits).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use netlab::bind9::Bind9;
use netlab::{Lab, Ns, Proc};
use testkit::control::control_text;
use testkit::dns::{zone_server, ZONE};
use testkit::fulcrum;
use testkit::netns::run_in;
use testkit::process::read;
use testkit::show::{operational_in, wait_operational, TcpDoc};

const SERVER_PORT: u16 = 53;
const TARGET_PORT: u16 = 5353;

struct Node {
    _lab: Lab,
    ns: Ns,
    _bind9: Bind9,
    proc: Proc,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A namespace with Bind9 on 127.0.0.1:5353 and `fulcrum run` under `prlimit --nofile=LIMIT`
    /// proxying 127.0.0.1:53 (UDP and TCP) to it.
    fn start(tag: &str, nofile: &str) -> Node {
        let lab = Lab::new(tag);
        let ns = lab.netns("dns").expect("namespace");
        let big: Vec<String> = (0..14)
            .map(|i| format!("big IN TXT \"{i:02}-{}\"", "x".repeat(200)))
            .collect();
        let mut records = vec!["@ IN TXT \"flood\""];
        records.extend(big.iter().map(String::as_str));
        let bind9 = zone_server(Some(ns.name()), TARGET_PORT, &records);
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = dir.path().join("fulcrum.conf");
        std::fs::write(
            &conf,
            format!(
                "hostname FLOOD\nset tcpidle 6\nset tcpwrite 2\n\
                 server 1 {{\nipaddr 127.0.0.1\nport {SERVER_PORT}\ntargets 1\n}}\n\
                 register server 1\nenable server 1\n\
                 target 1 {{\nipaddr 127.0.0.1\nport {TARGET_PORT}\n\
                 tcpopen {TARGET_PORT},1,2\ndns {ZONE},1,2\n}}\n\
                 register target 1\nenable target 1\n"
            ),
        )
        .expect("write the configuration");
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = ns.command("prlimit");
        command
            .arg(format!("--nofile={nofile}"))
            .arg(fulcrum())
            .args(["run", "--log-level", "info", "-c"])
            .arg(&conf)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let proc = ns.spawn(command).expect("start fulcrum under prlimit");
        let node = Node {
            _lab: lab,
            ns,
            _bind9: bind9,
            proc,
            socket,
            log,
            _dir: dir,
        };
        node.wait_target_up(Duration::from_secs(20));
        node
    }

    fn control(&self, line: &str) -> String {
        control_text(&self.socket, line)
    }

    fn show_tcp(&self) -> String {
        self.control("show tcp")
    }

    /// `show tcp`'s counters and limits, typed.
    fn tcp(&self) -> TcpDoc {
        testkit::control::show(&self.socket, "show tcp")
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", read(&self.log)))
    }

    fn report(&self) -> String {
        format!(
            "{}\n{}\nlog:\n{}",
            self.control("show targets"),
            self.show_tcp(),
            read(&self.log)
        )
    }

    fn target_up(&self) -> bool {
        testkit::control::show(&self.socket, "show targets")
            .and_then(|targets| operational_in(&targets, 1))
            .unwrap_or(false)
    }

    fn wait_target_up(&self, limit: Duration) {
        wait_operational(1, true, limit, || self.target_up(), || self.report());
    }

    /// One UDP query through the proxy with `dig`.
    fn dig_udp(&self) -> bool {
        self.ns
            .run(&[
                "dig",
                "@127.0.0.1",
                "-p",
                &SERVER_PORT.to_string(),
                ZONE,
                "TXT",
                "+short",
                "+notcp",
                "+tries=1",
                "+time=2",
            ])
            .is_ok_and(|out| out.contains("flood"))
    }
}

/// Raises this test process's own soft descriptor limit (it holds the flood's sockets).
fn raise_own_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let wanted = hard.min(65_536);
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).expect("setrlimit");
    }
}

fn connect_from(source: Ipv4Addr) -> Option<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())
        .ok()?;
    let server = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, SERVER_PORT));
    socket
        .connect_timeout(&server.into(), Duration::from_secs(2))
        .ok()?;
    Some(socket.into())
}

/// A TXT query for `big.` (about 3 kB of answer), framed for TCP.
fn big_query(id: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["big", "fulcrum", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(q);
    framed
}

/// Whether the other side closed `stream` (end of stream or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a_tcp_flood_under_1024_descriptors_leaves_udp_and_health_checks_working() {
    raise_own_limit();
    let node = Node::start("tcpflood", "1024:1024");
    let shown = node.show_tcp();
    assert!(
        shown.contains("cap 384 (tcpmaxconn 1000, descriptors allow 384)"),
        "{shown}"
    );
    assert!(shown.contains("per-client-cap 10"), "{shown}");

    // Four clients that send 2000 queries for 3 kB answers each and never read.
    let mut lazy: Vec<TcpStream> = run_in(&node.ns, || {
        (1..=4u8)
            .filter_map(|host| connect_from(Ipv4Addr::new(127, 0, 9, host)))
            .collect()
    });
    assert_eq!(lazy.len(), 4, "connections of the non-reading clients");
    for stream in &mut lazy {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let query = big_query(9);
        for _ in 0..2000 {
            if stream.write_all(&query).is_err() {
                break;
            }
        }
    }
    // The idle flood: 60 sources x 12 connections, in source order.
    let idle: Vec<TcpStream> = run_in(&node.ns, || {
        let mut held = Vec::new();
        for host in 1..=60u8 {
            for _ in 0..12 {
                if let Some(stream) = connect_from(Ipv4Addr::new(127, 0, 10, host)) {
                    held.push(stream);
                }
            }
        }
        held
    });
    assert_eq!(idle.len(), 720, "the kernel accepts every connection");
    let flooded = Instant::now();
    // The proxy accepts from the kernel's queue at its own pace: wait until it saw them all.
    let seen = || {
        let tcp = node.tcp();
        tcp.accepted + tcp.refused_cap + tcp.refused_client_cap
    };
    let all_seen = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        seen() >= 724
    });
    assert!(
        all_seen,
        "the proxy did not take every connection:\n{}",
        node.report()
    );
    let refused_client = node.tcp().refused_client_cap;
    let refused_cap = node.tcp().refused_cap;
    assert!(
        refused_client > 0,
        "no per-client refusal:\n{}",
        node.report()
    );
    assert!(
        refused_cap > 0,
        "the total cap never bit:\n{}",
        node.report()
    );
    eprintln!("show tcp during the flood:\n{}", node.show_tcp());
    let open = node.tcp().open;
    assert!(open <= 384, "{open} open, over the cap:\n{}", node.report());

    // While the flood holds its sockets: checks keep passing and UDP is served. Every probe
    // of the two checks (1 s interval, 2 s timeout) needs a descriptor; without the bounds
    // the target went down about 4 s into this flood.
    while flooded.elapsed() < Duration::from_millis(5000) {
        assert!(node.target_up(), "the target went down:\n{}", node.report());
        assert!(
            node.dig_udp(),
            "UDP through the proxy failed:\n{}",
            node.report()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = read(&node.log);
    assert!(!log.contains("Too many open files"), "{log}");

    // The idle ones are closed after `set tcpidle 6`, the non-reading ones after `set tcpwrite 2`.
    let mut idle = idle;
    let closed = idle
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(2)))
        .filter(|&c| c)
        .count();
    assert!(
        node.tcp().closed_idle > 0,
        "no idle connection closed:\n{}",
        node.report()
    );
    assert!(
        node.tcp().closed_write_timeout >= 1,
        "no non-reading client closed:\n{}",
        node.report()
    );
    let drained = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        node.tcp().open == 0
    });
    assert!(drained, "connections still open:\n{}", node.report());
    assert_eq!(
        closed,
        idle.len(),
        "every idle client saw its connection closed"
    );
    node.wait_target_up(Duration::from_secs(5));
    assert!(node.dig_udp(), "UDP after the flood:\n{}", node.report());
    drop(lazy);
    let _ = &node.proc;
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let node = Node::start("tcpnofile", "512:1024");
    let shown = node.show_tcp();
    assert!(shown.contains("descriptors soft 1024 hard 1024"), "{shown}");
    assert!(shown.contains("cap 384 "), "{shown}");
    let log = read(&node.log);
    assert!(
        log.contains("soft limit 1024 (was 512, hard 1024)"),
        "{log}"
    );
    // The settings apply live: below the budget the setting is the cap, above it the budget.
    let reply = node.control("set { tcpmaxconn 50 tcpclientconn 3 tcplifetime 30 }");
    assert!(!reply.contains("ERROR"), "{reply}");
    let shown = node.show_tcp();
    assert!(
        shown.contains("cap 50 (tcpmaxconn 50, descriptors allow 384)"),
        "{shown}"
    );
    assert!(shown.contains("per-client-cap 3"), "{shown}");
    assert!(shown.contains("lifetime 30 s"), "{shown}");
    node.control("set tcpmaxconn 5000");
    let shown = node.show_tcp();
    assert!(
        shown.contains("cap 384 (tcpmaxconn 5000, descriptors allow 384)"),
        "{shown}"
    );
    assert!(read(&node.log).contains("the file-descriptor limit allows no more"));
}
