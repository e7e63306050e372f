//! The bounded table of queries a proxy worker has sent to one target and not yet seen
//! answered, and the matching of a target's answer to the query it answers.
//!
//! Contract: [`Outstanding::insert`] hands out a fresh 16-bit query ID for the upstream copy of
//! a client's query, or `None` when the table is full (the caller counts an `Overload` drop);
//! [`Outstanding::take`] returns the pending query for a response only if its ID is outstanding
//! and its question fingerprint matches, and frees the slot; [`Outstanding::expire`] removes
//! queries older than the timeout and reports each. [`Outstanding::answer`] reads a datagram from
//! the target (header and question checked by `fulcrum_wire::dns`) and takes its pending query:
//! an accepted answer carries the ID handed out for that query and its question (or none, with
//! an error RCODE) and arrived on the socket the query left on ([`Pending::via`]; else
//! [`Refused::WrongSocket`]). Send times ([`Pending::sent_us`]) and the timeout are in the
//! caller's microseconds. Fixed memory, no allocation after `new`.
//!
//! An ID is a slot index in the low bits and a generation in the high bits, both drawn at
//! random for every query (a free slot picked at random, a generation other than the slot's
//! last), from SipHash-1-3 of a counter under a secret per-table key: an off-path host that
//! spoofs a target's answers cannot predict the next ID from the ones before (with sequential
//! IDs it could). A late answer to a slot that has been reused carries the old generation and
//! is refused. The cost, one SipHash of 8 bytes per query, is in `docs/benchmarks.md`.

use std::net::{IpAddr, SocketAddr};

use fulcrum_wire::dns;

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
    /// When it was forwarded, in microseconds since the worker started.
    pub sent_us: u64,
    /// Which of the worker's sockets to the target the query left on: the answer must come
    /// back on it (an off-path host must guess the port as well as the ID).
    pub via: u16,
}

/// Why a response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No query with this ID is outstanding.
    UnknownId,
    /// The ID is outstanding but the question differs.
    QuestionMismatch,
    /// Not a well-formed response (the header view's verdict).
    Malformed(dns::Error),
    /// The ID and question are outstanding, but the query left on another socket.
    WrongSocket,
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
    /// Secret key of the ID draw.
    key: (u64, u64),
    /// IDs drawn so far: the draw's input.
    draws: u64,
    in_flight: usize,
}

