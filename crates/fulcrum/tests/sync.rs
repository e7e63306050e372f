//! End-to-end tests of session sync: two real `fulcrum run` daemons on loopback, each with its
//! own `real` address (127.0.N.1 and 127.0.N.2, port 10439) and a `syncpeer` naming the other,
//! no `vrrp` block, so each is a sync *peer* that sends its sessions and applies the other's
//! (see docs/sync.md). Queries from many distinct 127.x source addresses create sessions on the
//! first node; the test reads both nodes' `show sessions all` and `show sync` with the real
//! `fulcrum control`. The targets are UDP sockets the test holds (a session is made when a query
//! is forwarded; no answer is needed). Every daemon is killed by PID when its guard drops. One
//! test checks that `show sync` names why sync is not running (a `real` address the host does not
//! hold; nothing to sync).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use testkit::daemon::Daemon;
use testkit::free_port;
use testkit::process::within;
use testkit::show::{Session, SyncDetail, SyncDoc};

/// What these tests read of a sync node beyond [`Daemon`]'s own accessors.
trait SyncNode {
    fn wait_sessions(&self, count: usize) -> BTreeSet<Session>;
    fn wait_sync_running(&self);
    fn sync_detail(&self) -> SyncDetail;
}

impl SyncNode for Daemon {
    /// The sessions once there are `count` of them (the queries are in flight until then).
    fn wait_sessions(&self, count: usize) -> BTreeSet<Session> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sessions = self.sessions();
            if sessions.len() == count || Instant::now() > deadline {
                assert_eq!(sessions.len(), count, "sessions:\n{}", self.logs());
                return sessions;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the sync driver runs (a moment after the control socket opens): a peer
    /// started before that would send its first full-table request into the void.
    fn wait_sync_running(&self) {
        let running = within(Duration::from_secs(5), || {
            self.show::<SyncDoc>("show sync").state == "running"
        });
        assert!(
            running.is_some(),
            "{}\n{}",
            self.control("show sync"),
            self.logs()
        );
    }

    /// `show sync`'s counters (waiting for the sync driver's first status, which comes a
    /// moment after the control socket opens).
    fn sync_detail(&self) -> SyncDetail {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let doc: SyncDoc = self.show("show sync");
            match doc.detail {
                Some(detail) => return detail,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                None => panic!("sync not running: {doc:?}\n{}", self.logs()),
            }
        }
    }
}

/// A free UDP port on 127.0.0.1 (held by the returned socket, which plays a target).
fn target_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind a target socket")
}

/// One node: network 1 with `real` = `me` and `syncpeer` = `peer`, a session server on `vip`
/// over the two target sockets.
fn node_config(
    me: Ipv4Addr,
    peer: Ipv4Addr,
    vip: SocketAddr,
    targets: &[u16; 2],
    key: Option<&str>,
) -> String {
    let key = key.map_or(String::new(), |k| format!("set synckey \"{k}\"\n"));
    format!(
        "hostname SYNC{last}\n{key}\
         network 1 {{\n  name \"sync test\"\n  real {me}\n  syncpeer {peer}\n}}\n\
         register network 1\nenable network 1\n\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {t1}\n  dsr disable\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {t2}\n  dsr disable\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        last = me.octets()[3],
        ip = vip.ip(),
        port = vip.port(),
        t1 = targets[0],
        t2 = targets[1],
    )
}

/// A DNS query for `a.test TXT` from `source` to `vip`.
fn query(vip: SocketAddr, source: Ipv4Addr, id: u16) {
    let socket = UdpSocket::bind((source, 0)).expect("bind a client address");
    let mut packet = Vec::new();
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    packet.extend_from_slice(b"\x01a\x04test\x00\x00\x10\x00\x01");
    socket.send_to(&packet, vip).expect("send a query");
}

