use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 7);
const DST: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
const ACK: u8 = 0x10;

/// An IPv4 packet (Don't Fragment, ID 0x4242) carrying a TCP segment with a 12-byte options
/// block, sequence 0xfffffff0 (so the cut wraps), `flags`, and `payload` bytes 0, 1, 2, ...
fn packet(payload: usize, flags: u8) -> Vec<u8> {
    let tcp_len = 32;
    let total = 20 + tcp_len + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = TCP;
    p[12..16].copy_from_slice(&SRC.octets());
    p[16..20].copy_from_slice(&DST.octets());
    let sum = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let tcp = &mut p[20..];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&53u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&7u32.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    for (i, byte) in p[20 + tcp_len..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    p
}

/// Every segment as a packet of its own.
fn cut(p: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    Segments::new(p, mtu)
        .expect("a TCP packet")
        .map(|s| {
            let mut out = s.header[..s.header_len].to_vec();
            out.extend_from_slice(&p[s.payload]);
            out
        })
        .collect()
}

fn tcp_checksum_holds(segment: &[u8]) -> bool {
    let tcp = &segment[20..];
    let sum = checksum::combine(&[
        checksum::pseudo_header(SRC, DST, TCP, tcp.len() as u32),
        checksum::sum(tcp),
    ]);
    sum == 0xffff
}

#[test]
fn a_merged_segment_is_cut_at_the_mss_with_flags_sequence_and_checksums_set() {
    let flags = CWR | ACK | PSH | FIN;
    let p = packet(3000, flags);
    let segments = cut(&p, 1500);
    let lens: Vec<usize> = segments.iter().map(Vec::len).collect();
    assert_eq!(lens, [1500, 1500, 52 + 3000 - 2 * 1448]);
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(checksum::checksum(&s[..20]), 0, "IP checksum of {i}");
        assert!(tcp_checksum_holds(s), "TCP checksum of {i}");
        assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0x4242 + i as u16);
        assert_eq!(s[6], 0x40, "Don't Fragment kept");
        let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
        assert_eq!(seq, 0xffff_fff0u32.wrapping_add(1448 * i as u32));
        assert_eq!(&s[40..52], &p[40..52], "options copied");
    }
    assert_eq!(segments[0][33], CWR | ACK);
    assert_eq!(segments[1][33], ACK);
    assert_eq!(segments[2][33], ACK | PSH | FIN);
}

#[test]
fn what_it_refuses() {
    let p = packet(100, ACK);
    assert!(matches!(Segments::new(&p, 52), Err(Refusal::TinyMtu)));
    let mut udp = p.clone();
    udp[9] = 17;
    assert!(matches!(Segments::new(&udp, 1500), Err(Refusal::NotTcp)));
    let mut fragment = p.clone();
    fragment[6] = 0x20;
    assert!(matches!(
        Segments::new(&fragment, 1500),
        Err(Refusal::Fragment)
    ));
    let mut long_header = p.clone();
    long_header[32] = 0xf0;
    long_header.truncate(20 + 40);
    long_header[2..4].copy_from_slice(&60u16.to_be_bytes());
    assert!(matches!(
        Segments::new(&long_header, 1500),
        Err(Refusal::Malformed)
    ));
    assert!(matches!(
        Segments::new(&p[..30], 1500),
        Err(Refusal::Malformed)
    ));
}

#[test]
fn a_segment_that_fits_or_carries_nothing_is_one_segment() {
    for payload in [0, 10, 1448] {
        let p = packet(payload, ACK | FIN);
        let segments = cut(&p, 1500);
        assert_eq!(segments.len(), 1, "payload {payload}");
        // The same packet but for the TCP checksum, which the builder leaves at zero.
        let mut same = segments[0].clone();
        assert!(tcp_checksum_holds(&same));
        same[36..38].fill(0);
        assert_eq!(same, p, "payload {payload}");
    }
}

proptest! {
    #[test]
    fn segments_cover_the_payload_in_order_and_fit(
        payload in 0usize..5000,
        mtu in 53usize..9000,
        flags in any::<u8>(),
    ) {
        let p = packet(payload, flags);
        let segments = cut(&p, mtu);
        let mut joined = Vec::new();
        let mut seq = 0xffff_fff0u32;
        for (i, s) in segments.iter().enumerate() {
            prop_assert!(s.len() <= mtu);
            prop_assert_eq!(checksum::checksum(&s[..20]), 0);
            prop_assert!(tcp_checksum_holds(s));
            prop_assert_eq!(u32::from_be_bytes([s[24], s[25], s[26], s[27]]), seq);
            let last = i + 1 == segments.len();
            prop_assert_eq!(s[33] & (FIN | PSH), if last { flags & (FIN | PSH) } else { 0 });
            prop_assert_eq!(s[33] & CWR, if i == 0 { flags & CWR } else { 0 });
            seq = seq.wrapping_add((s.len() - 52) as u32);
            joined.extend_from_slice(&s[52..]);
        }
        prop_assert_eq!(&joined[..], &p[52..]);
    }

    #[test]
    fn new_and_the_cut_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..200), mtu in 0usize..300) {
        if let Ok(segments) = Segments::new(&bytes, mtu) {
            for s in segments.take(400) {
                prop_assert!(s.header_len + s.payload.len() <= mtu);
                prop_assert!(s.payload.end <= bytes.len());
            }
        }
    }
}
