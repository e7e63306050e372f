//! A server's protection as the configuration states it: its access list, its per-client query
//! limit, its separate limit for queries whose answers amplify (`ANY`), its per-client budget
//! of response bytes (proxy mode), how clients are grouped into prefixes, and what happens to a
//! query over its limit. Plain data: the configuration
//! builds it, the data planes turn it into an [`Acl`](super::Acl) and
//! [`RateTable`](super::RateTable)s.

use super::acl::Rule;
use super::ratelimit::Limit;

/// `set ratetable N`: buckets in each limit's table unless set.
pub const DEFAULT_RATE_TABLE: u32 = 65_536;
/// The smallest and largest `set ratetable`.
pub const MIN_RATE_TABLE: u32 = 64;
pub const MAX_RATE_TABLE: u32 = 16_777_216;
/// The largest `ratelimit`/`anylimit` rate or burst.
pub const MAX_RATE: u32 = 1_000_000;
/// The largest `bytelimit` rate (bytes a second) and burst (bytes).
pub const MAX_BYTE_RATE: u32 = 1_000_000_000;
pub const MAX_BYTE_BURST: u32 = super::ratelimit::MAX_BURST;

/// `ratelimit QPS,BURST` or `anylimit QPS,BURST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub qps: u32,
    pub burst: u32,
}

/// `rateaction drop|tc`: what a query over a limit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverLimit {
    /// Nothing: the query is dropped (the only action of the DSR plane, which builds no
    /// answers).
    #[default]
    Drop,
    /// An empty answer with TC=1 (the proxy plane, over UDP), which sends a real client to TCP
    /// and a spoofed one nothing larger than its query.
    Truncate,
}

impl OverLimit {
    pub fn keyword(self) -> &'static str {
        match self {
            OverLimit::Drop => "drop",
            OverLimit::Truncate => "tc",
        }
    }
}

/// Everything a server's `allow`, `deny`, `ratelimit`, `anylimit`, `rateprefix` and
/// `rateaction` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The access list in the order written (the most specific rule decides, see
    /// [`Acl`](super::Acl)); empty: everyone is admitted.
    pub acl: Vec<Rule>,
    pub ratelimit: Option<Rate>,
    /// Queries of type ANY (255), counted apart from (and as well as) `ratelimit`.
    pub anylimit: Option<Rate>,
    /// `bytelimit BYTES,BURST`: response bytes a second per client prefix (`qps` is bytes a
    /// second, `burst` bytes); the proxy charges each answer and refuses queries while a
    /// prefix's budget is spent. The DSR plane never sees answers and ignores it.
    pub bytelimit: Option<Rate>,
    /// The prefix lengths clients are grouped by (IPv4, IPv6).
    pub v4_prefix: u8,
    pub v6_prefix: u8,
    pub over_limit: OverLimit,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            acl: Vec::new(),
            ratelimit: None,
            anylimit: None,
            bytelimit: None,
            v4_prefix: 32,
            v6_prefix: 64,
            over_limit: OverLimit::Drop,
        }
    }
}

impl Policy {
    /// Whether any check applies (a server without one costs its queries nothing).
    pub fn is_active(&self) -> bool {
        !self.acl.is_empty()
            || self.ratelimit.is_some()
            || self.anylimit.is_some()
            || self.bytelimit.is_some()
    }

    /// The table limit for `rate` with this policy's grouping.
    pub fn limit(&self, rate: Rate) -> Limit {
        Limit {
            v4_prefix: self.v4_prefix,
            v6_prefix: self.v6_prefix,
            ..Limit::new(rate.qps, rate.burst)
        }
    }
}
