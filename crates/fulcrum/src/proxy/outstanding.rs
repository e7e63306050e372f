//! The bounded table of queries a worker has sent to one target and not yet seen answered.
//!
//! Contract: [`Outstanding::insert`] hands out a fresh 16-bit query ID for the upstream copy of
//! a client's query, or `None` when the table is full (the caller counts an `Overload` drop);
//! [`Outstanding::take`] returns the pending query for a response only if its ID is outstanding
//! and its question fingerprint matches, and frees the slot; [`Outstanding::expire`] removes
//! queries older than the timeout and reports each. Fixed memory, no allocation after `new`.
//!
//! An ID is the slot index in the low bits and a rolling generation in the high bits, XORed
//! with a per-table mask so that consecutive IDs do not look consecutive on the wire. A late
//! answer to a slot that has been reused carries the old generation and is refused.

use std::net::{IpAddr, SocketAddr};

/// What a worker remembers about a query it forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Where the answer goes.
    pub client: SocketAddr,
    /// The local address the client queried (replies leave from it).
    pub local: Option<IpAddr>,
    /// The client's own query ID, restored on the way back.
    pub client_id: u16,
    /// The server the query was for, and (as a hint, checked against the id) the index of the
    /// worker's listener it came in on.
    pub server: u32,
    pub listener: u16,
    /// Fingerprint of the question asked (see `fulcrum_wire::dns::question_fingerprint`).
    pub fingerprint: u64,
    pub sent_ms: u64,
}

/// Why a response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No query with this ID is outstanding.
    UnknownId,
    /// The ID is outstanding but the question differs.
    QuestionMismatch,
}

#[derive(Clone, Copy)]
struct Entry {
    id: u16,
    pending: Option<Pending>,
}

pub struct Outstanding {
    entries: Box<[Entry]>,
    free: Vec<u16>,
    index_bits: u32,
    generation: u16,
    wire_mask: u16,
    in_flight: usize,
}

