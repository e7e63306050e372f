//! Golden bytes captured with tcpdump from keepalived 2.2.7 (Debian 12) in a lab namespace:
//! `vrrp_instance { version 3 virtual_router_id 7 priority 100 advert_int 1
//! virtual_ipaddress { fd00:1::100/64 } }` on an interface with MAC 02:00:00:00:00:43, sent from
//! its link-local address fe80::ff:fe00:43 to ff02::12 (hop limit 255, traffic class 0xc0), and
//! the priority-0 advert it sent when stopped.

use std::net::Ipv6Addr;

use super::*;
use proptest::prelude::*;

const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x43);
const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x100);

/// The whole IPv6 packet of the advert.
pub(crate) const KEEPALIVED_V6: [u8; 64] = [
    0x6c, 0x0f, 0x13, 0x2c, 0x00, 0x18, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x43, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x31, 0x07, 0x64, 0x01, 0x00, 0x64, 0x6f, 0x30,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
];
/// The same instance stopping: priority 0.
const KEEPALIVED_V6_STOP: [u8; 64] = [
    0x6c, 0x0f, 0x13, 0x2c, 0x00, 0x18, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x43, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x31, 0x07, 0x00, 0x01, 0x00, 0x64, 0xd3, 0x30,
    0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
];

fn repr(priority: u8) -> Ipv6Repr {
    Ipv6Repr {
        vrid: 7,
        priority,
        advert_interval_cs: 100,
        addresses: vec![VIP],
    }
}

#[test]
fn keepalived_adverts_both_ways() {
    for (bytes, priority) in [(KEEPALIVED_V6, 100), (KEEPALIVED_V6_STOP, 0)] {
        let ip = crate::ipv6::Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.hop_limit()),
            (SRC, MULTICAST_ADDR_V6, HOP_LIMIT)
        );
        assert_eq!(ip.next_header(), crate::ipv6::next_header::VRRP);
        let packet = Packet::new_checked_v6(ip.payload()).unwrap();
        assert_eq!(
            Ipv6Repr::parse(&packet, SRC, MULTICAST_ADDR_V6),
            Ok(repr(priority))
        );
        let mut buf = [0u8; 24];
        assert_eq!(
            repr(priority).emit(&mut buf, SRC, MULTICAST_ADDR_V6),
            Ok(24)
        );
        assert_eq!(&buf[..], ip.payload());
    }
}

#[test]
fn the_checksum_covers_the_ipv6_pseudo_header() {
    let message = &KEEPALIVED_V6[40..];
    let packet = Packet::new_checked_v6(message).unwrap();
    let other = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x44);
    assert_eq!(
        Ipv6Repr::parse(&packet, other, MULTICAST_ADDR_V6),
        Err(WireError::Checksum)
    );
    // Read as IPv4, the 16-byte address does not fit a 4-byte count: the IPv4 parse refuses it.
    let as_v4 = Packet::new_checked(message).unwrap();
    assert!(Repr::parse(&as_v4, Ipv4Addr::new(10, 0, 0, 1), MULTICAST_ADDR).is_err());
}

#[test]
fn length_and_version_checks() {
    let message = &KEEPALIVED_V6[40..];
    for len in 0..message.len() {
        assert_eq!(
            Packet::new_checked_v6(&message[..len]).err(),
            Some(WireError::Truncated),
            "len {len}"
        );
    }
    let mut v2 = message.to_vec();
    v2[0] = 0x21;
    assert_eq!(
        Packet::new_checked_v6(&v2[..]).err(),
        Some(WireError::Malformed)
    );
    let mut lying = message.to_vec();
    lying[3] = 2;
    assert_eq!(
        Packet::new_checked_v6(&lying[..]).err(),
        Some(WireError::Truncated)
    );
    let mut wrong_type = message.to_vec();
    wrong_type[0] = 0x32;
    let packet = Packet::new_checked_v6(&wrong_type[..]).unwrap();
    assert_eq!(
        Ipv6Repr::parse(&packet, SRC, MULTICAST_ADDR_V6),
        Err(WireError::Unsupported)
    );
    let mut long = message.to_vec();
    long.extend_from_slice(&[0; 16]);
    let packet = Packet::new_checked_v6(&long[..]).unwrap();
    assert_eq!(packet.message_v6(), message);
    assert_eq!(
        Ipv6Repr::parse(&packet, SRC, MULTICAST_ADDR_V6),
        Err(WireError::Malformed)
    );
    // The IPv6 iterator on a view checked for IPv4 only reads what is there.
    let short = Packet::new_checked(&message[..12]).unwrap();
    assert_eq!(short.addresses_v6().count(), 0);
}

#[test]
fn emit_refuses_what_v3_cannot_carry() {
    let mut buf = [0u8; 64];
    let mut slow = repr(100);
    slow.advert_interval_cs = MAX_V3_INTERVAL_CS + 1;
    assert_eq!(
        slow.emit(&mut buf, SRC, MULTICAST_ADDR_V6),
        Err(WireError::Malformed)
    );
    let mut many = repr(100);
    many.addresses = vec![VIP; 256];
    assert_eq!(
        many.emit(&mut [0u8; 8192], SRC, MULTICAST_ADDR_V6),
        Err(WireError::Malformed)
    );
    assert_eq!(
        repr(100).emit(&mut buf[..23], SRC, MULTICAST_ADDR_V6),
        Err(WireError::Truncated)
    );
}

proptest! {
    #[test]
    fn round_trip(vrid in any::<u8>(), priority in any::<u8>(),
                  cs in 0u16..=MAX_V3_INTERVAL_CS,
                  addrs in proptest::collection::vec(any::<[u8; 16]>(), 0..8),
                  src in any::<[u8; 16]>()) {
        let src = Ipv6Addr::from(src);
        let repr = Ipv6Repr {
            vrid, priority, advert_interval_cs: cs,
            addresses: addrs.into_iter().map(Ipv6Addr::from).collect(),
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, src, MULTICAST_ADDR_V6).unwrap();
        let packet = Packet::new_checked_v6(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum_v6(src, MULTICAST_ADDR_V6));
        prop_assert_eq!(Ipv6Repr::parse(&packet, src, MULTICAST_ADDR_V6).unwrap(), repr);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        for packet in [Packet::new_checked_v6(&data[..]), Packet::new_checked(&data[..])]
            .into_iter()
            .flatten()
        {
            let _ = (packet.addresses_v6().count(), packet.addresses().count());
            let _ = (packet.message_v6(), packet.message(), packet.auth_data());
            let _ = Ipv6Repr::parse(&packet, SRC, MULTICAST_ADDR_V6);
        }
    }
}
