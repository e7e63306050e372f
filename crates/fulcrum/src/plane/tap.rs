//! Where the data planes meet session sync (the planes' side, so that a plane names no driver): a [`SyncTap`], one per daemon, made by the daemon
//! and handed to each plane when it is built, holds a registry of every live sharded session
//! table (the proxy's and the DSR plane's, each registered under its [`Plane`]), the events
//! their per-packet code reports, and the entry points the sync driver uses to read and write
//! those tables. Nothing here is process-global: two daemons in one process have two taps.
//!
//! Contract: while sync is off ([`SyncTap::set_enabled`]) a table's per-packet cost is one
//! relaxed atomic load. While it is on, the per-packet code (which already holds the client's shard lock)
//! reports a created session, a session refreshed in a new second (so at most once per second
//! per session), a session moved to another target and a session shed for room into that
//! shard's own bounded queue: no allocation (the queue's room is reserved by the driver), no
//! wait but for the driver's pointer swap, and an event that finds the queue full is counted as
//! lost, never waited for. Expiry is not reported: both nodes expire by the same timeouts.
//! [`SyncTap::apply`] writes received sessions into the table of the plane that serves their server, and
//! writes nothing back into the queues, so applied sessions are never echoed. It never writes
//! a session onto a target this node's health checks hold down
//! ([`SyncTap::set_target_operational`]): such an upsert is a peer's event from before it learnt
//! of the loss (a refresh still naming the old target, crossing the move on the wire), and
//! applying it would undo the move here until the peer's next refresh, or for good if the peer
//! dies first; the node's own move of that target's sessions has already placed the client.
//!
//! Health moves ([`Tap::move_target`]: sessions moved or removed because this node's checks
//! took a target down) are reported on a VRRP pair, whose backup mirrors the master's table,
//! but not on active-active nodes ([`SyncTap::set_local_moves`]): there every node acts on its
//! own verdicts, and consistent hashing makes their moves agree when their views agree, while a
//! node whose view is wrong (its checks alone cannot reach a target) would otherwise move, or
//! with its last target remove, the sessions of every client its peers serve. What a node's own
//! traffic refreshes is reported as always, so a client it serves keeps the target it got here
//! wherever the routers send it next.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;

use fulcrum_core::session::{shard_of, SessionRow, SessionTable};
use fulcrum_wire::sync::{Entry, Op};

/// Events one shard's queue holds between two drains (the driver drains every few ms).
const QUEUE_ROOM: usize = 2048;

/// The meeting point of one daemon's session tables and its sync driver. Share it as an `Arc`.
#[derive(Default)]
pub struct SyncTap {
    /// Whether tables report events (the sync driver runs).
    enabled: AtomicBool,
    /// Events lost to a full queue since the start.
    lost: AtomicU64,
    registry: Mutex<Vec<Registered>>,
    /// Targets this node's health checks hold down: received sessions on them are not applied.
    down_targets: Mutex<HashSet<u32>>,
    /// Health moves stay on this node (active-active); reported to peers otherwise.
    local_moves: AtomicBool,
}

type Shards = [Mutex<SessionTable>];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which data plane a table belongs to (named by the plane that creates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Proxy,
    Dsr,
}

struct Registered {
    plane: Plane,
    tables: Weak<Shards>,
    /// The key the table's owner chooses shards with ([`shard_of`]).
    shard_key: u64,
    queues: Weak<Queues>,
    started: Instant,
}

/// A reported change, as the table holds it.
pub type Event = (Op, SessionRow);

struct Queues {
    shards: Box<[Mutex<Vec<Event>>]>,
}

/// A table's handle on the sync queues (one per sharded table).
pub struct Tap {
    queues: Arc<Queues>,
    sync: Arc<SyncTap>,
}

impl SyncTap {
    /// A tap with no table and reporting off.
    pub fn new() -> Arc<SyncTap> {
        Arc::new(SyncTap::default())
    }

