//! The agent protocol's packets (docs/agent-protocol.md), pure: no sockets, no clock. A
//! [`Packet`] view checks the fixed layout once in [`Packet::new_checked`], after which no
//! accessor can panic; [`Repr`] is the meaning (a request with its nonce, or a reply echoing
//! the nonce with a value), parsed and emitted with an optional shared key. With a key, every
//! packet carries HMAC-SHA256 over everything before it, truncated to 16 bytes; without one,
//! packets carry none. A reply is exactly as long as the request it answers, never longer.
//!
//! The MAC is computed here, with the `hmac` and `sha2` crates, rather than behind a trait the
//! caller implements (as the sync format leaves its HMAC to the driver): the key decides what
//! a packet is (its length, its flag, whether it parses at all), so [`Repr::parse`] and
//! [`Repr::emit`] are only complete with it, the golden bytes cover the MAC, and the fuzz target
//! checks the keyed invariants with this crate alone. Both crates are pure (no I/O, no clock,
//! no randomness), so this crate stays pure.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    magic "FAGT" (46 41 47 54)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  version (1)  | kind 1=req 2=r|      flags (bit 0: MAC)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! |                         nonce (16 bytes)                      |
//! |                                                               |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      value (reply, u32 big-endian) / zero (request)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           MAC (16 bytes, only when flag bit 0 is set)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const MAGIC: [u8; 4] = *b"FAGT";
pub const VERSION: u8 = 1;
pub const KIND_REQUEST: u8 = 1;
pub const KIND_REPLY: u8 = 2;
/// Flag bit 0: a MAC follows the body.
pub const FLAG_MAC: u16 = 0x0001;
pub const NONCE_LEN: usize = 16;
pub const MAC_LEN: usize = 16;
/// Magic, version, kind, flags, nonce, value: a packet without MAC.
pub const PLAIN_LEN: usize = 28;
/// A packet with MAC.
pub const KEYED_LEN: usize = PLAIN_LEN + MAC_LEN;

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const FLAGS: Range<usize> = 6..8;
    pub const NONCE: Range<usize> = 8..24;
    pub const VALUE: Range<usize> = 24..28;
    pub const MAC: Range<usize> = 28..44;
}

/// Why a packet was refused. [`WireError::is_unauthenticated`] tells the two counters apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    BadLength(usize),
    BadMagic,
    BadVersion(u8),
    BadKind(u8),
    UnknownFlags(u16),
    LengthFlagMismatch,
    NonZeroReserved,
    MissingMac,
    UnexpectedMac,
    BadMac,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadLength(len) => {
                write!(f, "length {len} is neither {PLAIN_LEN} nor {KEYED_LEN}")
            }
            WireError::BadMagic => f.write_str("not an agent packet (bad magic)"),
            WireError::BadVersion(version) => write!(f, "unsupported version {version}"),
            WireError::BadKind(kind) => write!(f, "unknown kind {kind}"),
            WireError::UnknownFlags(flags) => write!(f, "unknown flags {flags:#06x}"),
            WireError::LengthFlagMismatch => f.write_str("length does not match the MAC flag"),
            WireError::NonZeroReserved => f.write_str("a request's value field is not zero"),
            WireError::MissingMac => f.write_str("a key is set but the packet has no MAC"),
            WireError::UnexpectedMac => f.write_str("the packet has a MAC but no key is set"),
            WireError::BadMac => f.write_str("wrong MAC (different key?)"),
        }
    }
}

impl std::error::Error for WireError {}

impl WireError {
    /// True for the errors counted as "unauthenticated" rather than "malformed".
    pub fn is_unauthenticated(self) -> bool {
        matches!(
            self,
            WireError::MissingMac | WireError::UnexpectedMac | WireError::BadMac
        )
    }
}

