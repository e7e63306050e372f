//! The session table: which target a client of a server is stuck to, until it has been idle
//! longer than its timeout or the table needs the room.
//!
//! Contract: a [`SessionTable`] is a single-threaded map (server id, client address) ->
//! (target id, last seen, timeout) with a hard bound of `max_sessions` entries. When full, an
//! insert sheds the least recently active session first (smallest last-seen). A session is live
//! while `now - last_seen <= timeout`; an expired one is never returned by [`SessionTable::lookup`]
//! and is removed by it or by [`SessionTable::expire`]. Time is `now` in whole seconds as `u32`
//! from any epoch the caller picks (a monotonic clock's seconds); it must not go backwards, and
//! if it does the latest value seen is used instead, so the table's order stays consistent. The
//! data plane shards sessions over several tables (see [`shard_of`]) behind its own locks.
//!
//! Layout (about 35 bytes per session at the bound, the goal being at most 48): one flat array of
//! 28-byte slots with open addressing (linear probing, backward-shift deletion, so no
//! tombstones), grown by doubling up to `max_sessions * 1.25` slots, i.e. a load of at most 0.8.
//! A slot holds an IPv4 address inline (an IPv6 address lives in a side array and the slot holds
//! its index), the server and target ids, last seen, the timeout and the two links of an
//! intrusive recency list. There is one recency list per distinct timeout value, so each list is
//! ordered by last seen and its expired sessions sit at its tail: expiry costs O(expired),
//! shedding compares the tails. A lookup in the second a session was last seen leaves the list
//! alone (one cache miss); otherwise it moves the session to its list's head. An IPv6 session
//! costs 16 bytes more. `examples/session_bench.rs` measures all this at 10 million sessions.
//! Limits: timeouts are capped at [`MAX_TIMEOUT`] seconds (388 days), one table holds at most
//! [`MAX_TABLE_SESSIONS`]; ids are full `u32`s.

mod layout;
mod render;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use crate::balance::hashing::reduce;
use layout::{IdHasher, Key, Recency, Slot, V6Addresses, LIST_SHIFT, NIL, V6_BIT};

pub use render::{render_show_sessions, render_show_sessions_of, DEFAULT_SHOW_ROWS};

/// Longest session timeout a table keeps, in seconds (25 bits of a slot's `meta` word).
pub const MAX_TIMEOUT: u32 = (1 << 25) - 1;
/// Most sessions one table can hold (slot indices are `u32`s with two reserved values).
pub const MAX_TABLE_SESSIONS: usize = 3_000_000_000;

/// One session as the table reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    pub server: u32,
    pub client: IpAddr,
    /// `None`: the session covers every port of the client (`any`); this table keeps only such.
    pub port: Option<u16>,
    pub target: u32,
    /// Seconds, on the caller's clock.
    pub last_seen: u32,
    /// Idle seconds after which the session expires.
    pub timeout: u32,
}

/// Which of `shards` tables a client's sessions belong in: a hash keyed by `key` (secret, random
/// per process, the same for every lookup of one set of shards), so that clients cannot pile
/// their addresses into one shard and shed its sessions early; independent of the tables' own
/// slot hashes (their keys differ), so every shard stays evenly loaded.
pub fn shard_of(client: IpAddr, shards: usize, key: u64) -> usize {
    let hash = Key::of(client).keyed_hash(0, (key, 0xD15C_0001));
    reduce(hash, shards.max(1) as u64) as usize
}

/// The bounded session table (see the module documentation).
pub struct SessionTable {
    slots: Vec<Slot>,
    len: usize,
    max_sessions: usize,
    max_capacity: usize,
    lists: Vec<Recency>,
    v6: V6Addresses,
    per_target: HashMap<u32, u64, BuildHasherDefault<IdHasher>>,
    /// The latest `now` seen.
    clock: u32,
    shed: u64,
    /// Sessions created and expired since the table was made (for the metrics).
    created: u64,
    expired: u64,
    /// Chosen by the owner (random in the daemon), so that clients cannot aim at one probe run
    /// by picking their addresses, and tables of different nodes do not share a slot order.
    seed: u64,
    /// The slot hash's SipHash key: `seed` mixed with the current capacity ([`Self::home`]):
    /// filling a table in the slot order of another (a full-table sync, a copy) would otherwise
    /// put every early key in one probe run of the smaller, growing table (40x slower inserts).
    salt: (u64, u64),
}

impl std::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTable")
            .field("len", &self.len)
            .field("max_sessions", &self.max_sessions)
            .field("capacity", &self.slots.len())
            .finish()
    }
}

impl SessionTable {
    /// An empty table that will hold at most `max_sessions` sessions (capped at
    /// [`MAX_TABLE_SESSIONS`]). Memory grows with use, up to about 35 bytes per session.
    pub fn new(max_sessions: usize) -> SessionTable {
        SessionTable::with_seed(max_sessions, 0)
    }

