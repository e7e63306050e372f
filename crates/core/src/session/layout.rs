//! The table's storage: the 28-byte slot, keys, recency lists, the IPv6 side array, and the
//! private operations on them (probing, linking, growth, backward-shift deletion). The
//! invariants they keep: every occupied slot is reachable by linear probing from its home
//! without crossing a vacant slot; every occupied slot is on exactly one recency list, and each
//! list is ordered by last seen, newest at its head.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{SessionRow, SessionTable, MAX_TIMEOUT};
use crate::balance::hashing::{mix64, reduce};

/// End of a recency list.
pub(super) const NIL: u32 = u32::MAX;
/// `Slot::newer` of an empty slot.
const VACANT: u32 = u32::MAX - 1;
pub(super) const V6_BIT: u32 = 1 << 31;
pub(super) const LIST_SHIFT: u32 = 25;
const LIST_MASK: u32 = 0x3F;
/// Distinct timeouts with a list of their own; further ones share the nearest list.
const MAX_LISTS: usize = 64;
const MIN_CAPACITY: usize = 16;

#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Slot {
    /// IPv4 address, or index into the IPv6 side array when `meta` has `V6_BIT`.
    pub(super) addr: u32,
    pub(super) server: u32,
    pub(super) target: u32,
    pub(super) last_seen: u32,
    /// Bit 31: IPv6; bits 25..31: recency list; bits 0..25: timeout in seconds.
    pub(super) meta: u32,
    /// More recently active neighbour, `NIL` at the head, `VACANT` for an empty slot.
    pub(super) newer: u32,
    /// Less recently active neighbour, `NIL` at the tail.
    pub(super) older: u32,
}

pub(super) const EMPTY: Slot = Slot {
    addr: 0,
    server: 0,
    target: 0,
    last_seen: 0,
    meta: 0,
    newer: VACANT,
    older: NIL,
};

impl Slot {
    pub(super) fn occupied(&self) -> bool {
        self.newer != VACANT
    }
    pub(super) fn is_v6(&self) -> bool {
        self.meta & V6_BIT != 0
    }
    pub(super) fn timeout(&self) -> u32 {
        self.meta & MAX_TIMEOUT
    }
    pub(super) fn list(&self) -> usize {
        ((self.meta >> LIST_SHIFT) & LIST_MASK) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    V4(u32),
    V6(u128),
}

impl Key {
    pub(super) fn of(client: IpAddr) -> Key {
        match client {
            IpAddr::V4(v4) => Key::V4(u32::from(v4)),
            IpAddr::V6(v6) => Key::V6(u128::from(v6)),
        }
    }
    pub(super) fn addr(self) -> IpAddr {
        match self {
            Key::V4(bits) => IpAddr::V4(Ipv4Addr::from(bits)),
            Key::V6(bits) => IpAddr::V6(Ipv6Addr::from(bits)),
        }
    }
    /// SipHash-1-3 of (server, address) under `key`. A client picks its address, so every
    /// table it can fill is hashed with a secret key over the whole address: without the key no
    /// set of addresses can be made to share a home slot or a shard (an unkeyed mix of the two
    /// IPv6 halves let `low = f(high) ^ c` collide before any salt was applied). IPv4 and IPv6
    /// inputs differ in length, so they never share an input.
    pub(super) fn keyed_hash(self, server: u32, key: (u64, u64)) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(key.0, key.1);
        match self {
            Key::V4(bits) => hasher.write_u64(u64::from(bits) | (u64::from(server) << 32)),
            Key::V6(bits) => {
                hasher.write_u32(server);
                hasher.write_u128(bits);
            }
        }
        hasher.finish()
    }
}

/// A recency list: sessions with one timeout, most recently active at `newest`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Recency {
    pub(super) timeout: u32,
    /// The smallest timeout of any member (equal to `timeout` unless lists ran out).
    pub(super) min_timeout: u32,
    pub(super) newest: u32,
    pub(super) oldest: u32,
    pub(super) len: usize,
}

/// IPv6 addresses of sessions, indexed from their slots.
#[derive(Debug, Default)]
pub(super) struct V6Addresses {
    pub(super) addrs: Vec<u128>,
    pub(super) free: Vec<u32>,
}

