//! Reading what `show` commands print: rows of `show targets`, the sessions of `show sessions
//! all`, a number after a word (`show sync`, `show vrrp`), the `state` line of `show vrrp`, and
//! the `FILE:LINE:COL: error:` lines of `fulcrum check`. Pure text functions: the tests fetch
//! the text with [`crate::control`].

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A session as `show sessions all` lists it: (hash, address, server, target).
pub type Session = (String, String, String, String);

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

/// The cells of target `id`'s row in `show targets` (the rows below the `---` rule):
/// [id, ip, port, proto, weight, dsr, reg, ena, op, ...counters].
pub fn target_row(table: &str, id: u32) -> Option<Vec<String>> {
    table
        .lines()
        .skip_while(|line| !line.starts_with("---"))
        .skip(1)
        .map(|line| {
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(&id.to_string()))
}

/// (queries, responses) of target `id` in `show targets` (DSR: frames forwarded to it).
pub fn target_counts(table: &str, id: u32) -> Option<(u64, u64)> {
    // A row: id ip-address port proto weight dsr reg ena op queries responses timeouts drops
    // sessions (the `2 targets` title also starts with a number, hence the cell count).
    let cells: Vec<&str> = table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<&str>>())
        .find(|cells| cells.len() >= 14 && cells[0] == id.to_string())?;
    let n = cells.len();
    Some((
        cells.get(n - 5)?.parse().ok()?,
        cells.get(n - 4)?.parse().ok()?,
    ))
}

/// `show sessions all` as (hash, address, server, target) rows.
pub fn sessions(text: &str) -> BTreeSet<Session> {
    text.lines()
        .skip(3)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() == 7).then(|| (f[0].into(), f[1].into(), f[3].into(), f[4].into()))
        })
        .collect()
}

/// The number right after the word `word` anywhere in `text` (`show sync`'s counters).
pub fn number_after(text: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .find_map(|w| (w[0] == word).then(|| w[1].parse().ok()).flatten())
}

/// What follows `key ` on the line starting with it (`show vrrp`'s `state MASTER`, counters).
pub fn value_of(text: &str, key: &str) -> Option<String> {
    let prefix = format!("{key} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

/// True when `text` has a line `FILE:LINE:COL: error: ...` for `file`.
pub fn has_positioned_error(text: &str, file: &str) -> bool {
    text.lines().any(|line| {
        let Some(rest) = line.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
            return false;
        };
        let mut parts = rest.splitn(3, ':');
        let numeric = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        numeric(parts.next())
            && numeric(parts.next())
            && parts.next().is_some_and(|r| r.starts_with(" error: "))
    })
}
