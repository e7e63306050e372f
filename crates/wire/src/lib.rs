//! Packet views and builders. Each format: a view over a byte buffer with a checked constructor
//! (after `new_checked` succeeds no accessor can panic), a plain `Repr` with `parse` and `emit`,
//! golden-bytes tests both ways and round-trip property tests. No I/O, no allocation on the
//! parse path.

// `clippy.toml` keeps clocks, threads and sockets out of this crate; its unit tests may
// anchor a virtual clock on `Instant::now()` (the library itself is still checked without
// `cfg(test)`).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod agent;
pub mod arp;
pub mod checksum;
pub mod classify;
pub mod classify6;
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
pub mod sync;
pub mod tcp;
pub mod udp;
pub mod udp_frame;
pub mod vrrp;

pub use error::{Result, WireError};
