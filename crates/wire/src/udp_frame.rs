//! Whole Ethernet/IPv4/UDP frames, for a program that speaks UDP on a link where the host's own
//! stack holds no address (Fulcrum's session sync on the DSR interface): [`emit`] builds one
//! unfragmented frame, [`parse`] reads one back.
//!
//! Contract: [`parse`] returns a [`UdpFrame`] only for an Ethernet II frame carrying IPv4
//! version 4 with a verifying header checksum, no fragmentation (a fragment is refused with
//! [`WireError::Unsupported`]: the sender never fragments), protocol UDP, and a UDP datagram
//! whose length fits the IP payload and whose checksum verifies (unless the caller says the
//! checksum was left to hardware, as a veth peer does). Ethernet padding is ignored. Nothing
//! here panics on any input; the payload is a borrowed slice of the frame.

use std::net::SocketAddrV4;

use crate::error::{Result, WireError};
use crate::ethernet::{self, EtherType, EthernetAddress};
use crate::ipv4::{self, protocol};
use crate::udp;

/// Bytes an Ethernet/IPv4/UDP frame adds around its payload (IPv4 without options).
pub const OVERHEAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
/// Bytes the IP packet adds around the payload: what counts against the link MTU.
pub const IP_OVERHEAD: usize = ipv4::HEADER_LEN + udp::HEADER_LEN;

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrame<'a> {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: &'a [u8],
}

/// What to send: one datagram from `src` to `dst` at the Ethernet addresses given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// The IPv4 identification field.
    pub ident: u16,
}

impl Repr {
    /// The frame's length for a payload of `payload_len` bytes.
    pub fn buffer_len(payload_len: usize) -> usize {
        OVERHEAD + payload_len
    }
}

/// Replaces `out` with the frame carrying `payload`: don't-fragment set, TTL 64, checksums
/// filled. Fails (`Malformed`) only when the payload cannot fit one IPv4 packet.
pub fn emit(repr: &Repr, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let udp_len = udp::Repr::buffer_len(payload.len());
    let ip = ipv4::Repr {
        src_addr: *repr.src.ip(),
        dst_addr: *repr.dst.ip(),
        protocol: protocol::UDP,
        payload_len: udp_len,
        ttl: 64,
        tos: 0,
        ident: repr.ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    if u16::try_from(ip.buffer_len()).is_err() {
        return Err(WireError::Malformed);
    }
    out.clear();
    out.resize(Repr::buffer_len(payload.len()), 0);
    ethernet::Repr {
        src_addr: repr.src_mac,
        dst_addr: repr.dst_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut out[..]))?;
    let packet = &mut out[ethernet::HEADER_LEN..];
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut *packet))?;
    udp::Repr {
        src_port: repr.src.port(),
        dst_port: repr.dst.port(),
    }
    .emit(
        &mut packet[ipv4::HEADER_LEN..],
        *repr.src.ip(),
        *repr.dst.ip(),
        payload,
    )?;
    Ok(())
}

