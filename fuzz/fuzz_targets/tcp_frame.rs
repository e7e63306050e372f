//! Fuzzes DNS over TCP framing (`fulcrum_wire::dns_tcp`), the rule the proxy's TCP relay reads
//! every frame from a client and a target with. Checked on the bytes read as a stream:
//! - every frame split off is within the DNS message bounds (a header at least, 65535 at most)
//!   and is exactly the length its prefix announced;
//! - the frames, each re-prefixed with `prefix_for`, followed by what is left, are the stream
//!   byte for byte (nothing skipped, nothing invented);
//! - the split stops only at a cut frame (fewer bytes left than announced, or a lone prefix
//!   byte) or at a prefix `message_len` refuses, which announces less than a header.
//!
//! Run: `cargo +nightly fuzz run tcp_frame fuzz/seeds/tcp_frame`.

#![no_main]

use fulcrum_wire::dns_tcp::{
    message_len, prefix_for, Frames, MAX_MESSAGE_LEN, MIN_MESSAGE_LEN, PREFIX_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut frames = Frames::new(data);
    let mut rebuilt = Vec::with_capacity(data.len());
    for message in frames.by_ref() {
        assert!((MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&message.len()));
        let prefix = prefix_for(message.len()).expect("a split frame can be framed again");
        assert_eq!(&data[rebuilt.len()..rebuilt.len() + PREFIX_LEN], &prefix);
        rebuilt.extend_from_slice(&prefix);
        rebuilt.extend_from_slice(message);
    }
    let rest = frames.rest();
    rebuilt.extend_from_slice(rest);
    assert_eq!(rebuilt, data);
    match frames.bad_length() {
        Some(bad) => {
            assert!(usize::from(bad.0) < MIN_MESSAGE_LEN);
            assert_eq!(rest[..PREFIX_LEN], bad.0.to_be_bytes());
            assert_eq!(message_len([rest[0], rest[1]]), Err(bad));
        }
        None => match rest {
            [] | [_] => {}
            [high, low, body @ ..] => {
                let announced = message_len([*high, *low]).expect("a good prefix");
                assert!(body.len() < announced, "a whole frame was left unsplit");
            }
        },
    }
});