impl V6Addresses {
    pub(super) fn store(&mut self, addr: u128) -> u32 {
        match self.free.pop() {
            Some(index) => {
                self.addrs[index as usize] = addr;
                index
            }
            None => {
                self.addrs.push(addr);
                (self.addrs.len() - 1) as u32
            }
        }
    }
    pub(super) fn get(&self, index: u32) -> u128 {
        self.addrs.get(index as usize).copied().unwrap_or(0)
    }
    pub(super) fn release(&mut self, index: u32) {
        self.free.push(index);
    }
}

/// A cheap hasher for the per-target counters (keys are small integer ids).
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

// Internals: probing, recency lists, growth, deletion.
impl SessionTable {
    pub(super) fn advance(&mut self, now: u32) -> u32 {
        self.clock = self.clock.max(now);
        self.clock
    }

    pub(super) fn key(&self, slot: &Slot) -> Key {
        if slot.is_v6() {
            Key::V6(self.v6.get(slot.addr))
        } else {
            Key::V4(slot.addr)
        }
    }

    pub(super) fn row(&self, slot: &Slot) -> SessionRow {
        SessionRow {
            server: slot.server,
            client: self.key(slot).addr(),
            port: None,
            target: slot.target,
            last_seen: slot.last_seen,
            timeout: slot.timeout(),
        }
    }

    pub(super) fn home(&self, server: u32, key: Key) -> usize {
        reduce(key.keyed_hash(server, self.salt), self.slots.len() as u64) as usize
    }

    /// `Ok(slot)` holding the key, or `Err(vacant slot)` where it would go (`Err(usize::MAX)`
    /// when the table has no slots yet). Ends because a vacant slot always exists.
    pub(super) fn find(&self, server: u32, key: Key) -> Result<usize, usize> {
        let capacity = self.slots.len();
        if capacity == 0 {
            return Err(usize::MAX);
        }
        let mut index = self.home(server, key);
        loop {
            let slot = &self.slots[index];
            if !slot.occupied() {
                return Err(index);
            }
            if slot.server == server {
                let same = match key {
                    Key::V4(bits) => !slot.is_v6() && slot.addr == bits,
                    Key::V6(bits) => slot.is_v6() && self.v6.get(slot.addr) == bits,
                };
                if same {
                    return Ok(index);
                }
            }
            index += 1;
            if index == capacity {
                index = 0;
            }
        }
    }

    pub(super) fn list_for(&mut self, timeout: u32) -> usize {
        if let Some(list) = self.lists.iter().position(|l| l.timeout == timeout) {
            return list;
        }
        let fresh = Recency {
            timeout,
            min_timeout: timeout,
            newest: NIL,
            oldest: NIL,
            len: 0,
        };
        if self.lists.len() < MAX_LISTS {
            self.lists.push(fresh);
            return self.lists.len() - 1;
        }
        if let Some(list) = self.lists.iter().position(|l| l.len == 0) {
            self.lists[list] = fresh;
            return list;
        }
        let nearest = (0..self.lists.len())
            .min_by_key(|&l| self.lists[l].timeout.abs_diff(timeout))
            .unwrap_or(0);
        let list = &mut self.lists[nearest];
        list.min_timeout = list.min_timeout.min(timeout);
        nearest
    }

    /// Puts a slot at the head of its recency list.
    pub(super) fn link_newest(&mut self, index: usize) {
        let list = self.slots[index].list();
        let head = self.lists[list].newest;
        self.slots[index].newer = NIL;
        self.slots[index].older = head;
        if head == NIL {
            self.lists[list].oldest = index as u32;
        } else {
            self.slots[head as usize].newer = index as u32;
        }
        self.lists[list].newest = index as u32;
        self.lists[list].len += 1;
    }

    /// Takes a slot out of its recency list (its own links are left stale).
    pub(super) fn unlink(&mut self, index: usize) {
        let slot = self.slots[index];
        let list = slot.list();
        if slot.newer == NIL {
            self.lists[list].newest = slot.older;
        } else {
            self.slots[slot.newer as usize].older = slot.older;
        }
        if slot.older == NIL {
            self.lists[list].oldest = slot.newer;
        } else {
            self.slots[slot.older as usize].newer = slot.newer;
        }
        let recency = &mut self.lists[list];
        recency.len -= 1;
        if recency.len == 0 {
            recency.min_timeout = recency.timeout;
        }
    }

