//! Packet views and builders. Each format: a view over a byte buffer with a checked constructor
//! (after `new_checked` succeeds no accessor can panic), a plain `Repr` with `parse` and `emit`,
//! golden-bytes tests both ways and round-trip property tests. No I/O, no allocation on the
//! parse path.
//!
//! Field offsets are named, never bare numbers: each format keeps a private `mod field` of
//! byte ranges (`field::CHECKSUM: Range<usize> = 6..8`) and single-byte offsets, laid out as the
//! RFC diagram in its module doc shows.
//!
//! `emit` has one shape per family of formats:
//! - a header with a view of its own (`ethernet`, `arp`, `ipv4`, `ipv6`):
//!   `Repr::emit(&self, &mut View<T>) -> Result<()>`; the caller sizes the buffer with
//!   `buffer_len` and writes the payload after the header;
//! - a message written whole at the start of a buffer, its checksum filled (`udp`, `tcp`,
//!   `icmp`, `icmpv6`, `vrrp` over IPv4 and IPv6, the IPv6 Fragment header):
//!   `Repr::emit(&self, buffer: &mut [u8], [src, dst,] [payload]) -> Result<usize>`, returning
//!   the bytes written; `src` and `dst` where the checksum covers a pseudo-header, `payload`
//!   where it travels beside the `Repr`;
//! - a datagram appended to a growing buffer (`sync`): `emit(&self, out: &mut Vec<u8>)`.

// `clippy.toml` keeps clocks, threads and sockets out of this crate; its unit tests may
// anchor a virtual clock on `Instant::now()` (the library itself is still checked without
// `cfg(test)`).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod agent;
pub mod arp;
pub mod checksum;
pub mod classify;
pub mod classify6;
pub mod counted;
pub mod dns;
pub mod dns_tcp;
pub mod error;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv4_fragment;
pub mod ipv6;
pub mod ipv6ext;
pub mod nd;
pub mod proxy_v2;
pub mod sync;
pub mod tcp;
pub mod tcp_segment;
pub mod udp;
pub mod udp_frame;
pub mod vrrp;

pub use error::{Result, WireError};
