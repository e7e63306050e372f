//! Golden bytes captured with tcpdump between lab namespaces (Linux 6.x, iputils ping): an echo
//! request from fd00:1::a and the kernel's reply; the errors a Linux router namespace (fd00:1::1,
//! forwarding to a 1280-byte-MTU link) sent back: Packet Too Big for `ping -6 -s 1400 -M do`,
//! Time Exceeded for `ping -6 -t 1`, and the Port Unreachable of a host for a UDP datagram to
//! port 9 (`testdata/*.hex`, whole Ethernet frames).

use super::*;
use crate::ipv6::tests::{addr, PING6_REPLY, PING6_REQUEST};
use crate::ipv6ext::tests::hex;
use proptest::prelude::*;

/// The IPv6 source, destination and ICMPv6 message of a captured frame.
fn split(frame: &[u8]) -> (Ipv6Addr, Ipv6Addr, Vec<u8>) {
    let packet = ipv6::Packet::new_checked(&frame[crate::ethernet::HEADER_LEN..]).unwrap();
    assert_eq!(packet.next_header(), next_header::ICMPV6);
    (
        packet.src_addr(),
        packet.dst_addr(),
        packet.payload().to_vec(),
    )
}

fn captured(name: &str) -> Vec<u8> {
    hex(match name {
        "too_big" => include_str!("../../testdata/packet_too_big.hex"),
        "time" => include_str!("../../testdata/time_exceeded.hex"),
        _ => include_str!("../../testdata/port_unreachable.hex"),
    })
}

#[test]
fn captured_echo_both_ways() {
    let data: &[u8] = &[0x61, 0x62, 0x00, 0x00];
    for (bytes, expected) in [
        (
            PING6_REQUEST,
            Repr::EchoRequest {
                ident: 0x67a6,
                seq_no: 1,
                data,
            },
        ),
        (
            PING6_REPLY,
            Repr::EchoReply {
                ident: 0x67a6,
                seq_no: 1,
                data,
            },
        ),
    ] {
        let ip = ipv6::Packet::new_checked(&bytes[..]).unwrap();
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let packet = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(Repr::parse(&packet, src, dst).unwrap(), expected);
        let mut buf = [0u8; 12];
        assert_eq!(expected.emit(&mut buf, src, dst), Ok(12));
        assert_eq!(&buf[..], ip.payload());
        // The pseudo-header counts: the same bytes between other addresses do not verify.
        let other = addr("fd00:1::b");
        assert_eq!(Repr::parse(&packet, other, dst), Err(WireError::Checksum));
    }
}

#[test]
fn captured_errors_both_ways() {
    let (src, dst, too_big) = split(&captured("too_big"));
    let (_, _, time) = split(&captured("time"));
    let (unreach_src, unreach_dst, unreachable) = split(&captured("port"));
    assert_eq!((src, dst), (addr("fd00:1::1"), addr("fd00:1::a")));
    assert_eq!(too_big.len(), MAX_ERROR_LEN);

    let repr = Repr::parse(&Packet::new_checked(&too_big[..]).unwrap(), src, dst).unwrap();
    let Repr::PacketTooBig { mtu, invoking } = repr else {
        panic!("not Packet Too Big: {repr:?}");
    };
    assert_eq!(mtu, 1280);
    let echo_to = (addr("fd00:1::a"), addr("fd00:2::b"), next_header::ICMPV6);
    assert_eq!(invoking_header(invoking), Some(echo_to));

    let repr = Repr::parse(&Packet::new_checked(&time[..]).unwrap(), src, dst).unwrap();
    let Repr::TimeExceeded { code: 0, invoking } = repr else {
        panic!("not hop limit exceeded: {repr:?}");
    };
    assert_eq!(invoking_header(invoking), Some(echo_to));

    let packet = Packet::new_checked(&unreachable[..]).unwrap();
    let repr = Repr::parse(&packet, unreach_src, unreach_dst).unwrap();
    let Repr::DstUnreachable { code: 4, invoking } = repr else {
        panic!("not port unreachable: {repr:?}");
    };
    let udp_to = (addr("fd00:1::a"), addr("fd00:1::1"), next_header::UDP);
    assert_eq!(invoking_header(invoking), Some(udp_to));
    assert!(packet.is_error());

    for (message, from, to) in [
        (&too_big, src, dst),
        (&time, src, dst),
        (&unreachable, unreach_src, unreach_dst),
    ] {
        let repr = Repr::parse(&Packet::new_checked(&message[..]).unwrap(), from, to).unwrap();
        let mut buf = vec![0u8; repr.buffer_len()];
        assert_eq!(repr.emit(&mut buf, from, to), Ok(message.len()));
        assert_eq!(&buf, message);
    }
}

