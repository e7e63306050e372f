//! One VRRP group as seen on the wire: which received adverts count, and the bytes this node
//! sends. [`Group::check`] applies the receive checks of RFC 3768 §7.1 and RFC 5798 §7.1 to a
//! whole IPv4 packet and returns either an [`Advert`] for the [`Machine`](super::Machine) or the
//! one [`AdvertDrop`] reason to count; it never panics on any input. Beyond the RFCs, adverts
//! from outside a configured unicast peer list are refused. [`Group::receive`] does the same and
//! keeps the account of senders ([`Senders`]): new or refused sources and address lists that
//! differ from ours are counted and queued as paced [`Notice`]s. The address list is compared
//! for every advert, also the owner's (priority 255), but a difference is counted and logged,
//! never a drop: both RFCs make the check a MAY, and dropping would make two nodes whose lists
//! differ for a moment (one already reconfigured) both master. The builders produce the advert
//! (RFC 3768 §7.2 / RFC 5798 §7.2: TTL 255 to 224.0.0.18, or to each unicast peer; source MAC
//! the virtual router MAC) and the gratuitous ARP a new master sends (RFC 3768 §6.4.2).

use std::net::Ipv4Addr;

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::vrrp::{self as wire_vrrp, Version};
use fulcrum_wire::{arp, ipv4, WireError};

use std::time::Instant;

use super::senders::{Notice, SenderCounters, Senders};
use super::{Advert, Config, PRIORITY_OWNER};

/// IPv4 TOS of adverts: precedence "internetwork control", as keepalived sends.
const ADVERT_TOS: u8 = 0xc0;

fulcrum_wire::counted_enum! {
    /// Why a received packet was not taken as an advert. Each drop is counted under one reason.
    #[derive(PartialOrd, Ord)]
    pub enum AdvertDrop {
        /// Not a well-formed IPv4 packet (lengths, version, header checksum) or a fragment.
        BadIp => "bad-ip",
        /// IPv4 protocol is not 112.
        NotVrrp => "not-vrrp",
        /// Our own advert looped back.
        OwnAdvert => "own-advert",
        /// IPv4 TTL is not 255: it crossed a router (RFC 3768 §7.1).
        BadTtl => "bad-ttl",
        /// Shorter than its fixed part, count and authentication data announce.
        Truncated => "truncated",
        /// Version other than the configured one.
        BadVersion => "bad-version",
        /// VRRP type other than advertisement.
        BadType => "bad-type",
        /// The IP length and the address count disagree.
        BadLength => "bad-length",
        BadChecksum => "bad-checksum",
        /// Another virtual router on the same link.
        WrongVrid => "wrong-vrid",
        /// We own the addresses (priority 255) and listen to no one (RFC 3768 §7.1).
        LocalOwner => "local-owner",
        /// v2 authentication type or password differs.
        BadAuth => "bad-auth",
        /// v2 advert interval differs from ours (RFC 3768 §7.1).
        IntervalMismatch => "interval-mismatch",
        /// v3 advert interval of zero: no master can keep that promise, and learning it would
        /// make every backup's master down timer expire at once.
        ZeroInterval => "zero-interval",
        /// Unicast peers are configured and the source is not one of them.
        NotAPeer => "not-a-peer",
    }
}

/// Drop counters indexed by [`AdvertDrop::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounters(pub [u64; AdvertDrop::COUNT]);

impl DropCounters {
    pub fn count(&mut self, reason: AdvertDrop) {
        self.0[reason.index()] += 1;
    }

