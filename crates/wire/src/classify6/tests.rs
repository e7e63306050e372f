//! Table-driven like the IPv4 classifier's: a frame in, a verdict out, one row per case,
//! covering every verdict and every IPv6 drop reason. Captured frames (kernel and keepalived,
//! see `nd/tests.rs` and `vrrp/tests_v6.rs`) where a real peer sends them.

use super::*;
use crate::classify::classify;
use crate::ipv6::tests::addr;
use crate::ipv6ext::tests::hex;
use proptest::prelude::*;

const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x07]);

fn vip() -> Ipv6Addr {
    addr("fd00:1::100")
}

fn client() -> Ipv6Addr {
    addr("fd00:9::7")
}

/// VIP fd00:1::100 serves UDP and TCP port 53; the plane also answers ND for its real6
/// fd00:1::44.
struct Vips;

impl Vip6Table for Vips {
    fn is_vip6_addr(&self, addr: Ipv6Addr) -> bool {
        addr == vip()
    }
    fn is_vip6_service(&self, addr: Ipv6Addr, protocol: u8, port: u16) -> bool {
        addr == vip()
            && port == 53
            && (protocol == next_header::UDP || protocol == next_header::TCP)
    }
    fn answers_nd_for(&self, addr: Ipv6Addr) -> bool {
        addr == vip() || addr == crate::ipv6::tests::addr("fd00:1::44")
    }
}

fn frame(ip_packet: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip_packet.len()];
    ethernet::Repr {
        src_addr: CLIENT_MAC,
        dst_addr: EthernetAddress::vrrp_virtual_v6(7),
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
    .unwrap();
    frame[ethernet::HEADER_LEN..].copy_from_slice(ip_packet);
    frame
}

fn ip6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let repr = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: next,
        payload_len: payload.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut packet = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut packet[..]))
        .unwrap();
    packet[ipv6::HEADER_LEN..].copy_from_slice(payload);
    frame(&packet)
}

fn to_vip(next: u8, payload: &[u8]) -> Vec<u8> {
    ip6(client(), vip(), next, 64, payload)
}

/// A UDP header (checksum left zero: the classifier does not read it) and a DNS header.
fn udp(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&src_port.to_be_bytes());
    l4.extend_from_slice(&dst_port.to_be_bytes());
    l4.extend_from_slice(&20u16.to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00");
    l4
}

fn tcp_syn(dst_port: u16, data_offset: u8) -> Vec<u8> {
    let mut l4 = vec![0u8; tcp::HEADER_LEN];
    l4[0..2].copy_from_slice(&40001u16.to_be_bytes());
    l4[2..4].copy_from_slice(&dst_port.to_be_bytes());
    l4[12] = data_offset << 4;
    l4[13] = tcp::Flags::SYN;
    l4
}

fn fragment_header(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut header = [0u8; ipv6ext::FRAGMENT_HEADER_LEN];
    ipv6ext::Fragment {
        next_header: next,
        offset,
        more,
        ident: 0x4242,
    }
    .emit(&mut header)
    .unwrap();
    header.to_vec()
}

fn icmpv6_frame(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, repr: Icmpv6Repr) -> Vec<u8> {
    let mut message = vec![0u8; repr.buffer_len()];
    repr.emit(&mut message, src, dst).unwrap();
    ip6(src, dst, next_header::ICMPV6, hop_limit, &message)
}

fn solicit(target: Ipv6Addr, lladdr: Option<EthernetAddress>, hop_limit: u8) -> Vec<u8> {
    let repr = Icmpv6Repr::Ndisc(nd::Repr::NeighborSolicit {
        target,
        source_lladdr: lladdr,
    });
    icmpv6_frame(client(), nd::solicited_node(target), hop_limit, repr)
}

/// A DSR target's UDP answer from the VIP to the client, as the invoking packet of an error.
fn reply_from_vip() -> Vec<u8> {
    let frame = ip6(vip(), client(), next_header::UDP, 64, &udp(53, 40000));
    frame[ethernet::HEADER_LEN..].to_vec()
}

