//! Fuzzes the VRRPv3-over-IPv6 decoder with arbitrary bytes read as an IPv6 packet (or, when
//! they are not one, as the message alone from a fixed link-local source to ff02::12). Beyond
//! "no panic":
//! - whatever `Ipv6Repr::parse` accepts re-emits to bytes whose checksum verifies over the same
//!   pseudo-header, that parse to the same `Ipv6Repr`, and that equal the input except the
//!   reserved bits of byte 4 (and hence the checksum);
//! - whatever `new_checked_v6` accepts reads its addresses without panicking, through either
//!   family's accessors.
//!
//! - whatever `Group<Ipv6Addr>::check` accepts is a whole IPv6 packet from a link-local source
//!   with hop limit 255, and the election machine takes it without breaking its contract
//!   (BecomeMaster exactly with a transition to Master).
//!
//! Run: `cargo +nightly fuzz run vrrp_v6 fuzz/seeds/vrrp_v6`.

#![no_main]

use std::net::Ipv6Addr;

use std::time::{Duration, Instant};

use fulcrum_core::vrrp::{Auth, Config, Group, Input, Machine, Output, State, Version};
use fulcrum_wire::{ipv6, vrrp};
use libfuzzer_sys::fuzz_target;

fn config() -> Config<Ipv6Addr> {
    Config {
        version: Version::V3,
        vrid: 7,
        priority: 100,
        advert_interval_cs: 100,
        preempt: true,
        primary_address: "fe80::ff:fe00:44".parse().unwrap(),
        addresses: vec!["fd00:1::100".parse().unwrap()],
        auth: Auth::None,
        peers: Vec::new(),
    }
}

/// The receive checks and the machine behind them.
fn group_and_machine(data: &[u8]) {
    let t0 = Instant::now();
    let group = Group::new(&config());
    let mut machine = Machine::new(config());
    machine.handle_input(t0, Input::Startup);
    machine.handle_timeout(t0 + Duration::from_secs(10));
    while machine.poll_output().is_some() {}
    let Ok(advert) = group.check(data, machine.priority()) else {
        return;
    };
    let ip = ipv6::Packet::new_checked(data).expect("accepted adverts are IPv6");
    assert_eq!(advert.source, ip.src_addr());
    assert!(advert.source.is_unicast_link_local());
    assert_eq!(ip.hop_limit(), 255);
    machine.handle_input(t0 + Duration::from_secs(11), Input::Advert(advert));
    let (mut became_master, mut entered_master) = (false, false);
    while let Some(output) = machine.poll_output() {
        match output {
            Output::BecomeMaster => became_master = true,
            Output::Transition(t) => entered_master |= t.to == State::Master,
            _ => {}
        }
    }
    assert_eq!(became_master, entered_master);
}

fuzz_target!(|data: &[u8]| {
    group_and_machine(data);
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
