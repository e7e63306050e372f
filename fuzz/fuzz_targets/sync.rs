//! Fuzzes the session-sync decoder, the receiver and the master's request gate with arbitrary
//! bytes, cut into records `[op][len][len bytes]`. Op bits: 0x01 patches the record's request
//! id to the receiver's latest (so dumps that answer it are reached), 0x02 stamps it inside or
//! outside the replay window, 0x04 hands it to the master's request gate instead of the
//! receiver (from one of two addresses, bit 0x08; the known peer when bit 0x10). Beyond "no
//! panic":
//! - whatever `Datagram::new_checked` accepts re-emits to the same bytes (the trailer aside);
//! - the receiver counts each datagram once, as accepted or dropped by a reason, and hands its
//!   sink exactly the accepted entries the configuration allows, in order;
//! - it follows a sender boot only from a dump answering its own latest request id, and with
//!   a key never accepts a datagram stamped outside the window or an older boot than it follows;
//! - the gate never admits a request from an unknown address that did not echo the cookie
//!   sent to that same address, and with a key never admits a copy of an admitted request.
//!
//! Run: `cargo +nightly fuzz run sync fuzz/seeds/sync`.

#![no_main]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fulcrum_core::sync::{
    Entry, Kind, Receiver, ReceiverConfig, ReceiverCounters, ReceiverOutput, RequestInfo, RequestVerdict, Sender,
    SenderConfig, SessionLimits, Sink, REPLAY_WINDOW,
};
use fulcrum_wire::sync::{Datagram, Repr, MAC_LEN};
use libfuzzer_sys::fuzz_target;

const WALL: u64 = 1_800_000_000_000;

#[derive(Default)]
struct Recorded(Vec<Entry>);

impl Sink for Recorded {
    fn upsert(&mut self, entry: &Entry) {
        self.0.push(*entry);
    }
    fn remove(&mut self, entry: &Entry) {
        self.0.push(*entry);
    }
}

fn round_trip(bytes: &[u8]) {
    let Ok(datagram) = Datagram::new_checked(bytes) else {
        return;
    };
    let repr = Repr::parse(&datagram);
    let mut out = Vec::new();
    repr.emit(&mut out).expect("an accepted datagram has at most 65535 entries");
    assert_eq!(out.len(), bytes.len());
    let unsigned = bytes.len() - if repr.with_mac { MAC_LEN } else { 0 };
    assert_eq!(out[..unsigned], bytes[..unsigned]);
    let again = Datagram::new_checked(&out[..]).expect("re-emitted bytes are accepted");
    assert_eq!(Repr::parse(&again), repr);
}

/// Datagrams accepted or dropped as a whole (entry-level drops aside).
fn counted(c: &ReceiverCounters) -> u64 {
    c.datagrams
        + c.dropped_malformed
        + c.dropped_stale
        + c.dropped_unexpected
        + c.dropped_out_of_window
        + c.dropped_old_boot
        + c.dropped_unknown_boot
}

fn limits() -> SessionLimits {
    SessionLimits::new([(1, vec![1, 2], 600), (2, vec![3], 60)])
}

