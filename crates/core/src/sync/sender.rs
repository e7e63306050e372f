//! The master's side: batches session events into sequenced Update datagrams, admits
//! full-table requests through its [`RequestGate`], and runs at most one paced dump at a time
//! (see the module documentation of [`super`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use fulcrum_wire::sync::{
    emit_header, set_entry_count, set_sequence, Entry, Header, Kind, HEADER_LEN, MAC_LEN,
};

use super::requests::{Admission, RequestGate, RequestInfo};
use super::DropReason;

#[derive(Debug, Clone, Copy)]
pub struct SenderConfig {
    /// This process's boot id (random per start), so a receiver sees a restart.
    pub node: u32,
    /// Leave room for the HMAC trailer and set its flag (the driver fills it).
    pub with_mac: bool,
    /// Upper bound of a datagram's size, trailer included.
    pub max_datagram: usize,
    /// A pending event waits at most this long for company.
    pub flush_after: Duration,
    /// An empty Update goes out after this long without any datagram.
    pub keepalive: Duration,
    /// Full-table pacing: datagrams per millisecond.
    pub dump_datagrams_per_ms: u32,
    /// A dump starts at least this long after the previous one ended.
    pub dump_interval: Duration,
    /// With a key: the replay window for full-table requests; `None` without one.
    pub replay_window: Option<Duration>,
}

impl SenderConfig {
    pub fn new(node: u32, with_mac: bool) -> SenderConfig {
        SenderConfig {
            node,
            with_mac,
            max_datagram: super::MAX_DATAGRAM,
            flush_after: Duration::from_millis(50),
            keepalive: Duration::from_secs(1),
            // 20 000 datagrams (about 1.3 million IPv4 sessions) a second.
            dump_datagrams_per_ms: 20,
            dump_interval: Duration::from_secs(1),
            replay_window: with_mac.then_some(super::REPLAY_WINDOW),
        }
    }
}

#[derive(Debug)]
pub enum SenderOutput {
    /// A datagram for the peer (with a zeroed trailer to fill when `with_mac`, and its sent-at
    /// to stamp).
    Send(Vec<u8>),
    /// A dump is due: hand the table's rows to [`Sender::start_dump`].
    Snapshot,
    Log(String),
}

/// What became of a full-table request.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestVerdict {
    /// A dump is due at once ([`SenderOutput::Snapshot`] is queued).
    Started,
    /// A dump is under way: one more follows it, answering this request.
    Coalesced,
    /// The last dump ended less than the dump interval ago: this one follows then.
    Deferred,
    /// Send this Cookie datagram (zeroed trailer) to the request's source, not to the peer.
    Cookie(Vec<u8>),
    Dropped(DropReason),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SenderCounters {
    pub datagrams: u64,
    pub entries: u64,
    pub full_dumps: u64,
    /// Requests folded into a dump already under way or due.
    pub requests_coalesced: u64,
    /// Requests that waited for the dump interval.
    pub requests_deferred: u64,
    pub cookies: u64,
}

impl SenderCounters {
    /// Adds `other`'s counts (the sum over every peer's sender).
    pub fn add(&mut self, other: &SenderCounters) {
        self.datagrams += other.datagrams;
        self.entries += other.entries;
        self.full_dumps += other.full_dumps;
        self.requests_coalesced += other.requests_coalesced;
        self.requests_deferred += other.requests_deferred;
        self.cookies += other.cookies;
    }
}

struct Dump {
    request: u32,
    rows: Vec<Entry>,
    next: usize,
    started: Instant,
    datagrams: u64,
    next_tick: Instant,
}

pub struct Sender {
    config: SenderConfig,
    next_seq: u32,
    /// The Update being filled (header written, count patched on flush).
    pending: Vec<u8>,
    pending_count: u16,
    pending_since: Option<Instant>,
    last_sent: Instant,
    dump: Option<Dump>,
    /// The request id a dump is due for (the latest one when several came).
    wanted: Option<u32>,
    /// A Snapshot was asked for and not yet handed in.
    snapshot_asked: bool,
    last_dump_end: Option<Instant>,
    gate: RequestGate,
    out: VecDeque<SenderOutput>,
    counters: SenderCounters,
}