impl Outstanding {
    /// A table of `capacity` slots (rounded up to a power of two between 16 and 32768);
    /// `key` keys the ID draw (pass random numbers).
    pub fn new(capacity: usize, key: (u64, u64)) -> Outstanding {
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
            free: (0..capacity as u16).collect(),
            index_bits,
            key,
            draws: 0,
            in_flight: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Queries waiting for their answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Stores `pending` and returns the ID to put in the upstream query, or `None` when full.
    pub fn insert(&mut self, pending: Pending) -> Option<u16> {
        if self.free.is_empty() {
            return None;
        }
        let draw = self.draw();
        let slot = self
            .free
            .swap_remove((draw % self.free.len() as u64) as usize);
        // At most 2^15 slots, so at least one generation bit.
        let generations = 1u32 << (16 - self.index_bits);
        let last = u32::from(self.entries[usize::from(slot)].id) >> self.index_bits;
        let mut generation = ((draw >> 32) as u32) % generations;
        if generation == last {
            generation = (generation + 1) % generations;
        }
        let id = ((generation << self.index_bits) as u16) | slot;
        self.entries[usize::from(slot)] = Entry {
            id,
            pending: Some(pending),
        };
        self.in_flight += 1;
        Some(id)
    }

    fn draw(&mut self) -> u64 {
        use std::hash::Hasher;
        let mut hasher = siphasher::sip::SipHasher13::new_with_keys(self.key.0, self.key.1);
        hasher.write_u64(self.draws);
        self.draws = self.draws.wrapping_add(1);
        hasher.finish()
    }

    /// The pending query answered by a response with `wire_id` and question `fingerprint`
    /// (0 for a response without a question, which matches on the ID alone).
    pub fn take(&mut self, id: u16, fingerprint: u64) -> Result<Pending, Refused> {
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

    /// The pending query `message`, a datagram from the target received on socket `via`,
    /// answers; the slot is freed only when it does.
    pub fn answer(&mut self, message: &[u8], via: u16) -> Result<Pending, Refused> {
        let info = dns::classify_response(message).map_err(Refused::Malformed)?;
        let fingerprint = dns::message_fingerprint(message, info.question_end);
        let slot = usize::from(info.id) & (self.entries.len() - 1);
        let entry = &self.entries[slot];
        if let Some(pending) = entry.pending.filter(|_| entry.id == info.id) {
            if pending.via != via {
                return Err(Refused::WrongSocket);
            }
        }
        self.take(info.id, fingerprint)
    }

    /// Removes every query sent at or before `now_us - timeout_us` and passes it to `expired`.
    pub fn expire(&mut self, now_us: u64, timeout_us: u64, mut expired: impl FnMut(Pending)) {
        if self.in_flight == 0 {
            return;
        }
        for (slot, entry) in self.entries.iter_mut().enumerate() {
            if let Some(p) = entry.pending {
                if now_us.saturating_sub(p.sent_us) >= timeout_us {
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

    fn pending(client_id: u16, fingerprint: u64, sent_us: u64) -> Pending {
        Pending {
            client: "127.0.0.1:5353".parse().unwrap(),
            local: None,
            client_id,
            server: 1,
            listener: 0,
            fingerprint,
            sent_us,
            via: 0,
        }
    }

    #[test]
    fn answer_restores_the_pending_query_once() {
        let mut table = Outstanding::new(16, (1, 2));
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
        let mut table = Outstanding::new(16, (3, 4));
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
        let mut table = Outstanding::new(16, (0, 0));
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
        let mut table = Outstanding::new(64, (0, 0));
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

    /// With sequential IDs, the next ID followed from the last one seen; drawn IDs give an
    /// attacker who saw every earlier ID no better guess than chance.
    #[test]
    fn the_next_id_cannot_be_told_from_the_ones_before() {
        let mut table = Outstanding::new(1024, (0x1234, 0x5678));
        let mut ids = Vec::new();
        for i in 0..20_000u64 {
            let id = table.insert(pending(0, 1, i)).unwrap();
            ids.push(id);
            assert_eq!(table.take(id, 1).map(|p| p.sent_us), Ok(i));
        }
        // Guess "last + 1", "last + slot stride" or "the same as last": each should hit about
        // 20_000 / 65_536 times (0.3), never more than a handful.
        for stride in [0u16, 1, 1024] {
            let hits = ids
                .windows(2)
                .filter(|w| w[1] == w[0].wrapping_add(stride))
                .count();
            assert!(hits < 10, "stride {stride}: {hits} hits");
        }
        // And the IDs cover the whole 16-bit space evenly (16 buckets of 4096).
        let mut buckets = [0u32; 16];
        for id in &ids {
            buckets[usize::from(id >> 12)] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (1_000..1_500).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn a_response_without_question_matches_on_id() {
        let mut table = Outstanding::new(16, (0, 0));
        let id = table.insert(pending(3, 42, 0)).unwrap();
        assert_eq!(table.take(id, 0).map(|p| p.client_id), Ok(3));
    }

    #[test]
    fn an_answer_is_matched_by_id_and_question() {
        // `example.com A`, as a query and as its answer (QR set), ID to be replaced.
        let query: [u8; 29] = [
            0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e',
            3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ];
        let question = &query[dns::HEADER_LEN..];
        let mut table = Outstanding::new(16, (5, 6));
        let id = table
            .insert(pending(9, dns::question_fingerprint(question), 0))
            .unwrap();
        let mut answer = query;
        answer[2] |= 0x80;
        assert!(matches!(
            table.answer(&query, 0),
            Err(Refused::Malformed(_))
        ));
        answer[..2].copy_from_slice(&id.wrapping_add(1).to_be_bytes());
        assert_eq!(table.answer(&answer, 0), Err(Refused::UnknownId));
        answer[..2].copy_from_slice(&id.to_be_bytes());
        let mut other = answer;
        other[14] = b'y';
        assert_eq!(table.answer(&other, 0), Err(Refused::QuestionMismatch));
        assert_eq!(
            table.answer(&answer, 1),
            Err(Refused::WrongSocket),
            "the query left on socket 0"
        );
        // The name is compared without case.
        answer[14] = b'X';
        assert_eq!(table.answer(&answer, 0).map(|p| p.client_id), Ok(9));
        assert_eq!(table.in_flight(), 0);
    }

    #[test]
    fn capacity_is_a_bounded_power_of_two() {
        assert_eq!(Outstanding::new(1, (0, 0)).capacity(), 16);
        assert_eq!(Outstanding::new(1000, (0, 0)).capacity(), 1024);
        assert_eq!(Outstanding::new(1 << 20, (0, 0)).capacity(), 1 << 15);
    }
}
