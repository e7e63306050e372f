//! Fuzzes the IPv6, extension-header, ICMPv6 and Neighbor Discovery decoders with arbitrary
//! bytes read as an IPv6 packet, and the ICMPv6 decoder alone with the bytes as a message.
//! Beyond "no panic":
//! - whatever `ipv6::Repr::parse` accepts re-emits to the same 40 header bytes;
//! - the extension-header walk stays inside the payload, and the Fragment header of a
//!   non-first piece (where the walk stops) re-emits to its bytes (reserved fields aside);
//! - whatever `icmpv6::Repr::parse` accepts re-emits to a message whose checksum verifies and
//!   that parses to the same `Repr`; the checksum is compared only by verifying (0x0000 and
//!   0xffff are the same one's complement sum); echo and Parameter Problem re-emit byte for
//!   byte, Packet Too Big except its code (ignored on receipt), the other errors except their
//!   unused word, ND messages except reserved bits and options other than the one link-layer
//!   option;
//! - the IPv6 frame classifier's verdicts are justified by the bytes: `ToVip` only for a valid
//!   header to the VIP, `NeighborSolicit` only for a checked solicitation for the VIP with hop
//!   limit 255, `Vrrp` only for an upper layer of 112.
//!
//! Run: `cargo +nightly fuzz run ipv6 fuzz/seeds/ipv6`.

#![no_main]

use std::net::Ipv6Addr;

use fulcrum_wire::classify6::{classify_ipv6, Verdict6, Vip6Table};
use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::icmpv6::{self, Repr};
use fulcrum_wire::ipv6::{self, next_header};
use fulcrum_wire::{ipv6ext, nd};

const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x100);

struct Vips;

impl Vip6Table for Vips {
    fn is_vip6_addr(&self, addr: Ipv6Addr) -> bool {
        addr == VIP
    }
    fn is_vip6_service(&self, addr: Ipv6Addr, _protocol: u8, port: u16) -> bool {
        addr == VIP && port == 53
    }
}

fn check_classifier(packet: &[u8]) {
    let mut frame = vec![0u8; ethernet::HEADER_LEN + packet.len()];
    ethernet::Repr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 7]),
        dst_addr: EthernetAddress::vrrp_virtual_v6(7),
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
    .expect("room for the header");
    frame[ethernet::HEADER_LEN..].copy_from_slice(packet);
    let verdict = classify_ipv6(&frame, &Vips);
    let valid = || {
        let ip = ipv6::Packet::new_checked(packet).expect("a verdict needs a whole header");
        assert_eq!(ip.version(), 6);
        ip
    };
    match verdict {
        Verdict6::ToVip(flow) => {
            assert_eq!(flow.dst, VIP);
            assert_eq!(valid().dst_addr(), VIP);
            assert!(flow.ports.is_some() || flow.fragment.is_some_and(|f| f.offset != 0));
        }
        Verdict6::NeighborSolicit { target, .. } => {
            let ip = valid();
            assert_eq!((target, ip.hop_limit()), (VIP, nd::HOP_LIMIT));
        }
        Verdict6::Vrrp => {
            let upper = ipv6ext::upper_layer(&valid()).expect("a walkable chain");
            assert_eq!(upper.protocol, next_header::VRRP);
        }
        Verdict6::Icmpv6Error(flow) => assert_eq!(flow.dst, VIP),
        _ => {}
    }
}
use libfuzzer_sys::fuzz_target;

fn check_icmpv6(message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let Ok(packet) = icmpv6::Packet::new_checked(message) else {
        return;
    };
    let _ = (packet.body(), packet.mtu(), packet.is_error());
    let Ok(repr) = Repr::parse(&packet, src, dst) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    let emitted = repr.emit(&mut out, src, dst);
    if let Err(error) = emitted {
        // Only an error message beyond the minimum MTU may be refused.
        assert!(packet.is_error() && message.len() > icmpv6::MAX_ERROR_LEN, "{error:?}");
        return;
    }
    let again = icmpv6::Packet::new_checked(&out[..]).expect("emitted header");
    assert!(again.verify_checksum(src, dst), "emitted checksum verifies");
    assert_eq!(Repr::parse(&again, src, dst), Ok(repr));
    match repr {
        Repr::EchoRequest { .. } | Repr::EchoReply { .. } | Repr::ParamProblem { .. } => {
            assert_eq!(out[..2], message[..2]);
            assert_eq!(out[4..], message[4..]);
        }
        Repr::PacketTooBig { .. } => {
            // The code is zero on sending and ignored on receipt (RFC 4443 §3.2).
            assert_eq!(out[0], message[0]);
            assert_eq!(out[4..], message[4..]);
        }
        Repr::DstUnreachable { .. } | Repr::TimeExceeded { .. } => {
            assert_eq!(out[..2], message[..2]);
            assert_eq!(out[8..], message[8..]);
        }
        Repr::Ndisc(nd_repr) => {
            assert_eq!(out[..2], message[..2]);
            assert_eq!(out[8..nd::BODY_LEN], message[8..nd::BODY_LEN]);
            if let nd::Repr::NeighborAdvert { .. } = nd_repr {
                assert_eq!(out[4] & 0xe0, message[4] & 0xe0, "R, S and O flags kept");
            }
            if message.len() == out.len() && out.len() > nd::BODY_LEN {
                // A message with exactly one option of the link-layer kind keeps its bytes.
                if message[nd::BODY_LEN] == out[nd::BODY_LEN] && message[nd::BODY_LEN + 1] == 1 {
                    assert_eq!(out[nd::BODY_LEN..], message[nd::BODY_LEN..]);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_icmpv6(data, "fe80::1".parse().unwrap(), nd::ALL_NODES);
    check_classifier(data);

    let Ok(packet) = ipv6::Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = ipv6::Repr::parse(&packet) else {
        return;
    };
    let mut header = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut header[..]))
        .expect("a parsed header re-emits");
    assert_eq!(header[..ipv6::HEADER_LEN], data[..ipv6::HEADER_LEN]);

    let payload = packet.payload();
    let Ok(upper) = ipv6ext::upper_layer(&packet) else {
        return;
    };
    assert!(upper.offset <= payload.len());
    if let Some(fragment) = upper.fragment.filter(|f| f.offset != 0) {
        // A non-first piece: the walk stopped right after its Fragment header.
        let at = upper.offset - ipv6ext::FRAGMENT_HEADER_LEN;
        let mut out = [0u8; ipv6ext::FRAGMENT_HEADER_LEN];
        fragment.emit(&mut out).expect("a parsed fragment re-emits");
        assert_eq!(out[0], payload[at]);
        assert_eq!(out[2], payload[at + 2]);
        assert_eq!(out[3] & 0xf9, payload[at + 3] & 0xf9);
        assert_eq!(out[4..], payload[at + 4..at + 8]);
        return;
    }
    if upper.protocol == next_header::ICMPV6 {
        check_icmpv6(&payload[upper.offset..], packet.src_addr(), packet.dst_addr());
    }
});