    /// [`Self::new`] with the slot hash keyed by `seed` (see the field's documentation).
    pub fn with_seed(max_sessions: usize, seed: u64) -> SessionTable {
        let max_sessions = max_sessions.min(MAX_TABLE_SESSIONS);
        SessionTable {
            slots: Vec::new(),
            len: 0,
            max_sessions,
            max_capacity: max_sessions + max_sessions / 4 + 1,
            lists: Vec::new(),
            v6: V6Addresses::default(),
            per_target: HashMap::default(),
            clock: 0,
            shed: 0,
            created: 0,
            expired: 0,
            seed,
            salt: (0, 0),
        }
    }

    /// Changes the bound, keeping every session that fits: lowered below the current count,
    /// the least recently active sessions are shed (and returned, oldest first) and the slot
    /// array shrinks to the new bound's size; raised, the table may grow further.
    pub fn set_max_sessions(&mut self, max_sessions: usize) -> Vec<SessionRow> {
        let max_sessions = max_sessions.min(MAX_TABLE_SESSIONS);
        self.max_sessions = max_sessions;
        self.max_capacity = max_sessions + max_sessions / 4 + 1;
        let mut shed = Vec::new();
        while self.len > max_sessions {
            match self.shed_oldest() {
                Some(row) => shed.push(row),
                None => break,
            }
        }
        if self.slots.len() > self.max_capacity {
            self.rehash(self.max_capacity);
        }
        shed
    }

    /// Forgets every session, keeping the bound and the seed.
    pub fn clear(&mut self) {
        // The counters are totals for the metrics: they never go back.
        let (created, expired) = (self.created, self.expired);
        *self = SessionTable::with_seed(self.max_sessions, self.seed);
        (self.created, self.expired) = (created, expired);
    }

    /// Looks up the client's session on `server`; refreshes last-seen when found and not
    /// expired. An expired session is removed and `None` returned.
    pub fn lookup(&mut self, server: u32, client: IpAddr, now: u32) -> Option<u32> {
        let now = self.advance(now);
        let index = self.find(server, Key::of(client)).ok()?;
        let slot = self.slots[index];
        if now - slot.last_seen > slot.timeout() {
            self.remove_at(index);
            self.expired += 1;
            return None;
        }
        // Seen already this second: it sits among the newest of its list, so the order holds
        // without touching its neighbours (one cache miss per lookup instead of three).
        if slot.last_seen != now {
            self.unlink(index);
            self.slots[index].last_seen = now;
            self.link_newest(index);
        }
        Some(slot.target)
    }

    /// The client's session on `server` as it stands, expired or not, without refreshing it.
    pub fn peek(&self, server: u32, client: IpAddr) -> Option<SessionRow> {
        let index = self.find(server, Key::of(client)).ok()?;
        Some(self.row(&self.slots[index]))
    }

    /// Creates or replaces the client's session on `server`, active now. When the table is full
    /// the least recently active session is shed to make room and returned. `timeout` is capped
    /// at [`MAX_TIMEOUT`]. A table with `max_sessions` 0 keeps nothing.
    pub fn insert(
        &mut self,
        server: u32,
        client: IpAddr,
        target: u32,
        now: u32,
        timeout: u32,
    ) -> Option<SessionRow> {
        if self.max_sessions == 0 {
            return None;
        }
        let now = self.advance(now);
        let timeout = timeout.min(MAX_TIMEOUT);
        let key = Key::of(client);
        let vacant = match self.find(server, key) {
            Ok(index) => {
                let old_target = self.slots[index].target;
                self.count_moved(old_target, target);
                self.unlink(index);
                let list = self.list_for(timeout);
                let slot = &mut self.slots[index];
                slot.target = target;
                slot.last_seen = now;
                slot.meta = (slot.meta & V6_BIT) | (list << LIST_SHIFT) as u32 | timeout;
                self.link_newest(index);
                return None;
            }
            Err(vacant) => vacant,
        };
        let shed = if self.len >= self.max_sessions {
            self.shed_oldest()
        } else {
            None
        };
        let capacity = self.slots.len();
        self.reserve_one();
        // Shedding shifts sessions back and growing moves all of them: then probe again.
        let index = if shed.is_none() && capacity == self.slots.len() {
            vacant
        } else {
            match self.find(server, key) {
                Err(vacant) => vacant,
                // Not reached: the key was absent and shedding or growing adds no key.
                Ok(_) => return shed,
            }
        };
        let list = self.list_for(timeout);
        let (addr, v6_bit) = match key {
            Key::V4(bits) => (bits, 0),
            Key::V6(bits) => (self.v6.store(bits), V6_BIT),
        };
        self.slots[index] = Slot {
            addr,
            server,
            target,
            last_seen: now,
            meta: v6_bit | (list << LIST_SHIFT) as u32 | timeout,
            newer: NIL,
            older: NIL,
        };
        self.link_newest(index);
        self.len += 1;
        self.created += 1;
        *self.per_target.entry(target).or_insert(0) += 1;
        shed
    }

