//! Table-driven: a target's answers in, verdicts out, against a real outstanding-query table
//! holding the query they answer (sent from listener 0 of server 1 on socket [`SENT_VIA`] of
//! the target's pool); no traffic. The query side is in `tests.rs`.

use super::tests::{answer_to, query, CLIENT, NOW, QUERIED, RESPONSE_US};
use super::*;

/// The socket the answer cases' query left on.
const SENT_VIA: u16 = 2;

/// What a test row expects of `on_answer`, for a query sent from listener 0 of server 1.
struct AnswerCase {
    name: &'static str,
    /// The answer as it arrives, given the ID the query left with.
    answer: fn(u16) -> Vec<u8>,
    /// The worker's listeners now: (server id, wildcard).
    listeners: &'static [(u32, bool)],
    /// The socket of the pool it arrives on (the query left on [`SENT_VIA`]).
    via: u16,
    expect: AnswerVerdict,
}

#[test]
fn each_answer_gets_its_verdict() {
    let answer = |listener, source| AnswerVerdict::Answer {
        listener,
        client: CLIENT,
        source,
        client_id: 0x4242,
        response_us: RESPONSE_US,
    };
    let cases = [
        AnswerCase {
            name: "the answer: back to the client, its ID restored",
            answer: answer_to,
            listeners: &[(1, false)],
            via: SENT_VIA,
            expect: answer(0, None),
        },
        AnswerCase {
            name: "a wildcard listener answers from the queried address",
            answer: answer_to,
            listeners: &[(1, true)],
            via: SENT_VIA,
            expect: answer(0, Some(QUERIED)),
        },
        AnswerCase {
            name: "listeners reordered by a reload: found by server",
            answer: answer_to,
            listeners: &[(3, false), (1, false)],
            via: SENT_VIA,
            expect: answer(1, None),
        },
        AnswerCase {
            name: "the server was reconfigured away",
            answer: answer_to,
            listeners: &[(3, false)],
            via: SENT_VIA,
            expect: AnswerVerdict::ServerGone,
        },
        AnswerCase {
            name: "an ID never sent",
            answer: |id| answer_to(id.wrapping_add(1)),
            listeners: &[(1, false)],
            via: SENT_VIA,
            expect: AnswerVerdict::Drop(DropReason::UnknownId),
        },
        AnswerCase {
            name: "the right ID for another question",
            answer: |id| {
                let mut m = answer_to(id);
                m[13] = b'b';
                m
            },
            listeners: &[(1, false)],
            via: SENT_VIA,
            expect: AnswerVerdict::Drop(DropReason::UnknownId),
        },
        AnswerCase {
            name: "the right ID and question on another socket of the pool",
            answer: answer_to,
            listeners: &[(1, false)],
            via: SENT_VIA + 1,
            expect: AnswerVerdict::Drop(DropReason::UnknownId),
        },
        AnswerCase {
            name: "a query, not an answer",
            answer: query,
            listeners: &[(1, false)],
            via: SENT_VIA,
            expect: AnswerVerdict::Drop(DropReason::NotQuery),
        },
        AnswerCase {
            name: "shorter than a header",
            answer: |_| vec![0x80; 4],
            listeners: &[(1, false)],
            via: SENT_VIA,
            expect: AnswerVerdict::Drop(DropReason::Runt),
        },
    ];
    for case in &cases {
        let mut table = Outstanding::new(16, (1, 2));
        let question = &query(0)[dns::HEADER_LEN..];
        let wire_id = table.insert(Pending {
            client: CLIENT,
            local: Some(QUERIED),
            client_id: 0x4242,
            server: 1,
            listener: 0,
            fingerprint: dns::question_fingerprint(question),
            sent_us: NOW.us,
            via: SENT_VIA,
        });
        let Some(wire_id) = wire_id else {
            panic!("{}: an empty table refused a query", case.name);
        };
        let got = on_answer(
            &(case.answer)(wire_id),
            case.via,
            NOW.us + RESPONSE_US,
            &mut table,
            case.listeners,
        );
        assert_eq!(got, case.expect, "{}", case.name);
        assert_eq!(
            table.in_flight(),
            usize::from(!got.settled()),
            "{}",
            case.name
        );
    }
}

#[test]
fn the_batch_clock_gives_sessions_whole_seconds_and_a_late_stamp_no_negative_time() {
    assert_eq!(
        Now::from_micros(5_999_999),
        Now {
            us: 5_999_999,
            secs: 5
        }
    );
    assert_eq!(Now::from_micros(u64::MAX).secs, u32::MAX);
    let mut table = Outstanding::new(16, (1, 2));
    let question = &query(0)[dns::HEADER_LEN..];
    let wire_id = table.insert(Pending {
        client: CLIENT,
        local: None,
        client_id: 7,
        server: 1,
        listener: 0,
        fingerprint: dns::question_fingerprint(question),
        sent_us: NOW.us,
        via: SENT_VIA,
    });
    let Some(wire_id) = wire_id else {
        panic!("an empty table refused a query");
    };
    // An answer stamped before its query (the worker's clock is monotonic, so only a caller's
    // mistake does this; the subtraction must still not wrap): a response time of zero.
    let got = on_answer(
        &answer_to(wire_id),
        SENT_VIA,
        NOW.us - 10,
        &mut table,
        &[(1u32, false)],
    );
    assert!(
        matches!(got, AnswerVerdict::Answer { response_us: 0, .. }),
        "{got:?}"
    );
}
