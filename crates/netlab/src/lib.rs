//! Test support: real peers and network-namespace topologies that clean up after themselves
//! (on drop, also during a panic). Never routes to the host's real interfaces.
//!
//! [`Lab`] builds namespaces, switches (bridges in a namespace of their own), veth links,
//! addresses, sysctls and routes with iproute2; [`seed_topology`] builds the seed document's
//! two-node DSR setup with a router and a client namespace, [`seed6`] adds IPv6 to it. See
//! `docs/netlab.md`.

pub mod bind9;
pub mod lab;
pub mod seed;
pub mod seed6;

pub use lab::{Capture, Lab, LabError, Link, Ns, Proc, Switch};
pub use seed::{seed_topology, SeedLab};
