//! Fuzzes the control protocol's framing and message decoder with arbitrary bytes as they would
//! arrive on the daemon's socket. Beyond "no panic":
//! - a frame is split off only when the whole announced payload is there, never longer than
//!   `MAX_FRAME`, and never past the end of the buffer;
//! - every message decoded re-encodes to a frame that decodes to the same message and is used
//!   up exactly;
//! - decoding the frames one after the other consumes the buffer front to back, each step
//!   making progress.
//!
//! Run: `cargo +nightly fuzz run control_frame`.

#![no_main]

use fulcrum_control::frame::{encode_frame, split_frame, MAX_FRAME};
use fulcrum_control::message::{decode_frame, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((payload, used))) = split_frame(rest) {
        assert!(payload.len() <= MAX_FRAME);
        assert_eq!(used, 4 + payload.len());
        assert!(used <= rest.len());
        if let Ok(Some((message, used_by_message))) = decode_frame(rest) {
            assert_eq!(used_by_message, used);
            let again = encode_frame(&encode(&message)).expect("a small message fits a frame");
            let (decoded, consumed) = decode_frame(&again)
                .expect("a frame we encoded decodes")
                .expect("and is complete");
            assert_eq!(decoded, message);
            assert_eq!(consumed, again.len());
        }
        rest = &rest[used..];
    }
});
