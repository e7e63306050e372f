//! Interoperation of the VRRPv3-over-IPv6 packet format with keepalived (Debian's
//! `keepalived`), on a veth link between two lab namespaces:
//! - keepalived (priority 100, `version 3`, VIP fd00:1::100) becomes master alone; the adverts
//!   it sends from its link-local address to ff02::12, captured on the link, parse with
//!   `fulcrum_wire::vrrp::Ipv6Repr` (checksum over the IPv6 pseudo-header) and carry its VRID,
//!   priority, interval and VIP; its unsolicited Neighbor Advertisements for the VIP parse with
//!   `fulcrum_wire::nd`;
//! - adverts built with `fulcrum_wire` (priority 200, from the peer's link-local address, from
//!   the IPv6 virtual MAC) make it log the higher priority and enter BACKUP, so it verified our
//!   lengths and checksums.
//!
//! Needs root, iproute2, keepalived and python3 (which sends and receives raw frames with
//! AF_PACKET, as the wire crate has no sockets; see `wire_keepalived/peer.rs`, shared with the
//! IPv4 test). A missing tool fails the test with its name.
//!
//! It tests `fulcrum-wire` but lives with the daemon's integration tests (root, real peers), so
//! `cargo test -p fulcrum-wire` runs as any user.

use std::net::Ipv6Addr;

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::icmpv6::{self, Repr as Icmpv6Repr};
use fulcrum_wire::ipv6::{self, next_header};
use fulcrum_wire::{nd, vrrp, Result as WireResult};
use netlab::Lab;

#[path = "wire_keepalived/peer.rs"]
mod peer;

/// The link-local address our adverts come from (the EUI-64 of 02:00:00:00:00:44; the peer's
/// kernel need not own it, the frames are raw).
const FULCRUM_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x44);
const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x100);

/// An advert frame from the peer's link-local address and the IPv6 virtual MAC.
fn fulcrum_advert(priority: u8) -> WireResult<Vec<u8>> {
    let advert = vrrp::Ipv6Repr {
        vrid: 7,
        priority,
        advert_interval_cs: 100,
        addresses: vec![VIP],
    };
    let ip = ipv6::Repr {
        src_addr: FULCRUM_LL,
        dst_addr: vrrp::MULTICAST_ADDR_V6,
        next_header: next_header::VRRP,
        payload_len: advert.buffer_len(),
        hop_limit: vrrp::HOP_LIMIT,
        traffic_class: 0xc0,
        flow_label: 0,
    };
    peer::ethernet_frame(
        EthernetAddress::vrrp_virtual_v6(7),
        EthernetAddress::ipv6_multicast(vrrp::MULTICAST_ADDR_V6),
        EtherType::Ipv6,
        ip.buffer_len(),
        |packet| {
            advert.emit(
                &mut packet[ipv6::HEADER_LEN..],
                FULCRUM_LL,
                vrrp::MULTICAST_ADDR_V6,
            )?;
            ip.emit(&mut ipv6::Packet::new_unchecked(packet))
        },
    )
}

#[test]
fn keepalived_ipv6_and_fulcrum_adverts_interoperate() {
    peer::require_tools();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let lab = Lab::new("vrrpka6");
    let keepalived_ns = lab.netns("ka").expect("namespace");
    let peer_ns = lab.netns("peer").expect("namespace");
    for ns in [&keepalived_ns, &peer_ns] {
        // No duplicate address detection: the link-local addresses are usable at once.
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")
            .expect("sysctl");
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")
            .expect("sysctl");
    }
    lab.veth(&keepalived_ns, "eth0", &peer_ns, "eth0")
        .expect("veth");
    keepalived_ns
        .ip(&["link", "set", "eth0", "address", "02:00:00:00:00:43"])
        .expect("mac");
    peer_ns
        .ip(&["link", "set", "eth0", "address", "02:00:00:00:00:44"])
        .expect("mac");
    keepalived_ns
        .ip(&["addr", "add", "fd00:1::43/64", "dev", "eth0", "nodad"])
        .expect("address");

    let config = "global_defs {\n  router_id fulcrumtest\n}\n\
         vrrp_instance VI_6 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  \
         priority 100\n  advert_int 1\n  version 3\n  \
         virtual_ipaddress {\n    fd00:1::100/64\n  }\n}\n";
    let frames = peer::keepalived_steps_down(
        scratch.path(),
        &keepalived_ns,
        config,
        &peer_ns,
        &peer::Capture {
            ethertype: 0x86dd,
            offset: 20,
            protocols: &[next_header::VRRP, next_header::ICMPV6],
        },
        &peer::Send {
            listen_s: 2.5,
            frame: fulcrum_advert(200).expect("build advert"),
            count: 5,
            gap_s: 1.0,
        },
    );
    // What keepalived sent, read with our decoders.
    let mut adverts = 0;
    for bytes in frames {
        let eth = ethernet::Frame::new_checked(&bytes[..]).expect("ethernet");
        let ip = ipv6::Packet::new_checked(eth.payload()).expect("ipv6");
        let ip_repr = ipv6::Repr::parse(&ip).expect("ipv6 header");
        if ip_repr.next_header == next_header::VRRP {
            // From keepalived's link-local address (RFC 5798 §5.1.2.1), whatever the kernel
            // chose for it.
            assert_eq!(ip_repr.src_addr.segments()[0] & 0xffc0, 0xfe80);
            assert_eq!(ip_repr.hop_limit, 255);
            assert_eq!(ip_repr.dst_addr, vrrp::MULTICAST_ADDR_V6);
            let packet = vrrp::Packet::new_checked_v6(ip.payload()).expect("vrrp view");
            let repr = vrrp::Ipv6Repr::parse(&packet, ip_repr.src_addr, ip_repr.dst_addr)
                .expect("keepalived's advert parses and its checksum verifies");
            assert_eq!((repr.vrid, repr.priority), (7, 100));
            assert_eq!(repr.advert_interval_cs, 100);
            assert_eq!(repr.addresses, vec![VIP]);
            adverts += 1;
        } else if let Ok(packet) = icmpv6::Packet::new_checked(ip.payload()) {
            if let Ok(Icmpv6Repr::Ndisc(nd::Repr::NeighborAdvert {
                flags,
                target,
                target_lladdr,
            })) = Icmpv6Repr::parse(&packet, ip_repr.src_addr, ip_repr.dst_addr)
            {
                assert_eq!(target, VIP);
                assert!(flags.override_ && !flags.solicited);
                assert_eq!(target_lladdr, Some(eth.src_addr()));
            }
        }
    }
    assert!(adverts > 0, "no advert from keepalived was captured");
}
