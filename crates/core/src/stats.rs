//! Plain counter snapshots that the data plane publishes and the control shell renders.

fulcrum_wire::counted_enum! {
    /// Why a packet was dropped. Every drop is counted under exactly one reason.
    #[derive(PartialOrd, Ord)]
    pub enum DropReason {
        /// Shorter than a DNS header.
        Runt => "runt",
        /// A query with QR set, or a response where a query was expected.
        NotQuery => "not-query",
        /// Header counts that no query has (QDCOUNT != 1 and the like).
        BadCounts => "bad-counts",
        /// A backend answer whose ID is not outstanding, or whose question differs.
        UnknownId => "unknown-id",
        /// No operational target for the server.
        NoTarget => "no-target",
        /// The table of outstanding queries towards a target is full.
        Overload => "overload",
        /// A TCP frame whose length prefix is broken.
        BadFrame => "bad-frame",
        /// The connection cap was reached.
        ConnLimit => "conn-limit",
        /// Any other malformed input.
        Malformed => "malformed",
        /// The client is denied by the server's `allow`/`deny` rules.
        Acl => "acl",
        /// Over the client prefix's `ratelimit`.
        RateLimit => "ratelimit",
        /// An ANY query over the client prefix's `anylimit`.
        AnyLimit => "any-limit",
        /// A query while the client prefix's `bytelimit` budget of response bytes is spent.
        ByteLimit => "byte-limit",
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
    pub drops: [u64; DropReason::COUNT],
}

impl Counters {
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}
