//! Session-sync datagrams (Fulcrum's own format, UDP port 10439; `docs/sync.md`).
//!
//! Contract: [`Datagram::new_checked`] accepts a buffer only if the magic, version and type are
//! known, the flags hold no unknown bit, and the header's entry count describes exactly the
//! bytes between the header and the (optional) 32-byte HMAC trailer: every entry's length is
//! checked before it is read, and no byte may be left over. After it succeeds no accessor and no
//! step of [`Datagram::entries`] can panic. The trailer is only exposed here; computing and
//! checking the HMAC-SHA256 is the driver's job.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     'F' 0x46  |     'S' 0x53  |  Version (2)  |     Type      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Flags     |  Reserved (0) |          Entry count          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Sender node id (boot id)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Sent at, ms since the Unix epoch (64 bits)         |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Request id                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Cookie                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Entries (count times) ...                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          HMAC-SHA256 of everything before it (32 bytes,       |
//! |                   only with flag 0x01) ...                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Entry: | Op (1) | Server (4) | Target (4) | Age s (4) | Timeout s (4) | Client (4 or 16) |
//! Op: bit 0x01 remove (else upsert), bit 0x80 IPv6 client; other bits zero.
//! ```
//!
//! All numbers are big-endian.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Result, WireError};

pub const MAGIC: [u8; 2] = *b"FS";
pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 32;
pub const MAC_LEN: usize = 32;
/// The UDP port sync datagrams go to.
pub const PORT: u16 = 10439;
/// Header flag: a 32-byte HMAC-SHA256 trailer follows the entries.
pub const FLAG_MAC: u8 = 0x01;
const OP_REMOVE: u8 = 0x01;
const OP_V6: u8 = 0x80;
/// An entry's fixed part before the client address.
const ENTRY_FIXED: usize = 17;
/// Bytes of an entry's client address.
const V4_LEN: usize = 4;
const V6_LEN: usize = 16;

/// Where the header's fields sit (multi-byte fields big-endian); `emit_header` appends them in
/// this order.
mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const KIND: usize = 3;
    pub const FLAGS: usize = 4;
    pub const RESERVED: usize = 5;
    pub const COUNT: Range<usize> = 6..8;
    pub const NODE: Range<usize> = 8..12;
    pub const SEQUENCE: Range<usize> = 12..16;
    /// Milliseconds since the Unix epoch, 64 bits.
    pub const SENT_AT: Range<usize> = 16..24;
    pub const REQUEST: Range<usize> = 24..28;
    pub const COOKIE: Range<usize> = 28..32;
}

/// Where an entry's fields sit; the client address follows at [`ENTRY_FIXED`].
mod entry_field {
    use std::ops::Range;
    pub const OP: usize = 0;
    pub const SERVER: Range<usize> = 1..5;
    pub const TARGET: Range<usize> = 5..9;
    pub const AGE: Range<usize> = 9..13;
    pub const TIMEOUT: Range<usize> = 13..17;
}

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Session changes, in order.
    Update = 1,
    /// "Send me your whole table" (sequence 0, no entries).
    FullRequest = 2,
    /// Part of a full-table dump.
    FullChunk = 3,
    /// The dump is complete.
    FullDone = 4,
    /// "Ask again with this cookie": a master's answer to a full-table request from an address
    /// it has not verified (no entries; the request id echoed, the cookie to send back).
    Cookie = 5,
}

impl Kind {
    fn from_u8(value: u8) -> Option<Kind> {
        Some(match value {
            1 => Kind::Update,
            2 => Kind::FullRequest,
            3 => Kind::FullChunk,
            4 => Kind::FullDone,
            5 => Kind::Cookie,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Upsert,
    Remove,
}

/// One session change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    pub op: Op,
    pub server: u32,
    pub client: IpAddr,
    pub target: u32,
    /// Seconds since the session was last seen on the sender.
    pub age: u32,
    /// Idle seconds after which it expires.
    pub timeout: u32,
}

impl Entry {
    /// Bytes this entry takes on the wire.
    pub fn wire_len(&self) -> usize {
        ENTRY_FIXED
            + match self.client {
                IpAddr::V4(_) => V4_LEN,
                IpAddr::V6(_) => V6_LEN,
            }
    }

    /// Appends the entry's bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut op = match self.op {
            Op::Upsert => 0,
            Op::Remove => OP_REMOVE,
        };
        if self.client.is_ipv6() {
            op |= OP_V6;
        }
        out.push(op);
        out.extend_from_slice(&self.server.to_be_bytes());
        out.extend_from_slice(&self.target.to_be_bytes());
        out.extend_from_slice(&self.age.to_be_bytes());
        out.extend_from_slice(&self.timeout.to_be_bytes());
        match self.client {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
        }
    }
}

