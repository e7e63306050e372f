//! Plain counter snapshots that the data plane publishes and the control shell renders.

/// Why a packet was dropped. Every drop is counted under exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than a DNS header.
    Runt,
    /// A query with QR set, or a response where a query was expected.
    NotQuery,
    /// Header counts that no query has (QDCOUNT != 1 and the like).
    BadCounts,
    /// A backend answer whose ID is not outstanding, or whose question differs.
    UnknownId,
    /// No operational target for the server.
    NoTarget,
    /// The table of outstanding queries towards a target is full.
    Overload,
    /// A TCP frame whose length prefix is broken.
    BadFrame,
    /// The connection cap was reached.
    ConnLimit,
    /// Any other malformed input.
    Malformed,
}

impl DropReason {
    pub const ALL: [DropReason; 9] = [
        DropReason::Runt,
        DropReason::NotQuery,
        DropReason::BadCounts,
        DropReason::UnknownId,
        DropReason::NoTarget,
        DropReason::Overload,
        DropReason::BadFrame,
        DropReason::ConnLimit,
        DropReason::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Runt => "runt",
            DropReason::NotQuery => "not-query",
            DropReason::BadCounts => "bad-counts",
            DropReason::UnknownId => "unknown-id",
            DropReason::NoTarget => "no-target",
            DropReason::Overload => "overload",
            DropReason::BadFrame => "bad-frame",
            DropReason::ConnLimit => "conn-limit",
            DropReason::Malformed => "malformed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Traffic counters of one server or one target, as a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub queries: u64,
    pub responses: u64,
    pub timeouts: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub sessions: u64,
    /// Indexed by [`DropReason::index`].
    pub drops: [u64; DropReason::ALL.len()],
}

impl Counters {
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}
