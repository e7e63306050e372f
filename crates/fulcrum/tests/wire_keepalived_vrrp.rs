//! Interoperation of the VRRP packet format with keepalived (Debian's `keepalived`), for v2 and
//! v3, on a veth link between two lab namespaces:
//! - keepalived (priority 100) becomes master alone; the adverts it sends, captured on the
//!   link, parse with `fulcrum_wire::vrrp` and carry its VRID, priority, interval and VIP;
//! - adverts built with `fulcrum_wire` (priority 200, from another address) make it log the
//!   higher priority and enter BACKUP, so it verified our lengths and checksums.
//!
//! Needs root, iproute2, keepalived and python3 (which sends and receives raw frames with
//! AF_PACKET, as the wire crate has no sockets; see `wire_keepalived/peer.rs`, shared with the
//! IPv6 test). A missing tool fails the test with its name.
//!
//! It tests `fulcrum-wire` but lives with the daemon's integration tests (root, real peers), so
//! `cargo test -p fulcrum-wire` runs as any user.

use std::net::Ipv4Addr;

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::vrrp::{self, Auth, Version};
use fulcrum_wire::{ipv4, Result as WireResult};
use netlab::Lab;

#[path = "wire_keepalived/peer.rs"]
mod peer;

const KEEPALIVED_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
const FULCRUM_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

/// An advert frame from Fulcrum's address and the virtual MAC, built only with this crate.
fn fulcrum_advert(version: Version, priority: u8, interval_cs: u16) -> WireResult<Vec<u8>> {
    let advert = vrrp::Repr {
        version,
        vrid: 7,
        priority,
        advert_interval_cs: interval_cs,
        auth: Auth::None,
        addresses: vec![VIP],
    };
    let ip = ipv4::Repr {
        src_addr: FULCRUM_ADDR,
        dst_addr: vrrp::MULTICAST_ADDR,
        protocol: ipv4::protocol::VRRP,
        payload_len: advert.buffer_len(),
        ttl: vrrp::TTL,
        tos: 0xc0,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    peer::ethernet_frame(
        EthernetAddress::vrrp_virtual(7),
        EthernetAddress::ipv4_multicast(vrrp::MULTICAST_ADDR),
        EtherType::Ipv4,
        ip.buffer_len(),
        |packet| {
            advert.emit(
                &mut packet[ipv4::HEADER_LEN..],
                FULCRUM_ADDR,
                vrrp::MULTICAST_ADDR,
            )?;
            ip.emit(&mut ipv4::Packet::new_unchecked(packet))
        },
    )
}

fn interop(version: Version, interval_cs: u16) {
    peer::require_tools();
    let number = version.number();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let lab = Lab::new(&format!("vrrpka{number}"));
    let keepalived_ns = lab.netns("ka").expect("namespace");
    let peer_ns = lab.netns("peer").expect("namespace");
    lab.veth(&keepalived_ns, "eth0", &peer_ns, "eth0")
        .expect("veth");
    keepalived_ns
        .addr("eth0", "10.235.210.43/24")
        .expect("address");

    let interval_s = f64::from(interval_cs) / 100.0;
    let config = format!(
        "global_defs {{\n  router_id fulcrumtest\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  \
         priority 100\n  advert_int {interval_s}\n  version {number}\n  \
         virtual_ipaddress {{\n    10.235.210.1/32\n  }}\n}}\n"
    );
    let frames = peer::keepalived_steps_down(
        scratch.path(),
        &keepalived_ns,
        &config,
        &peer_ns,
        &peer::Capture {
            ethertype: 0x0800,
            offset: 23,
            protocols: &[ipv4::protocol::VRRP],
        },
        &peer::Send {
            listen_s: 2.5 * interval_s.max(0.5),
            frame: fulcrum_advert(version, 200, interval_cs).expect("build advert"),
            count: 5,
            gap_s: interval_s,
        },
    );
    // What keepalived sent, read with our decoder.
    assert!(!frames.is_empty(), "no advert from keepalived was captured");
    for bytes in frames {
        let eth = ethernet::Frame::new_checked(&bytes[..]).expect("ethernet");
        let ip = ipv4::Packet::new_checked(eth.payload()).expect("ipv4");
        let ip_repr = ipv4::Repr::parse(&ip).expect("ipv4 header");
        assert_eq!((ip_repr.src_addr, ip_repr.ttl), (KEEPALIVED_ADDR, 255));
        let packet = vrrp::Packet::new_checked(ip.payload()).expect("vrrp view");
        let repr = vrrp::Repr::parse(&packet, ip_repr.src_addr, ip_repr.dst_addr)
            .expect("keepalived's advert parses and its checksum verifies");
        assert_eq!(repr.version, version);
        assert_eq!((repr.vrid, repr.priority), (7, 100));
        assert_eq!(repr.advert_interval_cs, interval_cs);
        assert_eq!(repr.addresses, vec![VIP]);
    }
}

#[test]
fn keepalived_v2_and_fulcrum_adverts_interoperate() {
    interop(Version::V2, 100);
}

#[test]
fn keepalived_v3_and_fulcrum_adverts_interoperate() {
    interop(Version::V3, 10);
}
