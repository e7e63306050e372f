//! Forged, replayed and out-of-bounds sync input on a virtual clock: what an attacker on the
//! segment sends, and what the sender and receiver must make of it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use fulcrum_wire::sync::{set_sent_at, Datagram, Header, Repr};

use super::tests::{limits, pump, receiver, request_bytes, request_info, PEER, WALL};
use super::*;

#[derive(Default)]
struct Table(Vec<Entry>);

impl Sink for Table {
    fn upsert(&mut self, e: &Entry) {
        self.0
            .retain(|r| (r.server, r.client) != (e.server, e.client));
        self.0.push(*e);
    }
    fn remove(&mut self, e: &Entry) {
        self.0
            .retain(|r| (r.server, r.client) != (e.server, e.client));
    }
    fn full_table_started(&mut self) {
        self.0.clear();
    }
}

fn session(i: u8, target: u32) -> Entry {
    Entry {
        op: Op::Upsert,
        server: 1,
        client: IpAddr::from([192, 0, 2, i]),
        target,
        age: 0,
        timeout: 600,
    }
}

/// A datagram as an attacker writes it.
fn forged(kind: Kind, node: u32, sequence: u32, request: u32, entries: Vec<Entry>) -> Vec<u8> {
    let repr = Repr {
        kind,
        node,
        sequence,
        sent_at: WALL,
        request,
        cookie: 0,
        entries,
        with_mac: false,
    };
    let mut out = Vec::new();
    repr.emit(&mut out).unwrap();
    out
}

/// A master (boot 50) with `rows` and a backup (boot 60) in sync with it.
fn in_sync(t0: Instant, rows: &[Entry]) -> (Sender, Receiver, Table) {
    let mut master = Sender::new(SenderConfig::new(50, false), t0);
    let mut backup = receiver(60, t0);
    let mut table = Table::default();
    backup.handle_timeout(t0);
    for bytes in request_bytes(&mut backup) {
        master.handle_full_request(t0, WALL, &request_info(&bytes, PEER), true, 1);
    }
    for bytes in pump(&mut master, t0, &|| rows.to_vec()) {
        backup.handle_bytes(t0, WALL, &bytes, &mut table);
    }
    assert_eq!(backup.resync(), Resync::InSync);
    assert_eq!(table.0, rows);
    (master, backup, table)
}

#[test]
fn an_update_from_a_new_boot_is_not_applied_and_only_asks_for_the_table() {
    let t0 = Instant::now();
    let (_, mut backup, mut table) = in_sync(t0, &[session(1, 1)]);
    let bytes = forged(
        Kind::Update,
        0xbad,
        1,
        0,
        vec![session(1, 2), session(2, 2)],
    );
    backup.handle_bytes(t0, WALL, &bytes, &mut table);
    assert_eq!(
        table.0,
        [session(1, 1)],
        "a forged restart changed the table"
    );
    assert_eq!(backup.counters().dropped_unknown_boot, 1);
    assert_eq!(backup.counters().applied, 1);
    // The followed boot was heard just now: a forgery, nothing asked.
    assert_eq!(backup.resync(), Resync::InSync);
    // Once it has been quiet for two keepalives, a new boot is a restart: ask for the table.
    let later = t0 + RESTART_QUIET;
    backup.handle_bytes(later, WALL, &bytes, &mut table);
    assert_eq!(table.0, [session(1, 1)]);
    assert_eq!(backup.resync(), Resync::Wanted);
}

#[test]
fn a_dump_that_does_not_answer_our_request_wipes_nothing() {
    let t0 = Instant::now();
    let (_, mut backup, mut table) = in_sync(t0, &[session(1, 1), session(2, 2)]);
    // In sync (nothing asked) and while asking: a dump with another request id, from the
    // followed boot or another, is not applied.
    for node in [50, 0xbad] {
        let chunk = forged(Kind::FullChunk, node, 1000, 0x1234, vec![session(3, 1)]);
        backup.handle_bytes(t0, WALL, &chunk, &mut table);
        let done = forged(Kind::FullDone, node, 1001, 0x1234, Vec::new());
        backup.handle_bytes(t0, WALL, &done, &mut table);
    }
    backup.handle_timeout(t0);
    let chunk = forged(Kind::FullChunk, 0xbad, 7, 0x1234, Vec::new());
    backup.handle_bytes(t0, WALL, &chunk, &mut table);
    assert_eq!(table.0, [session(1, 1), session(2, 2)]);
    assert_eq!(backup.counters().applied, 2);
}

