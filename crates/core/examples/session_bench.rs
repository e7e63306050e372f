//! Session table benchmark: inserts N sessions (default 10,000,000, the default `maxsessions`)
//! into a table bounded at N, then looks every one up, in three rounds, and prints the bytes per
//! session (the table's own accounting and the process's resident-set growth from
//! /proc/self/status) and the median inserts and lookups per second.
//!
//! `cargo run --release -p fulcrum-core --example session_bench [-- --sessions N --rounds R]`

// Not part of the pure library: this program measures time: reading the clock is its job.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use fulcrum_core::session::SessionTable;

/// A bijection on u32 (odd multiplier), so N indices give N distinct, scattered addresses.
fn address(index: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        index.wrapping_mul(2_654_435_761) ^ 0x0A00_0000,
    ))
}

/// Resident set size in bytes, from /proc/self/status (`VmRSS: N kB`).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time this process has used, in seconds, from /proc/self/stat (utime + stime, in the
/// kernel's fixed USER_HZ of 100 ticks a second). On a shared machine this, not the wall
/// clock, tells what an operation costs.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn cpu_since(start: Option<f64>) -> Option<f64> {
    Some(cpu_seconds()? - start?)
}

struct Round {
    table_bytes: usize,
    rss_delta: Option<u64>,
    inserts_per_sec: f64,
    lookups_per_sec: f64,
    insert_cpu: Option<f64>,
    lookup_cpu: Option<f64>,
}

fn round(sessions: u32) -> Round {
    let rss_before = rss_bytes();
    let mut table = SessionTable::new(sessions as usize);
    let cpu = cpu_seconds();
    let started = Instant::now();
    for n in 0..sessions {
        // A hundred thousand new clients a second on the table's clock (all within the 600 s
        // timeout at lookup time), four targets.
        table.insert(1, address(n), n % 4 + 1, n / 100_000, 600);
    }
    let insert_time = started.elapsed().as_secs_f64();
    let insert_cpu = cpu_since(cpu);
    let rss_after = rss_bytes();
    assert_eq!(table.len(), sessions as usize);

    let now = sessions / 100_000 + 1;
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut found = 0u64;
    for n in 0..sessions {
        // A different order from the inserts: a stride coprime with any count up to 2^32 / 7919.
        let index = ((u64::from(n) * 7919) % u64::from(sessions)) as u32;
        if table.lookup(1, address(index), now).is_some() {
            found += 1;
        }
    }
    let lookup_time = started.elapsed().as_secs_f64();
    let lookup_cpu = cpu_since(cpu);
    assert_eq!(found, u64::from(sessions), "every session is found");
    Round {
        table_bytes: table.memory_bytes(),
        rss_delta: rss_before.zip(rss_after).map(|(b, a)| a.saturating_sub(b)),
        inserts_per_sec: f64::from(sessions) / insert_time,
        lookups_per_sec: f64::from(sessions) / lookup_time,
        insert_cpu,
        lookup_cpu,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut sessions: u32 = 10_000_000;
    let mut rounds: usize = 3;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value) {
            ("--sessions", Some(v)) => sessions = v.clamp(1, u64::from(u32::MAX / 2)) as u32,
            ("--rounds", Some(v)) => rounds = (v as usize).clamp(1, 99),
            _ => {
                eprintln!("usage: session_bench [--sessions N] [--rounds R]");
                std::process::exit(2);
            }
        }
    }
    println!("session table: {sessions} IPv4 sessions, max_sessions {sessions}, {rounds} rounds");
    let mut results = Vec::new();
    for number in 1..=rounds {
        let r = round(sessions);
        println!(
            "round {number}: {:.1} bytes/session (table), {} bytes/session (RSS delta), {:.2} M inserts/s, {:.2} M lookups/s",
            r.table_bytes as f64 / f64::from(sessions),
            r.rss_delta
                .map(|d| format!("{:.1}", d as f64 / f64::from(sessions)))
                .unwrap_or_else(|| "?".to_string()),
            r.inserts_per_sec / 1e6,
            r.lookups_per_sec / 1e6,
        );
        if let (Some(insert), Some(lookup)) = (r.insert_cpu, r.lookup_cpu) {
            println!(
                "         CPU {:.0} ns/insert (growth included), {:.0} ns/lookup",
                insert * 1e9 / f64::from(sessions),
                lookup * 1e9 / f64::from(sessions)
            );
        }
        results.push(r);
    }
    let first = &results[0];
    println!(
        "bytes per session (table accounting): {:.1}",
        first.table_bytes as f64 / f64::from(sessions)
    );
    match first.rss_delta {
        Some(delta) => println!(
            "bytes per session (RSS delta, round 1): {:.1}",
            delta as f64 / f64::from(sessions)
        ),
        None => println!("bytes per session (RSS delta): unavailable (no /proc/self/status)"),
    }
    println!(
        "inserts per second (median of {rounds}): {:.0}",
        median(results.iter().map(|r| r.inserts_per_sec).collect())
    );
    println!(
        "lookups per second (median of {rounds}): {:.0}",
        median(results.iter().map(|r| r.lookups_per_sec).collect())
    );
    let cpu_rate = |pick: fn(&Round) -> Option<f64>| -> Option<f64> {
        let times: Option<Vec<f64>> = results.iter().map(pick).collect();
        Some(f64::from(sessions) / median(times?))
    };
    if let (Some(inserts), Some(lookups)) = (cpu_rate(|r| r.insert_cpu), cpu_rate(|r| r.lookup_cpu))
    {
        println!("per CPU-second (median of {rounds}): {inserts:.0} inserts, {lookups:.0} lookups");
    }
}
