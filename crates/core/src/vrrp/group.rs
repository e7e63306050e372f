//! One VRRP group as seen on the wire: which received adverts count, and the bytes this node
//! sends, for IPv4 (`Group<Ipv4Addr>`, the default) or IPv6 (`Group<Ipv6Addr>`, version 3 only;
//! what differs per family is in [`super::family`]). [`Group::check`] applies the receive checks
//! of RFC 3768 §7.1 and RFC 5798 §7.1 to a whole IP packet and returns either an [`Advert`] for the [`Machine`](super::Machine) or the
//! one [`AdvertDrop`] reason to count; it never panics on any input. Beyond the RFCs, adverts
//! from outside a configured unicast peer list are refused. [`Group::receive`] does the same and
//! keeps the account of senders ([`Senders`]): new or refused sources and address lists that
//! differ from ours are counted and queued as paced [`Notice`]s. The address list is compared
//! for every advert, also the owner's (priority 255), but a difference is counted and logged,
//! never a drop: both RFCs make the check a MAY, and dropping would make two nodes whose lists
//! differ for a moment (one already reconfigured) both master. The builders produce the advert
//! (RFC 3768 §7.2 / RFC 5798 §7.2: TTL or hop limit 255 to 224.0.0.18 or ff02::12, or to each
//! unicast peer; source MAC the virtual router MAC) and the gratuitous ARP or unsolicited
//! Neighbor Advertisement a new master sends (RFC 3768 §6.4.2, RFC 5798 §6.4.2).

use std::net::Ipv4Addr;

use std::time::Instant;

use fulcrum_wire::ethernet::{self, EthernetAddress};
use fulcrum_wire::vrrp::{self as wire_vrrp, Version};
use fulcrum_wire::WireError;

use super::family::{AdvertFields, Family};
use super::senders::{Notice, SenderCounters, Senders};
use super::{Advert, Config, PRIORITY_OWNER};

