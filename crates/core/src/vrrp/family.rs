//! The address family of a virtual router: everything in which a VRRP instance over IPv4 and
//! one over IPv6 (RFC 5798 §5.1.2) differ on the wire, so that [`Group`](super::Group),
//! [`Machine`](super::Machine) and [`Senders`](super::senders::Senders) exist once, generic over
//! [`Family`], implemented for [`Ipv4Addr`] and [`Ipv6Addr`].
//!
//! Contract: [`Family::open`] takes a whole IP packet and returns its addresses, TTL or hop
//! limit and VRRP message, or the drop reason of the IP layer; [`Family::parse_advert`] reads
//! and verifies the VRRP message (checksum over the family's pseudo-header for v3);
//! [`Family::advert_packet`] builds a whole IP packet; [`Family::announcements`] builds what a
//! new master sends for each virtual address (gratuitous ARP for IPv4, RFC 3768 §6.4.2; an
//! unsolicited Neighbor Advertisement for IPv6, RFC 5798 §6.4.2). None of them panics on any
//! input.
//!
//! IPv6 specifics: the packet must carry VRRP directly (next header 112, no extension header),
//! come from a link-local source (RFC 5798 §5.1.2.1; anything else is `bad-ip`), and be version
//! 3. Unsolicited Neighbor Advertisements go from the virtual address to ff02::1 with hop limit
//! 255, Override set and the virtual MAC as target link-layer address; the Router flag that RFC
//! 5798 §6.4.2 asks of a forwarding router stays clear, as keepalived sends it: Fulcrum's
//! virtual addresses are services, not a default gateway, and R would put them in the hosts'
//! router lists.

use std::fmt;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::vrrp::{self as wire_vrrp, Auth, Version};
use fulcrum_wire::{arp, icmpv6, ipv4, ipv6, nd, WireError};

use super::AdvertDrop;

/// IPv4 TOS / IPv6 traffic class of adverts: precedence "internetwork control", as keepalived
/// sends.
const ADVERT_TOS: u8 = 0xc0;

/// The IP layer of a received packet, checked.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a, A> {
    pub source: A,
    pub destination: A,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// The VRRP message (the IP payload).
    pub message: &'a [u8],
}

/// A VRRP message as read, before the group's semantic checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<A> {
    pub vrid: u8,
    pub priority: u8,
    pub advert_interval_cs: u16,
    pub auth: Auth,
    pub addresses: Vec<A>,
}

/// What an advert carries besides its addresses and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertFields {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    pub advert_interval_cs: u16,
    pub auth: Auth,
    /// IPv4 identification (IPv6 has none in its fixed header).
    pub ident: u16,
}

/// IPv4 or IPv6, as a virtual router's address type.
pub trait Family: Copy + Ord + Hash + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// Where adverts go without unicast peers: 224.0.0.18 or ff02::12.
    const MULTICAST: Self;
    /// The Ethernet type of the family's packets.
    const ETHERTYPE: EtherType;

    /// Checks the IP layer of a whole packet (`bad-ip`, `not-vrrp`).
    fn open(ip_packet: &[u8]) -> Result<Header<'_, Self>, AdvertDrop>;

    /// Reads and verifies the VRRP message that came from `source` to `destination`.
    fn parse_advert(
        message: &[u8],
        version: Version,
        source: Self,
        destination: Self,
    ) -> Result<Received<Self>, AdvertDrop>;

    /// A whole IP packet carrying the advert.
    fn advert_packet(
        fields: AdvertFields,
        addresses: &[Self],
        source: Self,
        destination: Self,
    ) -> Result<Vec<u8>, WireError>;

    /// The virtual router MAC: 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6).
    fn virtual_mac(vrid: u8) -> EthernetAddress;

    /// The Ethernet multicast address of `group`.
    fn multicast_mac(group: Self) -> EthernetAddress;

    /// One frame per virtual address announcing `mac` for it.
    fn announcements(mac: EthernetAddress, addresses: &[Self]) -> Vec<Vec<u8>>;
}