#[test]
fn entries_the_configuration_does_not_allow_are_dropped_by_reason() {
    let t0 = Instant::now();
    let (mut master, mut backup, mut table) = in_sync(t0, &[]);
    let mut bad_server = session(1, 1);
    bad_server.server = 99;
    let bad_target = session(2, 9);
    let mut zero_timeout = session(3, 1);
    zero_timeout.timeout = 0;
    let mut long_timeout = session(4, 1);
    long_timeout.timeout = 601;
    let good = session(5, 2);
    for e in [bad_server, bad_target, zero_timeout, long_timeout, good] {
        master.handle_event(t0, e);
    }
    master.flush(t0);
    for bytes in pump(&mut master, t0, &Vec::new) {
        backup.handle_bytes(t0, WALL, &bytes, &mut table);
    }
    assert_eq!(table.0, [good]);
    let c = backup.counters();
    assert_eq!(
        (
            c.dropped_unknown_server,
            c.dropped_unknown_target,
            c.dropped_bad_timeout
        ),
        (1, 1, 2)
    );
    // A new configuration without server 1: its sessions are refused from then on.
    backup.set_limits(SessionLimits::new([(2, vec![1], 600)]));
    master.handle_event(t0, session(6, 1));
    master.flush(t0);
    for bytes in pump(&mut master, t0, &Vec::new) {
        backup.handle_bytes(t0, WALL, &bytes, &mut table);
    }
    assert_eq!(table.0, [good]);
    assert_eq!(backup.counters().dropped_unknown_server, 2);
}

/// A receiver with a key: stamps and a replay window.
fn keyed_receiver(t0: Instant) -> Receiver {
    Receiver::new(
        ReceiverConfig {
            node: 60,
            with_mac: true,
            replay_window: Some(REPLAY_WINDOW),
            limits: limits(),
            seed: 99,
        },
        t0,
    )
}

/// Stamps every datagram at `wall` (what the driver does before signing).
fn stamped(mut datagrams: Vec<Vec<u8>>, wall: u64) -> Vec<Vec<u8>> {
    for d in &mut datagrams {
        set_sent_at(d, wall);
    }
    datagrams
}

#[test]
fn with_a_key_old_boots_and_datagrams_outside_the_window_are_refused() {
    let t0 = Instant::now();
    let rows = [session(1, 1)];
    let mut old = Sender::new(SenderConfig::new(50, true), t0);
    let mut backup = keyed_receiver(t0);
    let mut table = Table::default();
    // Follow boot 50 (a dump stamped at WALL), and keep one of its Updates for later.
    backup.handle_timeout(t0);
    let asked = stamped(request_bytes(&mut backup), WALL);
    old.handle_full_request(t0, WALL, &request_info(&asked[0], PEER), true, 1);
    for bytes in stamped(pump(&mut old, t0, &|| rows.to_vec()), WALL) {
        backup.handle_bytes(t0, WALL, &bytes, &mut table);
    }
    old.handle_event(t0, session(2, 2));
    old.flush(t0);
    let captured = stamped(pump(&mut old, t0, &Vec::new), WALL + 500);
    // The peer restarts as boot 51 ten seconds later; the backup follows it.
    let later = WALL + 10_000;
    let t1 = t0 + Duration::from_secs(10);
    let mut new = Sender::new(SenderConfig::new(51, true), t1);
    new.handle_event(t1, session(3, 1));
    new.flush(t1);
    for bytes in stamped(pump(&mut new, t1, &Vec::new), later) {
        backup.handle_bytes(t1, later, &bytes, &mut table);
    }
    backup.handle_timeout(t1);
    let asked = stamped(request_bytes(&mut backup), later);
    new.handle_full_request(t1, later, &request_info(&asked[0], PEER), true, 1);
    for bytes in stamped(pump(&mut new, t1, &|| rows.to_vec()), later) {
        backup.handle_bytes(t1, later, &bytes, &mut table);
    }
    assert_eq!(backup.resync(), Resync::InSync);
    assert_eq!(backup.counters().peer_restarts, 1);
    // The old boot's Update replayed (within the window): refused, nothing asked.
    backup.handle_bytes(t1, later + 1000, &captured[0], &mut table);
    assert_eq!(backup.counters().dropped_old_boot, 1);
    assert_eq!(backup.resync(), Resync::InSync);
    // Any datagram stamped outside the window: refused.
    new.handle_event(t1, session(4, 1));
    new.flush(t1);
    let late = stamped(pump(&mut new, t1, &Vec::new), later);
    backup.handle_bytes(t1, later + 31_000, &late[0], &mut table);
    assert_eq!(backup.counters().dropped_out_of_window, 1);
    assert_eq!(table.0, rows, "nothing but the dump was applied");
}