    pub fn get(&self, reason: AdvertDrop) -> u64 {
        self.0[reason.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// The wire side of one virtual router.
#[derive(Debug, Clone)]
pub struct Group {
    version: Version,
    vrid: u8,
    advert_interval_cs: u16,
    primary_address: Ipv4Addr,
    /// Sorted, for an order-independent comparison with received lists.
    sorted_addresses: Vec<Ipv4Addr>,
    addresses: Vec<Ipv4Addr>,
    auth: wire_vrrp::Auth,
    next_ident: u16,
    senders: Senders,
}

/// An advert that passed the checks, and whether its address list is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked {
    advert: Advert,
    addresses_match: bool,
}

impl Group {
    pub fn new(config: &Config) -> Group {
        let mut sorted_addresses = config.addresses.clone();
        sorted_addresses.sort();
        Group {
            version: config.version,
            vrid: config.vrid,
            advert_interval_cs: config.advert_interval_cs,
            primary_address: config.primary_address,
            sorted_addresses,
            addresses: config.addresses.clone(),
            auth: config.auth,
            next_ident: 1,
            senders: Senders::new(&config.peers),
        }
    }

    /// The configured unicast peers (empty: adverts go to 224.0.0.18).
    pub fn peers(&self) -> &[Ipv4Addr] {
        self.senders.configured()
    }

    pub fn sender_counters(&self) -> SenderCounters {
        self.senders.counters()
    }

    /// The next paced line to log about senders. Drain it after each received advert, until
    /// `None`.
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.senders.poll_notice()
    }

    /// A new virtual address list, for the next advert and the next comparison; the group keeps
    /// running (a restart would send priority 0 and release the VIP).
    pub fn set_addresses(&mut self, addresses: &[Ipv4Addr]) {
        self.addresses = addresses.to_vec();
        self.sorted_addresses = addresses.to_vec();
        self.sorted_addresses.sort();
    }

    /// [`Group::check`], and the account of senders kept at `now`.
    pub fn receive(
        &mut self,
        now: Instant,
        ip_packet: &[u8],
        local_priority: u8,
    ) -> Result<Advert, AdvertDrop> {
        match self.check_all(ip_packet, local_priority) {
            Ok(checked) => {
                let advert = checked.advert;
                self.senders
                    .accepted(now, advert.source, advert.priority, checked.addresses_match);
                Ok(advert)
            }
            Err(AdvertDrop::NotAPeer) => {
                // Only a fully parsed advert is refused this way, so both fields are there.
                if let Ok(ip) = ipv4::Packet::new_checked(ip_packet) {
                    let priority = ip.payload().get(2).copied().unwrap_or(0);
                    self.senders.refused(now, ip.src_addr(), priority);
                }
                Err(AdvertDrop::NotAPeer)
            }
            Err(reason) => Err(reason),
        }
    }

    /// The virtual router MAC 00:00:5e:00:01:VRID.
    pub fn virtual_mac(&self) -> EthernetAddress {
        EthernetAddress::vrrp_virtual(self.vrid)
    }

    /// Apply the receive checks to a whole IPv4 packet. `local_priority` is the machine's
    /// current priority (an owner ignores every advert).
    pub fn check(&self, ip_packet: &[u8], local_priority: u8) -> Result<Advert, AdvertDrop> {
        self.check_all(ip_packet, local_priority)
            .map(|checked| checked.advert)
    }

    fn check_all(&self, ip_packet: &[u8], local_priority: u8) -> Result<Checked, AdvertDrop> {
        let ip = ipv4::Packet::new_checked(ip_packet).map_err(|_| AdvertDrop::BadIp)?;
        if ip.version() != 4 || !ip.verify_checksum() || ip.is_fragment() {
            return Err(AdvertDrop::BadIp);
        }
        if ip.protocol() != ipv4::protocol::VRRP {
            return Err(AdvertDrop::NotVrrp);
        }
        let source = ip.src_addr();
        if source == self.primary_address {
            return Err(AdvertDrop::OwnAdvert);
        }
        // RFC 3768 §7.1 / RFC 5798 §7.1, in the RFC's order.
        if ip.ttl() != wire_vrrp::TTL {
            return Err(AdvertDrop::BadTtl);
        }
        let packet = wire_vrrp::Packet::new_checked(ip.payload()).map_err(|e| match e {
            WireError::Truncated => AdvertDrop::Truncated,
            _ => AdvertDrop::BadVersion,
        })?;
        if packet.version() != Some(self.version) {
            return Err(AdvertDrop::BadVersion);
        }
        let repr = wire_vrrp::Repr::parse(&packet, source, ip.dst_addr()).map_err(|e| match e {
            WireError::Unsupported => AdvertDrop::BadType,
            WireError::Checksum => AdvertDrop::BadChecksum,
            WireError::Truncated => AdvertDrop::Truncated,
            WireError::Malformed => AdvertDrop::BadLength,
        })?;
        if repr.vrid != self.vrid {
            return Err(AdvertDrop::WrongVrid);
        }
        if !self.senders.admits(source) {
            return Err(AdvertDrop::NotAPeer);
        }
        if local_priority == PRIORITY_OWNER {
            return Err(AdvertDrop::LocalOwner);
        }
        if self.version == Version::V2 {
            if repr.auth != self.auth {
                return Err(AdvertDrop::BadAuth);
            }
            if repr.advert_interval_cs != self.advert_interval_cs {
                return Err(AdvertDrop::IntervalMismatch);
            }
        } else if repr.advert_interval_cs == 0 {
            return Err(AdvertDrop::ZeroInterval);
        }
        // RFC 3768 §7.1 / RFC 5798 §7.1: MAY verify the address list, SHOULD log a difference;
        // see the module doc for why a difference is not a drop, also for a non-owner.
        let mut received = repr.addresses;
        received.sort();
        Ok(Checked {
            advert: Advert {
                source,
                priority: repr.priority,
                advert_interval_cs: repr.advert_interval_cs,
            },
            addresses_match: received == self.sorted_addresses,
        })
    }

    /// The advert as a whole IPv4 packet to 224.0.0.18 (for a raw IP socket).
    pub fn advert_packet(&mut self, priority: u8) -> Result<Vec<u8>, WireError> {
        self.advert_packet_to(priority, wire_vrrp::MULTICAST_ADDR)
    }

    /// The advert as a whole IPv4 packet to `destination` (a unicast peer, as keepalived's
    /// `unicast_peer` sends them; v3's checksum covers the destination).
    pub fn advert_packet_to(
        &mut self,
        priority: u8,
        destination: Ipv4Addr,
    ) -> Result<Vec<u8>, WireError> {
        let vrrp = wire_vrrp::Repr {
            version: self.version,
            vrid: self.vrid,
            priority,
            advert_interval_cs: self.advert_interval_cs,
            auth: self.auth,
            addresses: self.addresses.clone(),
        };
        let ip = ipv4::Repr {
            src_addr: self.primary_address,
            dst_addr: destination,
            protocol: ipv4::protocol::VRRP,
            payload_len: vrrp.buffer_len(),
            ttl: wire_vrrp::TTL,
            tos: ADVERT_TOS,
            ident: self.next_ident,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        };
        let mut buf = vec![0u8; ip.buffer_len()];
        vrrp.emit(&mut buf[ipv4::HEADER_LEN..], ip.src_addr, ip.dst_addr)?;
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]))?;
        self.next_ident = self.next_ident.wrapping_add(1);
        Ok(buf)
    }

    /// The advert as an Ethernet frame from the virtual router MAC to 01:00:5e:00:00:12.
    pub fn advert_frame(&mut self, priority: u8) -> Result<Vec<u8>, WireError> {
        let packet = self.advert_packet(priority)?;
        let eth = ethernet::Repr {
            src_addr: self.virtual_mac(),
            dst_addr: EthernetAddress::ipv4_multicast(wire_vrrp::MULTICAST_ADDR),
            ethertype: EtherType::Ipv4,
        };
        Ok(frame(eth, &packet))
    }

    /// One gratuitous ARP frame per virtual address, announcing the virtual router MAC.
    pub fn gratuitous_arp_frames(&self) -> Vec<Vec<u8>> {
        let mac = self.virtual_mac();
        self.addresses
            .iter()
            .map(|addr| {
                arp::Repr::gratuitous(mac, *addr)
                    .to_frame(mac, EthernetAddress::BROADCAST)
                    .to_vec()
            })
            .collect()
    }
}

fn frame(eth: ethernet::Repr, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; ethernet::HEADER_LEN + payload.len()];
    let mut view = ethernet::Frame::new_unchecked(&mut buf[..]);
    view.set_src_addr(eth.src_addr);
    view.set_dst_addr(eth.dst_addr);
    view.set_ethertype(eth.ethertype);
    view.payload_mut().copy_from_slice(payload);
    buf
}

#[cfg(test)]
mod tests;