fn wire_drop(e: WireError) -> AdvertDrop {
    match e {
        WireError::Unsupported => AdvertDrop::BadType,
        WireError::Checksum => AdvertDrop::BadChecksum,
        WireError::Truncated => AdvertDrop::Truncated,
        WireError::Malformed => AdvertDrop::BadLength,
    }
}

fn view_drop(e: WireError) -> AdvertDrop {
    match e {
        WireError::Truncated => AdvertDrop::Truncated,
        _ => AdvertDrop::BadVersion,
    }
}

impl Family for Ipv4Addr {
    const MULTICAST: Ipv4Addr = wire_vrrp::MULTICAST_ADDR;
    const ETHERTYPE: EtherType = EtherType::Ipv4;

    fn open(ip_packet: &[u8]) -> Result<Header<'_, Ipv4Addr>, AdvertDrop> {
        let ip = ipv4::Packet::new_checked(ip_packet).map_err(|_| AdvertDrop::BadIp)?;
        if ip.version() != 4 || !ip.verify_checksum() || ip.is_fragment() {
            return Err(AdvertDrop::BadIp);
        }
        if ip.protocol() != ipv4::protocol::VRRP {
            return Err(AdvertDrop::NotVrrp);
        }
        let header_len = usize::from(ip.header_len());
        let total_len = usize::from(ip.total_len());
        Ok(Header {
            source: ip.src_addr(),
            destination: ip.dst_addr(),
            hop_limit: ip.ttl(),
            message: ip_packet
                .get(header_len..total_len)
                .ok_or(AdvertDrop::BadIp)?,
        })
    }

    fn parse_advert(
        message: &[u8],
        version: Version,
        source: Ipv4Addr,
        destination: Ipv4Addr,
    ) -> Result<Received<Ipv4Addr>, AdvertDrop> {
        let packet = wire_vrrp::Packet::new_checked(message).map_err(view_drop)?;
        if packet.version() != Some(version) {
            return Err(AdvertDrop::BadVersion);
        }
        let repr = wire_vrrp::Repr::parse(&packet, source, destination).map_err(wire_drop)?;
        Ok(Received {
            vrid: repr.vrid,
            priority: repr.priority,
            advert_interval_cs: repr.advert_interval_cs,
            auth: repr.auth,
            addresses: repr.addresses,
        })
    }

    fn advert_packet(
        fields: AdvertFields,
        addresses: &[Ipv4Addr],
        source: Ipv4Addr,
        destination: Ipv4Addr,
    ) -> Result<Vec<u8>, WireError> {
        let vrrp = wire_vrrp::Repr {
            version: fields.version,
            vrid: fields.vrid,
            priority: fields.priority,
            advert_interval_cs: fields.advert_interval_cs,
            auth: fields.auth,
            addresses: addresses.to_vec(),
        };
        let ip = ipv4::Repr {
            src_addr: source,
            dst_addr: destination,
            protocol: ipv4::protocol::VRRP,
            payload_len: vrrp.buffer_len(),
            ttl: wire_vrrp::TTL,
            tos: ADVERT_TOS,
            ident: fields.ident,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        };
        let mut buf = vec![0u8; ip.buffer_len()];
        vrrp.emit(&mut buf[ipv4::HEADER_LEN..], ip.src_addr, ip.dst_addr)?;
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }

    fn virtual_mac(vrid: u8) -> EthernetAddress {
        EthernetAddress::vrrp_virtual(vrid)
    }

    fn multicast_mac(group: Ipv4Addr) -> EthernetAddress {
        EthernetAddress::ipv4_multicast(group)
    }

    fn announcements(mac: EthernetAddress, addresses: &[Ipv4Addr]) -> Vec<Vec<u8>> {
        addresses
            .iter()
            .map(|addr| {
                arp::Repr::gratuitous(mac, *addr)
                    .to_frame(mac, EthernetAddress::BROADCAST)
                    .to_vec()
            })
            .collect()
    }
}

impl Family for Ipv6Addr {
    const MULTICAST: Ipv6Addr = wire_vrrp::MULTICAST_ADDR_V6;
    const ETHERTYPE: EtherType = EtherType::Ipv6;

