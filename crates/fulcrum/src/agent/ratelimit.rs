//! Which requests the agent answers, pure (the caller passes the time). Two rules:
//!
//! - **Balancers** (`-a ADDRESS`, the allow list): when any is configured, only they are
//!   answered, never rate-limited (a reply goes back to a balancer, one per request and never
//!   larger, so there is nothing to amplify), and every other source is refused.
//! - **Everyone else** (no allow list): a token bucket per source address, refilled at
//!   `per_second` up to `burst`. The table of buckets is bounded in two generations: when the
//!   current one is full it becomes the previous one and a new one starts; a source found in
//!   the previous generation moves back with its bucket. A flood from many (spoofed) addresses
//!   therefore only pushes old entries out, and a source pushed out starts again with a full
//!   bucket: no new source is ever refused because the table is full, so a balancer probing
//!   every few seconds is always answered, whatever else arrives. A flood from one address
//!   costs one bucket.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    /// Over the source's rate.
    RateLimited,
    /// An allow list is configured and the source is not on it.
    NotAllowed,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct Admission {
    balancers: HashSet<IpAddr>,
    per_second: f64,
    burst: f64,
    generation_size: usize,
    current: HashMap<IpAddr, Bucket>,
    previous: HashMap<IpAddr, Bucket>,
}

impl Admission {
    pub const DEFAULT_PER_SECOND: f64 = 20.0;
    pub const DEFAULT_BURST: f64 = 40.0;
    /// Sources per generation: at most twice this many buckets are held.
    pub const DEFAULT_GENERATION_SIZE: usize = 4096;

    pub fn new(
        balancers: impl IntoIterator<Item = IpAddr>,
        per_second: f64,
        burst: f64,
        generation_size: usize,
    ) -> Admission {
        Admission {
            // An IPv4 balancer asking a dual-stack socket arrives as ::ffff:a.b.c.d.
            balancers: balancers.into_iter().map(|ip| ip.to_canonical()).collect(),
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            generation_size: generation_size.max(1),
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    /// With the default rates.
    pub fn with_balancers(balancers: impl IntoIterator<Item = IpAddr>) -> Admission {
        Admission::new(
            balancers,
            Admission::DEFAULT_PER_SECOND,
            Admission::DEFAULT_BURST,
            Admission::DEFAULT_GENERATION_SIZE,
        )
    }

    /// Whether a request from `source` at `now` is answered (taking a token if so).
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> Verdict {
        let source = source.to_canonical();
        if !self.balancers.is_empty() {
            return if self.balancers.contains(&source) {
                Verdict::Answer
            } else {
                Verdict::NotAllowed
            };
        }
        let bucket = match self.current.get_mut(&source) {
            Some(bucket) => bucket,
            None => {
                let carried = self.previous.remove(&source).unwrap_or(Bucket {
                    tokens: self.burst,
                    last: now,
                });
                if self.current.len() >= self.generation_size {
                    self.previous = std::mem::take(&mut self.current);
                }
                self.current.entry(source).or_insert(carried)
            }
        };
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Answer
        } else {
            Verdict::RateLimited
        }
    }

    /// Whether an authenticated request (its MAC checked: it comes from a key holder) from
    /// `source` is answered: only the allow list applies.
    pub fn admit_authenticated(&self, source: IpAddr) -> Verdict {
        if self.balancers.is_empty() || self.balancers.contains(&source.to_canonical()) {
            Verdict::Answer
        } else {
            Verdict::NotAllowed
        }
    }

    /// How many sources have a bucket.
    #[cfg(test)]
    pub fn sources(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn limiter(generation_size: usize) -> Admission {
        Admission::new([], 10.0, 5.0, generation_size)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut admission = limiter(16);
        let answered = (0..20)
            .filter(|_| admission.admit(ip(1), start) == Verdict::Answer)
            .count();
        assert_eq!(answered, 5);
        assert_eq!(admission.admit(ip(1), start), Verdict::RateLimited);
        // Another source has its own bucket.
        assert_eq!(admission.admit(ip(2), start), Verdict::Answer);
        // 0.5 s later five more tokens, no more.
        let later = start + Duration::from_millis(500);
        let answered = (0..20)
            .filter(|_| admission.admit(ip(1), later) == Verdict::Answer)
            .count();
        assert_eq!(answered, 5);
    }

    #[test]
    fn a_flood_of_new_sources_never_locks_a_quiet_one_out() {
        // Many more spoofed sources than the table holds, all at the same instant (nothing has
        // refilled): the balancer's next probe is still answered.
        let start = Instant::now();
        let mut admission = limiter(64);
        let balancer = ip(1_000_000);
        assert_eq!(admission.admit(balancer, start), Verdict::Answer);
        for round in 0..5u32 {
            for n in 0..1000 {
                let _ = admission.admit(ip(round * 1000 + n), start);
            }
            assert_eq!(
                admission.admit(balancer, start),
                Verdict::Answer,
                "round {round}"
            );
            assert!(admission.sources() <= 2 * 64);
        }
    }

    #[test]
    fn a_busy_source_keeps_its_bucket_across_one_generation() {
        let start = Instant::now();
        let mut admission = limiter(4);
        for _ in 0..5 {
            assert_eq!(admission.admit(ip(1), start), Verdict::Answer);
        }
        assert_eq!(admission.admit(ip(1), start), Verdict::RateLimited);
        // Four new sources start a new generation; ip(1) is in the previous one, still empty.
        for n in 2..6 {
            assert_eq!(admission.admit(ip(n), start), Verdict::Answer);
        }
        assert_eq!(admission.admit(ip(1), start), Verdict::RateLimited);
    }

    #[test]
    fn with_an_allow_list_only_balancers_are_answered_and_never_limited() {
        let start = Instant::now();
        let balancer = ip(43);
        let mut admission = Admission::new([balancer], 10.0, 5.0, 16);
        for _ in 0..1000 {
            assert_eq!(admission.admit(balancer, start), Verdict::Answer);
        }
        assert_eq!(admission.admit(ip(44), start), Verdict::NotAllowed);
        assert_eq!(admission.sources(), 0, "refused sources cost no memory");
        let IpAddr::V4(v4) = balancer else {
            unreachable!()
        };
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        assert_eq!(admission.admit(mapped, start), Verdict::Answer);
        assert_eq!(admission.admit_authenticated(balancer), Verdict::Answer);
        assert_eq!(admission.admit_authenticated(ip(44)), Verdict::NotAllowed);
    }

    #[test]
    fn authenticated_requests_are_not_rate_limited() {
        let start = Instant::now();
        let mut admission = limiter(16);
        for _ in 0..5 {
            assert_eq!(admission.admit(ip(1), start), Verdict::Answer);
        }
        assert_eq!(admission.admit(ip(1), start), Verdict::RateLimited);
        assert_eq!(admission.admit_authenticated(ip(1)), Verdict::Answer);
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_mint_tokens() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut admission = Admission::new([], 1.0, 1.0, 4);
        assert_eq!(admission.admit(ip(1), start), Verdict::Answer);
        assert_eq!(
            admission.admit(ip(1), start - Duration::from_secs(5)),
            Verdict::RateLimited
        );
    }
}
