//! The cost of the protection checks on the hot path, in nanoseconds per decision: an access
//! list of eight rules, and the rate table (65 536 buckets) for one busy client, for ten
//! thousand clients in turn, and for a flood in which every query is a new source (each one an
//! insert that replaces another bucket). Each case runs N decisions (default 20 000 000) in R
//! rounds (default 5) and prints the median of the CPU time per decision (from
//! /proc/self/stat, so other processes on a shared machine do not count) beside the wall time.
//!
//! `cargo run --release -p fulcrum-core --example protect_bench [-- --decisions N --rounds R]`

// Not part of the pure library: this program measures time: reading the clock is its job.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use fulcrum_core::protect::{Acl, Action, Limit, Prefix, RateTable, Rule};

/// CPU time this process has used, in seconds (utime + stime, USER_HZ 100).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some(close) = stat.rfind(')') else {
        return f64::NAN;
    };
    let fields: Vec<f64> = stat[close + 2..]
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

fn v4(bits: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(bits))
}

/// (CPU ns, wall ns) per decision of `decide` over `n` decisions.
fn measure(n: u32, mut decide: impl FnMut(u32) -> bool) -> (f64, f64) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let mut admitted = 0u32;
    for i in 0..n {
        admitted += u32::from(decide(i));
    }
    black_box(admitted);
    let per = |seconds: f64| seconds * 1e9 / f64::from(n);
    (per(cpu_seconds() - cpu), per(wall.elapsed().as_secs_f64()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u32| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let (n, rounds) = (
        value("--decisions", 20_000_000),
        value("--rounds", 5).max(1),
    );
    let rules: Vec<Rule> = [
        (Action::Deny, "0.0.0.0", 0),
        (Action::Allow, "10.0.0.0", 8),
        (Action::Allow, "172.16.0.0", 12),
        (Action::Allow, "192.168.0.0", 16),
        (Action::Deny, "10.66.0.0", 16),
        (Action::Deny, "::", 0),
        (Action::Allow, "2001:db8::", 32),
        (Action::Allow, "10.1.2.3", 32),
    ]
    .iter()
    .filter_map(|(action, addr, len)| {
        Some(Rule {
            action: *action,
            prefix: Prefix::new(addr.parse().ok()?, *len)?,
        })
    })
    .collect();
    let acl = Acl::new(&rules);
    let limit = Limit::new(1_000_000, 1_000_000);
    let key = (0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
    let table = RateTable::new(65_536, limit, key);
    let flood_table = RateTable::new(65_536, Limit::new(100, 100), key);
    type Case<'a> = (&'a str, Box<dyn FnMut(u32) -> bool + 'a>);
    let mut cases: Vec<Case> = vec![
        (
            "acl, 8 rules",
            Box::new(|i| acl.admits(v4(0x0a00_0000 | (i & 0xffff)))),
        ),
        (
            "ratelimit, one client",
            Box::new(|i| {
                let now = u64::from(i >> 10);
                table.check(v4(0x0a00_0001), now) == fulcrum_core::protect::Decision::Pass
            }),
        ),
        (
            "ratelimit, 10 000 clients in turn",
            Box::new(|i| {
                let now = u64::from(i >> 10);
                let client = v4(0x0a01_0000 + i % 10_000);
                table.check(client, now) == fulcrum_core::protect::Decision::Pass
            }),
        ),
        (
            "ratelimit, a new source every query",
            Box::new(|i| {
                let now = u64::from(i >> 10);
                let client = v4(0xc612_0000 ^ i.wrapping_mul(2_654_435_761));
                flood_table.check(client, now) == fulcrum_core::protect::Decision::Pass
            }),
        ),
    ];
    println!(
        "protect_bench: {n} decisions x {rounds} rounds per case, medians (table: {} bytes)",
        table.memory_bytes()
    );
    for (name, decide) in cases.iter_mut() {
        let runs: Vec<(f64, f64)> = (0..rounds).map(|_| measure(n, &mut *decide)).collect();
        let cpu = median(runs.iter().map(|r| r.0).collect());
        let wall = median(runs.iter().map(|r| r.1).collect());
        println!("  {name:<38} {cpu:7.1} ns CPU  {wall:7.1} ns wall");
    }
}