impl Sender {
    pub fn new(config: SenderConfig, now: Instant) -> Sender {
        Sender {
            config,
            next_seq: 1,
            pending: Vec::new(),
            pending_count: 0,
            pending_since: None,
            last_sent: now,
            dump: None,
            wanted: None,
            snapshot_asked: false,
            last_dump_end: None,
            gate: RequestGate::new(config.replay_window),
            out: VecDeque::new(),
            counters: SenderCounters::default(),
        }
    }

    pub fn counters(&self) -> SenderCounters {
        self.counters
    }

    /// `Some((sent, total))` while a full-table dump is under way.
    pub fn dump_progress(&self) -> Option<(usize, usize)> {
        self.dump.as_ref().map(|d| (d.next, d.rows.len()))
    }

    fn room(&self) -> usize {
        self.config.max_datagram - if self.config.with_mac { MAC_LEN } else { 0 }
    }

    /// A session was created, refreshed or removed: call for each change the plane reports, then
    /// drain [`Sender::poll_output`].
    pub fn handle_event(&mut self, now: Instant, entry: Entry) {
        if self.pending.len() + entry.wire_len() > self.room() || self.pending_count == u16::MAX {
            self.flush(now);
        }
        if self.pending.is_empty() {
            let header = Header::new(Kind::Update, self.config.with_mac, self.config.node);
            emit_header(&mut self.pending, &header);
            self.pending_since = Some(now);
        }
        entry.emit(&mut self.pending);
        self.pending_count += 1;
    }

    /// A full-table request that passed the source and HMAC checks; `known_peer`: it came from
    /// the configured or VRRP peer; `wall_ms` the wall clock; `random` a fresh random value.
    /// Call for each such request, carry out the verdict, then drain [`Sender::poll_output`].
    pub fn handle_full_request(
        &mut self,
        now: Instant,
        wall_ms: u64,
        request: &RequestInfo,
        known_peer: bool,
        random: u32,
    ) -> RequestVerdict {
        match self.gate.admit(now, wall_ms, request, known_peer, random) {
            Admission::Drop(reason) => return RequestVerdict::Dropped(reason),
            Admission::SendCookie(cookie) => {
                self.counters.cookies += 1;
                let mut header = Header::new(Kind::Cookie, self.config.with_mac, self.config.node);
                header.request = request.request;
                header.cookie = cookie;
                let mut bytes = Vec::with_capacity(HEADER_LEN + MAC_LEN);
                emit_header(&mut bytes, &header);
                if self.config.with_mac {
                    bytes.extend_from_slice(&[0; MAC_LEN]);
                }
                return RequestVerdict::Cookie(bytes);
            }
            Admission::Admit => {}
        }
        let busy = self.dump.is_some() || self.snapshot_asked || self.wanted.is_some();
        self.wanted = Some(request.request);
        if busy {
            self.counters.requests_coalesced += 1;
            return RequestVerdict::Coalesced;
        }
        if self.dump_due(now) {
            self.ask_snapshot();
            RequestVerdict::Started
        } else {
            self.counters.requests_deferred += 1;
            RequestVerdict::Deferred
        }
    }

    fn dump_due(&self, now: Instant) -> bool {
        self.last_dump_end
            .is_none_or(|end| now >= end + self.config.dump_interval)
    }

    fn ask_snapshot(&mut self) {
        self.snapshot_asked = true;
        self.out.push_back(SenderOutput::Snapshot);
    }

    /// The table's rows (ages as of now) for the dump a [`SenderOutput::Snapshot`] asked for.
    pub fn start_dump(&mut self, now: Instant, rows: Vec<Entry>) {
        self.snapshot_asked = false;
        let Some(request) = self.wanted.take() else {
            return;
        };
        self.out.push_back(SenderOutput::Log(format!(
            "sync: sending the full table to the peer ({} sessions)",
            rows.len()
        )));
        self.counters.full_dumps += 1;
        self.dump = Some(Dump {
            request,
            rows,
            next: 0,
            started: now,
            datagrams: 0,
            next_tick: now,
        });
        self.handle_timeout(now);
    }

