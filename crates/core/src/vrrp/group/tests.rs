//! The receive checks, one row per drop reason, against adverts keepalived 2.2.7 sent
//! (tcpdump capture: vrid 7, priority 200, VIP 10.235.210.1, from 10.235.210.43).

use super::*;
use crate::vrrp::Auth;
use fulcrum_wire::{arp, ipv4};

const KEEPALIVED: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
const US: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

const V2_NONE: [u8; 40] = [
    0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xfd, 0x7b, 0x0a, 0xeb, 0xd2, 0x2b,
    0xe0, 0x00, 0x00, 0x12, 0x21, 0x07, 0xc8, 0x01, 0x00, 0x01, 0x3a, 0x09, 0x0a, 0xeb, 0xd2, 0x01,
    0, 0, 0, 0, 0, 0, 0, 0,
];
const V2_PASS: [u8; 40] = [
    0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xfd, 0x7b, 0x0a, 0xeb, 0xd2, 0x2b,
    0xe0, 0x00, 0x00, 0x12, 0x21, 0x07, 0xc8, 0x01, 0x01, 0x01, 0xfc, 0xbc, 0x0a, 0xeb, 0xd2, 0x01,
    0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x00, 0x00,
];
const V3: [u8; 32] = [
    0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xfd, 0x83, 0x0a, 0xeb, 0xd2, 0x2b,
    0xe0, 0x00, 0x00, 0x12, 0x31, 0x07, 0xc8, 0x01, 0x00, 0x0a, 0x6c, 0x5a, 0x0a, 0xeb, 0xd2, 0x01,
];

fn config(version: Version, interval_cs: u16, primary: Ipv4Addr) -> Config {
    Config {
        version,
        vrid: 7,
        priority: 100,
        advert_interval_cs: interval_cs,
        preempt: true,
        primary_address: primary,
        addresses: vec![VIP],
        auth: Auth::None,
        peers: Vec::new(),
    }
}

fn v2() -> Group {
    Group::new(&config(Version::V2, 100, US))
}

fn v3() -> Group {
    Group::new(&config(Version::V3, 100, US))
}

/// Change bytes of an IPv4 packet and fix the IP header checksum (and, for v2, the VRRP
/// checksum when `fix_vrrp`) so that only the intended check fails.
fn patched(base: &[u8], edits: &[(usize, u8)], fix_vrrp: bool) -> Vec<u8> {
    let mut p = base.to_vec();
    for &(at, value) in edits {
        p[at] = value;
    }
    if fix_vrrp {
        // v2's checksum is over the VRRP message alone (RFC 3768 §5.3.8).
        p[26..28].fill(0);
        let sum = fulcrum_wire::checksum::checksum(&p[20..]);
        p[26..28].copy_from_slice(&sum.to_be_bytes());
    }
    if ipv4::Packet::new_checked(&p[..]).is_ok() {
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    }
    p
}

#[test]
fn accepts_keepalived_adverts() {
    let expected_v2 = Advert {
        source: KEEPALIVED,
        priority: 200,
        advert_interval_cs: 100,
    };
    assert_eq!(v2().check(&V2_NONE, 100), Ok(expected_v2));
    let mut with_pass = config(Version::V2, 100, US);
    with_pass.auth = Auth::simple_text("secret");
    assert_eq!(Group::new(&with_pass).check(&V2_PASS, 100), Ok(expected_v2));
    let expected_v3 = Advert {
        source: KEEPALIVED,
        priority: 200,
        advert_interval_cs: 10,
    };
    assert_eq!(v3().check(&V3, 100), Ok(expected_v3));
}