#[test]
fn with_a_key_replayed_and_old_boot_requests_are_refused() {
    let t0 = Instant::now();
    let mut master = Sender::new(SenderConfig::new(50, true), t0);
    let mut backup = keyed_receiver(t0);
    backup.handle_timeout(t0);
    let first = stamped(request_bytes(&mut backup), WALL);
    let request = request_info(&first[0], PEER);
    assert_eq!(
        master.handle_full_request(t0, WALL, &request, true, 1),
        RequestVerdict::Started
    );
    pump(&mut master, t0, &Vec::new);
    let t1 = t0 + Duration::from_secs(5);
    let verdict = master.handle_full_request(t1, WALL + 5000, &request, true, 1);
    assert_eq!(verdict, RequestVerdict::Dropped(DropReason::Replayed));
    // The backup restarts (boot 61); afterwards a request of boot 60 replayed is an old boot.
    let mut restarted = Receiver::new(
        ReceiverConfig {
            node: 61,
            with_mac: true,
            replay_window: Some(REPLAY_WINDOW),
            limits: limits(),
            seed: 7,
        },
        t1,
    );
    restarted.handle_timeout(t1);
    let new = stamped(request_bytes(&mut restarted), WALL + 6000);
    let verdict =
        master.handle_full_request(t1, WALL + 6000, &request_info(&new[0], PEER), true, 1);
    assert_eq!(verdict, RequestVerdict::Started);
    // Boot 60's request replayed after boot 61's: still refused.
    let verdict = master.handle_full_request(t1, WALL + 7000, &request, true, 1);
    assert_eq!(verdict, RequestVerdict::Dropped(DropReason::Replayed));
    // A boot never admitted, stamped before the newest request admitted: an old boot.
    let mut old = request;
    old.node = 59;
    let verdict = master.handle_full_request(t1, WALL + 7000, &old, true, 1);
    assert_eq!(verdict, RequestVerdict::Dropped(DropReason::OldBoot));
    let verdict =
        master.handle_full_request(t1, WALL + 60_000, &request_info(&new[0], PEER), true, 1);
    assert_eq!(verdict, RequestVerdict::Dropped(DropReason::OutOfWindow));
}

