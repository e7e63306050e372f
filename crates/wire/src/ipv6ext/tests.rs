//! Golden frames captured with tcpdump on a veth link between lab namespaces (Linux 6.x): the
//! kernel's MLDv2 report (a Hop-by-Hop header with a Router Alert option), and the two pieces
//! of `ping -6 -s 2000 fd00:1::1` over a 1500-byte MTU (`testdata/fragment_*.hex`).

use super::*;
use proptest::prelude::*;

/// Bytes from a hex dump (whitespace ignored), as captured frames are stored in `testdata/`.
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// The IPv6 packet of an MLDv2 report from fe80::ff:fe00:a to ff02::16.
const MLD_REPORT: [u8; 76] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x0a, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,
    0x8f, 0x00, 0x71, 0xf5, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0xff, 0x02, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x0a,
];

fn captured(name: &str) -> Vec<u8> {
    let text = match name {
        "first" => include_str!("../../testdata/fragment_first.hex"),
        _ => include_str!("../../testdata/fragment_last.hex"),
    };
    hex(text)[crate::ethernet::HEADER_LEN..].to_vec()
}

#[test]
fn hop_by_hop_is_crossed() {
    let packet = ipv6::Packet::new_checked(&MLD_REPORT[..]).unwrap();
    let upper = upper_layer(&packet).unwrap();
    assert_eq!(
        upper,
        UpperLayer {
            protocol: next_header::ICMPV6,
            offset: 8,
            fragment: None
        }
    );
    // MLDv2 report type 143.
    assert_eq!(packet.payload()[upper.offset], 143);
}

#[test]
fn captured_fragments() {
    let first = captured("first");
    let packet = ipv6::Packet::new_checked(&first[..]).unwrap();
    let upper = upper_layer(&packet).unwrap();
    let fragment = upper.fragment.unwrap();
    assert_eq!(upper.protocol, next_header::ICMPV6);
    assert_eq!(upper.offset, FRAGMENT_HEADER_LEN);
    assert_eq!((fragment.offset, fragment.more), (0, true));
    assert!(fragment.is_piece());
    // The first piece holds the ICMPv6 echo header.
    assert_eq!(packet.payload()[upper.offset], 128);

    let last = captured("last");
    let packet = ipv6::Packet::new_checked(&last[..]).unwrap();
    let upper = upper_layer(&packet).unwrap();
    let piece = upper.fragment.unwrap();
    assert_eq!((piece.offset, piece.more), (1448, false));
    assert_eq!(piece.ident, fragment.ident);
    assert_eq!(piece.next_header, next_header::ICMPV6);

    // Both ways: the captured header re-emits byte for byte.
    let mut buf = [0u8; FRAGMENT_HEADER_LEN];
    assert_eq!(piece.emit(&mut buf), Ok(FRAGMENT_HEADER_LEN));
    assert_eq!(buf, packet.payload()[..FRAGMENT_HEADER_LEN]);
}

/// A chain: Destination Options (16 bytes), Routing (8), Fragment, AH (12), then UDP.
fn chain() -> Vec<u8> {
    let mut payload = vec![next_header::ROUTING, 1, 0, 0, 0, 0, 0, 0];
    payload.extend_from_slice(&[0; 8]);
    payload.extend_from_slice(&[next_header::FRAGMENT, 0, 0, 0, 0, 0, 0, 0]);
    payload.extend_from_slice(&[next_header::AUTH, 0, 0, 1, 0, 0, 0, 9]);
    payload.extend_from_slice(&[next_header::UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    payload.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
    payload
}

#[test]
fn a_chain_of_every_kind() {
    let payload = chain();
    let upper = walk(next_header::DESTINATION_OPTIONS, &payload).unwrap();
    assert_eq!(upper.protocol, next_header::UDP);
    assert_eq!(upper.offset, 16 + 8 + 8 + 12);
    assert_eq!(
        upper.fragment,
        Some(Fragment {
            next_header: next_header::AUTH,
            offset: 0,
            more: true,
            ident: 9
        })
    );
    // Every truncation inside the chain is reported, never read past.
    for len in 0..upper.offset {
        assert_eq!(
            walk(next_header::DESTINATION_OPTIONS, &payload[..len]),
            Err(WireError::Truncated),
            "len {len}"
        );
    }
}

#[test]
fn malformed_and_unsupported_chains() {
    // Hop-by-Hop after another extension header.
    let late = [
        next_header::HOP_BY_HOP,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        59,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    assert_eq!(
        walk(next_header::DESTINATION_OPTIONS, &late),
        Err(WireError::Malformed)
    );
    // Two Fragment headers.
    let twice = [
        next_header::FRAGMENT,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        17,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
    ];
    assert_eq!(
        walk(next_header::FRAGMENT, &twice),
        Err(WireError::Malformed)
    );
    // Nine Destination Options headers.
    let mut long = Vec::new();
    for _ in 0..9 {
        long.extend_from_slice(&[next_header::DESTINATION_OPTIONS, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(
        walk(next_header::DESTINATION_OPTIONS, &long),
        Err(WireError::Unsupported)
    );
    // No extension header at all: the upper layer is at 0, whatever the bytes.
    assert_eq!(
        walk(next_header::NO_NEXT_HEADER, &[]),
        Ok(UpperLayer {
            protocol: next_header::NO_NEXT_HEADER,
            offset: 0,
            fragment: None
        })
    );
}

#[test]
fn fragment_emit_refuses_unaligned_offsets() {
    let fragment = Fragment {
        next_header: 17,
        offset: 1447,
        more: false,
        ident: 1,
    };
    assert_eq!(fragment.emit(&mut [0; 8]), Err(WireError::Malformed));
    let aligned = Fragment {
        offset: 1448,
        ..fragment
    };
    assert_eq!(aligned.emit(&mut [0; 7]), Err(WireError::Truncated));
    assert!(!Fragment {
        offset: 0,
        more: false,
        ..fragment
    }
    .is_piece());
    for len in 0..FRAGMENT_HEADER_LEN {
        assert!(FragmentHeader::new_checked(&[0u8; 8][..len]).is_err());
    }
}

proptest! {
    #[test]
    fn fragment_round_trip(next in any::<u8>(), units in 0u16..0x2000, more in any::<bool>(),
                           ident in any::<u32>()) {
        let fragment = Fragment { next_header: next, offset: units << 3, more, ident };
        let mut buf = [0u8; FRAGMENT_HEADER_LEN];
        fragment.emit(&mut buf).unwrap();
        let view = FragmentHeader::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Fragment::parse(&view).unwrap(), fragment);
    }

    #[test]
    fn walk_is_total_and_stays_inside(first in any::<u8>(),
                                      data in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(upper) = walk(first, &data) {
            prop_assert!(upper.offset <= data.len());
        }
    }
}
