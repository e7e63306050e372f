//! Per-source rate limiting for the agent, pure (the caller passes the time): a token bucket per
//! source address, refilled at `per_second` up to `burst`. The table is bounded: when it is full,
//! sources whose buckets have refilled completely are forgotten (they would start full anyway);
//! if none has, a new source is refused until one does. A balancer probes every few seconds, so
//! the defaults leave it far from the limit while a flood from one address costs one bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    pub const DEFAULT_PER_SECOND: f64 = 20.0;
    pub const DEFAULT_BURST: f64 = 40.0;
    pub const DEFAULT_MAX_SOURCES: usize = 4096;

    pub fn new(per_second: f64, burst: f64, max_sources: usize) -> RateLimiter {
        RateLimiter {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Whether a packet from `source` at `now` may be answered (and takes its token if so).
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            self.forget_refilled(now);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many sources are tracked.
    #[cfg(test)]
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    fn forget_refilled(&mut self, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.per_second);
        self.buckets
            .retain(|_, bucket| now.saturating_duration_since(bucket.last) < refill);
    }
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter::new(
            RateLimiter::DEFAULT_PER_SECOND,
            RateLimiter::DEFAULT_BURST,
            RateLimiter::DEFAULT_MAX_SOURCES,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10.0, 5.0, 16);
        let allowed = (0..20).filter(|_| limiter.allow(ip(1), start)).count();
        assert_eq!(allowed, 5);
        // Another source has its own bucket.
        assert!(limiter.allow(ip(2), start));
        // 0.5 s later five more tokens, no more.
        let later = start + Duration::from_millis(500);
        let allowed = (0..20).filter(|_| limiter.allow(ip(1), later)).count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_idle_sources() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10.0, 5.0, 2);
        assert!(limiter.allow(ip(1), start));
        assert!(limiter.allow(ip(2), start));
        assert!(!limiter.allow(ip(3), start), "table full of busy sources");
        assert!(limiter.allow(ip(1), start), "known sources still served");
        // After a full refill (0.5 s) the old entries are dropped and room is made.
        assert!(limiter.allow(ip(3), start + Duration::from_secs(1)));
        assert!(limiter.sources() <= 2);
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_mint_tokens() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut limiter = RateLimiter::new(1.0, 1.0, 4);
        assert!(limiter.allow(ip(1), start));
        assert!(!limiter.allow(ip(1), start - Duration::from_secs(5)));
    }
}
