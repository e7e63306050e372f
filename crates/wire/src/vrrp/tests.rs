//! Golden bytes captured with tcpdump from keepalived 2.2.7 (Debian 12) in a lab namespace:
//! `vrrp_instance { virtual_router_id 7 priority 200 virtual_ipaddress { 10.235.210.1/32 } }`
//! sent from 10.235.210.43, and the priority-0 advert it sends when stopped.

use super::*;
use proptest::prelude::*;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

/// v2, `advert_int 1`, `authentication { auth_type PASS auth_pass secret }`.
const V2_PASS: [u8; 20] = [
    0x21, 0x07, 0xc8, 0x01, 0x01, 0x01, 0xfc, 0xbc, 0x0a, 0xeb, 0xd2, 0x01, 0x73, 0x65, 0x63, 0x72,
    0x65, 0x74, 0x00, 0x00,
];
/// The same instance stopping: priority 0.
const V2_PASS_STOP: [u8; 20] = [
    0x21, 0x07, 0x00, 0x01, 0x01, 0x01, 0xc4, 0xbd, 0x0a, 0xeb, 0xd2, 0x01, 0x73, 0x65, 0x63, 0x72,
    0x65, 0x74, 0x00, 0x00,
];
/// v2 without authentication.
const V2_NONE: [u8; 20] = [
    0x21, 0x07, 0xc8, 0x01, 0x00, 0x01, 0x3a, 0x09, 0x0a, 0xeb, 0xd2, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// v2 without authentication, stopping.
const V2_NONE_STOP: [u8; 20] = [
    0x21, 0x07, 0x00, 0x01, 0x00, 0x01, 0x02, 0x0a, 0x0a, 0xeb, 0xd2, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// v3, `advert_int 0.1` (10 centiseconds).
const V3: [u8; 12] = [
    0x31, 0x07, 0xc8, 0x01, 0x00, 0x0a, 0x6c, 0x5a, 0x0a, 0xeb, 0xd2, 0x01,
];

fn repr(version: Version, priority: u8, interval_cs: u16, auth: Auth) -> Repr {
    Repr {
        version,
        vrid: 7,
        priority,
        advert_interval_cs: interval_cs,
        auth,
        addresses: vec![VIP],
    }
}

fn golden_cases() -> Vec<(&'static str, &'static [u8], Repr)> {
    vec![
        (
            "v2 pass",
            &V2_PASS,
            repr(Version::V2, 200, 100, Auth::simple_text("secret")),
        ),
        (
            "v2 pass stop",
            &V2_PASS_STOP,
            repr(Version::V2, 0, 100, Auth::simple_text("secret")),
        ),
        ("v2 none", &V2_NONE, repr(Version::V2, 200, 100, Auth::None)),
        (
            "v2 none stop",
            &V2_NONE_STOP,
            repr(Version::V2, 0, 100, Auth::None),
        ),
        ("v3", &V3, repr(Version::V3, 200, 10, Auth::None)),
    ]
}

#[test]
fn parses_keepalived_adverts() {
    for (name, bytes, expected) in golden_cases() {
        let packet = Packet::new_checked(bytes).unwrap();
        assert_eq!(
            Repr::parse(&packet, SRC, MULTICAST_ADDR).as_ref(),
            Ok(&expected),
            "{name}"
        );
    }
}

#[test]
fn emits_what_keepalived_sends() {
    for (name, bytes, repr) in golden_cases() {
        let mut buf = vec![0u8; repr.buffer_len()];
        assert_eq!(
            repr.emit(&mut buf, SRC, MULTICAST_ADDR),
            Ok(bytes.len()),
            "{name}"
        );
        assert_eq!(buf, bytes, "{name}");
    }
}

#[test]
fn v3_checksum_covers_the_pseudo_header() {
    let packet = Packet::new_checked(&V3[..]).unwrap();
    let other_source = Ipv4Addr::new(10, 235, 210, 44);
    assert_eq!(
        Repr::parse(&packet, other_source, MULTICAST_ADDR),
        Err(WireError::Checksum)
    );
    // v2 does not: its checksum is over the message alone.
    let packet = Packet::new_checked(&V2_NONE[..]).unwrap();
    assert!(Repr::parse(&packet, other_source, MULTICAST_ADDR).is_ok());
}

#[test]
fn every_truncation_is_rejected() {
    for bytes in [&V2_PASS[..], &V3[..]] {
        for len in 0..bytes.len() {
            assert_eq!(
                Packet::new_checked(&bytes[..len]).err(),
                Some(WireError::Truncated),
                "len {len}"
            );
        }
    }
}

#[test]
fn count_larger_than_the_buffer_is_truncated_not_read() {
    let mut lying = V3;
    lying[3] = 255;
    assert_eq!(
        Packet::new_checked(&lying[..]).err(),
        Some(WireError::Truncated)
    );
    let mut lying = V2_NONE;
    lying[3] = 2;
    assert_eq!(
        Packet::new_checked(&lying[..]).err(),
        Some(WireError::Truncated)
    );
}

#[test]
fn negative_cases_after_the_length_check() {
    let src = SRC;
    let dst = MULTICAST_ADDR;
    // Version 1 or 4: not VRRP we know.
    let mut wrong_version = V2_NONE;
    wrong_version[0] = 0x41;
    assert_eq!(
        Packet::new_checked(&wrong_version[..]).err(),
        Some(WireError::Malformed)
    );
    // Type 2 does not exist.
    let mut wrong_type = V2_NONE;
    wrong_type[0] = 0x22;
    let packet = Packet::new_checked(&wrong_type[..]).unwrap();
    assert_eq!(Repr::parse(&packet, src, dst), Err(WireError::Unsupported));
    // Trailing bytes: count and IP length disagree.
    let mut long = V3.to_vec();
    long.extend_from_slice(&[0, 0, 0, 0]);
    let packet = Packet::new_checked(&long[..]).unwrap();
    assert_eq!(packet.message(), &V3[..]);
    assert_eq!(Repr::parse(&packet, src, dst), Err(WireError::Malformed));
    // A flipped bit anywhere fails the checksum (or an earlier check).
    for at in 0..V2_PASS.len() {
        let mut flipped = V2_PASS;
        flipped[at] ^= 0x01;
        let result = Packet::new_checked(&flipped[..]).and_then(|p| Repr::parse(&p, src, dst));
        assert!(result.is_err(), "byte {at}");
    }
}

#[test]
fn emit_refuses_what_the_version_cannot_carry() {
    let mut buf = [0u8; 64];
    let v2_fraction = repr(Version::V2, 100, 150, Auth::None);
    assert_eq!(
        v2_fraction.emit(&mut buf, SRC, MULTICAST_ADDR),
        Err(WireError::Malformed)
    );
    let v2_too_long = repr(Version::V2, 100, 25600, Auth::None);
    assert_eq!(
        v2_too_long.emit(&mut buf, SRC, MULTICAST_ADDR),
        Err(WireError::Malformed)
    );
    let v3_too_long = repr(Version::V3, 100, 4096, Auth::None);
    assert_eq!(
        v3_too_long.emit(&mut buf, SRC, MULTICAST_ADDR),
        Err(WireError::Malformed)
    );
    let v3_auth = repr(Version::V3, 100, 100, Auth::simple_text("x"));
    assert_eq!(
        v3_auth.emit(&mut buf, SRC, MULTICAST_ADDR),
        Err(WireError::Malformed)
    );
    let mut many = repr(Version::V3, 100, 100, Auth::None);
    many.addresses = vec![VIP; 256];
    assert_eq!(
        many.emit(&mut [0u8; 2048], SRC, MULTICAST_ADDR),
        Err(WireError::Malformed)
    );
    assert_eq!(
        repr(Version::V3, 100, 100, Auth::None).emit(&mut buf[..11], SRC, MULTICAST_ADDR),
        Err(WireError::Truncated)
    );
}

fn arb_repr() -> impl Strategy<Value = Repr> {
    let auth = prop_oneof![
        Just(Auth::None),
        any::<[u8; 8]>().prop_map(Auth::SimpleText),
        (3u8.., any::<[u8; 8]>()).prop_map(|(auth_type, data)| Auth::Other { auth_type, data }),
    ];
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=255,
        auth,
        proptest::collection::vec(any::<[u8; 4]>(), 0..20),
    )
        .prop_map(|(vrid, priority, secs, auth, addrs)| Repr {
            version: Version::V2,
            vrid,
            priority,
            advert_interval_cs: secs * 100,
            auth,
            addresses: addrs.into_iter().map(Ipv4Addr::from).collect(),
        });
    let v3 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=MAX_V3_INTERVAL_CS,
        proptest::collection::vec(any::<[u8; 4]>(), 0..20),
    )
        .prop_map(|(vrid, priority, cs, addrs)| Repr {
            version: Version::V3,
            vrid,
            priority,
            advert_interval_cs: cs,
            auth: Auth::None,
            addresses: addrs.into_iter().map(Ipv4Addr::from).collect(),
        });
    prop_oneof![v2, v3]
}

proptest! {
    #[test]
    fn round_trip(repr in arb_repr(), src in any::<[u8; 4]>()) {
        let src = Ipv4Addr::from(src);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, src, MULTICAST_ADDR).unwrap();
        let packet = Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Repr::parse(&packet, src, MULTICAST_ADDR).unwrap(), repr);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(packet) = Packet::new_checked(&data[..]) {
            let _ = (packet.addresses().count(), packet.auth_data(), packet.message());
            let _ = Repr::parse(&packet, SRC, MULTICAST_ADDR);
        }
    }
}
