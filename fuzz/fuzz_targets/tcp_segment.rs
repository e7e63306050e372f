//! Fuzzes the TCP segmenter (`fulcrum_wire::tcp_segment`) the DSR plane uses to send on a TCP
//! segment that GRO or LRO merged beyond the link MTU. Input: two bytes of MTU, then the
//! packet. Checked, beyond "no panic":
//! - every segment fits the MTU, its IPv4 header checksum verifies, its TCP checksum verifies
//!   over the pseudo-header, its sequence number follows the previous segment's end;
//! - FIN and PSH only on the last segment, CWR only on the first;
//! - the payload ranges, concatenated, are the original payload exactly.
//!
//! Run: `cargo +nightly fuzz run tcp_segment fuzz/seeds/tcp_segment`.

#![no_main]

use std::net::Ipv4Addr;

use fulcrum_wire::checksum;
use fulcrum_wire::tcp_segment::Segments;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mtu, packet)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mtu = usize::from(u16::from_be_bytes(*mtu));
    let Ok(segments) = Segments::new(packet, mtu) else {
        return;
    };
    let ip_len = usize::from(packet[0] & 0x0f) * 4;
    let tcp_len = usize::from(packet[ip_len + 12] >> 4) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let flags = packet[ip_len + 13];
    let mut seq = u32::from_be_bytes(packet[ip_len + 4..ip_len + 8].try_into().unwrap());
    let mut joined = Vec::new();
    let all: Vec<_> = segments.collect();
    assert!(!all.is_empty());
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.header_len, ip_len + tcp_len);
        assert!(s.header_len + s.payload.len() <= mtu);
        let header = &s.header[..s.header_len];
        assert_eq!(checksum::checksum(&header[..ip_len]), 0, "IP checksum");
        let tcp = &header[ip_len..];
        let sum = checksum::combine(&[
            checksum::pseudo_header(src, dst, 6, (tcp_len + s.payload.len()) as u32),
            checksum::sum(tcp),
            checksum::sum(&packet[s.payload.clone()]),
        ]);
        assert_eq!(sum, 0xffff, "TCP checksum");
        assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), seq);
        let last = i + 1 == all.len();
        assert_eq!(tcp[13] & 0x09, if last { flags & 0x09 } else { 0 });
        assert_eq!(tcp[13] & 0x80, if i == 0 { flags & 0x80 } else { 0 });
        seq = seq.wrapping_add(s.payload.len() as u32);
        joined.extend_from_slice(&packet[s.payload.clone()]);
    }
    assert_eq!(&joined[..], &packet[ip_len + tcp_len..total]);
});
