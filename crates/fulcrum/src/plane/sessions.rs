//! A data plane's session table, shared by all its workers (the proxy's UDP workers and TCP
//! relay, the DSR plane's workers): the core's single-threaded [`SessionTable`] split into
//! shards by client address, a mutex per shard. A worker holds one shard's lock for one lookup
//! or insert (tens of nanoseconds), so with a handful of workers and many shards contention is
//! rare. Time is whole seconds since the plane started. Each table is created for one
//! [`Plane`] on the daemon's [`SyncTap`], with which it registers under that name.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fulcrum_core::balance::{Chooser, SessionStore};
use fulcrum_core::session::{render_show_sessions_of, shard_of, SessionRow, SessionTable};

use crate::plane::tap::{Plane, SyncTap, Tap};

/// Enough shards that two workers rarely meet on one lock.
pub const SHARDS: usize = 64;
/// Sessions visited per shard per expiry sweep, so a sweep never holds a lock for long.
const EXPIRE_VISITS_PER_SHARD: usize = 20_000;

pub struct Sessions {
    shards: Arc<[Mutex<SessionTable>]>,
    /// Per-target counts for `method least`, read per query without a shard lock.
    counts: TargetCounts,
    /// Secret key of the shard choice ([`shard_of`]), random per table set.
    shard_key: u64,
    max_sessions: std::sync::atomic::AtomicU64,
    started: Instant,
    /// Session events for sync, and its way into these tables.
    sync: Tap,
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
pub(crate) fn random_seed() -> u64 {
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
    /// A table on a sync tap of its own (never enabled), for tests of a plane alone.
    #[cfg(test)]
    pub fn new(plane: Plane, max_sessions: u64, started: Instant) -> Sessions {
        Sessions::registered(&SyncTap::new(), plane, max_sessions, started)
    }

    /// A table for `plane` holding at most `max_sessions`, its clock counting from `started`,
    /// registered with `sync` under `plane`.
    pub fn registered(
        sync: &Arc<SyncTap>,
        plane: Plane,
        max_sessions: u64,
        started: Instant,
    ) -> Sessions {
        let per_shard = max_sessions.div_ceil(SHARDS as u64);
        let per_shard = usize::try_from(per_shard).unwrap_or(usize::MAX);
        let shards: Arc<[Mutex<SessionTable>]> = (0..SHARDS)
            .map(|_| Mutex::new(SessionTable::with_seed(per_shard, random_seed())))
            .collect();
        let shard_key = random_seed();
        Sessions {
            sync: sync.register(plane, &shards, shard_key, started),
            counts: TargetCounts::default(),
            shards,
            shard_key,
            max_sessions: max_sessions.into(),
            started,
        }
    }

    pub fn max_sessions(&self) -> u64 {
        self.max_sessions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies `set maxsessions` when it changed, logged under `plane`'s name.
    pub fn apply_bound(&self, plane: &str, max_sessions: u64) {
        if self.max_sessions() != max_sessions {
            let shed = self.set_max_sessions(max_sessions);
            tracing::info!(
                "{plane}: session table bound is now {max_sessions} ({shed} sessions shed)"
            );
        }
    }

    /// Applies `set maxsessions`: each shard gets its part of the bound, keeping every session
    /// that fits (the least recently active beyond it are shed). Returns how many were shed.
    pub fn set_max_sessions(&self, max_sessions: u64) -> usize {
        let per_shard = usize::try_from(max_sessions.div_ceil(SHARDS as u64)).unwrap_or(usize::MAX);
        self.max_sessions
            .store(max_sessions, std::sync::atomic::Ordering::Relaxed);
        self.shards
            .iter()
            .map(|s| lock(s).set_max_sessions(per_shard).len())
            .sum()
    }

    /// Seconds since the proxy started: the table's clock.
    pub fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn shard(&self, client: IpAddr) -> (usize, MutexGuard<'_, SessionTable>) {
        let index = shard_of(client, SHARDS, self.shard_key);
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
        drop(table);
        self.counts.placed(target);
    }

    /// Sessions on `target` across all shards, exactly (locks every shard: control path).
    pub fn count_on(&self, target: u32) -> u64 {
        self.shards.iter().map(|s| lock(s).count_on(target)).sum()
    }

    /// Sessions on `target` as the data plane's `least` sees them: at most
    /// [`COUNTS_REFRESH`] old, plus the placements made since, without taking a shard lock
    /// (but on the first question about a target and once per refresh).
    pub fn recent_count_on(&self, target: u32) -> u64 {
        self.counts.get(target, Instant::now(), || {
            let targets = self.counts.known_targets(target);
            targets.into_iter().map(|t| (t, self.count_on(t))).collect()
        })
    }

    /// Sessions of `server` across all shards (walks the tables: control path only).
    pub fn count_of_server(&self, server: u32) -> u64 {
        self.shards
            .iter()
            .map(|s| lock(s).iter().filter(|row| row.server == server).count() as u64)
            .sum()
    }

    /// Sessions created and expired since the table was made, over all shards.
    pub fn created_expired(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(c, e), s| {
            let shard = lock(s);
            (c + shard.created_count(), e + shard.expired_count())
        })
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

    /// Health: tells sync whether `target` is operational on this node, so that it never
    /// writes a peer's session onto a target down here (see `SyncTap::apply`).
    pub fn note_target_operational(&self, target: u32, operational: bool) {
        self.sync.note_target_operational(target, operational);
    }

    /// A target of a `method session` server went down: its sessions move at once to where
    /// the server's hash places each client now (UDP clients must not keep flowing to a dead
    /// target), logged under `plane`'s name.
    pub fn move_off(&self, plane: &str, server: u32, target: u32, chooser: &Chooser) {
        let moved = self.move_target(server, target, &mut |client| chooser.hash_choice(client));
        if moved > 0 {
            tracing::info!("{plane}: server {server}: {moved} sessions moved off target {target}");
        }
    }

    /// `show sessions [N|all]`: the newest `limit` rows of each shard (`None`: all), merged by
    /// the core's renderer (most recently active first).
    #[cfg(test)]
    pub fn show(&self, limit: Option<usize>) -> String {
        self.newest(limit).render()
    }

    /// The `limit` most recently active sessions (`None`: all), newest first, with the count
    /// of all: what `show sessions` shows in either format.
    pub fn newest(&self, limit: Option<usize>) -> NewestSessions {
        let rows_wanted = limit.unwrap_or(usize::MAX);
        let now = self.now();
        let mut total = 0;
        let mut rows: Vec<SessionRow> = Vec::new();
        for shard in self.shards.iter() {
            let table = lock(shard);
            total += table.len();
            rows.extend(table.newest(rows_wanted.min(table.len())));
        }
        // Stable, as the renderer sorts: sessions active in the same second keep their order.
        rows.sort_by_key(|row| std::cmp::Reverse(row.last_seen));
        rows.truncate(rows_wanted);
        NewestSessions { total, now, rows }
    }
}

/// The newest sessions of a table, newest first (see [`Sessions::newest`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewestSessions {
    /// Every session of the table, listed or not.
    pub total: usize,
    /// The table's clock (seconds since the plane started) when the rows were read.
    pub now: u32,
    pub rows: Vec<SessionRow>,
}

impl NewestSessions {
    /// `show sessions` in the seed's text format.
    pub fn render(self) -> String {
        let shown = self.rows.len();
        render_show_sessions_of(self.total, self.rows, self.now, Some(shown))
    }
}

/// The store the core's stick-or-pick rule reads and writes.
impl SessionStore for Sessions {
    fn lookup(&self, server: u32, client: IpAddr, now: u32) -> Option<u32> {
        Sessions::lookup(self, server, client, now)
    }