fn flow(protocol: u8, ports: Option<(u16, u16)>, fragment: Option<(u16, bool)>) -> Flow6 {
    Flow6 {
        protocol,
        src: client(),
        dst: vip(),
        ports: ports.map(|(src, dst)| Ports { src, dst }),
        fragment: fragment.map(|(offset, more)| Fragment6 {
            ident: 0x4242,
            offset,
            more,
        }),
        tcp_flags: None,
    }
}

fn cases() -> Vec<(&'static str, Vec<u8>, Verdict6)> {
    use DropReason::*;
    let udp_flow = flow(next_header::UDP, Some((40000, 53)), None);
    let mut syn_flow = flow(next_header::TCP, Some((40001, 53)), None);
    syn_flow.tcp_flags = Some(tcp::Flags(tcp::Flags::SYN));
    let mut behind_options = vec![next_header::UDP, 0, 1, 4, 0, 0, 0, 0];
    behind_options.extend_from_slice(&udp(40000, 53));
    let mut first = fragment_header(next_header::UDP, 0, true);
    first.extend_from_slice(&udp(40000, 53));
    let mut later = fragment_header(next_header::UDP, 1448, false);
    later.extend_from_slice(&[0xab; 16]);
    let mut short_first = fragment_header(next_header::UDP, 0, true);
    short_first.extend_from_slice(&[0x9c, 0x40, 0, 53]);
    let mut late_hop_by_hop = vec![next_header::HOP_BY_HOP, 0, 0, 0, 0, 0, 0, 0];
    late_hop_by_hop.extend_from_slice(&[next_header::UDP, 0, 0, 0, 0, 0, 0, 0]);
    let mut bad_udp_len = udp(40000, 53);
    bad_udp_len[4..6].copy_from_slice(&200u16.to_be_bytes());
    let mut bad_sum = solicit(vip(), Some(CLIENT_MAC), 255);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    let mut wrong_version = to_vip(next_header::UDP, &udp(40000, 53));
    wrong_version[ethernet::HEADER_LEN] = 0x40;
    let mut cut = to_vip(next_header::UDP, &udp(40000, 53));
    cut.truncate(cut.len() - 1);
    let reply = reply_from_vip();
    let too_big = Icmpv6Repr::PacketTooBig {
        mtu: 1280,
        invoking: &reply,
    };
    let echo = Icmpv6Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: b"ab",
    };
    let kernel_ns = nd_capture("ns");
    let keepalived_na = nd_capture("na");
    let keepalived_advert = frame(&crate::vrrp::tests_v6::KEEPALIVED_V6);
    let captured_too_big = hex(include_str!("../../testdata/packet_too_big.hex"));
    vec![
        (
            "udp to the service",
            to_vip(17, &udp(40000, 53)),
            Verdict6::ToVip(udp_flow),
        ),
        (
            "udp to another port",
            to_vip(17, &udp(40000, 80)),
            Verdict6::Other,
        ),
        (
            "udp to another address",
            ip6(client(), addr("fd00:1::9"), 17, 64, &udp(40000, 53)),
            Verdict6::Other,
        ),
        (
            "tcp syn",
            to_vip(6, &tcp_syn(53, 5)),
            Verdict6::ToVip(syn_flow),
        ),
        (
            "udp behind destination options",
            to_vip(next_header::DESTINATION_OPTIONS, &behind_options),
            Verdict6::ToVip(udp_flow),
        ),
        (
            "first fragment",
            to_vip(next_header::FRAGMENT, &first),
            Verdict6::ToVip(flow(17, Some((40000, 53)), Some((0, true)))),
        ),
        (
            "later fragment",
            to_vip(next_header::FRAGMENT, &later),
            Verdict6::ToVip(flow(17, None, Some((1448, false)))),
        ),
        (
            "later fragment elsewhere",
            ip6(
                client(),
                addr("fd00:1::9"),
                next_header::FRAGMENT,
                64,
                &later,
            ),
            Verdict6::Other,
        ),
        ("vrrp from keepalived", keepalived_advert, Verdict6::Vrrp),
        (
            "solicitation for the vip",
            solicit(vip(), Some(CLIENT_MAC), 255),
            Verdict6::NeighborSolicit {
                target: vip(),
                sender_ip: client(),
                sender_mac: CLIENT_MAC,
            },
        ),
        (
            "solicitation without a source option",
            solicit(addr("fd00:1::44"), None, 255),
            Verdict6::NeighborSolicit {
                target: addr("fd00:1::44"),
                sender_ip: client(),
                sender_mac: CLIENT_MAC,
            },
        ),
        (
            "kernel solicitation for another host",
            kernel_ns,
            Verdict6::Other,
        ),
        (
            "keepalived unsolicited advertisement",
            keepalived_na,
            Verdict6::NeighborAdvert {
                target: vip(),
                target_mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x43]),
                flags: nd::NeighborFlags {
                    router: false,
                    solicited: false,
                    override_: true,
                },
            },
        ),
        (
            "packet too big for a reply from the vip",
            icmpv6_frame(addr("fd00:9::1"), vip(), 64, too_big),
            Verdict6::Icmpv6Error(udp_flow),
        ),
        (
            "captured packet too big for another host",
            captured_too_big,
            Verdict6::Other,
        ),
        (
            "echo to the vip",
            icmpv6_frame(client(), vip(), 64, echo),
            Verdict6::Other,
        ),
        ("runt", vec![0u8; 13], Verdict6::Drop(Runt)),
        ("ipv6 cut short", cut, Verdict6::Drop(Ipv6Truncated)),
        (
            "version 4 on the ipv6 ethertype",
            wrong_version,
            Verdict6::Drop(Ipv6BadVersion),
        ),
        (
            "hop-by-hop after another header",
            to_vip(next_header::DESTINATION_OPTIONS, &late_hop_by_hop),
            Verdict6::Drop(Ipv6BadExtension),
        ),
        (
            "first fragment without a whole udp header",
            to_vip(next_header::FRAGMENT, &short_first),
            Verdict6::Drop(L4Truncated),
        ),
        (
            "udp length beyond the payload",
            to_vip(17, &bad_udp_len),
            Verdict6::Drop(UdpBadLength),
        ),
        (
            "tcp data offset below 5",
            to_vip(6, &tcp_syn(53, 4)),
            Verdict6::Drop(TcpBadHeaderLen),
        ),
        (
            "solicitation with hop limit 64",
            solicit(vip(), Some(CLIENT_MAC), 64),
            Verdict6::Drop(NdInvalid),
        ),
        (
            "solicitation with a bad checksum",
            bad_sum,
            Verdict6::Drop(NdInvalid),
        ),
        (
            "solicitation from a multicast mac",
            solicit(vip(), Some(EthernetAddress([0x33, 0x33, 0, 0, 0, 1])), 255),
            Verdict6::Drop(NdInvalid),
        ),
    ]
}

