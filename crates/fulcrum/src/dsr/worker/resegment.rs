//! Sending on a TCP segment that arrived longer than a frame on the link (GRO or LRO merged
//! consecutive segments of one flow before the plane's socket saw them, or a virtual link passed
//! a send unsegmented): cut again into segments of the link's MSS
//! ([`fulcrum_wire::tcp_segment`]), each a frame to the target's MAC. TCP carries Don't
//! Fragment, so without this the merged segments are lost.

use fulcrum_wire::ethernet::{self, EthernetAddress};
use fulcrum_wire::tcp_segment::{Refusal, Segments};

use super::FrameOut;

/// Queues the segments of `frame` (an Ethernet frame carrying IPv4 TCP) for `dst`; the number
/// queued and the number cut, or why it cannot be cut. A full ring part-way leaves the segments
/// queued so far (TCP retransmits the rest): `Ok` with fewer than all.
pub fn send(
    frame: &[u8],
    mtu: usize,
    tx: &mut impl FrameOut,
    dst: EthernetAddress,
    src: EthernetAddress,
) -> Result<(usize, usize), Refusal> {
    let packet = frame
        .get(ethernet::HEADER_LEN..)
        .ok_or(Refusal::Malformed)?;
    let (mut queued, mut total) = (0, 0);
    for segment in Segments::new(packet, mtu)? {
        total += 1;
        let payload = &packet[segment.payload.clone()];
        let headers = &segment.header[..segment.header_len];
        let len = ethernet::HEADER_LEN + headers.len() + payload.len();
        let sent = tx.send(len, |out| {
            out[..6].copy_from_slice(&dst.0);
            out[6..12].copy_from_slice(&src.0);
            out[12..14].copy_from_slice(&frame[12..14]);
            let (head, rest) = out[ethernet::HEADER_LEN..].split_at_mut(headers.len());
            head.copy_from_slice(headers);
            rest.copy_from_slice(payload);
        });
        if sent {
            queued += 1;
        }
    }
    Ok((queued, total))
}
