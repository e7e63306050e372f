//! Fuzzes the proxy's query/response classification (`fulcrum_wire::dns`), the only code that
//! reads client and backend datagrams on the UDP hot path. Beyond "no panic", every verdict is
//! checked against an independent reading of the bytes:
//! - an accepted query is at least a header long, has QR clear, QDCOUNT 1, and its question
//!   ends, by a separate label walk, exactly where the classifier says, inside the datagram;
//! - rewriting the ID (as the proxy does upstream) changes nothing but the ID, and restoring it
//!   gives back the original bytes;
//! - the same bytes with QR set are accepted as a response with the same question and the same
//!   fingerprint (so a backend's echo of the question always matches the pending query);
//! - an accepted response has QR set and a question end inside the datagram, or no question
//!   and an error RCODE.
//!
//! Run: `cargo +nightly fuzz run dns_query`.

#![no_main]

use fulcrum_wire::dns::{
    classify_query, classify_response, message_fingerprint, set_id, Header, HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

/// The end of the question by a plain walk: labels until the root, then QTYPE and QCLASS.
fn walk_question(data: &[u8]) -> Option<usize> {
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*data.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    (at + 4 <= data.len()).then_some(at + 4)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = classify_query(data) {
        assert!(data.len() >= HEADER_LEN);
        let header = Header::new_checked(data).expect("a whole header");
        assert!(!header.qr());
        assert_eq!(header.qdcount(), 1);
        assert_eq!(info.id, header.id());
        assert_eq!(walk_question(data), Some(info.question_end));
        assert!(info.question_end - HEADER_LEN <= 255 + 4);

        let mut upstream = data.to_vec();
        assert!(set_id(&mut upstream, !info.id));
        let again = classify_query(&upstream).expect("only the ID changed");
        assert_eq!(again.id, !info.id);
        assert_eq!(again.question_end, info.question_end);
        assert_eq!(&upstream[2..], &data[2..]);
        set_id(&mut upstream, info.id);
        assert_eq!(upstream, data);

        let mut answer = data.to_vec();
        answer[2] |= 0x80;
        let response = classify_response(&answer).expect("the query's own answer");
        assert_eq!(response.question_end, Some(info.question_end));
        assert_eq!(
            message_fingerprint(&answer, response.question_end),
            message_fingerprint(data, Some(info.question_end))
        );
    }
    if let Ok(info) = classify_response(data) {
        let header = Header::new_checked(data).expect("a whole header");
        assert!(header.qr());
        assert_eq!(info.id, header.id());
        match info.question_end {
            Some(end) => {
                assert_eq!(header.qdcount(), 1);
                assert_eq!(walk_question(data), Some(end));
            }
            None => assert!(header.qdcount() == 0 && header.rcode() != 0),
        }
        let _ = message_fingerprint(data, info.question_end);
    }
});
