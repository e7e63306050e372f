//! Fulcrum's pure logic. Nothing in this crate touches a socket, a clock, a thread or a random
//! source: time and random numbers come in as arguments, so every rule is tested
//! deterministically in microseconds.

// `clippy.toml` keeps clocks, threads and sockets out of this crate; its unit tests may
// anchor a virtual clock on `Instant::now()` (the library itself is still checked without
// `cfg(test)`).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod announce;
pub mod balance;
pub mod health;
pub mod model;
pub mod outstanding;
pub mod protect;
pub mod session;
pub mod stats;
pub mod sync;
pub mod vrrp;
