//! Fuzzes the PROXY protocol v2 header decoder (`fulcrum_wire::proxy_v2`) with arbitrary bytes.
//! Beyond "no panic":
//! - a parsed header ends within the input, and a `PROXY` one re-emits to exactly the bytes it
//!   was read from;
//! - the bytes after the header (the proxied message) are never part of it.
//!
//! Run: `cargo +nightly fuzz run proxy_v2`.

#![no_main]

use fulcrum_wire::proxy_v2::Repr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((repr, len)) = Repr::parse(data) else {
        return;
    };
    assert!(len <= data.len());
    if let Repr::Proxy { .. } = repr {
        let mut out = vec![0u8; repr.buffer_len()];
        assert_eq!(repr.emit(&mut out), Ok(len));
        assert_eq!(&out[..], &data[..len]);
    }
    let mut longer = data[..len].to_vec();
    longer.extend_from_slice(b"\x12\x34 after the header");
    assert_eq!(Repr::parse(&longer), Ok((repr, len)));
});