fuzz_target!(|data: &[u8]| {
    let keyed = data.first().is_some_and(|b| b & 1 == 1);
    let start = Instant::now();
    let config = ReceiverConfig {
        node: 60,
        with_mac: keyed,
        replay_window: keyed.then_some(REPLAY_WINDOW),
        limits: limits(),
        seed: 1,
    };
    let mut receiver = Receiver::new(config, start);
    let mut sender = Sender::new(SenderConfig::new(50, keyed), start);
    let mut sink = Recorded::default();
    let mut expected = Vec::new();
    let mut fed = 0u64;
    let mut latest_request = 0u32;
    let mut followed: Option<u32> = None;
    let mut newest_sent_at = 0u64;
    let mut cookies: Vec<(Ipv4Addr, u32)> = Vec::new();
    let mut admitted: HashSet<(u32, u32, u64)> = HashSet::new();
    let mut step = 0u64;
    let mut cookies_taken = 0u64;
    let mut rest = data.get(1..).unwrap_or_default();
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (raw, next) = tail.split_at(len);
        rest = next;
        step += 1;
        let now = start + Duration::from_millis(step * 10);
        let wall = WALL + step * 10;
        let mut bytes = raw.to_vec();
        if op & 0x01 != 0 && bytes.len() >= 28 {
            bytes[24..28].copy_from_slice(&latest_request.to_be_bytes());
        }
        if op & 0x02 != 0 && bytes.len() >= 24 {
            let skew = u64::from(bytes.get(20).copied().unwrap_or(0)) * 500;
            bytes[16..24].copy_from_slice(&(wall - 60_000 + skew).to_be_bytes());
        }
        round_trip(&bytes);
        let Ok(datagram) = Datagram::new_checked(&bytes[..]) else {
            if op & 0x04 == 0 {
                receiver.handle_bytes(now, wall, &bytes, &mut sink);
                fed += 1;
            }
            continue;
        };
        if op & 0x04 != 0 {
            let from = Ipv4Addr::new(10, 0, 0, 1 + (op >> 3 & 1));
            let known = op & 0x10 != 0;
            let request = RequestInfo {
                from: from.into(),
                node: datagram.node(),
                sequence: datagram.sequence(),
                sent_at: datagram.sent_at(),
                request: datagram.request(),
                cookie: datagram.cookie(),
            };
            let verdict = sender.handle_full_request(now, wall, &request, known, step as u32);
            match verdict {
                RequestVerdict::Cookie(bytes) => {
                    let cookie = Datagram::new_checked(&bytes[..]).expect("a valid cookie");
                    assert_eq!(cookie.kind(), Kind::Cookie);
                    cookies.retain(|(a, _)| *a != from);
                    cookies.push((from, cookie.cookie()));
                }
                RequestVerdict::Dropped(_) => {}
                _ => {
                    if !known {
                        assert!(cookies.contains(&(from, request.cookie)), "unverified admit");
                        cookies.retain(|(a, _)| *a != from);
                    }
                    if keyed {
                        let copy = (request.node, request.sequence, request.sent_at);
                        assert!(admitted.insert(copy), "a replayed request admitted");
                        assert!(request.sent_at.abs_diff(wall) <= 30_000);
                    }
                }
            }
            while sender.poll_output().is_some() {}
            continue;
        }
        let before = receiver.counters();
        receiver.handle_datagram(now, wall, &datagram, &mut sink);
        fed += 1;
        let after = receiver.counters();
        let delta = counted(&after) - counted(&before);
        if delta == 0 {
            // Only a Cookie answering our request is taken without being counted.
            assert_eq!(datagram.kind(), Kind::Cookie);
            cookies_taken += 1;
        } else {
            assert_eq!(delta, 1, "a datagram counted twice");
        }
        if after.datagrams > before.datagrams {
            assert_ne!(datagram.kind(), Kind::FullRequest);
            if followed != Some(datagram.node()) {
                assert!(
                    matches!(datagram.kind(), Kind::FullChunk | Kind::FullDone)
                        && datagram.request() == latest_request
                        && latest_request != 0,
                    "a boot followed without a dump answering our request"
                );
                if keyed && followed.is_some() {
                    assert!(datagram.sent_at() > newest_sent_at, "an older boot followed");
                }
                followed = Some(datagram.node());
            }
            if keyed {
                assert!(datagram.sent_at().abs_diff(wall) <= 30_000, "outside the window");
            }
            newest_sent_at = newest_sent_at.max(datagram.sent_at());
            let limits = limits();
            expected.extend(datagram.entries().filter(|e| limits.check(e).is_ok()));
        }
        receiver.handle_timeout(now);
        while let Some(output) = receiver.poll_output() {
            if let ReceiverOutput::Send(bytes) = output {
                let request = Datagram::new_checked(&bytes[..]).expect("a valid request");
                assert_eq!(request.kind(), Kind::FullRequest);
                latest_request = request.request();
            }
        }
    }
    let c = receiver.counters();
    assert_eq!(counted(&c) + cookies_taken, fed);
    assert_eq!(c.dropped_authentication, 0, "the receiver holds no key");
    assert_eq!(c.applied, expected.len() as u64);
    assert_eq!(sink.0, expected);
});
