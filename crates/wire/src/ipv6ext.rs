//! IPv6 extension headers (RFC 8200 §4): the walk from the fixed header to the upper layer, and
//! the Fragment header. [`walk`] reads only lengths it has checked against the buffer, so it is
//! total over any bytes: it stops at the first header that is not an extension header (the upper
//! layer: UDP, TCP, ICMPv6, VRRP, ESP, No Next Header or anything unknown) and reports where that
//! begins and whether a Fragment header was crossed. A non-first fragment carries no upper-layer
//! header: the walk stops after its Fragment header and says so (`fragment.offset != 0`), as the
//! IPv4 path steers non-first fragments by address alone.
//!
//! Hop-by-Hop Options, Routing and Destination Options share one layout; their length counts
//! 8-byte units after the first 8. The Authentication Header (RFC 4302) counts 4-byte units
//! after the first 8. A Hop-by-Hop header anywhere but first is malformed (RFC 8200 §4.1), as is
//! a second Fragment header; more than [`MAX_EXTENSION_HEADERS`] headers are unsupported (a
//! bound on the walk's cost, far above what any real stack sends).
//!
//! ```text
//!  Hop-by-Hop, Routing, Destination Options:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |  Hdr Ext Len  |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                 Header-Specific Data (6 + 8 x Hdr Ext Len)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//!  Fragment (RFC 8200 §4.5):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Identification                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::error::{Result, WireError};
use crate::ipv6::{self, next_header};

/// Length of the Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;
/// The walk gives up after this many extension headers.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Where the Fragment header's fields sit (multi-byte fields big-endian).
mod field {
    use std::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const RESERVED: usize = 1;
    /// The offset in 8-byte units (13 bits), 2 reserved bits, the M flag.
    pub const OFFSET_FLAGS: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..8;
}

/// Bits of the offset word.
const OFFSET_MASK: u16 = 0xfff8;
const MORE_FRAGMENTS: u16 = 0x0001;

/// A view of a Fragment header.
#[derive(Debug, Clone)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    pub fn new_unchecked(buffer: T) -> FragmentHeader<T> {
        FragmentHeader { buffer }
    }

    /// Wrap after checking that the buffer holds the 8 bytes of the header.
    pub fn new_checked(buffer: T) -> Result<FragmentHeader<T>> {
        let header = Self::new_unchecked(buffer);
        if header.buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(header)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    fn offset_word(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::OFFSET_FLAGS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Offset of this piece in bytes (the field counts 8-byte units).
    pub fn offset(&self) -> u16 {
        self.offset_word() & OFFSET_MASK
    }

    pub fn more_frags(&self) -> bool {
        self.offset_word() & MORE_FRAGMENTS != 0
    }

    pub fn ident(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::IDENT];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// A Fragment header as plain values. The reserved fields are written as zero and ignored on
/// receipt (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    pub next_header: u8,
    /// In bytes; a multiple of 8.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

impl Fragment {
    pub fn parse<T: AsRef<[u8]>>(header: &FragmentHeader<T>) -> Result<Fragment> {
        if header.buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Fragment {
            next_header: header.next_header(),
            offset: header.offset(),
            more: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// Write the 8 bytes of the header into the start of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        if self.offset & !OFFSET_MASK != 0 {
            return Err(WireError::Malformed);
        }
        let header = buffer
            .get_mut(..FRAGMENT_HEADER_LEN)
            .ok_or(WireError::Truncated)?;
        header[field::NEXT_HEADER] = self.next_header;
        header[field::RESERVED] = 0;
        let more = if self.more { MORE_FRAGMENTS } else { 0 };
        header[field::OFFSET_FLAGS].copy_from_slice(&(self.offset | more).to_be_bytes());
        header[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        Ok(FRAGMENT_HEADER_LEN)
    }

    /// True for any piece of a fragmented datagram. A Fragment header with offset 0 and no more
    /// fragments (an "atomic fragment", RFC 8021) is a whole datagram.
    pub fn is_piece(&self) -> bool {
        self.more || self.offset != 0
    }
}

/// Where the upper layer of an IPv6 packet starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// The upper-layer protocol (the last Next Header value of the chain).
    pub protocol: u8,
    /// Offset of the upper-layer header in the IPv6 payload.
    pub offset: usize,
    /// The Fragment header crossed on the way, if any. With a non-zero offset the bytes from
    /// `offset` on are the middle of the datagram, not its upper-layer header.
    pub fragment: Option<Fragment>,
}

fn is_extension(header: u8) -> bool {
    matches!(
        header,
        next_header::HOP_BY_HOP
            | next_header::ROUTING
            | next_header::FRAGMENT
            | next_header::DESTINATION_OPTIONS
            | next_header::AUTH
    )
}

/// Walk the extension headers of `payload` (an IPv6 payload) whose first header is `first`
/// (the fixed header's Next Header).
pub fn walk(first: u8, payload: &[u8]) -> Result<UpperLayer> {
    let mut header = first;
    let mut offset = 0usize;
    let mut fragment: Option<Fragment> = None;
    let mut count = 0usize;
    while is_extension(header) {
        if count == MAX_EXTENSION_HEADERS {
            return Err(WireError::Unsupported);
        }
        if header == next_header::HOP_BY_HOP && count != 0 {
            return Err(WireError::Malformed);
        }
        count += 1;
        let rest = payload.get(offset..).unwrap_or(&[]);
        if header == next_header::FRAGMENT {
            if fragment.is_some() {
                return Err(WireError::Malformed);
            }
            let found = Fragment::parse(&FragmentHeader::new_checked(rest)?)?;
            offset += FRAGMENT_HEADER_LEN;
            fragment = Some(found);
            if found.offset != 0 {
                // A non-first piece: what follows is the middle of the datagram.
                return Ok(UpperLayer {
                    protocol: found.next_header,
                    offset,
                    fragment,
                });
            }
            header = found.next_header;
            continue;
        }
        let (&next, &units) = match rest {
            [next, units, ..] => (next, units),
            _ => return Err(WireError::Truncated),
        };
        let len = if header == next_header::AUTH {
            (usize::from(units) + 2) * 4
        } else {
            (usize::from(units) + 1) * 8
        };
        if rest.len() < len {
            return Err(WireError::Truncated);
        }
        offset += len;
        header = next;
    }
    Ok(UpperLayer {
        protocol: header,
        offset,
        fragment,
    })
}

/// [`walk`] over a checked packet's payload.
pub fn upper_layer<T: AsRef<[u8]>>(packet: &ipv6::Packet<T>) -> Result<UpperLayer> {
    walk(packet.next_header(), packet.payload())
}

#[cfg(test)]
pub(crate) mod tests;
