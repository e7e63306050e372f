//! Whether a frame's UDP or TCP checksum was left to hardware. `AF_PACKET` says so per frame
//! (`TP_STATUS_CSUMNOTREADY`); XDP does not, so the AF_XDP workers recognise it: the checksum
//! field holds exactly the folded pseudo-header sum (what Linux writes for `CHECKSUM_PARTIAL`,
//! as a local sender behind a veth leaves it), found without reading the segment. A checksum
//! that is merely wrong is not "completed": the target drops that datagram as it would anyway.

use std::net::Ipv4Addr;

use fulcrum_wire::checksum::{fold, pseudo_header};
use fulcrum_wire::ipv4::protocol;

const ETHERNET_HEADER_LEN: usize = fulcrum_wire::ethernet::HEADER_LEN;

/// True when the transport checksum of this Ethernet/IPv4 frame is a partial one.
pub fn checksum_left_to_hardware(frame: &[u8]) -> bool {
    let Some(ip) = frame.get(ETHERNET_HEADER_LEN..) else {
        return false;
    };
    if ip.len() < 20 || ip[0] >> 4 != 4 || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return false;
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if header_len < 20 || total_len < header_len || total_len > ip.len() {
        return false;
    }
    let field = match ip[9] {
        protocol::UDP => 6,
        protocol::TCP => 16,
        _ => return false,
    };
    let segment = &ip[header_len..total_len];
    let Some(stored) = segment.get(field..field + 2) else {
        return false;
    };
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let pseudo = pseudo_header(src, dst, ip[9], segment.len() as u32);
    let stored = u16::from_be_bytes([stored[0], stored[1]]);
    // A complete checksum equals the pseudo-header sum once in 65536 datagrams; completing it
    // then writes the value it already had, so no need to read the segment to tell.
    stored == fold(pseudo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsr::checksum::complete_l4_checksum;

    fn udp_frame() -> Vec<u8> {
        let mut frame = vec![0u8; 14];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let payload = b"a dns query, more or less";
        let udp_len = 8 + payload.len();
        let total = 20 + udp_len;
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[10, 99, 0, 1, 10, 235, 210, 1]);
        ip.extend_from_slice(&[0x30, 0x39, 0, 53, 0, udp_len as u8, 0, 0]);
        ip.extend_from_slice(payload);
        frame.extend_from_slice(&ip);
        frame
    }

    #[test]
    fn a_partial_checksum_is_recognised_and_a_complete_or_wrong_one_is_not() {
        let mut frame = udp_frame();
        let src = Ipv4Addr::new(10, 99, 0, 1);
        let dst = Ipv4Addr::new(10, 235, 210, 1);
        let partial = fold(pseudo_header(src, dst, 17, (frame.len() - 34) as u32));
        frame[40..42].copy_from_slice(&partial.to_be_bytes());
        assert!(checksum_left_to_hardware(&frame));
        assert!(complete_l4_checksum(&mut frame[14..]));
        assert!(!checksum_left_to_hardware(&frame), "a complete checksum");
        let complete = frame.clone();
        assert!(complete_l4_checksum(&mut frame[14..]));
        assert_eq!(
            frame, complete,
            "completing a complete checksum changes nothing"
        );
        frame[40] ^= 0x55;
        assert!(!checksum_left_to_hardware(&frame), "a wrong checksum");
        assert!(!checksum_left_to_hardware(&frame[..30]), "a runt");
    }
}
