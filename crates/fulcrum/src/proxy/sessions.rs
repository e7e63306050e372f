//! The session table shared by every UDP worker and the TCP relay: the core's single-threaded
//! [`SessionTable`] split into shards by client address, a mutex per shard. A worker holds one
//! shard's lock for one lookup or insert (tens of nanoseconds), so with a handful of workers
//! and many shards contention is rare. Time is whole seconds since the proxy started.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fulcrum_core::balance::Chooser;
use fulcrum_core::session::{render_show_sessions_of, shard_of, SessionRow, SessionTable};

/// Enough shards that two workers rarely meet on one lock.
pub const SHARDS: usize = 64;
/// Sessions visited per shard per expiry sweep, so a sweep never holds a lock for long.
const EXPIRE_VISITS_PER_SHARD: usize = 20_000;

pub struct Sessions {
    shards: Arc<[Mutex<SessionTable>]>,
    max_sessions: u64,
    started: Instant,
    /// Session events for sync, and its way into these tables.
    sync: crate::sync::tap::Tap,
}

fn lock(shard: &Mutex<SessionTable>) -> MutexGuard<'_, SessionTable> {
    // A panic while holding the lock cannot leave the table half-updated in a way that matters
    // more than losing all sessions would, so keep going with what is there.
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A seed for a table's slot hash. Without a random source the tables still work, only with
/// a hash a client could predict; the time of day is the fallback.
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return nanos;
    }
    u64::from_le_bytes(bytes)
}

impl Sessions {
    pub fn new(max_sessions: u64, started: Instant) -> Sessions {
        let per_shard = max_sessions.div_ceil(SHARDS as u64);
        let per_shard = usize::try_from(per_shard).unwrap_or(usize::MAX);
        let shards: Arc<[Mutex<SessionTable>]> = (0..SHARDS)
            .map(|_| Mutex::new(SessionTable::with_seed(per_shard, random_seed())))
            .collect();
        Sessions {
            sync: crate::sync::tap::register(module_path!(), &shards, started),
            shards,
            max_sessions,
            started,
        }
    }

    pub fn max_sessions(&self) -> u64 {
        self.max_sessions
    }

    /// Seconds since the proxy started: the table's clock.
    pub fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn shard(&self, client: IpAddr) -> (usize, MutexGuard<'_, SessionTable>) {
        let index = shard_of(client, SHARDS);
        (index, lock(&self.shards[index]))
    }

    /// The client's live session on `server` (refreshed), if any.
    pub fn lookup(&self, server: u32, client: IpAddr, now: u32) -> Option<u32> {
        let (index, mut table) = self.shard(client);
        self.sync.lookup(&mut table, index, server, client, now)
    }

    pub fn insert(&self, server: u32, client: IpAddr, target: u32, now: u32, timeout: u32) {
        let (index, mut table) = self.shard(client);
        self.sync
            .insert(&mut table, index, server, client, target, now, timeout);
    }

    /// Sessions on `target` across all shards.
    pub fn count_on(&self, target: u32) -> u64 {
        self.shards.iter().map(|s| lock(s).count_on(target)).sum()
    }

    /// Sessions of `server` across all shards (walks the tables: control path only).
    pub fn count_of_server(&self, server: u32) -> u64 {
        self.shards
            .iter()
            .map(|s| lock(s).iter().filter(|row| row.server == server).count() as u64)
            .sum()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Removes idle sessions, a bounded amount of work per shard; returns how many.
    pub fn expire(&self, now: u32) -> usize {
        self.shards
            .iter()
            .map(|s| lock(s).expire_bounded(now, EXPIRE_VISITS_PER_SHARD))
            .sum()
    }

    /// Moves the sessions of `server` on target `from` to `repick(client)` (removed on None).
    pub fn move_target(
        &self,
        server: u32,
        from: u32,
        repick: &mut dyn FnMut(IpAddr) -> Option<u32>,
    ) -> usize {
        (self.shards.iter().enumerate())
            .map(|(i, s)| (self.sync).move_target(&mut lock(s), i, server, from, repick))
            .sum()
    }

    /// A target of a `method session` server went down: its sessions move at once to where
    /// the server's hash places each client now (issue 4: UDP clients must not keep flowing to
    /// a dead target), logged under `plane`'s name.
    pub fn move_off(&self, plane: &str, server: u32, target: u32, chooser: &Chooser) {
        let moved = self.move_target(server, target, &mut |client| chooser.hash_choice(client));
        if moved > 0 {
            tracing::info!("{plane}: server {server}: {moved} sessions moved off target {target}");
        }
    }

    /// `show sessions [N|all]`: the newest `limit` rows of each shard (`None`: all), merged by
    /// the core's renderer (most recently active first).
    pub fn show(&self, limit: Option<usize>) -> String {
        // The renderer reads `None` as its default row count; ours means all.
        let rows_wanted = limit.unwrap_or(usize::MAX);
        let now = self.now();
        let mut total = 0;
        let mut rows: Vec<SessionRow> = Vec::new();
        for shard in self.shards.iter() {
            let table = lock(shard);
            total += table.len();
            rows.extend(table.newest(rows_wanted.min(table.len())));
        }
        render_show_sessions_of(total, rows, now, Some(rows_wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_table_behaves_as_one() {
        let sessions = Sessions::new(1000, Instant::now());
        for i in 0..200u32 {
            let client = IpAddr::from([10, 0, (i / 256) as u8, i as u8]);
            sessions.insert(1, client, 1 + i % 2, 5, 600);
        }
        assert_eq!(sessions.len(), 200);
        assert_eq!(sessions.count_on(1), 100);
        assert_eq!(sessions.count_of_server(1), 200);
        assert_eq!(sessions.count_of_server(2), 0);
        let c = IpAddr::from([10, 0, 0, 3]);
        assert_eq!(sessions.lookup(1, c, 6), Some(2));
        let moved = sessions.move_target(1, 2, &mut |_| Some(1));
        assert_eq!(moved, 100);
        assert_eq!(sessions.count_on(1), 200);
        assert_eq!(sessions.expire(10_000), 200);
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn show_lists_the_newest_first_with_the_total() {
        let sessions = Sessions::new(1000, Instant::now());
        for i in 0..30u8 {
            sessions.insert(1, IpAddr::from([10, 1, 60, i]), 1, u32::from(i), 600);
        }
        let text = sessions.show(Some(5));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("30 sessions"));
        assert!(text.contains("10.1.60.29"), "{text}");
        assert!(!text.contains("10.1.60.3 "), "{text}");
        assert!(text.contains("remaining sessions not shown"), "{text}");
    }
}