#[test]
fn a_request_from_an_unknown_address_gets_a_cookie_not_a_dump() {
    let t0 = Instant::now();
    let rows: Vec<Entry> = (0..200).map(|i| session(i, 1)).collect();
    let mut master = Sender::new(SenderConfig::new(50, false), t0);
    let mut backup = receiver(60, t0);
    let mut table = Table::default();
    backup.handle_timeout(t0);
    let asked = request_bytes(&mut backup);
    // A forged request with a victim's source: the victim gets one Cookie of the request's
    // size, and an echo from anywhere else does not count.
    let victim = Ipv4Addr::new(10, 235, 210, 99);
    let verdict = master.handle_full_request(t0, WALL, &request_info(&asked[0], victim), false, 77);
    let RequestVerdict::Cookie(cookie) = verdict else {
        panic!("{verdict:?}");
    };
    assert_eq!(cookie.len(), asked[0].len());
    assert!(pump(&mut master, t0, &|| rows.clone()).is_empty());
    let mut guessed = request_info(&asked[0], PEER);
    guessed.cookie = 77;
    let verdict = master.handle_full_request(t0, WALL, &guessed, false, 78);
    assert!(matches!(verdict, RequestVerdict::Cookie(_)), "{verdict:?}");
    assert_eq!(master.counters().full_dumps, 0);
    // The real requester echoes its cookie (78) and gets the table.
    backup.handle_bytes(t0, WALL, &pump_cookie(verdict), &mut table);
    let echo = request_bytes(&mut backup);
    assert_eq!(Datagram::new_checked(&echo[0][..]).unwrap().cookie(), 78);
    let verdict = master.handle_full_request(t0, WALL, &request_info(&echo[0], PEER), false, 79);
    assert_eq!(verdict, RequestVerdict::Started);
    for bytes in pump(&mut master, t0, &|| rows.clone()) {
        backup.handle_bytes(t0, WALL, &bytes, &mut table);
    }
    assert_eq!(table.0, rows);
}

fn pump_cookie(verdict: RequestVerdict) -> Vec<u8> {
    match verdict {
        RequestVerdict::Cookie(bytes) => bytes,
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_dump_at_a_time_requests_coalesced_and_dumps_spaced() {
    let t0 = Instant::now();
    let rows: Vec<Entry> = (0..250).map(|i| session(i, 1)).collect();
    let mut config = SenderConfig::new(50, false);
    config.dump_datagrams_per_ms = 1;
    let mut master = Sender::new(config, t0);
    let header = Header::new(Kind::FullRequest, false, 60);
    let ask = |sequence: u32, request: u32| RequestInfo {
        from: PEER.into(),
        node: header.node,
        sequence,
        sent_at: WALL,
        request,
        cookie: 0,
    };
    assert_eq!(
        master.handle_full_request(t0, WALL, &ask(1, 1), true, 0),
        RequestVerdict::Started
    );
    let mut sent = pump(&mut master, t0, &|| rows.clone()).len();
    // Ten more requests during the dump: one more dump after it, for the latest request.
    for n in 2..12 {
        let verdict = master.handle_full_request(t0, WALL, &ask(n, n), true, 0);
        assert_eq!(verdict, RequestVerdict::Coalesced);
    }
    let mut now = t0;
    let mut done_at = Vec::new();
    while now < t0 + Duration::from_secs(3) {
        now += Duration::from_millis(1);
        master.handle_timeout(now);
        for bytes in pump(&mut master, now, &|| rows.clone()) {
            sent += 1;
            let d = Datagram::new_checked(&bytes[..]).unwrap();
            if d.kind() == Kind::FullDone {
                done_at.push((now, d.request()));
            }
        }
    }
    assert_eq!(master.counters().full_dumps, 2);
    assert_eq!(done_at.len(), 2);
    assert_eq!(
        done_at[1].1, 11,
        "the second dump answers the latest request"
    );
    // 250 sessions need 4 chunks and a FullDone; the second dump began a second after the first
    // ended.
    assert!(
        done_at[1].0 >= done_at[0].0 + Duration::from_secs(1),
        "{done_at:?}"
    );
    assert!(sent >= 10);
    // A request right after a dump waits for the interval.
    let verdict = master.handle_full_request(now, WALL, &ask(20, 20), true, 0);
    assert_eq!(
        verdict,
        RequestVerdict::Started,
        "the last dump ended long enough ago"
    );
    pump(&mut master, now, &|| rows.clone());
    let end = now + Duration::from_millis(10);
    master.handle_timeout(end);
    pump(&mut master, end, &|| rows.clone());
    let verdict = master.handle_full_request(end, WALL, &ask(21, 21), true, 0);
    assert_eq!(verdict, RequestVerdict::Deferred);
}
