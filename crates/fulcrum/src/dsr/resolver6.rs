//! The Neighbor Discovery frames the DSR plane sends (RFC 4861): solicitations for target MACs
//! from the network's `real6` address, solicited advertisements answering for a VIP (with the
//! IPv6 virtual MAC) or for `real6` (with the interface's own MAC), and unsolicited
//! advertisements for the VIPs on becoming master (§7.2.6). What is learned from the answers
//! goes into the same pure cache as ARP's, [`super::resolver::Resolver`]`<Ipv6Addr>`, with the
//! same rules (only the first answer to a request of ours within its window).
//!
//! Every frame is a whole Ethernet frame with hop limit 255 (§7.1) and the link-layer option
//! (source for a solicitation, target for an advertisement), built with `fulcrum_wire`'s
//! `ipv6`, `icmpv6` and `nd` emitters; the builders are total (a frame that cannot be built is
//! `None`, never a panic).

use std::net::Ipv6Addr;

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::icmpv6;
use fulcrum_wire::ipv6::{self, next_header};
use fulcrum_wire::nd::{self, NeighborFlags};

/// Longest ND frame the plane sends: Ethernet, IPv6, the ND body and one link-layer option.
pub const ND_FRAME_LEN: usize =
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + nd::BODY_LEN + nd::LLADDR_OPTION_LEN;

/// `repr` as a whole frame from `src_mac`/`src_ip` to `dst_mac`/`dst_ip`, written into `out`
/// (at least [`ND_FRAME_LEN`] bytes); returns the frame's length.
pub fn nd_frame(
    out: &mut [u8],
    (src_mac, src_ip): (EthernetAddress, Ipv6Addr),
    (dst_mac, dst_ip): (EthernetAddress, Ipv6Addr),
    repr: nd::Repr,
) -> Option<usize> {
    let message = icmpv6::Repr::Ndisc(repr);
    let ip = ipv6::Repr {
        src_addr: src_ip,
        dst_addr: dst_ip,
        next_header: next_header::ICMPV6,
        payload_len: message.buffer_len(),
        hop_limit: nd::HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    };
    let len = ethernet::HEADER_LEN + ip.buffer_len();
    let frame = out.get_mut(..len)?;
    ethernet::Repr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
    .ok()?;
    let packet = &mut frame[ethernet::HEADER_LEN..];
    message
        .emit(&mut packet[ipv6::HEADER_LEN..], src_ip, dst_ip)
        .ok()?;
    ip.emit(&mut ipv6::Packet::new_unchecked(packet)).ok()?;
    Some(len)
}

/// Who has `target`? From `source` (`real6`) at `own_mac`, to `target`'s solicited-node group.
pub fn solicit(
    out: &mut [u8],
    own_mac: EthernetAddress,
    source: Ipv6Addr,
    target: Ipv6Addr,
) -> Option<usize> {
    nd_frame(
        out,
        (own_mac, source),
        (nd::solicited_node_mac(target), nd::solicited_node(target)),
        nd::Repr::NeighborSolicit {
            target,
            source_lladdr: Some(own_mac),
        },
    )
}

/// `addr` is at `mac`, answering `asker_ip` at `asker_mac`. A solicitation from the
/// unspecified address (duplicate address detection) is answered to all nodes, unsolicited
/// (RFC 4861 §7.2.4). Override is set: the address is this node's alone while it answers.
pub fn answer(
    out: &mut [u8],
    (mac, addr): (EthernetAddress, Ipv6Addr),
    (asker_mac, asker_ip): (EthernetAddress, Ipv6Addr),
) -> Option<usize> {
    let (dst_mac, dst_ip, solicited) = if asker_ip.is_unspecified() {
        (
            EthernetAddress::ipv6_multicast(nd::ALL_NODES),
            nd::ALL_NODES,
            false,
        )
    } else {
        (asker_mac, asker_ip, true)
    };
    advert(out, mac, addr, (dst_mac, dst_ip), solicited)
}

