//! Completing a transport checksum the sending host left to hardware.
//!
//! A frame that crossed a veth pair (or any device with checksum offload) from a local sender
//! may still carry only the pseudo-header sum in its UDP or TCP checksum field: the kernel
//! marks it "checksum not ready" (`TP_STATUS_CSUMNOTREADY`) when `AF_PACKET` hands it over.
//! Retransmitted as is, the target would drop it as corrupt, so the plane computes the real
//! checksum first. Total over any input: a packet it cannot make sense of is left unchanged.

use std::net::Ipv4Addr;

use fulcrum_wire::checksum::{combine, pseudo_header, sum};
use fulcrum_wire::ipv4::protocol;

/// Recomputes the UDP or TCP checksum of the IPv4 packet `ip` (header included) in place.
/// Returns false (nothing changed) for a fragment, another protocol or a malformed packet.
pub fn complete_l4_checksum(ip: &mut [u8]) -> bool {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return false;
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if header_len < 20 || total_len < header_len || total_len > ip.len() || fragmented {
        return false;
    }
    let proto = ip[9];
    let field = match proto {
        protocol::UDP => 6,
        protocol::TCP => 16,
        _ => return false,
    };
    let segment_len = total_len - header_len;
    if segment_len < field + 2 {
        return false;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let segment = &mut ip[header_len..total_len];
    segment[field] = 0;
    segment[field + 1] = 0;
    let mut value = !combine(&[
        pseudo_header(src, dst, proto, segment_len as u32),
        sum(segment),
    ]);
    if proto == protocol::UDP && value == 0 {
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        value = 0xffff;
    }
    segment[field..field + 2].copy_from_slice(&value.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DNS query over UDP captured from a real host (10.99.1.5 -> 10.235.210.1), checksum
    /// 0x8a4b as the sender's stack computed it.
    fn packet() -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 10, 99, 1, 5, 10, 235, 210, 1,
        ];
        let udp = [0xa4, 0x10, 0, 53, 0, 12, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        ip.extend_from_slice(&udp);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip
    }

    #[test]
    fn a_completed_checksum_verifies() {
        let mut ip = packet();
        // Leave only garbage where the checksum goes, as an offloading sender would.
        ip[26] = 0x12;
        ip[27] = 0x34;
        assert!(complete_l4_checksum(&mut ip));
        let check = combine(&[
            pseudo_header(
                Ipv4Addr::new(10, 99, 1, 5),
                Ipv4Addr::new(10, 235, 210, 1),
                17,
                12,
            ),
            sum(&ip[20..]),
        ]);
        assert_eq!(check, 0xffff, "a correct checksum sums to all ones");
    }

    #[test]
    fn fragments_and_garbage_are_left_alone() {
        let mut fragment = packet();
        fragment[6] = 0x20; // more fragments
        let before = fragment.clone();
        assert!(!complete_l4_checksum(&mut fragment));
        assert_eq!(fragment, before);
        for len in 0..30 {
            let mut short = packet();
            short.truncate(len);
            let _ = complete_l4_checksum(&mut short);
        }
        let mut lying = packet();
        lying[2] = 0xff; // total length beyond the buffer
        assert!(!complete_l4_checksum(&mut lying));
    }
}
