//! The bucket arithmetic on a virtual clock, the grouping by prefix, and the property the table
//! exists for: a flood of random addresses through a small table leaves a steady client its
//! bucket and its rate.

use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const KEY: (u64, u64) = (0x0123_4567, 0x89ab_cdef);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn passes(table: &RateTable, client: IpAddr, now_ms: u64, queries: u32) -> u32 {
    (0..queries)
        .filter(|_| table.check(client, now_ms) == Decision::Pass)
        .count() as u32
}

#[test]
fn a_burst_then_the_sustained_rate() {
    let table = RateTable::new(64, Limit::new(10, 5), KEY);
    let client = ip("192.0.2.1");
    assert_eq!(passes(&table, client, 0, 8), 5, "the burst, then nothing");
    assert_eq!(passes(&table, client, 99, 1), 0, "0.99 token after 99 ms");
    assert_eq!(
        passes(&table, client, 100, 2),
        1,
        "one token per 100 ms at 10 qps"
    );
    // Over ten seconds at 100 queries a second: 10 a second get through.
    let through: u32 = (1..=1000)
        .map(|i| passes(&table, client, 100 + i * 10, 1))
        .sum();
    assert_eq!(through, 100);
    // Idle for a minute: back to the full burst, never more.
    assert_eq!(passes(&table, client, 70_000, 20), 5);
    assert_eq!(table.counters().inserted, 1);
}

#[test]
fn clients_are_grouped_by_prefix() {
    let table = RateTable::new(64, Limit::new(1, 2), KEY);
    // Two addresses of one IPv6 /64 share a bucket; another /64 has its own.
    assert_eq!(passes(&table, ip("2001:db8:0:1::1"), 0, 1), 1);
    assert_eq!(passes(&table, ip("2001:db8:0:1::2"), 0, 3), 1);
    assert_eq!(passes(&table, ip("2001:db8:0:2::1"), 0, 3), 2);
    // IPv4 by address, and an IPv4-mapped IPv6 address is that IPv4 client.
    assert_eq!(passes(&table, ip("192.0.2.1"), 0, 1), 1);
    assert_eq!(passes(&table, ip("::ffff:192.0.2.1"), 0, 3), 1);
    assert_eq!(passes(&table, ip("192.0.2.2"), 0, 3), 2);
    assert_eq!(table.len(), 4);

    let by_24 = RateTable::new(
        64,
        Limit {
            v4_prefix: 24,
            ..Limit::new(1, 2)
        },
        KEY,
    );
    assert_eq!(passes(&by_24, ip("192.0.2.1"), 0, 1), 1);
    assert_eq!(passes(&by_24, ip("192.0.2.200"), 0, 3), 1);
}

#[test]
fn memory_is_fixed_and_the_table_never_holds_more_than_its_capacity() {
    let table = RateTable::new(1000, Limit::new(5, 5), KEY);
    assert_eq!(table.capacity(), 1024);
    let memory = table.memory_bytes();
    assert_eq!(memory, RateTable::memory_for(1000));
    assert_eq!(BUCKET_BYTES, 24);
    for i in 0..100_000u32 {
        table.check(
            IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761))),
            u64::from(i),
        );
    }
    assert_eq!(table.len(), 1024);
    assert_eq!(table.memory_bytes(), memory);
    assert!(memory < 1024 * 64, "{memory} bytes for 1024 buckets");
    assert_eq!(table.counters().inserted, 100_000);
    assert_eq!(table.counters().replaced, 100_000 - 1024);
}

#[test]
fn a_lower_limit_cuts_full_buckets_and_new_grouping_starts_afresh() {
    let table = RateTable::new(64, Limit::new(1, 10), KEY);
    table.check(ip("192.0.2.1"), 0);
    table.set_limit(Limit::new(1, 2));
    assert_eq!(passes(&table, ip("192.0.2.1"), 0, 5), 2);
    table.set_limit(Limit {
        v4_prefix: 24,
        ..Limit::new(1, 2)
    });
    assert!(table.is_empty());
}

#[test]
fn the_32_bit_clock_wraps_without_starving_a_bucket() {
    let table = RateTable::new(64, Limit::new(1, 1), KEY);
    let client = ip("192.0.2.1");
    let before_wrap = u64::from(u32::MAX) - 100;
    assert_eq!(passes(&table, client, before_wrap, 2), 1);
    assert_eq!(
        passes(&table, client, before_wrap + 1_100, 1),
        1,
        "across the wrap"
    );
    // Idle for 30 days: back to its burst, not stuck behind a clock it reads as earlier.
    let month = before_wrap + 1_100 + 30 * 86_400_000;
    assert_eq!(passes(&table, client, month, 2), 1);
}

