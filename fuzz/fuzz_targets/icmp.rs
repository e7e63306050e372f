//! Fuzzes the ICMPv4 echo view (`fulcrum_wire::icmp`), which the `ping` health check reads every
//! reply with (ICMPv6 is fuzzed inside the `ipv6` target). Beyond "no panic":
//! - whatever `Repr::parse` accepts is an echo request or reply, code 0, whose checksum
//!   verifies;
//! - it re-emits to the same bytes, the checksum compared only by verifying (0x0000 and 0xffff
//!   are the same one's complement sum), and the re-emitted message parses to the same `Repr`;
//! - a message the view refuses for its checksum does not verify, and one refused as
//!   unsupported has another type or a code other than 0.
//!
//! Run: `cargo +nightly fuzz run icmp fuzz/seeds/icmp`.

#![no_main]

use fulcrum_wire::icmp::{self, Packet, Repr};
use fulcrum_wire::WireError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        assert!(data.len() < icmp::HEADER_LEN);
        return;
    };
    let _ = (packet.echo_ident(), packet.echo_seq_no(), packet.data());
    let repr = match Repr::parse(&packet) {
        Ok(repr) => repr,
        Err(WireError::Checksum) => {
            assert!(!packet.verify_checksum());
            return;
        }
        Err(WireError::Unsupported) => {
            assert!(packet.verify_checksum());
            assert!(!matches!(
                (packet.msg_type(), packet.msg_code()),
                (0 | 8, 0)
            ));
            return;
        }
        Err(other) => panic!("a checked header refused for {other:?}"),
    };
    assert!(packet.verify_checksum());
    assert_eq!(packet.msg_code(), 0);
    assert_eq!(repr.buffer_len(), data.len());
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out), Ok(data.len()));
    assert_eq!(out[..2], data[..2]);
    assert_eq!(out[4..], data[4..]);
    let again = Packet::new_checked(&out[..]).expect("emitted header");
    assert!(again.verify_checksum());
    assert_eq!(Repr::parse(&again), Ok(repr));
});
