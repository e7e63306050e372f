//! Balancing methods: which target a server gives a *new* client.
//!
//! Contract: a [`Chooser`] is built once per runtime snapshot and server from the server's
//! [`Method`] and its targets as [`Candidate`]s, and is immutable afterwards (`Send + Sync`),
//! so every worker thread shares it. [`Chooser::pick`] is a pure function of the chooser and
//! its arguments: the client address, a round-robin counter the caller keeps per worker, a
//! random number the caller draws, and a view of the current session counts. Nothing in here
//! reads a clock or a random source.
//!
//! Rules common to every method: only *eligible* candidates are chosen, that is operational
//! ones with a weight above zero (weight 0 takes no new clients, whatever the method). With no
//! eligible candidate, `pick` returns `None` (the caller counts a `NoTarget` drop, or applies
//! `set failopen` by building a chooser whose candidates are all marked operational: see
//! [`fail_open`]).
//!
//! | method    | new client goes to |
//! |-----------|--------------------|
//! | `rr`      | smooth weighted round robin: turn `rr_counter` of a fixed cycle (3:1 gives `a a b a`) |
//! | `random`  | weighted random from `random` |
//! | `hash`    | Maglev consistent hash of the client address (see [`maglev`]) |
//! | `first`   | the eligible candidate with the lowest id |
//! | `least`   | fewest sessions per `sessions_of`, ties to the lowest id |
//! | `session` | the `hash` choice; keeping the client there is the session table's job |
//! | `agent`   | lowest agent value among eligible candidates that have one, ties broken by a hash of (client, target); if none has a value yet, the `hash` choice |
//!
//! Whether a client keeps its session or gets a new pick is [`stick_or_pick`]'s rule, the one
//! both data planes apply, with the clock and the per-worker [`Pick`] state passed in.
//!
//! Candidates are identified by the operator's target id; the order they are given in does
//! not matter (they are sorted by id), so nodes with the same target set choose alike. A
//! repeated id keeps its first entry.

mod agent;
mod fail_open;
pub(crate) mod hashing;
pub mod maglev;
mod stick;
mod weighted;

use std::net::IpAddr;

use crate::model::Method;
pub use fail_open::fail_open;
use hashing::{address_hash, pair_hash};
use maglev::{MaglevTable, Member};
pub use stick::{stick_or_pick, Pick, Rule, SessionStore};
pub use weighted::{RoundRobin, WeightedRandom, MAX_SCHEDULE};

/// One target of a server as the chooser sees it in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The operator's target id.
    pub id: u32,
    /// Relative weight (`rr`, `random`, `hash`, `session`); 0 takes no new clients.
    pub weight: u32,
    /// Registered, enabled and passing its checks.
    pub operational: bool,
    /// The last value its agent reported, if any (`agent`: lower is better).
    pub agent_value: Option<u32>,
}

impl Candidate {
    fn eligible(&self) -> bool {
        self.operational && self.weight > 0
    }
}

/// Immutable per-server chooser built once per snapshot.
#[derive(Debug, Clone)]
pub struct Chooser {
    method: Method,
    /// Sorted by id, one entry per id.
    candidates: Vec<Candidate>,
    round_robin: RoundRobin,
    random: WeightedRandom,
    /// Built for `hash`, `session` and `agent` (its fallback).
    maglev: Option<MaglevTable>,
}

impl Chooser {
    pub fn new(method: Method, mut candidates: Vec<Candidate>) -> Chooser {
        candidates.sort_by_key(|c| c.id);
        candidates.dedup_by_key(|c| c.id);
        let eligible: Vec<(u32, u32)> = candidates
            .iter()
            .filter(|c| c.eligible())
            .map(|c| (c.id, c.weight))
            .collect();
        let round_robin = match method {
            Method::Rr => RoundRobin::new(&eligible),
            _ => RoundRobin::default(),
        };
        let random = match method {
            Method::Random => WeightedRandom::new(&eligible),
            _ => WeightedRandom::default(),
        };
        let maglev = match method {
            Method::Hash | Method::Session | Method::Agent => {
                let members: Vec<Member> = candidates
                    .iter()
                    .map(|c| Member {
                        id: c.id,
                        weight: c.weight,
                        operational: c.operational,
                    })
                    .collect();
                MaglevTable::build(&members)
            }
            _ => None,
        };
        Chooser {
            method,
            candidates,
            round_robin,
            random,
            maglev,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Picks a target for a NEW client. `rr_counter` is a per-worker counter the caller
    /// increments per pick, `random` a uniformly random `u64` the caller draws, and
    /// `sessions_of(target_id)` the current session count of a target (used by `least` only).
    pub fn pick(
        &self,
        client: IpAddr,
        rr_counter: u64,
        random: u64,
        sessions_of: &dyn Fn(u32) -> u64,
    ) -> Option<u32> {
        match self.method {
            Method::Rr => self.round_robin.pick(rr_counter),
            Method::Random => self.random.pick(random),
            Method::Hash | Method::Session => self.hash_choice(client),
            Method::First => self.eligible().next().map(|c| c.id),
            Method::Least => self
                .eligible()
                .map(|c| (sessions_of(c.id), c.id))
                .min()
                .map(|(_, id)| id),
            Method::Agent => self.agent_choice(client),
        }
    }

    /// The Maglev choice for a client (`hash`, and where `session` places new clients).
    /// `None` for methods built without a Maglev table or with no eligible candidate.
    pub fn hash_choice(&self, client: IpAddr) -> Option<u32> {
        self.maglev
            .as_ref()
            .map(|table| table.lookup(address_hash(client)))
    }

    /// Ids of the operational candidates (whatever their weight), in id order.
    pub fn operational_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.candidates
            .iter()
            .filter(|c| c.operational)
            .map(|c| c.id)
    }

    /// Whether `id` is a candidate here and operational: the session table's sticky entry for a
    /// client is honoured only while this holds.
    pub fn is_operational(&self, id: u32) -> bool {
        self.candidates
            .binary_search_by_key(&id, |c| c.id)
            .is_ok_and(|index| self.candidates[index].operational)
    }

    fn eligible(&self) -> impl Iterator<Item = &Candidate> + '_ {
        self.candidates.iter().filter(|c| c.eligible())
    }

    fn agent_choice(&self, client: IpAddr) -> Option<u32> {
        let lowest = self.eligible().filter_map(|c| c.agent_value).min();
        let Some(lowest) = lowest else {
            return self.hash_choice(client);
        };
        let client_hash = address_hash(client);
        self.eligible()
            .filter(|c| c.agent_value == Some(lowest))
            .max_by_key(|c| pair_hash(client_hash, c.id))
            .map(|c| c.id)
    }
}

/// The `hash` column of `show sessions`, as the seed prints it.
///
/// IPv4: the low 24 bits of the address (`10.1.60.5` -> 1*65536 + 60*256 + 5 = 80901).
/// IPv6: the XOR of the address's 24-bit groups taken from the low end (five full groups and
/// the top 8 bits), which keeps the value in the same 0..2^24 range.
pub fn client_hash(client: IpAddr) -> u32 {
    const LOW24: u128 = 0x00FF_FFFF;
    match client {
        IpAddr::V4(v4) => u32::from(v4) & LOW24 as u32,
        IpAddr::V6(v6) => {
            let mut bits = u128::from(v6);
            let mut folded = 0u128;
            while bits != 0 {
                folded ^= bits & LOW24;
                bits >>= 24;
            }
            folded as u32
        }
    }
}

#[cfg(test)]
mod tests;
