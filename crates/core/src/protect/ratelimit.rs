//! Per-client query rate limits: a token bucket per client prefix in a table of fixed size that
//! a flood of random source addresses can neither grow nor empty of the clients that matter.
//!
//! Contract: a [`RateTable`] holds at most its capacity of buckets, allocated once
//! ([`RateTable::memory_bytes`] is exact and never changes: [`BUCKET_BYTES`] a bucket).
//! [`RateTable::check`] takes the client address and the time in milliseconds (from any
//! monotonic origin; time passed in, no clock read) and says whether this query is within the
//! client's rate: a bucket of `burst` queries refilled at `qps` per second, one bucket per prefix
//! (by default each IPv4 address and each IPv6 /64, the unit one subscriber holds). It never
//! allocates, never fails and never blocks. The same table keeps a budget of other units (a
//! client's response bytes): [`RateTable::within_budget`] on the way in, [`RateTable::charge`]
//! once the size is known, the bucket owing at most one burst.
//!
//! One table is shared by every worker thread of a data plane, through `&self`: each bucket is
//! three atomics, its token word updated by compare-and-swap, no lock. Per-worker tables would
//! be cheaper still, but the kernel spreads one client's queries over the workers by the whole
//! address-and-port tuple (`SO_REUSEPORT`, `PACKET_FANOUT_HASH`), so a client sending from many
//! ports would get workers x its limit. Two workers racing on one bucket at worst lose an
//! activity count or, while a bucket changes hands, charge one query to the wrong prefix; a
//! token is never created by a race on a bucket. Two workers placing the same new prefix at
//! the same instant agree on one bucket (the set is looked at again right before the swap, and
//! the loser of the swap uses the winner's bucket); only two swaps into different slots within
//! the same few instructions could give a prefix two buckets, and its client one extra burst,
//! once. Times are kept as 32-bit milliseconds: an idle time is read
//! modulo 49 days, and a time up to a minute behind a bucket's (another worker's older clock
//! read) counts as no time at all.
//!
//! Why this shape rather than a sketch or `governor`: a count-min sketch bounds memory as well,
//! but a legitimate client that shares its counters with a heavy hitter is limited with it (a
//! false positive by design); `governor`'s keyed limiter is a growing map that needs periodic
//! pruning and evicts by nothing in particular. Here the table is set-associative: a keyed hash
//! (SipHash-1-3 with a per-table random key, so a sender cannot aim at one set) of the prefix
//! picks a set of [`WAYS`] buckets; a bucket is tagged with the whole 64-bit hash, so two
//! clients share one only if their keyed hashes collide in all 64 bits. A new prefix that finds
//! its set full replaces the bucket with the lowest *recent activity* (a count of queries that
//! halves for every idle second), and of equally active ones the longest idle. Under a flood of
//! random addresses each new bucket holds one query, so flood entries replace each other while a
//! client that has asked twice outranks all of them and keeps its bucket, however many new
//! addresses pass through its set between two of its queries (where a least-recently-used table
//! would give it a fresh bucket, and a fresh burst, every time), with its exhausted tokens: a
//! heavy client cannot reset its limit by waiting out an eviction it cannot cause. A replaced
//! bucket's client starts again with a full burst, the same as a client the table never saw.
//! What the table cannot do is limit a flood whose every address sends one query: per client,
//! each is within its rate (that needs a limit per server, not per client).

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use siphasher::sip::SipHasher13;

use super::acl::{canonical, mask};

/// Buckets per set: a new prefix competes with these for a place.
pub const WAYS: usize = 4;
/// Milli-tokens per query: buckets count in thousandths so that low rates refill smoothly.
const COST: i64 = 1000;
/// The largest burst: its milli-tokens must fit the bucket's signed 32-bit token count.
pub const MAX_BURST: u32 = 2_000_000;
/// How far behind a bucket's time a caller's clock may be and still count as "no time passed".
const CLOCK_SKEW_MS: i32 = 60_000;
/// The memory of one bucket (tag, token word, activity, padded).
pub const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