fn nd_capture(which: &str) -> Vec<u8> {
    match which {
        // The kernel's solicitation for fd00:1::1.
        "ns" => frame(&crate::nd::tests::KERNEL_SOLICIT),
        // keepalived's unsolicited advertisement for fd00:1::100 (target option 02:..:43).
        _ => frame(&crate::nd::tests::KEEPALIVED_UNSOLICITED),
    }
}

#[test]
fn table() {
    for (name, frame, expected) in cases() {
        assert_eq!(classify_ipv6(&frame, &Vips), expected, "{name}");
    }
}

#[test]
fn the_ipv4_classifier_leaves_ipv6_to_this_one() {
    for (name, frame, _) in cases().into_iter().filter(|(_, f, _)| f.len() >= 14) {
        assert_eq!(
            classify(&frame, &NoVips),
            crate::classify::Verdict::Other,
            "{name}"
        );
    }
    let arp = [0u8; 60];
    assert_eq!(classify_ipv6(&arp, &Vips), Verdict6::Other);
}

struct NoVips;

impl crate::classify::VipTable for NoVips {
    fn is_vip_addr(&self, _: std::net::Ipv4Addr) -> bool {
        false
    }
    fn is_vip_service(&self, _: std::net::Ipv4Addr, _: u8, _: u16) -> bool {
        false
    }
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..160)) {
        let mut frame = data.clone();
        if frame.len() >= 14 {
            frame[12] = 0x86;
            frame[13] = 0xdd;
        }
        let _ = classify_ipv6(&frame, &Vips);
        let _ = classify_ipv6(&data, &Vips);
    }
}