fulcrum_wire::counted_enum! {
    /// Why a received packet was not taken as an advert. Each drop is counted under one reason.
    #[derive(PartialOrd, Ord)]
    pub enum AdvertDrop {
        /// Not a well-formed IPv4 packet (lengths, version, header checksum) or a fragment; an
        /// IPv6 packet with bad lengths or a source that is not link-local.
        BadIp => "bad-ip",
        /// IPv4 protocol or IPv6 next header is not 112.
        NotVrrp => "not-vrrp",
        /// Our own advert looped back.
        OwnAdvert => "own-advert",
        /// IPv4 TTL or IPv6 hop limit is not 255: it crossed a router (RFC 3768 §7.1).
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

/// The wire side of one virtual router of family `A` (IPv4 by default).
#[derive(Debug, Clone)]
pub struct Group<A = Ipv4Addr> {
    version: Version,
    vrid: u8,
    advert_interval_cs: u16,
    primary_address: A,
    /// Sorted, for an order-independent comparison with received lists.
    sorted_addresses: Vec<A>,
    addresses: Vec<A>,
    auth: wire_vrrp::Auth,
    next_ident: u16,
    senders: Senders<A>,
}

/// An advert that passed the checks, and whether its address list is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked<A> {
    advert: Advert<A>,
    addresses_match: bool,
}

impl<A: Family> Group<A> {
    pub fn new(config: &Config<A>) -> Group<A> {
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

    /// The configured unicast peers (empty: adverts go to the family's multicast group).
    pub fn peers(&self) -> &[A] {
        self.senders.configured()
    }

    pub fn sender_counters(&self) -> SenderCounters {
        self.senders.counters()
    }

    /// The next paced line to log about senders. Drain it after each received advert, until
    /// `None`.
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<Notice<A>> {
        self.senders.poll_notice()
    }

    /// A new virtual address list, for the next advert and the next comparison; the group keeps
    /// running (a restart would send priority 0 and release the VIP).
    pub fn set_addresses(&mut self, addresses: &[A]) {
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
    ) -> Result<Advert<A>, AdvertDrop> {
        match self.check_all(ip_packet, local_priority) {
            Ok(checked) => {
                let advert = checked.advert;
                self.senders
                    .accepted(now, advert.source, advert.priority, checked.addresses_match);
                Ok(advert)
            }
            Err(AdvertDrop::NotAPeer) => {
                // Only a fully parsed advert is refused this way, so both fields are there.
                if let Ok(header) = A::open(ip_packet) {
                    let priority = header.message.get(2).copied().unwrap_or(0);
                    self.senders.refused(now, header.source, priority);
                }
                Err(AdvertDrop::NotAPeer)
            }
            Err(reason) => Err(reason),
        }
    }

    /// The virtual router MAC: 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6.
    pub fn virtual_mac(&self) -> EthernetAddress {
        A::virtual_mac(self.vrid)
    }

    /// Apply the receive checks to a whole IP packet. `local_priority` is the machine's
    /// current priority (an owner ignores every advert).
    pub fn check(&self, ip_packet: &[u8], local_priority: u8) -> Result<Advert<A>, AdvertDrop> {
        self.check_all(ip_packet, local_priority)
            .map(|checked| checked.advert)
    }

    fn check_all(&self, ip_packet: &[u8], local_priority: u8) -> Result<Checked<A>, AdvertDrop> {
        let ip = A::open(ip_packet)?;
        let source = ip.source;
        if source == self.primary_address {
            return Err(AdvertDrop::OwnAdvert);
        }
        // RFC 3768 §7.1 / RFC 5798 §7.1, in the RFC's order.
        if ip.hop_limit != wire_vrrp::TTL {
            return Err(AdvertDrop::BadTtl);
        }
        let repr = A::parse_advert(ip.message, self.version, source, ip.destination)?;
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

    /// The advert as a whole IP packet to the family's multicast group (for a raw IP socket).
    pub fn advert_packet(&mut self, priority: u8) -> Result<Vec<u8>, WireError> {
        self.advert_packet_to(priority, A::MULTICAST)
    }

    /// The advert as a whole IP packet to `destination` (a unicast peer, as keepalived's
    /// `unicast_peer` sends them; v3's checksum covers the destination).
    pub fn advert_packet_to(&mut self, priority: u8, destination: A) -> Result<Vec<u8>, WireError> {
        let fields = AdvertFields {
            version: self.version,
            vrid: self.vrid,
            priority,
            advert_interval_cs: self.advert_interval_cs,
            auth: self.auth,
            ident: self.next_ident,
        };
        let packet = A::advert_packet(fields, &self.addresses, self.primary_address, destination)?;
        self.next_ident = self.next_ident.wrapping_add(1);
        Ok(packet)
    }

    /// The advert as an Ethernet frame from the virtual router MAC to the multicast group's MAC.
    pub fn advert_frame(&mut self, priority: u8) -> Result<Vec<u8>, WireError> {
        let packet = self.advert_packet(priority)?;
        let eth = ethernet::Repr {
            src_addr: self.virtual_mac(),
            dst_addr: A::multicast_mac(A::MULTICAST),
            ethertype: A::ETHERTYPE,
        };
        Ok(frame(eth, &packet))
    }

    /// What a new master sends for each virtual address, announcing the virtual router MAC:
    /// a gratuitous ARP (IPv4) or an unsolicited Neighbor Advertisement (IPv6).
    pub fn announcement_frames(&self) -> Vec<Vec<u8>> {
        A::announcements(self.virtual_mac(), &self.addresses)
    }
}

impl Group<Ipv4Addr> {
    /// One gratuitous ARP frame per virtual address, announcing the virtual router MAC.
    pub fn gratuitous_arp_frames(&self) -> Vec<Vec<u8>> {
        self.announcement_frames()
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
#[cfg(test)]
mod tests_v6;
