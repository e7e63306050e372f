//! Session sync, master to backup, as two sans-IO state machines (the datagram format is
//! [`fulcrum_wire::sync`], described in `docs/sync.md`).
//!
//! Contract: a [`Sender`] turns session events (created, refreshed, removed: the data plane
//! reports a refresh at most once per second per session) into Update datagrams of at most
//! [`SenderConfig::max_datagram`] bytes, each with the next sequence number, flushed when full,
//! [`SenderConfig::flush_after`] after the first pending event, or as an empty keepalive every
//! [`SenderConfig::keepalive`] so a lost last datagram is noticed. Given a full-table request and
//! the table's rows it sends them as FullChunk datagrams paced at
//! [`SenderConfig::dump_datagrams_per_ms`], then a FullDone, all in the same sequence space. A
//! [`Receiver`] applies every Update and FullChunk entry to a [`Sink`] in order; a first
//! datagram, a new sender node id (the peer restarted), a sequence gap, or a start with no table
//! make it ask for a full table ([`ReceiverOutput::SendFullRequest`]), again every
//! [`RETRY`] while no chunk arrives, and it logs the resync's progress. An older sequence number
//! is counted and dropped. Neither machine reads a clock: `now` comes in with every call, and
//! both follow the `handle_*` / `poll_timeout` / `poll_output` vocabulary.

mod receiver;
mod sender;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use fulcrum_wire::sync::{Entry, Kind, Op, PORT};
pub use receiver::{DropReason, Receiver, ReceiverCounters, ReceiverOutput, Resync, Sink};
pub use sender::{Sender, SenderConfig, SenderCounters, SenderOutput};

/// A receiver asks again for a full table when no part of it came for this long.
pub const RETRY: Duration = Duration::from_secs(3);

/// `a` comes after `b` in a wrapping 32-bit sequence space.
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