#[test]
fn negative_cases() {
    let message = &PING6_REQUEST[40..];
    let (src, dst) = (addr("fd00:1::a"), addr("fd00:1::1"));
    for len in 0..HEADER_LEN {
        assert_eq!(
            Packet::new_checked(&message[..len]).err(),
            Some(WireError::Truncated)
        );
    }
    for at in 0..message.len() {
        let mut flipped = message.to_vec();
        flipped[at] ^= 0x01;
        let packet = Packet::new_checked(&flipped[..]).unwrap();
        assert!(Repr::parse(&packet, src, dst).is_err(), "byte {at}");
    }
    // A Router Advertisement (134) with a good checksum is not ours to read.
    let mut advert = vec![134u8, 0, 0, 0, 64, 0, 0, 0];
    let sum = checksum::checksum_v6(src, dst, next_header::ICMPV6, &advert);
    advert[2..4].copy_from_slice(&sum.to_be_bytes());
    let packet = Packet::new_checked(&advert[..]).unwrap();
    assert_eq!(Repr::parse(&packet, src, dst), Err(WireError::Unsupported));
    // An invoking packet shorter than an IPv6 header, or not IPv6, has no header to read.
    assert_eq!(invoking_header(&PING6_REQUEST[..39]), None);
    let mut v4 = PING6_REQUEST;
    v4[0] = 0x45;
    assert_eq!(invoking_header(&v4), None);
}

#[test]
fn emit_refuses_errors_beyond_the_minimum_mtu() {
    let invoking = [0u8; MAX_ERROR_LEN - HEADER_LEN + 1];
    let repr = Repr::PacketTooBig {
        mtu: 1280,
        invoking: &invoking,
    };
    let mut buf = vec![0u8; 2000];
    let (src, dst) = (addr("fd00:1::1"), addr("fd00:1::a"));
    assert_eq!(repr.emit(&mut buf, src, dst), Err(WireError::Malformed));
    let fits = Repr::PacketTooBig {
        mtu: 1280,
        invoking: &invoking[1..],
    };
    assert_eq!(fits.emit(&mut buf, src, dst), Ok(MAX_ERROR_LEN));
    assert_eq!(
        fits.emit(&mut buf[..100], src, dst),
        Err(WireError::Truncated)
    );
}

fn arb_case() -> impl Strategy<Value = (u8, u8, u32, Vec<u8>)> {
    (
        prop_oneof![
            Just(TYPE_ECHO_REQUEST),
            Just(TYPE_ECHO_REPLY),
            Just(TYPE_DST_UNREACHABLE),
            Just(TYPE_PACKET_TOO_BIG),
            Just(TYPE_TIME_EXCEEDED),
            Just(TYPE_PARAM_PROBLEM)
        ],
        any::<u8>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..96),
    )
}

fn build(msg_type: u8, code: u8, word: u32, data: &[u8]) -> Repr<'_> {
    let (ident, seq_no) = ((word >> 16) as u16, word as u16);
    match msg_type {
        TYPE_ECHO_REQUEST => Repr::EchoRequest {
            ident,
            seq_no,
            data,
        },
        TYPE_ECHO_REPLY => Repr::EchoReply {
            ident,
            seq_no,
            data,
        },
        TYPE_DST_UNREACHABLE => Repr::DstUnreachable {
            code,
            invoking: data,
        },
        TYPE_PACKET_TOO_BIG => Repr::PacketTooBig {
            mtu: word,
            invoking: data,
        },
        TYPE_TIME_EXCEEDED => Repr::TimeExceeded {
            code,
            invoking: data,
        },
        _ => Repr::ParamProblem {
            code,
            pointer: word,
            invoking: data,
        },
    }
}

proptest! {
    #[test]
    fn round_trip((msg_type, code, word, data) in arb_case(), src in any::<[u8; 16]>(),
                  dst in any::<[u8; 16]>()) {
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let repr = build(msg_type, code, word, &data);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, src, dst).unwrap();
        let packet = Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum(src, dst));
        prop_assert_eq!(Repr::parse(&packet, src, dst).unwrap(), repr);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(packet) = Packet::new_checked(&data[..]) {
            let _ = (packet.body(), packet.mtu(), packet.is_error());
            let _ = Repr::parse(&packet, Ipv6Addr::UNSPECIFIED, nd::ALL_NODES);
            let _ = invoking_header(packet.body());
        }
    }
}
