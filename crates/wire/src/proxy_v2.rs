//! The PROXY protocol, version 2 (HAProxy's specification, "The PROXY protocol", section 2.2):
//! the binary header a proxy puts in front of what it forwards so that the backend learns the
//! client's address and port and the address the client asked (the VIP). Over TCP the header
//! opens the stream once; over UDP it opens every datagram (as dnsdist and PowerDNS do).
//!
//! ```text
//! 0               12     13          14                15..16        16..
//! | signature (12) | ver|cmd | family|transport | length (u16, BE) | addresses | TLVs |
//!   \r\n\r\n\0\r\nQUIT\n      0x2 | 0x0 LOCAL    0x1 INET  | 0x1 STREAM
//!                                  0x1 PROXY     0x2 INET6 | 0x2 DGRAM
//! INET:  source 4 | destination 4 | source port 2 | destination port 2        (12 bytes)
//! INET6: source 16 | destination 16 | source port 2 | destination port 2      (36 bytes)
//! ```
//! `length` counts what follows the 16 fixed bytes: the address block and any TLVs
//! (type u8 | length u16 BE | value), which [`Repr::parse`] hands back as raw bytes after
//! checking that they tile the rest exactly. A `LOCAL` header (a health check of the proxy's
//! own) carries no addresses worth reading: its address block, whatever the family, is skipped.
//! UNIX sockets and unspecified families parse as `Unsupported` (Fulcrum never sends them).
//! [`Repr::emit`] writes the `PROXY` header with no TLVs, the only one Fulcrum sends.

use std::net::{IpAddr, SocketAddr};

use crate::error::{Result, WireError};

/// The 12 bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version and command, family and transport, length.
pub const FIXED_LEN: usize = 16;
/// Offsets of the fixed part.
const VERSION_COMMAND: usize = 12;
const FAMILY_TRANSPORT: usize = 13;
const LENGTH: usize = 14;
const VERSION_2: u8 = 0x20;
const COMMAND_LOCAL: u8 = 0x0;
const COMMAND_PROXY: u8 = 0x1;
const FAMILY_UNSPEC: u8 = 0x0;
const FAMILY_INET: u8 = 0x1;
const FAMILY_INET6: u8 = 0x2;
const TRANSPORT_STREAM: u8 = 0x1;
const TRANSPORT_DGRAM: u8 = 0x2;
/// The address block of each family.
const INET_LEN: usize = 12;
const INET6_LEN: usize = 36;
/// Each TLV's type and length.
const TLV_HEADER_LEN: usize = 3;
/// The longest header [`Repr::emit`] writes (IPv6, no TLVs).
pub const MAX_EMIT_LEN: usize = FIXED_LEN + INET6_LEN;

/// How the client reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stream,
    Datagram,
}

