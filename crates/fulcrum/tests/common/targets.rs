//! Reading `show targets`, for the support modules of several test binaries (`common::targets`).

use std::time::{Duration, Instant};

/// The `op` column of target `id`'s row in `show targets` (the row starts with the id and an
/// address, which the per-check lines under it do not), or what is wrong with the table.
pub fn operational_in(table: &str, id: u32) -> Result<bool, String> {
    let row = table
        .lines()
        .find(|l| {
            let mut cells = l.split_whitespace();
            cells.next() == Some(&id.to_string())
                && cells
                    .next()
                    .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok())
        })
        .ok_or_else(|| format!("no row for target {id}:\n{table}"))?;
    // tgt ip-address port proto weight dsr reg ena op ...
    match row.split_whitespace().nth(8) {
        Some("yes") => Ok(true),
        Some("no") => Ok(false),
        other => Err(format!("op column {other:?} in {row:?}")),
    }
}

/// Polls `operational` until it says `up`; returns how long that took. On timeout, panics with
/// `report()` (the table and the daemon's log).
pub fn wait_operational(
    id: u32,
    up: bool,
    within: Duration,
    operational: impl Fn() -> bool,
    report: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    loop {
        if operational() == up {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "target {id} not {} within {within:?}:\n{}",
            if up { "up" } else { "down" },
            report()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
