//! Sending on a datagram that the fanout group reassembled and that no longer fits one frame on
//! the link: cut again into fragments of at most the link MTU ([`fulcrum_wire::ipv4_fragment`]),
//! each a frame to the target's MAC. Without this the kernel refuses the oversized frame
//! (`EMSGSIZE`) and the datagram is lost.

use fulcrum_wire::ethernet::{self, EthernetAddress};
use fulcrum_wire::ipv4_fragment::{Fragments, Refusal};

use super::FrameOut;

/// Queues the fragments of `frame` (an Ethernet frame carrying IPv4) for `dst`; the number
/// queued, or why the datagram cannot be cut. A full ring part-way leaves the fragments queued
/// so far (the target's stack drops the incomplete datagram): `Ok` with fewer than all.
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
    let fragments = Fragments::new(packet, mtu)?;
    let (mut queued, mut total) = (0, 0);
    for fragment in fragments {
        total += 1;
        let payload = &packet[fragment.payload.clone()];
        let len = ethernet::HEADER_LEN + fragment.header.len() + payload.len();
        let sent = tx.send(len, |out| {
            out[..6].copy_from_slice(&dst.0);
            out[6..12].copy_from_slice(&src.0);
            out[12..14].copy_from_slice(&frame[12..14]);
            let (header, rest) = out[ethernet::HEADER_LEN..].split_at_mut(fragment.header.len());
            header.copy_from_slice(&fragment.header);
            rest.copy_from_slice(payload);
        });
        if sent {
            queued += 1;
        }
    }
    Ok((queued, total))
}
