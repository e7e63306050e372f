//! Stable integer hashing shared by the balancing methods. Every function here is a fixed
//! formula (no per-process keys, no `std` hasher whose output may change between Rust releases),
//! because two Fulcrum nodes must compute the same choice for the same client and target set.

use std::net::IpAddr;

/// The finalizer of SplitMix64: a bijective 64-bit mixer with good avalanche.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A 64-bit hash of a client address. IPv4 and IPv6 never share an input value: the IPv4 form
/// carries a family tag above its 32 address bits.
pub(crate) fn address_hash(client: IpAddr) -> u64 {
    match client {
        IpAddr::V4(v4) => mix64(u64::from(u32::from(v4)) | (4 << 32)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let high = (bits >> 64) as u64;
            let low = bits as u64;
            mix64(mix64(high ^ (6 << 56)) ^ low)
        }
    }
}

/// A hash of a (client, target) pair, for rendezvous-style tie breaking.
pub(crate) fn pair_hash(client_hash: u64, target: u32) -> u64 {
    mix64(client_hash ^ mix64(u64::from(target) | (1 << 40)))
}

/// Maps a 64-bit hash onto `0..n` without a division (Lemire's multiply-shift reduction).
pub(crate) fn reduce(hash: u64, n: u64) -> u64 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u64
}
