//! Ethernet II frames (IEEE 802.3 with an EtherType). `Frame::new_checked` guarantees the 14-byte
//! header is present, after which no accessor panics. 802.1Q tags are not looked into: a tagged
//! frame reports EtherType 0x8100 and the caller leaves it alone.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination MAC address                    |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                      Source MAC address                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           EtherType           |  Payload ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use crate::error::{Result, WireError};

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The VRRP virtual router MAC for IPv4, 00-00-5E-00-01-{VRID} (RFC 3768 §7.3,
    /// RFC 5798 §7.3).
    pub fn vrrp_virtual(vrid: u8) -> EthernetAddress {
        EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x01, vrid])
    }

    /// The multicast MAC an IPv4 multicast group maps to (RFC 1112 §6.4).
    pub fn ipv4_multicast(group: std::net::Ipv4Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    /// The VRRP virtual router MAC for IPv6, 00-00-5E-00-02-{VRID} (RFC 5798 §7.3).
    pub fn vrrp_virtual_v6(vrid: u8) -> EthernetAddress {
        EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x02, vrid])
    }

    /// The multicast MAC an IPv6 multicast group maps to: 33-33 and the group's last four
    /// bytes (RFC 2464 §7). For a solicited-node group that is 33-33-FF-xx-xx-xx.
    pub fn ipv6_multicast(group: std::net::Ipv6Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<EthernetAddress> {
        let octets: [u8; 6] = bytes.try_into().ok()?;
        Some(EthernetAddress(octets))
    }

    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (broadcast included).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// EtherType values this crate knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    /// 802.1Q VLAN tag.
    Vlan,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

mod field {
    use std::ops::{Range, RangeFrom};
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A view of an Ethernet II frame over a byte buffer.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap without checking; accessors may panic on a short buffer. Use for buffers this
    /// process sized itself.
    pub fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap after checking that the header is complete.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> EthernetAddress {
        let mut octets = [0; 6];
        octets.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        EthernetAddress(octets)
    }

    pub fn src_addr(&self) -> EthernetAddress {
        let mut octets = [0; 6];
        octets.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        EthernetAddress(octets)
    }

    pub fn ethertype(&self) -> EtherType {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        EtherType::from(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(ethertype).to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The header of an Ethernet II frame as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: EthernetAddress,
    pub dst_addr: EthernetAddress,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header; the frame must be at least [`HEADER_LEN`] long.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) -> Result<()> {
        frame.check_len()?;
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The head of a VRRPv2 advert sent by keepalived 2.2.7 (captured with tcpdump).
    const KEEPALIVED_HEAD: [u8; 16] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0xe6, 0x08, 0x22, 0x0f, 0x24, 0xb9, 0x08, 0x00, 0x45,
        0xc0,
    ];

    #[test]
    fn parses_golden_bytes() {
        let frame = Frame::new_checked(&KEEPALIVED_HEAD[..]).unwrap();
        let repr = Repr::parse(&frame).unwrap();
        assert_eq!(
            repr.dst_addr,
            EthernetAddress::ipv4_multicast([224, 0, 0, 18].into())
        );
        assert_eq!(repr.src_addr.to_string(), "e6:08:22:0f:24:b9");
        assert_eq!(repr.ethertype, EtherType::Ipv4);
        assert_eq!(frame.payload(), &[0x45, 0xc0]);
    }

    #[test]
    fn emits_golden_bytes() {
        let repr = Repr {
            dst_addr: EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]),
            src_addr: EthernetAddress([0xe6, 0x08, 0x22, 0x0f, 0x24, 0xb9]),
            ethertype: EtherType::Ipv4,
        };
        let mut buf = [0u8; 14];
        repr.emit(&mut Frame::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf, KEEPALIVED_HEAD[..14]);
    }

    #[test]
    fn short_buffers_are_rejected() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&KEEPALIVED_HEAD[..len]).err(),
                Some(WireError::Truncated)
            );
        }
    }

    #[test]
    fn virtual_mac_and_flags() {
        assert_eq!(
            EthernetAddress::vrrp_virtual(7).to_string(),
            "00:00:5e:00:01:07"
        );
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(EthernetAddress::vrrp_virtual(7).is_unicast());
        assert_eq!(
            EthernetAddress::vrrp_virtual_v6(7).to_string(),
            "00:00:5e:00:02:07"
        );
        // Captured: keepalived's IPv6 adverts go to 33:33:00:00:00:12, the kernel's
        // solicitation for fd00:1::1 to 33:33:ff:00:00:01.
        let vrrp_group: std::net::Ipv6Addr = "ff02::12".parse().unwrap();
        assert_eq!(
            EthernetAddress::ipv6_multicast(vrrp_group).to_string(),
            "33:33:00:00:00:12"
        );
        let solicited: std::net::Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
        assert_eq!(
            EthernetAddress::ipv6_multicast(solicited).to_string(),
            "33:33:ff:00:00:01"
        );
        assert!(EthernetAddress::ipv6_multicast(solicited).is_multicast());
    }

    proptest! {
        #[test]
        fn round_trip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), et in any::<u16>()) {
            let repr = Repr {
                src_addr: EthernetAddress(src),
                dst_addr: EthernetAddress(dst),
                ethertype: EtherType::from(et),
            };
            let mut buf = [0u8; HEADER_LEN];
            repr.emit(&mut Frame::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(Repr::parse(&Frame::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }
    }
}
