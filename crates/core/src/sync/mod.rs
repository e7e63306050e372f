//! Session sync, master to backup, as two sans-IO state machines (the datagram format is
//! [`fulcrum_wire::sync`], described in `docs/sync.md`).
//!
//! Contract: a [`Sender`] turns session events (created, refreshed, removed: the data plane
//! reports a refresh at most once per second per session) into Update datagrams of at most
//! [`SenderConfig::max_datagram`] bytes, each with the next sequence number, flushed when full,
//! [`SenderConfig::flush_after`] after the first pending event, or as an empty keepalive every
//! [`SenderConfig::keepalive`] so a lost last datagram is noticed. A full-table request passes
//! its [`RequestGate`] (replay and cookie checks), then at most one dump runs at a time, a
//! request during one is coalesced into one more dump after it, and dumps start at least
//! [`SenderConfig::dump_interval`] apart; a dump is the table's rows as FullChunk datagrams
//! paced at [`SenderConfig::dump_datagrams_per_ms`], then a FullDone, all answering the
//! request's id and in the same sequence space as the Updates. A [`Receiver`] follows one
//! sender boot: it takes a new boot (the first, or a restarted peer) only from a dump answering
//! its own latest request id, never from an Update, and takes such a datagram as a sign of a
//! restart only once the followed boot has been quiet for [`RESTART_QUIET`]; it applies every entry the running
//! configuration allows ([`SessionLimits`]) to a [`Sink`] in order; a first datagram, a new
//! boot, a sequence gap, or a start with no table make it ask for a full table, again every
//! [`RETRY`] while no chunk arrives. With a key the receiver also refuses datagrams sent outside
//! [`REPLAY_WINDOW`] of its wall clock and a boot older than the one it follows. Every refusal
//! is a counted [`DropReason`]. Neither machine reads a clock or draws a random number: `now`,
//! the wall clock in ms and random seeds come in as arguments, and both follow the
//! `handle_*` / `poll_timeout` / `poll_output` vocabulary. A [`Coordinator`] decides
//! from VRRP's state and master which of the two runs and who the peers are (several
//! `syncpeer`s: the driver runs one sender and one receiver per peer), and when a node that
//! joins has the others' sessions ([`Joined`]).

mod limits;
mod receiver;
mod requests;
mod role;
mod sender;
mod source;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_forged;

use std::time::Duration;

pub use fulcrum_wire::sync::{Entry, Kind, Op, PORT};
pub use limits::SessionLimits;
pub use receiver::{
    DropReason, Receiver, ReceiverConfig, ReceiverCounters, ReceiverOutput, Resync, Sink,
};
pub use requests::{Admission, RequestGate, RequestInfo, COOKIE_LIFETIME};
pub use role::{Coordinator, Input, Joined, Output, PeerSource, Role, RoleConfig, JOIN_WAIT};
pub use sender::{RequestVerdict, Sender, SenderConfig, SenderCounters, SenderOutput};
pub use source::{check_source, Source, MAX_DATAGRAM};

/// A receiver asks again for a full table when no part of it came for this long.
pub const RETRY: Duration = Duration::from_secs(3);

/// A datagram from a sender boot not followed counts as a peer restart (and asks for the full
/// table) only when the followed boot has sent nothing for this long (two keepalives).
pub const RESTART_QUIET: Duration = Duration::from_secs(2);

/// With a key: a datagram whose sent-at is further than this from the receiver's wall clock is
/// refused (the two nodes' clocks must agree within it, e.g. by NTP).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(30);

/// `a` comes after `b` in a wrapping 32-bit sequence space.
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// `sent_at` (ms since the Unix epoch) is within `window` of `wall_ms`, either way.
fn fresh(window: Duration, sent_at: u64, wall_ms: u64) -> bool {
    let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    sent_at.abs_diff(wall_ms) <= window
}
