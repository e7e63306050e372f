//! ARP (RFC 826) for IPv4 over Ethernet, the only kind Fulcrum speaks: answering for the VIP,
//! gratuitous announcements on becoming master (RFC 5227 §3 form: a request whose sender and
//! target protocol addresses are both the VIP) and resolving target MACs. `Packet::new_checked`
//! verifies that the buffer holds the addresses its own length fields announce; `Repr::parse`
//! then accepts only hardware type 1 / protocol 0x0800 with 6- and 4-byte addresses.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Hardware type         |         Protocol type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Hw addr len  | Proto addr len|           Operation           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Sender hardware address (Hw addr len bytes)          |
//! |          Sender protocol address (Proto addr len bytes)       |
//! |          Target hardware address (Hw addr len bytes)          |
//! |          Target protocol address (Proto addr len bytes)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use crate::error::{Result, WireError};
use crate::ethernet::{self, EtherType, EthernetAddress};

/// ARP operation codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(value: u16) -> Self {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(value: Operation) -> Self {
        match value {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// Hardware type of Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;
/// Protocol type of IPv4 (its EtherType).
pub const PROTOCOL_IPV4: u16 = 0x0800;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;
/// Length of the Ethernet frame that carries one (before padding to the 60-byte minimum, which
/// the NIC or the kernel adds).
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + ETHERNET_IPV4_LEN;

mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const FIXED_LEN: usize = 8;

    /// The addresses of an Ethernet/IPv4 packet (hardware length 6, protocol length 4).
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// A view of an ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after checking the fixed part and the four addresses its length fields announce.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < field::FIXED_LEN {
            return Err(WireError::Truncated);
        }
        let needed = field::FIXED_LEN
            + 2 * (usize::from(data[field::HLEN]) + usize::from(data[field::PLEN]));
        if data.len() < needed {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> Operation {
        Operation::from(self.u16_at(field::OPER))
    }

    fn hlen(&self) -> usize {
        usize::from(self.hardware_len())
    }

    fn plen(&self) -> usize {
        usize::from(self.protocol_len())
    }

    pub fn source_hardware_addr(&self) -> &[u8] {
        let start = field::FIXED_LEN;
        &self.buffer.as_ref()[start..start + self.hlen()]
    }

    pub fn source_protocol_addr(&self) -> &[u8] {
        let start = field::FIXED_LEN + self.hlen();
        &self.buffer.as_ref()[start..start + self.plen()]
    }

    pub fn target_hardware_addr(&self) -> &[u8] {
        let start = field::FIXED_LEN + self.hlen() + self.plen();
        &self.buffer.as_ref()[start..start + self.hlen()]
    }

    pub fn target_protocol_addr(&self) -> &[u8] {
        let start = field::FIXED_LEN + 2 * self.hlen() + self.plen();
        &self.buffer.as_ref()[start..start + self.plen()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, range: std::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }
}

/// An Ethernet/IPv4 ARP packet as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: Operation,
    pub source_hardware_addr: EthernetAddress,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: EthernetAddress,
    pub target_protocol_addr: Ipv4Addr,
}

fn ipv4_from(bytes: &[u8]) -> Result<Ipv4Addr> {
    let octets: [u8; 4] = bytes.try_into().map_err(|_| WireError::Malformed)?;
    Ok(Ipv4Addr::from(octets))
}

