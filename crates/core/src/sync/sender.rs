//! The master's side: batches session events into sequenced Update datagrams and paces a
//! full-table dump on request (see the module documentation of [`super`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use fulcrum_wire::sync::{emit_header, set_entry_count, Entry, Kind, HEADER_LEN, MAC_LEN};

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
}

impl SenderConfig {
    pub fn new(node: u32, with_mac: bool) -> SenderConfig {
        SenderConfig {
            node,
            with_mac,
            max_datagram: 1400,
            flush_after: Duration::from_millis(50),
            keepalive: Duration::from_secs(1),
            // 20 000 datagrams (about 1.3 million IPv4 sessions) a second.
            dump_datagrams_per_ms: 20,
        }
    }
}

#[derive(Debug)]
pub enum SenderOutput {
    /// A datagram for the peer (with a zeroed trailer to fill when `with_mac`).
    Send(Vec<u8>),
    Log(String),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SenderCounters {
    pub datagrams: u64,
    pub entries: u64,
    pub full_dumps: u64,
}

struct Dump {
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

    /// A session was created, refreshed or removed.
    pub fn handle_event(&mut self, now: Instant, entry: Entry) {
        if self.pending.len() + entry.wire_len() > self.room() || self.pending_count == u16::MAX {
            self.flush(now);
        }
        if self.pending.is_empty() {
            emit_header(
                &mut self.pending,
                Kind::Update,
                self.config.with_mac,
                0,
                self.config.node,
                0,
            );
            self.pending_since = Some(now);
        }
        entry.emit(&mut self.pending);
        self.pending_count += 1;
    }

    /// The peer asked for the whole table; `rows` is it (ages as of now). A dump under way
    /// starts over with these rows.
    pub fn handle_full_request(&mut self, now: Instant, rows: Vec<Entry>) {
        self.out.push_back(SenderOutput::Log(format!(
            "sync: sending the full table to the peer ({} sessions)",
            rows.len()
        )));
        self.counters.full_dumps += 1;
        self.dump = Some(Dump {
            rows,
            next: 0,
            started: now,
            datagrams: 0,
            next_tick: now,
        });
        self.handle_timeout(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(since) = self.pending_since {
            if now >= since + self.config.flush_after {
                self.flush(now);
            }
        }
        self.pace_dump(now);
        if self.pending.is_empty() && now >= self.last_sent + self.config.keepalive {
            let mut datagram = Vec::with_capacity(HEADER_LEN + MAC_LEN);
            self.finish(now, Kind::Update, &mut datagram, 0);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.last_sent + self.config.keepalive;
        if let Some(since) = self.pending_since {
            next = next.min(since + self.config.flush_after);
        }
        if let Some(dump) = &self.dump {
            next = next.min(dump.next_tick);
        }
        Some(next)
    }

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
        self.finish(now, Kind::Update, &mut datagram, count);
    }

    /// Numbers, counts and queues a datagram whose header is already written (or, for an empty
    /// one, writes it).
    fn finish(&mut self, now: Instant, kind: Kind, datagram: &mut Vec<u8>, count: u16) {
        if datagram.is_empty() {
            emit_header(datagram, kind, self.config.with_mac, 0, self.config.node, 0);
        }
        set_entry_count(datagram, count);
        datagram[12..16].copy_from_slice(&self.next_seq.to_be_bytes());
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
                    self.finish(now, Kind::FullDone, &mut done, 0);
                    let ms = now.saturating_duration_since(dump.started).as_millis();
                    self.out.push_back(SenderOutput::Log(format!(
                        "sync: full table sent ({} sessions in {} datagrams, {ms} ms)",
                        dump.rows.len(),
                        dump.datagrams + 1
                    )));
                    return;
                }
                let mut datagram = Vec::with_capacity(room + MAC_LEN);
                emit_header(
                    &mut datagram,
                    Kind::FullChunk,
                    self.config.with_mac,
                    0,
                    self.config.node,
                    0,
                );
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
                self.finish(now, Kind::FullChunk, &mut datagram, count);
            }
            dump.next_tick += Duration::from_millis(1);
        }
        self.dump = Some(dump);
    }
}
