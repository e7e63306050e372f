//! `show sessions` in the seed's format:
//!
//! ```text
//! 71 sessions
//! hash     ip-address      port  srv tgt age  stout
//! -------- --------------- ----- --- --- ---- -------
//!  5604999 10.85.134.135     any   1   1   18     600
//! ... remaining sessions not shown
//! ```
//!
//! Contract: the first line counts every session, then come the header, the dashes, and one row
//! per session, most recently active first, under columns as wide as the dashes (titles and the
//! address left-aligned, every other value right-aligned; a longer value widens its row only).
//! `hash` is [`client_hash`], `port` reads `any` for address-only sessions, `age` is
//! `now - last_seen`.
//! When rows are left out, the last line is `... remaining sessions not shown`.

use super::SessionRow;
use crate::balance::client_hash;

/// The column titles, each left-aligned over its column of dashes.
const HEADER: &str = "hash     ip-address      port  srv tgt age  stout";

/// Rows shown by `show sessions` without a count.
pub const DEFAULT_SHOW_ROWS: usize = 20;

/// Renders `rows` (every session of one or more tables). `limit` is the number of rows to show:
/// `None` means [`DEFAULT_SHOW_ROWS`], `Some(usize::MAX)` means all (`show sessions all`).
pub fn render_show_sessions(rows: Vec<SessionRow>, now: u32, limit: Option<usize>) -> String {
    let total = rows.len();
    render_show_sessions_of(total, rows, now, limit)
}

/// Like [`render_show_sessions`] for callers that hold only the newest rows (for example the
/// `limit` newest of each shard, from `SessionTable::newest`): `total` is the count of all
/// sessions, printed on the first line and used to decide whether rows were left out.
pub fn render_show_sessions_of(
    total: usize,
    mut rows: Vec<SessionRow>,
    now: u32,
    limit: Option<usize>,
) -> String {
    // Stable, so sessions active in the same second keep the order they came in.
    rows.sort_by_key(|row| std::cmp::Reverse(row.last_seen));
    let shown = limit.unwrap_or(DEFAULT_SHOW_ROWS).min(rows.len());
    let mut out = format!("{total} sessions\n");
    out.push_str(HEADER);
    out.push('\n');
    out.push_str(&line(
        "--------",
        "---------------",
        "-----",
        "---",
        "---",
        "----",
        "-------",
    ));
    for row in &rows[..shown] {
        let port = match row.port {
            Some(port) => port.to_string(),
            None => "any".to_string(),
        };
        out.push_str(&line(
            &client_hash(row.client).to_string(),
            &row.client.to_string(),
            &port,
            &row.server.to_string(),
            &row.target.to_string(),
            &now.saturating_sub(row.last_seen).to_string(),
            &row.timeout.to_string(),
        ));
    }
    if total > shown {
        out.push_str("... remaining sessions not shown\n");
    }
    out
}

fn line(hash: &str, ip: &str, port: &str, srv: &str, tgt: &str, age: &str, stout: &str) -> String {
    let text = format!("{hash:>8} {ip:<15} {port:>5} {srv:>3} {tgt:>3} {age:>4} {stout:>7}");
    format!("{}\n", text.trim_end())
}
