//! UDP datagrams (RFC 768). `Packet::new_checked` verifies that the buffer holds the 8-byte
//! header and that the length field is at least 8 and within the buffer, so `payload()` cannot
//! panic. The checksum covers the IPv4 pseudo-header; a zero checksum means "none" over IPv4 and
//! is accepted, and a computed zero is sent as 0xffff.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Length             |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Payload ...                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::checksum::{self, PseudoHeader};
use crate::error::{Result, WireError};
use crate::ipv4::protocol;

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// Where the header's fields sit (each 16 bits, big-endian).
mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A view of a UDP datagram.
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
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if field_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// The length field: header plus payload.
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum verifies over the IPv4 or IPv6 pseudo-header of `src` -> `dst`. A
    /// zero checksum ("not computed") verifies over IPv4 and never over IPv6 (RFC 8200 §8.1).
    pub fn verify_checksum<A: PseudoHeader>(&self, src: A, dst: A) -> bool {
        if self.checksum() == 0 {
            return A::UDP_ZERO_CHECKSUM_ALLOWED;
        }
        let datagram = &self.buffer.as_ref()[..usize::from(self.len())];
        let pseudo = A::pseudo_sum(src, dst, protocol::UDP, u32::from(self.len()));
        checksum::combine(&[pseudo, checksum::sum(datagram)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, range: std::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Compute and write the checksum over the (IPv4 or IPv6) pseudo-header, header and payload.
    pub fn fill_checksum<A: PseudoHeader>(&mut self, src: A, dst: A) {
        self.set_u16(field::CHECKSUM, 0);
        let datagram = &self.buffer.as_ref()[..usize::from(self.len())];
        let pseudo = A::pseudo_sum(src, dst, protocol::UDP, u32::from(self.len()));
        let sum = !checksum::combine(&[pseudo, checksum::sum(datagram)]);
        // RFC 768: an all-zero computed checksum is transmitted as all ones.
        self.set_u16(field::CHECKSUM, if sum == 0 { 0xffff } else { sum });
    }
}

/// A UDP header as plain values; the payload travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl Repr {
    /// Parse and verify the checksum against the addresses (IPv4 or IPv6) the datagram came
    /// with.
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
        let total16 = u16::try_from(total).map_err(|_| WireError::Malformed)?;
        if buffer.len() < total {
            return Err(WireError::Truncated);
        }
        let mut packet = Packet::new_unchecked(&mut buffer[..total]);
        packet.set_u16(field::SRC_PORT, self.src_port);
        packet.set_u16(field::DST_PORT, self.dst_port);
        packet.set_u16(field::LENGTH, total16);
        packet.payload_mut().copy_from_slice(payload);
        packet.fill_checksum(src, dst);
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    // A DNS query for "a." type A, over UDP from 192.168.1.1:53000 to 192.168.1.2:53, with its
    // checksum field zero; `golden()` fills in the checksum computed word by word, independently
    // of the crate's checksum module.
    const DATAGRAM: [u8; 27] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x1b, 0x00, 0x00, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    fn golden() -> Vec<u8> {
        let mut d = DATAGRAM.to_vec();
        // Checksum computed by hand: pseudo-header c0a8+0101+c0a8+0102+0011+001b, then the
        // datagram's words with the checksum field zero, summed and complemented.
        let words: [u32; 6] = [0xc0a8, 0x0101, 0xc0a8, 0x0102, 0x0011, 0x001b];
        let mut acc: u32 = words.iter().sum();
        for pair in DATAGRAM.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |b| u32::from(*b));
            acc += hi | lo;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        let c = !(acc as u16);
        d[6..8].copy_from_slice(&c.to_be_bytes());
        d
    }

    #[test]
    fn parses_golden_bytes() {
        let bytes = golden();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Repr::parse(&packet, SRC, DST).unwrap();
        assert_eq!(
            repr,
            Repr {
                src_port: 53000,
                dst_port: 53
            }
        );
        assert_eq!(packet.payload(), &DATAGRAM[8..]);
        // The same datagram claimed by other addresses fails its checksum.
        assert_eq!(Repr::parse(&packet, DST, DST), Err(WireError::Checksum));
    }

    #[test]
    fn emits_golden_bytes() {
        let mut buf = [0u8; 27];
        Repr {
            src_port: 53000,
            dst_port: 53,
        }
        .emit(&mut buf, SRC, DST, &DATAGRAM[8..])
        .unwrap();
        assert_eq!(buf.to_vec(), golden());
    }

    #[test]
    fn zero_checksum_means_none() {
        let packet = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert!(Repr::parse(&packet, SRC, DST).is_ok());
        // Over IPv6 a zero checksum is an error (RFC 8200 §8.1).
        let (src6, dst6) = (Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        assert_eq!(Repr::parse(&packet, src6, dst6), Err(WireError::Checksum));
    }

    /// UDP over IPv6 from fd00:1::a:40000 to fd00:1::1:9, "abcd", as captured with tcpdump on
    /// a veth link between lab namespaces, except the checksum: the capture holds 0xfa2b, the
    /// pseudo-header's partial sum the sending kernel leaves for checksum offload (veth never
    /// completes it); 0xa4b7 is the complete checksum, computed word by word with Python's
    /// `ipaddress` independently of this crate.
    const UDP6: [u8; 12] = [
        0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0xa4, 0xb7, 0x61, 0x62, 0x63, 0x64,
    ];

    #[test]
    fn captured_ipv6_datagram_both_ways() {
        let src: Ipv6Addr = "fd00:1::a".parse().unwrap();
        let dst: Ipv6Addr = "fd00:1::1".parse().unwrap();
        let packet = Packet::new_checked(&UDP6[..]).unwrap();
        let repr = Repr::parse(&packet, src, dst).unwrap();
        assert_eq!((repr.src_port, repr.dst_port), (40000, 9));
        let mut buf = [0u8; 12];
        repr.emit(&mut buf, src, dst, b"abcd").unwrap();
        assert_eq!(buf, UDP6);
        let other: Ipv6Addr = "fd00:1::b".parse().unwrap();
        assert_eq!(Repr::parse(&packet, other, dst), Err(WireError::Checksum));
        // The offload partial sum as captured does not verify.
        let mut partial = UDP6;
        partial[6..8].copy_from_slice(&[0xfa, 0x2b]);
        let packet = Packet::new_checked(&partial[..]).unwrap();
        assert_eq!(Repr::parse(&packet, src, dst), Err(WireError::Checksum));
    }

    #[test]
    fn length_checks() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&DATAGRAM[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        assert_eq!(
            Packet::new_checked(&DATAGRAM[..26]).err(),
            Some(WireError::Truncated)
        );
        let mut small = DATAGRAM;
        small[5] = 7;
        assert_eq!(
            Packet::new_checked(&small[..]).err(),
            Some(WireError::Malformed)
        );
        let mut buf = [0u8; 10];
        assert_eq!(
            Repr {
                src_port: 1,
                dst_port: 2
            }
            .emit(&mut buf, SRC, DST, &[0; 3]),
            Err(WireError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn round_trip(sp in any::<u16>(), dp in any::<u16>(), src in any::<[u8; 4]>(),
                      dst in any::<[u8; 4]>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let repr = Repr { src_port: sp, dst_port: dp };
            let mut buf = vec![0u8; Repr::buffer_len(payload.len())];
            repr.emit(&mut buf, Ipv4Addr::from(src), Ipv4Addr::from(dst), &payload).unwrap();
            let packet = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_ne!(packet.checksum(), 0);
            prop_assert_eq!(Repr::parse(&packet, Ipv4Addr::from(src), Ipv4Addr::from(dst)).unwrap(), repr);
            prop_assert_eq!(packet.payload(), &payload[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(packet) = Packet::new_checked(&data[..]) {
                let _ = packet.payload();
                let _ = Repr::parse(&packet, SRC, DST);
            }
        }
    }
}