    /// Registers a sharded table of `plane`; `shard_key` is the key it chooses a client's shard
    /// with, `started` the instant its clock counts seconds from.
    pub fn register(
        self: &Arc<Self>,
        plane: Plane,
        tables: &Arc<Shards>,
        shard_key: u64,
        started: Instant,
    ) -> Tap {
        // Under the registry lock, which [`SyncTap::set_enabled`] holds while it reserves room and
        // turns reporting on: either this table is registered in time to get its room there, or it
        // sees reporting on here. (Read outside the lock, a table registered while sync was
        // starting kept queues of no room and lost every event for good.)
        let mut registry = lock(&self.registry);
        let room = if self.enabled.load(Ordering::Acquire) {
            QUEUE_ROOM
        } else {
            0
        };
        let queues = Arc::new(Queues {
            shards: (0..tables.len())
                .map(|_| Mutex::new(Vec::with_capacity(room)))
                .collect(),
        });
        registry.retain(|r| r.tables.strong_count() > 0);
        registry.push(Registered {
            plane,
            tables: Arc::downgrade(tables),
            shard_key,
            queues: Arc::downgrade(&queues),
            started,
        });
        Tap {
            queues,
            sync: self.clone(),
        }
    }
}

impl Tap {
    /// [`SyncTap::set_target_operational`] of this table's tap.
    pub fn note_target_operational(&self, target: u32, operational: bool) {
        self.sync.set_target_operational(target, operational);
    }

    /// The per-packet cost while sync is off: this one relaxed load.
    fn on(&self) -> bool {
        self.sync.enabled.load(Ordering::Relaxed)
    }

    fn push(&self, shard: usize, op: Op, row: SessionRow) {
        let Some(queue) = self.queues.shards.get(shard) else {
            return;
        };
        let mut queue = lock(queue);
        if queue.len() < queue.capacity() {
            queue.push((op, row));
        } else {
            self.sync.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `SessionTable::lookup`, reporting a refresh in a new second.
    pub fn lookup(
        &self,
        table: &mut SessionTable,
        shard: usize,
        server: u32,
        client: IpAddr,
        now: u32,
    ) -> Option<u32> {
        if !self.on() {
            return table.lookup(server, client, now);
        }
        let before = table.peek(server, client);
        let target = table.lookup(server, client, now)?;
        if let Some(row) = before.filter(|row| row.last_seen < now) {
            let row = SessionRow {
                last_seen: now,
                ..row
            };
            self.push(shard, Op::Upsert, row);
        }
        Some(target)
    }

    /// `SessionTable::insert`, reporting the new session and the one shed for it (its
    /// arguments, plus the table and its shard index).
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &self,
        table: &mut SessionTable,
        shard: usize,
        server: u32,
        client: IpAddr,
        target: u32,
        now: u32,
        timeout: u32,
    ) {
        let shed = table.insert(server, client, target, now, timeout);
        if !self.on() {
            return;
        }
        if let Some(shed) = shed {
            self.push(shard, Op::Remove, shed);
        }
        if let Some(row) = table.peek(server, client) {
            self.push(shard, Op::Upsert, row);
        }
    }

    /// `SessionTable::move_target`, reporting every session moved or removed.
    pub fn move_target(
        &self,
        table: &mut SessionTable,
        shard: usize,
        server: u32,
        from: u32,
        repick: &mut dyn FnMut(IpAddr) -> Option<u32>,
    ) -> usize {
        if !self.on() || self.sync.local_moves.load(Ordering::Relaxed) {
            return table.move_target(server, from, repick);
        }
        let mut changed = Vec::new();
        let moved = table.move_target(server, from, &mut |client| {
            let to = repick(client);
            changed.push(client);
            to
        });
        for client in changed {
            match table.peek(server, client) {
                Some(row) if row.target != from => self.push(shard, Op::Upsert, row),
                Some(_) => {}
                None => {
                    let row = SessionRow {
                        server,
                        client,
                        port: None,
                        target: from,
                        last_seen: 0,
                        timeout: 0,
                    };
                    self.push(shard, Op::Remove, row);
                }
            }
        }
        moved
    }
}

fn seconds_since(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX)
}

fn entry(op: Op, row: &SessionRow, now: u32) -> Entry {
    Entry {
        op,
        server: row.server,
        client: row.client,
        target: row.target,
        age: now.saturating_sub(row.last_seen),
        timeout: row.timeout,
    }
}

impl SyncTap {
    /// Keeps health moves on this node (`true`: active-active nodes) or reports them (a pair).
    pub fn set_local_moves(&self, local: bool) {
        self.local_moves.store(local, Ordering::Relaxed);
    }

    /// Turns event reporting on or off (the sync driver, when a peer is configured).
    pub fn set_enabled(&self, enabled: bool) {
        let registry = lock(&self.registry);
        if enabled {
            for registered in registry.iter() {
                if let Some(queues) = registered.queues.upgrade() {
                    for queue in queues.shards.iter() {
                        let mut queue = lock(queue);
                        let more = QUEUE_ROOM.saturating_sub(queue.len());
                        queue.reserve_exact(more);
                    }
                }
            }
        }
        self.enabled.store(enabled, Ordering::Release);
        drop(registry);
    }

