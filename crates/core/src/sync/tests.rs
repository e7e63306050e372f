//! Scenario tests of the sync sender and receiver on a virtual clock.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;
use fulcrum_wire::sync::Datagram;

/// A wall clock for tests (ms since the Unix epoch); the senders here do not stamp sent-at, so
/// the receivers run without a replay window.
pub(super) const WALL: u64 = 1_800_000_000_000;

/// What the tests' entries may name: servers 1..=3, targets 1..=4, timeouts up to 600 s.
pub(super) fn limits() -> SessionLimits {
    SessionLimits::new((1..=3).map(|server| (server, vec![1, 2, 3, 4], 600)))
}

pub(super) fn receiver(node: u32, now: Instant) -> Receiver {
    let config = ReceiverConfig {
        node,
        with_mac: false,
        replay_window: None,
        limits: limits(),
        seed: u64::from(node) * 7919,
    };
    Receiver::new(config, now)
}

/// The FullRequests the receiver wants sent.
pub(super) fn request_bytes(receiver: &mut Receiver) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(o) = receiver.poll_output() {
        if let ReceiverOutput::Send(bytes) = o {
            out.push(bytes);
        }
    }
    out
}

/// A request's fields as the master's driver hands them to the sender.
pub(super) fn request_info(bytes: &[u8], from: std::net::Ipv4Addr) -> RequestInfo {
    let d = Datagram::new_checked(bytes).unwrap();
    RequestInfo {
        from: from.into(),
        node: d.node(),
        sequence: d.sequence(),
        sent_at: d.sent_at(),
        request: d.request(),
        cookie: d.cookie(),
    }
}

/// Drains the sender, handing it `rows` whenever it asks for a snapshot.
pub(super) fn pump(
    sender: &mut Sender,
    now: Instant,
    rows: &dyn Fn() -> Vec<Entry>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(o) = sender.poll_output() {
        match o {
            SenderOutput::Send(bytes) => out.push(bytes),
            SenderOutput::Snapshot => sender.start_dump(now, rows()),
            SenderOutput::Log(_) => {}
        }
    }
    out
}

/// The peer's address in these tests.
pub(super) const PEER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 235, 210, 46);

/// A backup's table as a plain map: (server, client) -> (target, timeout).
#[derive(Default, Debug, PartialEq)]
struct MapSink {
    rows: BTreeMap<(u32, IpAddr), (u32, u32)>,
}

impl Sink for MapSink {
    fn upsert(&mut self, e: &Entry) {
        self.rows
            .insert((e.server, e.client), (e.target, e.timeout));
    }
    fn remove(&mut self, e: &Entry) {
        self.rows.remove(&(e.server, e.client));
    }
    fn full_table_started(&mut self) {
        self.rows.clear();
    }
}

fn entry(op: Op, i: u32, target: u32) -> Entry {
    Entry {
        op,
        server: 1 + i % 3,
        client: IpAddr::from((0x0a00_0000 + i).to_be_bytes()),
        target,
        age: 0,
        timeout: 600,
    }
}

fn sends(sender: &mut Sender) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(o) = sender.poll_output() {
        if let SenderOutput::Send(bytes) = o {
            out.push(bytes);
        }
    }
    out
}

fn requests(receiver: &mut Receiver) -> usize {
    request_bytes(receiver).len()
}

#[test]
fn events_are_batched_into_bounded_numbered_datagrams() {
    let t0 = Instant::now();
    let mut sender = Sender::new(SenderConfig::new(9, true), t0);
    for i in 0..1000 {
        sender.handle_event(t0, entry(Op::Upsert, i, 1));
    }
    // Not yet flushed by time: the full ones went out, the last waits for flush_after.
    let full = sends(&mut sender);
    assert!(!full.is_empty());
    sender.handle_timeout(t0 + Duration::from_millis(49));
    assert!(sends(&mut sender).is_empty());
    sender.handle_timeout(t0 + Duration::from_millis(50));
    let all: Vec<Vec<u8>> = full.into_iter().chain(sends(&mut sender)).collect();
    let mut total = 0;
    for (n, bytes) in all.iter().enumerate() {
        assert!(bytes.len() <= 1400, "{}", bytes.len());
        let d = Datagram::new_checked(&bytes[..]).unwrap();
        assert_eq!(d.sequence(), n as u32 + 1);
        assert_eq!(d.node(), 9);
        assert!(d.has_mac());
        total += d.entries().count();
    }
    assert_eq!(total, 1000);
    // 21-byte IPv4 entries: 63 fit in 1400 - 32 - 32 bytes.
    assert_eq!(all.len(), 1000usize.div_ceil(63));
}