/// A parsed or to-be-written header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Sent by the proxy on its own behalf: the backend uses the connection's real addresses.
    Local { tlvs: &'a [u8] },
    /// A proxied client: `source` is the client, `destination` the address it asked.
    Proxy {
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        tlvs: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Reads the header at the start of `buffer`; returns it and its length (where the
    /// proxied bytes begin). Fails without panicking on anything else.
    pub fn parse(buffer: &'a [u8]) -> Result<(Repr<'a>, usize)> {
        let fixed = buffer.get(..FIXED_LEN).ok_or(WireError::Truncated)?;
        if fixed[..SIGNATURE.len()] != SIGNATURE || fixed[VERSION_COMMAND] & 0xf0 != VERSION_2 {
            return Err(WireError::Malformed);
        }
        let length = usize::from(u16::from_be_bytes([fixed[LENGTH], fixed[LENGTH + 1]]));
        let total = FIXED_LEN + length;
        let rest = buffer.get(FIXED_LEN..total).ok_or(WireError::Truncated)?;
        let family = fixed[FAMILY_TRANSPORT] >> 4;
        let address_len = match family {
            FAMILY_INET => INET_LEN,
            FAMILY_INET6 => INET6_LEN,
            FAMILY_UNSPEC => 0,
            _ => return Err(WireError::Unsupported),
        };
        let addresses = rest.get(..address_len).ok_or(WireError::Malformed)?;
        let tlvs = &rest[address_len..];
        check_tlvs(tlvs)?;
        let repr = match fixed[VERSION_COMMAND] & 0x0f {
            COMMAND_LOCAL => Repr::Local { tlvs },
            COMMAND_PROXY => {
                let transport = match fixed[FAMILY_TRANSPORT] & 0x0f {
                    TRANSPORT_STREAM => Transport::Stream,
                    TRANSPORT_DGRAM => Transport::Datagram,
                    _ => return Err(WireError::Unsupported),
                };
                let (source, destination) = match family {
                    FAMILY_INET => read_addresses::<4>(addresses),
                    FAMILY_INET6 => read_addresses::<16>(addresses),
                    _ => return Err(WireError::Unsupported),
                };
                Repr::Proxy {
                    transport,
                    source,
                    destination,
                    tlvs,
                }
            }
            _ => return Err(WireError::Malformed),
        };
        Ok((repr, total))
    }

    /// The header's length on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::Local { tlvs } => FIXED_LEN + tlvs.len(),
            Repr::Proxy { source, tlvs, .. } => {
                FIXED_LEN
                    + tlvs.len()
                    + if source.is_ipv4() {
                        INET_LEN
                    } else {
                        INET6_LEN
                    }
            }
        }
    }

    /// Writes the header at the start of `buffer`; returns its length. A `Proxy` header whose
    /// two addresses are of different families is `Malformed` (the format has one family
    /// byte); TLVs must be well formed.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let out = buffer.get_mut(..len).ok_or(WireError::Truncated)?;
        let (command, family_transport, tlvs) = match self {
            Repr::Local { tlvs } => (COMMAND_LOCAL, FAMILY_UNSPEC << 4, *tlvs),
            Repr::Proxy {
                transport,
                source,
                destination,
                tlvs,
            } => {
                let transport = match transport {
                    Transport::Stream => TRANSPORT_STREAM,
                    Transport::Datagram => TRANSPORT_DGRAM,
                };
                let family = match (source.ip(), destination.ip()) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        write_addresses(&mut out[FIXED_LEN..], &s.octets(), &d.octets());
                        FAMILY_INET
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        write_addresses(&mut out[FIXED_LEN..], &s.octets(), &d.octets());
                        FAMILY_INET6
                    }
                    _ => return Err(WireError::Malformed),
                };
                let ports = FIXED_LEN + if family == FAMILY_INET { 8 } else { 32 };
                out[ports..ports + 2].copy_from_slice(&source.port().to_be_bytes());
                out[ports + 2..ports + 4].copy_from_slice(&destination.port().to_be_bytes());
                (COMMAND_PROXY, family << 4 | transport, *tlvs)
            }
        };
        check_tlvs(tlvs)?;
        let length = u16::try_from(len - FIXED_LEN).map_err(|_| WireError::Malformed)?;
        out[..SIGNATURE.len()].copy_from_slice(&SIGNATURE);
        out[VERSION_COMMAND] = VERSION_2 | command;
        out[FAMILY_TRANSPORT] = family_transport;
        out[LENGTH..FIXED_LEN].copy_from_slice(&length.to_be_bytes());
        out[len - tlvs.len()..].copy_from_slice(tlvs);
        Ok(len)
    }
}

/// The TLVs must tile `tlvs` exactly (a length running past the end is malformed).
fn check_tlvs(mut tlvs: &[u8]) -> Result<()> {
    while !tlvs.is_empty() {
        let header = tlvs.get(..TLV_HEADER_LEN).ok_or(WireError::Malformed)?;
        let value_len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        tlvs = tlvs
            .get(TLV_HEADER_LEN + value_len..)
            .ok_or(WireError::Malformed)?;
    }
    Ok(())
}

/// Source and destination of an address block of `N`-byte addresses (4 or 16).
fn read_addresses<const N: usize>(block: &[u8]) -> (SocketAddr, SocketAddr) {
    let mut source = [0u8; N];
    let mut destination = [0u8; N];
    source.copy_from_slice(&block[..N]);
    destination.copy_from_slice(&block[N..2 * N]);
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    let ip = |octets: &[u8]| -> IpAddr {
        match <[u8; 4]>::try_from(octets) {
            Ok(v4) => IpAddr::from(v4),
            Err(_) => {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(octets);
                IpAddr::from(v6)
            }
        }
    };
    (
        SocketAddr::new(ip(&source), port(2 * N)),
        SocketAddr::new(ip(&destination), port(2 * N + 2)),
    )
}

fn write_addresses(block: &mut [u8], source: &[u8], destination: &[u8]) {
    let n = source.len();
    block[..n].copy_from_slice(source);
    block[n..2 * n].copy_from_slice(destination);
}

#[cfg(test)]
mod tests;
