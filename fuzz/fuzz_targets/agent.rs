//! Fuzzes the agent protocol's packet decoder (`fulcrum_wire::agent`) with arbitrary datagrams,
//! without a key and with one. Beyond "no panic":
//! - whatever parses re-emits, with the same key, to bytes that parse to the same meaning; without
//!   a key, to exactly the bytes received;
//! - a packet that parses with one key does not parse with another, nor without a key;
//! - a reply is never larger than the request it answers (no amplification).
//!
//! Run: `cargo +nightly fuzz run agent`.

#![no_main]

use fulcrum_wire::agent::Repr;
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"agent key";

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = Repr::parse_bytes(data, None) {
        assert_eq!(repr.emit(None), data);
        assert!(Repr::parse_bytes(data, Some(KEY)).is_err());
    }
    if let Ok(repr) = Repr::parse_bytes(data, Some(KEY)) {
        let again = repr.emit(Some(KEY));
        assert_eq!(Repr::parse_bytes(&again, Some(KEY)).ok(), Some(repr));
        assert!(Repr::parse_bytes(data, Some(b"another key")).is_err());
        assert!(Repr::parse_bytes(data, None).is_err());
    }
    for key in [None, Some(KEY)] {
        if let Ok(Repr::Request { nonce }) = Repr::parse_bytes(data, key) {
            let reply = Repr::Reply { nonce, value: u32::MAX }.emit(key);
            assert!(reply.len() <= data.len());
        }
    }
});
