//! Table-driven: IPv6 frames in, decisions out, against the seed's NS0A configuration made
//! dual-stack (an IPv6 VIP balanced over both nodes' IPv6 addresses).

use std::collections::HashMap;
use std::time::Instant;

use fulcrum_wire::checksum::checksum_v6;
use fulcrum_wire::classify::DropReason;
use fulcrum_wire::ipv6::next_header;

use super::*;
use crate::dsr::resolver6::{self, ND_FRAME_LEN};
use crate::dsr::table::{build, CounterMaps, Facts};
use crate::plane::tap::Plane;

const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 1);
const NS0A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 0x43);
const PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 0x44);
const REAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 0x45);
const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 0xfe);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x44]);
const ROUTER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
const VIRTUAL_MAC6: EthernetAddress = EthernetAddress([0, 0, 0x5e, 0, 2, 7]);

/// The seed's NS0A configuration with IPv6 added: `real6` on network 1 and server 2 on the
/// IPv6 VIP over targets 3 (this node) and 4 (the peer).
pub(crate) fn dual_config() -> fulcrum_core::model::Config {
    let text = include_str!("../../../../../tests/fixtures/ns0a.conf")
        .replace(
            "real 10.235.210.45\n",
            "real 10.235.210.45\naddr6 fd00:235:210::\nmask6 64\nreal6 fd00:235:210::45\n",
        )
        .replace(
            "// end of configuration",
            "server 2 {\nipaddr fd00:235:210::1\nport 53\nmethod session\ntargets 3,4\n}\n\
             register server 2\nenable server 2\n\
             target 3 {\nipaddr fd00:235:210::43\nport 53\ndsr enable\n}\n\
             target 4 {\nipaddr fd00:235:210::44\nport 53\ndsr enable\n}\n\
             register targets 3,4\nenable targets 3,4\n",
        );
    match fulcrum_config::parse("ns0a.conf", &text) {
        Ok(config) => config,
        Err(d) => panic!("the dual-stack variant does not parse: {d:?}"),
    }
}