impl Outstanding {
    /// A table of `capacity` slots (rounded up to a power of two between 16 and 32768);
    /// `wire_mask` scrambles the IDs (pass a random number).
    pub fn new(capacity: usize, wire_mask: u16) -> Outstanding {
        let capacity = capacity.clamp(16, 1 << 15).next_power_of_two();
        let index_bits = capacity.trailing_zeros();
        Outstanding {
            entries: vec![
                Entry {
                    id: 0,
                    pending: None
                };
                capacity
            ]
            .into_boxed_slice(),
            // Popped from the end: hand out slot 0 first.
            free: (0..capacity as u16).rev().collect(),
            index_bits,
            generation: 0,
            wire_mask,
            in_flight: 0,
        }
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Stores `pending` and returns the ID to put in the upstream query, or `None` when full.
    pub fn insert(&mut self, pending: Pending) -> Option<u16> {
        let slot = self.free.pop()?;
        let generations = 1u32 << (16 - self.index_bits);
        self.generation = ((u32::from(self.generation) + 1) % generations) as u16;
        let id = if self.index_bits == 16 {
            slot
        } else {
            (self.generation << self.index_bits) | slot
        };
        self.entries[usize::from(slot)] = Entry {
            id,
            pending: Some(pending),
        };
        self.in_flight += 1;
        Some(id ^ self.wire_mask)
    }

    /// The pending query answered by a response with `wire_id` and question `fingerprint`
    /// (0 for a response without a question, which matches on the ID alone).
    pub fn take(&mut self, wire_id: u16, fingerprint: u64) -> Result<Pending, Refused> {
        let id = wire_id ^ self.wire_mask;
        let slot = usize::from(id) & (self.entries.len() - 1);
        let entry = &mut self.entries[slot];
        let pending = match entry.pending {
            Some(p) if entry.id == id => p,
            _ => return Err(Refused::UnknownId),
        };
        if fingerprint != 0 && fingerprint != pending.fingerprint {
            // Keep waiting: the real answer may still come.
            return Err(Refused::QuestionMismatch);
        }
        entry.pending = None;
        self.free.push(slot as u16);
        self.in_flight -= 1;
        Ok(pending)
    }

    /// Removes every query sent at or before `now_ms - timeout_ms` and passes it to `expired`.
    pub fn expire(&mut self, now_ms: u64, timeout_ms: u64, mut expired: impl FnMut(Pending)) {
        if self.in_flight == 0 {
            return;
        }
        for (slot, entry) in self.entries.iter_mut().enumerate() {
            if let Some(p) = entry.pending {
                if now_ms.saturating_sub(p.sent_ms) >= timeout_ms {
                    entry.pending = None;
                    self.free.push(slot as u16);
                    self.in_flight -= 1;
                    expired(p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(client_id: u16, fingerprint: u64, sent_ms: u64) -> Pending {
        Pending {
            client: "127.0.0.1:5353".parse().unwrap(),
            local: None,
            client_id,
            server: 1,
            listener: 0,
            fingerprint,
            sent_ms,
        }
    }

    #[test]
    fn answer_restores_the_pending_query_once() {
        let mut table = Outstanding::new(16, 0x5a5a);
        let id = table.insert(pending(7, 99, 0)).unwrap();
        assert_eq!(table.in_flight(), 1);
        assert_eq!(table.take(id, 98), Err(Refused::QuestionMismatch));
        assert_eq!(table.take(id, 99).map(|p| p.client_id), Ok(7));
        assert_eq!(
            table.take(id, 99),
            Err(Refused::UnknownId),
            "answered twice"
        );
        assert_eq!(table.in_flight(), 0);
    }

    #[test]
    fn ids_in_flight_are_distinct_and_full_is_refused() {
        let mut table = Outstanding::new(16, 0x1234);
        let mut ids: Vec<u16> = (0..16)
            .map(|i| table.insert(pending(i, 1, 0)).unwrap())
            .collect();
        assert_eq!(table.insert(pending(99, 1, 0)), None);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 16);
    }

    #[test]
    fn a_reused_slot_refuses_the_late_answer() {
        let mut table = Outstanding::new(16, 0);
        let old = table.insert(pending(1, 5, 0)).unwrap();
        table.expire(5_000, 2_000, |_| {});
        // Cycle through every free slot so the old one is handed out again.
        let mut fresh = Vec::new();
        for i in 0..16 {
            fresh.push(table.insert(pending(i, 5, 6_000)).unwrap());
        }
        assert!(!fresh.contains(&old));
        assert_eq!(table.take(old, 5), Err(Refused::UnknownId));
    }

    #[test]
    fn expiry_reports_only_old_queries() {
        let mut table = Outstanding::new(64, 0);
        for t in 0..10u64 {
            table.insert(pending(t as u16, 1, t * 1_000)).unwrap();
        }
        let mut gone = Vec::new();
        table.expire(6_000, 2_000, |p| gone.push(p.client_id));
        gone.sort();
        assert_eq!(gone, vec![0, 1, 2, 3, 4]);
        assert_eq!(table.in_flight(), 5);
        let mut rest = 0;
        table.expire(u64::MAX, 0, |_| rest += 1);
        assert_eq!((rest, table.in_flight()), (5, 0));
    }

    #[test]
    fn a_response_without_question_matches_on_id() {
        let mut table = Outstanding::new(16, 0);
        let id = table.insert(pending(3, 42, 0)).unwrap();
        assert_eq!(table.take(id, 0).map(|p| p.client_id), Ok(3));
    }

    #[test]
    fn capacity_is_a_bounded_power_of_two() {
        assert_eq!(Outstanding::new(1, 0).capacity(), 16);
        assert_eq!(Outstanding::new(1000, 0).capacity(), 1024);
        assert_eq!(Outstanding::new(1 << 20, 0).capacity(), 1 << 15);
    }
}
