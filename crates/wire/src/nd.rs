//! Neighbor Discovery for IPv6 (RFC 4861): Neighbor Solicitation (§4.3) and Neighbor
//! Advertisement (§4.4) with the Source/Target Link-Layer Address options (§4.6.1), the
//! solicited-node multicast address (RFC 4291 §2.7.1) and its Ethernet group MAC. These are
//! ICMPv6 messages: [`crate::icmpv6::Packet`] checks lengths and [`crate::icmpv6::Repr::parse`]
//! verifies the checksum, then reads the body here.
//!
//! The body is at least 24 bytes (the ICMPv6 header, flags or reserved, the target); options
//! follow, each a type, a length in 8-byte units (zero is malformed, §4.6) and data, every one
//! checked against the message before it is read. Link-layer options of another length than one
//! unit (not Ethernet) and unknown options are skipped, as §4.6 asks; only the first option of
//! each kind counts. The receiver's checks that need the IP header (hop limit 255, §7.1) belong to
//! the caller; those that need the addresses alone are made by `icmpv6::Repr::parse`.
//!
//! ```text
//!  Neighbor Solicitation (type 135) and Advertisement (type 136):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|S|O|                     Reserved (NS: all reserved)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       Target Address                          +
//! |                          (16 bytes)                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options ...
//! +-+-+-+-+-+-+-+-+-+-+-+-
//!
//!  Source (1) / Target (2) Link-Layer Address option, Ethernet:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |  Length (1)   |    Link-Layer Address ...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use crate::error::{Result, WireError};
use crate::ethernet::EthernetAddress;

pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// ND messages are sent with, and must be received with, this hop limit (RFC 4861 §7.1).
pub const HOP_LIMIT: u8 = 255;
/// The ICMPv6 header, the flags or reserved word and the target address.
pub const BODY_LEN: usize = 24;
/// Length of an Ethernet link-layer address option.
pub const LLADDR_OPTION_LEN: usize = 8;

/// Option types (RFC 4861 §4.6).
pub mod option {
    pub const SOURCE_LLADDR: u8 = 1;
    pub const TARGET_LLADDR: u8 = 2;
}

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// Where the message's fields sit, counted from the ICMPv6 type byte.
mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    /// Advertisement: R, S, O in the top bits; solicitation: reserved.
    pub const FLAGS: usize = 4;
    pub const RESERVED: Range<usize> = 5..8;
    pub const TARGET: Range<usize> = 8..24;
    /// The link-layer address option, right after the body.
    pub const OPTION_TYPE: usize = 24;
    pub const OPTION_UNITS: usize = 25;
    pub const OPTION_LLADDR: Range<usize> = 26..32;
}

/// Within one option: its link-layer address after the type and length bytes.
const OPTION_LLADDR_IN_OPTION: std::ops::Range<usize> = 2..8;
/// Option lengths count 8-byte units (RFC 4861 §4.6).
const OPTION_UNIT: usize = 8;

/// The all-nodes multicast address, where unsolicited advertisements go (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `addr`: ff02::1:ff00:0 with its low 24 bits.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet group a solicitation for `addr` is sent to: 33:33:ff and its low 24 bits.
pub fn solicited_node_mac(addr: Ipv6Addr) -> EthernetAddress {
    EthernetAddress::ipv6_multicast(solicited_node(addr))
}

/// The flags of a Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighborFlags {
    /// The sender is a router.
    pub router: bool,
    /// An answer to a solicitation (never set on one sent to a multicast address).
    pub solicited: bool,
    /// The receiver should replace a cached link-layer address.
    pub override_: bool,
}

/// A Neighbor Solicitation or Advertisement as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr {
    NeighborSolicit {
        target: Ipv6Addr,
        /// Absent when the sender is unspecified (duplicate address detection).
        source_lladdr: Option<EthernetAddress>,
    },
    NeighborAdvert {
        flags: NeighborFlags,
        target: Ipv6Addr,
        target_lladdr: Option<EthernetAddress>,
    },
}