fn table() -> DsrTable {
    let local = [std::net::Ipv4Addr::new(10, 235, 210, 43)];
    let local6 = [NS0A, VIP];
    let macs6 = HashMap::from([(PEER, PEER_MAC)]);
    let (mut servers, mut targets) = (HashMap::new(), HashMap::new());
    let (table, problems) = build(
        &dual_config(),
        &Facts {
            local_addrs: &local,
            local_addrs6: &local6,
            macs: &HashMap::new(),
            macs6: &macs6,
            operational: &HashMap::new(),
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

/// An Ethernet + IPv6 frame to `dst_mac` carrying `upper` (with `first` as next header).
fn frame(
    dst_mac: EthernetAddress,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    first: u8,
    upper: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&ROUTER_MAC.0);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(upper.len() as u16).to_be_bytes());
    f.extend_from_slice(&[first, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(upper);
    f
}

fn transport(proto: u8, sport: u16) -> Vec<u8> {
    let mut h = vec![0u8; if proto == next_header::TCP { 20 } else { 12 }];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&53u16.to_be_bytes());
    if proto == next_header::TCP {
        h[12] = 5 << 4;
        h[13] = 0x02;
    } else {
        h[4..6].copy_from_slice(&12u16.to_be_bytes());
    }
    h
}

fn query(proto: u8, client: Ipv6Addr) -> Vec<u8> {
    frame(VIRTUAL_MAC6, client, VIP, proto, &transport(proto, 4000))
}

/// A fragment of a UDP datagram: the first (with the UDP header) or a later one.
fn fragment(client: Ipv6Addr, first: bool) -> Vec<u8> {
    let mut upper = vec![
        next_header::UDP,
        0,
        0,
        if first { 1 } else { 0x11 },
        0,
        0,
        0,
        9,
    ];
    upper.extend_from_slice(&transport(next_header::UDP, 4000));
    frame(VIRTUAL_MAC6, client, VIP, next_header::FRAGMENT, &upper)
}

fn client(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 1, i)
}

fn target_id(table: &DsrTable, d: Decision6) -> Option<u32> {
    match d {
        Decision6::Forward { target, .. } | Decision6::Local { target, .. } => {
            Some(table.targets[target].id)
        }
        _ => None,
    }
}

fn sessions() -> Sessions {
    Sessions::new(Plane::Dsr, 1000, Instant::now())
}

#[test]
fn ipv6_clients_spread_over_both_targets_and_stick_across_udp_tcp_and_fragments() {
    let table = table();
    let sessions = sessions();
    let mut pick = Pick::new(7);
    let mut seen = HashMap::new();
    for i in 1..=100 {
        let d = decide6(
            &query(next_header::UDP, client(i)),
            &table,
            &sessions,
            &mut pick,
            true,
        );
        let id = target_id(&table, d).unwrap_or_else(|| panic!("{d:?}"));
        seen.insert(i, id);
        for again in [
            query(next_header::TCP, client(i)),
            fragment(client(i), true),
            fragment(client(i), false),
        ] {
            let d = decide6(&again, &table, &sessions, &mut pick, true);
            assert_eq!(target_id(&table, d), Some(id), "client {i}: {d:?}");
        }
    }
    let local = seen.values().filter(|&&id| id == 3).count();
    assert!((20..=80).contains(&local), "target 3 got {local} of 100");
    assert!(seen.values().all(|id| [3, 4].contains(id)));
    assert_eq!(sessions.count_of_server(2), 100);
}

#[test]
fn the_local_target_gets_the_packet_and_the_peer_its_mac() {
    let table = table();
    let sessions = sessions();
    let mut pick = Pick::new(7);
    let (mut local, mut remote) = (false, false);
    for i in 1..=50 {
        match decide6(
            &query(next_header::UDP, client(i)),
            &table,
            &sessions,
            &mut pick,
            true,
        ) {
            Decision6::Local { dst, ip_len, .. } => {
                assert_eq!((dst, ip_len), (VIP, 40 + 12));
                local = true;
            }
            Decision6::Forward { mac, .. } => {
                assert_eq!(mac, PEER_MAC);
                remote = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(local && remote);
}

/// A Neighbor Solicitation for `target` from the router, as its stack sends it.
fn solicitation(target: Ipv6Addr) -> Vec<u8> {
    let mut out = [0u8; ND_FRAME_LEN];
    let len = resolver6::solicit(&mut out, ROUTER_MAC, ROUTER, target).expect("room");
    out[..len].to_vec()
}

/// A Packet Too Big from the router about a reply the target sent from the VIP to `client`.
fn packet_too_big(client: Ipv6Addr) -> Vec<u8> {
    let mut reply = frame(
        ROUTER_MAC,
        VIP,
        client,
        next_header::UDP,
        &transport(next_header::UDP, 53),
    );
    // The reply's ports are VIP:53 -> client:4000.
    reply[14 + 40..14 + 44].copy_from_slice(&[0, 53, 0x0f, 0xa0]);
    let invoking = &reply[14..];
    let mut message = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
    message.extend_from_slice(invoking);
    let sum = checksum_v6(ROUTER, VIP, next_header::ICMPV6, &message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    frame(VIRTUAL_MAC6, ROUTER, VIP, next_header::ICMPV6, &message)
}

#[test]
fn neighbour_discovery_and_errors() {
    let table = table();
    let sessions = sessions();
    let mut pick = Pick::new(7);
    let mut decide =
        |frame: &[u8], active: bool| decide6(frame, &table, &sessions, &mut pick, active);
    let answer = |addr, own_mac| Decision6::AnswerNs {
        addr,
        asker_ip: ROUTER,
        asker_mac: ROUTER_MAC,
        own_mac,
    };
    // The VIP is answered only while the IPv6 instance is master; real6 always, with our MAC.
    assert_eq!(decide(&solicitation(VIP), true), answer(VIP, false));
    assert_eq!(
        decide(&solicitation(VIP), false),
        Decision6::Drop(PlaneDrop::NotActive)
    );
    assert_eq!(decide(&solicitation(REAL6), false), answer(REAL6, true));
    // Nothing else is answered.
    assert_eq!(decide(&solicitation(PEER), true), Decision6::Other);
    let mut bad_hop_limit = solicitation(VIP);
    bad_hop_limit[14 + 7] = 64;
    assert_eq!(
        decide(&bad_hop_limit, true),
        Decision6::Drop(PlaneDrop::Frame(DropReason::NdInvalid))
    );
    // The peer's answer to our solicitation feeds the resolver.
    let mut advert = [0u8; ND_FRAME_LEN];
    let len = resolver6::answer(&mut advert, (PEER_MAC, PEER), (ROUTER_MAC, REAL6)).unwrap();
    assert_eq!(
        decide(&advert[..len], true),
        Decision6::Learn {
            ip: PEER,
            mac: PEER_MAC
        }
    );
    // Frames to the VIP: not to the virtual MAC, or while backup, are not forwarded.
    let mut to_router_mac = query(next_header::UDP, client(1));
    to_router_mac[0..6].copy_from_slice(&ROUTER_MAC.0);
    assert_eq!(decide(&to_router_mac, true), Decision6::Other);
    assert_eq!(
        decide(&query(next_header::UDP, client(1)), false),
        Decision6::Drop(PlaneDrop::NotActive)
    );
    // An ICMPv6 error about a client without a session is the kernel's; with one, it follows
    // the session to its target, unchanged.
    assert_eq!(decide(&packet_too_big(client(9)), true), Decision6::Other);
    let first = decide(&query(next_header::TCP, client(9)), true);
    let error = decide(&packet_too_big(client(9)), true);
    match (first, error) {
        (
            Decision6::Forward { target, mac, .. },
            Decision6::ForwardError {
                target: t, mac: m, ..
            },
        ) => {
            assert_eq!((target, Some(mac)), (t, m));
        }
        (
            Decision6::Local { target, .. },
            Decision6::ForwardError {
                target: t,
                mac: None,
                dst,
                ..
            },
        ) => {
            assert_eq!((target, dst), (t, VIP));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide(&frame(VIRTUAL_MAC6, client(1), VIP, 112, &[0u8; 8]), true),
        Decision6::Vrrp
    );
    assert_eq!(
        decide(&query(next_header::UDP, client(1))[..30], true),
        Decision6::Drop(PlaneDrop::Frame(DropReason::Ipv6Truncated))
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::dsr::checksum6::complete_l4_checksum6;

    proptest! {
        // Each case parses the configuration: a few dozen cases are plenty here (the IPv6
        // classifier has its own fuzz target).
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes after an IPv6 Ethernet header: a decision, never a panic; nothing is
        /// forwarded unless sent to the IPv6 virtual MAC, and a local delivery fits the frame.
        #[test]
        fn decide6_is_total(body in proptest::collection::vec(any::<u8>(), 0..200),
                            to_virtual in any::<bool>()) {
            let table = table();
            let mac = if to_virtual { VIRTUAL_MAC6 } else { PEER_MAC };
            let mut frame = mac.0.to_vec();
            frame.extend_from_slice(&ROUTER_MAC.0);
            frame.extend_from_slice(&[0x86, 0xdd]);
            frame.extend_from_slice(&body);
            let d = decide6(&frame, &table, &sessions(), &mut Pick::new(3), true);
            match d {
                Decision6::Forward { .. } => prop_assert!(to_virtual),
                Decision6::Local { ip_len, .. } | Decision6::ForwardError { ip_len, .. } => {
                    prop_assert!(to_virtual);
                    prop_assert!(14 + ip_len <= frame.len());
                }
                _ => {}
            }
        }

        /// A valid query to the VIP with a mutated byte and a cut tail: still a decision.
        #[test]
        fn mutated_vip_frames(cut in 0usize..70, byte in any::<u8>(), at in 0usize..70,
                              tcp in any::<bool>()) {
            let table = table();
            let proto = if tcp { next_header::TCP } else { next_header::UDP };
            let mut frame = query(proto, client(1));
            if at < frame.len() { frame[at] = byte; }
            frame.truncate(frame.len().saturating_sub(cut));
            if let Decision6::Local { ip_len, .. } =
                decide6(&frame, &table, &sessions(), &mut Pick::new(3), true)
            {
                prop_assert!(14 + ip_len <= frame.len());
            }
        }

        #[test]
        fn complete_checksum6_is_total(ip in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut ip = ip;
            let _ = complete_l4_checksum6(&mut ip);
        }
    }
}

#[test]
fn the_table_takes_the_ipv6_virtual_mac_and_real6_and_says_when_real6_is_missing() {
    let table = table();
    assert_eq!(table.virtual_mac6, Some(VIRTUAL_MAC6));
    assert_eq!(table.source6, Some(REAL6));
    assert_eq!(table.vips6(), vec![VIP]);
    assert_eq!(
        table.to_resolve6(),
        vec![PEER],
        "the local target needs no MAC"
    );
    assert_eq!(table.vips().len(), 1, "the IPv4 VIP is still there");

    let mut config = dual_config();
    if let Some(network) = config.networks.get_mut(&1) {
        network.real6 = None;
    }
    let (mut servers, mut targets) = (HashMap::new(), HashMap::new());
    let (_, problems) = build(
        &config,
        &Facts {
            local_addrs: &[],
            local_addrs6: &[],
            macs: &HashMap::new(),
            macs6: &HashMap::new(),
            operational: &HashMap::new(),
            agent_values: &HashMap::new(),
        },
        CounterMaps {
            servers: &mut servers,
            targets: &mut targets,
            writers: 1,
        },
    );
    assert!(
        problems.iter().any(|p| p.contains("no `real6` address")),
        "{problems:?}"
    );
}
