//! TCP segment headers (RFC 9293 §3.1), enough to classify and steer a segment: ports, sequence
//! numbers, flags, window, data offset. `Packet::new_checked` verifies that the buffer holds
//! 20 bytes and that the data offset is at least 20 and within the buffer, so `options()` and
//! `payload()` cannot panic. The checksum covers the IPv4 pseudo-header.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::checksum::{self, PseudoHeader};
use crate::error::{Result, WireError};
use crate::ipv4::protocol;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Where the header's fields sit (16- and 32-bit fields big-endian).
mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUMBER: Range<usize> = 4..8;
    pub const ACK_NUMBER: Range<usize> = 8..12;
    /// Data offset in the high nibble, in 32-bit words.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// The control bits (the low byte of the flags field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A view of a TCP segment.
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
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32_at(&self, range: std::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[range];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUMBER)
    }

    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUMBER)
    }

    /// Header length in bytes (data offset x 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    pub fn urgent(&self) -> u16 {
        self.u16_at(field::URGENT)
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }

    /// Whether the checksum verifies; the whole buffer is the segment.
    /// Whether the checksum verifies over the IPv4 or IPv6 pseudo-header of `src` -> `dst`.
    pub fn verify_checksum<A: PseudoHeader>(&self, src: A, dst: A) -> bool {
        let segment = self.buffer.as_ref();
        let Ok(len) = u32::try_from(segment.len()) else {
            return false;
        };
        let pseudo = A::pseudo_sum(src, dst, protocol::TCP, len);
        checksum::combine(&[pseudo, checksum::sum(segment)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn fill_checksum<A: PseudoHeader>(&mut self, src: A, dst: A) {
        self.buffer.as_mut()[field::CHECKSUM].fill(0);
        let segment = self.buffer.as_ref();
        let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
        let pseudo = A::pseudo_sum(src, dst, protocol::TCP, len);
        let sum = !checksum::combine(&[pseudo, checksum::sum(segment)]);
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// A TCP header without options, as plain values; the payload travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: Flags,
    pub window: u16,
}

impl Repr {
    /// Parse and verify the checksum (over the IPv4 or IPv6 pseudo-header); options are
    /// skipped.
    pub fn parse<T: AsRef<[u8]>, A: PseudoHeader>(
        packet: &Packet<T>,
        src: A,
        dst: A,
    ) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window(),
        })
    }

    pub fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Write header, `payload` and checksum into the start of `buffer`; returns the length.
    pub fn emit<A: PseudoHeader>(
        &self,
        buffer: &mut [u8],
        src: A,
        dst: A,
        payload: &[u8],
    ) -> Result<usize> {
        let total = Self::buffer_len(payload.len());
        if buffer.len() < total || total > usize::from(u16::MAX) {
            return Err(WireError::Truncated);
        }
        let segment = &mut buffer[..total];
        segment[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        segment[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        segment[field::SEQ_NUMBER].copy_from_slice(&self.seq_number.to_be_bytes());
        segment[field::ACK_NUMBER].copy_from_slice(&self.ack_number.to_be_bytes());
        segment[field::DATA_OFFSET] = ((HEADER_LEN / 4) as u8) << 4;
        segment[field::FLAGS] = self.flags.0;
        segment[field::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        segment[field::URGENT].fill(0);
        segment[HEADER_LEN..].copy_from_slice(payload);
        Packet::new_unchecked(segment).fill_checksum(src, dst);
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

    // A SYN from 10.0.0.1:40000 to 10.235.210.1:53 with one option (MSS 1460), checksum filled
    // in by hand: pseudo 0a00+0001+0aeb+d201+0006+0018 plus the header words.
    const SYN: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa,
        0xf0, 0x19, 0xd2, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    #[test]
    fn parses_golden_bytes() {
        let packet = Packet::new_checked(&SYN[..]).unwrap();
        assert!(packet.verify_checksum(SRC, DST));
        let repr = Repr::parse(&packet, SRC, DST).unwrap();
        assert_eq!(repr.src_port, 40000);
        assert_eq!(repr.dst_port, 53);
        assert!(repr.flags.syn() && !repr.flags.ack());
        assert_eq!(repr.window, 64240);
        assert_eq!(packet.options(), &[2, 4, 5, 0xb4]);
        assert!(packet.payload().is_empty());
    }

    #[test]
    fn emits_a_verifiable_segment() {
        let repr = Repr {
            src_port: 40000,
            dst_port: 53,
            seq_number: 1,
            ack_number: 0,
            flags: Flags(Flags::SYN),
            window: 64240,
        };
        let mut buf = [0u8; 20];
        assert_eq!(repr.emit(&mut buf, SRC, DST, &[]).unwrap(), 20);
        assert_eq!(buf[..12], SYN[..12]);
        assert_eq!(buf[12], 0x50);
        assert_eq!(buf[13..16], SYN[13..16]);
        assert!(Packet::new_checked(&buf[..])
            .unwrap()
            .verify_checksum(SRC, DST));
    }

    // A RST+ACK the Linux kernel sent from 10.235.210.1:53 to 127.0.0.1:41743 in answer to a
    // SYN (tcpdump capture on a namespace's loopback; the kernel computed its checksum in full).
    const KERNEL_RST: [u8; 20] = [
        0x00, 0x35, 0xa3, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x6d, 0x14, 0x30, 0xff, 0x50, 0x14, 0x00,
        0x00, 0x12, 0x8b, 0x00, 0x00,
    ];

    #[test]
    fn kernel_rst_both_ways() {
        let (src, dst) = (Ipv4Addr::new(10, 235, 210, 1), Ipv4Addr::new(127, 0, 0, 1));
        let repr = Repr::parse(&Packet::new_checked(&KERNEL_RST[..]).unwrap(), src, dst).unwrap();
        let expected = Repr {
            src_port: 53,
            dst_port: 41743,
            seq_number: 0,
            ack_number: 1830039807,
            flags: Flags(Flags::RST | Flags::ACK),
            window: 0,
        };
        assert_eq!(repr, expected);
        assert!(repr.flags.rst() && repr.flags.ack() && !repr.flags.syn() && !repr.flags.fin());
        let mut buf = [0u8; 20];
        expected.emit(&mut buf, src, dst, &[]).unwrap();
        assert_eq!(buf, KERNEL_RST);
    }

    #[test]
    fn length_checks() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&SYN[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        // Data offset 6 (24 bytes) but only 23 present.
        assert_eq!(
            Packet::new_checked(&SYN[..23]).err(),
            Some(WireError::Truncated)
        );
        let mut small = SYN;
        small[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&small[..]).err(),
            Some(WireError::Malformed)
        );
        let mut bad = SYN;
        bad[17] ^= 0x10;
        let packet = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC, DST), Err(WireError::Checksum));
    }

    proptest! {
        #[test]
        fn round_trip(sp in any::<u16>(), dp in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(),
                      flags in any::<u8>(), window in any::<u16>(), src in any::<[u8; 4]>(),
                      dst in any::<[u8; 4]>(), payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let repr = Repr { src_port: sp, dst_port: dp, seq_number: seq, ack_number: ack,
                              flags: Flags(flags), window };
            let mut buf = vec![0u8; Repr::buffer_len(payload.len())];
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            repr.emit(&mut buf, src, dst, &payload).unwrap();
            let packet = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet, src, dst).unwrap(), repr);
            prop_assert_eq!(packet.payload(), &payload[..]);
        }

        #[test]
        fn round_trip_over_ipv6(sp in any::<u16>(), dp in any::<u16>(), seq in any::<u32>(),
                                flags in any::<u8>(), src in any::<[u8; 16]>(),
                                dst in any::<[u8; 16]>(),
                                payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let repr = Repr { src_port: sp, dst_port: dp, seq_number: seq, ack_number: 0,
                              flags: Flags(flags), window: 512 };
            let mut buf = vec![0u8; Repr::buffer_len(payload.len())];
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            repr.emit(&mut buf, src, dst, &payload).unwrap();
            let packet = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(packet.verify_checksum(src, dst));
            prop_assert_eq!(Repr::parse(&packet, src, dst).unwrap(), repr);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = Packet::new_checked(&data[..]) {
                let _ = (packet.options(), packet.payload());
                let _ = Repr::parse(&packet, SRC, DST);
            }
        }
    }
}
