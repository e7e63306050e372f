//! Cutting an IPv4 TCP segment longer than a link's MTU back into segments that fit, as a NIC's
//! TCP segmentation offload would: for a layer-2 forwarder that receives what GRO or LRO merged
//! (or what a virtual link passed on unsegmented) and must send frames no longer than the link
//! takes. TCP segments carry Don't Fragment, so IP fragmentation is not an answer.
//!
//! Contract: [`Segments::new`] accepts an unfragmented IPv4 packet carrying TCP, with a valid
//! header (options allowed), a total length within the buffer, a TCP header within it, and an
//! MTU with room for both headers and one byte; it refuses anything else with the reason. Each
//! segment it yields is the original's two headers with the IP total length, identification
//! (the original's plus the segment's index) and checksum, and the TCP sequence number and
//! checksum set for its part of the payload; FIN and PSH stay on the last segment only, CWR on
//! the first only (RFC 3168 section 6.1.2, as segmentation offload does). The payload ranges are
//! consecutive, cover the payload exactly, and headers plus range never exceed the MTU. A
//! packet that fits is one segment carrying its whole payload (checksums recomputed).

use core::ops::Range;

use crate::checksum;
use crate::ipv4::Packet;

/// The longest IPv4 header plus the longest TCP header.
pub const MAX_HEADERS: usize = 60 + 60;

const TCP: u8 = 6;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// Why a packet cannot be cut into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid IPv4 header, a total length beyond the buffer, or a TCP header that does
    /// not fit in the packet.
    Malformed,
    /// Not TCP.
    NotTcp,
    /// A fragment: its payload is not a whole segment.
    Fragment,
    /// The MTU has no room for the headers and one byte.
    TinyMtu,
}

/// One segment: its headers (`header[..header_len]`: IPv4 then TCP) and the part of the
/// original packet it carries (`payload` indexes the original packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub header: [u8; MAX_HEADERS],
    pub header_len: usize,
    pub payload: Range<usize>,
}

/// The segments of a packet, in order.
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    packet: &'a [u8],
    ip_len: usize,
    tcp_len: usize,
    /// Where the payload starts and ends in `packet`.
    payload: Range<usize>,
    /// Payload bytes per segment.
    mss: usize,
    at: usize,
    index: u16,
}

impl<'a> Segments<'a> {
    pub fn new(packet: &'a [u8], mtu: usize) -> Result<Segments<'a>, Refusal> {
        let view = Packet::new_checked(packet).map_err(|_| Refusal::Malformed)?;
        if view.protocol() != TCP {
            return Err(Refusal::NotTcp);
        }
        if view.more_frags() || view.frag_offset() != 0 {
            return Err(Refusal::Fragment);
        }
        let ip_len = usize::from(view.header_len());
        let total = usize::from(view.total_len());
        let offset_byte = *packet.get(ip_len + 12).ok_or(Refusal::Malformed)?;
        let tcp_len = usize::from(offset_byte >> 4) * 4;
        if tcp_len < 20 || ip_len + tcp_len > total {
            return Err(Refusal::Malformed);
        }
        if mtu <= ip_len + tcp_len {
            return Err(Refusal::TinyMtu);
        }
        Ok(Segments {
            packet,
            ip_len,
            tcp_len,
            payload: ip_len + tcp_len..total,
            mss: mtu - ip_len - tcp_len,
            at: 0,
            index: 0,
        })
    }
}

impl Iterator for Segments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        let payload_len = self.payload.len();
        if self.at >= payload_len && !(self.at == 0 && self.index == 0) {
            return None;
        }
        let start = self.at;
        let end = (start + self.mss).min(payload_len);
        let first = self.index == 0;
        let last = end == payload_len;
        self.at = if last { usize::MAX } else { end };
        let (ip_len, tcp_len) = (self.ip_len, self.tcp_len);
        let header_len = ip_len + tcp_len;
        let mut header = [0u8; MAX_HEADERS];
        header[..header_len].copy_from_slice(&self.packet[..header_len]);
        let range = self.payload.start + start..self.payload.start + end;

        let (ip, tcp) = header[..header_len].split_at_mut(ip_len);
        let total = (header_len + range.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let ident = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(self.index);
        ip[4..6].copy_from_slice(&ident.to_be_bytes());
        ip[10..12].fill(0);
        let sum = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());

        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]).wrapping_add(start as u32);
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        if !last {
            tcp[13] &= !(FIN | PSH);
        }
        if !first {
            tcp[13] &= !CWR;
        }
        tcp[16..18].fill(0);
        let src = std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let length = (tcp_len + range.len()) as u32;
        let sum = !checksum::combine(&[
            checksum::pseudo_header(src, dst, TCP, length),
            checksum::sum(tcp),
            checksum::sum(&self.packet[range.clone()]),
        ]);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        self.index = self.index.wrapping_add(1);
        Some(Segment {
            header,
            header_len,
            payload: range,
        })
    }
}

#[cfg(test)]
mod tests;
