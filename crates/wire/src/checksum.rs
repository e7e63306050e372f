//! The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum,
//! and the IPv4 and IPv6 pseudo-headers that UDP, TCP, ICMPv6 and VRRPv3 include in theirs. Total functions over
//! any byte slice; an odd trailing byte is padded with zero as RFC 1071 says.

use std::net::{Ipv4Addr, Ipv6Addr};

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

/// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, the 32-bit
/// upper-layer packet length, three zero bytes and the next header. Used by UDP, TCP, ICMPv6
/// (RFC 4443 §2.3) and VRRPv3 over IPv6 (RFC 5798 §5.2.8). `src` and `dst` are the addresses
/// the packet travels between (the final destination when a Routing header is present).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u32 {
    // The sums of two addresses (8 words each, at most 0xffff * 16) and the rest cannot
    // overflow 32 bits.
    let mut acc = sum(&src.octets()) + sum(&dst.octets()) + u32::from(next_header);
    acc += length >> 16;
    acc += length & 0xffff;
    acc
}

/// The addresses of an IP family, as the transport checksums (UDP, TCP) cover them: lets one
/// `verify_checksum`/`fill_checksum` serve both families.
pub trait PseudoHeader: Copy {
    /// Whether a zero UDP checksum means "not computed" (IPv4, RFC 768) rather than an error
    /// (IPv6, RFC 8200 §8.1).
    const UDP_ZERO_CHECKSUM_ALLOWED: bool;
    /// The pseudo-header's partial sum.
    fn pseudo_sum(src: Self, dst: Self, protocol: u8, length: u32) -> u32;
}

impl PseudoHeader for Ipv4Addr {
    const UDP_ZERO_CHECKSUM_ALLOWED: bool = true;
    fn pseudo_sum(src: Self, dst: Self, protocol: u8, length: u32) -> u32 {
        pseudo_header(src, dst, protocol, length)
    }
}

impl PseudoHeader for Ipv6Addr {
    const UDP_ZERO_CHECKSUM_ALLOWED: bool = false;
    fn pseudo_sum(src: Self, dst: Self, protocol: u8, length: u32) -> u32 {
        pseudo_header_v6(src, dst, protocol, length)
    }
}

/// The checksum to write into an upper-layer message over IPv6 whose checksum field is zero.
pub fn checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, message: &[u8]) -> u16 {
    let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
    !combine(&[
        pseudo_header_v6(src, dst, next_header, length),
        sum(message),
    ])
}

/// Whether an upper-layer message over IPv6 (its checksum field included) verifies.
pub fn verify_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, message: &[u8]) -> bool {
    let Ok(length) = u32::try_from(message.len()) else {
        return false;
    };
    combine(&[
        pseudo_header_v6(src, dst, next_header, length),
        sum(message),
    ]) == 0xffff
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

    #[test]
    fn ipv6_pseudo_header_by_hand() {
        // fe80::1 -> ff02::12, next header 112, length 24: the words are fe80 0001 ff02 0012,
        // 0070 and 0018 (the length's high word is zero).
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let expected = 0xfe80 + 0x0001 + 0xff02 + 0x0012 + 0x0070 + 0x0018;
        assert_eq!(fold(pseudo_header_v6(src, dst, 112, 24)), fold(expected));
        let mut message = vec![0x31, 7, 100, 1, 0, 100, 0, 0];
        message.extend_from_slice(&src.octets());
        let sum = checksum_v6(src, dst, 112, &message);
        message[6..8].copy_from_slice(&sum.to_be_bytes());
        assert!(verify_v6(src, dst, 112, &message));
        assert!(!verify_v6(dst, src, 113, &message));
    }
}