impl Repr {
    /// Parse an Ethernet/IPv4 ARP packet; other hardware or protocol types are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != PROTOCOL_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        let mac = |b: &[u8]| EthernetAddress::from_bytes(b).ok_or(WireError::Malformed);
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: mac(packet.source_hardware_addr())?,
            source_protocol_addr: ipv4_from(packet.source_protocol_addr())?,
            target_hardware_addr: mac(packet.target_hardware_addr())?,
            target_protocol_addr: ipv4_from(packet.target_protocol_addr())?,
        })
    }

    /// A gratuitous ARP announcing that `addr` is at `mac`: a broadcast request whose sender and
    /// target protocol addresses are both `addr` (the form keepalived sends and RFC 5227 §3
    /// recommends). Send it in a frame to [`EthernetAddress::BROADCAST`].
    pub fn gratuitous(mac: EthernetAddress, addr: Ipv4Addr) -> Repr {
        Repr {
            operation: Operation::Request,
            source_hardware_addr: mac,
            source_protocol_addr: addr,
            target_hardware_addr: EthernetAddress::BROADCAST,
            target_protocol_addr: addr,
        }
    }

    /// The reply to this request, saying that the asked-for address is at `mac`.
    pub fn reply(&self, mac: EthernetAddress) -> Repr {
        Repr {
            operation: Operation::Reply,
            source_hardware_addr: mac,
            source_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.source_hardware_addr,
            target_protocol_addr: self.source_protocol_addr,
        }
    }

    pub fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// This packet in an Ethernet frame from `src` to `dst` (a reply goes to the asker's MAC,
    /// a gratuitous announcement to broadcast).
    pub fn to_frame(&self, src: EthernetAddress, dst: EthernetAddress) -> [u8; FRAME_LEN] {
        let mut buf = [0u8; FRAME_LEN];
        let mut frame = ethernet::Frame::new_unchecked(&mut buf[..]);
        frame.set_src_addr(src);
        frame.set_dst_addr(dst);
        frame.set_ethertype(EtherType::Arp);
        // Cannot fail: the payload is exactly ETHERNET_IPV4_LEN bytes.
        let _ = self.emit(&mut Packet::new_unchecked(frame.payload_mut()));
        buf
    }

    /// Write the packet; the buffer must be at least [`ETHERNET_IPV4_LEN`] long.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < ETHERNET_IPV4_LEN {
            return Err(WireError::Truncated);
        }
        packet.set_u16(field::HTYPE, HARDWARE_ETHERNET);
        packet.set_u16(field::PTYPE, PROTOCOL_IPV4);
        let data = packet.buffer.as_mut();
        data[field::HLEN] = field::SHA.len() as u8;
        data[field::PLEN] = field::SPA.len() as u8;
        packet.set_u16(field::OPER, self.operation.into());
        let data = packet.buffer.as_mut();
        data[field::SHA].copy_from_slice(&self.source_hardware_addr.0);
        data[field::SPA].copy_from_slice(&self.source_protocol_addr.octets());
        data[field::THA].copy_from_slice(&self.target_hardware_addr.0);
        data[field::TPA].copy_from_slice(&self.target_protocol_addr.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The gratuitous ARP keepalived 2.2.7 sends for VIP 10.235.210.1 on becoming master
    // (captured with tcpdump; the Ethernet header removed).
    const KEEPALIVED_GARP: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x56, 0x08, 0x65, 0x7d, 0x82, 0xf7, 0x0a,
        0xeb, 0xd2, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0xeb, 0xd2, 0x01,
    ];
    const MAC: EthernetAddress = EthernetAddress([0x56, 0x08, 0x65, 0x7d, 0x82, 0xf7]);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

    #[test]
    fn parses_keepalived_gratuitous_arp() {
        let packet = Packet::new_checked(&KEEPALIVED_GARP[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), Repr::gratuitous(MAC, VIP));
    }

    #[test]
    fn emits_the_same_bytes_as_keepalived() {
        let mut buf = [0u8; ETHERNET_IPV4_LEN];
        Repr::gratuitous(MAC, VIP)
            .emit(&mut Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, KEEPALIVED_GARP);
    }

    #[test]
    fn frames_the_keepalived_announcement() {
        // keepalived's whole frame: broadcast, from its MAC, EtherType ARP.
        let frame = Repr::gratuitous(MAC, VIP).to_frame(MAC, EthernetAddress::BROADCAST);
        assert_eq!(frame[..6], [0xff; 6]);
        assert_eq!(frame[6..12], MAC.0);
        assert_eq!(frame[12..14], [0x08, 0x06]);
        assert_eq!(frame[14..], KEEPALIVED_GARP);
    }

    #[test]
    fn reply_swaps_roles() {
        let asker = EthernetAddress([2, 0, 0, 0, 0, 9]);
        let request = Repr {
            operation: Operation::Request,
            source_hardware_addr: asker,
            source_protocol_addr: Ipv4Addr::new(10, 235, 210, 254),
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: VIP,
        };
        let reply = request.reply(MAC);
        assert_eq!(reply.operation, Operation::Reply);
        assert_eq!(reply.source_protocol_addr, VIP);
        assert_eq!(reply.target_hardware_addr, asker);
    }

    #[test]
    fn truncated_and_foreign_packets_are_rejected() {
        for len in 0..ETHERNET_IPV4_LEN {
            assert_eq!(
                Packet::new_checked(&KEEPALIVED_GARP[..len]).err(),
                Some(WireError::Truncated),
                "len {len}"
            );
        }
        // Length fields that announce more than the buffer holds.
        let mut long = KEEPALIVED_GARP;
        long[4] = 200;
        assert_eq!(
            Packet::new_checked(&long[..]).err(),
            Some(WireError::Truncated)
        );
        // A well-formed ARP of another hardware type.
        let mut other = KEEPALIVED_GARP;
        other[1] = 6;
        let packet = Packet::new_checked(&other[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(WireError::Unsupported));
        // IPv4 with 16-byte addresses claimed: the lengths check, then the type check.
        let mut lens = [0u8; 8 + 2 * (6 + 16)];
        lens[..8].copy_from_slice(&[0, 1, 8, 0, 6, 16, 0, 1]);
        let packet = Packet::new_checked(&lens[..]).unwrap();
        assert_eq!(packet.target_protocol_addr().len(), 16);
        assert_eq!(Repr::parse(&packet), Err(WireError::Unsupported));
    }

    proptest! {
        #[test]
        fn round_trip(op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<[u8; 4]>(),
                      tha in any::<[u8; 6]>(), tpa in any::<[u8; 4]>()) {
            let repr = Repr {
                operation: Operation::from(op),
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: spa.into(),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: tpa.into(),
            };
            let mut buf = [0u8; ETHERNET_IPV4_LEN];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Packet::new_checked(&data[..]) {
                let _ = packet.source_hardware_addr();
                let _ = packet.target_protocol_addr();
                let _ = Repr::parse(&packet);
            }
        }
    }
}