    /// Removes the client's session on `server`; `true` if there was one.
    pub fn remove(&mut self, server: u32, client: IpAddr) -> bool {
        match self.find(server, Key::of(client)) {
            Ok(index) => {
                self.remove_at(index);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes every session idle for longer than its timeout; returns how many.
    pub fn expire(&mut self, now: u32) -> usize {
        self.expire_bounded(now, usize::MAX)
    }

    /// Like [`expire`](Self::expire) but visits at most `max_visits` sessions, for a sweeper
    /// that must not hold a shard's lock for long. With one timeout per list (the usual case)
    /// each visit but the last of a list removes a session.
    pub fn expire_bounded(&mut self, now: u32, max_visits: usize) -> usize {
        let now = self.advance(now);
        let mut removed = 0;
        let mut visits = 0;
        for list in 0..self.lists.len() {
            let mut cursor = self.lists[list].oldest;
            while cursor != NIL && visits < max_visits {
                visits += 1;
                let slot = self.slots[cursor as usize];
                let age = now - slot.last_seen;
                // Everything newer is at most this old, hence live.
                if age <= self.lists[list].min_timeout {
                    break;
                }
                let mut next = slot.newer;
                if age > slot.timeout() {
                    self.remove_tracking(cursor as usize, &mut next);
                    removed += 1;
                }
                cursor = next;
            }
        }
        self.expired += removed as u64;
        removed
    }

    /// Moves every session of `server` on target `from` to what `repick(client)` returns, or
    /// removes it on `None`. Returns how many sessions changed.
    pub fn move_target(
        &mut self,
        server: u32,
        from: u32,
        repick: &mut dyn FnMut(IpAddr) -> Option<u32>,
    ) -> usize {
        let affected: Vec<Key> = self
            .slots
            .iter()
            .filter(|s| s.occupied() && s.server == server && s.target == from)
            .map(|s| self.key(s))
            .collect();
        let mut changed = 0;
        for key in affected {
            let Ok(index) = self.find(server, key) else {
                continue;
            };
            match repick(key.addr()) {
                Some(target) if target == from => {}
                Some(target) => {
                    self.count_moved(from, target);
                    self.slots[index].target = target;
                    changed += 1;
                }
                None => {
                    self.remove_at(index);
                    changed += 1;
                }
            }
        }
        changed
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Sessions (of any server) on a target.
    pub fn count_on(&self, target: u32) -> u64 {
        self.per_target.get(&target).copied().unwrap_or(0)
    }

    /// Sessions shed to make room since the table was made.
    pub fn shed_count(&self) -> u64 {
        self.shed
    }

    /// Sessions created (a new client on a server, not a refresh or a move) since the table
    /// was made.
    pub fn created_count(&self) -> u64 {
        self.created
    }

    /// Sessions removed for idleness (by a sweep or a lookup that found them stale) since the
    /// table was made.
    pub fn expired_count(&self) -> u64 {
        self.expired
    }

    /// Bytes the table has allocated (slots, IPv6 side array, lists, per-target counters).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.slots.capacity() * size_of::<Slot>()
            + self.v6.addrs.capacity() * size_of::<u128>()
            + self.v6.free.capacity() * size_of::<u32>()
            + self.lists.capacity() * size_of::<Recency>()
            + self.per_target.capacity() * (size_of::<(u32, u64)>() + 1)
    }

    /// Every session, in slot order (no particular order; see [`newest`](Self::newest)).
    pub fn iter(&self) -> impl Iterator<Item = SessionRow> + '_ {
        self.slots
            .iter()
            .filter(|s| s.occupied())
            .map(|s| self.row(s))
    }

    /// The `limit` most recently active sessions, most recent first (ties: by timeout list).
    pub fn newest(&self, limit: usize) -> Vec<SessionRow> {
        let mut cursors: Vec<u32> = self.lists.iter().map(|l| l.newest).collect();
        let mut rows = Vec::with_capacity(limit.min(self.len));
        while rows.len() < limit {
            let best = cursors
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != NIL)
                .max_by_key(|(list, &c)| (self.slots[c as usize].last_seen, usize::MAX - list));
            let Some((list, &cursor)) = best else {
                break;
            };
            let slot = &self.slots[cursor as usize];
            rows.push(self.row(slot));
            cursors[list] = slot.older;
        }
        rows
    }
}
