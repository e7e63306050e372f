//! VRRP advertisements for IPv4: version 2 (RFC 3768 §5) and version 3 (RFC 5798 §5); and
//! version 3 over IPv6 ([`Ipv6Repr`], `Packet::new_checked_v6`: the same view and message with
//! 16-byte addresses, in `vrrp/v6.rs`).
//!
//! `Packet::new_checked` reads the version (2 or 3, else `Malformed`) and the address count, and
//! verifies that the buffer holds the whole message they announce (fixed part, `count` addresses
//! and, for v2, the 8 bytes of authentication data) before any variable part can be read.
//! `Repr::parse` then requires type 1 (advertisement), a buffer of exactly the announced length,
//! and a verifying checksum: over the VRRP message for v2 (RFC 3768 §5.3.8), over the IPv4
//! pseudo-header and the message for v3 (RFC 5798 §5.2.8). Semantic checks (TTL 255, VRID,
//! interval, authentication, addresses) belong to the receiver: `fulcrum_core::vrrp`.
//!
//! Version 2 (RFC 3768 §5.1), advertisement interval in whole seconds, authentication data kept
//! for compatibility:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            .                                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (n)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Version 3 (RFC 5798 §5.1), 12-bit maximum advertisement interval in centiseconds, no
//! authentication:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IPvX Address(es)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! VRRP is control-plane traffic (one advert per interval), so `Repr` owns its address list.

use std::net::Ipv4Addr;

use crate::checksum;
use crate::error::{Result, WireError};
use crate::ipv4::protocol;

/// The IPv4 multicast group adverts are sent to (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2).
pub const MULTICAST_ADDR: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Adverts are sent with, and must be received with, this IPv4 TTL (RFC 3768 §5.2.3).
pub const TTL: u8 = 255;
/// The only VRRP packet type (RFC 3768 §5.3.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// The priority of the router that owns the virtual addresses (RFC 3768 §5.3.4).
pub const PRIORITY_OWNER: u8 = 255;
/// The priority a master sends when it stops (RFC 3768 §5.3.4).
pub const PRIORITY_STOP: u8 = 0;
/// Length of the fixed part before the addresses.
pub const FIXED_LEN: usize = 8;
/// Length of the v2 authentication data.
pub const AUTH_DATA_LEN: usize = 8;
/// Bytes of one IPv4 address in the list.
const ADDR_LEN: usize = 4;

/// Where the fixed part's fields sit; the addresses start at [`FIXED_LEN`].
mod field {
    use std::ops::Range;
    /// Version in the high nibble, type in the low one.
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2: the authentication type.
    pub const AUTH_TYPE: usize = 4;
    /// v2: the advertisement interval in seconds.
    pub const ADVER_INT: usize = 5;
    /// v3: 4 reserved bits and the maximum advertisement interval in centiseconds.
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}
/// Largest v3 interval: 12 bits of centiseconds.
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;

/// v2 authentication types (RFC 3768 §5.3.6; 1 and 2 kept for compatibility with RFC 2338).
pub mod auth_type {
    pub const NONE: u8 = 0;
    pub const SIMPLE_TEXT: u8 = 1;
    pub const IP_AH: u8 = 2;
}

/// Protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798.
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// v2 authentication as carried in the advert. v3 has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Type 0; the data field is zero on sending and ignored on receipt.
    None,
    /// Type 1: an 8-byte password in clear, zero-padded (keepalived's `auth_type PASS`).
    SimpleText([u8; AUTH_DATA_LEN]),
    /// Any other type (2 is IP AH) with its data field.
    Other {
        auth_type: u8,
        data: [u8; AUTH_DATA_LEN],
    },
}

impl Auth {
    pub fn auth_type(&self) -> u8 {
        match self {
            Auth::None => auth_type::NONE,
            Auth::SimpleText(_) => auth_type::SIMPLE_TEXT,
            Auth::Other { auth_type, .. } => *auth_type,
        }
    }

    /// A simple-text password as sent on the wire: its first 8 bytes, zero-padded.
    pub fn simple_text(password: &str) -> Auth {
        let mut data = [0u8; AUTH_DATA_LEN];
        for (slot, byte) in data.iter_mut().zip(password.bytes()) {
            *slot = byte;
        }
        Auth::SimpleText(data)
    }

    fn data(&self) -> [u8; AUTH_DATA_LEN] {
        match self {
            Auth::None => [0; AUTH_DATA_LEN],
            Auth::SimpleText(data) | Auth::Other { data, .. } => *data,
        }
    }
}

/// The length of a message of `version` with `count` addresses.
pub fn message_len(version: Version, count: usize) -> usize {
    let auth = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    FIXED_LEN + ADDR_LEN * count + auth
}