    fn insert(&self, server: u32, client: IpAddr, target: u32, now: u32, timeout: u32) {
        Sessions::insert(self, server, client, target, now, timeout);
    }

    fn recent_count_on(&self, target: u32) -> u64 {
        Sessions::recent_count_on(self, target)
    }
}

/// How old the per-target counts of `method least` may get before they are counted again.
pub const COUNTS_REFRESH: std::time::Duration = std::time::Duration::from_millis(50);

/// Per-target session counts, counted from the shards at most every [`COUNTS_REFRESH`] and bumped
/// by every placement in between (so a burst of new clients still spreads). Readers load an
/// `Arc` and an atomic: no lock per query. One reader at a time recounts (the others go on with
/// the old counts), so a query pays for a recount at most once per refresh across all workers.
#[derive(Default)]
struct TargetCounts {
    current: arc_swap::ArcSwapOption<CountsAt>,
    recounting: Mutex<()>,
}

struct CountsAt {
    at: Instant,
    counts: Vec<(u32, std::sync::atomic::AtomicU64)>,
}

impl TargetCounts {
    /// `target`'s count at `now`, recounted with `recount` when unknown or stale.
    fn get(&self, target: u32, now: Instant, recount: impl FnOnce() -> Vec<(u32, u64)>) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let current = self.current.load();
        let known = current.as_ref().and_then(|c| {
            let count = c.counts.iter().find(|(t, _)| *t == target)?;
            Some((c.at, count.1.load(Relaxed)))
        });
        if let Some((at, count)) = known {
            if now.saturating_duration_since(at) < COUNTS_REFRESH {
                return count;
            }
        }
        let Ok(_recounting) = self.recounting.try_lock() else {
            // Another worker is recounting; a stale count is good enough meanwhile.
            return known.map_or(0, |(_, count)| count);
        };
        let counted = recount();
        let count = counted
            .iter()
            .find(|(t, _)| *t == target)
            .map_or(0, |c| c.1);
        self.current.store(Some(Arc::new(CountsAt {
            at: now,
            counts: counted
                .into_iter()
                .map(|(t, n)| (t, std::sync::atomic::AtomicU64::new(n)))
                .collect(),
        })));
        count
    }