    pub(super) fn count_moved(&mut self, from: u32, to: u32) {
        if from != to {
            self.count_removed(from);
            *self.per_target.entry(to).or_insert(0) += 1;
        }
    }

    pub(super) fn count_removed(&mut self, target: u32) {
        if let Some(count) = self.per_target.get_mut(&target) {
            *count -= 1;
            if *count == 0 {
                self.per_target.remove(&target);
            }
        }
    }

    pub(super) fn shed_oldest(&mut self) -> Option<SessionRow> {
        let oldest = self
            .lists
            .iter()
            .filter(|l| l.oldest != NIL)
            .map(|l| l.oldest)
            .min_by_key(|&i| self.slots[i as usize].last_seen)?;
        self.shed += 1;
        Some(self.remove_at(oldest as usize))
    }

    /// Grows so that one more session fits within the load bound.
    pub(super) fn reserve_one(&mut self) {
        let capacity = self.slots.len();
        let over_load = (self.len + 1) * 5 > capacity * 4;
        if (capacity == 0 || over_load) && capacity < self.max_capacity {
            let grown = (capacity * 2).max(MIN_CAPACITY).min(self.max_capacity);
            self.rehash(grown);
        }
    }

    /// Moves every session into a new slot array, keeping each recency list's order.
    /// Moves every session into a new slot array of `capacity` slots, keeping the recency
    /// lists. Two sequential passes (place every session, then translate its links through an
    /// old -> new index map) rather than following the lists, whose dependent cache misses
    /// would serialize: this way the misses are independent and overlap.
    pub(super) fn rehash(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; capacity]);
        self.salt = (
            mix64(self.seed ^ (capacity as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            mix64(self.seed ^ 0x51F0_0000_0000_0001),
        );
        let mut new_index = vec![NIL; old.len()];
        for (old_index, slot) in old.iter().enumerate() {
            if !slot.occupied() {
                continue;
            }
            // Keys are distinct, so the first vacant slot of the probe run is the place.
            let mut index = self.home(slot.server, self.key(slot));
            while self.slots[index].occupied() {
                index += 1;
                if index == capacity {
                    index = 0;
                }
            }
            self.slots[index] = *slot;
            new_index[old_index] = index as u32;
        }
        let translate = |link: u32| {
            if link == NIL {
                NIL
            } else {
                new_index[link as usize]
            }
        };
        for slot in self.slots.iter_mut().filter(|s| s.occupied()) {
            slot.newer = translate(slot.newer);
            slot.older = translate(slot.older);
        }
        for list in &mut self.lists {
            list.newest = translate(list.newest);
            list.oldest = translate(list.oldest);
        }
    }

    pub(super) fn remove_at(&mut self, index: usize) -> SessionRow {
        let mut cursor = NIL;
        self.remove_tracking(index, &mut cursor)
    }

    /// Removes the session in `index`, closing the gap by shifting later members of its probe
    /// run back. A slot index held in `cursor` is updated if its session moves.
    pub(super) fn remove_tracking(&mut self, index: usize, cursor: &mut u32) -> SessionRow {
        let removed = self.slots[index];
        let row = self.row(&removed);
        self.unlink(index);
        self.count_removed(removed.target);
        if removed.is_v6() {
            self.v6.release(removed.addr);
        }
        self.len -= 1;
        let capacity = self.slots.len();
        let mut hole = index;
        let mut probe = (index + 1) % capacity;
        loop {
            let slot = self.slots[probe];
            if !slot.occupied() {
                break;
            }
            let home = self.home(slot.server, self.key(&slot));
            // The session may fill the hole unless its home lies cyclically in (hole, probe].
            let stays = if hole <= probe {
                hole < home && home <= probe
            } else {
                hole < home || home <= probe
            };
            if !stays {
                self.slots[hole] = slot;
                let list = slot.list();
                if slot.newer == NIL {
                    self.lists[list].newest = hole as u32;
                } else {
                    self.slots[slot.newer as usize].older = hole as u32;
                }
                if slot.older == NIL {
                    self.lists[list].oldest = hole as u32;
                } else {
                    self.slots[slot.older as usize].newer = hole as u32;
                }
                if *cursor == probe as u32 {
                    *cursor = hole as u32;
                }
                hole = probe;
            }
            probe = (probe + 1) % capacity;
        }
        self.slots[hole] = EMPTY;
        row
    }
}
