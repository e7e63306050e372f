//! The frame classifier of the DSR data plane: one Ethernet frame in, one [`Verdict`] out, in a
//! few dozen instructions and without allocating. Total over all inputs: runts, bad IPv4 header
//! lengths, bad IPv4 header checksums, truncated transport headers and ARP garbage become
//! `Verdict::Drop` with one counted [`DropReason`]; it never panics. Frames that are neither for
//! a VIP nor VRRP are `Verdict::Other`, left to the kernel (which gets its own copy).
//!
//! Only the IPv4 header checksum is verified: DSR forwards the IP packet unchanged and the
//! target's stack verifies the transport checksum, as a router would leave it.
//!
//! IPv6 frames are `Verdict::Other` here, so the IPv4 path costs what it did; the data plane
//! hands them to [`crate::classify6::classify_ipv6`], which shares the drop reasons.

use std::net::Ipv4Addr;

use crate::ethernet::{self, EtherType, EthernetAddress};
use crate::ipv4::{self, protocol};
use crate::tcp;
use crate::{arp, udp};

/// What the data plane knows about its virtual services.
pub trait VipTable {
    /// Whether `addr` is a VIP for any service: decides ARP answers and non-first fragments
    /// (which carry no ports).
    fn is_vip_addr(&self, addr: Ipv4Addr) -> bool;
    /// Whether `addr:port` over `protocol` (6 or 17) is a balanced service.
    fn is_vip_service(&self, addr: Ipv4Addr, protocol: u8, port: u16) -> bool;
    /// Whether ARP requests for `addr` are the plane's to answer: the VIPs, and whatever other
    /// address the plane owns on the interface (the DSR plane's `real` address).
    fn answers_arp_for(&self, addr: Ipv4Addr) -> bool {
        self.is_vip_addr(addr)
    }
}

crate::counted_enum! {
    /// Why a frame was dropped. Every drop is counted under exactly one reason.
    #[derive(PartialOrd, Ord)]
    pub enum DropReason {
        /// Shorter than an Ethernet header.
        Runt => "runt",
        /// ARP shorter than its length fields announce, or of an unknown operation.
        ArpMalformed => "arp-malformed",
        /// ARP for another hardware or protocol type than Ethernet/IPv4.
        ArpUnsupported => "arp-unsupported",
        /// ARP whose sender hardware address is multicast or broadcast.
        ArpBadSender => "arp-bad-sender",
        /// IPv4 shorter than 20 bytes or than its total length.
        IpTruncated => "ip-truncated",
        /// The version nibble is not 4 on an IPv4 EtherType.
        IpBadVersion => "ip-bad-version",
        /// IHL below 5, or a total length below the header length.
        IpBadHeaderLen => "ip-bad-header-len",
        IpBadChecksum => "ip-bad-checksum",
        /// A first fragment or a datagram to a VIP without a whole UDP or TCP header.
        L4Truncated => "l4-truncated",
        /// A UDP length field below 8 or beyond the IP payload.
        UdpBadLength => "udp-bad-length",
        /// A TCP data offset below 5.
        TcpBadHeaderLen => "tcp-bad-header-len",
        /// IPv6 shorter than 40 bytes or than its payload length.
        Ipv6Truncated => "ipv6-truncated",
        /// The version nibble is not 6 on an IPv6 EtherType.
        Ipv6BadVersion => "ipv6-bad-version",
        /// An extension-header chain cut short, out of order, or longer than the walk allows.
        Ipv6BadExtension => "ipv6-bad-extension",
        /// A Neighbor Solicitation or Advertisement that fails RFC 4861 §7.1 validation (hop limit,
        /// checksum, length, options) or whose sender link-layer address is multicast.
        NdInvalid => "nd-invalid",
    }
}

/// Counters indexed by [`DropReason::index`], one array per data-plane thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounters(pub [u64; DropReason::COUNT]);

impl DropCounters {
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }
}

/// Where a piece of a fragmented datagram sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    pub ident: u16,
    /// In bytes.
    pub offset: u16,
    pub more: bool,
}

/// Transport ports, present unless the frame is a non-first fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    pub src: u16,
    pub dst: u16,
}

/// A frame for a VIP service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// `None` for a non-first fragment: steer it by `src` (the client's session).
    pub ports: Option<Ports>,
    /// `None` for an unfragmented datagram.
    pub fragment: Option<Fragment>,
    /// TCP control bits (SYN opens, FIN/RST close a connection); `None` for UDP and for
    /// non-first fragments.
    pub tcp_flags: Option<tcp::Flags>,
}

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// An ARP request for an address the plane answers for ([`VipTable::answers_arp_for`]).
    ArpRequest {
        target: Ipv4Addr,
        sender_ip: Ipv4Addr,
        sender_mac: EthernetAddress,
    },
    /// An ARP reply: feeds the resolver of target MACs.
    ArpReply {
        sender_ip: Ipv4Addr,
        sender_mac: EthernetAddress,
    },
    /// Balance and forward it.
    ToVip(Flow),
    /// IP protocol 112: hand it to the VRRP receiver.
    Vrrp,
    /// Not ours: the kernel handles its copy.
    Other,
    Drop(DropReason),
}

