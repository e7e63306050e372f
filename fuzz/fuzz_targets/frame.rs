//! Fuzzes the DSR frame classifier with arbitrary Ethernet frames. Beyond "no panic", every
//! verdict must be justified by the bytes, checked here with the independent packet views:
//! - `ToVip`: a valid IPv4 header (version, lengths, checksum) to the VIP over UDP or TCP; ports
//!   are present unless the frame is a non-first fragment, and equal the transport header's;
//! - `ArpRequest`: a parseable Ethernet/IPv4 ARP request for the VIP from a unicast sender;
//! - `Vrrp`: a valid IPv4 header with protocol 112.
//!
//! Run: `cargo +nightly fuzz run frame fuzz/seeds/frame`.

#![no_main]

use std::net::Ipv4Addr;

use fulcrum_wire::classify::{classify, Verdict, VipTable};
use fulcrum_wire::{arp, ethernet, ipv4};
use libfuzzer_sys::fuzz_target;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

struct Vips;

impl VipTable for Vips {
    fn is_vip_addr(&self, addr: Ipv4Addr) -> bool {
        addr == VIP
    }
    fn is_vip_service(&self, addr: Ipv4Addr, _protocol: u8, port: u16) -> bool {
        addr == VIP && port == 53
    }
}

fn valid_ip(frame: &[u8]) -> ipv4::Repr {
    let eth = ethernet::Frame::new_checked(frame).expect("an IP verdict has an Ethernet header");
    let ip =
        ipv4::Packet::new_checked(eth.payload()).expect("an IP verdict has whole IPv4 lengths");
    ipv4::Repr::parse(&ip).expect("an IP verdict has version 4 and a good checksum")
}

fuzz_target!(|frame: &[u8]| {
    match classify(frame, &Vips) {
        Verdict::ToVip(flow) => {
            let ip = valid_ip(frame);
            assert_eq!(ip.dst_addr, VIP);
            assert_eq!(flow.dst, VIP);
            assert_eq!(flow.src, ip.src_addr);
            assert!(ip.protocol == 6 || ip.protocol == 17);
            match flow.ports {
                None => assert!(ip.frag_offset != 0),
                Some(ports) => {
                    assert_eq!(ip.frag_offset, 0);
                    assert_eq!(ports.dst, 53);
                    let eth = ethernet::Frame::new_checked(frame).unwrap();
                    let packet = ipv4::Packet::new_checked(eth.payload()).unwrap();
                    let payload = packet.payload();
                    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), ports.src);
                    assert_eq!(u16::from_be_bytes([payload[2], payload[3]]), ports.dst);
                }
            }
            assert_eq!(
                flow.fragment.is_some(),
                ip.more_frags || ip.frag_offset != 0
            );
            assert_eq!(
                flow.tcp_flags.is_some(),
                ip.protocol == 6 && flow.ports.is_some()
            );
        }
        Verdict::ArpRequest {
            target, sender_mac, ..
        } => {
            let eth = ethernet::Frame::new_checked(frame).unwrap();
            let repr = arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap();
            assert_eq!(repr.operation, arp::Operation::Request);
            assert_eq!(target, VIP);
            assert!(sender_mac.is_unicast());
        }
        Verdict::Vrrp => assert_eq!(valid_ip(frame).protocol, 112),
        Verdict::ArpReply { .. } | Verdict::Other | Verdict::Drop(_) => {}
    }
});