/// A checked view of an agent packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks length, magic, version, kind, flags, and that the length matches the MAC flag.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let bytes = buffer.as_ref();
        if bytes.len() != PLAIN_LEN && bytes.len() != KEYED_LEN {
            return Err(WireError::BadLength(bytes.len()));
        }
        if bytes[field::MAGIC] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if bytes[field::VERSION] != VERSION {
            return Err(WireError::BadVersion(bytes[field::VERSION]));
        }
        let kind = bytes[field::KIND];
        if kind != KIND_REQUEST && kind != KIND_REPLY {
            return Err(WireError::BadKind(kind));
        }
        let flags = u16::from_be_bytes([bytes[field::FLAGS.start], bytes[field::FLAGS.start + 1]]);
        if flags & !FLAG_MAC != 0 {
            return Err(WireError::UnknownFlags(flags));
        }
        if (flags & FLAG_MAC != 0) != (bytes.len() == KEYED_LEN) {
            return Err(WireError::LengthFlagMismatch);
        }
        Ok(Packet { buffer })
    }

    pub fn kind(&self) -> u8 {
        self.buffer.as_ref()[field::KIND]
    }

    pub fn flags(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::FLAGS.start], b[field::FLAGS.start + 1]])
    }

    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.buffer.as_ref()[field::NONCE]);
        nonce
    }

    /// The value of a reply (zero in a request).
    pub fn value(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VALUE];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The MAC, when the flag says there is one.
    pub fn mac(&self) -> Option<&[u8]> {
        (self.flags() & FLAG_MAC != 0).then(|| &self.buffer.as_ref()[field::MAC])
    }

    /// The bytes the MAC covers: everything before it.
    pub fn signed_part(&self) -> &[u8] {
        &self.buffer.as_ref()[..PLAIN_LEN]
    }
}

/// What a packet means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr {
    Request { nonce: [u8; NONCE_LEN] },
    Reply { nonce: [u8; NONCE_LEN], value: u32 },
}

impl Repr {
    /// Parses a checked packet; with `key`, the MAC must be present and right, without, absent.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        key: Option<&[u8]>,
    ) -> Result<Repr, WireError> {
        match (key, packet.mac()) {
            (Some(_), None) => return Err(WireError::MissingMac),
            (None, Some(_)) => return Err(WireError::UnexpectedMac),
            (Some(key), Some(mac)) => verify_mac(key, packet.signed_part(), mac)?,
            (None, None) => {}
        }
        let nonce = packet.nonce();
        if packet.kind() == KIND_REQUEST {
            if packet.value() != 0 {
                return Err(WireError::NonZeroReserved);
            }
            Ok(Repr::Request { nonce })
        } else {
            Ok(Repr::Reply {
                nonce,
                value: packet.value(),
            })
        }
    }

    /// Checks and parses raw bytes.
    pub fn parse_bytes(bytes: &[u8], key: Option<&[u8]>) -> Result<Repr, WireError> {
        Repr::parse(&Packet::new_checked(bytes)?, key)
    }

    /// The packet's length with or without a key.
    pub fn buffer_len(key: Option<&[u8]>) -> usize {
        if key.is_some() {
            KEYED_LEN
        } else {
            PLAIN_LEN
        }
    }

    /// The packet's bytes, with a MAC when `key` is given.
    pub fn emit(&self, key: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(Repr::buffer_len(key));
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let (kind, nonce, value) = match *self {
            Repr::Request { nonce } => (KIND_REQUEST, nonce, 0),
            Repr::Reply { nonce, value } => (KIND_REPLY, nonce, value),
        };
        out.push(kind);
        let flags = if key.is_some() { FLAG_MAC } else { 0 };
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&value.to_be_bytes());
        if let Some(key) = key {
            let mac = compute_mac(key, &out);
            out.extend_from_slice(&mac);
        }
        out
    }
}

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; the Err arm cannot happen but is not a panic either.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => Hmac::<Sha256>::new(&Default::default()),
    }
}

fn compute_mac(key: &[u8], signed: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = keyed(key);
    mac.update(signed);
    let full = mac.finalize().into_bytes();
    let mut truncated = [0u8; MAC_LEN];
    truncated.copy_from_slice(&full[..MAC_LEN]);
    truncated
}

