//! Reading what `show` commands answer: from the JSON documents (`fulcrum control --json`,
//! fetched with [`crate::control::show`]) the rows of `show targets`, the sessions of `show
//! sessions all`, the state of `show vrrp`; from text, for the tests that check what an operator
//! reads, a number after a word, the value of a `key value` line, and the `FILE:LINE:COL: error:`
//! lines of `fulcrum check`. Pure functions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub use fulcrum_control::show::{
    AnnounceDoc, CheckRow, ErrorDoc, OkDoc, ServerRow, ServersDoc, SessionsDoc, SyncDetail,
    SyncDoc, TargetRow, TargetsDoc, TcpDoc, VrrpDoc, VrrpInstance,
};

/// A session as `show sessions all` lists it: (hash, address, server, target).
pub type Session = (String, String, String, String);

/// Whether target `id` is operational in `show targets`, or what is wrong with the document.
pub fn operational_in(targets: &TargetsDoc, id: u32) -> Result<bool, String> {
    target_row(targets, id)
        .map(|row| row.operational)
        .ok_or_else(|| format!("no target {id} in {targets:?}"))
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

/// Target `id`'s row in `show targets`.
pub fn target_row(targets: &TargetsDoc, id: u32) -> Option<&TargetRow> {
    targets.targets.iter().find(|row| row.id == id)
}

/// (queries, responses) of target `id` in `show targets` (DSR: frames forwarded to it).
pub fn target_counts(targets: &TargetsDoc, id: u32) -> Option<(u64, u64)> {
    target_row(targets, id).map(|row| (row.counters.queries, row.counters.responses))
}

/// `show sessions all` as (hash, address, server, target) rows.
pub fn sessions(doc: &SessionsDoc) -> BTreeSet<Session> {
    doc.sessions
        .iter()
        .map(|s| {
            (
                s.hash.to_string(),
                s.client.clone(),
                s.server.to_string(),
                s.target.to_string(),
            )
        })
        .collect()
}

/// The IPv4 instance's state in `show vrrp`, spelt as the text form and the seed spell it
/// (`MASTER`, `BACKUP`, `INIT`, `FAULT`); empty when it does not run.
pub fn vrrp_state(doc: &VrrpDoc) -> String {
    doc.ipv4
        .as_ref()
        .map(|v| v.state.to_ascii_uppercase())
        .unwrap_or_default()
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
