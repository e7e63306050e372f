//! Lock-free traffic counters: one cache-line-aligned slot per writer thread (each UDP worker,
//! plus one for the TCP runtime), summed on read. A slot has exactly one writer, so an increment
//! is a plain load and store (no locked instruction, no cache-line ping-pong between cores).
//!
//! A target's slot also holds its response-time histogram (proxy mode): a count per bucket of
//! [`RESPONSE_BOUNDS_US`] and the sum, written by the worker that took the answer, so recording
//! one is two more single-writer increments.
//!
//! Direction convention: for a server, `bytes_in` are query bytes from clients and `bytes_out`
//! response bytes to clients; for a target, `bytes_out` are query bytes sent to it and
//! `bytes_in` response bytes received from it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use fulcrum_core::stats::{Counters, DropReason};

const DROP_KINDS: usize = DropReason::ALL.len();

/// Upper bounds of the response-time buckets in microseconds: 50 µs to 2 s, roughly 1-2.5-5 per
/// decade (a loopback answer takes tens of µs, a cache miss upstream hundreds of ms). One more
/// bucket past the last bound takes the rest.
pub const RESPONSE_BOUNDS_US: [u64; 15] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_000_000,
];
const RESPONSE_BUCKETS: usize = RESPONSE_BOUNDS_US.len() + 1;

/// A target's response times summed over writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseTimes {
    /// Answers per bucket: `counts[i]` took at most `RESPONSE_BOUNDS_US[i]` and more than the
    /// bound before; the last one took longer than every bound.
    pub counts: [u64; RESPONSE_BUCKETS],
    pub sum_us: u64,
}

/// One writer's counters.
#[derive(Default)]
#[repr(align(128))]
pub struct Slot {
    queries: AtomicU64,
    responses: AtomicU64,
    timeouts: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    drops: [AtomicU64; DROP_KINDS],
    response_counts: [AtomicU64; RESPONSE_BUCKETS],
    response_sum_us: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    // Single writer per slot (see the module doc): load + store cannot lose an update.
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

impl Slot {
    pub fn query(&self, bytes: usize) {
        bump(&self.queries, 1);
        bump(&self.bytes_in, bytes as u64);
    }
    pub fn response(&self, bytes: usize) {
        bump(&self.responses, 1);
        bump(&self.bytes_out, bytes as u64);
    }
    /// A query forwarded to a target (target counters).
    pub fn forwarded(&self, bytes: usize) {
        bump(&self.queries, 1);
        bump(&self.bytes_out, bytes as u64);
    }
    /// A response received from a target (target counters).
    pub fn answered(&self, bytes: usize) {
        bump(&self.responses, 1);
        bump(&self.bytes_in, bytes as u64);
    }
    /// An answer that came `us` microseconds after its query was forwarded (target counters).
    pub fn response_time(&self, us: u64) {
        let bucket = RESPONSE_BOUNDS_US.partition_point(|bound| *bound < us);
        bump(&self.response_counts[bucket], 1);
        bump(&self.response_sum_us, us);
    }
    pub fn timeout(&self) {
        bump(&self.timeouts, 1);
    }
    pub fn drop(&self, reason: DropReason) {
        bump(&self.drops[reason.index()], 1);
    }
}

/// The counters of one server or target across all writers.
pub struct CounterSet {
    slots: Box<[Slot]>,
}

impl CounterSet {
    /// Room for `writers` writer threads.
    pub fn new(writers: usize) -> CounterSet {
        CounterSet {
            slots: (0..writers.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    /// The slot of writer `writer` (writers beyond the set share the last slot; callers size
    /// the set so that this does not happen).
    pub fn slot(&self, writer: usize) -> &Slot {
        let last = self.slots.len() - 1;
        &self.slots[writer.min(last)]
    }

    /// The sum over all writers (`sessions` is left 0: the session table fills it in).
    pub fn snapshot(&self) -> Counters {
        let mut total = Counters::default();
        for slot in self.slots.iter() {
            total.queries += slot.queries.load(Relaxed);
            total.responses += slot.responses.load(Relaxed);
            total.timeouts += slot.timeouts.load(Relaxed);
            total.bytes_in += slot.bytes_in.load(Relaxed);
            total.bytes_out += slot.bytes_out.load(Relaxed);
            for (sum, drop) in total.drops.iter_mut().zip(slot.drops.iter()) {
                *sum += drop.load(Relaxed);
            }
        }
        total
    }

    /// The response-time histogram summed over all writers.
    pub fn response_times(&self) -> ResponseTimes {
        let mut total = ResponseTimes::default();
        for slot in self.slots.iter() {
            for (sum, n) in total.counts.iter_mut().zip(slot.response_counts.iter()) {
                *sum += n.load(Relaxed);
            }
            total.sum_us += slot.response_sum_us.load(Relaxed);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_summed() {
        let set = CounterSet::new(3);
        set.slot(0).query(40);
        set.slot(1).query(60);
        set.slot(2).response(300);
        set.slot(1).timeout();
        set.slot(0).drop(DropReason::Runt);
        set.slot(2).drop(DropReason::Runt);
        set.slot(9).drop(DropReason::UnknownId);
        let c = set.snapshot();
        assert_eq!((c.queries, c.bytes_in), (2, 100));
        assert_eq!((c.responses, c.bytes_out), (1, 300));
        assert_eq!(c.timeouts, 1);
        assert_eq!(c.drops[DropReason::Runt.index()], 2);
        assert_eq!(c.drops[DropReason::UnknownId.index()], 1);
        assert_eq!(c.total_drops(), 3);
    }

    #[test]
    fn response_times_land_in_their_buckets() {
        let set = CounterSet::new(2);
        for (writer, us) in [(0, 0), (1, 50), (0, 51), (1, 2_000_000), (0, 2_000_001)] {
            set.slot(writer).response_time(us);
        }
        let t = set.response_times();
        assert_eq!(t.counts[0], 2, "0 and 50 us: at most 50");
        assert_eq!(t.counts[1], 1, "51 us: at most 100");
        assert_eq!(t.counts[RESPONSE_BOUNDS_US.len() - 1], 1, "2 s exactly");
        assert_eq!(t.counts[RESPONSE_BOUNDS_US.len()], 1, "beyond every bound");
        assert_eq!(t.counts.iter().sum::<u64>(), 5);
        assert_eq!(t.sum_us, 4_000_102);
    }

    #[test]
    fn slots_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<Slot>() >= 128);
    }

    #[test]
    fn concurrent_single_writers_lose_nothing() {
        let set = std::sync::Arc::new(CounterSet::new(2));
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let set = set.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        set.slot(w).forwarded(1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(set.snapshot().queries, 200_000);
    }
}
