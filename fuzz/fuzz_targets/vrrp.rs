//! Fuzzes the VRRP decoders with arbitrary bytes read as an IPv4 packet. Beyond "no panic":
//! - whatever `Repr::parse` accepts re-emits to bytes that parse to the same `Repr`, and the
//!   re-emitted bytes are the input except for fields the RFCs say to ignore (v2 auth data
//!   with auth type 0, v3 reserved bits);
//! - whatever `Group::check` accepts carries the priority and source of the packet, and feeding
//!   it to a running `Machine` keeps the machine's own invariants (a master knows itself as
//!   master; every `BecomeMaster` comes with a transition to Master).
//!
//! Run: `cargo +nightly fuzz run vrrp fuzz/seeds/vrrp`.

#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fulcrum_core::vrrp::{Auth, Config, Group, Input, Machine, Output, State, Version};
use fulcrum_wire::{ipv4, vrrp};
use libfuzzer_sys::fuzz_target;

fn config(version: Version, interval_cs: u16) -> Config {
    Config {
        version,
        vrid: 7,
        priority: 100,
        advert_interval_cs: interval_cs,
        preempt: true,
        primary_address: Ipv4Addr::new(10, 235, 210, 44),
        addresses: vec![Ipv4Addr::new(10, 235, 210, 1)],
        auth: Auth::None,
    }
}

fuzz_target!(|data: &[u8]| {
    // The VRRP message alone, with the addresses of the IP header if there is one.
    let (src, dst, message) = match ipv4::Packet::new_checked(data) {
        Ok(ip) => {
            let range = usize::from(ip.header_len())..usize::from(ip.total_len());
            (ip.src_addr(), ip.dst_addr(), &data[range])
        }
        Err(_) => (Ipv4Addr::new(10, 235, 210, 43), vrrp::MULTICAST_ADDR, data),
    };
    if let Ok(packet) = vrrp::Packet::new_checked(message) {
        let _ = (
            packet.addresses().count(),
            packet.auth_data(),
            packet.message(),
        );
        if let Ok(repr) = vrrp::Repr::parse(&packet, src, dst) {
            let mut out = vec![0u8; repr.buffer_len()];
            let len = repr
                .emit(&mut out, src, dst)
                .expect("a parsed advert re-emits");
            assert_eq!(len, message.len());
            let again = vrrp::Repr::parse(&vrrp::Packet::new_checked(&out[..]).unwrap(), src, dst);
            assert_eq!(again.as_ref(), Ok(&repr));
            let ignored = match repr.version {
                Version::V2 if repr.auth == Auth::None => len - vrrp::AUTH_DATA_LEN..len,
                _ => 0..0,
            };
            for (i, (a, b)) in message.iter().zip(&out).enumerate() {
                let reserved_bits = repr.version == Version::V3 && i == 4;
                if ignored.contains(&i) || i == 6 || i == 7 {
                    continue;
                }
                if reserved_bits {
                    assert_eq!(a & 0x0f, b & 0x0f);
                } else {
                    assert_eq!(a, b, "byte {i} changed in a round trip");
                }
            }
        }
    }

    let t0 = Instant::now();
    for (version, interval) in [(Version::V2, 100), (Version::V3, 10)] {
        let group = Group::new(&config(version, interval));
        let mut machine = Machine::new(config(version, interval));
        machine.handle_input(t0, Input::Startup);
        machine.handle_timeout(t0 + Duration::from_secs(10));
        while machine.poll_output().is_some() {}
        if let Ok(advert) = group.check(data, machine.priority()) {
            let ip = ipv4::Packet::new_checked(data).expect("accepted adverts are IPv4");
            assert_eq!(advert.source, ip.src_addr());
            assert_eq!(ip.ttl(), 255);
            assert_eq!(Some(advert.priority), ip.payload().get(2).copied());
            machine.handle_input(t0 + Duration::from_secs(11), Input::Advert(advert));
            let mut became_master = false;
            let mut entered_master = false;
            while let Some(output) = machine.poll_output() {
                match output {
                    Output::BecomeMaster => became_master = true,
                    Output::Transition(t) => entered_master |= t.to == State::Master,
                    _ => {}
                }
            }
            assert_eq!(became_master, entered_master);
            if machine.state() == State::Master {
                assert_eq!(
                    machine.master_address(),
                    Some(Ipv4Addr::new(10, 235, 210, 44))
                );
            }
        }
        // Whatever state the advert left: a downed link is FAULT, silent, holding nothing, and
        // ignores adverts until the link is back.
        machine.handle_input(t0 + Duration::from_secs(12), Input::LinkDown);
        assert_eq!(machine.state(), State::Fault);
        while let Some(output) = machine.poll_output() {
            assert!(
                !matches!(output, Output::SendAdvert { .. } | Output::BecomeMaster),
                "{output:?} on a downed link"
            );
        }
        if let Ok(advert) = group.check(data, machine.priority()) {
            machine.handle_input(t0 + Duration::from_secs(13), Input::Advert(advert));
        }
        machine.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(machine.poll_output(), None);
        assert_eq!(machine.state(), State::Fault);
        machine.handle_input(t0 + Duration::from_secs(61), Input::LinkUp);
        assert!(matches!(machine.state(), State::Backup | State::Master));
    }
});
