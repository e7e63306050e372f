//! Forged session sync on the seed's segment: the seed's two-node cluster (real `fulcrum run`
//! on ns0a and ns0b with the seed's configurations: VRRP, no `syncpeer`, no `synckey`; see
//! `testkit::cluster`), sessions made by a real client load and synced to the backup, then a
//! third host on the segment, the seed's router namespace, plays the attacker:
//! - from its own address it sends the backup a restart (an Update from a new boot naming a
//!   client and an existing client moved) and a full-table dump (which used to wipe the
//!   table): dropped before parsing as `not-from-peer`;
//! - with the master's address spoofed (a raw socket) it sends the same: dropped as
//!   `unknown-boot` (a new boot is followed only from a dump answering the backup's own
//!   request id), which at most makes the backup resync from the real master;
//! - it asks the master for the full table, from its own address and with a victim's address
//!   spoofed: the master answers one Cookie of the request's size each, and no dump.
//!
//! The backup's table is the master's, unchanged, throughout; the drops show in `show sync`.
//! Needs root, iproute2, nftables, bind9 and dig.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use netlab::seed::{NS0B_ADDR, ROUTER_ADDR, VIP};
use netlab::Ns;
use testkit::cluster::load::{Load, LoadSpec};
use testkit::cluster::{within, Cluster, Node};
use testkit::netns::run_in;
use testkit::show::{SyncDetail, SyncDoc};

const MASTER: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
const BACKUP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 46);
const PORT: u16 = 10439;

/// A sync datagram (version 2, no trailer) as an attacker writes it.
fn datagram(
    kind: u8,
    node: u32,
    sequence: u32,
    request: u32,
    entries: &[(u32, u32, Ipv4Addr)],
) -> Vec<u8> {
    let mut out = vec![b'F', b'S', 2, kind, 0, 0];
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    out.extend_from_slice(&node.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&request.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    for &(server, target, client) in entries {
        out.push(0);
        for field in [server, target, 0, 600] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        out.extend_from_slice(&client.octets());
    }
    out
}

/// Sends each payload from `ns`'s own address to `to`, port 10439.
fn send_udp(ns: &Ns, to: Ipv4Addr, payloads: Vec<Vec<u8>>) {
    run_in(ns, move || {
        let socket = UdpSocket::bind((ROUTER_ADDR, PORT)).expect("bind in the attacker namespace");
        for payload in payloads {
            socket.send_to(&payload, (to, PORT)).expect("send");
        }
    });
}

/// Sends each payload in a hand-made IPv4/UDP packet with `from` as its source, 10439 -> 10439.
fn send_spoofed(ns: &Ns, from: Ipv4Addr, to: Ipv4Addr, payloads: Vec<Vec<u8>>) {
    run_in(ns, move || {
        let raw = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(255)), // IPPROTO_RAW: the header is ours
        )
        .expect("raw socket in the attacker namespace");
        for payload in payloads {
            let total = (20 + 8 + payload.len()) as u16;
            let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            packet[2..4].copy_from_slice(&total.to_be_bytes());
            packet.extend_from_slice(&from.octets());
            packet.extend_from_slice(&to.octets());
            packet.extend_from_slice(&PORT.to_be_bytes());
            packet.extend_from_slice(&PORT.to_be_bytes());
            packet.extend_from_slice(&(total - 20).to_be_bytes());
            packet.extend_from_slice(&[0, 0]); // no UDP checksum (IPv4 allows it)
            packet.extend_from_slice(&payload);
            let dest = socket2::SockAddr::from(SocketAddrV4::new(to, 0));
            raw.send_to(&packet, &dest).expect("send a spoofed packet");
        }
    });
}

/// `show sync`'s counters on `node`.
fn sync_detail(node: &Node) -> SyncDetail {
    node.show::<SyncDoc>("show sync")
        .and_then(|doc| doc.detail)
        .unwrap_or_else(|| panic!("{}'s sync does not run:\n{}", node.name, node.show_sync()))
}