/// Classify one Ethernet frame.
pub fn classify(frame: &[u8], vips: &impl VipTable) -> Verdict {
    let Ok(eth) = ethernet::Frame::new_checked(frame) else {
        return Verdict::Drop(DropReason::Runt);
    };
    match eth.ethertype() {
        EtherType::Arp => classify_arp(eth.payload(), vips),
        EtherType::Ipv4 => classify_ipv4(eth.payload(), vips),
        _ => Verdict::Other,
    }
}

fn classify_arp(payload: &[u8], vips: &impl VipTable) -> Verdict {
    let Ok(packet) = arp::Packet::new_checked(payload) else {
        return Verdict::Drop(DropReason::ArpMalformed);
    };
    let Ok(repr) = arp::Repr::parse(&packet) else {
        return Verdict::Drop(DropReason::ArpUnsupported);
    };
    if repr.source_hardware_addr.is_multicast() {
        return Verdict::Drop(DropReason::ArpBadSender);
    }
    match repr.operation {
        arp::Operation::Request if vips.answers_arp_for(repr.target_protocol_addr) => {
            Verdict::ArpRequest {
                target: repr.target_protocol_addr,
                sender_ip: repr.source_protocol_addr,
                sender_mac: repr.source_hardware_addr,
            }
        }
        arp::Operation::Request => Verdict::Other,
        arp::Operation::Reply => Verdict::ArpReply {
            sender_ip: repr.source_protocol_addr,
            sender_mac: repr.source_hardware_addr,
        },
        arp::Operation::Unknown(_) => Verdict::Drop(DropReason::ArpMalformed),
    }
}

fn classify_ipv4(payload: &[u8], vips: &impl VipTable) -> Verdict {
    if payload.len() < ipv4::HEADER_LEN {
        return Verdict::Drop(DropReason::IpTruncated);
    }
    let ip = ipv4::Packet::new_unchecked(payload);
    if ip.version() != 4 {
        return Verdict::Drop(DropReason::IpBadVersion);
    }
    let header_len = usize::from(ip.header_len());
    let total_len = usize::from(ip.total_len());
    if header_len < ipv4::HEADER_LEN || total_len < header_len {
        return Verdict::Drop(DropReason::IpBadHeaderLen);
    }
    if total_len > payload.len() {
        return Verdict::Drop(DropReason::IpTruncated);
    }
    // From here on every accessor of the view is in bounds (the checks of `new_checked`).
    if !ip.verify_checksum() {
        return Verdict::Drop(DropReason::IpBadChecksum);
    }
    let proto = ip.protocol();
    if proto == protocol::VRRP {
        return Verdict::Vrrp;
    }
    if proto != protocol::UDP && proto != protocol::TCP {
        return Verdict::Other;
    }
    let dst = ip.dst_addr();
    let fragment = ip.is_fragment().then(|| Fragment {
        ident: ip.ident(),
        offset: ip.frag_offset(),
        more: ip.more_frags(),
    });
    let flow = |ports, tcp_flags| Flow {
        protocol: proto,
        src: ip.src_addr(),
        dst,
        ports,
        fragment,
        tcp_flags,
    };
    if ip.frag_offset() != 0 {
        // A non-first fragment has no transport header: steer by address alone.
        return if vips.is_vip_addr(dst) {
            Verdict::ToVip(flow(None, None))
        } else {
            Verdict::Other
        };
    }
    if !vips.is_vip_addr(dst) {
        return Verdict::Other;
    }
    let (ports, tcp_flags) = match transport_ports(proto, ip.payload(), fragment.is_some()) {
        Ok(found) => found,
        Err(reason) => return Verdict::Drop(reason),
    };
    if vips.is_vip_service(dst, proto, ports.dst) {
        Verdict::ToVip(flow(Some(ports), tcp_flags))
    } else {
        Verdict::Other
    }
}

/// Ports (and TCP flags) of a UDP or TCP header that must be whole (RFC 1858: a first fragment too short to
/// hold it is an attack, not traffic). The UDP length covers the whole datagram, so it is only
/// checked against the payload when the datagram is not fragmented.
pub(crate) fn transport_ports(
    proto: u8,
    payload: &[u8],
    fragmented: bool,
) -> Result<(Ports, Option<tcp::Flags>), DropReason> {
    if proto == protocol::UDP {
        if payload.len() < udp::HEADER_LEN {
            return Err(DropReason::L4Truncated);
        }
        let datagram = udp::Packet::new_unchecked(payload);
        let len = usize::from(datagram.len());
        if len < udp::HEADER_LEN || (!fragmented && len > payload.len()) {
            return Err(DropReason::UdpBadLength);
        }
        let ports = Ports {
            src: datagram.src_port(),
            dst: datagram.dst_port(),
        };
        Ok((ports, None))
    } else {
        if payload.len() < tcp::HEADER_LEN {
            return Err(DropReason::L4Truncated);
        }
        let segment = tcp::Packet::new_unchecked(payload);
        if usize::from(segment.header_len()) < tcp::HEADER_LEN {
            return Err(DropReason::TcpBadHeaderLen);
        }
        if usize::from(segment.header_len()) > payload.len() {
            return Err(DropReason::L4Truncated);
        }
        let ports = Ports {
            src: segment.src_port(),
            dst: segment.dst_port(),
        };
        Ok((ports, Some(segment.flags())))
    }
}

#[cfg(test)]
mod tests;
