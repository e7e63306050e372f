//! End-to-end tests of the proxy data plane: the real `fulcrum run` in front of two real Bind9
//! instances (each with its own zone whose TXT record names it), queried with the real `dig`
//! over UDP and TCP from many distinct 127.x source addresses, steered with the real
//! `fulcrum control`. Every process a test starts is killed by PID when its guard drops, also
//! on panic. Each test has its own 127.0.N.0/24 range and free ports, so tests run in parallel.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use netlab::bind9::Bind9;
use testkit::daemon::Daemon;
use testkit::dns::{dig_instance, loopback_bind9, Ask};
use testkit::free_port;
use testkit::show::ServersDoc;

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

fn dig_ok(daemon: &Daemon, vip: SocketAddr, source: Ipv4Addr, tcp: bool) -> String {
    dig_instance(vip, source, Ask { tcp, time: 2 })
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.logs()))
}

/// Server 1's counters in `show servers` (checked to be the server at `vip`):
/// queries, responses, timeouts, drops, sessions.
fn server_row(daemon: &Daemon, vip: SocketAddr) -> [u64; 5] {
    let servers: ServersDoc = daemon.show("show servers");
    let row = servers
        .servers
        .iter()
        .find(|s| s.id == 1 && s.address == vip.ip().to_string())
        .unwrap_or_else(|| panic!("no server 1 at {vip}: {servers:?}"));
    let c = row.counters;
    [c.queries, c.responses, c.timeouts, c.drops, c.sessions]
}

#[test]
fn dig_through_fulcrum_run_sticks_clients_and_drains_a_disabled_target() {
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let vip = SocketAddr::from(([127, 0, 41, 10], free_port()));
    let daemon = Daemon::with_config(&config(vip, &a, &b));

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
    let text = daemon.control("show sessions all");
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
    let shown = daemon.control("show sessions 3");
    assert!(
        shown.contains("... remaining sessions not shown"),
        "{shown}"
    );

    // Disabled: target 2 takes no new client; its present clients drain.
    daemon.control("disable target 2");
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
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let vip = SocketAddr::from(([127, 0, 44, 10], free_port()));
    let daemon = Daemon::with_config(&config(vip, &a, &b));
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
