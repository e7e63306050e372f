//! Completing the transport checksum of an IPv6 packet the sending host left to hardware, the
//! IPv6 twin of [`super::checksum`] (see there for why): the extension headers are walked to
//! the UDP or TCP header, and the checksum is computed over the IPv6 pseudo-header (RFC 8200
//! §8.1). Total over any input: a fragment, another protocol or a malformed packet is left
//! unchanged.

use fulcrum_wire::checksum::{combine, pseudo_header_v6, sum};
use fulcrum_wire::ipv6::{self, next_header};
use fulcrum_wire::ipv6ext;

/// Recomputes the UDP or TCP checksum of the IPv6 packet `ip` (fixed header included) in
/// place. Returns false (nothing changed) for a fragment, another protocol or a malformed
/// packet.
pub fn complete_l4_checksum6(ip: &mut [u8]) -> bool {
    let Ok(packet) = ipv6::Packet::new_checked(&ip[..]) else {
        return false;
    };
    if packet.version() != 6 {
        return false;
    }
    let Ok(upper) = ipv6ext::upper_layer(&packet) else {
        return false;
    };
    let field = match upper.protocol {
        next_header::UDP => 6,
        next_header::TCP => 16,
        _ => return false,
    };
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    let end = ipv6::HEADER_LEN + usize::from(packet.payload_len());
    let start = ipv6::HEADER_LEN + upper.offset;
    if upper.fragment.is_some() || end < start + field + 2 {
        return false;
    }
    let segment = &mut ip[start..end];
    segment[field] = 0;
    segment[field + 1] = 0;
    let length = segment.len() as u32;
    let mut value = !combine(&[
        pseudo_header_v6(src, dst, upper.protocol, length),
        sum(segment),
    ]);
    if value == 0 {
        // A computed zero is sent as all ones: zero is no checksum, forbidden for IPv6 UDP.
        value = 0xffff;
    }
    segment[field..field + 2].copy_from_slice(&value.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use fulcrum_wire::checksum::verify_v6;

    use super::*;

    const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 1, 5);
    const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x235, 0x210, 0, 0, 0, 0, 1);

    /// A UDP datagram to the VIP's port 53 with garbage where its checksum goes.
    fn packet(extension: bool) -> Vec<u8> {
        let udp = [0xa4, 0x10, 0, 53, 0, 12, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef];
        let mut payload = Vec::new();
        let first = if extension {
            // An empty Destination Options header (padding only) before UDP.
            payload.extend_from_slice(&[next_header::UDP, 0, 1, 4, 0, 0, 0, 0]);
            next_header::DESTINATION_OPTIONS
        } else {
            next_header::UDP
        };
        payload.extend_from_slice(&udp);
        let mut ip = vec![0x60, 0, 0, 0, 0, payload.len() as u8, first, 64];
        ip.extend_from_slice(&CLIENT.octets());
        ip.extend_from_slice(&VIP.octets());
        ip.extend_from_slice(&payload);
        ip
    }

    #[test]
    fn a_completed_checksum_verifies_behind_extension_headers() {
        for extension in [false, true] {
            let mut ip = packet(extension);
            assert!(complete_l4_checksum6(&mut ip));
            let udp = &ip[ip.len() - 12..];
            assert!(verify_v6(CLIENT, VIP, next_header::UDP, udp), "{extension}");
        }
    }

    #[test]
    fn fragments_and_garbage_are_left_alone() {
        let mut fragment = packet(false);
        fragment[6] = next_header::FRAGMENT;
        let before = fragment.clone();
        assert!(!complete_l4_checksum6(&mut fragment));
        assert_eq!(fragment, before);
        for len in 0..60 {
            let mut short = packet(true);
            short.truncate(len);
            let _ = complete_l4_checksum6(&mut short);
        }
    }
}