#[test]
fn every_drop_reason() {
    use AdvertDrop::*;
    let from_keepalived = Group::new(&config(Version::V2, 100, KEEPALIVED));
    let cases: Vec<(&str, Group, Vec<u8>, u8, AdvertDrop)> = vec![
        ("runt", v2(), V2_NONE[..19].to_vec(), 100, BadIp),
        (
            "ip checksum",
            v2(),
            {
                let mut p = V2_NONE.to_vec();
                p[11] ^= 1;
                p
            },
            100,
            BadIp,
        ),
        (
            "ipv6 version nibble",
            v2(),
            patched(&V2_NONE, &[(0, 0x65)], false),
            100,
            BadIp,
        ),
        (
            "fragment",
            v2(),
            patched(&V2_NONE, &[(6, 0x20)], false),
            100,
            BadIp,
        ),
        (
            "udp",
            v2(),
            patched(&V2_NONE, &[(9, 17)], false),
            100,
            NotVrrp,
        ),
        (
            "looped back",
            from_keepalived,
            V2_NONE.to_vec(),
            100,
            OwnAdvert,
        ),
        (
            "ttl 254",
            v2(),
            patched(&V2_NONE, &[(8, 254)], false),
            100,
            BadTtl,
        ),
        (
            "count beyond the packet",
            v2(),
            patched(&V2_NONE, &[(23, 9)], false),
            100,
            Truncated,
        ),
        (
            "version 3 to a v2 group",
            v2(),
            V3.to_vec(),
            100,
            BadVersion,
        ),
        (
            "version 2 to a v3 group",
            v3(),
            V2_NONE.to_vec(),
            100,
            BadVersion,
        ),
        (
            "version 4",
            v2(),
            patched(&V2_NONE, &[(20, 0x41)], false),
            100,
            BadVersion,
        ),
        (
            "type 2",
            v2(),
            patched(&V2_NONE, &[(20, 0x22)], true),
            100,
            BadType,
        ),
        (
            "trailing bytes",
            v2(),
            {
                let mut p = V2_NONE.to_vec();
                p.extend_from_slice(&[0; 4]);
                patched(&p, &[(3, 44)], false)
            },
            100,
            BadLength,
        ),
        (
            "vrrp checksum",
            v2(),
            patched(&V2_NONE, &[(27, 0x0a)], false),
            100,
            BadChecksum,
        ),
        (
            "v3 checksum with another source",
            v3(),
            patched(&V3, &[(15, 0x2d)], false),
            100,
            BadChecksum,
        ),
        (
            "vrid 8",
            v2(),
            patched(&V2_NONE, &[(21, 8)], true),
            100,
            WrongVrid,
        ),
        (
            "we own the address",
            v2(),
            V2_NONE.to_vec(),
            255,
            LocalOwner,
        ),
        ("password where none", v2(), V2_PASS.to_vec(), 100, BadAuth),
        (
            "interval 2 s",
            v2(),
            patched(&V2_NONE, &[(25, 2)], true),
            100,
            IntervalMismatch,
        ),
        (
            "v3 interval 0",
            v3(),
            Group::new(&config(Version::V3, 0, KEEPALIVED))
                .advert_packet(200)
                .unwrap(),
            100,
            ZeroInterval,
        ),
        (
            "not a configured peer",
            {
                let mut c = config(Version::V2, 100, US);
                c.peers = vec![Ipv4Addr::new(10, 235, 210, 46)];
                Group::new(&c)
            },
            V2_NONE.to_vec(),
            100,
            NotAPeer,
        ),
    ];
    let mut counters = DropCounters::default();
    for (name, group, packet, local_priority, expected) in cases {
        let result = group.check(&packet, local_priority);
        assert_eq!(result, Err(expected), "{name}");
        counters.count(expected);
    }
    for reason in AdvertDrop::ALL {
        assert!(counters.get(reason) > 0, "no case for {}", reason.name());
    }
}

#[test]
fn v3_learns_a_different_interval() {
    // v3 does not require equal intervals (RFC 5798 §6.4.2 learns the master's).
    let group = Group::new(&config(Version::V3, 100, US));
    assert_eq!(group.check(&V3, 100).map(|a| a.advert_interval_cs), Ok(10));
}

#[test]
fn another_address_list_is_taken_counted_and_told_for_owner_and_non_owner() {
    let t0 = Instant::now();
    let mut group = v2();
    // An owner's advert (priority 255) with another address list: compared, counted.
    let owner = patched(&V2_NONE, &[(22, 255), (31, 9)], true);
    assert_eq!(group.receive(t0, &owner, 100).map(|a| a.priority), Ok(255));
    assert_eq!(group.sender_counters().address_mismatch, 1);
    // A non-owner's with another list is taken as well (a reconfiguration in progress).
    let other = patched(&V2_NONE, &[(31, 9)], true);
    assert_eq!(group.receive(t0, &other, 100).map(|a| a.priority), Ok(200));
    assert_eq!(group.sender_counters().address_mismatch, 2);
    let lines: Vec<String> = std::iter::from_fn(|| group.poll_notice())
        .map(|n| n.to_string())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("lists other virtual addresses")),
        "{lines:?}"
    );
    // Our own list changed to theirs: no longer a mismatch.
    group.set_addresses(&[Ipv4Addr::new(10, 235, 210, 9)]);
    assert!(group.receive(t0, &other, 100).is_ok());
    assert_eq!(group.sender_counters().address_mismatch, 2);
}

