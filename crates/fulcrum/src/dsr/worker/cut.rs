//! Sending on what arrived longer than a frame on the link, cut into pieces that fit, each a
//! frame to the target's MAC:
//! - [`fragments`]: a datagram the fanout group reassembled, cut into IPv4 fragments again
//!   ([`fulcrum_wire::ipv4_fragment`]); without this the kernel refuses the oversized frame
//!   (`EMSGSIZE`) and the datagram is lost;
//! - [`segments`]: a TCP segment that GRO or LRO merged (or a virtual link passed on
//!   unsegmented), cut at the link's MSS as a NIC's segmentation offload would
//!   ([`fulcrum_wire::tcp_segment`]); TCP carries Don't Fragment, so fragments are no answer.
//!
//! Both return the number of pieces queued and the number cut: a full ring part-way leaves the
//! pieces queued so far (`Ok` with fewer than all; the target drops the incomplete datagram, TCP
//! retransmits the rest), or the reason the frame cannot be cut.

use std::ops::Range;

use fulcrum_wire::ethernet::{self, EthernetAddress};
use fulcrum_wire::{ipv4_fragment, tcp_segment};

use super::FrameOut;

/// The IP packet of `frame` (after its Ethernet header).
fn packet(frame: &[u8]) -> Option<&[u8]> {
    frame.get(ethernet::HEADER_LEN..)
}

/// Queues the fragments of `frame` (an Ethernet frame carrying IPv4) for `dst`.
pub fn fragments(
    frame: &[u8],
    mtu: usize,
    tx: &mut impl FrameOut,
    (dst, src): (EthernetAddress, EthernetAddress),
) -> Result<(usize, usize), ipv4_fragment::Refusal> {
    let packet = packet(frame).ok_or(ipv4_fragment::Refusal::Malformed)?;
    let pieces = ipv4_fragment::Fragments::new(packet, mtu)?;
    Ok(queue(
        frame,
        packet,
        pieces.map(|f| (Headers(f.header, f.header.len()), f.payload)),
        tx,
        (dst, src),
    ))
}

/// Queues the segments of `frame` (an Ethernet frame carrying IPv4 TCP) for `dst`.
pub fn segments(
    frame: &[u8],
    mtu: usize,
    tx: &mut impl FrameOut,
    (dst, src): (EthernetAddress, EthernetAddress),
) -> Result<(usize, usize), tcp_segment::Refusal> {
    let packet = packet(frame).ok_or(tcp_segment::Refusal::Malformed)?;
    let pieces = tcp_segment::Segments::new(packet, mtu)?;
    Ok(queue(
        frame,
        packet,
        pieces.map(|s| (Headers(s.header, s.header_len), s.payload)),
        tx,
        (dst, src),
    ))
}

/// A piece's headers: the first `.1` bytes of `.0`.
struct Headers<const N: usize>([u8; N], usize);

/// One frame per piece: `frame`'s EtherType, the piece's headers, then `packet[payload]`.
fn queue<const N: usize>(
    frame: &[u8],
    packet: &[u8],
    pieces: impl Iterator<Item = (Headers<N>, Range<usize>)>,
    tx: &mut impl FrameOut,
    (dst, src): (EthernetAddress, EthernetAddress),
) -> (usize, usize) {
    let (mut queued, mut total) = (0, 0);
    for (Headers(header, header_len), payload) in pieces {
        total += 1;
        let header = &header[..header_len];
        let payload = &packet[payload];
        let len = ethernet::HEADER_LEN + header.len() + payload.len();
        let sent = tx.send(len, |out| {
            out[..6].copy_from_slice(&dst.0);
            out[6..12].copy_from_slice(&src.0);
            out[12..14].copy_from_slice(&frame[12..14]);
            let (head, rest) = out[ethernet::HEADER_LEN..].split_at_mut(header.len());
            head.copy_from_slice(header);
            rest.copy_from_slice(payload);
        });
        if sent {
            queued += 1;
        }
    }
    (queued, total)
}
