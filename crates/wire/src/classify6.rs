//! The IPv6 frame classifier of the DSR data plane: one Ethernet frame in, one [`Verdict6`] out,
//! without allocating, total over all inputs like [`crate::classify::classify`] (whose drop
//! reasons it shares). It walks the extension headers to the upper layer ([`crate::ipv6ext`]):
//! - UDP or TCP to a VIP service: `ToVip` with ports and TCP flags; a non-first fragment to a VIP
//!   address: `ToVip` without ports (steered by the client alone, as IPv4 fragments are); a first
//!   fragment too short for the transport header is dropped (RFC 8200 §4.5 requires it whole);
//! - Neighbor Solicitations for an address the plane answers for, and every Neighbor
//!   Advertisement (they feed the resolver of target MACs), after the RFC 4861 §7.1 checks: hop
//!   limit 255, checksum, lengths, options;
//! - VRRP (next header 112): for the VRRP receiver;
//! - ICMPv6 errors about a packet a VIP sent (a DSR target answers from the VIP, so Packet Too
//!   Big and unreachables for its replies come back to the VIP): `Icmpv6Error` with the client's
//!   flow as the client sends it, so the plane can steer the error to the target holding that
//!   client's session; the plane forwards it unchanged;
//! - anything else is `Other`, left to the kernel.
//!
//! Only ND messages have their checksum verified (the plane answers them); forwarded packets are
//! verified by the target's stack, as for IPv4.

use std::net::Ipv6Addr;

use crate::classify::{transport_ports, DropReason, Ports};
use crate::ethernet::{self, EtherType, EthernetAddress};
use crate::icmpv6::{self, Repr as Icmpv6Repr};
use crate::ipv6::{self, next_header};
use crate::{ipv6ext, nd, tcp};

/// What the data plane knows about its IPv6 virtual services.
pub trait Vip6Table {
    /// Whether `addr` is an IPv6 VIP for any service.
    fn is_vip6_addr(&self, addr: Ipv6Addr) -> bool;
    /// Whether `addr:port` over `protocol` (6 or 17) is a balanced service.
    fn is_vip6_service(&self, addr: Ipv6Addr, protocol: u8, port: u16) -> bool;
    /// Whether Neighbor Solicitations for `addr` are the plane's to answer: the VIPs, and
    /// whatever other address the plane owns on the interface (its `real6`).
    fn answers_nd_for(&self, addr: Ipv6Addr) -> bool {
        self.is_vip6_addr(addr)
    }
}

/// Where a piece of a fragmented IPv6 datagram sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment6 {
    pub ident: u32,
    /// In bytes.
    pub offset: u16,
    pub more: bool,
}

/// An IPv6 frame for a VIP service (or, reversed, the flow an ICMPv6 error is about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow6 {
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// `None` for a non-first fragment: steer it by `src` (the client's session).
    pub ports: Option<Ports>,
    pub fragment: Option<Fragment6>,
    /// TCP control bits; `None` for UDP, non-first fragments and ICMPv6 errors.
    pub tcp_flags: Option<tcp::Flags>,
}

/// What to do with one IPv6 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict6 {
    /// A Neighbor Solicitation for an address the plane answers for.
    NeighborSolicit {
        target: Ipv6Addr,
        sender_ip: Ipv6Addr,
        /// From the source link-layer option, else the frame's source.
        sender_mac: EthernetAddress,
    },
    /// A Neighbor Advertisement: feeds the resolver of target MACs.
    NeighborAdvert {
        target: Ipv6Addr,
        /// From the target link-layer option, else the frame's source.
        target_mac: EthernetAddress,
        flags: nd::NeighborFlags,
    },
    /// Balance and forward it.
    ToVip(Flow6),
    /// An ICMPv6 error about a packet a VIP sent; the flow is the client's (client -> VIP).
    Icmpv6Error(Flow6),
    /// Next header 112: hand it to the VRRP receiver.
    Vrrp,
    /// Not ours: the kernel handles its copy.
    Other,
    Drop(DropReason),
}

/// Classify one Ethernet frame carrying IPv6 (any other EtherType is `Other`).
pub fn classify_ipv6(frame: &[u8], vips: &impl Vip6Table) -> Verdict6 {
    let Ok(eth) = ethernet::Frame::new_checked(frame) else {
        return Verdict6::Drop(DropReason::Runt);
    };
    if eth.ethertype() != EtherType::Ipv6 {
        return Verdict6::Other;
    }
    let Ok(ip) = ipv6::Packet::new_checked(eth.payload()) else {
        return Verdict6::Drop(DropReason::Ipv6Truncated);
    };
    if ip.version() != 6 {
        return Verdict6::Drop(DropReason::Ipv6BadVersion);
    }
    let upper = match ipv6ext::upper_layer(&ip) {
        Ok(upper) => upper,
        Err(_) => return Verdict6::Drop(DropReason::Ipv6BadExtension),
    };
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let fragment = upper.fragment.filter(|f| f.is_piece()).map(|f| Fragment6 {
        ident: f.ident,
        offset: f.offset,
        more: f.more,
    });
    let proto = upper.protocol;
    let l4 = &ip.payload()[upper.offset..];
    if fragment.is_some_and(|f| f.offset != 0) {
        // A non-first fragment has no upper-layer header: steer by address alone.
        let balanced = proto == next_header::UDP || proto == next_header::TCP;
        return if balanced && vips.is_vip6_addr(dst) {
            Verdict6::ToVip(Flow6 {
                protocol: proto,
                src,
                dst,
                ports: None,
                fragment,
                tcp_flags: None,
            })
        } else {
            Verdict6::Other
        };
    }
    match proto {
        next_header::VRRP => Verdict6::Vrrp,
        next_header::UDP | next_header::TCP => {
            if !vips.is_vip6_addr(dst) {
                return Verdict6::Other;
            }
            let (ports, tcp_flags) = match transport_ports(proto, l4, fragment.is_some()) {
                Ok(found) => found,
                Err(reason) => return Verdict6::Drop(reason),
            };
            if vips.is_vip6_service(dst, proto, ports.dst) {
                Verdict6::ToVip(Flow6 {
                    protocol: proto,
                    src,
                    dst,
                    ports: Some(ports),
                    fragment,
                    tcp_flags,
                })
            } else {
                Verdict6::Other
            }
        }
        next_header::ICMPV6 if fragment.is_none() => classify_icmpv6(l4, &ip, eth.src_addr(), vips),
        _ => Verdict6::Other,
    }
}

