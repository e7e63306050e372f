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
                IpAddr::V4(_) => 4,
                IpAddr::V6(_) => 16,
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

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
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
        if b[0..2] != MAGIC || b[2] != VERSION || b[5] != 0 {
            return Err(WireError::Malformed);
        }
        if Kind::from_u8(b[3]).is_none() {
            return Err(WireError::Unsupported);
        }
        let flags = b[4];
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
        let count = u16::from_be_bytes([b[6], b[7]]);
        let mut at = HEADER_LEN;
        for _ in 0..count {
            let op = *b.get(at).ok_or(WireError::Truncated)?;
            if op & !(OP_REMOVE | OP_V6) != 0 {
                return Err(WireError::Malformed);
            }
            let len = ENTRY_FIXED + if op & OP_V6 != 0 { 16 } else { 4 };
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
        Kind::from_u8(self.bytes()[3]).unwrap_or(Kind::Update)
    }

    pub fn flags(&self) -> u8 {
        self.bytes()[4]
    }

    pub fn has_mac(&self) -> bool {
        self.flags() & FLAG_MAC != 0
    }

    pub fn entry_count(&self) -> u16 {
        u16::from_be_bytes([self.bytes()[6], self.bytes()[7]])
    }

    pub fn node(&self) -> u32 {
        u32_at(self.bytes(), 8)
    }

    pub fn sequence(&self) -> u32 {
        u32_at(self.bytes(), 12)
    }

    /// The sender's wall clock when it sent the datagram, in ms since the Unix epoch.
    pub fn sent_at(&self) -> u64 {
        let b = self.bytes();
        u64::from(u32_at(b, 16)) << 32 | u64::from(u32_at(b, 20))
    }

    /// A FullRequest's id; in a FullChunk, FullDone or Cookie the id of the request answered.
    pub fn request(&self) -> u32 {
        u32_at(self.bytes(), 24)
    }

    /// A Cookie's cookie; in a FullRequest the cookie echoed (0: none yet).
    pub fn cookie(&self) -> u32 {
        u32_at(self.bytes(), 28)
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
        let op = *b.get(at)?;
        let v6 = op & OP_V6 != 0;
        let len = ENTRY_FIXED + if v6 { 16 } else { 4 };
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
            server: u32_at(raw, 1),
            target: u32_at(raw, 5),
            age: u32_at(raw, 9),
            timeout: u32_at(raw, 13),
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

/// Rewrites the sequence number of a datagram being built (bytes 12..16).
pub fn set_sequence(out: &mut [u8], sequence: u32) {
    if let Some(field) = out.get_mut(12..16) {
        field.copy_from_slice(&sequence.to_be_bytes());
    }
}

/// Stamps a datagram about to be signed and sent with the wall clock (bytes 16..24).
pub fn set_sent_at(out: &mut [u8], sent_at: u64) {
    if let Some(field) = out.get_mut(16..24) {
        field.copy_from_slice(&sent_at.to_be_bytes());
    }
}

/// Rewrites the entry count of a datagram being built (bytes 6..8).
pub fn set_entry_count(out: &mut [u8], count: u16) {
    if let Some(field) = out.get_mut(6..8) {
        field.copy_from_slice(&count.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An Update with one IPv4 upsert and one IPv6 remove, no trailer.
    const GOLDEN: [u8; 32 + 21 + 33] = [
        0x46, 0x53, 0x02, 0x01, 0x00, 0x00, 0x00, 0x02, // FS v2 Update, flags 0, 2 entries
        0x00, 0x00, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x07, // node 0xbeef, sequence 7
        0x00, 0x00, 0x01, 0x93, 0x00, 0x11, 0x22, 0x33, // sent at 0x19300112233 ms
        0x00, 0x00, 0x00, 0x2a, 0xc0, 0x0c, 0x1e, 0x55, // request 42, cookie 0xc00c1e55
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // upsert, server 1, target 2
        0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x02, 0x58, // age 3, timeout 600
        10, 235, 210, 9, // client 10.235.210.9
        0x81, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x06, // remove v6, server 5, target 6
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, // age 0, timeout 60
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
    ];

    fn golden_repr() -> Repr {
        Repr {
            kind: Kind::Update,
            node: 0xbeef,
            sequence: 7,
            sent_at: 0x193_0011_2233,
            request: 42,
            cookie: 0xc00c_1e55,
            with_mac: false,
            entries: vec![
                Entry {
                    op: Op::Upsert,
                    server: 1,
                    client: "10.235.210.9".parse().unwrap(),
                    target: 2,
                    age: 3,
                    timeout: 600,
                },
                Entry {
                    op: Op::Remove,
                    server: 5,
                    client: "2001:db8::1".parse().unwrap(),
                    target: 6,
                    age: 0,
                    timeout: 60,
                },
            ],
        }
    }

    #[test]
    fn golden_bytes_parse() {
        let datagram = Datagram::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(Repr::parse(&datagram), golden_repr());
        assert_eq!(datagram.mac(), None);
    }

    #[test]
    fn golden_bytes_emit() {
        let mut out = Vec::new();
        golden_repr().emit(&mut out).unwrap();
        assert_eq!(out, GOLDEN);
        assert_eq!(golden_repr().buffer_len(), GOLDEN.len());
    }

    #[test]
    fn trailer_is_outside_the_entries() {
        let mut repr = golden_repr();
        repr.with_mac = true;
        let mut out = Vec::new();
        repr.emit(&mut out).unwrap();
        let n = out.len();
        out[n - MAC_LEN..].fill(0xab);
        let datagram = Datagram::new_checked(&out[..]).unwrap();
        assert_eq!(datagram.signed_part().len(), GOLDEN.len());
        assert_eq!(datagram.mac(), Some(&[0xab; MAC_LEN][..]));
        assert_eq!(Repr::parse(&datagram), repr);
    }

    #[test]
    fn every_truncation_is_rejected() {
        for len in 0..GOLDEN.len() {
            assert!(Datagram::new_checked(&GOLDEN[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn bad_headers_and_counts_are_rejected() {
        let cases: [(usize, u8, WireError); 8] = [
            (0, b'X', WireError::Malformed),     // magic
            (2, 1, WireError::Malformed),        // version 1 (before the replay fields)
            (3, 9, WireError::Unsupported),      // type
            (4, 0x02, WireError::Malformed),     // unknown flag
            (4, FLAG_MAC, WireError::Truncated), // flag: the entries overlap the trailer
            (5, 1, WireError::Malformed),        // reserved
            (7, 3, WireError::Truncated),        // one entry more than present
            (7, 1, WireError::Malformed),        // bytes left over
        ];
        for (at, value, want) in cases {
            let mut bytes = GOLDEN;
            bytes[at] = value;
            assert_eq!(
                Datagram::new_checked(&bytes[..]).err(),
                Some(want),
                "byte {at} = {value:#x}"
            );
        }
        let mut bytes = GOLDEN;
        bytes[HEADER_LEN] = 0x02; // unknown op bit
        assert_eq!(
            Datagram::new_checked(&bytes[..]).err(),
            Some(WireError::Malformed)
        );
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let client = prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ];
        (
            any::<bool>(),
            any::<u32>(),
            client,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(remove, server, client, target, age, timeout)| Entry {
                op: if remove { Op::Remove } else { Op::Upsert },
                server,
                client,
                target,
                age,
                timeout,
            })
    }

    proptest! {
        #[test]
        fn round_trip(kind in 1u8..=5, node: u32, sequence: u32, sent_at: u64, request: u32,
                      cookie: u32, with_mac: bool,
                      entries in proptest::collection::vec(entry(), 0..70)) {
            let repr = Repr {
                kind: Kind::from_u8(kind).unwrap(),
                node,
                sequence,
                sent_at,
                request,
                cookie,
                entries,
                with_mac,
            };
            let mut out = Vec::new();
            repr.emit(&mut out).unwrap();
            prop_assert_eq!(out.len(), repr.buffer_len());
            let datagram = Datagram::new_checked(&out[..]).unwrap();
            prop_assert_eq!(Repr::parse(&datagram), repr);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(datagram) = Datagram::new_checked(&bytes[..]) {
                let repr = Repr::parse(&datagram);
                let mut out = Vec::new();
                repr.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..datagram.signed_part().len()], datagram.signed_part());
            }
        }
    }
}
