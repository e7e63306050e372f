//! Routed frames on a real veth pair in a lab (root): with the own MAC set, the XDP program
//! hands frames a router sent to the interface's own MAC for a VIP (IPv4, IPv6, any protocol)
//! to the plane by rewriting their destination to the family's virtual MAC, which an
//! `AF_PACKET` socket on the interface sees, while the kernel, which holds the VIP on `lo`
//! without a listener, never takes them: its UDP `NoPorts` counter moves only for the control
//! frame, sent to the node's own address at the same MAC, which must stay untouched. Without
//! the own MAC (a VRRP pair) the same frame reaches the kernel unchanged.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use fulcrum_sys::packet::{
    interface_index, interface_mac, FrameSender, PacketOptions, PacketSocket,
};
use fulcrum_xdp::program::SteerProgram;
use netlab::lab::Lab;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 53);
const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x53, 0, 0, 0, 0, 0, 0x53);
const NODE: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x01];
const VMAC6: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x02, 0x01];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 frame from the router to `dst_mac`: a UDP datagram to port 53 without a checksum
/// (`protocol` 17) or the same bytes as another protocol, tagged in its last byte.
fn frame4(dst_mac: [u8; 6], dst: Ipv4Addr, protocol: u8, tag: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&ROUTER_MAC);
    out.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 44, 0, 1, 0, 0, 64, protocol, 0, 0];
    ip.extend_from_slice(&ROUTER.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(&ip);
    out.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 24, 0, 0]);
    out.extend_from_slice(&[0x5a; 15]);
    out.push(tag);
    out
}

/// An IPv6 frame from the router to `dst_mac` for `dst` (UDP to port 53), tagged.
fn frame6(dst_mac: [u8; 6], dst: Ipv6Addr, tag: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&ROUTER_MAC);
    out.extend_from_slice(&[0x86, 0xdd]);
    out.extend_from_slice(&[0x60, 0, 0, 0, 0, 24, 17, 64]);
    out.extend_from_slice(&Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1).octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 24, 0x12, 0x34]);
    out.extend_from_slice(&[0x5a; 15]);
    out.push(tag);
    out
}

/// The kernel's UDP `NoPorts` counter in this thread's namespace.
fn udp_no_ports() -> u64 {
    // Not /proc/net: that is the main thread's namespace, and this thread entered the node's.
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("read snmp");
    let udp: Vec<&str> = text.lines().filter(|l| l.starts_with("Udp:")).collect();
    let names = udp[0].split_whitespace();
    let values = udp[1].split_whitespace();
    names
        .zip(values)
        .find(|(name, _)| *name == "NoPorts")
        .and_then(|(_, value)| value.parse().ok())
        .expect("Udp NoPorts")
}

/// Sends `frames` from the peer and returns what an `AF_PACKET` socket on the node's eth1 saw
/// (tag, destination MAC), with the kernel's `NoPorts` before and after.
fn exchange(peer: &str, frames: Vec<Vec<u8>>) -> (Vec<(u8, [u8; 6])>, u64) {
    let mut socket = PacketSocket::open("eth1", PacketOptions::default()).expect("AF_PACKET");
    let expected = frames.len();
    let before = udp_no_ports();
    testkit::netns::spawn_in(peer, move || {
        let sender = FrameSender::open("eth0").map_err(|e| e.to_string())?;
        for f in &frames {
            sender.send(f).map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .join()
    .expect("the sender thread")
    .expect("send the frames");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && seen.len() < expected {
        if socket.wait(50).unwrap_or(false) {
            socket
                .process(64, |f, _| {
                    if f.data.get(6..12) == Some(&ROUTER_MAC[..]) {
                        let mut mac = [0u8; 6];
                        mac.copy_from_slice(&f.data[..6]);
                        seen.push((f.data.last().copied().unwrap_or(0), mac));
                    }
                })
                .expect("drain the AF_PACKET socket");
        }
    }
    // The kernel's verdicts come after the tap's copy: give it a moment.
    std::thread::sleep(Duration::from_millis(200));
    (seen, udp_no_ports() - before)
}

#[test]
fn frames_routed_to_the_own_mac_for_a_vip_become_the_planes() {
    testkit::process::require_root();
    let lab = Lab::new("xdp_routed");
    let node = lab.netns("node").expect("namespace node");
    let peer = lab.netns("peer").expect("namespace peer");
    lab.veth(&node, "eth1", &peer, "eth0").expect("veth pair");
    node.addr("eth1", &format!("{NODE}/24"))
        .expect("node address");
    node.addr("lo", &format!("{VIP}/32")).expect("VIP on lo");
    let peer_name = peer.name().to_string();

    let (routed, routed_no_ports, pair, pair_no_ports) = testkit::netns::run_in(&node, move || {
        let own = interface_mac("eth1").expect("eth1's MAC");
        let ifindex = interface_index("eth1").expect("eth1");
        let mut program = SteerProgram::attach(ifindex).expect("attach the XDP program");
        program.set_vips(&BTreeSet::from([VIP])).expect("VIP map");
        program
            .set_vips6(&BTreeSet::from([VIP6]))
            .expect("VIP6 map");
        program
            .set_virtual_macs([Some(VMAC), Some(VMAC6)])
            .expect("MAC map");
        program.set_own_mac(Some(own)).expect("own MAC");
        let frames = vec![
            frame4(own, VIP, 17, 1),  // routed UDP to the VIP
            frame6(own, VIP6, 2),     // routed IPv6
            frame4(own, VIP, 1, 3),   // routed, another protocol
            frame4(own, NODE, 17, 4), // the node's own address: the kernel's
        ];
        let (routed, routed_no_ports) = exchange(&peer_name, frames);
        // A VRRP pair: frames to the own MAC are the kernel's, whatever their address.
        program.set_own_mac(None).expect("own MAC off");
        let (pair, pair_no_ports) = exchange(&peer_name, vec![frame4(own, VIP, 17, 5)]);
        let mark = |seen: Vec<(u8, [u8; 6])>| -> Vec<(u8, bool, [u8; 6])> {
            seen.into_iter()
                .map(|(tag, mac)| (tag, mac == own, mac))
                .collect()
        };
        (mark(routed), routed_no_ports, mark(pair), pair_no_ports)
    });
    let routed: BTreeSet<(u8, bool, [u8; 6])> = routed.into_iter().collect();
    let rewritten: BTreeSet<(u8, [u8; 6])> = routed
        .iter()
        .filter(|(_, own, _)| !own)
        .map(|(tag, _, mac)| (*tag, *mac))
        .collect();
    assert_eq!(
        rewritten,
        BTreeSet::from([(1, VMAC), (2, VMAC6), (3, VMAC)]),
        "routed VIP frames reach the plane at the virtual MAC of their family: {routed:?}"
    );
    assert!(
        routed.iter().any(|(tag, own, _)| *tag == 4 && *own),
        "the node's own traffic keeps its MAC: {routed:?}"
    );
    assert_eq!(
        routed_no_ports, 1,
        "the kernel took only the frame for its own address, none for the VIP"
    );
    assert!(
        pair.iter().any(|(tag, own, _)| *tag == 5 && *own),
        "without the own MAC the frame stays the kernel's: {pair:?}"
    );
    assert_eq!(pair_no_ports, 1, "and the kernel takes it");
    drop(lab);
}
