//! Golden bytes, negative lengths and round trips of the sync format.

use super::*;
use proptest::prelude::*;

/// An Update with one IPv4 upsert and one IPv6 remove, no trailer.
const GOLDEN: [u8; 32 + 21 + 33] = [
    0x46, 0x53, 0x02, 0x01, 0x00, 0x00, 0x00, 0x02, // FS v2 Update, flags 0, 2 entries
    0x00, 0x00, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x07, // node 0xbeef, sequence 7
    0x00, 0x00, 0x01, 0x93, 0x00, 0x11, 0x22, 0x33, // sent at 0x19300112233 ms
    0x00, 0x00, 0x00, 0x2a, 0xc0, 0x0c, 0x1e, 0x55, // request 42, cookie 0xc00c1e55
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // upsert, server 1, target 2
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x02, 0x58, // age 3, timeout 600
    10, 235, 210, 9, // client 10.235.210.9
    0x81, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x06, // remove v6, server 5, target 6
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, // age 0, timeout 60
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
];

fn golden_repr() -> Repr {
    Repr {
        kind: Kind::Update,
        node: 0xbeef,
        sequence: 7,
        sent_at: 0x193_0011_2233,
        request: 42,
        cookie: 0xc00c_1e55,
        with_mac: false,
        entries: vec![
            Entry {
                op: Op::Upsert,
                server: 1,
                client: "10.235.210.9".parse().unwrap(),
                target: 2,
                age: 3,
                timeout: 600,
            },
            Entry {
                op: Op::Remove,
                server: 5,
                client: "2001:db8::1".parse().unwrap(),
                target: 6,
                age: 0,
                timeout: 60,
            },
        ],
    }
}

#[test]
fn golden_bytes_parse() {
    let datagram = Datagram::new_checked(&GOLDEN[..]).unwrap();
    assert_eq!(Repr::parse(&datagram), golden_repr());
    assert_eq!(datagram.mac(), None);
}

#[test]
fn golden_bytes_emit() {
    let mut out = Vec::new();
    golden_repr().emit(&mut out).unwrap();
    assert_eq!(out, GOLDEN);
    assert_eq!(golden_repr().buffer_len(), GOLDEN.len());
}

#[test]
fn trailer_is_outside_the_entries() {
    let mut repr = golden_repr();
    repr.with_mac = true;
    let mut out = Vec::new();
    repr.emit(&mut out).unwrap();
    let n = out.len();
    out[n - MAC_LEN..].fill(0xab);
    let datagram = Datagram::new_checked(&out[..]).unwrap();
    assert_eq!(datagram.signed_part().len(), GOLDEN.len());
    assert_eq!(datagram.mac(), Some(&[0xab; MAC_LEN][..]));
    assert_eq!(Repr::parse(&datagram), repr);
}

#[test]
fn every_truncation_is_rejected() {
    for len in 0..GOLDEN.len() {
        assert!(Datagram::new_checked(&GOLDEN[..len]).is_err(), "len {len}");
    }
}

#[test]
fn bad_headers_and_counts_are_rejected() {
    let cases: [(usize, u8, WireError); 8] = [
        (0, b'X', WireError::Malformed),     // magic
        (2, 1, WireError::Malformed),        // version 1 (before the replay fields)
        (3, 9, WireError::Unsupported),      // type
        (4, 0x02, WireError::Malformed),     // unknown flag
        (4, FLAG_MAC, WireError::Truncated), // flag: the entries overlap the trailer
        (5, 1, WireError::Malformed),        // reserved
        (7, 3, WireError::Truncated),        // one entry more than present
        (7, 1, WireError::Malformed),        // bytes left over
    ];
    for (at, value, want) in cases {
        let mut bytes = GOLDEN;
        bytes[at] = value;
        assert_eq!(
            Datagram::new_checked(&bytes[..]).err(),
            Some(want),
            "byte {at} = {value:#x}"
        );
    }
    let mut bytes = GOLDEN;
    bytes[HEADER_LEN] = 0x02; // unknown op bit
    assert_eq!(
        Datagram::new_checked(&bytes[..]).err(),
        Some(WireError::Malformed)
    );
}

fn entry() -> impl Strategy<Value = Entry> {
    let client = prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ];
    (
        any::<bool>(),
        any::<u32>(),
        client,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(remove, server, client, target, age, timeout)| Entry {
            op: if remove { Op::Remove } else { Op::Upsert },
            server,
            client,
            target,
            age,
            timeout,
        })
}

proptest! {
    #[test]
    fn round_trip(kind in 1u8..=5, node: u32, sequence: u32, sent_at: u64, request: u32,
                  cookie: u32, with_mac: bool,
                  entries in proptest::collection::vec(entry(), 0..70)) {
        let repr = Repr {
            kind: Kind::from_u8(kind).unwrap(),
            node,
            sequence,
            sent_at,
            request,
            cookie,
            entries,
            with_mac,
        };
        let mut out = Vec::new();
        repr.emit(&mut out).unwrap();
        prop_assert_eq!(out.len(), repr.buffer_len());
        let datagram = Datagram::new_checked(&out[..]).unwrap();
        prop_assert_eq!(Repr::parse(&datagram), repr);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(datagram) = Datagram::new_checked(&bytes[..]) {
            let repr = Repr::parse(&datagram);
            let mut out = Vec::new();
            repr.emit(&mut out).unwrap();
            prop_assert_eq!(&out[..datagram.signed_part().len()], datagram.signed_part());
        }
    }
}
