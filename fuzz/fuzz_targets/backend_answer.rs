//! Fuzzes the proxy's matching of a target's answer to the query it answers
//! (`fulcrum_core::outstanding::Outstanding::answer`, what the UDP worker calls for every
//! datagram from a target) against a model of the table: a map from each handed-out ID to its
//! pending query.
//!
//! Input: a control byte, then the datagram. Four queries are made pending first, the question
//! of some of them being the datagram's own; the control byte chooses whether the datagram's
//! ID is replaced by one of the handed-out IDs (the fuzzer cannot guess a drawn ID). Checked:
//! - the answer is accepted exactly when the header view accepts it as a response, its ID was
//!   handed out and is pending, it carries no question or the pending query's question, and
//!   it arrives on the socket the query left on;
//! - an accepted answer returns the very query its ID was handed out for, and frees only it
//!   (the same datagram again is refused, the others stay pending);
//! - a refused answer changes nothing in the table.
//!
//! Run: `cargo +nightly fuzz run backend_answer fuzz/seeds/backend_answer`.

#![no_main]

use std::collections::HashMap;

use fulcrum_core::outstanding::{Outstanding, Pending, Refused};
use fulcrum_wire::dns::{self, classify_response, message_fingerprint};
use libfuzzer_sys::fuzz_target;

fn pending(n: u16, fingerprint: u64) -> Pending {
    Pending {
        client: ([192, 0, 2, n as u8], 1000 + n).into(),
        local: None,
        client_id: n,
        server: 1,
        listener: 0,
        fingerprint,
        sent_us: u64::from(n),
        // The last query left on another socket than the one the datagram arrives on.
        via: u16::from(n == 3),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, answer)) = data.split_first() else {
        return;
    };
    let mut answer = answer.to_vec();
    let own = classify_response(&answer)
        .ok()
        .map(|info| message_fingerprint(&answer, info.question_end))
        .filter(|&f| f != 0);
    let mut table = Outstanding::new(16, (u64::from(control), 7));
    let mut issued: HashMap<u16, Pending> = HashMap::new();
    let mut ids = Vec::new();
    for n in 0..4u16 {
        // Bits 4..7: which queries asked the datagram's own question.
        let fingerprint = match own {
            Some(f) if control & (0x10 << n) != 0 => f,
            _ => 0x1000 + u64::from(n),
        };
        let query = pending(n, fingerprint);
        let id = table.insert(query).expect("room for four");
        assert!(
            issued.insert(id, query).is_none(),
            "IDs in flight are distinct"
        );
        ids.push(id);
    }
    // Bits 0..2: 0-3 writes that query's ID, 4-7 keeps the datagram's own.
    if let Some(&id) = ids.get(usize::from(control & 0x7)) {
        dns::set_id(&mut answer, id);
    }

    let expected = match classify_response(&answer) {
        Err(e) => Err(Refused::Malformed(e)),
        Ok(info) => match issued.get(&info.id) {
            None => Err(Refused::UnknownId),
            Some(query) if query.via != 0 => Err(Refused::WrongSocket),
            Some(query) => {
                let fingerprint = message_fingerprint(&answer, info.question_end);
                if fingerprint == 0 || fingerprint == query.fingerprint {
                    Ok(*query)
                } else {
                    Err(Refused::QuestionMismatch)
                }
            }
        },
    };
    let got = table.answer(&answer, 0);
    assert_eq!(got, expected);
    match got {
        Ok(_) => {
            assert_eq!(table.in_flight(), 3);
            assert_eq!(
                table.answer(&answer, 0),
                Err(Refused::UnknownId),
                "answered twice"
            );
        }
        Err(_) => assert_eq!(table.in_flight(), 4),
    }
    // Every other query is still pending, under its own ID.
    let taken = got.ok().map(|p| p.client_id);
    for (id, query) in issued {
        if Some(query.client_id) == taken {
            continue;
        }
        assert_eq!(table.take(id, query.fingerprint), Ok(query));
    }
    assert_eq!(table.in_flight(), 0);
});