/// An unsolicited advertisement of `vip` at `mac` to all nodes (§7.2.6), so that neighbours
/// forget the old master's MAC at once.
pub fn announce(out: &mut [u8], mac: EthernetAddress, vip: Ipv6Addr) -> Option<usize> {
    let all = (
        EthernetAddress::ipv6_multicast(nd::ALL_NODES),
        nd::ALL_NODES,
    );
    advert(out, mac, vip, all, false)
}

fn advert(
    out: &mut [u8],
    mac: EthernetAddress,
    addr: Ipv6Addr,
    dst: (EthernetAddress, Ipv6Addr),
    solicited: bool,
) -> Option<usize> {
    nd_frame(
        out,
        (mac, addr),
        dst,
        nd::Repr::NeighborAdvert {
            flags: NeighborFlags {
                router: false,
                solicited,
                override_: true,
            },
            target: addr,
            target_lladdr: Some(mac),
        },
    )
}

#[cfg(test)]
mod tests {
    use fulcrum_wire::classify6::{classify_ipv6, Verdict6, Vip6Table};

    use super::*;

    const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 1);
    const REAL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 0x45);
    const TARGET: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 0x44);
    const OWN: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x45]);
    const ASKER: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x44]);

    struct Table;

    impl Vip6Table for Table {
        fn is_vip6_addr(&self, addr: Ipv6Addr) -> bool {
            addr == VIP
        }
        fn is_vip6_service(&self, addr: Ipv6Addr, _protocol: u8, port: u16) -> bool {
            addr == VIP && port == 53
        }
    }

    /// What the classifier the workers run makes of a frame: the frames are checked the way a
    /// receiving stack checks them (hop limit, checksum, options).
    fn classified(frame: &[u8]) -> Verdict6 {
        classify_ipv6(frame, &Table)
    }

    #[test]
    fn a_solicitation_goes_to_the_solicited_node_group_with_our_mac() {
        let mut out = [0u8; ND_FRAME_LEN];
        let len = solicit(&mut out, OWN, REAL, TARGET).unwrap();
        assert_eq!(len, ND_FRAME_LEN);
        let eth = ethernet::Frame::new_checked(&out[..len]).unwrap();
        assert_eq!(
            eth.dst_addr(),
            EthernetAddress([0x33, 0x33, 0xff, 0, 0, 0x44])
        );
        let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(
            ip.dst_addr(),
            "ff02::1:ff00:44".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(ip.hop_limit(), 255);
        let message = icmpv6::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(
            icmpv6::Repr::parse(&message, REAL, ip.dst_addr()),
            Ok(icmpv6::Repr::Ndisc(nd::Repr::NeighborSolicit {
                target: TARGET,
                source_lladdr: Some(OWN),
            }))
        );
    }

    #[test]
    fn answers_and_announcements_are_valid_advertisements() {
        let mut out = [0u8; ND_FRAME_LEN];
        let virtual_mac = EthernetAddress::vrrp_virtual_v6(7);
        let len = answer(&mut out, (virtual_mac, VIP), (ASKER, TARGET)).unwrap();
        match classified(&out[..len]) {
            Verdict6::NeighborAdvert {
                target,
                target_mac,
                flags,
            } => {
                assert_eq!((target, target_mac), (VIP, virtual_mac));
                assert!(flags.solicited && flags.override_ && !flags.router);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(&out[0..6], &ASKER.0);
        let dad = answer(&mut out, (virtual_mac, VIP), (ASKER, Ipv6Addr::UNSPECIFIED)).unwrap();
        assert_eq!(&out[0..6], &[0x33, 0x33, 0, 0, 0, 1], "DAD: to all nodes");
        assert!(matches!(
            classified(&out[..dad]),
            Verdict6::NeighborAdvert { flags, .. } if !flags.solicited
        ));
        let len = announce(&mut out, virtual_mac, VIP).unwrap();
        assert!(matches!(
            classified(&out[..len]),
            Verdict6::NeighborAdvert { target: VIP, flags, .. } if !flags.solicited && flags.override_
        ));
    }

    #[test]
    fn a_short_buffer_is_refused() {
        let mut out = [0u8; ND_FRAME_LEN - 1];
        assert_eq!(solicit(&mut out, OWN, REAL, TARGET), None);
    }
}
