//! Table-driven, in the spirit of katran's fixtures: a frame in, a verdict out, one row per
//! case, covering every verdict and every drop reason.

use super::*;
use proptest::prelude::*;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
const NODE: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x07]);

/// VIP 10.235.210.1 serves UDP and TCP port 53.
struct Vips;

impl VipTable for Vips {
    fn is_vip_addr(&self, addr: Ipv4Addr) -> bool {
        addr == VIP
    }
    fn is_vip_service(&self, addr: Ipv4Addr, protocol: u8, port: u16) -> bool {
        addr == VIP && port == 53 && (protocol == protocol::UDP || protocol == protocol::TCP)
    }
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; ethernet::HEADER_LEN + payload.len()];
    let repr = ethernet::Repr {
        src_addr: CLIENT_MAC,
        dst_addr: EthernetAddress::vrrp_virtual(7),
        ethertype: EtherType::from(ethertype),
    };
    repr.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
        .unwrap();
    frame[ethernet::HEADER_LEN..].copy_from_slice(payload);
    frame
}

fn ip_frag(proto: u8, dst: Ipv4Addr, l4: &[u8], more: bool, offset: u16) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: CLIENT,
        dst_addr: dst,
        protocol: proto,
        payload_len: l4.len(),
        ttl: 64,
        tos: 0,
        ident: 0x4242,
        dont_frag: false,
        more_frags: more,
        frag_offset: offset,
    };
    let mut packet = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut packet[..]))
        .unwrap();
    packet[ipv4::HEADER_LEN..].copy_from_slice(l4);
    eth(0x0800, &packet)
}

fn ip(proto: u8, dst: Ipv4Addr, l4: &[u8]) -> Vec<u8> {
    ip_frag(proto, dst, l4, false, 0)
}

fn udp(dst: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; udp::Repr::buffer_len(payload.len())];
    udp::Repr {
        src_port: 40000,
        dst_port: port,
    }
    .emit(&mut l4, CLIENT, dst, payload)
    .unwrap();
    l4
}

fn tcp_syn(port: u16) -> Vec<u8> {
    let repr = tcp::Repr {
        src_port: 40001,
        dst_port: port,
        seq_number: 1,
        ack_number: 0,
        flags: tcp::Flags(tcp::Flags::SYN),
        window: 1024,
    };
    let mut l4 = vec![0u8; tcp::HEADER_LEN];
    repr.emit(&mut l4, CLIENT, VIP, &[]).unwrap();
    l4
}

fn arp_frame(operation: arp::Operation, sender: EthernetAddress, target_ip: Ipv4Addr) -> Vec<u8> {
    let repr = arp::Repr {
        operation,
        source_hardware_addr: sender,
        source_protocol_addr: CLIENT,
        target_hardware_addr: EthernetAddress::default(),
        target_protocol_addr: target_ip,
    };
    let mut body = [0u8; arp::ETHERNET_IPV4_LEN];
    repr.emit(&mut arp::Packet::new_unchecked(&mut body[..]))
        .unwrap();
    eth(0x0806, &body)
}

/// Overwrite bytes of the frame (offsets from the frame start) and refresh the IPv4 header
/// checksum, so that only the intended defect remains.
fn patch(mut frame: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    for &(at, value) in edits {
        frame[at] = value;
    }
    let ip = &mut frame[ethernet::HEADER_LEN..];
    if ip.len() >= ipv4::HEADER_LEN {
        let header_len = usize::from(ip[0] & 0x0f) * 4;
        if (ipv4::HEADER_LEN..=ip.len()).contains(&header_len) {
            ip[10..12].fill(0);
            let sum = crate::checksum::checksum(&ip[..header_len]);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
        }
    }
    frame
}

const E: usize = ethernet::HEADER_LEN;
const L4: usize = E + ipv4::HEADER_LEN;

fn flow(protocol: u8, ports: Option<(u16, u16)>, fragment: Option<(u16, bool)>) -> Verdict {
    let syn = protocol == protocol::TCP && ports.is_some();
    Verdict::ToVip(Flow {
        protocol,
        src: CLIENT,
        dst: VIP,
        ports: ports.map(|(src, dst)| Ports { src, dst }),
        fragment: fragment.map(|(offset, more)| Fragment {
            ident: 0x4242,
            offset,
            more,
        }),
        // Every TCP segment of the table with ports is a SYN.
        tcp_flags: syn.then_some(tcp::Flags(tcp::Flags::SYN)),
    })
}