/// The limit every client prefix gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Sustained queries per second per prefix (at least 1).
    pub qps: u32,
    /// Queries a prefix may send at once after being idle (1 to [`MAX_BURST`]).
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
            burst: burst.clamp(1, MAX_BURST),
            v4_prefix: 32,
            v6_prefix: 64,
        }
    }

    fn with_prefixes(mut self, from: Limit) -> Limit {
        self.v4_prefix = from.v4_prefix.min(32);
        self.v6_prefix = from.v6_prefix.min(128);
        self
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

/// What the table did, for `show stats` and metrics (the callers count passes and refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateCounters {
    /// Buckets given to a prefix the table did not hold.
    pub inserted: u64,
    /// Of those, the ones that replaced another prefix's bucket.
    pub replaced: u64,
}

/// One prefix's bucket. `tag` 0 is an empty slot.
#[derive(Debug, Default)]
struct Bucket {
    tag: AtomicU64,
    /// Milli-tokens (high 32 bits, signed: a byte budget may owe) left at a time in
    /// milliseconds (low 32 bits).
    tokens_at: AtomicU64,
    /// Queries seen, halved per idle second (see [`decayed`]).
    activity: AtomicU32,
}

fn pack(tokens: i64, at_ms: u32) -> u64 {
    let tokens = tokens.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    (u64::from(tokens as u32) << 32) | u64::from(at_ms)
}

fn unpack(word: u64) -> (i64, u32) {
    (i64::from((word >> 32) as u32 as i32), word as u32)
}

/// What one call does to a bucket.
#[derive(Clone, Copy)]
enum Op {
    /// A query: take one token if there is one ([`RateTable::check`]).
    Take,
    /// Whether the budget is not spent, taking nothing ([`RateTable::within_budget`]).
    Budget,
    /// Spend `n` whole tokens, owing at most one burst ([`RateTable::charge`]).
    Charge(u32),
}

/// Milliseconds from `then` to `now` on the 32-bit clock: a `now` slightly behind is 0.
fn elapsed_ms(now: u32, then: u32) -> u64 {
    let signed = now.wrapping_sub(then) as i32;
    if (-CLOCK_SKEW_MS..0).contains(&signed) {
        0
    } else {
        u64::from(now.wrapping_sub(then))
    }
}