#[test]
fn forged_sync_from_a_host_on_the_segment_changes_no_table_and_is_counted() {
    let c = Cluster::up("syncforge");
    let sources = c.seed.client_sources();
    let load = Load::start(
        &c.seed.client,
        &sources[..40],
        VIP,
        LoadSpec {
            pace: Duration::from_millis(200),
            queries: 3,
            duration: Duration::from_secs(10),
        },
    );
    load.wait();
    let synced = within(Duration::from_secs(5), || {
        let on_master = c.a.sessions();
        on_master.len() >= 30 && c.b.sessions() == on_master
    });
    let table = c.a.sessions();
    assert!(
        synced.is_some(),
        "the backup never held the master's sessions:\n{table:?}\n{:?}\n{}\n{}",
        c.b.sessions(),
        c.b.show_sync(),
        c.logs()
    );
    let victim_client = Ipv4Addr::new(10, 99, 1, 250);
    let moved_client: Ipv4Addr = table
        .iter()
        .next()
        .and_then(|s| s.1.parse().ok())
        .expect("a session's address");
    let restart = datagram(
        1,
        0xbad,
        1,
        0,
        &[
            (1, 1, victim_client),
            (1, 2, moved_client),
            (1, 1, moved_client),
        ],
    );
    let wipe = [
        datagram(3, 0xbad, 2, 0x1234_5678, &[(1, 1, victim_client)]),
        datagram(4, 0xbad, 3, 0x1234_5678, &[]),
    ];
    let before_b = (
        sync_detail(&c.b).dropped.not_from_peer,
        sync_detail(&c.b).dropped.unknown_boot,
    );

    // From the attacker's own address: not the peer, dropped before parsing.
    let mut forged = vec![restart.clone()];
    forged.extend(wipe.iter().cloned());
    send_udp(&c.seed.router, BACKUP, forged.clone());
    let counted = within(Duration::from_secs(3), || {
        sync_detail(&c.b).dropped.not_from_peer >= before_b.0 + 3
    });
    assert!(counted.is_some(), "{}", c.b.show_sync());

    // With the master's address spoofed: a boot the backup does not follow.
    send_spoofed(&c.seed.router, MASTER, BACKUP, forged);
    let counted = within(Duration::from_secs(3), || {
        sync_detail(&c.b).dropped.unknown_boot >= before_b.1 + 3
    });
    assert!(counted.is_some(), "{}", c.b.show_sync());

    // Asking the master for the whole table: a Cookie each, no dump, the peer unchanged (once
    // the backup's own resync, which the forged restart asked for, is over).
    let resynced = within(Duration::from_secs(5), || {
        c.b.show_sync().contains("resync in sync")
    });
    assert!(resynced.is_some(), "{}", c.b.show_sync());
    let dumps = sync_detail(&c.a).sent.full_dumps;
    let cookies = sync_detail(&c.a).sent.cookies;
    let request = datagram(2, 0xbad, 1, 0x0bad_cafe, &[]);
    send_udp(&c.seed.router, MASTER, vec![request.clone()]);
    send_spoofed(&c.seed.router, NS0B_ADDR, MASTER, vec![request]);
    let answered = within(Duration::from_secs(3), || {
        sync_detail(&c.a).sent.cookies >= cookies + 2
    });
    assert!(answered.is_some(), "{}", c.a.show_sync());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sync_detail(&c.a).sent.full_dumps,
        dumps,
        "{}",
        c.a.show_sync()
    );
    assert!(
        c.a.show_sync().contains(&format!("peer {BACKUP}:{PORT}")),
        "{}",
        c.a.show_sync()
    );

    // The backup holds the master's table as it was, and is in sync (a forged restart only
    // made it resync from the real master).
    let in_sync = within(Duration::from_secs(5), || {
        c.b.show_sync().contains("resync in sync") && c.b.sessions() == table
    });
    assert!(
        in_sync.is_some(),
        "the backup's table changed:\nmaster {table:?}\nbackup {:?}\n{}",
        c.b.sessions(),
        c.b.show_sync()
    );
    assert_eq!(c.a.sessions(), table, "the master's table changed");
    let shown = c.b.show_sync();
    assert!(!shown.contains(&victim_client.to_string()), "{shown}");
    assert!(
        !c.b.sessions()
            .iter()
            .any(|s| s.1 == victim_client.to_string()),
        "a forged session was applied"
    );
}
