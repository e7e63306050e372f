//! Golden bytes from dnsdist 1.7.3 (`useProxyProtocol=true`, `testdata/capture-proxy-v2.sh`):
//! what reached its backend for `dig golden.example` over UDP and TCP, asked on 127.0.0.1 and
//! on ::1 at port 21733. Parsed, they give dnsdist's view of the client and the VIP; emitted
//! again, the same header bytes; and no input makes either side panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::ipv6ext::tests::hex;
use proptest::prelude::*;

const FRONT_PORT: u16 = 21733;

fn captured(name: &str) -> Vec<u8> {
    hex(match name {
        "udp4" => include_str!("../../testdata/proxy_v2_udp4.hex"),
        "udp6" => include_str!("../../testdata/proxy_v2_udp6.hex"),
        "tcp4" => include_str!("../../testdata/proxy_v2_tcp4.hex"),
        _ => include_str!("../../testdata/proxy_v2_tcp6.hex"),
    })
}

#[test]
fn dnsdist_headers_parse_and_emit_back_byte_for_byte() {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for (name, transport, ip, len) in [
        ("udp4", Transport::Datagram, v4, 28),
        ("udp6", Transport::Datagram, v6, 52),
        ("tcp4", Transport::Stream, v4, 28),
        ("tcp6", Transport::Stream, v6, 52),
    ] {
        let bytes = captured(name);
        let (repr, header_len) = Repr::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(header_len, len, "{name}");
        let Repr::Proxy {
            transport: got_transport,
            source,
            destination,
            tlvs,
        } = repr
        else {
            panic!("{name}: {repr:?}");
        };
        assert_eq!(got_transport, transport, "{name}");
        assert_eq!(source.ip(), ip, "{name}: the client");
        assert_ne!(source.port(), 0, "{name}");
        assert_eq!(
            destination,
            SocketAddr::new(ip, FRONT_PORT),
            "{name}: the VIP"
        );
        assert!(tlvs.is_empty(), "{name}");
        // What follows is the client's DNS message (over TCP after its length prefix).
        let message = match transport {
            Transport::Datagram => &bytes[header_len..],
            Transport::Stream => &bytes[header_len + 2..],
        };
        assert_eq!(&message[12..28], b"\x06golden\x07example\x00", "{name}");

        let mut emitted = [0u8; MAX_EMIT_LEN];
        assert_eq!(repr.buffer_len(), header_len);
        assert_eq!(repr.emit(&mut emitted), Ok(header_len), "{name}");
        assert_eq!(&emitted[..header_len], &bytes[..header_len], "{name}");
    }
}

#[test]
fn local_headers_skip_their_addresses_and_keep_tlvs() {
    // LOCAL over INET with a 12-byte block, then a NOOP TLV (type 0x04) of 2 bytes.
    let mut bytes = SIGNATURE.to_vec();
    bytes.extend_from_slice(&[0x20, 0x11, 0, 17]);
    bytes.extend_from_slice(&[9; 12]);
    bytes.extend_from_slice(&[0x04, 0, 2, 0xaa, 0xbb]);
    bytes.extend_from_slice(b"payload");
    let (repr, len) = Repr::parse(&bytes).unwrap();
    assert_eq!(len, 33);
    assert_eq!(
        repr,
        Repr::Local {
            tlvs: &[0x04, 0, 2, 0xaa, 0xbb]
        }
    );
}

#[test]
fn bad_headers_are_refused_with_their_reason() {
    let good = captured("udp4");
    let header = &good[..28];
    let with = |at: usize, value: u8| {
        let mut bytes = header.to_vec();
        bytes[at] = value;
        bytes
    };
    let cases: [(&str, Vec<u8>, WireError); 9] = [
        ("empty", Vec::new(), WireError::Truncated),
        ("signature only", SIGNATURE.to_vec(), WireError::Truncated),
        (
            "cut in the addresses",
            header[..27].to_vec(),
            WireError::Truncated,
        ),
        ("signature", with(3, b'X'), WireError::Malformed),
        ("version 1", with(12, 0x11), WireError::Malformed),
        ("command 2", with(12, 0x22), WireError::Malformed),
        ("UNIX family", with(13, 0x32), WireError::Unsupported),
        ("transport 3", with(13, 0x13), WireError::Unsupported),
        (
            "block shorter than the family's",
            with(15, 11),
            WireError::Malformed,
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(Repr::parse(&bytes).map(|_| ()), Err(expected), "{name}");
    }
    // A TLV whose length runs past the header's end.
    let mut bytes = header.to_vec();
    bytes[15] = 12 + 4;
    bytes.extend_from_slice(&[0x04, 0, 9, 0]);
    assert_eq!(Repr::parse(&bytes).map(|_| ()), Err(WireError::Malformed));
}

#[test]
fn emit_refuses_mixed_families_and_short_buffers() {
    let repr = Repr::Proxy {
        transport: Transport::Datagram,
        source: "192.0.2.1:5353".parse().unwrap(),
        destination: "[2001:db8::53]:53".parse().unwrap(),
        tlvs: &[],
    };
    assert_eq!(repr.emit(&mut [0u8; 64]), Err(WireError::Malformed));
    let repr = Repr::Proxy {
        transport: Transport::Datagram,
        source: "192.0.2.1:5353".parse().unwrap(),
        destination: "192.0.2.53:53".parse().unwrap(),
        tlvs: &[],
    };
    assert_eq!(repr.emit(&mut [0u8; 27]), Err(WireError::Truncated));
}

fn socket_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<u16>()
        )
            .prop_map(|(s, sp, d, dp)| (
                SocketAddr::new(IpAddr::from(s), sp),
                SocketAddr::new(IpAddr::from(d), dp)
            )),
        (
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<u16>()
        )
            .prop_map(|(s, sp, d, dp)| (
                SocketAddr::new(IpAddr::from(s), sp),
                SocketAddr::new(IpAddr::from(d), dp)
            )),
    ]
}

proptest! {
    #[test]
    fn emitted_headers_parse_back((source, destination) in socket_pair(), stream in any::<bool>()) {
        let transport = if stream { Transport::Stream } else { Transport::Datagram };
        let repr = Repr::Proxy { transport, source, destination, tlvs: &[] };
        let mut buffer = [0u8; MAX_EMIT_LEN + 8];
        let len = repr.emit(&mut buffer).unwrap();
        prop_assert_eq!(Repr::parse(&buffer[..len]), Ok((repr, len)));
    }

    #[test]
    fn any_bytes_parse_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut with_signature = SIGNATURE.to_vec();
        with_signature.extend_from_slice(&bytes);
        for input in [&bytes, &with_signature] {
            if let Ok((repr, len)) = Repr::parse(input) {
                prop_assert!(len <= input.len());
                // A LOCAL header's skipped address block is not re-emitted.
                if matches!(repr, Repr::Proxy { .. }) {
                    prop_assert_eq!(repr.buffer_len(), len);
                }
            }
        }
    }
}