/// Constant-time comparison of the leftmost 16 bytes.
fn verify_mac(key: &[u8], signed: &[u8], mac: &[u8]) -> Result<(), WireError> {
    let mut check = keyed(key);
    check.update(signed);
    check
        .verify_truncated_left(mac)
        .map_err(|_| WireError::BadMac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONCE: [u8; 16] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ];

    const REQUEST: [u8; 28] = [
        0x46, 0x41, 0x47, 0x54, 0x01, 0x01, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
        0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x00, 0x00, 0x00,
    ];

    const REPLY_301: [u8; 28] = [
        0x46, 0x41, 0x47, 0x54, 0x01, 0x02, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
        0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x00, 0x01, 0x2d,
    ];

    #[test]
    fn golden_bytes_both_ways() {
        let request = Repr::Request { nonce: NONCE };
        assert_eq!(request.emit(None), REQUEST);
        assert_eq!(Repr::parse_bytes(&REQUEST, None), Ok(request));
        let reply = Repr::Reply {
            nonce: NONCE,
            value: 301,
        };
        assert_eq!(reply.emit(None), REPLY_301);
        assert_eq!(Repr::parse_bytes(&REPLY_301, None), Ok(reply));
    }

    #[test]
    fn golden_keyed_request() {
        // HMAC-SHA256(key "secret", the 28 request bytes above), first 16 bytes; computed with
        // `openssl dgst -sha256 -mac HMAC -macopt key:secret` over the flagged request.
        let keyed = Repr::Request { nonce: NONCE }.emit(Some(b"secret"));
        assert_eq!(keyed.len(), KEYED_LEN);
        assert_eq!(&keyed[..6], &REQUEST[..6]);
        assert_eq!(&keyed[6..8], &[0x00, 0x01]);
        assert_eq!(&keyed[8..28], &REQUEST[8..28]);
        assert_eq!(hex(&keyed[28..]), GOLDEN_MAC);
    }

    const GOLDEN_MAC: &str = "00c96abfe1be39447ef575ddb3143285";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn keys_must_match_in_both_directions() {
        let packet = Repr::Reply {
            nonce: NONCE,
            value: 7,
        }
        .emit(Some(b"one"));
        assert_eq!(
            Repr::parse_bytes(&packet, Some(b"two")),
            Err(WireError::BadMac)
        );
        assert_eq!(
            Repr::parse_bytes(&packet, None),
            Err(WireError::UnexpectedMac)
        );
        assert_eq!(
            Repr::parse_bytes(&REQUEST, Some(b"one")),
            Err(WireError::MissingMac)
        );
        assert!(Repr::parse_bytes(&packet, Some(b"one")).is_ok());
        // A flipped bit anywhere in the signed part breaks the MAC.
        for at in 0..PLAIN_LEN {
            let mut bent = packet.clone();
            bent[at] ^= 0x80;
            assert!(Repr::parse_bytes(&bent, Some(b"one")).is_err(), "byte {at}");
        }
    }

    #[test]
    fn malformed_packets_are_refused() {
        for len in [0, 1, 8, 27, 29, 43, 45, 512] {
            let bytes = vec![0u8; len];
            assert_eq!(
                Packet::new_checked(&bytes[..]).err(),
                Some(WireError::BadLength(len))
            );
        }
        let cases: [(usize, u8, WireError); 5] = [
            (0, b'X', WireError::BadMagic),
            (4, 2, WireError::BadVersion(2)),
            (5, 3, WireError::BadKind(3)),
            (6, 0x80, WireError::UnknownFlags(0x8000)),
            (7, 0x01, WireError::LengthFlagMismatch),
        ];
        for (at, byte, error) in cases {
            let mut bent = REQUEST;
            bent[at] = byte;
            assert_eq!(Repr::parse_bytes(&bent, None), Err(error));
        }
        let mut reserved = REQUEST;
        reserved[27] = 1;
        assert_eq!(
            Repr::parse_bytes(&reserved, None),
            Err(WireError::NonZeroReserved)
        );
    }

    fn any_repr() -> impl Strategy<Value = Repr> {
        prop_oneof![
            any::<[u8; 16]>().prop_map(|nonce| Repr::Request { nonce }),
            (any::<[u8; 16]>(), any::<u32>())
                .prop_map(|(nonce, value)| Repr::Reply { nonce, value }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(repr in any_repr(), key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))) {
            let key = key.as_deref();
            let bytes = repr.emit(key);
            prop_assert_eq!(bytes.len(), Repr::buffer_len(key));
            prop_assert_eq!(Repr::parse_bytes(&bytes, key), Ok(repr));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Whatever parses re-emits to the same bytes: nothing is accepted loosely.
            if let Ok(repr) = Repr::parse_bytes(&bytes, None) {
                prop_assert_eq!(repr.emit(None), bytes);
            }
        }
    }
}