    /// The targets to count: those counted before and `target`.
    fn known_targets(&self, target: u32) -> Vec<u32> {
        let mut targets: Vec<u32> = (self.current.load().iter())
            .flat_map(|c| c.counts.iter().map(|(t, _)| *t))
            .collect();
        if !targets.contains(&target) {
            targets.push(target);
        }
        targets
    }

    /// A session was placed on `target`.
    fn placed(&self, target: u32) {
        if let Some(current) = self.current.load().as_ref() {
            if let Some((_, count)) = current.counts.iter().find(|(t, _)| *t == target) {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_table_behaves_as_one() {
        let sessions = Sessions::new(Plane::Proxy, 1000, Instant::now());
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
    fn recent_counts_follow_placements_and_recount_after_the_refresh() {
        let sessions = Sessions::new(Plane::Proxy, 1000, Instant::now());
        let exact = |s: &Sessions| vec![(1, s.count_on(1)), (2, s.count_on(2))];
        let t0 = Instant::now();
        assert_eq!(sessions.counts.get(1, t0, || exact(&sessions)), 0);
        for i in 0..10u8 {
            sessions.insert(1, IpAddr::from([10, 2, 0, i]), 1, 5, 600);
        }
        // Placements are seen at once, without a recount.
        let never = || -> Vec<(u32, u64)> { panic!("recounted within the refresh") };
        assert_eq!(sessions.counts.get(1, t0, never), 10);
        // What placements do not show (sessions moved) is seen after the refresh.
        sessions.move_target(1, 1, &mut |_| Some(2));
        assert_eq!(sessions.counts.get(2, t0, never), 0);
        let later = t0 + COUNTS_REFRESH;
        assert_eq!(sessions.counts.get(2, later, || exact(&sessions)), 10);
        assert_eq!(sessions.counts.get(1, later, never), 0);
        assert_eq!(sessions.recent_count_on(2), 10);
    }

    #[test]
    fn a_new_bound_keeps_what_fits_in_every_shard() {
        let sessions = Sessions::new(Plane::Proxy, 100_000, Instant::now());
        for i in 0..10_000u32 {
            let client = IpAddr::from([10, 3, (i >> 8) as u8, i as u8]);
            sessions.insert(1, client, 1, i / 100, 600);
        }
        sessions.apply_bound("test", 100_000);
        assert_eq!(sessions.len(), 10_000);
        sessions.apply_bound("test", 6_400);
        assert_eq!(sessions.max_sessions(), 6_400);
        assert!(
            sessions.len() <= 6_400 && sessions.len() > 5_000,
            "{}",
            sessions.len()
        );
        // The newest clients are kept.
        let newest = IpAddr::from([10, 3, (9_999u32 >> 8) as u8, 9_999u32 as u8]);
        assert_eq!(sessions.lookup(1, newest, 100), Some(1));
    }

    #[test]
    fn show_lists_the_newest_first_with_the_total() {
        let sessions = Sessions::new(Plane::Proxy, 1000, Instant::now());
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
