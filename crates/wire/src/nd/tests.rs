//! Golden bytes captured with tcpdump between lab namespaces: the kernel's (Linux 6.x) Neighbor
//! Solicitation for fd00:1::1 from fd00:1::a and the solicited Advertisement it got back; and
//! keepalived 2.2.7's unsolicited Advertisement for its IPv6 VIP fd00:1::100 on becoming master.

use super::*;
use crate::icmpv6::{self, Packet, Repr as Icmpv6Repr};
use crate::ipv6::tests::addr;
use proptest::prelude::*;

/// IPv6 packet: fd00:1::a -> ff02::1:ff00:1, who has fd00:1::1, source 02:00:00:00:00:0a.
pub(crate) const KERNEL_SOLICIT: [u8; 72] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87, 0x00, 0x7d, 0x85, 0x00, 0x00, 0x00, 0x00,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
];
/// fd00:1::1 (a forwarding namespace, so a router) -> fd00:1::a: router, solicited, override,
/// target 02:00:00:00:00:01.
const KERNEL_ADVERT: [u8; 72] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x88, 0x00, 0x9c, 0x90, 0xe0, 0x00, 0x00, 0x00,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
];
/// keepalived: fd00:1::100 -> ff02::1, override only, target 02:00:00:00:00:43.
pub(crate) const KEEPALIVED_UNSOLICITED: [u8; 72] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00, 0x58, 0x59, 0x20, 0x00, 0x00, 0x00,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x43,
];

fn mac(last: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, last])
}

fn golden() -> Vec<(&'static str, [u8; 72], Repr)> {
    vec![
        (
            "kernel solicitation",
            KERNEL_SOLICIT,
            Repr::NeighborSolicit {
                target: addr("fd00:1::1"),
                source_lladdr: Some(mac(0x0a)),
            },
        ),
        (
            "kernel advertisement",
            KERNEL_ADVERT,
            Repr::NeighborAdvert {
                flags: NeighborFlags {
                    router: true,
                    solicited: true,
                    override_: true,
                },
                target: addr("fd00:1::1"),
                target_lladdr: Some(mac(0x01)),
            },
        ),
        (
            "keepalived unsolicited advertisement",
            KEEPALIVED_UNSOLICITED,
            Repr::NeighborAdvert {
                flags: NeighborFlags {
                    router: false,
                    solicited: false,
                    override_: true,
                },
                target: addr("fd00:1::100"),
                target_lladdr: Some(mac(0x43)),
            },
        ),
    ]
}

#[test]
fn captured_both_ways() {
    for (name, bytes, expected) in golden() {
        let ip = crate::ipv6::Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(ip.hop_limit(), HOP_LIMIT, "{name}");
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let packet = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(
            Icmpv6Repr::parse(&packet, src, dst),
            Ok(Icmpv6Repr::Ndisc(expected)),
            "{name}"
        );
        let mut buf = [0u8; 32];
        assert_eq!(
            Icmpv6Repr::Ndisc(expected).emit(&mut buf, src, dst),
            Ok(32),
            "{name}"
        );
        assert_eq!(&buf[..], ip.payload(), "{name}");
    }
}

#[test]
fn solicited_node_group_and_mac() {
    // The kernel sent its solicitation for fd00:1::1 to ff02::1:ff00:1 at 33:33:ff:00:00:01.
    assert_eq!(solicited_node(addr("fd00:1::1")), addr("ff02::1:ff00:1"));
    assert_eq!(
        solicited_node_mac(addr("fd00:1::1")),
        EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1])
    );
    assert_eq!(
        solicited_node(addr("2001:db8::abcd:ef12:3456")),
        addr("ff02::1:ff12:3456")
    );
}

fn reparse(message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> crate::Result<Icmpv6Repr<'_>> {
    Icmpv6Repr::parse(&Packet::new_checked(message)?, src, dst)
}