fn u16_at(b: &[u8], range: std::ops::Range<usize>) -> u16 {
    let b = &b[range];
    u16::from_be_bytes([b[0], b[1]])
}

fn u32_at(b: &[u8], range: std::ops::Range<usize>) -> u32 {
    let b = &b[range];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A checked view of a sync datagram.
#[derive(Debug, Clone)]
pub struct Datagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Datagram<T> {
    /// Checks everything (see the module documentation).
    pub fn new_checked(buffer: T) -> Result<Datagram<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::MAGIC] != MAGIC || b[field::VERSION] != VERSION || b[field::RESERVED] != 0 {
            return Err(WireError::Malformed);
        }
        if Kind::from_u8(b[field::KIND]).is_none() {
            return Err(WireError::Unsupported);
        }
        let flags = b[field::FLAGS];
        if flags & !FLAG_MAC != 0 {
            return Err(WireError::Malformed);
        }
        let end = if flags & FLAG_MAC != 0 {
            b.len().checked_sub(MAC_LEN).ok_or(WireError::Truncated)?
        } else {
            b.len()
        };
        if end < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let count = u16_at(b, field::COUNT);
        let mut at = HEADER_LEN;
        for _ in 0..count {
            let op = *b.get(at).ok_or(WireError::Truncated)?;
            if op & !(OP_REMOVE | OP_V6) != 0 {
                return Err(WireError::Malformed);
            }
            let len = ENTRY_FIXED + if op & OP_V6 != 0 { V6_LEN } else { V4_LEN };
            if at + len > end {
                return Err(WireError::Truncated);
            }
            at += len;
        }
        if at != end {
            return Err(WireError::Malformed);
        }
        Ok(Datagram { buffer })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.bytes()[field::KIND]).unwrap_or(Kind::Update)
    }

    pub fn flags(&self) -> u8 {
        self.bytes()[field::FLAGS]
    }

    pub fn has_mac(&self) -> bool {
        self.flags() & FLAG_MAC != 0
    }

    pub fn entry_count(&self) -> u16 {
        u16_at(self.bytes(), field::COUNT)
    }

    pub fn node(&self) -> u32 {
        u32_at(self.bytes(), field::NODE)
    }

    pub fn sequence(&self) -> u32 {
        u32_at(self.bytes(), field::SEQUENCE)
    }

    /// The sender's wall clock when it sent the datagram, in ms since the Unix epoch.
    pub fn sent_at(&self) -> u64 {
        let b = &self.bytes()[field::SENT_AT];
        u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// A FullRequest's id; in a FullChunk, FullDone or Cookie the id of the request answered.
    pub fn request(&self) -> u32 {
        u32_at(self.bytes(), field::REQUEST)
    }

    /// A Cookie's cookie; in a FullRequest the cookie echoed (0: none yet).
    pub fn cookie(&self) -> u32 {
        u32_at(self.bytes(), field::COOKIE)
    }

    /// The bytes the HMAC covers (everything before the trailer).
    pub fn signed_part(&self) -> &[u8] {
        let b = self.bytes();
        &b[..b.len() - if self.has_mac() { MAC_LEN } else { 0 }]
    }

    /// The HMAC trailer, when the flag says there is one.
    pub fn mac(&self) -> Option<&[u8]> {
        let b = self.bytes();
        self.has_mac().then(|| &b[b.len() - MAC_LEN..])
    }

    /// The entries, in order (checked by `new_checked`, so this never fails).
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            bytes: self.signed_part(),
            at: HEADER_LEN,
            left: self.entry_count(),
        }
    }
}

/// Iterator over a checked datagram's entries.
pub struct Entries<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u16,
}

