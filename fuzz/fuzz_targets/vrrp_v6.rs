//! Fuzzes the VRRPv3-over-IPv6 decoder with arbitrary bytes read as an IPv6 packet (or, when
//! they are not one, as the message alone from a fixed link-local source to ff02::12). Beyond
//! "no panic":
//! - whatever `Ipv6Repr::parse` accepts re-emits to bytes whose checksum verifies over the same
//!   pseudo-header, that parse to the same `Ipv6Repr`, and that equal the input except the
//!   reserved bits of byte 4 (and hence the checksum);
//! - whatever `new_checked_v6` accepts reads its addresses without panicking, through either
//!   family's accessors.
//!
//! Run: `cargo +nightly fuzz run vrrp_v6 fuzz/seeds/vrrp_v6`.

#![no_main]

use std::net::Ipv6Addr;

use fulcrum_wire::{ipv6, vrrp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (src, dst, message) = match ipv6::Packet::new_checked(data) {
        Ok(ip) => {
            let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
            (ip.src_addr(), ip.dst_addr(), &data[ipv6::HEADER_LEN..end])
        }
        Err(_) => (
            "fe80::ff:fe00:43".parse::<Ipv6Addr>().unwrap(),
            vrrp::MULTICAST_ADDR_V6,
            data,
        ),
    };
    let Ok(packet) = vrrp::Packet::new_checked_v6(message) else {
        return;
    };
    let _ = (
        packet.addresses_v6().count(),
        packet.addresses().count(),
        packet.message_v6(),
        packet.message(),
        packet.auth_data(),
    );
    let Ok(repr) = vrrp::Ipv6Repr::parse(&packet, src, dst) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    let len = repr
        .emit(&mut out, src, dst)
        .expect("a parsed advert re-emits");
    assert_eq!(len, message.len());
    let again = vrrp::Packet::new_checked_v6(&out[..]).expect("emitted advert");
    assert!(again.verify_checksum_v6(src, dst));
    assert_eq!(vrrp::Ipv6Repr::parse(&again, src, dst).as_ref(), Ok(&repr));
    for (i, (a, b)) in message.iter().zip(&out).enumerate() {
        match i {
            4 => assert_eq!(a & 0x0f, b & 0x0f),
            6 | 7 => {}
            _ => assert_eq!(a, b, "byte {i} changed in a round trip"),
        }
    }
});