#[test]
fn sessions_reach_the_peer_within_two_seconds_and_a_restarted_peer_gets_the_full_table() {
    let (a, b) = (Ipv4Addr::new(127, 0, 78, 1), Ipv4Addr::new(127, 0, 78, 2));
    let targets = [target_socket(), target_socket()];
    let ports = targets
        .each_ref()
        .map(|t| t.local_addr().expect("address").port());
    let vip_a = SocketAddr::from(([127, 0, 78, 10], free_port()));
    let vip_b = SocketAddr::from(([127, 0, 78, 20], free_port()));
    let config_b = node_config(b, a, vip_b, &ports, None);
    let node_a = Daemon::with_config(&node_config(a, b, vip_a, &ports, None));
    node_a.wait_sync_running();
    let node_b = Daemon::with_config(&config_b);

    for n in 0..120u16 {
        query(vip_a, Ipv4Addr::new(127, 0, 79, n as u8 + 1), n);
    }
    let queried = Instant::now();
    let on_a = node_a.wait_sessions(120);
    let took = within(Duration::from_secs(2), || node_b.sessions() == on_a);
    assert!(
        took.is_some(),
        "the peer's sessions differ 2 s after the queries ({:?} since):\nA: {on_a:?}\nB: {:?}\n{}\n{}\n{}",
        queried.elapsed(),
        node_b.sessions(),
        node_b.control("show sync"),
        node_b.logs(),
        node_a.logs()
    );
    let applied = within(Duration::from_secs(1), || {
        node_b.sync_detail().received.applied >= 120
    });
    assert!(applied.is_some(), "{}", node_b.control("show sync"));
    assert_eq!(node_b.sync_detail().dropped.authentication, 0);

    // A peer started later (a restarted backup) asks for and gets the whole table.
    drop(node_b);
    for n in 120..150u16 {
        query(vip_a, Ipv4Addr::new(127, 0, 79, n as u8 + 1), n);
    }
    let on_a = node_a.wait_sessions(150);
    let node_b = Daemon::with_config(&config_b);
    let took = within(Duration::from_secs(2), || node_b.sessions() == on_a);
    assert!(
        took.is_some(),
        "the restarted peer has not got the full table:\nB: {:?}\n{}\n{}",
        node_b.sessions(),
        node_b.control("show sync"),
        node_b.logs()
    );
    assert!(
        node_b.logs().contains("sync: full table received"),
        "{}",
        node_b.logs()
    );
    assert!(
        node_a.logs().contains("sync: sending the full table"),
        "{}",
        node_a.logs()
    );
    let in_sync = within(Duration::from_secs(1), || {
        node_b.sync_detail().resync == "in-sync"
    });
    let shown = node_b.control("show sync");
    assert!(in_sync.is_some(), "{shown}");
    assert!(
        shown.contains("peer 127.0.78.1:10439 (from syncpeer)"),
        "{shown}"
    );
    // The kernel holds `real` here (loopback): the socket path, not the DSR interface.
    assert!(shown.starts_with("sync running\n"), "{shown}");
    assert!(shown.contains("transport kernel-udp\n"), "{shown}");
}

