//! Per-client query rate limits: a token bucket per client prefix in a table of fixed size that
//! a flood of random source addresses can neither grow nor empty of the clients that matter.
//!
//! Contract: a [`RateTable`] holds at most its capacity of buckets, allocated once
//! ([`RateTable::memory_bytes`] is exact and never changes). [`RateTable::check`] takes the
//! client address and the time in milliseconds (from any monotonic origin; time passed in, no
//! clock read) and says whether this query is within the client's rate: a bucket of `burst`
//! queries refilled at `qps` per second, one bucket per prefix (by default each IPv4 address and
//! each IPv6 /64, the unit one subscriber holds). It never allocates and never fails.
//!
//! Why this shape rather than a sketch or `governor`: a count-min sketch bounds memory as well,
//! but a legitimate client that shares its counters with a heavy hitter is limited with it (a
//! false positive by design); `governor`'s keyed limiter is a growing map that needs periodic
//! pruning and evicts by nothing in particular. Here the table is set-associative: a keyed hash
//! (SipHash-1-3 with a per-table random key, so a sender cannot aim at one set) of the prefix
//! picks a set of [`WAYS`] buckets; the prefix itself is stored, so two clients never share a
//! bucket. A new prefix that finds its set full replaces the bucket with the lowest *recent
//! activity* (a count of queries that halves for every idle second), and of equally active ones
//! the longest idle. Under a flood of random addresses each new bucket holds one query, so flood
//! entries replace each other while a client that has asked twice outranks all of them and keeps
//! its bucket, however many new addresses pass through its set between two of its queries (where
//! a least-recently-used table would give it a fresh bucket, and a fresh burst, every time) — with its exhausted tokens: a heavy client cannot reset its
//! limit by waiting out an eviction it cannot cause. A replaced bucket's client starts again
//! with a full burst, the same as a client the table never saw. What the table cannot do is
//! limit a flood whose every address sends one query: per client, each is within its rate (that
//! needs a limit per server, not per client).

use std::net::IpAddr;

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

use super::acl::{canonical, mask};

/// Buckets per set: a new prefix competes with these for a place.
pub const WAYS: usize = 4;
/// Milli-tokens per query: buckets count in thousandths so that low rates refill smoothly.
const COST: u64 = 1000;

/// The limit every client prefix gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Sustained queries per second per prefix (at least 1).
    pub qps: u32,
    /// Queries a prefix may send at once after being idle (at least 1).
    pub burst: u32,
    /// Prefix length clients are grouped by: IPv4 (default 32).
    pub v4_prefix: u8,
    /// Prefix length clients are grouped by: IPv6 (default 64).
    pub v6_prefix: u8,
}

impl Limit {
    pub fn new(qps: u32, burst: u32) -> Limit {
        Limit {
            qps: qps.max(1),
            burst: burst.max(1),
            v4_prefix: 32,
            v6_prefix: 64,
        }
    }

    fn capacity(&self) -> u64 {
        u64::from(self.burst.max(1)) * COST
    }
}

/// What [`RateTable::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the client's rate: serve it.
    Pass,
    /// Over it: the caller drops the query or answers it truncated, and counts it.
    Exceeded,
}

/// What the table did, for `show stats` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateCounters {
    pub passed: u64,
    pub exceeded: u64,
    /// Buckets given to a prefix the table did not hold.
    pub inserted: u64,
    /// Of those, the ones that replaced another prefix's bucket.
    pub replaced: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The prefix as an IPv6 address (IPv4 mapped), with `occupied` telling a real `::/0`
    /// from an empty slot.
    prefix: u128,
    occupied: bool,
    /// Milli-tokens left at `last_ms`.
    tokens: u64,
    last_ms: u64,
    /// Queries seen, halved per idle second (see [`Bucket::activity`]).
    activity: u32,
}

impl Bucket {
    fn activity(&self, now_ms: u64) -> u32 {
        let idle_seconds = now_ms.saturating_sub(self.last_ms) / 1000;
        self.activity
            .checked_shr(u32::try_from(idle_seconds).unwrap_or(u32::MAX))
            .unwrap_or(0)
    }
}

/// The buckets of one data plane shard (callers that share it across threads wrap it in a lock,
/// one table per shard of client addresses).
#[derive(Debug, Clone)]
pub struct RateTable {
    buckets: Box<[Bucket]>,
    /// Sets - 1 (the set count is a power of two).
    set_mask: usize,
    key: (u64, u64),
    limit: Limit,
    counters: RateCounters,
}

