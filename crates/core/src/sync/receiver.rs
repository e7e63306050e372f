//! The backup's side: follows one sender boot, applies its sequenced datagrams to a [`Sink`]
//! within the configuration's [`SessionLimits`], detects gaps and sender restarts, and asks for
//! (and follows) a full-table resync that answers its own request id (see [`super`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use fulcrum_wire::sync::{emit_header, Datagram, Entry, Header, Kind, Op, MAC_LEN};

use super::{fresh, seq_after, SessionLimits, RESTART_QUIET, RETRY};

/// Where received sessions go (the driver's session tables; a plain table in tests).
pub trait Sink {
    fn upsert(&mut self, entry: &Entry);
    fn remove(&mut self, entry: &Entry);
    /// A full table starts arriving (before its first entry): a pure backup forgets what it
    /// had, since removals it missed would otherwise linger.
    fn full_table_started(&mut self) {}
}

/// Why a datagram (or, for the last three, one entry) was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a sync datagram (bad magic, version, lengths, over the size limit...).
    Malformed,
    /// Missing, unexpected or wrong HMAC (counted by the driver, which holds the key).
    Authentication,
    /// From an address other than the peer's (checked before the HMAC).
    NotFromPeer,
    /// A sequence number already seen (duplicate or reordered).
    Stale,
    /// A kind this side does not take now (a FullRequest to a backup, a dump nobody asked for).
    Unexpected,
    /// With a key: sent outside the replay window of this node's wall clock.
    OutOfWindow,
    /// With a key: from a sender boot older than the one followed (a replay).
    OldBoot,
    /// With a key: a full-table request already seen from its boot (a replay).
    Replayed,
    /// From a sender boot not (yet) followed: taken only from a dump that answers our request.
    UnknownBoot,
    /// An entry naming a server the configuration does not have.
    UnknownServer,
    /// An entry naming a target that is not one of its server's.
    UnknownTarget,
    /// An entry whose timeout is 0 or above its server's session timeout.
    BadTimeout,
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
    pub dropped_not_from_peer: u64,
    pub dropped_stale: u64,
    pub dropped_unexpected: u64,
    pub dropped_out_of_window: u64,
    pub dropped_old_boot: u64,
    pub dropped_replayed: u64,
    pub dropped_unknown_boot: u64,
    pub dropped_unknown_server: u64,
    pub dropped_unknown_target: u64,
    pub dropped_bad_timeout: u64,
}

impl ReceiverCounters {
    /// Adds `other`'s counts (the sum over every peer's receiver).
    pub fn add(&mut self, o: &ReceiverCounters) {
        let pairs = [
            (&mut self.datagrams, o.datagrams),
            (&mut self.applied, o.applied),
            (&mut self.gaps, o.gaps),
            (&mut self.peer_restarts, o.peer_restarts),
            (&mut self.full_requests, o.full_requests),
            (&mut self.dropped_malformed, o.dropped_malformed),
            (&mut self.dropped_authentication, o.dropped_authentication),
            (&mut self.dropped_not_from_peer, o.dropped_not_from_peer),
            (&mut self.dropped_stale, o.dropped_stale),
            (&mut self.dropped_unexpected, o.dropped_unexpected),
            (&mut self.dropped_out_of_window, o.dropped_out_of_window),
            (&mut self.dropped_old_boot, o.dropped_old_boot),
            (&mut self.dropped_replayed, o.dropped_replayed),
            (&mut self.dropped_unknown_boot, o.dropped_unknown_boot),
            (&mut self.dropped_unknown_server, o.dropped_unknown_server),
            (&mut self.dropped_unknown_target, o.dropped_unknown_target),
            (&mut self.dropped_bad_timeout, o.dropped_bad_timeout),
        ];
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }
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
    /// A FullRequest for the peer, with a zeroed trailer to fill when the key is set (and its
    /// sent-at to stamp).
    Send(Vec<u8>),
    Log(String),
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// This process's boot id (its FullRequests carry it).
    pub node: u32,
    pub with_mac: bool,
    /// With a key: the replay window (see [`super::REPLAY_WINDOW`]); `None` without one.
    pub replay_window: Option<Duration>,
    /// What entries may name.
    pub limits: SessionLimits,
    /// Seeds the request ids (random per start, so an off-path sender cannot guess them).
    pub seed: u64,
}