impl Repr {
    /// Read the body of an ICMPv6 message of type 135 or 136 (`message` is the whole ICMPv6
    /// message, its checksum already verified).
    pub(crate) fn parse_message(message: &[u8]) -> Result<Repr> {
        if message.len() < BODY_LEN {
            return Err(WireError::Truncated);
        }
        if message[field::CODE] != 0 {
            return Err(WireError::Malformed);
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&message[field::TARGET]);
        let target = Ipv6Addr::from(target);
        if target.is_multicast() {
            return Err(WireError::Malformed);
        }
        let wanted = match message[field::TYPE] {
            TYPE_NEIGHBOR_SOLICIT => option::SOURCE_LLADDR,
            TYPE_NEIGHBOR_ADVERT => option::TARGET_LLADDR,
            _ => return Err(WireError::Unsupported),
        };
        let lladdr = find_lladdr(&message[BODY_LEN..], wanted)?;
        Ok(match message[field::TYPE] {
            TYPE_NEIGHBOR_SOLICIT => Repr::NeighborSolicit {
                target,
                source_lladdr: lladdr,
            },
            _ => Repr::NeighborAdvert {
                flags: NeighborFlags {
                    router: message[field::FLAGS] & FLAG_ROUTER != 0,
                    solicited: message[field::FLAGS] & FLAG_SOLICITED != 0,
                    override_: message[field::FLAGS] & FLAG_OVERRIDE != 0,
                },
                target,
                target_lladdr: lladdr,
            },
        })
    }

    pub fn msg_type(&self) -> u8 {
        match self {
            Repr::NeighborSolicit { .. } => TYPE_NEIGHBOR_SOLICIT,
            Repr::NeighborAdvert { .. } => TYPE_NEIGHBOR_ADVERT,
        }
    }

    fn lladdr(&self) -> Option<EthernetAddress> {
        match self {
            Repr::NeighborSolicit { source_lladdr, .. } => *source_lladdr,
            Repr::NeighborAdvert { target_lladdr, .. } => *target_lladdr,
        }
    }

    /// The length of the whole ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        BODY_LEN + self.lladdr().map_or(0, |_| LLADDR_OPTION_LEN)
    }

    /// Write everything after the ICMPv6 type, code and checksum (which the caller writes) into
    /// `message`, which is exactly `buffer_len()` bytes.
    pub(crate) fn emit_body(&self, message: &mut [u8]) {
        let (flags, target, option_type) = match self {
            Repr::NeighborSolicit { target, .. } => (0, target, option::SOURCE_LLADDR),
            Repr::NeighborAdvert { flags, target, .. } => {
                let mut bits = 0;
                if flags.router {
                    bits |= FLAG_ROUTER;
                }
                if flags.solicited {
                    bits |= FLAG_SOLICITED;
                }
                if flags.override_ {
                    bits |= FLAG_OVERRIDE;
                }
                (bits, target, option::TARGET_LLADDR)
            }
        };
        message[field::FLAGS] = flags;
        message[field::RESERVED].fill(0);
        message[field::TARGET].copy_from_slice(&target.octets());
        if let Some(lladdr) = self.lladdr() {
            message[field::OPTION_TYPE] = option_type;
            message[field::OPTION_UNITS] = (LLADDR_OPTION_LEN / OPTION_UNIT) as u8;
            message[field::OPTION_LLADDR].copy_from_slice(lladdr.as_bytes());
        }
    }
}

/// The first Ethernet link-layer address option of type `wanted`, every option's length
/// checked first.
fn find_lladdr(mut options: &[u8], wanted: u8) -> Result<Option<EthernetAddress>> {
    let mut found = None;
    while !options.is_empty() {
        let [kind, units, ..] = *options else {
            return Err(WireError::Truncated);
        };
        let len = usize::from(units) * OPTION_UNIT;
        if len == 0 {
            return Err(WireError::Malformed);
        }
        let Some(this) = options.get(..len) else {
            return Err(WireError::Truncated);
        };
        if kind == wanted && len == LLADDR_OPTION_LEN && found.is_none() {
            found = EthernetAddress::from_bytes(&this[OPTION_LLADDR_IN_OPTION]);
        }
        options = &options[len..];
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests;
