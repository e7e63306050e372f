//! The IPv6 frames of the `dsr-path` probe ([`super`]): the probe, from the network's
//! `real6` to the IPv6 VIP in a frame to the target's MAC (learned by Neighbor Discovery), and
//! the target's answer, from the VIP to `real6`, picked out of the frames the IPv6 workers leave
//! to the kernel.
//!
//! Contract: [`probe_frame6`] builds one Ethernet/IPv6/UDP frame (hop limit 64, no extension
//! headers, the UDP checksum over the IPv6 pseudo-header, which IPv6 requires).
//! [`PathProbes::offer6`] looks only at UDP directly after the fixed header (a probe's answer
//! is a small datagram that no target fragments) to `real6`, with a verifying checksum (unless
//! the sender left it to hardware); the rest of the bookkeeping is the IPv4 path's
//! ([`PathProbes::hand_over`]). Nothing here panics on any frame.

use std::net::{Ipv6Addr, SocketAddr};

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::ipv6::{self, next_header};
use fulcrum_wire::udp;

use super::{PathProbe, PathProbes};

/// Hop limit of a probe: a host's default; the target is on the link anyway.
const HOP_LIMIT: u8 = 64;

/// Ethernet to the target's MAC, IPv6 from `real6` (`source`) to the VIP, UDP from `port` to
/// the VIP's.
pub(super) fn probe_frame6(
    source: Ipv6Addr,
    vip: Ipv6Addr,
    probe: &PathProbe<'_>,
    own_mac: EthernetAddress,
    port: u16,
) -> Result<Vec<u8>, String> {
    let udp_len = udp::Repr::buffer_len(probe.payload.len());
    let ip_repr = ipv6::Repr {
        src_addr: source,
        dst_addr: vip,
        next_header: next_header::UDP,
        payload_len: udp_len,
        hop_limit: HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip_repr.buffer_len()];
    let bad = |e: fulcrum_wire::error::WireError| format!("cannot build the probe frame: {e}");
    ethernet::Repr {
        src_addr: own_mac,
        dst_addr: probe.mac,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
    .map_err(bad)?;
    let ip = &mut frame[ethernet::HEADER_LEN..];
    ip_repr
        .emit(&mut ipv6::Packet::new_unchecked(&mut *ip))
        .map_err(bad)?;
    udp::Repr {
        src_port: port,
        dst_port: probe.vip_port,
    }
    .emit(&mut ip[ipv6::HEADER_LEN..], source, vip, probe.payload)
    .map_err(bad)?;
    Ok(frame)
}

impl PathProbes {
    /// An IPv6 frame the plane left to the kernel while a probe waits: an answer if it is UDP to
    /// `real6` from the probed VIP:port and the target's MAC at a waiting port. `is_vip(addr)`
    /// says whether a stray datagram to `real6` came from an IPv6 VIP (then counted).
    pub fn offer6(
        &self,
        frame: &[u8],
        real6: Ipv6Addr,
        checksum_incomplete: bool,
        is_vip: impl Fn(Ipv6Addr) -> bool,
    ) {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EtherType::Ipv6 {
            return;
        }
        let Ok(ip) = ipv6::Packet::new_checked(eth.payload()) else {
            return;
        };
        if ip.version() != 6 || ip.dst_addr() != real6 || ip.next_header() != next_header::UDP {
            return;
        }
        let Ok(datagram) = udp::Packet::new_checked(ip.payload()) else {
            return;
        };
        let src = ip.src_addr();
        // A sender that left the checksum to hardware (a veth peer) has only the pseudo-header
        // sum in it.
        if !checksum_incomplete && !datagram.verify_checksum(src, real6) {
            return;
        }
        let from = SocketAddr::from((src, datagram.src_port()));
        let to = SocketAddr::from((real6, datagram.dst_port()));
        self.hand_over(eth.src_addr(), from, to, is_vip(src), datagram.payload());
    }
}