pub struct Receiver {
    config: ReceiverConfig,
    /// The sender boot followed.
    peer_node: Option<u32>,
    next_seq: u32,
    /// The newest sent-at taken from a followed boot (with a key, older boots are refused).
    newest_sent_at: u64,
    resync: Resync,
    /// The id of the latest FullRequest (a dump must answer it).
    request: u32,
    request_seq: u32,
    rng: u64,
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
    pub fn new(config: ReceiverConfig, now: Instant) -> Receiver {
        Receiver {
            rng: config.seed,
            config,
            last_now: now,
            peer_node: None,
            next_seq: 0,
            newest_sent_at: 0,
            resync: Resync::Wanted,
            request: 0,
            request_seq: 0,
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

    /// The running configuration changed: entries are checked against this from now on.
    pub fn set_limits(&mut self, limits: SessionLimits) {
        self.config.limits = limits;
    }

    /// Starts over as if just started (a node that becomes backup again).
    pub fn restart(&mut self, now: Instant) {
        self.last_now = now;
        self.peer_node = None;
        self.resync = Resync::Wanted;
    }

    /// Counts a datagram (or entry) dropped, here or by the caller before it got here.
    pub fn count_drop(&mut self, reason: DropReason) {
        let c = &mut self.counters;
        let counter = match reason {
            DropReason::Malformed => &mut c.dropped_malformed,
            DropReason::Authentication => &mut c.dropped_authentication,
            DropReason::NotFromPeer => &mut c.dropped_not_from_peer,
            DropReason::Stale => &mut c.dropped_stale,
            DropReason::Unexpected => &mut c.dropped_unexpected,
            DropReason::OutOfWindow => &mut c.dropped_out_of_window,
            DropReason::OldBoot => &mut c.dropped_old_boot,
            DropReason::Replayed => &mut c.dropped_replayed,
            DropReason::UnknownBoot => &mut c.dropped_unknown_boot,
            DropReason::UnknownServer => &mut c.dropped_unknown_server,
            DropReason::UnknownTarget => &mut c.dropped_unknown_target,
            DropReason::BadTimeout => &mut c.dropped_bad_timeout,
        };
        *counter += 1;
    }

    /// Takes raw bytes: checks them and applies what they carry. Call with a datagram not yet
    /// checked as a view (tests, fuzzing), then drain [`Receiver::poll_output`].
    pub fn handle_bytes(&mut self, now: Instant, wall_ms: u64, bytes: &[u8], sink: &mut dyn Sink) {
        match Datagram::new_checked(bytes) {
            Ok(datagram) => self.handle_datagram(now, wall_ms, &datagram, sink),
            Err(_) => self.count_drop(DropReason::Malformed),
        }
    }

    /// Takes a checked datagram from the peer's address (with a key, authenticated);
    /// `wall_ms` is this node's wall clock in ms since the Unix epoch. Call for each datagram
    /// the driver checked itself (with a key, after the HMAC), then drain
    /// [`Receiver::poll_output`].
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        wall_ms: u64,
        datagram: &Datagram<&[u8]>,
        sink: &mut dyn Sink,
    ) {
        self.last_now = now;
        if let Some(window) = self.config.replay_window {
            if !fresh(window, datagram.sent_at(), wall_ms) {
                return self.count_drop(DropReason::OutOfWindow);
            }
        }
        let kind = datagram.kind();
        let answers_us = self.request != 0 && datagram.request() == self.request;
        let asked = matches!(
            self.resync,
            Resync::Requested { .. } | Resync::Receiving { .. }
        );
        match kind {
            Kind::FullRequest => return self.count_drop(DropReason::Unexpected),
            Kind::Cookie if answers_us && asked && datagram.cookie() != 0 => {
                // The master wants proof that we receive at our address: ask again with it.
                self.send_request(datagram.cookie());
                return;
            }
            Kind::Cookie => return self.count_drop(DropReason::Unexpected),
            _ => {}
        }
        let dump = matches!(kind, Kind::FullChunk | Kind::FullDone);
        let seq = datagram.sequence();
        if self.peer_node != Some(datagram.node()) {
            if self.config.replay_window.is_some() && datagram.sent_at() <= self.newest_sent_at {
                return self.count_drop(DropReason::OldBoot);
            }
            if !(dump && answers_us && matches!(self.resync, Resync::Requested { .. })) {
                // Only a dump answering our own request id starts following a boot: an
                // Update from an unknown boot (a restarted peer, or a forgery) only makes us ask.
                self.count_drop(DropReason::UnknownBoot);
                // A restarted peer stops sending under its old boot; while the followed boot
                // is still heard, a new one is a forgery and asks for nothing.
                let quiet = self
                    .last_datagram
                    .is_none_or(|at| now >= at + RESTART_QUIET);
                if self.peer_node.is_some() && self.resync == Resync::InSync && quiet {
                    self.want_full("sync: a new peer boot; asking for the full table".into());
                }
                return;
            }
            if self.peer_node.is_some() {
                self.counters.peer_restarts += 1;
            }
            self.peer_node = Some(datagram.node());
        } else {
            if !seq_after(seq, self.next_seq.wrapping_sub(1)) {
                return self.count_drop(DropReason::Stale);
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
        self.next_seq = seq.wrapping_add(1).max(1);
        self.newest_sent_at = self.newest_sent_at.max(datagram.sent_at());
        self.last_datagram = Some(now);
        if dump && !(answers_us && asked) {
            // A dump for an older request (or forged): in sequence, but not ours to apply.
            return self.count_drop(DropReason::Unexpected);
        }
        self.counters.datagrams += 1;
        self.follow_dump(now, kind, datagram.entry_count(), sink);
        for entry in datagram.entries() {
            if let Err(reason) = self.config.limits.check(&entry) {
                self.count_drop(reason);
                continue;
            }
            match entry.op {
                Op::Upsert => sink.upsert(&entry),
                Op::Remove => sink.remove(&entry),
            }
            self.counters.applied += 1;
        }
    }

    fn follow_dump(&mut self, now: Instant, kind: Kind, entries: u16, sink: &mut dyn Sink) {
        match (kind, self.resync) {
            (Kind::FullChunk, Resync::Requested { .. }) => {
                sink.full_table_started();
                self.resync = Resync::Receiving {
                    sessions: u64::from(entries),
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
                let sessions = sessions + u64::from(entries);
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
    }

    fn want_full(&mut self, why: String) {
        if matches!(self.resync, Resync::Wanted) {
            return;
        }
        self.out.push_back(ReceiverOutput::Log(why));
        self.resync = Resync::Wanted;
    }

    /// The next request id (splitmix64 over the seed; never 0, which means "none").
    fn next_request_id(&mut self) -> u32 {
        loop {
            self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let id = (z ^ (z >> 31)) as u32;
            if id != 0 {
                return id;
            }
        }
    }

    /// Queues a FullRequest with the current request id (and `cookie` when echoing one).
    fn send_request(&mut self, cookie: u32) {
        self.request_seq = self.request_seq.wrapping_add(1).max(1);
        let mut header = Header::new(Kind::FullRequest, self.config.with_mac, self.config.node);
        header.sequence = self.request_seq;
        header.request = self.request;
        header.cookie = cookie;
        let mut bytes = Vec::with_capacity(fulcrum_wire::sync::HEADER_LEN + MAC_LEN);
        emit_header(&mut bytes, &header);
        if self.config.with_mac {
            bytes.extend_from_slice(&[0; MAC_LEN]);
        }
        self.out.push_back(ReceiverOutput::Send(bytes));
    }

    /// Call when the instant [`Receiver::poll_timeout`] named has come (ask for the full table
    /// again), then drain [`Receiver::poll_output`].
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
            self.request = self.next_request_id();
            self.out.push_back(ReceiverOutput::Log(
                "sync: asking the peer for the full table".into(),
            ));
            self.send_request(0);
        }
    }

    /// When [`Receiver::handle_timeout`] must next be called; ask again after every
    /// `handle_*`. `None`: in sync, nothing to retry.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.resync {
            Resync::Wanted => Some(self.last_now),
            Resync::Requested { at } => Some(at + RETRY),
            Resync::Receiving { last_chunk, .. } => Some(last_chunk + RETRY),
            Resync::InSync => None,
        }
    }

    /// The next datagram to send (a full-table request) or line to log, in order; drain it
    /// after every `handle_*`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ReceiverOutput> {
        self.out.pop_front()
    }
}
