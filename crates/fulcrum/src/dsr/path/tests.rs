//! Tests of the probes' bookkeeping and of their frames, IPv4 and IPv6 ([`super::ipv6`]).

use super::ipv6::probe_frame6;
use super::*;
use fulcrum_wire::ipv6;
use std::net::Ipv6Addr;

const REAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
const TARGET_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x44]);
const OWN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x45]);

fn probe(payload: &[u8]) -> PathProbe<'_> {
    PathProbe {
        source: IpAddr::V4(REAL),
        vip: IpAddr::V4(VIP),
        vip_port: 53,
        mac: TARGET_MAC,
        payload,
    }
}

/// The target's answer to a probe sent from `port`: the probe frame turned around.
fn answer(port: u16, from_mac: EthernetAddress, from: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut turned = probe(payload);
    turned.vip_port = port;
    turned.mac = OWN_MAC;
    probe_frame(from, REAL, &turned, from_mac, 53).unwrap()
}

/// A probe of `vip:53` at `TARGET_MAC` waiting at `real` (on a port reserved on loopback).
fn register(probes: &Arc<PathProbes>, real: IpAddr, vip: IpAddr) -> (PathWait, u16) {
    // Sending fails without an interface, after the probe was registered; register by
    // hand the same way for the offer tests.
    let loopback = if real.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let placeholder = std::net::UdpSocket::bind(loopback).unwrap();
    let port = placeholder.local_addr().unwrap().port();
    let at = SocketAddr::new(real, port);
    let (tx, rx) = mpsc::channel(QUEUE);
    lock(&probes.pending).insert(
        at,
        Pending {
            vip,
            vip_port: 53,
            mac: TARGET_MAC,
            answers: tx,
        },
    );
    probes.waiting.store(1, Ordering::Release);
    let wait = PathWait {
        at,
        answers: rx,
        probes: probes.clone(),
        _placeholder: placeholder,
    };
    (wait, port)
}

#[test]
fn the_probe_frame_is_a_valid_datagram_to_the_vip_for_the_target_mac() {
    let frame = probe_frame(REAL, VIP, &probe(b"query"), OWN_MAC, 40000).unwrap();
    let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (TARGET_MAC, OWN_MAC));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (REAL, VIP));
    let datagram = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(datagram.verify_checksum(REAL, VIP));
    assert_eq!((datagram.src_port(), datagram.dst_port()), (40000, 53));
    assert_eq!(datagram.payload(), b"query");
}

#[test]
fn only_the_targets_answer_at_a_waiting_port_is_handed_over() {
    let probes = Arc::new(PathProbes::default());
    let (mut wait, port) = register(&probes, IpAddr::V4(REAL), IpAddr::V4(VIP));
    assert!(probes.waiting());
    let is_vip = |a: Ipv4Addr| a == VIP;
    let other_mac = EthernetAddress([2, 0, 0, 0, 0, 0x99]);
    // Another host answering for the VIP, another source address, a port nobody waits on:
    // ignored and counted. A datagram to `real` from elsewhere: not even counted.
    probes.offer(&answer(port, other_mac, VIP, b"x"), REAL, false, is_vip);
    let elsewhere = Ipv4Addr::new(10, 235, 210, 44);
    probes.offer(
        &answer(port, TARGET_MAC, elsewhere, b"x"),
        REAL,
        false,
        is_vip,
    );
    probes.offer(
        &answer(port ^ 1, TARGET_MAC, VIP, b"x"),
        REAL,
        false,
        is_vip,
    );
    let mut corrupt = answer(port, TARGET_MAC, VIP, b"x");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    probes.offer(&corrupt, REAL, false, is_vip);
    probes.offer(&[0u8; 3], REAL, false, is_vip);
    assert_eq!(probes.totals().ignored, 3);
    probes.offer(
        &answer(port, TARGET_MAC, VIP, b"reply"),
        REAL,
        false,
        is_vip,
    );
    assert_eq!(wait.answers.try_recv().ok().as_deref(), Some(&b"reply"[..]));
    assert_eq!(probes.totals().answers, 1);
    wait.ignored();
    assert_eq!(probes.totals().ignored, 4);
    drop(wait);
    assert!(
        !probes.waiting(),
        "the probe is unregistered when its wait ends"
    );
}

#[test]
fn without_an_interface_nothing_is_sent_and_nothing_stays_registered() {
    let probes = Arc::new(PathProbes::default());
    let mut local = probe(b"q");
    local.source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let error = probes.send(&local).err().unwrap_or_default();
    assert!(error.contains("no interface"), "{error}");
    assert!(!probes.waiting());
    assert_eq!(probes.totals().sent, 0);
}

const REAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 0x45);
const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 1);

fn probe6(payload: &[u8]) -> PathProbe<'_> {
    PathProbe {
        source: IpAddr::V6(REAL6),
        vip: IpAddr::V6(VIP6),
        ..probe(payload)
    }
}

/// The target's IPv6 answer to a probe sent from `port`.
fn answer6(port: u16, from_mac: EthernetAddress, from: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut turned = probe6(payload);
    turned.vip_port = port;
    turned.mac = OWN_MAC;
    probe_frame6(from, REAL6, &turned, from_mac, 53).unwrap()
}

#[test]
fn the_ipv6_probe_frame_is_a_valid_datagram_to_the_ipv6_vip_for_the_target_mac() {
    let frame = probe_frame6(REAL6, VIP6, &probe6(b"query"), OWN_MAC, 40000).unwrap();
    let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (TARGET_MAC, OWN_MAC));
    assert_eq!(eth.ethertype(), EtherType::Ipv6);
    let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(
        (ip.version(), ip.next_header(), ip.hop_limit()),
        (6, 17, 64)
    );
    assert_eq!((ip.src_addr(), ip.dst_addr()), (REAL6, VIP6));
    assert_eq!(usize::from(ip.payload_len()), udp::HEADER_LEN + 5);
    let datagram = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(datagram.verify_checksum(REAL6, VIP6));
    assert_eq!((datagram.src_port(), datagram.dst_port()), (40000, 53));
    assert_eq!(datagram.payload(), b"query");
}

#[test]
fn a_probe_and_its_vip_must_share_a_family() {
    let probes = Arc::new(PathProbes::default());
    let mut mixed = probe6(b"q");
    mixed.source = IpAddr::V6(Ipv6Addr::LOCALHOST);
    mixed.vip = IpAddr::V4(VIP);
    // Without an interface the family is not even looked at; nothing stays registered.
    assert!(probes.send(&mixed).is_err());
    assert!(!probes.waiting());
}

#[test]
fn only_the_targets_ipv6_answer_at_a_waiting_port_is_handed_over() {
    let probes = Arc::new(PathProbes::default());
    let (mut wait, port) = register(&probes, IpAddr::V6(REAL6), IpAddr::V6(VIP6));
    let is_vip = |a: Ipv6Addr| a == VIP6;
    let other_mac = EthernetAddress([2, 0, 0, 0, 0, 0x99]);
    // Another MAC, another source, a port nobody waits on: ignored and counted.
    probes.offer6(&answer6(port, other_mac, VIP6, b"x"), REAL6, false, is_vip);
    let elsewhere = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 0x44);
    let stray = answer6(port, TARGET_MAC, elsewhere, b"x");
    probes.offer6(&stray, REAL6, false, is_vip);
    probes.offer6(
        &answer6(port ^ 1, TARGET_MAC, VIP6, b"x"),
        REAL6,
        false,
        is_vip,
    );
    assert_eq!(probes.totals().ignored, 3);
    // A broken checksum, a cut frame, an IPv4 frame, an answer to another address: not looked at.
    let mut corrupt = answer6(port, TARGET_MAC, VIP6, b"x");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    probes.offer6(&corrupt, REAL6, false, is_vip);
    probes.offer6(&corrupt[..60], REAL6, false, is_vip);
    probes.offer6(&answer(port, TARGET_MAC, VIP, b"x"), REAL6, false, is_vip);
    probes.offer6(&answer6(port, TARGET_MAC, VIP6, b"x"), VIP6, false, is_vip);
    // The same port on the IPv4 `real` is another probe's (none here).
    probes.offer(&answer(port, TARGET_MAC, VIP, b"x"), REAL, false, |_| false);
    assert_eq!(probes.totals().ignored, 3);
    assert!(wait.answers.try_recv().is_err());
    // Left to hardware, the checksum is not verified.
    probes.offer6(&corrupt, REAL6, true, is_vip);
    probes.offer6(
        &answer6(port, TARGET_MAC, VIP6, b"reply"),
        REAL6,
        false,
        is_vip,
    );
    assert!(wait.answers.try_recv().is_ok());
    assert_eq!(wait.answers.try_recv().ok().as_deref(), Some(&b"reply"[..]));
    assert_eq!(probes.totals().answers, 2);
    drop(wait);
    assert!(!probes.waiting());
}