impl RateTable {
    /// A table of at least `capacity` buckets (rounded up to a power of two number of sets of
    /// [`WAYS`]), keyed with `key` (pass random numbers).
    pub fn new(capacity: usize, limit: Limit, key: (u64, u64)) -> RateTable {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        RateTable {
            buckets: vec![Bucket::default(); sets * WAYS].into_boxed_slice(),
            set_mask: sets - 1,
            key,
            limit: Limit::new(limit.qps, limit.burst).with_prefixes(limit),
            counters: RateCounters::default(),
        }
    }

    /// Buckets the table holds at most.
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    /// The table's memory, fixed at construction.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets) + std::mem::size_of::<RateTable>()
    }

    /// Prefixes the table holds a bucket for.
    pub fn len(&self) -> usize {
        self.buckets.iter().filter(|b| b.occupied).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// A new limit for every prefix; buckets above the new burst are cut to it, and a change of
    /// grouping starts the table afresh (its prefixes no longer mean the same clients).
    pub fn set_limit(&mut self, limit: Limit) {
        let limit = Limit::new(limit.qps, limit.burst).with_prefixes(limit);
        let regroup =
            limit.v4_prefix != self.limit.v4_prefix || limit.v6_prefix != self.limit.v6_prefix;
        self.limit = limit;
        let capacity = limit.capacity();
        for bucket in self.buckets.iter_mut() {
            if regroup {
                *bucket = Bucket::default();
            }
            bucket.tokens = bucket.tokens.min(capacity);
        }
    }

    pub fn counters(&self) -> RateCounters {
        self.counters
    }

    /// Whether one more query from `client` at `now_ms` is within its prefix's rate (and takes
    /// a token if so).
    pub fn check(&mut self, client: IpAddr, now_ms: u64) -> Decision {
        let prefix = self.prefix_of(client);
        let set = self.set_of(prefix);
        let ways = &mut self.buckets[set * WAYS..(set + 1) * WAYS];
        let capacity = self.limit.capacity();
        let index = match ways.iter().position(|b| b.occupied && b.prefix == prefix) {
            Some(index) => index,
            None => {
                // An empty slot, else the least active (ties: the longest idle).
                let victim = ways
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, b)| (b.occupied, b.activity(now_ms), b.last_ms))
                    .map_or(0, |(i, _)| i);
                self.counters.inserted += 1;
                if ways[victim].occupied {
                    self.counters.replaced += 1;
                }
                ways[victim] = Bucket {
                    prefix,
                    occupied: true,
                    tokens: capacity,
                    last_ms: now_ms,
                    activity: 0,
                };
                victim
            }
        };
        let bucket = &mut ways[index];
        let elapsed = now_ms.saturating_sub(bucket.last_ms);
        bucket.activity = bucket.activity(now_ms).saturating_add(1);
        bucket.tokens = bucket
            .tokens
            .saturating_add(elapsed.saturating_mul(u64::from(self.limit.qps)))
            .min(capacity);
        // Time only moves forward for the bucket (a caller's clock never makes it refill twice).
        bucket.last_ms = bucket.last_ms.max(now_ms);
        if bucket.tokens >= COST {
            bucket.tokens -= COST;
            self.counters.passed += 1;
            Decision::Pass
        } else {
            self.counters.exceeded += 1;
            Decision::Exceeded
        }
    }

    fn prefix_of(&self, client: IpAddr) -> u128 {
        match canonical(client) {
            IpAddr::V4(v4) => {
                let masked = mask(IpAddr::V4(v4), self.limit.v4_prefix);
                let IpAddr::V4(masked) = masked else {
                    return 0;
                };
                u128::from(masked.to_ipv6_mapped())
            }
            IpAddr::V6(v6) => match mask(IpAddr::V6(v6), self.limit.v6_prefix) {
                IpAddr::V6(masked) => u128::from(masked),
                IpAddr::V4(_) => 0,
            },
        }
    }

    fn set_of(&self, prefix: u128) -> usize {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        hasher.write_u128(prefix);
        // The mask keeps the index below the set count (a power of two).
        (hasher.finish() as usize) & self.set_mask
    }
}

impl Limit {
    fn with_prefixes(mut self, from: Limit) -> Limit {
        self.v4_prefix = from.v4_prefix.min(32);
        self.v6_prefix = from.v6_prefix.min(128);
        self
    }
}

#[cfg(test)]
mod tests;
