//! The backup's side: applies sequenced datagrams to a [`Sink`], detects gaps and sender
//! restarts, and asks for (and follows) a full-table resync (see [`super`]).

use std::collections::VecDeque;
use std::time::Instant;

use fulcrum_wire::sync::{Datagram, Entry, Kind, Op};

use super::{seq_after, RETRY};

/// Where received sessions go (the driver's session tables; a plain table in tests).
pub trait Sink {
    fn upsert(&mut self, entry: &Entry);
    fn remove(&mut self, entry: &Entry);
    /// A full table starts arriving (before its first entry): a pure backup forgets what it
    /// had, since removals it missed would otherwise linger.
    fn full_table_started(&mut self) {}
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a sync datagram (bad magic, version, lengths...).
    Malformed,
    /// Missing, unexpected or wrong HMAC (counted by the driver, which holds the key).
    Authentication,
    /// A sequence number already seen (duplicate or reordered).
    Stale,
    /// A kind this side does not take (a FullRequest sent to a receiver).
    Unexpected,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverCounters {
    pub datagrams: u64,
    pub applied: u64,
    pub gaps: u64,
    pub peer_restarts: u64,
    pub full_requests: u64,
    pub dropped_malformed: u64,
    pub dropped_authentication: u64,
    pub dropped_stale: u64,
    pub dropped_unexpected: u64,
}

/// Where the receiver stands with the full table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// A full table is needed; the request goes out at the next timeout.
    Wanted,
    /// Asked at `at`, nothing received yet.
    Requested { at: Instant },
    /// Chunks are arriving.
    Receiving {
        sessions: u64,
        chunks: u64,
        last_chunk: Instant,
        started: Instant,
    },
    /// The last full table arrived whole and nothing was missed since.
    InSync,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReceiverOutput {
    SendFullRequest,
    Log(String),
}

pub struct Receiver {
    peer_node: Option<u32>,
    next_seq: u32,
    resync: Resync,
    last_datagram: Option<Instant>,
    /// The latest `now` handed in (a wanted request is due at once).
    last_now: Instant,
    out: VecDeque<ReceiverOutput>,
    counters: ReceiverCounters,
}

/// Progress is logged every this many chunks (about 66 000 IPv4 sessions).
const PROGRESS_EVERY: u64 = 1000;

impl Receiver {
    /// A receiver that starts without a table, so it wants a full one.
    pub fn new(now: Instant) -> Receiver {
        Receiver {
            last_now: now,
            peer_node: None,
            next_seq: 0,
            resync: Resync::Wanted,
            last_datagram: None,
            out: VecDeque::new(),
            counters: ReceiverCounters::default(),
        }
    }

    pub fn counters(&self) -> ReceiverCounters {
        self.counters
    }

    pub fn resync(&self) -> Resync {
        self.resync
    }

    pub fn last_datagram(&self) -> Option<Instant> {
        self.last_datagram
    }

    /// Starts over as if just started (a node that becomes backup again).
    pub fn restart(&mut self, now: Instant) {
        self.last_now = now;
        self.peer_node = None;
        self.resync = Resync::Wanted;
    }

