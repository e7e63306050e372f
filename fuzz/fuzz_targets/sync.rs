//! Fuzzes the session-sync decoder and receiver with arbitrary bytes, cut into datagrams at
//! each length prefix (one byte: the next datagram's length). Beyond "no panic":
//! - whatever `Datagram::new_checked` accepts parses to a `Repr` that re-emits to the same bytes
//!   (the HMAC trailer's value aside: `Repr` does not carry it) and re-parses to the same `Repr`;
//! - a `Receiver` fed the datagrams counts each exactly once, as accepted or as dropped by a
//!   reason, and hands its sink exactly the entries of the accepted ones, in order.
//!
//! Run: `cargo +nightly fuzz run sync fuzz/seeds/sync`.

#![no_main]

use std::time::{Duration, Instant};

use fulcrum_core::sync::{Entry, Receiver, Sink};
use fulcrum_wire::sync::{Datagram, Kind, Repr, MAC_LEN};
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut receiver = Receiver::new(start);
    let mut sink = Recorded::default();
    let mut expected = Vec::new();
    let mut fed = 0u64;
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        round_trip(bytes);
        let before = receiver.counters();
        let now = start + Duration::from_millis(fed * 10);
        receiver.handle_bytes(now, bytes, &mut sink);
        fed += 1;
        let after = receiver.counters();
        if after.datagrams > before.datagrams {
            let datagram = Datagram::new_checked(bytes).expect("accepted bytes are well formed");
            assert_ne!(datagram.kind(), Kind::FullRequest);
            expected.extend(datagram.entries());
        }
        while receiver.poll_output().is_some() {}
        receiver.handle_timeout(now);
    }
    let c = receiver.counters();
    assert_eq!(
        c.datagrams + c.dropped_malformed + c.dropped_stale + c.dropped_unexpected,
        fed
    );
    assert_eq!(c.dropped_authentication, 0, "the receiver holds no key");
    assert_eq!(c.applied, expected.len() as u64);
    assert_eq!(sink.0, expected);
});