/// `message` with its checksum recomputed for `src` -> `dst`.
fn resum(mut message: Vec<u8>, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    message[2..4].fill(0);
    let sum = crate::checksum::checksum_v6(src, dst, 58, &message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    message
}

#[test]
fn negative_cases() {
    let (src, dst) = (addr("fd00:1::a"), addr("ff02::1:ff00:1"));
    let body = KERNEL_SOLICIT[40..].to_vec();
    // Shorter than 24 bytes.
    for len in icmpv6::HEADER_LEN..BODY_LEN {
        let short = resum(body[..len].to_vec(), src, dst);
        assert_eq!(
            reparse(&short, src, dst),
            Err(WireError::Truncated),
            "{len}"
        );
    }
    // An option cut short, or of length zero.
    let cut = resum(body[..30].to_vec(), src, dst);
    assert_eq!(reparse(&cut, src, dst), Err(WireError::Truncated));
    let mut zero = body.clone();
    zero[25] = 0;
    assert_eq!(
        reparse(&resum(zero, src, dst), src, dst),
        Err(WireError::Malformed)
    );
    let mut one_byte = body.clone();
    one_byte.push(1);
    assert_eq!(
        reparse(&resum(one_byte, src, dst), src, dst),
        Err(WireError::Truncated)
    );
    // Code other than zero; multicast target.
    let mut code = body.clone();
    code[1] = 1;
    assert_eq!(
        reparse(&resum(code, src, dst), src, dst),
        Err(WireError::Malformed)
    );
    let mut group = body.clone();
    group[8] = 0xff;
    assert_eq!(
        reparse(&resum(group, src, dst), src, dst),
        Err(WireError::Malformed)
    );
    // Duplicate address detection comes from :: and must not carry a source address option.
    let any = Ipv6Addr::UNSPECIFIED;
    let dad = resum(body.clone(), any, dst);
    assert_eq!(reparse(&dad, any, dst), Err(WireError::Malformed));
    let dad = resum(body[..24].to_vec(), any, dst);
    assert!(reparse(&dad, any, dst).is_ok());
    // A solicited advertisement to a group.
    let solicited = resum(KERNEL_ADVERT[40..].to_vec(), src, nd_all_nodes());
    assert_eq!(
        reparse(&solicited, src, nd_all_nodes()),
        Err(WireError::Malformed)
    );
    // Unknown options and link-layer options of another length are skipped.
    let mut extra = body[..24].to_vec();
    extra.extend_from_slice(&[14, 1, 0, 0, 0, 0, 0, 0]);
    extra.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    extra.extend_from_slice(&body[24..]);
    let extra = resum(extra, src, dst);
    assert_eq!(
        reparse(&extra, src, dst),
        Ok(Icmpv6Repr::Ndisc(Repr::NeighborSolicit {
            target: addr("fd00:1::1"),
            source_lladdr: Some(mac(0x0a)),
        }))
    );
}

fn nd_all_nodes() -> Ipv6Addr {
    ALL_NODES
}

fn arb_repr() -> impl Strategy<Value = Repr> {
    let target = any::<[u8; 16]>().prop_map(|mut o| {
        o[0] &= 0xfe; // never multicast
        Ipv6Addr::from(o)
    });
    let lladdr = proptest::option::of(any::<[u8; 6]>().prop_map(EthernetAddress));
    prop_oneof![
        (target.clone(), lladdr.clone()).prop_map(|(target, source_lladdr)| {
            Repr::NeighborSolicit {
                target,
                source_lladdr,
            }
        }),
        (target, lladdr, any::<(bool, bool, bool)>()).prop_map(|(target, target_lladdr, f)| {
            Repr::NeighborAdvert {
                flags: NeighborFlags {
                    router: f.0,
                    solicited: f.1,
                    override_: f.2,
                },
                target,
                target_lladdr,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn round_trip(repr in arb_repr(), src in any::<[u8; 16]>()) {
        let (src, dst) = (Ipv6Addr::from(src), addr("fd00:1::a"));
        let message = Icmpv6Repr::Ndisc(repr);
        let mut buf = vec![0u8; message.buffer_len()];
        prop_assert_eq!(message.emit(&mut buf, src, dst), Ok(buf.len()));
        let parsed = reparse(&buf, src, dst);
        match repr {
            Repr::NeighborSolicit { source_lladdr: Some(_), .. } if src.is_unspecified() => {
                prop_assert_eq!(parsed, Err(WireError::Malformed));
            }
            _ => prop_assert_eq!(parsed, Ok(message)),
        }
    }
}