#[test]
fn forged_adverts_from_a_third_address_are_seen_and_refused_with_a_peer_list() {
    let t0 = Instant::now();
    let forger = Ipv4Addr::new(10, 235, 210, 99);
    let mut c = config(Version::V2, 100, KEEPALIVED);
    c.priority = 255;
    let mut forged = Group::new(&{
        let mut f = c.clone();
        f.primary_address = forger;
        f
    });
    let forged_255 = forged.advert_packet(255).unwrap();
    let peer = Ipv4Addr::new(10, 235, 210, 46);

    // Without a list: taken (the RFCs give no ground to refuse it), but counted and told.
    let mut open = v2();
    assert_eq!(
        open.receive(t0, &V2_NONE, 100).map(|a| a.source),
        Ok(KEEPALIVED)
    );
    assert_eq!(
        open.receive(t0, &forged_255, 100).map(|a| a.priority),
        Ok(255)
    );
    assert_eq!(open.sender_counters().new_sender, 2);
    let lines: Vec<String> = std::iter::from_fn(|| open.poll_notice())
        .map(|n| n.to_string())
        .collect();
    assert!(
        lines.contains(&format!(
            "vrrp: advert from {forger} (priority 255), a sender not heard before"
        )),
        "{lines:?}"
    );

    // With a list: refused, counted and told once per interval.
    let mut listed = Group::new(&{
        let mut l = config(Version::V2, 100, US);
        l.peers = vec![peer, KEEPALIVED];
        l
    });
    assert!(listed.receive(t0, &V2_NONE, 100).is_ok());
    for n in 0..50u64 {
        let at = t0 + std::time::Duration::from_millis(n * 20);
        assert_eq!(
            listed.receive(at, &forged_255, 100),
            Err(AdvertDrop::NotAPeer)
        );
    }
    let counters = listed.sender_counters();
    assert_eq!((counters.not_a_peer, counters.new_sender), (50, 0));
    let lines: Vec<String> = std::iter::from_fn(|| listed.poll_notice())
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        lines,
        vec![format!(
            "vrrp: advert from {forger} (priority 255) refused: not a configured peer"
        )]
    );
}

#[test]
fn unicast_adverts_go_to_the_peer_and_pass_its_checks() {
    for version in [Version::V2, Version::V3] {
        let mut sender = Group::new(&config(version, 100, KEEPALIVED));
        let packet = sender.advert_packet_to(200, US).unwrap();
        let ip = ipv4::Packet::new_checked(&packet[..]).unwrap();
        assert_eq!((ip.dst_addr(), ip.ttl()), (US, 255));
        let mut receiver = config(version, 100, US);
        receiver.peers = vec![KEEPALIVED];
        assert!(
            Group::new(&receiver).check(&packet, 100).is_ok(),
            "{version:?}"
        );
    }
}

#[test]
fn builds_the_packets_keepalived_builds() {
    // Same source, VRID, priority, interval and address: the IPv4 packet is byte for byte
    // keepalived's (its first advert has IP ident 1, like ours).
    for (version, interval, expected) in
        [(Version::V2, 100, &V2_NONE[..]), (Version::V3, 10, &V3[..])]
    {
        let mut c = config(version, interval, KEEPALIVED);
        c.priority = 200;
        let mut group = Group::new(&c);
        assert_eq!(
            group.advert_packet(200).as_deref(),
            Ok(expected),
            "{version:?}"
        );
        // The next one carries the next ident and is accepted by a peer.
        let second = group.advert_packet(200).unwrap();
        assert_eq!(second[4..6], [0, 2]);
        let peer = Group::new(&config(version, interval, US));
        assert!(peer.check(&second, 100).is_ok());
    }
}

#[test]
fn frames_use_the_virtual_mac() {
    let mut group = v2();
    let frame = group.advert_frame(100).unwrap();
    assert_eq!(&frame[..6], &[0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
    assert_eq!(&frame[6..12], &[0x00, 0x00, 0x5e, 0x00, 0x01, 0x07]);
    assert_eq!(&frame[12..14], &[0x08, 0x00]);
    assert!(v3().check(&frame[14..], 100).is_err());
    assert!(Group::new(&config(Version::V2, 100, KEEPALIVED))
        .check(&frame[14..], 100)
        .is_ok());
    let arps = group.gratuitous_arp_frames();
    assert_eq!(arps.len(), 1);
    let arp_frame = ethernet::Frame::new_checked(&arps[0][..]).unwrap();
    assert_eq!(arp_frame.dst_addr(), EthernetAddress::BROADCAST);
    let repr = arp::Repr::parse(&arp::Packet::new_checked(arp_frame.payload()).unwrap()).unwrap();
    assert_eq!(
        repr,
        arp::Repr::gratuitous(EthernetAddress::vrrp_virtual(7), VIP)
    );
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic sweep; the fuzz target does the rest.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let group = v2();
    for len in 0..80 {
        for _ in 0..50 {
            let mut p = V2_NONE.to_vec();
            p.resize(len.max(1), 0);
            for byte in p.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state & 3 == 0 {
                    *byte = state as u8;
                }
            }
            let _ = group.check(&p[..len], 100);
        }
    }
}
