//! IPv4 headers (RFC 791). `Packet::new_checked` verifies, before any accessor can be used, that
//! the buffer holds at least 20 bytes, that the header length (IHL) is at least 20 and within the
//! total length, and that the buffer holds the whole total length; so `options()` and
//! `payload()` cannot panic. A buffer longer than the total length (Ethernet padding) is fine:
//! `payload()` stops at the total length. Version and checksum are checked by `Repr::parse`,
//! and also available alone for the data plane, which reads the view without building a `Repr`.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use crate::checksum;
use crate::error::{Result, WireError};

/// IP protocol numbers Fulcrum looks at.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const VRRP: u8 = 112;
}

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after the length checks described in the module doc.
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
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || total_len < header_len {
            return Err(WireError::Malformed);
        }
        if len < total_len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL x 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x4000 != 0
    }

    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x2000 != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & 0x1fff) << 3
    }

    /// True for any piece of a fragmented datagram (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header including options.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.header_len())]
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload up to the total length (Ethernet padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..usize::from(self.total_len())]
    }

    /// Whether the header checksum (options included) verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.header())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, range: std::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Recompute the header checksum after changing header fields.
    pub fn fill_checksum(&mut self) {
        self.set_u16(field::CHECKSUM, 0);
        let sum = checksum::checksum(self.header());
        self.set_u16(field::CHECKSUM, sum);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// An IPv4 header without options, as plain values. Parsing accepts options (and skips them);
/// emitting never writes any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub payload_len: usize,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes; a multiple of 8.
    pub frag_offset: u16,
}

impl Repr {
    /// Parse and validate: version 4, header checksum, the length checks of `new_checked`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(WireError::Malformed);
        }
        if !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len() - u16::from(packet.header_len())),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the header (with checksum). The buffer must hold the header and `payload_len`
    /// bytes; the payload itself is the caller's to write.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let total = self.buffer_len();
        let total16 = u16::try_from(total).map_err(|_| WireError::Malformed)?;
        if self.frag_offset & 0x7 != 0 {
            return Err(WireError::Malformed);
        }
        if packet.buffer.as_ref().len() < total {
            return Err(WireError::Truncated);
        }
        let data = packet.buffer.as_mut();
        data[field::VER_IHL] = 0x45;
        data[field::TOS] = self.tos;
        data[field::TTL] = self.ttl;
        data[field::PROTOCOL] = self.protocol;
        data[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        data[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        packet.set_u16(field::LENGTH, total16);
        packet.set_u16(field::IDENT, self.ident);
        let flags = (u16::from(self.dont_frag) << 14) | (u16::from(self.more_frags) << 13);
        packet.set_u16(field::FLG_OFF, flags | (self.frag_offset >> 3));
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The IPv4 header of a VRRPv2 advert from keepalived 2.2.7 (tcpdump capture), and its payload.
    const KEEPALIVED_V2: [u8; 40] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xfd, 0x7b, 0x0a, 0xeb, 0xd2,
        0x2b, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x07, 0xc8, 0x01, 0x01, 0x01, 0xfc, 0xbc, 0x0a, 0xeb,
        0xd2, 0x01, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x00, 0x00,
    ];

    fn keepalived_repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(10, 235, 210, 43),
            dst_addr: Ipv4Addr::new(224, 0, 0, 18),
            protocol: protocol::VRRP,
            payload_len: 20,
            ttl: 255,
            tos: 0xc0,
            ident: 1,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    #[test]
    fn parses_golden_bytes() {
        let packet = Packet::new_checked(&KEEPALIVED_V2[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), keepalived_repr());
        assert_eq!(packet.payload(), &KEEPALIVED_V2[20..]);
        assert!(packet.options().is_empty());
    }

    #[test]
    fn emits_golden_bytes() {
        let mut buf = KEEPALIVED_V2;
        buf[..20].fill(0);
        keepalived_repr()
            .emit(&mut Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, KEEPALIVED_V2);
    }

    #[test]
    fn length_checks() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&KEEPALIVED_V2[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        // Total length beyond the buffer.
        assert_eq!(
            Packet::new_checked(&KEEPALIVED_V2[..39]).err(),
            Some(WireError::Truncated)
        );
        // IHL below 5.
        let mut short_ihl = KEEPALIVED_V2;
        short_ihl[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&short_ihl[..]).err(),
            Some(WireError::Malformed)
        );
        // IHL beyond the total length.
        let mut long_ihl = KEEPALIVED_V2;
        long_ihl[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&long_ihl[..]).err(),
            Some(WireError::Malformed)
        );
        // Total length below IHL.
        let mut small_total = KEEPALIVED_V2;
        small_total[3] = 19;
        assert_eq!(
            Packet::new_checked(&small_total[..]).err(),
            Some(WireError::Malformed)
        );
    }

    #[test]
    fn version_and_checksum_are_verified() {
        let mut v6 = KEEPALIVED_V2;
        v6[0] = 0x65;
        let packet = Packet::new_checked(&v6[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(WireError::Malformed));
        let mut bad = KEEPALIVED_V2;
        bad[11] ^= 1;
        let packet = Packet::new_checked(&bad[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Repr::parse(&packet), Err(WireError::Checksum));
    }

    #[test]
    fn options_and_padding() {
        // A header with one 4-byte option (NOP NOP NOP EOL), 4 bytes of payload, and 6 bytes of
        // Ethernet padding after the total length.
        let mut buf = [0u8; 24 + 4 + 6];
        buf[0] = 0x46;
        buf[3] = 28;
        buf[8] = 64;
        buf[9] = protocol::UDP;
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..28].copy_from_slice(&[9, 9, 9, 9]);
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.fill_checksum();
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload(), &[9, 9, 9, 9]);
        assert_eq!(Repr::parse(&packet).unwrap().payload_len, 4);
    }

    #[test]
    fn fragment_fields() {
        let mut repr = keepalived_repr();
        repr.more_frags = true;
        repr.frag_offset = 1480;
        let mut buf = [0u8; 40];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert!(packet.is_fragment() && packet.more_frags() && !packet.dont_frag());
        assert_eq!(packet.frag_offset(), 1480);
        repr.frag_offset = 3;
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut buf[..])),
            Err(WireError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn round_trip(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol in any::<u8>(),
                      payload_len in 0usize..64, ttl in any::<u8>(), tos in any::<u8>(),
                      ident in any::<u16>(), dont_frag in any::<bool>(), more_frags in any::<bool>(),
                      frag_units in 0u16..0x2000) {
            let repr = Repr {
                src_addr: src.into(), dst_addr: dst.into(), protocol, payload_len, ttl, tos,
                ident, dont_frag, more_frags, frag_offset: frag_units << 3,
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Packet::new_checked(&data[..]) {
                let _ = (packet.options(), packet.payload(), packet.verify_checksum());
                let _ = Repr::parse(&packet);
            }
        }
    }
}
