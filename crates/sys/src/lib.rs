//! The only Fulcrum crate with `unsafe`: thin, checked wrappers over the Linux system calls the
//! data planes need and the standard library does not offer.
//!
//! Contract: every function here either does what it says or returns the `io::Error` the kernel
//! gave; nothing panics on what the network sends. Each `unsafe` block states why it is sound.
//! Policy (which sockets, how many, what to do with a packet) lives in the callers.

pub mod ethtool;
mod ifreq;
pub mod mmsg;
pub mod netlink;
pub mod packet;
pub mod poll;
pub mod socket;
pub mod tun;

pub use mmsg::{RecvBatch, SendBatch};
pub use poll::Poller;
pub use socket::{bind_tcp_listener, bind_udp, UdpOptions};
