//! The IPv6 instance (RFC 5798 over IPv6): keepalived 2.2.7's adverts pass the receive checks,
//! one row per drop reason, our advert equals keepalived's field for field, and the unsolicited
//! Neighbor Advertisement matches keepalived's but for the link-layer address. Golden bytes
//! captured with tcpdump (`crates/wire/testdata/capture-ipv6.sh`): VRID 7, priority 100,
//! `advert_int 1`, VIP fd00:1::100, from fe80::ff:fe00:43 (MAC 02:00:00:00:00:43).

use std::net::Ipv6Addr;

use super::*;
use crate::vrrp::Auth;
use fulcrum_wire::ethernet::EtherType;
use fulcrum_wire::{icmpv6, ipv6, nd};

const KEEPALIVED: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x43);
const US: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x44);
/// Neither of the two: a third node, or another address.
const OTHER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x45);
const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x100);
const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// keepalived's advert, the whole IPv6 packet (traffic class 0xc0, flow label 0xf132c).
const ADVERT: [u8; 64] = [
    0x6c, 0x0f, 0x13, 0x2c, 0x00, 0x18, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x43, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x31, 0x07, 0x64, 0x01, 0x00, 0x64, 0x6f, 0x30,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
];
/// The same instance stopping: priority 0.
const ADVERT_STOP: [u8; 64] = [
    0x6c, 0x0f, 0x13, 0x2c, 0x00, 0x18, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x43, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x31, 0x07, 0x00, 0x01, 0x00, 0x64, 0xd3, 0x30,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
];
/// keepalived's unsolicited Neighbor Advertisement on becoming master: fd00:1::100 -> ff02::1,
/// Override only, target link-layer address its interface MAC 02:00:00:00:00:43.
const UNSOLICITED: [u8; 72] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00, 0x58, 0x59, 0x20, 0x00, 0x00, 0x00,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x43,
];

fn config(primary: Ipv6Addr, peers: Vec<Ipv6Addr>) -> Config<Ipv6Addr> {
    Config {
        version: Version::V3,
        vrid: 7,
        priority: 100,
        advert_interval_cs: 100,
        preempt: true,
        primary_address: primary,
        addresses: vec![VIP],
        auth: Auth::None,
        peers,
    }
}

fn group() -> Group<Ipv6Addr> {
    Group::new(&config(US, Vec::new()))
}

