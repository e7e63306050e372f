//! VRRP version 3 over IPv6 (RFC 5798): the same message as for IPv4 with 16-byte addresses,
//! sent from the interface's link-local address to ff02::12 with hop limit 255, the checksum over
//! the IPv6 pseudo-header (RFC 8200 §8.1) and the message. The first address in the list is the
//! virtual router's link-local address (RFC 5798 §5.2.9); the virtual MAC is
//! 00-00-5E-00-02-{VRID} ([`crate::ethernet::EthernetAddress::vrrp_virtual_v6`]).
//!
//! The view is the IPv4 one (`vrrp::Packet`), checked with `Packet::new_checked_v6`: version 3
//! only (else `Malformed`), and a buffer that holds the fixed part and `count` 16-byte addresses.
//! Every accessor of the view stays in bounds after either checked constructor; the IPv6
//! address iterator reads only what the buffer holds.

use std::net::Ipv6Addr;

use super::{field, Packet, Version, FIXED_LEN, MAX_V3_INTERVAL_CS, TYPE_ADVERTISEMENT};
use crate::checksum;
use crate::error::{Result, WireError};
use crate::ipv6::next_header;

/// The IPv6 multicast group adverts are sent to (RFC 5798 §5.1.2.2).
pub const MULTICAST_ADDR_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Adverts are sent with, and must be received with, this hop limit (RFC 5798 §5.1.2.3).
pub const HOP_LIMIT: u8 = 255;
/// Length of one IPv6 address in the list.
pub const IPV6_ADDR_LEN: usize = 16;

/// The length of a v3 message with `count` IPv6 addresses.
pub fn message_len_v6(count: usize) -> usize {
    FIXED_LEN + IPV6_ADDR_LEN * count
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a message received over IPv6 after the checks described in the module doc.
    pub fn new_checked_v6(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len_v6()?;
        Ok(packet)
    }

    pub fn check_len_v6(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != Some(Version::V3) {
            return Err(WireError::Malformed);
        }
        if len < message_len_v6(usize::from(self.count())) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The `count` IPv6 addresses (fewer if the buffer was only checked for IPv4).
    pub fn addresses_v6(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        let end = message_len_v6(usize::from(self.count()));
        let bytes = self.buffer.as_ref();
        bytes
            .get(FIXED_LEN..end.min(bytes.len()))
            .unwrap_or(&[])
            .chunks_exact(IPV6_ADDR_LEN)
            .map(|b| {
                let mut octets = [0u8; IPV6_ADDR_LEN];
                octets.copy_from_slice(b);
                Ipv6Addr::from(octets)
            })
    }

    /// The v3 message over IPv6 as its count announces it (trailing bytes excluded).
    pub fn message_v6(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        let len = message_len_v6(usize::from(self.count())).min(bytes.len());
        &bytes[..len]
    }

    /// Whether the checksum verifies over the IPv6 pseudo-header of `src` -> `dst` and the
    /// whole buffer.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::verify_v6(src, dst, next_header::VRRP, self.buffer.as_ref())
    }
}

/// A VRRPv3 advertisement over IPv6 as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub vrid: u8,
    pub priority: u8,
    /// Maximum advertisement interval in centiseconds (12 bits, up to 4095).
    pub advert_interval_cs: u16,
    /// The virtual router's IPv6 addresses, its link-local address first.
    pub addresses: Vec<Ipv6Addr>,
}

impl Ipv6Repr {
    /// Parse and verify an advert that arrived from `src` to `dst` (the IPv6 addresses the
    /// checksum covers). The buffer must be exactly the message (the upper-layer payload).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<Ipv6Repr> {
        packet.check_len_v6()?;
        if packet.vrrp_type() != TYPE_ADVERTISEMENT {
            return Err(WireError::Unsupported);
        }
        if packet.buffer.as_ref().len() != packet.message_v6().len() {
            return Err(WireError::Malformed);
        }
        if !packet.verify_checksum_v6(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(Ipv6Repr {
            vrid: packet.vrid(),
            priority: packet.priority(),
            advert_interval_cs: packet.max_advert_int_cs(),
            addresses: packet.addresses_v6().collect(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        message_len_v6(self.addresses.len())
    }

    /// Write the message with its checksum into the start of `buffer`; returns its length.
    /// `src` and `dst` are the IPv6 addresses it will be sent with.
    pub fn emit(&self, buffer: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize> {
        let count = u8::try_from(self.addresses.len()).map_err(|_| WireError::Malformed)?;
        if self.advert_interval_cs > MAX_V3_INTERVAL_CS {
            return Err(WireError::Malformed);
        }
        let total = self.buffer_len();
        let msg = buffer.get_mut(..total).ok_or(WireError::Truncated)?;
        msg[field::VER_TYPE] = (Version::V3.number() << 4) | TYPE_ADVERTISEMENT;
        msg[field::VRID] = self.vrid;
        msg[field::PRIORITY] = self.priority;
        msg[field::COUNT] = count;
        msg[field::MAX_ADVER_INT].copy_from_slice(&self.advert_interval_cs.to_be_bytes());
        msg[field::CHECKSUM].fill(0);
        for (slot, addr) in msg[FIXED_LEN..]
            .chunks_exact_mut(IPV6_ADDR_LEN)
            .zip(&self.addresses)
        {
            slot.copy_from_slice(&addr.octets());
        }
        let sum = checksum::checksum_v6(src, dst, next_header::VRRP, msg);
        msg[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }
}