/// A view of a VRRP message (the IPv4 payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after the checks described in the module doc.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        let version = self.version().ok_or(WireError::Malformed)?;
        if len < message_len(version, usize::from(self.count())) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn version_number(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The version, if it is 2 or 3.
    pub fn version(&self) -> Option<Version> {
        match self.version_number() {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    pub fn vrrp_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2 only: the authentication type byte.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2 only: the advertisement interval in seconds.
    pub fn advert_int_secs(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// v3 only: the maximum advertisement interval in centiseconds (reserved bits masked).
    pub fn max_advert_int_cs(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAX_ADVER_INT];
        u16::from_be_bytes([b[0], b[1]]) & MAX_V3_INTERVAL_CS
    }

    /// The interval in centiseconds, whichever the version.
    pub fn advert_interval_cs(&self) -> u16 {
        match self.version() {
            Some(Version::V3) => self.max_advert_int_cs(),
            _ => u16::from(self.advert_int_secs()) * 100,
        }
    }

    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The `count` addresses.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let end = FIXED_LEN + ADDR_LEN * usize::from(self.count());
        self.buffer.as_ref()[FIXED_LEN..end]
            .chunks_exact(ADDR_LEN)
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }

    /// v2: the 8 bytes of authentication data; v3: empty.
    pub fn auth_data(&self) -> &[u8] {
        let start = FIXED_LEN + ADDR_LEN * usize::from(self.count());
        match self.version() {
            Some(Version::V2) => &self.buffer.as_ref()[start..start + AUTH_DATA_LEN],
            _ => &[],
        }
    }

    /// The message as its fields announce it (trailing bytes excluded).
    pub fn message(&self) -> &[u8] {
        let len = self
            .version()
            .map_or(FIXED_LEN, |v| message_len(v, usize::from(self.count())));
        &self.buffer.as_ref()[..len]
    }

    /// Whether the checksum verifies over the whole buffer (v2), or over the pseudo-header of
    /// `src` -> `dst` and the whole buffer (v3).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let message = checksum::sum(data);
        let total = match self.version() {
            Some(Version::V3) => {
                let Ok(len) = u32::try_from(data.len()) else {
                    return false;
                };
                checksum::combine(&[
                    checksum::pseudo_header(src, dst, protocol::VRRP, len),
                    message,
                ])
            }
            _ => checksum::fold(message),
        };
        total == 0xffff
    }
}

/// A VRRP advertisement as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2 carries whole seconds (a multiple of 100 up to
    /// 25500); v3 carries 12 bits (up to 4095).
    pub advert_interval_cs: u16,
    /// Always `Auth::None` for v3.
    pub auth: Auth,
    pub addresses: Vec<Ipv4Addr>,
}

impl Repr {
    /// Parse and verify an advert that arrived from `src` to `dst` (the IPv4 addresses, needed
    /// by the v3 checksum). The buffer must be exactly the message (the IPv4 payload).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Repr> {
        packet.check_len()?;
        let version = packet.version().ok_or(WireError::Malformed)?;
        // RFC 3768 §5.3.2 / RFC 5798 §5.2.2: unknown types are discarded.
        if packet.vrrp_type() != TYPE_ADVERTISEMENT {
            return Err(WireError::Unsupported);
        }
        // Trailing bytes mean the count and the IP length disagree (RFC 3768 §7.1: the packet
        // must contain exactly the fields; keepalived drops the same way).
        if packet.buffer.as_ref().len() != packet.message().len() {
            return Err(WireError::Malformed);
        }
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        let auth = match version {
            Version::V3 => Auth::None,
            Version::V2 => {
                let mut data = [0u8; AUTH_DATA_LEN];
                data.copy_from_slice(packet.auth_data());
                match packet.auth_type() {
                    auth_type::NONE => Auth::None,
                    auth_type::SIMPLE_TEXT => Auth::SimpleText(data),
                    other => Auth::Other {
                        auth_type: other,
                        data,
                    },
                }
            }
        };
        Ok(Repr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            advert_interval_cs: packet.advert_interval_cs(),
            auth,
            addresses: packet.addresses().collect(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        message_len(self.version, self.addresses.len())
    }

    /// Write the message with its checksum into the start of `buffer`; returns its length.
    /// `src` and `dst` are the IPv4 addresses it will be sent with (v3 checksum).
    pub fn emit(&self, buffer: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<usize> {
        let count = u8::try_from(self.addresses.len()).map_err(|_| WireError::Malformed)?;
        let total = self.buffer_len();
        if buffer.len() < total {
            return Err(WireError::Truncated);
        }
        let msg = &mut buffer[..total];
        msg[field::VER_TYPE] = (self.version.number() << 4) | TYPE_ADVERTISEMENT;
        msg[field::VRID] = self.vrid;
        msg[field::PRIORITY] = self.priority;
        msg[field::COUNT] = count;
        match self.version {
            Version::V2 => {
                if self.advert_interval_cs / 100 * 100 != self.advert_interval_cs {
                    return Err(WireError::Malformed);
                }
                let secs = u8::try_from(self.advert_interval_cs / 100)
                    .map_err(|_| WireError::Malformed)?;
                msg[field::AUTH_TYPE] = self.auth.auth_type();
                msg[field::ADVER_INT] = secs;
                msg[total - AUTH_DATA_LEN..].copy_from_slice(&self.auth.data());
            }
            Version::V3 => {
                if self.advert_interval_cs > MAX_V3_INTERVAL_CS || self.auth != Auth::None {
                    return Err(WireError::Malformed);
                }
                msg[field::MAX_ADVER_INT].copy_from_slice(&self.advert_interval_cs.to_be_bytes());
            }
        }
        msg[field::CHECKSUM].fill(0);
        for (slot, addr) in msg[FIXED_LEN..]
            .chunks_exact_mut(ADDR_LEN)
            .zip(&self.addresses)
        {
            slot.copy_from_slice(&addr.octets());
        }
        let sum = match self.version {
            Version::V2 => checksum::checksum(msg),
            Version::V3 => {
                let len = u32::try_from(total).map_err(|_| WireError::Malformed)?;
                let pseudo = checksum::pseudo_header(src, dst, protocol::VRRP, len);
                !checksum::combine(&[pseudo, checksum::sum(msg)])
            }
        };
        msg[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }
}

mod v6;
pub use v6::{message_len_v6, Ipv6Repr, HOP_LIMIT, IPV6_ADDR_LEN, MULTICAST_ADDR_V6};

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_v6;