#[test]
fn a_clock_going_backwards_gives_no_tokens() {
    let table = RateTable::new(64, Limit::new(1, 1), KEY);
    let client = ip("192.0.2.1");
    assert_eq!(passes(&table, client, 10_000, 1), 1);
    assert_eq!(passes(&table, client, 5_000, 1), 0);
    assert_eq!(
        passes(&table, client, 10_500, 1),
        0,
        "no refill counted twice"
    );
    assert_eq!(passes(&table, client, 11_000, 1), 1);
}

/// 4096 buckets (in 1024 sets), 50 steady clients asking 20 times a second (limit 10), and from
/// the second second on a flood of 100 000 random addresses a second: about 5 pass through each
/// set between two queries of a steady client, 300 000 prefixes through a table of 4096. Every
/// steady client keeps its bucket (its limit holds: 10 a second, never a fresh burst after an
/// eviction, as a least-recently-used table would give it) and is served at its limit.
#[test]
fn a_random_flood_does_not_evict_steady_clients() {
    let table = RateTable::new(4096, Limit::new(10, 10), KEY);
    let steady: Vec<IpAddr> = (1..=50)
        .map(|i| IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)))
        .collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut served = vec![0u32; steady.len()];
    for ms in 0..3_000u64 {
        for _ in 0..if ms < 1000 { 0 } else { 100 } {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let random = IpAddr::V6(Ipv6Addr::from(u128::from(rng) << 64 | u128::from(rng)));
            table.check(random, ms);
        }
        if ms % 50 == 0 {
            for (i, client) in steady.iter().enumerate() {
                served[i] += passes(&table, *client, ms, 1);
            }
        }
    }
    for (i, count) in served.iter().enumerate() {
        // 10 burst + 10/s for 3 s = 40 at most of its 60 queries; an evicted client would get
        // a fresh burst (more), a client crowded out none (less).
        assert!((37..=40).contains(count), "client {i} served {count}");
    }
    assert!(
        table.counters().replaced > 190_000,
        "{:?}",
        table.counters()
    );
}

/// A budget of 3000 units refilled at 1000 a second: charged after the fact, it may owe up to
/// one burst, and nothing passes until the debt is paid back.
#[test]
fn a_budget_is_charged_after_the_fact_and_its_debt_paid_back() {
    let table = RateTable::new(64, Limit::new(1000, 3000), KEY);
    let client = ip("192.0.2.1");
    assert_eq!(
        table.within_budget(client, 0),
        Decision::Pass,
        "a new client"
    );
    table.charge(client, 2000, 0);
    assert_eq!(table.within_budget(client, 0), Decision::Pass, "1000 left");
    table.charge(client, 2000, 0);
    assert_eq!(
        table.within_budget(client, 0),
        Decision::Exceeded,
        "owes 1000"
    );
    assert_eq!(
        table.within_budget(client, 1000),
        Decision::Exceeded,
        "paid back to 0"
    );
    assert_eq!(table.within_budget(client, 1001), Decision::Pass);
    // At most one burst of debt, however much is charged.
    table.charge(client, 1_000_000, 1001);
    assert_eq!(table.within_budget(client, 4001), Decision::Exceeded);
    assert_eq!(table.within_budget(client, 4002), Decision::Pass);
    // A client the table does not hold is not charged (nor given a bucket by it).
    table.charge(ip("192.0.2.2"), 5000, 0);
    assert_eq!(table.len(), 1);
}

/// Four threads asking for one client at once, on a clock that does not move: the burst and at
/// most one racing first query per thread, never more (the token word is only ever replaced by
/// compare-and-swap).
#[test]
fn racing_threads_take_no_more_than_the_burst() {
    for round in 0..20u64 {
        let table = RateTable::new(64, Limit::new(1, 100), (round, !round));
        let client = ip("192.0.2.1");
        let passed: u32 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| passes(&table, client, 5, 1000)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        assert!((100..=104).contains(&passed), "round {round}: {passed}");
    }
}

proptest! {
    /// Whatever the arrival times, a prefix never gets more than burst + qps x elapsed.
    #[test]
    fn never_more_than_the_bucket_allows(
        qps in 1u32..1000,
        burst in 1u32..100,
        gaps in proptest::collection::vec(0u64..50, 1..400),
    ) {
        let table = RateTable::new(8, Limit::new(qps, burst), KEY);
        let client = ip("2001:db8::1");
        let mut now = 0;
        let mut passed = 0u64;
        for gap in gaps {
            now += gap;
            if table.check(client, now) == Decision::Pass {
                passed += 1;
            }
        }
        let allowed = u64::from(burst) + u64::from(qps) * now / 1000;
        prop_assert!(passed <= allowed, "{passed} > {allowed}");
    }
}