    fn open(ip_packet: &[u8]) -> Result<Header<'_, Ipv6Addr>, AdvertDrop> {
        let ip = ipv6::Packet::new_checked(ip_packet).map_err(|_| AdvertDrop::BadIp)?;
        if ip.version() != 6 || !ip.src_addr().is_unicast_link_local() {
            return Err(AdvertDrop::BadIp);
        }
        if ip.next_header() != ipv6::next_header::VRRP {
            return Err(AdvertDrop::NotVrrp);
        }
        let (source, destination, hop_limit) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
        let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
        Ok(Header {
            source,
            destination,
            hop_limit,
            message: ip_packet
                .get(ipv6::HEADER_LEN..end)
                .ok_or(AdvertDrop::BadIp)?,
        })
    }

    fn parse_advert(
        message: &[u8],
        version: Version,
        source: Ipv6Addr,
        destination: Ipv6Addr,
    ) -> Result<Received<Ipv6Addr>, AdvertDrop> {
        let packet = wire_vrrp::Packet::new_checked_v6(message).map_err(view_drop)?;
        if packet.version() != Some(version) {
            return Err(AdvertDrop::BadVersion);
        }
        let repr = wire_vrrp::Ipv6Repr::parse(&packet, source, destination).map_err(wire_drop)?;
        Ok(Received {
            vrid: repr.vrid,
            priority: repr.priority,
            advert_interval_cs: repr.advert_interval_cs,
            auth: Auth::None,
            addresses: repr.addresses,
        })
    }

    fn advert_packet(
        fields: AdvertFields,
        addresses: &[Ipv6Addr],
        source: Ipv6Addr,
        destination: Ipv6Addr,
    ) -> Result<Vec<u8>, WireError> {
        if fields.version != Version::V3 {
            return Err(WireError::Unsupported);
        }
        let vrrp = wire_vrrp::Ipv6Repr {
            vrid: fields.vrid,
            priority: fields.priority,
            advert_interval_cs: fields.advert_interval_cs,
            addresses: addresses.to_vec(),
        };
        let ip = ipv6::Repr {
            src_addr: source,
            dst_addr: destination,
            next_header: ipv6::next_header::VRRP,
            payload_len: vrrp.buffer_len(),
            hop_limit: wire_vrrp::HOP_LIMIT,
            traffic_class: ADVERT_TOS,
            flow_label: 0,
        };
        let mut buf = vec![0u8; ip.buffer_len()];
        vrrp.emit(&mut buf[ipv6::HEADER_LEN..], source, destination)?;
        ip.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }

    fn virtual_mac(vrid: u8) -> EthernetAddress {
        EthernetAddress::vrrp_virtual_v6(vrid)
    }

    fn multicast_mac(group: Ipv6Addr) -> EthernetAddress {
        EthernetAddress::ipv6_multicast(group)
    }

    fn announcements(mac: EthernetAddress, addresses: &[Ipv6Addr]) -> Vec<Vec<u8>> {
        addresses
            .iter()
            .filter_map(|addr| unsolicited_advert(mac, *addr).ok())
            .collect()
    }
}

/// An unsolicited Neighbor Advertisement for `target` (see the module doc for its flags).
fn unsolicited_advert(mac: EthernetAddress, target: Ipv6Addr) -> Result<Vec<u8>, WireError> {
    let message = icmpv6::Repr::Ndisc(nd::Repr::NeighborAdvert {
        flags: nd::NeighborFlags {
            router: false,
            solicited: false,
            override_: true,
        },
        target,
        target_lladdr: Some(mac),
    });
    let ip = ipv6::Repr {
        src_addr: target,
        dst_addr: nd::ALL_NODES,
        next_header: ipv6::next_header::ICMPV6,
        payload_len: message.buffer_len(),
        hop_limit: nd::HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    };
    let eth = ethernet::Repr {
        src_addr: mac,
        dst_addr: EthernetAddress::ipv6_multicast(nd::ALL_NODES),
        ethertype: EtherType::Ipv6,
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip.buffer_len()];
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))?;
    let packet = &mut frame[ethernet::HEADER_LEN..];
    message.emit(&mut packet[ipv6::HEADER_LEN..], target, nd::ALL_NODES)?;
    ip.emit(&mut ipv6::Packet::new_unchecked(packet))?;
    Ok(frame)
}