#[test]
fn datagrams_with_a_wrong_synckey_or_garbage_are_dropped_and_counted() {
    let (a, b) = (Ipv4Addr::new(127, 0, 88, 1), Ipv4Addr::new(127, 0, 88, 2));
    let targets = [target_socket(), target_socket()];
    let ports = targets
        .each_ref()
        .map(|t| t.local_addr().expect("address").port());
    let vip_a = SocketAddr::from(([127, 0, 88, 10], free_port()));
    let vip_b = SocketAddr::from(([127, 0, 88, 20], free_port()));
    let node_a = Daemon::with_config(&node_config(a, b, vip_a, &ports, Some("right key")));
    node_a.wait_sync_running();
    let node_b = Daemon::with_config(&node_config(b, a, vip_b, &ports, Some("wrong key")));
    for n in 0..20u16 {
        query(vip_a, Ipv4Addr::new(127, 0, 89, n as u8 + 1), n);
    }
    node_a.wait_sessions(20);
    let dropped = within(Duration::from_secs(3), || {
        node_b.sync_detail().dropped.authentication > 0
    });
    assert!(dropped.is_some(), "{}", node_b.control("show sync"));
    // Garbage is counted too and changes nothing: from the peer's address as malformed; from
    // anywhere else as not-from-peer before it is parsed or its HMAC computed, even when it is
    // a well-formed datagram with a trailer (it would otherwise count as authentication).
    let from_peer = UdpSocket::bind((a, 0)).expect("bind");
    let from_elsewhere = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut count_mismatch = vec![0x46, 0x53, 2, 1, 0, 0, 0, 9];
    count_mismatch.resize(32, 0);
    let mut with_trailer = vec![0x46, 0x53, 2, 1, 1, 0, 0, 0];
    with_trailer.resize(32 + 32, 0xab);
    for (socket, bytes) in [
        (&from_peer, &b"hello"[..]),
        (&from_peer, &count_mismatch[..]),
        (&from_elsewhere, &b"hello"[..]),
        (&from_elsewhere, &with_trailer[..]),
    ] {
        socket.send_to(bytes, (b, 10439)).expect("send garbage");
    }
    assert!(
        within(Duration::from_secs(2), || node_b
            .sync_detail()
            .dropped
            .malformed
            == 2
            && node_b.sync_detail().dropped.not_from_peer == 2)
        .is_some(),
        "{}",
        node_b.control("show sync")
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(node_b.sessions().is_empty(), "{:?}", node_b.sessions());
    assert_eq!(node_b.sync_detail().received.applied, 0);
    // And the other way: A drops B's full-table requests and keepalives for the same reason.
    assert!(
        node_a.sync_detail().dropped.authentication > 0,
        "{}",
        node_a.control("show sync")
    );
}

#[test]
fn show_sync_names_why_sync_is_not_running() {
    let targets = [target_socket(), target_socket()];
    let ports = targets
        .each_ref()
        .map(|t| t.local_addr().expect("address").port());
    let wait_for = |node: &Daemon, first_line: &str| {
        let shown = within(Duration::from_secs(5), || {
            node.control("show sync").starts_with(first_line)
        });
        assert!(
            shown.is_some(),
            "{first_line:?}:\n{}\n{}",
            node.control("show sync"),
            node.logs()
        );
    };
    // A `real` address this host does not hold (TEST-NET-1; nothing is sent: the bind fails).
    let vip = SocketAddr::from(([127, 0, 98, 10], free_port()));
    let elsewhere = Daemon::with_config(&node_config(
        Ipv4Addr::new(192, 0, 2, 45),
        Ipv4Addr::new(192, 0, 2, 46),
        vip,
        &ports,
        None,
    ));
    wait_for(
        &elsewhere,
        "sync not running: cannot bind 192.0.2.45:10439: Cannot assign requested address",
    );
    // No `syncpeer` and no `vrrp` block: nothing to sync, and no claim about a vrrp block.
    let me = Ipv4Addr::new(127, 0, 98, 1);
    let vip = SocketAddr::from(([127, 0, 98, 20], free_port()));
    let alone = node_config(me, me, vip, &ports, None).replace("  syncpeer 127.0.98.1\n", "");
    let alone = Daemon::with_config(&alone);
    wait_for(
        &alone,
        "sync not running: no `vrrp` block and no network with a `syncpeer`",
    );
}

#[test]
fn entries_naming_a_target_the_configuration_does_not_allow_are_dropped_and_counted() {
    let (a, b) = (Ipv4Addr::new(127, 0, 108, 1), Ipv4Addr::new(127, 0, 108, 2));
    let targets = [target_socket(), target_socket()];
    let ports = targets
        .each_ref()
        .map(|t| t.local_addr().expect("address").port());
    let vip_a = SocketAddr::from(([127, 0, 108, 10], free_port()));
    let vip_b = SocketAddr::from(([127, 0, 108, 20], free_port()));
    // B's server 1 has target 1 only (target 2 exists there, but not as one of server 1's).
    let config_b = node_config(b, a, vip_b, &ports, None).replace("targets 1,2\n", "targets 1\n");
    let node_a = Daemon::with_config(&node_config(a, b, vip_a, &ports, None));
    node_a.wait_sync_running();
    let node_b = Daemon::with_config(&config_b);
    node_b.wait_sync_running();
    for n in 0..60u16 {
        query(vip_a, Ipv4Addr::new(127, 0, 109, n as u8 + 1), n);
    }
    let on_a = node_a.wait_sessions(60);
    let allowed: BTreeSet<_> = on_a.iter().filter(|s| s.3 == "1").cloned().collect();
    let refused = on_a.len() - allowed.len();
    assert!(refused > 0, "no session on target 2: {on_a:?}");
    let took = within(Duration::from_secs(3), || {
        node_b.sessions() == allowed
            && node_b.sync_detail().dropped.entries_unknown_target >= refused as u64
    });
    assert!(
        took.is_some(),
        "B should hold A's target-1 sessions only:\nA {on_a:?}\nB {:?}\n{}",
        node_b.sessions(),
        node_b.control("show sync")
    );
    assert_eq!(node_b.sync_detail().dropped.entries_unknown_server, 0);
    assert_eq!(node_b.sync_detail().dropped.entries_bad_timeout, 0);
}