    /// Health: `target` is operational on this node or not (each data plane passes on every
    /// verdict, before it moves the sessions of a target going down).
    pub fn set_target_operational(&self, target: u32, operational: bool) {
        let mut down = lock(&self.down_targets);
        if operational {
            down.remove(&target);
        } else {
            down.insert(target);
        }
    }

    /// Events lost to a full queue since the start.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Moves every queued event into `out` (oldest first per shard). `spare` holds emptied queues
    /// for reuse, so the data plane always finds reserved room and the driver allocates rarely.
    pub fn drain(&self, out: &mut Vec<Entry>, spare: &mut Vec<Vec<Event>>) {
        let registry: Vec<(Arc<Queues>, Instant)> = lock(&self.registry)
            .iter()
            .filter_map(|r| Some((r.queues.upgrade()?, r.started)))
            .collect();
        for (queues, started) in registry {
            let now = seconds_since(started);
            for queue in queues.shards.iter() {
                let mut fresh = spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(QUEUE_ROOM));
                let taken = {
                    let mut queue = lock(queue);
                    if queue.is_empty() {
                        spare.push(fresh);
                        continue;
                    }
                    std::mem::swap(&mut *queue, &mut fresh);
                    fresh
                };
                out.extend(taken.iter().map(|(op, row)| entry(*op, row, now)));
                let mut taken = taken;
                taken.clear();
                spare.push(taken);
            }
        }
    }

    /// Every session of every live table, as upserts with their current ages (a full dump).
    pub fn snapshot(&self) -> Vec<Entry> {
        let registry: Vec<(Arc<Shards>, Instant)> = lock(&self.registry)
            .iter()
            .filter_map(|r| Some((r.tables.upgrade()?, r.started)))
            .collect();
        let mut rows = Vec::new();
        for (tables, started) in registry {
            let now = seconds_since(started);
            for table in tables.iter() {
                let table = lock(table);
                rows.extend(table.iter().map(|row| entry(Op::Upsert, &row, now)));
            }
        }
        rows
    }

    /// The newest live table of `plane`, its shard key and its clock.
    fn newest(&self, plane: Plane) -> Option<(Arc<Shards>, u64, Instant)> {
        lock(&self.registry)
            .iter()
            .rev()
            .filter(|r| r.plane == plane)
            .find_map(|r| Some((r.tables.upgrade()?, r.shard_key, r.started)))
    }

    /// Writes received sessions; those of `dsr_servers` into the DSR plane's table, the rest into
    /// the proxy's. A session's last-seen is the time it is applied (a table's clock cannot be set
    /// back), so it may outlive the sender's copy by its age. An upsert onto a target this node
    /// holds down is skipped (see the module documentation).
    pub fn apply(&self, entries: &[Entry], dsr_servers: &HashSet<u32>) -> usize {
        let proxy = self.newest(Plane::Proxy);
        let dsr = self.newest(Plane::Dsr);
        let down = lock(&self.down_targets).clone();
        let mut applied = 0;
        for entry in entries {
            if entry.op == Op::Upsert && down.contains(&entry.target) {
                continue;
            }
            let target = if dsr_servers.contains(&entry.server) {
                dsr.as_ref().or(proxy.as_ref())
            } else {
                proxy.as_ref()
            };
            let Some((tables, shard_key, started)) = target else {
                continue;
            };
            let Some(shard) = tables.get(shard_of(entry.client, tables.len(), *shard_key)) else {
                continue;
            };
            let mut table = lock(shard);
            match entry.op {
                Op::Upsert => {
                    let now = seconds_since(*started);
                    table.insert(entry.server, entry.client, entry.target, now, entry.timeout);
                }
                Op::Remove => {
                    table.remove(entry.server, entry.client);
                }
            }
            applied += 1;
        }
        applied
    }

    /// Forgets every session of every live table (a pure backup before a full table).
    pub fn clear(&self) {
        let registry: Vec<Arc<Shards>> = lock(&self.registry)
            .iter()
            .filter_map(|r| r.tables.upgrade())
            .collect();
        for tables in registry {
            for table in tables.iter() {
                lock(table).clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(client: [u8; 4], target: u32) -> Entry {
        Entry {
            op: Op::Upsert,
            server: 1,
            client: IpAddr::from(client),
            target,
            age: 0,
            timeout: 600,
        }
    }

    /// A peer's refresh that still names a target this node has taken down (sent before the
    /// peer learnt of the loss) must not undo this node's move of that client: the session
    /// stays where the move put it, and sessions on targets that are up still apply.
    #[test]
    fn a_received_session_on_a_target_held_down_here_is_not_applied() {
        let sync = SyncTap::new();
        let tables: Arc<Shards> = (0..4).map(|_| Mutex::new(SessionTable::new(16))).collect();
        let _tap = sync.register(Plane::Proxy, &tables, 7, Instant::now());
        let client = IpAddr::from([10, 99, 1, 192]);
        let target_of = || {
            let shard = shard_of(client, tables.len(), 7);
            lock(&tables[shard]).peek(1, client).map(|row| row.target)
        };
        sync.apply(&[upsert([10, 99, 1, 192], 1)], &HashSet::new());
        assert_eq!(target_of(), Some(1));
        sync.set_target_operational(1, false);
        // This node's own move, then the peer's stale refresh naming target 1.
        sync.apply(&[upsert([10, 99, 1, 192], 2)], &HashSet::new());
        let applied = sync.apply(&[upsert([10, 99, 1, 192], 1)], &HashSet::new());
        assert_eq!((applied, target_of()), (0, Some(2)));
        sync.set_target_operational(1, true);
        sync.apply(&[upsert([10, 99, 1, 192], 1)], &HashSet::new());
        assert_eq!(target_of(), Some(1), "a target up again takes sessions");
    }

    /// Sync turning on while a data plane registers its table (the daemon starts both at
    /// once): the table must get room for its events. It used to read "off" while
    /// [`SyncTap::set_enabled`] was still reserving room for the tables it knew of, register after that
    /// pass, and lose every event for good (the backup never learned a session of that plane).
    #[test]
    fn a_table_registered_while_sync_turns_on_gets_room_for_its_events() {
        let sync = SyncTap::new();
        let tables: Arc<Shards> = (0..4).map(|_| Mutex::new(SessionTable::new(16))).collect();
        // Be `set_enabled(true)` in the middle of its reservation pass (it holds the registry).
        let pass = lock(&sync.registry);
        let registering = {
            let tables = tables.clone();
            let sync = sync.clone();
            std::thread::spawn(move || sync.register(Plane::Dsr, &tables, 7, Instant::now()))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        sync.enabled.store(true, Ordering::Release);
        drop(pass);
        let tap = registering.join().expect("the registering thread");
        sync.set_enabled(false);
        for queue in tap.queues.shards.iter() {
            assert!(lock(queue).capacity() >= QUEUE_ROOM, "a queue without room");
        }
    }

    /// A health move on a pair reaches the peer (the backup mirrors the master); on an
    /// active-active node it stays here, moves and removals alike.
    #[test]
    fn health_moves_are_reported_on_a_pair_and_kept_local_on_active_active_nodes() {
        for local in [false, true] {
            let sync = SyncTap::new();
            let tables: Arc<Shards> = (0..4).map(|_| Mutex::new(SessionTable::new(16))).collect();
            let tap = sync.register(Plane::Proxy, &tables, 7, Instant::now());
            sync.set_enabled(true);
            sync.set_local_moves(local);
            let clients = [[10, 99, 1, 1], [10, 99, 1, 2]].map(IpAddr::from);
            sync.apply(
                &[upsert([10, 99, 1, 1], 1), upsert([10, 99, 1, 2], 1)],
                &HashSet::new(),
            );
            for (shard, table) in tables.iter().enumerate() {
                // The first client moves to target 2, the second has nowhere to go.
                tap.move_target(&mut lock(table), shard, 1, 1, &mut |client| {
                    (client == clients[0]).then_some(2)
                });
            }
            let mut events = Vec::new();
            sync.drain(&mut events, &mut Vec::new());
            let reported: Vec<(Op, IpAddr, u32)> =
                events.iter().map(|e| (e.op, e.client, e.target)).collect();
            if local {
                assert_eq!(reported, vec![], "active-active: nothing reported");
            } else {
                assert_eq!(reported.len(), 2, "{reported:?}");
                assert!(
                    reported.contains(&(Op::Upsert, clients[0], 2)),
                    "{reported:?}"
                );
                assert!(
                    reported.contains(&(Op::Remove, clients[1], 1)),
                    "{reported:?}"
                );
            }
            sync.set_enabled(false);
        }
    }
}
