//! Table-driven: frames in, decisions out, against the seed's NS0A configuration.

use std::collections::HashMap;
use std::time::Instant;

use super::*;
use crate::dsr::table::{build, tests::seed_config, CounterMaps, Facts};
use crate::plane::tap::Plane;
use fulcrum_wire::checksum::checksum;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);
/// The seed network's `real` address.
const REAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x44]);
const CLIENT_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x99]);
const VIRTUAL_MAC: EthernetAddress = EthernetAddress([0, 0, 0x5e, 0, 1, 7]);

fn table() -> DsrTable {
    table_with(&seed_config(true), &HashMap::new())
}

/// The seed's table for `config` with health `operational` (absent: up).
fn table_with(config: &fulcrum_core::model::Config, operational: &HashMap<u32, bool>) -> DsrTable {
    let local = [Ipv4Addr::new(10, 235, 210, 43), VIP];
    let macs = HashMap::from([(PEER, PEER_MAC)]);
    let (mut servers, mut targets) = (HashMap::new(), HashMap::new());
    let (table, problems) = build(
        config,
        &Facts {
            local_addrs: &local,
            local_addrs6: &[],
            macs: &macs,
            macs6: &HashMap::new(),
            operational,
            agent_values: &HashMap::new(),
        },
        CounterMaps {
            servers: &mut servers,
            targets: &mut targets,
            writers: 1,
        },
    );
    assert!(problems.is_empty(), "{problems:?}");
    table
}

/// An Ethernet + IPv4 frame with a valid header checksum around `l4`.
fn ip_frame(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8], frag: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + l4.len()];
    f[0..6].copy_from_slice(&EthernetAddress::vrrp_virtual(7).0);
    f[6..12].copy_from_slice(&CLIENT_MAC.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6..8].copy_from_slice(&frag.to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f[34..].copy_from_slice(l4);
    f
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 8 + 4];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&12u16.to_be_bytes());
    h
}

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[12] = 5 << 4;
    h
}

fn client(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 1, i)
}

fn target_id(table: &DsrTable, d: Decision) -> Option<u32> {
    match d {
        Decision::Forward { target, .. } | Decision::Local { target, .. } => {
            Some(table.targets[target].id)
        }
        _ => None,
    }
}

#[test]
fn clients_spread_over_both_targets_and_stick() {
    let table = table();
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let mut pick = Pick::new(7);
    let mut seen = HashMap::new();
    for i in 1..=100 {
        let frame = ip_frame(17, client(i), VIP, &udp(4000, 53), 0);
        let d = decide(&frame, &table, &sessions, &mut pick, true);
        let id = target_id(&table, d).unwrap_or_else(|| panic!("{d:?}"));
        seen.insert(i, id);
        // The same client over TCP, and again over UDP from another port: same target.
        for again in [
            ip_frame(6, client(i), VIP, &tcp(5000, 53), 0),
            ip_frame(17, client(i), VIP, &udp(4001, 53), 0),
        ] {
            let d = decide(&again, &table, &sessions, &mut pick, true);
            assert_eq!(target_id(&table, d), Some(id), "client {i}");
        }
    }
    let ones = seen.values().filter(|&&id| id == 1).count();
    assert!((20..=80).contains(&ones), "target 1 got {ones} of 100");
    assert_eq!(sessions.count_of_server(1), 100);
}