impl Iterator for Entries<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.left == 0 {
            return None;
        }
        let b = self.bytes;
        let at = self.at;
        let op = *b.get(at + entry_field::OP)?;
        let v6 = op & OP_V6 != 0;
        let len = ENTRY_FIXED + if v6 { V6_LEN } else { V4_LEN };
        let raw = b.get(at..at + len)?;
        let client = if v6 {
            let octets: [u8; 16] = raw[ENTRY_FIXED..].try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(octets))
        } else {
            let octets: [u8; 4] = raw[ENTRY_FIXED..].try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(octets))
        };
        self.at += len;
        self.left -= 1;
        Some(Entry {
            op: if op & OP_REMOVE != 0 {
                Op::Remove
            } else {
                Op::Upsert
            },
            server: u32_at(raw, entry_field::SERVER),
            target: u32_at(raw, entry_field::TARGET),
            age: u32_at(raw, entry_field::AGE),
            timeout: u32_at(raw, entry_field::TIMEOUT),
            client,
        })
    }
}

/// A whole datagram as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub kind: Kind,
    pub node: u32,
    pub sequence: u32,
    pub sent_at: u64,
    pub request: u32,
    pub cookie: u32,
    pub entries: Vec<Entry>,
    /// A 32-byte trailer is present (its value is not part of the Repr).
    pub with_mac: bool,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(datagram: &Datagram<T>) -> Repr {
        Repr {
            kind: datagram.kind(),
            node: datagram.node(),
            sequence: datagram.sequence(),
            sent_at: datagram.sent_at(),
            request: datagram.request(),
            cookie: datagram.cookie(),
            entries: datagram.entries().collect(),
            with_mac: datagram.has_mac(),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self.entries.iter().map(Entry::wire_len).sum::<usize>()
            + if self.with_mac { MAC_LEN } else { 0 }
    }

    /// Writes the datagram; a trailer is written as zeros for the caller to fill. Fails with
    /// `Malformed` for more than 65535 entries.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let count = u16::try_from(self.entries.len()).map_err(|_| WireError::Malformed)?;
        emit_header(
            out,
            &Header {
                kind: self.kind,
                with_mac: self.with_mac,
                count,
                node: self.node,
                sequence: self.sequence,
                sent_at: self.sent_at,
                request: self.request,
                cookie: self.cookie,
            },
        );
        for entry in &self.entries {
            entry.emit(out);
        }
        if self.with_mac {
            out.extend_from_slice(&[0; MAC_LEN]);
        }
        Ok(())
    }
}

/// A header's fields, for builders that write entries straight after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub with_mac: bool,
    pub count: u16,
    pub node: u32,
    pub sequence: u32,
    pub sent_at: u64,
    pub request: u32,
    pub cookie: u32,
}

impl Header {
    /// A header of `kind` from `node` with every other field zero.
    pub fn new(kind: Kind, with_mac: bool, node: u32) -> Header {
        Header {
            kind,
            with_mac,
            count: 0,
            node,
            sequence: 0,
            sent_at: 0,
            request: 0,
            cookie: 0,
        }
    }
}

/// Appends a header (for builders that write entries straight after it).
pub fn emit_header(out: &mut Vec<u8>, header: &Header) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(header.kind as u8);
    out.push(if header.with_mac { FLAG_MAC } else { 0 });
    out.push(0);
    out.extend_from_slice(&header.count.to_be_bytes());
    out.extend_from_slice(&header.node.to_be_bytes());
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.sent_at.to_be_bytes());
    out.extend_from_slice(&header.request.to_be_bytes());
    out.extend_from_slice(&header.cookie.to_be_bytes());
}

/// Rewrites the sequence number of a datagram being built.
pub fn set_sequence(out: &mut [u8], sequence: u32) {
    if let Some(field) = out.get_mut(field::SEQUENCE) {
        field.copy_from_slice(&sequence.to_be_bytes());
    }
}

/// Stamps a datagram about to be signed and sent with the wall clock.
pub fn set_sent_at(out: &mut [u8], sent_at: u64) {
    if let Some(field) = out.get_mut(field::SENT_AT) {
        field.copy_from_slice(&sent_at.to_be_bytes());
    }
}

/// Rewrites the entry count of a datagram being built.
pub fn set_entry_count(out: &mut [u8], count: u16) {
    if let Some(field) = out.get_mut(field::COUNT) {
        field.copy_from_slice(&count.to_be_bytes());
    }
}

#[cfg(test)]
mod tests;