/// `activity` after `idle_ms` without a query: halved per whole second.
fn decayed(activity: u32, idle_ms: u64) -> u32 {
    activity
        .checked_shr(u32::try_from(idle_ms / 1000).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// The buckets of one server's limit, shared by the workers of a data plane.
#[derive(Debug)]
pub struct RateTable {
    buckets: Box<[Bucket]>,
    /// Sets - 1 (the set count is a power of two).
    set_mask: usize,
    key: (u64, u64),
    qps: AtomicU32,
    burst: AtomicU32,
    v4_prefix: AtomicU32,
    v6_prefix: AtomicU32,
    inserted: AtomicU64,
    replaced: AtomicU64,
}

impl RateTable {
    /// A table of at least `capacity` buckets (rounded up to a power of two number of sets of
    /// [`WAYS`]), keyed with `key` (pass random numbers).
    pub fn new(capacity: usize, limit: Limit, key: (u64, u64)) -> RateTable {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        let limit = Limit::new(limit.qps, limit.burst).with_prefixes(limit);
        RateTable {
            buckets: (0..sets * WAYS).map(|_| Bucket::default()).collect(),
            set_mask: sets - 1,
            key,
            qps: AtomicU32::new(limit.qps),
            burst: AtomicU32::new(limit.burst),
            v4_prefix: AtomicU32::new(u32::from(limit.v4_prefix)),
            v6_prefix: AtomicU32::new(u32::from(limit.v6_prefix)),
            inserted: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
        }
    }

    /// The memory [`RateTable::new`] allocates for `capacity` buckets, before building one.
    pub fn memory_for(capacity: usize) -> usize {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        sets * WAYS * BUCKET_BYTES + std::mem::size_of::<RateTable>()
    }

    /// Buckets the table holds at most.
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    /// The table's memory, fixed at construction.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets) + std::mem::size_of::<RateTable>()
    }

    /// Prefixes the table holds a bucket for (a scan: for `show`, not per query).
    pub fn len(&self) -> usize {
        self.buckets
            .iter()
            .filter(|b| b.tag.load(Relaxed) != 0)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn limit(&self) -> Limit {
        Limit {
            qps: self.qps.load(Relaxed),
            burst: self.burst.load(Relaxed),
            v4_prefix: u8::try_from(self.v4_prefix.load(Relaxed)).unwrap_or(32),
            v6_prefix: u8::try_from(self.v6_prefix.load(Relaxed)).unwrap_or(64),
        }
    }

    /// A new limit for every prefix, taking effect at each bucket's next query (a bucket above
    /// the new burst is cut to it then); a change of grouping empties the table (its prefixes
    /// no longer mean the same clients).
    pub fn set_limit(&self, limit: Limit) {
        let limit = Limit::new(limit.qps, limit.burst).with_prefixes(limit);
        let old = self.limit();
        self.qps.store(limit.qps, Relaxed);
        self.burst.store(limit.burst, Relaxed);
        if limit.v4_prefix != old.v4_prefix || limit.v6_prefix != old.v6_prefix {
            self.v4_prefix.store(u32::from(limit.v4_prefix), Relaxed);
            self.v6_prefix.store(u32::from(limit.v6_prefix), Relaxed);
            for bucket in self.buckets.iter() {
                bucket.tag.store(0, Relaxed);
            }
        }
    }

    pub fn counters(&self) -> RateCounters {
        RateCounters {
            inserted: self.inserted.load(Relaxed),
            replaced: self.replaced.load(Relaxed),
        }
    }

    /// Whether one more query from `client` at `now_ms` is within its prefix's rate (and takes
    /// a token if so).
    pub fn check(&self, client: IpAddr, now_ms: u64) -> Decision {
        self.apply(client, now_ms, Op::Take)
    }

    /// For a budget of units other than queries (response bytes, see [`RateTable::charge`]):
    /// whether `client`'s prefix has any left at `now_ms` (a prefix the table does not hold
    /// gets a full bucket). Takes nothing.
    pub fn within_budget(&self, client: IpAddr, now_ms: u64) -> Decision {
        self.apply(client, now_ms, Op::Budget)
    }

    /// Spends `amount` units of `client`'s budget at `now_ms`; the bucket may go into debt, by
    /// at most one burst, which the rate pays back before [`RateTable::within_budget`] passes
    /// again. A prefix the table does not hold (never seen, or replaced since) is not charged.
    pub fn charge(&self, client: IpAddr, amount: u32, now_ms: u64) {
        self.apply(client, now_ms, Op::Charge(amount));
    }

    fn apply(&self, client: IpAddr, now_ms: u64, op: Op) -> Decision {
        let hash = self.hash_of(self.prefix_of(client));
        let tag = hash | 1;
        // The mask keeps the index below the set count (a power of two).
        let set = (hash as usize) & self.set_mask;
        let Some(ways) = self.buckets.get(set * WAYS..(set + 1) * WAYS) else {
            return Decision::Pass;
        };
        let now = now_ms as u32;
        let capacity = i64::from(self.burst.load(Relaxed).clamp(1, MAX_BURST)) * COST;
        let bucket = loop {
            if let Some(bucket) = ways.iter().find(|b| b.tag.load(Relaxed) == tag) {
                break bucket;
            }
            let tokens = match op {
                Op::Take => capacity - COST,
                Op::Budget => capacity,
                Op::Charge(_) => return Decision::Pass,
            };
            if self.insert(ways, tag, now, tokens) {
                return Decision::Pass;
            }
            // Another worker gave the prefix a bucket meanwhile: use that one.
        };
        let qps = i64::from(self.qps.load(Relaxed).max(1));
        let mut word = bucket.tokens_at.load(Relaxed);
        loop {
            let (tokens, at) = unpack(word);
            let elapsed = elapsed_ms(now, at);
            // Time only moves forward for the bucket (no refill is counted twice).
            let at = if elapsed > 0 { now } else { at };
            let refill = i64::try_from(elapsed)
                .unwrap_or(i64::MAX)
                .saturating_mul(qps);
            let tokens = tokens.saturating_add(refill).min(capacity);
            let (left, decision) = match op {
                Op::Take if tokens >= COST => (tokens - COST, Decision::Pass),
                Op::Take => (tokens, Decision::Exceeded),
                Op::Budget if tokens > 0 => (tokens, Decision::Pass),
                Op::Budget => (tokens, Decision::Exceeded),
                Op::Charge(amount) => (
                    tokens
                        .saturating_sub(i64::from(amount).saturating_mul(COST))
                        .max(-capacity),
                    Decision::Pass,
                ),
            };
            match bucket
                .tokens_at
                .compare_exchange_weak(word, pack(left, at), Relaxed, Relaxed)
            {
                Ok(_) => {
                    if !matches!(op, Op::Charge(_)) {
                        let activity = decayed(bucket.activity.load(Relaxed), elapsed);
                        bucket.activity.store(activity.saturating_add(1), Relaxed);
                    }
                    return decision;
                }
                Err(current) => word = current,
            }
        }
    }

    /// A bucket for a prefix the set does not hold, with `tokens`: an empty slot, else the
    /// least active one (ties: the longest idle). True when this call placed it (its query
    /// passes: a full burst is at least one token); false when another worker placed the same
    /// prefix first, whose bucket the caller then uses.
    fn insert(&self, ways: &[Bucket], tag: u64, now: u32, tokens: i64) -> bool {
        let rank = |b: &Bucket| {
            let occupied = b.tag.load(Relaxed) != 0;
            let (_, at) = unpack(b.tokens_at.load(Relaxed));
            let idle = elapsed_ms(now, at);
            (
                occupied,
                decayed(b.activity.load(Relaxed), idle),
                std::cmp::Reverse(idle),
            )
        };
        let Some(victim) = ways.iter().min_by_key(|b| rank(b)) else {
            return true;
        };
        let old = victim.tag.load(Relaxed);
        // The set is looked at again right before the swap: a worker that placed the same
        // prefix since this one looked keeps its bucket (taking it over would hand the client
        // a second full burst).
        if old == tag || ways.iter().any(|b| b.tag.load(Relaxed) == tag) {
            return false;
        }
        match victim.tag.compare_exchange(old, tag, Relaxed, Relaxed) {
            Ok(_) => {
                victim.tokens_at.store(pack(tokens, now), Relaxed);
                victim.activity.store(1, Relaxed);
                self.inserted.fetch_add(1, Relaxed);
                if old != 0 {
                    self.replaced.fetch_add(1, Relaxed);
                }
                true
            }
            // The slot changed hands meanwhile: look again.
            Err(_) => false,
        }
    }

    fn prefix_of(&self, client: IpAddr) -> u128 {
        let v4 = u8::try_from(self.v4_prefix.load(Relaxed)).unwrap_or(32);
        let v6 = u8::try_from(self.v6_prefix.load(Relaxed)).unwrap_or(64);
        match canonical(client) {
            IpAddr::V4(v4_addr) => match mask(IpAddr::V4(v4_addr), v4) {
                IpAddr::V4(masked) => u128::from(masked.to_ipv6_mapped()),
                IpAddr::V6(_) => 0,
            },
            IpAddr::V6(v6_addr) => match mask(IpAddr::V6(v6_addr), v6) {
                IpAddr::V6(masked) => u128::from(masked),
                IpAddr::V4(_) => 0,
            },
        }
    }

    fn hash_of(&self, prefix: u128) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        hasher.write_u128(prefix);
        hasher.finish()
    }
}

#[cfg(test)]
mod tests;
