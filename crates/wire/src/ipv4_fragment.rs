//! Cutting an IPv4 packet into fragments that each fit a link MTU (RFC 791 section 3.2), for a
//! layer-2 forwarder that receives datagrams the kernel reassembled (the DSR plane's fanout
//! group) and must send them on as frames no longer than the link takes.
//!
//! Contract: [`Fragments::new`] accepts a packet with a valid 20-byte header (no options: a
//! forwarder would have to tell which options are copied into every fragment), a total length
//! within the buffer, no Don't Fragment bit, and an MTU with room for a header and 8 bytes of
//! data; it refuses anything else with the reason. Each fragment it yields is a header (the
//! original's, with total length, MF bit, offset and checksum set) and a range of the original
//! payload; the ranges are consecutive, multiples of 8 bytes but the last, together cover the
//! payload exactly, and header plus range never exceed the MTU. A packet that already fits is
//! one "fragment" identical to it. Reassembled, the fragments give back the original payload
//! (the original's own offset and MF bit are kept, so a fragment cut again stays correct).

use core::ops::Range;

use crate::checksum;
use crate::ipv4::{Packet, HEADER_LEN};

/// Why a packet cannot be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid IPv4 header, a total length beyond the buffer, or a piece ending beyond
    /// the largest datagram.
    Malformed,
    /// The header has options.
    Options,
    /// The Don't Fragment bit is set and the packet does not fit.
    DontFragment,
    /// The MTU has no room for a header and 8 bytes.
    TinyMtu,
}

/// One fragment: its header and the part of the original payload it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub header: [u8; HEADER_LEN],
    pub payload: Range<usize>,
}

/// The fragments of a packet, in order.
#[derive(Debug, Clone)]
pub struct Fragments {
    header: [u8; HEADER_LEN],
    payload_len: usize,
    /// Payload bytes per fragment but the last (a multiple of 8).
    step: usize,
    at: usize,
    /// The original's offset in 8-byte units and MF bit.
    base_offset: u16,
    more: bool,
}

impl Fragments {
    pub fn new(packet: &[u8], mtu: usize) -> Result<Fragments, Refusal> {
        let view = Packet::new_checked(packet).map_err(|_| Refusal::Malformed)?;
        if usize::from(view.header_len()) != HEADER_LEN {
            return Err(Refusal::Options);
        }
        let total = usize::from(view.total_len());
        let payload_len = total - HEADER_LEN;
        if usize::from(view.frag_offset()) + payload_len > usize::from(u16::MAX) - HEADER_LEN {
            // Ends beyond the largest datagram: no offset field could say where.
            return Err(Refusal::Malformed);
        }
        if total > mtu && view.dont_frag() {
            return Err(Refusal::DontFragment);
        }
        if mtu < HEADER_LEN + 8 {
            return Err(Refusal::TinyMtu);
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&packet[..HEADER_LEN]);
        Ok(Fragments {
            header,
            payload_len,
            step: (mtu - HEADER_LEN) & !7,
            at: 0,
            base_offset: view.frag_offset() / 8,
            more: view.more_frags(),
        })
    }
}

impl Iterator for Fragments {
    type Item = Fragment;

    fn next(&mut self) -> Option<Fragment> {
        if self.at >= self.payload_len && !(self.at == 0 && self.payload_len == 0) {
            return None;
        }
        let start = self.at;
        let end = (start + self.step).min(self.payload_len);
        let last = end == self.payload_len;
        self.at = if last { usize::MAX } else { end };
        let mut header = self.header;
        let total = (HEADER_LEN + end - start) as u16;
        header[2..4].copy_from_slice(&total.to_be_bytes());
        let offset = self.base_offset + (start / 8) as u16;
        let more = !last || self.more;
        let flags = (u16::from_be_bytes([header[6], header[7]]) & 0x4000) | offset & 0x1fff;
        let flags = if more { flags | 0x2000 } else { flags };
        header[6..8].copy_from_slice(&flags.to_be_bytes());
        header[10..12].fill(0);
        let sum = checksum::checksum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        Some(Fragment {
            header,
            payload: HEADER_LEN + start..HEADER_LEN + end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP-carrying packet with `payload` bytes of data (0, 1, 2, ...), ID 0x4242.
    fn packet(payload: usize, flags: u16) -> Vec<u8> {
        let total = HEADER_LEN + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
        p[6..8].copy_from_slice(&flags.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 99, 1, 5]);
        p[16..20].copy_from_slice(&[10, 235, 210, 1]);
        let sum = checksum::checksum(&p[..HEADER_LEN]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        for (i, b) in p[HEADER_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    fn reassemble(original: &[u8], mtu: usize) -> Vec<u8> {
        let mut data = Vec::new();
        let fragments: Vec<Fragment> = Fragments::new(original, mtu).unwrap().collect();
        for (i, f) in fragments.iter().enumerate() {
            let len = HEADER_LEN + f.payload.len();
            assert!(len <= mtu);
            assert_eq!(checksum::checksum(&f.header), 0, "header checksum verifies");
            assert_eq!(
                usize::from(u16::from_be_bytes([f.header[2], f.header[3]])),
                len
            );
            let flags = u16::from_be_bytes([f.header[6], f.header[7]]);
            assert_eq!(
                usize::from(flags & 0x1fff) * 8,
                data.len(),
                "offsets follow"
            );
            assert_eq!(
                flags & 0x2000 != 0,
                i + 1 < fragments.len(),
                "MF on all but the last"
            );
            assert_eq!(f.header[4..6], original[4..6], "same ID");
            data.extend_from_slice(&original[f.payload.clone()]);
        }
        data
    }

    #[test]
    fn a_datagram_over_the_mtu_is_cut_into_fragments_that_reassemble() {
        let original = packet(1780, 0);
        assert_eq!(reassemble(&original, 1500), original[HEADER_LEN..]);
        let pieces: Vec<Fragment> = Fragments::new(&original, 1500).unwrap().collect();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].payload.len(), 1480);
        let odd = packet(4001, 0);
        assert_eq!(reassemble(&odd, 576), odd[HEADER_LEN..]);
    }

    #[test]
    fn a_packet_that_fits_is_one_fragment_equal_to_it() {
        let original = packet(100, 0);
        let pieces: Vec<Fragment> = Fragments::new(&original, 1500).unwrap().collect();
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].header[..], original[..HEADER_LEN]);
        assert_eq!(pieces[0].payload, HEADER_LEN..original.len());
    }

    #[test]
    fn what_cannot_be_cut_is_refused() {
        assert_eq!(
            Fragments::new(&packet(2000, 0x4000), 1500).err(),
            Some(Refusal::DontFragment)
        );
        assert!(
            Fragments::new(&packet(1000, 0x4000), 1500).is_ok(),
            "DF but fits"
        );
        let mut options = packet(2000, 0);
        options[0] = 0x46;
        assert_eq!(Fragments::new(&options, 1500).err(), Some(Refusal::Options));
        assert_eq!(
            Fragments::new(&packet(100, 0), 20).err(),
            Some(Refusal::TinyMtu)
        );
        assert_eq!(
            Fragments::new(&[0x45, 0], 1500).err(),
            Some(Refusal::Malformed)
        );
    }
}