#[test]
fn an_idle_sender_sends_keepalives() {
    let t0 = Instant::now();
    let mut sender = Sender::new(SenderConfig::new(1, false), t0);
    assert_eq!(sender.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    sender.handle_timeout(t0 + Duration::from_secs(1));
    let out = sends(&mut sender);
    assert_eq!(out.len(), 1);
    assert_eq!(Datagram::new_checked(&out[0][..]).unwrap().entry_count(), 0);
}

#[test]
fn gaps_stale_datagrams_and_restarts_are_detected() {
    let t0 = Instant::now();
    let mut sender = Sender::new(SenderConfig::new(5, false), t0);
    let mut datagrams = Vec::new();
    for i in 0..4 {
        sender.handle_event(t0, entry(Op::Upsert, i, 1));
        sender.flush(t0);
        datagrams.extend(sends(&mut sender));
    }
    let mut receiver = receiver(2, t0);
    let mut sink = MapSink::default();
    // A fresh receiver wants the table at once; the (empty) dump makes it follow the sender.
    assert_eq!(receiver.poll_timeout(), Some(t0));
    receiver.handle_timeout(t0);
    let asked = request_bytes(&mut receiver);
    assert_eq!(asked.len(), 1);
    // Updates of a boot it does not follow yet are not applied.
    receiver.handle_bytes(t0, WALL, &datagrams[0], &mut sink);
    assert_eq!(receiver.counters().dropped_unknown_boot, 1);
    assert!(sink.rows.is_empty());
    sender.handle_full_request(t0, WALL, &request_info(&asked[0], PEER), true, 1);
    for bytes in pump(&mut sender, t0, &Vec::new) {
        receiver.handle_bytes(t0, WALL, &bytes, &mut sink);
    }
    assert_eq!(receiver.resync(), Resync::InSync);
    for i in 4..8 {
        sender.handle_event(t0, entry(Op::Upsert, i, 1));
        sender.flush(t0);
        datagrams.extend(sends(&mut sender));
    }
    receiver.handle_bytes(t0, WALL, &datagrams[4], &mut sink);
    receiver.handle_bytes(t0, WALL, &datagrams[6], &mut sink); // 5 is lost
    assert_eq!(receiver.counters().gaps, 1);
    assert_eq!(receiver.resync(), Resync::Wanted);
    receiver.handle_timeout(t0);
    assert_eq!(requests(&mut receiver), 1);
    receiver.handle_bytes(t0, WALL, &datagrams[6], &mut sink); // replayed
    assert_eq!(receiver.counters().dropped_stale, 1);
    receiver.handle_bytes(t0, WALL, b"not a sync datagram", &mut sink);
    assert_eq!(receiver.counters().dropped_malformed, 1);
    assert_eq!(sink.rows.len(), 2, "entries of 4 and 6 applied");
    // No answer: asked again after RETRY.
    receiver.handle_timeout(t0 + RETRY - Duration::from_millis(1));
    assert_eq!(requests(&mut receiver), 0);
    receiver.handle_timeout(t0 + RETRY);
    let asked = request_bytes(&mut receiver);
    assert_eq!(asked.len(), 1);
    // A restarted sender (new node id) starts its sequence over: not stale; its Update is not
    // applied, its dump answering the request is, and counts as a restart.
    let mut restarted = Sender::new(SenderConfig::new(6, false), t0);
    restarted.handle_event(t0, entry(Op::Upsert, 9, 1));
    restarted.flush(t0);
    for bytes in sends(&mut restarted) {
        receiver.handle_bytes(t0, WALL, &bytes, &mut sink);
    }
    assert_eq!(receiver.counters().dropped_unknown_boot, 2);
    restarted.handle_full_request(t0, WALL, &request_info(&asked[0], PEER), true, 1);
    let rows = || vec![entry(Op::Upsert, 9, 1)];
    for bytes in pump(&mut restarted, t0, &rows) {
        receiver.handle_bytes(t0, WALL, &bytes, &mut sink);
    }
    assert_eq!(receiver.counters().peer_restarts, 1);
    assert_eq!(receiver.counters().dropped_stale, 1);
    assert_eq!(receiver.resync(), Resync::InSync);
    assert_eq!(
        sink.rows.len(),
        1,
        "the restarted sender's table replaced the old one"
    );
}

#[test]
fn a_full_dump_is_paced() {
    let t0 = Instant::now();
    let mut config = SenderConfig::new(1, false);
    config.dump_datagrams_per_ms = 10;
    let mut sender = Sender::new(config, t0);
    let rows: Vec<Entry> = (0..100_000).map(|i| entry(Op::Upsert, i, 2)).collect();
    let mut backup = receiver(2, t0);
    backup.handle_timeout(t0);
    let asked = request_bytes(&mut backup);
    let verdict = sender.handle_full_request(t0, WALL, &request_info(&asked[0], PEER), true, 1);
    assert_eq!(verdict, RequestVerdict::Started);
    assert_eq!(
        pump(&mut sender, t0, &|| rows.clone()).len(),
        10,
        "one burst at once"
    );
    sender.handle_timeout(t0 + Duration::from_micros(900));
    assert!(
        sends(&mut sender).is_empty(),
        "nothing before the next tick"
    );
    assert_eq!(sender.poll_timeout(), Some(t0 + Duration::from_millis(1)));
    sender.handle_timeout(t0 + Duration::from_millis(3));
    assert_eq!(sends(&mut sender).len(), 30, "three ticks' worth");
    // A long stall catches up at most 20 ms.
    sender.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(sends(&mut sender).len(), 210);
    // 100 000 sessions at 65 a datagram (no trailer) need 1539 chunks and a FullDone.
    let mut now = t0 + Duration::from_secs(1);
    let mut chunks = 0;
    while sender.dump_progress().is_some() {
        now += Duration::from_millis(1);
        sender.handle_timeout(now);
        chunks += sends(&mut sender).len();
    }
    assert_eq!(10 + 30 + 210 + chunks, 1539 + 1);
}

/// A tiny deterministic generator (no dependency, a printed seed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// Master and backup on a virtual clock and a lossy link: the backup starts late, sessions are
/// created, moved and removed, 10% of datagrams are lost; once the link is clean again the
/// backup's table equals the master's.
#[test]
fn two_nodes_converge_despite_loss_and_a_late_backup() {
    for seed in 1..=20u64 {
        let mut rng = Lcg(seed);
        let t0 = Instant::now();
        let mut master_rows: BTreeMap<(u32, IpAddr), (u32, u32)> = BTreeMap::new();
        let mut sender = Sender::new(SenderConfig::new(77, false), t0);
        let mut receiver: Option<Receiver> = None;
        let mut backup = MapSink::default();
        let mut now = t0;
        for step in 0..9000u32 {
            now += Duration::from_millis(1);
            let lossy = step < 7000;
            if step == 1500 {
                receiver = Some(self::receiver(3, now));
            }
            let i = rng.next() % 3000;
            let e = entry(
                if rng.next().is_multiple_of(5) {
                    Op::Remove
                } else {
                    Op::Upsert
                },
                i,
                1 + rng.next() % 4,
            );
            if step < 8000 {
                match e.op {
                    Op::Upsert => master_rows
                        .insert((e.server, e.client), (e.target, e.timeout))
                        .map(|_| ()),
                    Op::Remove => master_rows.remove(&(e.server, e.client)).map(|_| ()),
                };
                sender.handle_event(now, e);
            }
            sender.handle_timeout(now);
            let rows = || -> Vec<Entry> {
                master_rows
                    .iter()
                    .map(|(&(server, client), &(target, timeout))| Entry {
                        op: Op::Upsert,
                        server,
                        client,
                        target,
                        age: 0,
                        timeout,
                    })
                    .collect()
            };
            let sent = pump(&mut sender, now, &rows);
            let Some(rx) = receiver.as_mut() else {
                continue;
            };
            for bytes in sent {
                if lossy && rng.next().is_multiple_of(10) {
                    continue;
                }
                rx.handle_bytes(now, WALL, &bytes, &mut backup);
            }
            rx.handle_timeout(now);
            for bytes in request_bytes(rx) {
                if lossy && rng.next().is_multiple_of(10) {
                    continue;
                }
                sender.handle_full_request(now, WALL, &request_info(&bytes, PEER), true, 1);
            }
        }
        let rx = receiver.as_ref().unwrap();
        assert_eq!(backup.rows, master_rows, "seed {seed}: {:?}", rx.counters());
        assert_eq!(rx.resync(), Resync::InSync, "seed {seed}");
        assert!(
            rx.counters().gaps > 0,
            "seed {seed}: the loss was noticed: {:?}",
            rx.counters()
        );
    }
}