#[test]
fn the_local_target_gets_the_ip_packet_and_the_peer_its_mac() {
    let table = table();
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let mut pick = Pick::new(7);
    let mut local = false;
    let mut remote = false;
    for i in 1..=50 {
        let frame = ip_frame(17, client(i), VIP, &udp(4000, 53), 0);
        match decide(&frame, &table, &sessions, &mut pick, true) {
            Decision::Local { dst, ip_len, .. } => {
                assert_eq!((dst, ip_len), (VIP, 32));
                local = true;
            }
            Decision::Forward { mac, .. } => {
                assert_eq!(mac, PEER_MAC);
                remote = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(local && remote);
}

#[test]
fn fragments_follow_their_clients_session() {
    let table = table();
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let mut pick = Pick::new(7);
    for i in 1..=30 {
        // First fragment (MF set, offset 0), then a later one with no ports.
        let first = ip_frame(17, client(i), VIP, &udp(4000, 53), 0x2000);
        let id = target_id(&table, decide(&first, &table, &sessions, &mut pick, true));
        let later = ip_frame(17, client(i), VIP, &[0u8; 16], 0x0003);
        let again = target_id(&table, decide(&later, &table, &sessions, &mut pick, true));
        assert!(id.is_some());
        assert_eq!(id, again, "client {i}");
    }
}

/// A broadcast ARP request from the client (10.235.210.254) for `target`.
fn arp_request_for(target: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0u8; 42];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&CLIENT_MAC.0);
    frame[12..14].copy_from_slice(&[0x08, 0x06]);
    frame[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&CLIENT_MAC.0);
    frame[28..32].copy_from_slice(&[10, 235, 210, 254]);
    frame[38..42].copy_from_slice(&target.octets());
    frame
}

#[test]
fn a_routed_node_answers_arp_for_its_real_address_only_and_forwards_the_vips_frames() {
    let mut table = table();
    table.routed = true;
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let mut pick = Pick::new(7);
    let decide = |frame: &[u8], pick: &mut Pick| decide(frame, &table, &sessions, pick, true);
    assert_eq!(decide(&arp_request_for(VIP), &mut pick), Decision::Other);
    assert!(matches!(
        decide(&arp_request_for(REAL), &mut pick),
        Decision::AnswerArp {
            addr: REAL,
            own_mac: true,
            ..
        }
    ));
    // What the XDP program hands over: a routed frame, its destination now the virtual MAC.
    let frame = ip_frame(17, client(1), VIP, &udp(4000, 53), 0);
    assert!(matches!(
        decide(&frame, &mut pick),
        Decision::Forward { .. } | Decision::Local { .. }
    ));
}

#[test]
fn verdicts_other_than_forwarding() {
    let table = table();
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let mut pick = Pick::new(7);
    let mut bad_checksum = ip_frame(17, client(1), VIP, &udp(4000, 53), 0);
    bad_checksum[24] ^= 0xff;
    let arp_request = arp_request_for(VIP);
    // Another master's gratuitous ARP for the VIP (sender = target, from the virtual MAC).
    let mut announcement = arp_request.clone();
    announcement[6..12].copy_from_slice(&VIRTUAL_MAC.0);
    announcement[22..28].copy_from_slice(&VIRTUAL_MAC.0);
    announcement[28..32].copy_from_slice(&VIP.octets());
    let mut arp_for_real = arp_request.clone();
    arp_for_real[38..42].copy_from_slice(&REAL.octets());
    let cases: Vec<(&str, Vec<u8>, bool, Decision)> = vec![
        (
            "runt",
            vec![0u8; 5],
            true,
            Decision::Drop(PlaneDrop::Frame(DropReason::Runt)),
        ),
        (
            "bad checksum",
            bad_checksum,
            true,
            Decision::Drop(PlaneDrop::Frame(DropReason::IpBadChecksum)),
        ),
        (
            "other port",
            ip_frame(17, client(1), VIP, &udp(4000, 54), 0),
            true,
            Decision::Other,
        ),
        (
            "other address",
            ip_frame(17, client(1), PEER, &udp(4000, 53), 0),
            true,
            Decision::Other,
        ),
        (
            "to another mac",
            {
                let mut f = ip_frame(17, client(1), VIP, &udp(4000, 53), 0);
                f[0..6].copy_from_slice(&PEER_MAC.0);
                f
            },
            true,
            Decision::Other,
        ),
        (
            "backup node",
            ip_frame(17, client(1), VIP, &udp(4000, 53), 0),
            false,
            Decision::Drop(PlaneDrop::NotActive),
        ),
        (
            "arp for the vip",
            arp_request.clone(),
            true,
            Decision::AnswerArp {
                addr: VIP,
                asker_ip: Ipv4Addr::new(10, 235, 210, 254),
                asker_mac: CLIENT_MAC,
                own_mac: false,
            },
        ),
        (
            "arp while backup",
            arp_request.clone(),
            false,
            Decision::Drop(PlaneDrop::NotActive),
        ),
        (
            "another master's gratuitous arp is not answered",
            announcement.clone(),
            true,
            Decision::Other,
        ),
        ("nor while backup", announcement, false, Decision::Other),
        (
            "arp for the real address, also while backup",
            arp_for_real.clone(),
            false,
            Decision::AnswerArp {
                addr: REAL,
                asker_ip: Ipv4Addr::new(10, 235, 210, 254),
                asker_mac: CLIENT_MAC,
                own_mac: true,
            },
        ),
        (
            "arp for another address",
            {
                let mut f = arp_request;
                f[38..42].copy_from_slice(&PEER.octets());
                f
            },
            true,
            Decision::Other,
        ),
    ];
    for (name, frame, active, expected) in cases {
        assert_eq!(
            decide(&frame, &table, &sessions, &mut pick, active),
            expected,
            "{name}"
        );
    }
    assert_eq!(
        sessions.count_of_server(1),
        0,
        "no session for frames not forwarded"
    );
}

#[test]
fn no_operational_target_is_a_counted_drop() {
    let mut table = table();
    for server in &mut table.servers {
        let none = fulcrum_core::balance::Chooser::new(server.method, Vec::new());
        server.choosers = [none.clone(), none];
    }
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let frame = ip_frame(17, client(1), VIP, &udp(4000, 53), 0);
    let d = decide(&frame, &table, &sessions, &mut Pick::new(1), true);
    assert_eq!(d, Decision::Drop(PlaneDrop::NoTarget(0)));
}

#[test]
fn rewrite_changes_only_the_macs() {
    let frame = ip_frame(17, client(1), VIP, &udp(4000, 53), 0);
    let mut out = vec![0u8; frame.len()];
    let own = EthernetAddress([2, 0, 0, 0, 0, 0x45]);
    rewrite(&frame, &mut out, PEER_MAC, own);
    assert_eq!(&out[0..6], &PEER_MAC.0);
    assert_eq!(&out[6..12], &own.0);
    assert_eq!(&out[12..], &frame[12..]);
}

mod properties {
    use super::*;
    use crate::dsr::checksum::complete_l4_checksum;
    use fulcrum_wire::checksum::{combine, pseudo_header, sum};
    use proptest::prelude::*;

    proptest! {
        // Each case parses the seed configuration: a few dozen cases are plenty here (the
        // classifier has its own fuzz target).
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes at all: a decision, never a panic, and never a forward for a frame that is
        /// not to the VIP's MAC.
        #[test]
        fn decide_is_total(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
            let table = table();
            let sessions = Sessions::new(Plane::Dsr, 100, Instant::now());
            let d = decide(&frame, &table, &sessions, &mut Pick::new(3), true);
            if matches!(d, Decision::Forward { .. } | Decision::Local { .. }) {
                prop_assert_eq!(&frame[0..6], &EthernetAddress::vrrp_virtual(7).0[..]);
            }
        }

        /// A valid UDP datagram to the VIP with a mutated tail: still a decision; forwarded ones
        /// are the right length for the local path.
        #[test]
        fn mutated_vip_frames(payload in proptest::collection::vec(any::<u8>(), 0..64),
                              cut in 0usize..80, byte in any::<u8>(), at in 0usize..80) {
            let table = table();
            let sessions = Sessions::new(Plane::Dsr, 100, Instant::now());
            let mut frame = ip_frame(17, client(1), VIP, &[udp(4000, 53), payload].concat(), 0);
            if at < frame.len() { frame[at] = byte; }
            frame.truncate(frame.len().saturating_sub(cut));
            if let Decision::Local { ip_len, .. } = decide(&frame, &table, &sessions, &mut Pick::new(3), true) {
                prop_assert!(14 + ip_len <= frame.len());
            }
        }

        /// Completing a checksum either leaves the packet alone or makes it verify.
        #[test]
        fn completed_checksums_verify(payload in proptest::collection::vec(any::<u8>(), 0..64),
                                      tcp_proto in any::<bool>(), junk in any::<u16>()) {
            let l4 = if tcp_proto { [tcp(1, 53), payload].concat() } else {
                let mut u = [udp(1, 53), payload].concat();
                let len = u.len() as u16;
                u[4..6].copy_from_slice(&len.to_be_bytes());
                u
            };
            let proto = if tcp_proto { 6 } else { 17 };
            let mut frame = ip_frame(proto, client(1), VIP, &l4, 0);
            let field = 34 + if tcp_proto { 16 } else { 6 };
            frame[field..field + 2].copy_from_slice(&junk.to_be_bytes());
            prop_assert!(complete_l4_checksum(&mut frame[14..]));
            let segment = &frame[34..];
            let check = combine(&[pseudo_header(client(1), VIP, proto, segment.len() as u32), sum(segment)]);
            prop_assert_eq!(check, 0xffff);
        }

        #[test]
        fn complete_checksum_is_total(ip in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut ip = ip;
            let _ = complete_l4_checksum(&mut ip);
        }
    }
}

#[test]
fn with_both_targets_down_failopen_forwards_to_both_and_without_it_nothing() {
    let down = HashMap::from([(1, false), (2, false)]);
    let mut config = seed_config(true);
    let closed = table_with(&config, &down);
    let sessions = Sessions::new(Plane::Dsr, 1000, Instant::now());
    let mut pick = Pick::new(7);
    for i in 1..=20 {
        let frame = ip_frame(17, client(i), VIP, &udp(4000, 53), 0);
        assert_eq!(
            decide(&frame, &closed, &sessions, &mut pick, true),
            Decision::Drop(PlaneDrop::NoTarget(0))
        );
    }
    config.settings.failopen = true;
    let open = table_with(&config, &down);
    assert_eq!(open.servers[0].fail_open, [true, true]);
    let mut seen = HashMap::new();
    for i in 1..=40 {
        for (proto, l4) in [(17, udp(4000, 53)), (6, tcp(5000, 53))] {
            let frame = ip_frame(proto, client(i), VIP, &l4, 0);
            let id = target_id(&open, decide(&frame, &open, &sessions, &mut pick, true));
            let id = id.unwrap_or_else(|| panic!("client {i} dropped failing open"));
            // Every frame of a client sticks to one target, although that target is down.
            assert_eq!(*seen.entry(i).or_insert(id), id, "client {i}");
        }
    }
    let ones = seen.values().filter(|&&id| id == 1).count();
    assert!((5..=35).contains(&ones), "target 1 got {ones} of 40");
    // One target up again: failopen ends, every new client goes to it.
    let up = table_with(&config, &HashMap::from([(1, false), (2, true)]));
    assert_eq!(up.servers[0].fail_open, [false, false]);
    for i in 101..=120 {
        let frame = ip_frame(17, client(i), VIP, &udp(4000, 53), 0);
        assert_eq!(
            target_id(&up, decide(&frame, &up, &sessions, &mut pick, true)),
            Some(2)
        );
    }
}
