//! The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum,
//! and the IPv4 pseudo-header that UDP, TCP and VRRPv3 include in theirs. Total functions over
//! any byte slice; an odd trailing byte is padded with zero as RFC 1071 says.

use std::net::Ipv4Addr;

/// One's complement sum of `data` as 16-bit big-endian words, not yet folded.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for word in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([word[0], word[1]])));
        // Fold early so that even a 64 KiB buffer cannot overflow the accumulator.
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Fold a 32-bit partial sum into 16 bits with end-around carry.
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Combine partial sums (e.g. pseudo-header and payload).
pub fn combine(parts: &[u32]) -> u16 {
    let mut acc: u32 = 0;
    for part in parts {
        acc = u32::from(fold(acc.wrapping_add(u32::from(fold(*part)))));
    }
    fold(acc)
}

/// The checksum to write into a header whose checksum field is zero: `!fold(sum(data))`.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Partial sum of the IPv4 pseudo-header (RFC 768, RFC 793, RFC 5798 §5.2.8): source,
/// destination, zero, protocol, upper-layer length.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u32 {
    let mut acc = sum(&src.octets()) + sum(&dst.octets()) + u32::from(protocol);
    acc += length >> 16;
    acc += length & 0xffff;
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0xab])), 0xab00);
        assert_eq!(fold(sum(&[0x12, 0x34, 0xab])), 0x1234 + 0xab00);
    }

    #[test]
    fn a_buffer_with_its_checksum_sums_to_all_ones() {
        let mut data = vec![
            0x45, 0, 0, 0x28, 0, 1, 0, 0, 0xff, 0x70, 0, 0, 10, 235, 210, 43,
        ];
        data.extend_from_slice(&[224, 0, 0, 18]);
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(fold(sum(&data)), 0xffff);
    }

    #[test]
    fn large_buffers_do_not_overflow() {
        let data = vec![0xff; 70_000];
        assert_eq!(fold(sum(&data)), 0xffff);
    }
}
