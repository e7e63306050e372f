//! ICMPv4 echo request and reply (RFC 792), used by the gateway `ping` check. `Packet::new_checked`
//! verifies the 8-byte echo header; `Repr::parse` verifies the checksum over the whole message
//! and accepts only types 0 and 8 (code 0), everything else being `Unsupported`.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Identifier          |        Sequence Number        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data ...
//! +-+-+-+-+-
//! ```

use crate::checksum;
use crate::error::{Result, WireError};

/// Length of the echo header.
pub const HEADER_LEN: usize = 8;
pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_ECHO_REQUEST: u8 = 8;

/// Where the header's fields sit (16-bit fields big-endian).
mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(packet)
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQ_NO)
    }

    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

/// An echo request or reply as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let (ident, seq_no, data) = (
            packet.echo_ident(),
            packet.echo_seq_no(),
            &bytes[HEADER_LEN..],
        );
        match (packet.msg_type(), packet.msg_code()) {
            (TYPE_ECHO_REQUEST, 0) => Ok(Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            (TYPE_ECHO_REPLY, 0) => Ok(Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            _ => Err(WireError::Unsupported),
        }
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
        }
    }

    /// Write the message with its checksum into the start of `buffer`; returns the length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let total = self.buffer_len();
        if buffer.len() < total {
            return Err(WireError::Truncated);
        }
        let (msg_type, ident, seq_no, data) = match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REQUEST, ident, seq_no, data),
            Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REPLY, ident, seq_no, data),
        };
        let msg = &mut buffer[..total];
        msg[field::TYPE] = msg_type;
        msg[field::CODE] = 0;
        msg[field::CHECKSUM].fill(0);
        msg[field::ECHO_IDENT].copy_from_slice(&ident.to_be_bytes());
        msg[field::ECHO_SEQ_NO].copy_from_slice(&seq_no.to_be_bytes());
        msg[HEADER_LEN..].copy_from_slice(data);
        let sum = checksum::checksum(msg);
        msg[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 1071-style hand computation: 0800 + 1234 + 0001 + 6162 = 0x7b97, checksum !0x7b97.
    const ECHO: [u8; 10] = [0x08, 0x00, 0x84, 0x68, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62];

    #[test]
    fn golden_bytes_both_ways() {
        let packet = Packet::new_checked(&ECHO[..]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"ab"
            }
        );
        let mut buf = [0u8; 10];
        assert_eq!(repr.emit(&mut buf).unwrap(), 10);
        assert_eq!(buf, ECHO);
    }

    // `ping -c1 -s 4 -p 6162` to 10.235.210.1 and the kernel's reply (tcpdump capture).
    const PING_REQUEST: [u8; 12] = [
        0x08, 0x00, 0x1d, 0xac, 0x78, 0xf0, 0x00, 0x01, 0x61, 0x62, 0x00, 0x00,
    ];
    const PING_REPLY: [u8; 12] = [
        0x00, 0x00, 0x25, 0xac, 0x78, 0xf0, 0x00, 0x01, 0x61, 0x62, 0x00, 0x00,
    ];

    #[test]
    fn captured_ping_both_ways() {
        let data: &[u8] = &[0x61, 0x62, 0x00, 0x00];
        for (bytes, expected) in [
            (
                PING_REQUEST,
                Repr::EchoRequest {
                    ident: 0x78f0,
                    seq_no: 1,
                    data,
                },
            ),
            (
                PING_REPLY,
                Repr::EchoReply {
                    ident: 0x78f0,
                    seq_no: 1,
                    data,
                },
            ),
        ] {
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(Repr::parse(&packet).unwrap(), expected);
            let mut buf = [0u8; 12];
            expected.emit(&mut buf).unwrap();
            assert_eq!(buf, bytes);
        }
    }

    #[test]
    fn negative_cases() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&ECHO[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        let mut bad = ECHO;
        bad[9] = 0;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bad[..]).unwrap()),
            Err(WireError::Checksum)
        );
        let mut unreachable = [3u8, 1, 0, 0, 0, 0, 0, 0];
        let sum = checksum::checksum(&unreachable);
        unreachable[2..4].copy_from_slice(&sum.to_be_bytes());
        let packet = Packet::new_checked(&unreachable[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(WireError::Unsupported));
    }

    proptest! {
        #[test]
        fn round_trip(reply in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
                      data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let repr = if reply {
                Repr::EchoReply { ident, seq_no, data: &data }
            } else {
                Repr::EchoRequest { ident, seq_no, data: &data }
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).unwrap();
            let packet = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet).unwrap(), repr);
        }
    }
}