fn cases() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    use DropReason::*;
    let query = udp(VIP, 53, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00");
    let dns = ip(protocol::UDP, VIP, &query);
    let mut padded = dns.clone();
    padded.resize(80, 0);
    let keepalived_advert = {
        let v = [
            0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xfd, 0x83, 0x0a, 0xeb,
            0xd2, 0x2b, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x07, 0xc8, 0x01, 0x00, 0x0a, 0x6c, 0x5a,
            0x0a, 0xeb, 0xd2, 0x01,
        ];
        eth(0x0800, &v)
    };
    let with_options = {
        // IHL 6: one 4-byte option (NOPs and EOL) before the UDP header.
        let mut l = dns.clone();
        l.splice(L4..L4, [1, 1, 1, 0]);
        let total = u16::try_from(l.len() - E).unwrap();
        l[E + 2..E + 4].copy_from_slice(&total.to_be_bytes());
        patch(l, &[(E, 0x46)])
    };
    vec![
        // Ethernet.
        ("empty", vec![], Verdict::Drop(Runt)),
        ("13 bytes", dns[..13].to_vec(), Verdict::Drop(Runt)),
        ("ipv6", eth(0x86dd, &[0x60; 40]), Verdict::Other),
        ("vlan tagged", eth(0x8100, &[0; 46]), Verdict::Other),
        // ARP.
        (
            "arp who-has vip",
            arp_frame(arp::Operation::Request, CLIENT_MAC, VIP),
            Verdict::ArpRequest {
                target: VIP,
                sender_ip: CLIENT,
                sender_mac: CLIENT_MAC,
            },
        ),
        (
            "arp who-has node",
            arp_frame(arp::Operation::Request, CLIENT_MAC, NODE),
            Verdict::Other,
        ),
        (
            "arp reply",
            arp_frame(arp::Operation::Reply, CLIENT_MAC, NODE),
            Verdict::ArpReply {
                sender_ip: CLIENT,
                sender_mac: CLIENT_MAC,
            },
        ),
        (
            "arp truncated",
            arp_frame(arp::Operation::Request, CLIENT_MAC, VIP)[..E + 27].to_vec(),
            Verdict::Drop(ArpMalformed),
        ),
        (
            "arp 7 bytes",
            eth(0x0806, &[0, 1, 8, 0, 6, 4, 0]),
            Verdict::Drop(ArpMalformed),
        ),
        (
            "arp token ring",
            patch(
                arp_frame(arp::Operation::Request, CLIENT_MAC, VIP),
                &[(E + 1, 6)],
            ),
            Verdict::Drop(ArpUnsupported),
        ),
        (
            "arp ipv4 with 16-byte addresses",
            eth(
                0x0806,
                &[[0, 1, 8, 0, 6, 16, 0, 1].as_slice(), &[0; 44]].concat(),
            ),
            Verdict::Drop(ArpUnsupported),
        ),
        (
            "arp operation 9",
            patch(
                arp_frame(arp::Operation::Request, CLIENT_MAC, VIP),
                &[(E + 7, 9)],
            ),
            Verdict::Drop(ArpMalformed),
        ),
        (
            "arp from broadcast",
            arp_frame(arp::Operation::Request, EthernetAddress::BROADCAST, VIP),
            Verdict::Drop(ArpBadSender),
        ),
        // IPv4 to the VIP.
        (
            "dns query",
            dns.clone(),
            flow(protocol::UDP, Some((40000, 53)), None),
        ),
        (
            "dns query with ethernet padding",
            padded,
            flow(protocol::UDP, Some((40000, 53)), None),
        ),
        (
            "dns query with ip options",
            with_options,
            flow(protocol::UDP, Some((40000, 53)), None),
        ),
        (
            "tcp syn",
            ip(protocol::TCP, VIP, &tcp_syn(53)),
            flow(protocol::TCP, Some((40001, 53)), None),
        ),
        (
            "udp to another port",
            ip(protocol::UDP, VIP, &udp(VIP, 54, b"x")),
            Verdict::Other,
        ),
        (
            "tcp to another port",
            ip(protocol::TCP, VIP, &tcp_syn(22)),
            Verdict::Other,
        ),
        (
            "udp to the node",
            ip(protocol::UDP, NODE, &udp(NODE, 53, b"x")),
            Verdict::Other,
        ),
        (
            "icmp to the vip",
            ip(protocol::ICMP, VIP, &[8, 0, 0xf7, 0xff, 0, 0, 0, 0]),
            Verdict::Other,
        ),
        ("vrrp advert", keepalived_advert, Verdict::Vrrp),
        // Fragments.
        (
            "first fragment",
            ip_frag(protocol::UDP, VIP, &udp(VIP, 53, &[0; 64])[..24], true, 0),
            flow(protocol::UDP, Some((40000, 53)), Some((0, true))),
        ),
        (
            "middle fragment",
            ip_frag(protocol::UDP, VIP, &[0; 16], true, 1480),
            flow(protocol::UDP, None, Some((1480, true))),
        ),
        (
            "last fragment",
            ip_frag(protocol::TCP, VIP, &[0; 16], false, 2960),
            flow(protocol::TCP, None, Some((2960, false))),
        ),
        (
            "fragment to the node",
            ip_frag(protocol::UDP, NODE, &[0; 16], false, 8),
            Verdict::Other,
        ),
        (
            "tiny first fragment",
            ip_frag(protocol::TCP, VIP, &tcp_syn(53)[..8], true, 0),
            Verdict::Drop(L4Truncated),
        ),
        // Broken IPv4.
        (
            "ip 19 bytes",
            eth(0x0800, &dns[E..E + 19]),
            Verdict::Drop(IpTruncated),
        ),
        (
            "ip version 6",
            patch(dns.clone(), &[(E, 0x65)]),
            Verdict::Drop(IpBadVersion),
        ),
        (
            "ihl 4",
            patch(dns.clone(), &[(E, 0x44)]),
            Verdict::Drop(IpBadHeaderLen),
        ),
        (
            "ihl 0",
            patch(dns.clone(), &[(E, 0x40)]),
            Verdict::Drop(IpBadHeaderLen),
        ),
        (
            "ihl beyond total length",
            patch(dns.clone(), &[(E, 0x4f), (E + 2, 0), (E + 3, 40)]),
            Verdict::Drop(IpBadHeaderLen),
        ),
        (
            "total length below ihl",
            patch(dns.clone(), &[(E + 2, 0), (E + 3, 19)]),
            Verdict::Drop(IpBadHeaderLen),
        ),
        (
            "total length beyond frame",
            patch(dns.clone(), &[(E + 2, 0x05), (E + 3, 0xdc)]),
            Verdict::Drop(IpTruncated),
        ),
        (
            "bad header checksum",
            {
                let mut f = dns.clone();
                f[E + 10] ^= 0xff;
                f
            },
            Verdict::Drop(IpBadChecksum),
        ),
        // Broken transport headers to the VIP.
        (
            "udp 4 bytes",
            ip(protocol::UDP, VIP, &[0x9c, 0x40, 0, 53]),
            Verdict::Drop(L4Truncated),
        ),
        (
            "udp length 7",
            patch(dns.clone(), &[(L4 + 4, 0), (L4 + 5, 7)]),
            Verdict::Drop(UdpBadLength),
        ),
        (
            "udp length beyond ip",
            patch(dns.clone(), &[(L4 + 4, 0x01), (L4 + 5, 0)]),
            Verdict::Drop(UdpBadLength),
        ),
        (
            "tcp 12 bytes",
            ip(protocol::TCP, VIP, &tcp_syn(53)[..12]),
            Verdict::Drop(L4Truncated),
        ),
        (
            "tcp data offset 4",
            ip(protocol::TCP, VIP, &{
                let mut t = tcp_syn(53);
                t[12] = 0x40;
                t
            }),
            Verdict::Drop(TcpBadHeaderLen),
        ),
        (
            "tcp data offset 15",
            ip(protocol::TCP, VIP, &{
                let mut t = tcp_syn(53);
                t[12] = 0xf0;
                t
            }),
            Verdict::Drop(L4Truncated),
        ),
    ]
}

