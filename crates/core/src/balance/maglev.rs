//! Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
//! Load Balancer", NSDI 2016, section 3.4), weighted, with an exact failover rule on top.
//!
//! Contract: [`MaglevTable::build`] is a pure function of the set of (id, weight, operational)
//! members, independent of their order, so every node holding the same target set computes the
//! same table and the same choice for every client. Lookups are one array read.
//!
//! How the table is made:
//! 1. The *base* table is Maglev's population over every member with a weight above zero,
//!    operational or not, in id order. Each member walks its own permutation of the
//!    [`TABLE_SIZE`] slots (offset and skip from a fixed hash of its id); members take turns in
//!    proportion to their weights (the weighted round of Katran's Maglev v2: a member claims a
//!    slot each time its accumulated weight reaches the largest weight).
//! 2. A slot whose base owner is down is *resolved* by probing a fixed pseudo-random sequence of
//!    other slots (from a hash of the slot number) until one owned by an operational member is
//!    found; that member takes it. So a target that goes down hands its own clients to the others
//!    in proportion to their weights, and no other client moves; when it comes back its clients
//!    return to it. Removing a target from the set altogether (a configuration change) rebuilds
//!    the base table, where Maglev keeps disruption small but not zero.
//! 3. If no operational member owns any base slot (possible only when the operational members'
//!    weights are tiny next to a down member's), the base table is built from the operational
//!    members alone.

use super::hashing::{mix64, reduce};

/// Number of slots: a prime, as Maglev requires, about 65 thousand so that weights are honoured
/// within a fraction of a percent for up to a few hundred targets.
pub const TABLE_SIZE: usize = 65537;

/// Probes of the pseudo-random failover sequence before falling back to a linear walk (only
/// reached when nearly every slot belongs to down members).
const MAX_FAILOVER_PROBES: u64 = 4096;

/// One member of the target set as Maglev sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub id: u32,
    pub weight: u32,
    pub operational: bool,
}

/// A built Maglev lookup table: slot -> target id.
#[derive(Clone)]
pub struct MaglevTable {
    slots: Box<[u32]>,
}

impl std::fmt::Debug for MaglevTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaglevTable")
            .field("size", &self.slots.len())
            .finish()
    }
}

impl MaglevTable {
    /// Builds the table, or `None` when no member is operational with a weight above zero.
    pub fn build(members: &[Member]) -> Option<MaglevTable> {
        let mut eligible: Vec<Member> = members.iter().copied().filter(|m| m.weight > 0).collect();
        eligible.sort_by_key(|m| m.id);
        eligible.dedup_by_key(|m| m.id);
        if !eligible.iter().any(|m| m.operational) {
            return None;
        }
        let mut owners = populate(&eligible);
        if !owners.iter().any(|&i| eligible[i as usize].operational) {
            eligible.retain(|m| m.operational);
            owners = populate(&eligible);
        }
        let slots = (0..TABLE_SIZE)
            .map(|slot| {
                let owner = &eligible[owners[slot] as usize];
                if owner.operational {
                    owner.id
                } else {
                    eligible[failover_owner(&owners, &eligible, slot) as usize].id
                }
            })
            .collect();
        Some(MaglevTable { slots })
    }

    /// The target for a client, given the client's 64-bit address hash.
    pub fn lookup(&self, client_hash: u64) -> u32 {
        self.slots[reduce(client_hash, TABLE_SIZE as u64) as usize]
    }

    /// How many slots each target holds (for tests and `show` output).
    pub fn slot_count(&self, id: u32) -> usize {
        self.slots.iter().filter(|&&s| s == id).count()
    }
}

/// Maglev's population step over `members` (non-empty, positive weights). Returns, per slot,
/// the index of its owner in `members`.
fn populate(members: &[Member]) -> Vec<u32> {
    const VACANT: u32 = u32::MAX;
    let size = TABLE_SIZE as u64;
    let max_weight = members
        .iter()
        .map(|m| u64::from(m.weight))
        .max()
        .unwrap_or(1);
    let skips: Vec<u64> = members
        .iter()
        .map(|m| mix64(u64::from(m.id) ^ 0x5EED_0002_0000_0000) % (size - 1) + 1)
        .collect();
    let mut positions: Vec<u64> = members
        .iter()
        .map(|m| mix64(u64::from(m.id) ^ 0x5EED_0001_0000_0000) % size)
        .collect();
    let mut credit = vec![0u64; members.len()];
    let mut owners = vec![VACANT; TABLE_SIZE];
    let mut filled = 0usize;
    loop {
        for (index, member) in members.iter().enumerate() {
            credit[index] += u64::from(member.weight);
            if credit[index] < max_weight {
                continue;
            }
            credit[index] -= max_weight;
            // The permutation visits every slot within TABLE_SIZE steps (prime size, skip in
            // 1..size), and at least one slot is vacant here, so this loop ends.
            loop {
                let slot = positions[index] as usize;
                // Both terms are below `size`, so one subtraction replaces a division.
                positions[index] += skips[index];
                if positions[index] >= size {
                    positions[index] -= size;
                }
                if owners[slot] == VACANT {
                    owners[slot] = index as u32;
                    filled += 1;
                    break;
                }
            }
            if filled == TABLE_SIZE {
                return owners;
            }
        }
    }
}

/// The operational member that takes over `slot`, whose base owner is down.
fn failover_owner(owners: &[u32], members: &[Member], slot: usize) -> u32 {
    let seed = mix64(slot as u64 | (0xFA11 << 32));
    for probe in 1..=MAX_FAILOVER_PROBES {
        let candidate = reduce(mix64(seed ^ probe), TABLE_SIZE as u64) as usize;
        let owner = owners[candidate];
        if members[owner as usize].operational {
            return owner;
        }
    }
    // The caller guarantees an operational owner exists somewhere in the table.
    (1..TABLE_SIZE)
        .map(|step| owners[(slot + step) % TABLE_SIZE])
        .find(|&owner| members[owner as usize].operational)
        .unwrap_or(owners[slot])
}
