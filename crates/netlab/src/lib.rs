//! Test support: real peers and network-namespace topologies that clean up after themselves
//! (on drop, also during a panic). Never routes to the host's real interfaces.

pub mod bind9;
pub mod lab;