    /// Call when the instant [`Sender::poll_timeout`] named has come (flush, pace a dump,
    /// keepalive), then drain [`Sender::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(since) = self.pending_since {
            if now >= since + self.config.flush_after {
                self.flush(now);
            }
        }
        self.pace_dump(now);
        if self.dump.is_none()
            && !self.snapshot_asked
            && self.wanted.is_some()
            && self.dump_due(now)
        {
            self.ask_snapshot();
        }
        if self.pending.is_empty() && now >= self.last_sent + self.config.keepalive {
            let mut datagram = Vec::with_capacity(HEADER_LEN + MAC_LEN);
            self.finish(now, Kind::Update, &mut datagram, 0, 0);
        }
    }

    /// When [`Sender::handle_timeout`] must next be called; ask again after every `handle_*`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.last_sent + self.config.keepalive;
        if let Some(since) = self.pending_since {
            next = next.min(since + self.config.flush_after);
        }
        if let Some(dump) = &self.dump {
            next = next.min(dump.next_tick);
        }
        if let (None, Some(_), Some(end)) = (&self.dump, self.wanted, self.last_dump_end) {
            next = next.min(end + self.config.dump_interval);
        }
        Some(next)
    }

    /// The next datagram to send or line to log, in order; drain it after every `handle_*`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<SenderOutput> {
        self.out.pop_front()
    }

    /// Sends the pending Update, if any.
    pub fn flush(&mut self, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let mut datagram = std::mem::take(&mut self.pending);
        let count = self.pending_count;
        self.pending_count = 0;
        self.pending_since = None;
        self.finish(now, Kind::Update, &mut datagram, count, 0);
    }

    /// Numbers, counts and queues a datagram whose header is already written (or, for an empty
    /// one, writes it, answering `request`).
    fn finish(
        &mut self,
        now: Instant,
        kind: Kind,
        datagram: &mut Vec<u8>,
        count: u16,
        request: u32,
    ) {
        if datagram.is_empty() {
            let mut header = Header::new(kind, self.config.with_mac, self.config.node);
            header.request = request;
            emit_header(datagram, &header);
        }
        set_entry_count(datagram, count);
        set_sequence(datagram, self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        if self.config.with_mac {
            datagram.extend_from_slice(&[0; MAC_LEN]);
        }
        self.counters.datagrams += 1;
        self.counters.entries += u64::from(count);
        self.last_sent = now;
        self.out
            .push_back(SenderOutput::Send(std::mem::take(datagram)));
    }

    fn pace_dump(&mut self, now: Instant) {
        let Some(mut dump) = self.dump.take() else {
            return;
        };
        let room = self.room();
        // A late caller catches up at most 20 ms of pacing at once (no burst to overrun the peer).
        if let Some(floor) = now.checked_sub(Duration::from_millis(20)) {
            dump.next_tick = dump.next_tick.max(floor);
        }
        while now >= dump.next_tick {
            for _ in 0..self.config.dump_datagrams_per_ms.max(1) {
                if dump.next >= dump.rows.len() {
                    let mut done = Vec::new();
                    self.finish(now, Kind::FullDone, &mut done, 0, dump.request);
                    self.last_dump_end = Some(now);
                    let ms = now.saturating_duration_since(dump.started).as_millis();
                    self.out.push_back(SenderOutput::Log(format!(
                        "sync: full table sent ({} sessions in {} datagrams, {ms} ms)",
                        dump.rows.len(),
                        dump.datagrams + 1
                    )));
                    return;
                }
                let mut datagram = Vec::with_capacity(room + MAC_LEN);
                let mut header =
                    Header::new(Kind::FullChunk, self.config.with_mac, self.config.node);
                header.request = dump.request;
                emit_header(&mut datagram, &header);
                let mut count = 0u16;
                while let Some(row) = dump.rows.get(dump.next) {
                    if datagram.len() + row.wire_len() > room || count == u16::MAX {
                        break;
                    }
                    row.emit(&mut datagram);
                    count += 1;
                    dump.next += 1;
                }
                dump.datagrams += 1;
                self.finish(now, Kind::FullChunk, &mut datagram, count, dump.request);
            }
            dump.next_tick += Duration::from_millis(1);
        }
        self.dump = Some(dump);
    }
}
