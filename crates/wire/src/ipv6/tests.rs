//! Golden bytes captured with tcpdump on a veth link between two lab namespaces (Linux 6.x,
//! iputils `ping -6 -c1 -s 4 -p 6162 fd00:1::1` from fd00:1::a), and the kernel's reply.

use super::*;
use proptest::prelude::*;

/// The echo request: IPv6 header and the 12-byte ICMPv6 message.
pub(crate) const PING6_REQUEST: [u8; 52] = [
    0x60, 0x0e, 0xd4, 0xae, 0x00, 0x0c, 0x3a, 0x40, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0xbc, 0xa0, 0x67, 0xa6, 0x00, 0x01,
    0x61, 0x62, 0x00, 0x00,
];
/// The kernel's echo reply.
pub(crate) const PING6_REPLY: [u8; 52] = [
    0x60, 0x04, 0x4b, 0x8f, 0x00, 0x0c, 0x3a, 0x40, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x81, 0x00, 0xbb, 0xa0, 0x67, 0xa6, 0x00, 0x01,
    0x61, 0x62, 0x00, 0x00,
];

pub(crate) fn addr(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn request_repr() -> Repr {
    Repr {
        src_addr: addr("fd00:1::a"),
        dst_addr: addr("fd00:1::1"),
        next_header: next_header::ICMPV6,
        payload_len: 12,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0xed4ae,
    }
}

#[test]
fn parses_golden_bytes() {
    let packet = Packet::new_checked(&PING6_REQUEST[..]).unwrap();
    assert_eq!(Repr::parse(&packet).unwrap(), request_repr());
    assert_eq!(packet.payload(), &PING6_REQUEST[40..]);
    let reply = Repr::parse(&Packet::new_checked(&PING6_REPLY[..]).unwrap()).unwrap();
    assert_eq!(
        (reply.src_addr, reply.dst_addr, reply.flow_label),
        (addr("fd00:1::1"), addr("fd00:1::a"), 0x44b8f)
    );
}

#[test]
fn emits_golden_bytes() {
    let mut buf = PING6_REQUEST;
    buf[..HEADER_LEN].fill(0);
    request_repr()
        .emit(&mut Packet::new_unchecked(&mut buf[..]))
        .unwrap();
    assert_eq!(buf, PING6_REQUEST);
}

#[test]
fn length_checks() {
    for len in 0..PING6_REQUEST.len() {
        assert_eq!(
            Packet::new_checked(&PING6_REQUEST[..len]).err(),
            Some(WireError::Truncated),
            "len {len}"
        );
    }
    // Ethernet padding after the payload is not part of it.
    let mut padded = PING6_REQUEST.to_vec();
    padded.extend_from_slice(&[0; 6]);
    let packet = Packet::new_checked(&padded[..]).unwrap();
    assert_eq!(packet.payload(), &PING6_REQUEST[40..]);
}

#[test]
fn version_is_verified() {
    let mut v4 = PING6_REQUEST;
    v4[0] = 0x40;
    let packet = Packet::new_checked(&v4[..]).unwrap();
    assert_eq!(Repr::parse(&packet), Err(WireError::Malformed));
}

#[test]
fn emit_refuses_what_the_header_cannot_carry() {
    let mut buf = vec![0u8; 70_000];
    let mut too_long = request_repr();
    too_long.payload_len = 65_536;
    assert_eq!(
        too_long.emit(&mut Packet::new_unchecked(&mut buf[..])),
        Err(WireError::Malformed)
    );
    let mut wide_label = request_repr();
    wide_label.flow_label = MAX_FLOW_LABEL + 1;
    assert_eq!(
        wide_label.emit(&mut Packet::new_unchecked(&mut buf[..])),
        Err(WireError::Malformed)
    );
    assert_eq!(
        request_repr().emit(&mut Packet::new_unchecked(&mut buf[..51])),
        Err(WireError::Truncated)
    );
}

proptest! {
    #[test]
    fn round_trip(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), next in any::<u8>(),
                  payload_len in 0usize..64, hop_limit in any::<u8>(), tc in any::<u8>(),
                  flow_label in 0..=MAX_FLOW_LABEL) {
        let repr = Repr {
            src_addr: src.into(), dst_addr: dst.into(), next_header: next, payload_len,
            hop_limit, traffic_class: tc, flow_label,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(packet) = Packet::new_checked(&data[..]) {
            let _ = (packet.payload(), packet.traffic_class(), packet.flow_label());
            let _ = Repr::parse(&packet);
        }
    }
}