#[test]
fn verdicts() {
    let mut counters = DropCounters::default();
    for (name, frame, expected) in cases() {
        let verdict = classify(&frame, &Vips);
        assert_eq!(verdict, expected, "{name}");
        if let Verdict::Drop(reason) = verdict {
            counters.count(reason);
        }
    }
    // The IPv6 reasons are covered by the IPv6 classifier's table (`classify6/tests.rs`).
    let ipv6_only = [
        DropReason::Ipv6Truncated,
        DropReason::Ipv6BadVersion,
        DropReason::Ipv6BadExtension,
        DropReason::NdInvalid,
    ];
    for reason in DropReason::ALL
        .into_iter()
        .filter(|r| !ipv6_only.contains(r))
    {
        assert!(
            counters.get(reason) > 0,
            "no case drops for {}",
            reason.name()
        );
    }
}

#[test]
fn every_truncation_of_a_good_frame_is_dropped_or_left_alone() {
    for (name, frame, expected) in cases() {
        if !matches!(expected, Verdict::ToVip(_) | Verdict::ArpRequest { .. }) {
            continue;
        }
        for len in 0..frame.len() {
            let verdict = classify(&frame[..len], &Vips);
            assert!(
                matches!(
                    verdict,
                    Verdict::Drop(_) | Verdict::Other | Verdict::ToVip(_)
                ),
                "{name} cut at {len}: {verdict:?}"
            );
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = classify(&data, &Vips);
    }

    #[test]
    fn mutated_good_frames_never_panic_and_vip_verdicts_are_consistent(
        index in 0usize..64, at in 0usize..80, value in any::<u8>()
    ) {
        let all = cases();
        let (_, mut frame, _) = all[index % all.len()].clone();
        if let Some(byte) = frame.get_mut(at) {
            *byte = value;
        }
        if let Verdict::ToVip(flow) = classify(&frame, &Vips) {
            prop_assert_eq!(flow.dst, VIP);
            prop_assert!(flow.ports.is_some() || flow.fragment.is_some_and(|f| f.offset != 0));
        }
    }
}