fn classify_icmpv6(
    message: &[u8],
    ip: &ipv6::Packet<&[u8]>,
    frame_src: EthernetAddress,
    vips: &impl Vip6Table,
) -> Verdict6 {
    let Some(&msg_type) = message.first() else {
        return Verdict6::Other;
    };
    match msg_type {
        nd::TYPE_NEIGHBOR_SOLICIT | nd::TYPE_NEIGHBOR_ADVERT => {
            classify_nd(message, ip, frame_src, vips)
        }
        t if t < 128 => classify_error(message, vips),
        _ => Verdict6::Other,
    }
}

fn classify_nd(
    message: &[u8],
    ip: &ipv6::Packet<&[u8]>,
    frame_src: EthernetAddress,
    vips: &impl Vip6Table,
) -> Verdict6 {
    let invalid = Verdict6::Drop(DropReason::NdInvalid);
    if ip.hop_limit() != nd::HOP_LIMIT {
        return invalid;
    }
    let Ok(packet) = icmpv6::Packet::new_checked(message) else {
        return invalid;
    };
    let Ok(Icmpv6Repr::Ndisc(repr)) = Icmpv6Repr::parse(&packet, ip.src_addr(), ip.dst_addr())
    else {
        return invalid;
    };
    match repr {
        nd::Repr::NeighborSolicit {
            target,
            source_lladdr,
        } => {
            let sender_mac = source_lladdr.unwrap_or(frame_src);
            if sender_mac.is_multicast() {
                return invalid;
            }
            if !vips.answers_nd_for(target) {
                return Verdict6::Other;
            }
            Verdict6::NeighborSolicit {
                target,
                sender_ip: ip.src_addr(),
                sender_mac,
            }
        }
        nd::Repr::NeighborAdvert {
            flags,
            target,
            target_lladdr,
        } => {
            let target_mac = target_lladdr.unwrap_or(frame_src);
            if target_mac.is_multicast() {
                return invalid;
            }
            Verdict6::NeighborAdvert {
                target,
                target_mac,
                flags,
            }
        }
    }
}

/// UDP and TCP headers both open with the source and destination ports, 16 bits each.
const SRC_PORT: usize = 0;
const DST_PORT: usize = 2;
const PORTS_LEN: usize = 4;

/// An ICMPv6 error whose invoking packet came from a VIP: the flow it belongs to, as the client
/// sends it (source and destination, and ports, swapped back).
fn classify_error(message: &[u8], vips: &impl Vip6Table) -> Verdict6 {
    let invoking = message.get(icmpv6::HEADER_LEN..).unwrap_or(&[]);
    let Some((vip, client, inner_next)) = icmpv6::invoking_header(invoking) else {
        return Verdict6::Other;
    };
    if !vips.is_vip6_addr(vip) {
        return Verdict6::Other;
    }
    let inner = &invoking[ipv6::HEADER_LEN..];
    // The invoking packet is cut short: read its ports only if its chain and their 4 bytes fit.
    let ports = ipv6ext::walk(inner_next, inner).ok().and_then(|upper| {
        let l4 = inner.get(upper.offset..upper.offset + PORTS_LEN)?;
        let fits = matches!(upper.protocol, next_header::UDP | next_header::TCP)
            && upper.fragment.is_none_or(|f| f.offset == 0);
        fits.then(|| {
            (
                upper.protocol,
                Ports {
                    src: u16::from_be_bytes([l4[DST_PORT], l4[DST_PORT + 1]]),
                    dst: u16::from_be_bytes([l4[SRC_PORT], l4[SRC_PORT + 1]]),
                },
            )
        })
    });
    let Some((protocol, ports)) =
        ports.filter(|(protocol, ports)| vips.is_vip6_service(vip, *protocol, ports.dst))
    else {
        return Verdict6::Other;
    };
    Verdict6::Icmpv6Error(Flow6 {
        protocol,
        src: client,
        dst: vip,
        ports: Some(ports),
        fragment: None,
        tcp_flags: None,
    })
}

#[cfg(test)]
mod tests;
