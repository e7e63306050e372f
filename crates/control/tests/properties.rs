//! Property tests of the control protocol: any message survives framing and encoding, and no byte
//! string makes the decoders panic or accept an oversized frame.

use fulcrum_control::frame::{encode_frame, split_frame, FrameError, MAX_FRAME};
use fulcrum_control::message::{decode, decode_frame, encode, Format, Message};
use proptest::prelude::*;

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u32>(), ".*", ".*").prop_map(|(pid, hostname, version)| Message::Hello {
            pid,
            hostname,
            version
        }),
        (".*", any::<bool>()).prop_map(|(line, json)| Message::Request {
            line,
            format: if json { Format::Json } else { Format::Text },
        }),
        (any::<bool>(), ".*", any::<bool>()).prop_map(|(ok, text, close)| Message::Response {
            ok,
            text,
            close
        }),
    ]
}

proptest! {
    #[test]
    fn framed_messages_round_trip(message in message(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut wire = encode_frame(&encode(&message)).unwrap();
        let whole = wire.len();
        wire.extend_from_slice(&tail);
        let (decoded, used) = decode_frame(&wire).unwrap().unwrap();
        prop_assert_eq!(decoded, message);
        prop_assert_eq!(used, whole);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_is_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        // Whatever decodes must re-encode to something that decodes to the same message.
        if let Ok(message) = decode(&bytes) {
            prop_assert_eq!(decode(&encode(&message)).unwrap(), message);
        }
        match split_frame(&bytes) {
            Ok(Some((payload, used))) => {
                prop_assert!(payload.len() <= MAX_FRAME);
                prop_assert_eq!(used, payload.len() + 4);
                prop_assert!(used <= bytes.len());
            }
            Ok(None) => {}
            Err(FrameError::TooLarge { len }) => prop_assert!(len > MAX_FRAME),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }

    #[test]
    fn every_prefix_of_a_frame_asks_for_more(message in message(), cut_fraction in 0.0f64..1.0) {
        let wire = encode_frame(&encode(&message)).unwrap();
        let cut = ((wire.len() as f64) * cut_fraction) as usize;
        prop_assert!(decode_frame(&wire[..cut.min(wire.len() - 1)]).unwrap().is_none());
    }
}
