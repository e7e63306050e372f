//! Fulcrum's pure logic. Nothing in this crate touches a socket, a clock, a thread or a random
//! source: time and random numbers come in as arguments, so every rule is tested
//! deterministically in microseconds.

pub mod balance;
pub mod health;
pub mod model;
pub mod session;
pub mod stats;
pub mod sync;
pub mod vrrp;