/// Change bytes of the advert and, when `fix_checksum`, recompute the VRRP checksum over the
/// IPv6 pseudo-header, so only the intended check fails.
fn patched(edits: &[(usize, u8)], fix_checksum: bool) -> Vec<u8> {
    let mut p = ADVERT.to_vec();
    for &(at, value) in edits {
        p[at] = value;
    }
    if fix_checksum {
        p[46..48].fill(0);
        let sum = fulcrum_wire::checksum::checksum_v6(KEEPALIVED, GROUP, 112, &p[40..]);
        p[46..48].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

#[test]
fn keepalived_adverts_pass_the_checks() {
    for (bytes, priority) in [(ADVERT, 100), (ADVERT_STOP, 0)] {
        assert_eq!(
            group().check(&bytes, 100),
            Ok(Advert {
                source: KEEPALIVED,
                priority,
                advert_interval_cs: 100,
            })
        );
    }
}

/// A case name, the packet, the group that checks it, the local priority, the reason.
type DropRow<'a> = (&'a str, Vec<u8>, &'a Group<Ipv6Addr>, u8, AdvertDrop);

#[test]
fn every_drop_reason_over_ipv6() {
    // A global source: RFC 5798 §5.1.2.1 sends from the link-local address.
    let mut global_source = ADVERT.to_vec();
    global_source[8..24].copy_from_slice(&VIP.octets());
    // Two bytes after the message, counted in the IPv6 payload length.
    let mut trailing = ADVERT.to_vec();
    trailing.extend_from_slice(&[0, 0]);
    trailing[5] += 2;
    // The payload length cut to the fixed part: the address announced is not there.
    let mut cut = ADVERT[..48].to_vec();
    cut[5] = 8;
    let plain = group();
    let theirs = Group::new(&config(KEEPALIVED, Vec::new()));
    let peered = Group::new(&config(US, vec![OTHER]));
    let rows: Vec<DropRow> = vec![
        (
            "short header",
            ADVERT[..39].to_vec(),
            &plain,
            100,
            AdvertDrop::BadIp,
        ),
        (
            "IPv4 version nibble",
            patched(&[(0, 0x4c)], false),
            &plain,
            100,
            AdvertDrop::BadIp,
        ),
        (
            "payload beyond the buffer",
            patched(&[(5, 0x40)], false),
            &plain,
            100,
            AdvertDrop::BadIp,
        ),
        (
            "global source",
            global_source,
            &plain,
            100,
            AdvertDrop::BadIp,
        ),
        (
            "ICMPv6",
            patched(&[(6, 58)], false),
            &plain,
            100,
            AdvertDrop::NotVrrp,
        ),
        (
            "own advert",
            ADVERT.to_vec(),
            &theirs,
            100,
            AdvertDrop::OwnAdvert,
        ),
        (
            "hop limit 254",
            patched(&[(7, 254)], false),
            &plain,
            100,
            AdvertDrop::BadTtl,
        ),
        ("cut", cut, &plain, 100, AdvertDrop::Truncated),
        (
            "version 2",
            patched(&[(40, 0x21)], true),
            &plain,
            100,
            AdvertDrop::BadVersion,
        ),
        (
            "type 2",
            patched(&[(40, 0x32)], true),
            &plain,
            100,
            AdvertDrop::BadType,
        ),
        (
            "trailing bytes",
            trailing,
            &plain,
            100,
            AdvertDrop::BadLength,
        ),
        (
            "checksum",
            patched(&[(47, 0x31)], false),
            &plain,
            100,
            AdvertDrop::BadChecksum,
        ),
        (
            "vrid 8",
            patched(&[(41, 8)], true),
            &plain,
            100,
            AdvertDrop::WrongVrid,
        ),
        (
            "not a peer",
            ADVERT.to_vec(),
            &peered,
            100,
            AdvertDrop::NotAPeer,
        ),
        (
            "we own the address",
            ADVERT.to_vec(),
            &plain,
            255,
            AdvertDrop::LocalOwner,
        ),
        (
            "interval 0",
            patched(&[(45, 0)], true),
            &plain,
            100,
            AdvertDrop::ZeroInterval,
        ),
    ];
    // bad-auth and interval-mismatch are v2's; an IPv6 instance is always v3.
    for (name, bytes, group, local_priority, reason) in rows {
        assert_eq!(group.check(&bytes, local_priority), Err(reason), "{name}");
    }
}

#[test]
fn refused_and_mismatching_senders_are_noticed() {
    let now = Instant::now();
    let mut peered = Group::new(&config(US, vec![OTHER]));
    assert_eq!(peered.receive(now, &ADVERT, 100), Err(AdvertDrop::NotAPeer));
    let notice = peered.poll_notice().expect("a notice");
    assert_eq!((notice.source, notice.priority), (KEEPALIVED, 100));
    let mut other_list = Group::new(&config(US, Vec::new()));
    other_list.set_addresses(&[OTHER]);
    assert!(other_list.receive(now, &ADVERT, 100).is_ok());
    assert_eq!(other_list.sender_counters().address_mismatch, 1);
}

#[test]
fn our_advert_is_keepalived_s_field_for_field() {
    let mut ours = Group::new(&config(KEEPALIVED, Vec::new()));
    for (priority, theirs) in [(100, ADVERT), (0, ADVERT_STOP)] {
        let packet = ours.advert_packet(priority).unwrap();
        let (a, b) = (
            ipv6::Packet::new_checked(&packet[..]).unwrap(),
            ipv6::Packet::new_checked(&theirs[..]).unwrap(),
        );
        assert_eq!(a.version(), b.version());
        assert_eq!(a.traffic_class(), b.traffic_class());
        assert_eq!(a.payload_len(), b.payload_len());
        assert_eq!(a.next_header(), b.next_header());
        assert_eq!(a.hop_limit(), 255);
        assert_eq!(a.hop_limit(), b.hop_limit());
        assert_eq!((a.src_addr(), a.dst_addr()), (b.src_addr(), b.dst_addr()));
        // keepalived lets the kernel pick a flow label; ours is 0 (RFC 6437 allows both).
        assert_eq!(a.flow_label(), 0);
        // The VRRP message, checksum included, byte for byte.
        assert_eq!(a.payload(), b.payload(), "priority {priority}");
    }
    // From another link-local address the fields stay and the checksum follows.
    let packet = group().advert_packet(100).unwrap();
    assert_eq!(&packet[8..24], &US.octets());
    assert_eq!(&packet[40..46], &ADVERT[40..46]);
    assert_eq!(&packet[48..], &ADVERT[48..]);
    assert_eq!(
        Group::new(&config(KEEPALIVED, Vec::new())).check(&packet, 100),
        Ok(Advert {
            source: US,
            priority: 100,
            advert_interval_cs: 100
        })
    );
}

#[test]
fn advert_frame_leaves_from_the_ipv6_virtual_mac() {
    let mut group = group();
    let frame = group.advert_frame(100).unwrap();
    let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress::ipv6_multicast(GROUP));
    assert_eq!(eth.dst_addr().as_bytes(), &[0x33, 0x33, 0, 0, 0, 0x12]);
    assert_eq!(
        eth.src_addr().as_bytes(),
        &[0x00, 0x00, 0x5e, 0x00, 0x02, 0x07]
    );
    assert_eq!(eth.ethertype(), EtherType::Ipv6);
    assert!(Group::new(&config(KEEPALIVED, Vec::new()))
        .check(eth.payload(), 100)
        .is_ok());
}

#[test]
fn unsolicited_neighbor_advert_is_keepalived_s_with_the_virtual_mac() {
    let frames = group().announcement_frames();
    assert_eq!(frames.len(), 1);
    let eth = ethernet::Frame::new_checked(&frames[0][..]).unwrap();
    let vmac = EthernetAddress::vrrp_virtual_v6(7);
    assert_eq!(eth.src_addr(), vmac);
    assert_eq!(eth.dst_addr().as_bytes(), &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(eth.ethertype(), EtherType::Ipv6);
    let packet = eth.payload();
    let ip = ipv6::Packet::new_checked(packet).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (VIP, nd::ALL_NODES));
    assert_eq!(ip.hop_limit(), 255);
    let repr = icmpv6::Repr::parse(
        &icmpv6::Packet::new_checked(ip.payload()).unwrap(),
        ip.src_addr(),
        ip.dst_addr(),
    )
    .unwrap();
    assert_eq!(
        repr,
        icmpv6::Repr::Ndisc(nd::Repr::NeighborAdvert {
            flags: nd::NeighborFlags {
                router: false,
                solicited: false,
                override_: true,
            },
            target: VIP,
            target_lladdr: Some(vmac),
        })
    );
    // Byte for byte keepalived's, but for the checksum and the link-layer address.
    assert_eq!(packet.len(), UNSOLICITED.len());
    for (i, (ours, theirs)) in packet.iter().zip(UNSOLICITED).enumerate() {
        match i {
            42..=43 => {}
            66..=71 => assert_eq!(*ours, vmac.as_bytes()[i - 66]),
            _ => assert_eq!(*ours, theirs, "byte {i}"),
        }
    }
}

#[test]
fn garbage_never_panics_over_ipv6() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let group = group();
    for len in 0..90 {
        for _ in 0..50 {
            let mut p = ADVERT.to_vec();
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