    /// Counts a datagram the caller dropped before it got here.
    pub fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Malformed => &mut self.counters.dropped_malformed,
            DropReason::Authentication => &mut self.counters.dropped_authentication,
            DropReason::Stale => &mut self.counters.dropped_stale,
            DropReason::Unexpected => &mut self.counters.dropped_unexpected,
        };
        *counter += 1;
    }

    /// Takes raw bytes: checks them and applies what they carry.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8], sink: &mut dyn Sink) {
        match Datagram::new_checked(bytes) {
            Ok(datagram) => self.handle_datagram(now, &datagram, sink),
            Err(_) => self.count_drop(DropReason::Malformed),
        }
    }

    /// Takes a checked (and, with a key, authenticated) datagram.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        datagram: &Datagram<&[u8]>,
        sink: &mut dyn Sink,
    ) {
        self.last_now = now;
        let kind = datagram.kind();
        if kind == Kind::FullRequest {
            self.count_drop(DropReason::Unexpected);
            return;
        }
        let seq = datagram.sequence();
        match self.peer_node {
            Some(node) if node == datagram.node() => {
                if !seq_after(seq, self.next_seq.wrapping_sub(1)) {
                    self.count_drop(DropReason::Stale);
                    return;
                }
                if seq != self.next_seq {
                    self.counters.gaps += 1;
                    self.want_full(format!(
                        "sync: {} datagrams missed (sequence {} after {}); asking for the full table",
                        seq.wrapping_sub(self.next_seq),
                        seq,
                        self.next_seq.wrapping_sub(1)
                    ));
                }
            }
            Some(_) => {
                self.counters.peer_restarts += 1;
                self.want_full("sync: the peer restarted; asking for the full table".into());
            }
            None => {}
        }
        self.peer_node = Some(datagram.node());
        self.next_seq = seq.wrapping_add(1).max(1);
        self.last_datagram = Some(now);
        self.counters.datagrams += 1;
        match (kind, self.resync) {
            (Kind::FullChunk, Resync::Requested { .. }) => {
                sink.full_table_started();
                self.resync = Resync::Receiving {
                    sessions: u64::from(datagram.entry_count()),
                    chunks: 1,
                    last_chunk: now,
                    started: now,
                };
            }
            (
                Kind::FullChunk,
                Resync::Receiving {
                    sessions,
                    chunks,
                    started,
                    ..
                },
            ) => {
                let sessions = sessions + u64::from(datagram.entry_count());
                let chunks = chunks + 1;
                if chunks.is_multiple_of(PROGRESS_EVERY) {
                    self.out.push_back(ReceiverOutput::Log(format!(
                        "sync: full table: {sessions} sessions received so far"
                    )));
                }
                self.resync = Resync::Receiving {
                    sessions,
                    chunks,
                    last_chunk: now,
                    started,
                };
            }
            (
                Kind::FullDone,
                Resync::Receiving {
                    sessions, started, ..
                },
            ) => {
                let ms = now.saturating_duration_since(started).as_millis();
                self.out.push_back(ReceiverOutput::Log(format!(
                    "sync: full table received ({sessions} sessions in {ms} ms); in sync"
                )));
                self.resync = Resync::InSync;
            }
            (Kind::FullDone, Resync::Requested { .. }) => {
                sink.full_table_started();
                self.out.push_back(ReceiverOutput::Log(
                    "sync: full table received (the peer has no sessions); in sync".into(),
                ));
                self.resync = Resync::InSync;
            }
            _ => {}
        }
        for entry in datagram.entries() {
            match entry.op {
                Op::Upsert => sink.upsert(&entry),
                Op::Remove => sink.remove(&entry),
            }
            self.counters.applied += 1;
        }
    }

    fn want_full(&mut self, why: String) {
        if matches!(self.resync, Resync::Wanted) {
            return;
        }
        self.out.push_back(ReceiverOutput::Log(why));
        self.resync = Resync::Wanted;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        let ask = match self.resync {
            Resync::Wanted => true,
            Resync::Requested { at } => now >= at + RETRY,
            Resync::Receiving { last_chunk, .. } => now >= last_chunk + RETRY,
            Resync::InSync => false,
        };
        if ask {
            self.counters.full_requests += 1;
            self.resync = Resync::Requested { at: now };
            self.out.push_back(ReceiverOutput::SendFullRequest);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.resync {
            Resync::Wanted => Some(self.last_now),
            Resync::Requested { at } => Some(at + RETRY),
            Resync::Receiving { last_chunk, .. } => Some(last_chunk + RETRY),
            Resync::InSync => None,
        }
    }

    pub fn poll_output(&mut self) -> Option<ReceiverOutput> {
        self.out.pop_front()
    }
}