/// Reads one frame (see the module doc). `checksum_incomplete`: the UDP checksum holds only
/// the pseudo-header sum (left to hardware by the sender) and is not verified.
pub fn parse(frame: &[u8], checksum_incomplete: bool) -> Result<UdpFrame<'_>> {
    let eth = ethernet::Frame::new_checked(frame)?;
    if eth.ethertype() != EtherType::Ipv4 {
        return Err(WireError::Unsupported);
    }
    let ip = ipv4::Packet::new_checked(eth.payload())?;
    let ip_repr = ipv4::Repr::parse(&ip)?;
    if ip.is_fragment() {
        return Err(WireError::Unsupported);
    }
    if ip_repr.protocol != protocol::UDP {
        return Err(WireError::Unsupported);
    }
    let datagram = udp::Packet::new_checked(ip.payload())?;
    let (src, dst) = (ip_repr.src_addr, ip_repr.dst_addr);
    if !checksum_incomplete && !datagram.verify_checksum(src, dst) {
        return Err(WireError::Checksum);
    }
    let payload_range = udp::HEADER_LEN..usize::from(datagram.len());
    // The IP payload is a slice of the frame; take the UDP payload from the frame itself so it
    // borrows `frame`, not the temporary views.
    let start = ethernet::HEADER_LEN + usize::from(ip.header_len()) + payload_range.start;
    let end = ethernet::HEADER_LEN + usize::from(ip.header_len()) + payload_range.end;
    let payload = frame.get(start..end).ok_or(WireError::Truncated)?;
    Ok(UdpFrame {
        src_mac: eth.src_addr(),
        dst_mac: eth.dst_addr(),
        src: SocketAddrV4::new(src, datagram.src_port()),
        dst: SocketAddrV4::new(dst, datagram.dst_port()),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x45]);
    const B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x46]);

    fn repr() -> Repr {
        Repr {
            src_mac: A,
            dst_mac: B,
            src: SocketAddrV4::new(Ipv4Addr::new(10, 235, 210, 45), 10439),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 235, 210, 46), 10439),
            ident: 7,
        }
    }

    // A datagram "FS" from 10.235.210.45:10439 to .46:10439; the checksums (IPv4 0x8096, UDP
    // 0xadc6) computed independently of this crate (RFC 1071 sum in a few lines of Python).
    const GOLDEN: [u8; 44] = [
        0x02, 0, 0, 0, 0, 0x46, 0x02, 0, 0, 0, 0, 0x45, 0x08, 0x00, // Ethernet
        0x45, 0x00, 0x00, 0x1e, 0x00, 0x07, 0x40, 0x00, 0x40, 0x11, 0x80, 0x96, 10, 235, 210, 45,
        10, 235, 210, 46, // IPv4
        0x28, 0xc7, 0x28, 0xc7, 0x00, 0x0a, 0xad, 0xc6, // UDP
        b'F', b'S',
    ];

    #[test]
    fn emits_and_parses_golden_bytes() {
        let mut out = Vec::new();
        emit(&repr(), b"FS", &mut out).unwrap();
        assert_eq!(out, GOLDEN);
        let parsed = parse(&GOLDEN, false).unwrap();
        assert_eq!(parsed.src, repr().src);
        assert_eq!(parsed.dst, repr().dst);
        assert_eq!((parsed.src_mac, parsed.dst_mac), (A, B));
        assert_eq!(parsed.payload, b"FS");
    }

    #[test]
    fn refuses_what_is_not_one_whole_valid_udp_datagram() {
        let mut out = Vec::new();
        emit(&repr(), b"payload", &mut out).unwrap();
        let mut padded = out.clone();
        padded.extend_from_slice(&[0; 20]);
        assert_eq!(parse(&padded, false).unwrap().payload, b"payload");
        let mut bad_udp = out.clone();
        let last = bad_udp.len() - 1;
        bad_udp[last] ^= 1;
        assert_eq!(parse(&bad_udp, false), Err(WireError::Checksum));
        assert!(
            parse(&bad_udp, true).is_ok(),
            "hardware checksum not verified"
        );
        let mut bad_ip = out.clone();
        bad_ip[ethernet::HEADER_LEN + 8] ^= 1; // TTL
        assert_eq!(parse(&bad_ip, false), Err(WireError::Checksum));
        let mut fragment = out.clone();
        fragment[ethernet::HEADER_LEN + 6] = 0x20; // more fragments
        ipv4::Packet::new_unchecked(&mut fragment[ethernet::HEADER_LEN..]).fill_checksum();
        assert_eq!(parse(&fragment, false), Err(WireError::Unsupported));
        let mut arp = out.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse(&arp, false), Err(WireError::Unsupported));
        assert!(parse(&out[..out.len() - 3], false).is_err());
        assert!(parse(&out[..10], false).is_err());
    }

    #[test]
    fn refuses_a_payload_too_long_for_ipv4() {
        let mut out = Vec::new();
        let huge = vec![0u8; 65536];
        assert_eq!(emit(&repr(), &huge, &mut out), Err(WireError::Malformed));
    }

    proptest! {
        #[test]
        fn round_trips(payload in proptest::collection::vec(any::<u8>(), 0..1500), ident: u16) {
            let mut out = Vec::new();
            let r = Repr { ident, ..repr() };
            emit(&r, &payload, &mut out).unwrap();
            prop_assert_eq!(out.len(), Repr::buffer_len(payload.len()));
            let parsed = parse(&out, false).unwrap();
            prop_assert_eq!(parsed.payload, &payload[..]);
            prop_assert_eq!(parsed.src, r.src);
        }

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes, false);
            let _ = parse(&bytes, true);
        }
    }
}
