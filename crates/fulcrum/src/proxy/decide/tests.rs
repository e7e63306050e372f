//! Table-driven: datagrams in, verdicts out, against a snapshot built from a configuration
//! (server 1 with targets 1 and 2), real outstanding-query tables and, per upstream, the slot
//! numbers of its socket pool (drawn in turn here; the worker's pool draws at random, which
//! `upstream_pool_tests` checks over real sockets); no traffic. The answer side, on its own, is
//! in `answer_tests.rs`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use fulcrum_core::model::Method;

use super::*;
use crate::proxy::snapshot::tests::{build_with, config};
use crate::proxy::snapshot::Snapshot;

pub(super) const CLIENT: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 70, 9), 40_000));
pub(super) const QUERIED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 61, 10));
pub(super) const NOW: Now = Now {
    us: 5_000_000,
    secs: 5,
};
/// How long the targets take to answer in these tests, in microseconds.
pub(super) const RESPONSE_US: u64 = 1_500;

/// A DNS message: `flags`, `qdcount` questions for `a.test A IN`, `ancount` answers claimed.
fn message(id: u16, flags: u16, qdcount: u16, ancount: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&qdcount.to_be_bytes());
    m.extend_from_slice(&ancount.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for _ in 0..qdcount {
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
    }
    m
}

pub(super) fn query(id: u16) -> Vec<u8> {
    message(id, 0x0100, 1, 0)
}

pub(super) fn answer_to(wire_id: u16) -> Vec<u8> {
    message(wire_id, 0x8180, 1, 0)
}

/// The socket slots of every upstream's pool in these tests (not starting at 0, so that a
/// `via` left at its default would show).
const POOL: [u16; 3] = [3, 5, 6];

/// One upstream as the decision sees it: the slots of its open sockets and its table.
struct TestUpstream {
    sockets: Vec<u16>,
    draws: usize,
    table: Outstanding,
}

impl Upstreams for [TestUpstream] {
    fn draw(&mut self, upstream: usize) -> Option<(u16, &mut Outstanding)> {
        let up = self.get_mut(upstream)?;
        let via = *up.sockets.get(up.draws % up.sockets.len().max(1))?;
        up.draws += 1;
        Some((via, &mut up.table))
    }
}

/// One pool of [`POOL`] and an outstanding-query table per upstream of `snapshot`.
fn tables(snapshot: &Snapshot) -> Vec<TestUpstream> {
    (0..snapshot.upstreams.len())
        .map(|i| TestUpstream {
            sockets: POOL.to_vec(),
            draws: 0,
            table: Outstanding::new(16, (i as u64, 7)),
        })
        .collect()
}

/// What a test row expects of `on_query`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Forwarded to this target id.
    To(u32),
    Dropped(DropReason),
    /// Dropped, counted on this target id too.
    DroppedOn(DropReason, u32),
}

struct QueryCase {
    name: &'static str,
    method: Method,
    /// Targets 1 and 2: operational?
    up: [bool; 2],
    data: Vec<u8>,
    source: Option<SocketAddr>,
    truncated: bool,
    /// Fill target 1's outstanding table first.
    full: bool,
    /// Leave the worker without outstanding tables (upstreams not open).
    no_tables: bool,
    /// Target 1's pool has no socket open (none could be opened).
    no_sockets: bool,
    expect: Expect,
}

impl QueryCase {
    fn new(name: &'static str, data: Vec<u8>, expect: Expect) -> QueryCase {
        QueryCase {
            name,
            method: Method::First,
            up: [true, true],
            data,
            source: Some(CLIENT),
            truncated: false,
            full: false,
            no_tables: false,
            no_sockets: false,
            expect,
        }
    }
}

fn fill(table: &mut Outstanding) {
    let pending = Pending {
        client: CLIENT,
        local: None,
        client_id: 1,
        server: 1,
        listener: 0,
        fingerprint: 0,
        sent_us: 0,
        via: POOL[0],
    };
    for _ in 0..table.capacity() {
        table.insert(pending);
    }
}

fn run(case: &QueryCase) {
    let operational = HashMap::from([(1, case.up[0]), (2, case.up[1])]);
    let snapshot = build_with(&config(case.method, false), &operational);
    let server = &snapshot.servers[0];
    let mut tables = if case.no_tables {
        Vec::new()
    } else {
        tables(&snapshot)
    };
    if case.full {
        fill(&mut tables[server.targets[0].upstream].table);
    }
    if case.no_sockets {
        tables[server.targets[0].upstream].sockets.clear();
    }
    let datagram = Datagram {
        data: &case.data,
        source: case.source,
        local: Some(QUERIED),
        truncated: case.truncated,
    };
    let mut pick = Pick::new(1);
    let sessions = &snapshot.sessions;
    let verdict = on_query(
        server,
        0,
        &datagram,
        NOW,
        sessions,
        &mut pick,
        &mut tables[..],
    );
    let got = match verdict {
        QueryVerdict::Forward {
            target,
            upstream,
            via,
            wire_id,
        } => {
            assert_eq!(upstream, server.targets[target].upstream, "{}", case.name);
            assert!(POOL.contains(&via), "{}: drawn from the pool", case.name);
            // The query is outstanding under the ID it leaves with, on the socket it leaves
            // from: the same answer on another socket of the pool is refused and the query
            // keeps waiting for it on its own.
            let table = &mut tables[upstream].table;
            let listeners = [(1u32, false)];
            let answer = answer_to(wire_id);
            let other = POOL.iter().copied().find(|&p| p != via).unwrap_or(0);
            let stray = on_answer(&answer, other, NOW.us, table, &listeners);
            assert_eq!(
                stray,
                AnswerVerdict::Drop(DropReason::UnknownId),
                "{}: on another socket",
                case.name
            );
            assert!(!stray.settled(), "{}", case.name);
            let back = on_answer(&answer, via, NOW.us + RESPONSE_US, table, &listeners);
            assert!(back.settled(), "{}", case.name);
            let AnswerVerdict::Answer {
                client,
                client_id,
                response_us,
                ..
            } = back
            else {
                panic!("{}: the answer to it is not matched: {back:?}", case.name);
            };
            assert_eq!((client, client_id), (CLIENT, 0x1234), "{}", case.name);
            // Stamped with the batch's time: the answer yields the target's response time.
            assert_eq!(response_us, RESPONSE_US, "{}", case.name);
            Expect::To(server.targets[target].id)
        }
        QueryVerdict::Drop {
            reason,
            target: None,
        } => Expect::Dropped(reason),
        QueryVerdict::Drop {
            reason,
            target: Some(t),
        } => Expect::DroppedOn(reason, server.targets[t].id),
    };
    assert_eq!(got, case.expect, "{}", case.name);
}

#[test]
fn each_query_gets_its_verdict() {
    let mut bad_opcode = query(0x1234);
    bad_opcode[2] |= 2 << 3; // opcode 2 (STATUS)
    let cases = [
        QueryCase::new("a query: to the first target", query(0x1234), Expect::To(1)),
        QueryCase {
            up: [false, true],
            ..QueryCase::new(
                "first target down: to the second",
                query(0x1234),
                Expect::To(2),
            )
        },
        QueryCase {
            up: [false, false],
            ..QueryCase::new(
                "no target up",
                query(0x1234),
                Expect::Dropped(DropReason::NoTarget),
            )
        },
        QueryCase {
            truncated: true,
            ..QueryCase::new(
                "cut by the kernel",
                query(0x1234),
                Expect::Dropped(DropReason::Malformed),
            )
        },
        QueryCase {
            source: None,
            ..QueryCase::new(
                "no sender",
                query(0x1234),
                Expect::Dropped(DropReason::Malformed),
            )
        },
        QueryCase::new(
            "shorter than a header",
            vec![0x12, 0x34, 1, 0, 0],
            Expect::Dropped(DropReason::Runt),
        ),
        QueryCase::new(
            "an answer sent as a query",
            answer_to(0x1234),
            Expect::Dropped(DropReason::NotQuery),
        ),
        QueryCase::new(
            "two questions",
            message(0x1234, 0x0100, 2, 0),
            Expect::Dropped(DropReason::BadCounts),
        ),
        QueryCase::new(
            "answer records in a query",
            message(0x1234, 0x0100, 1, 1),
            Expect::Dropped(DropReason::BadCounts),
        ),
        QueryCase::new(
            "opcode STATUS",
            bad_opcode,
            Expect::Dropped(DropReason::Malformed),
        ),
        QueryCase {
            full: true,
            ..QueryCase::new(
                "the target's outstanding table is full",
                query(0x1234),
                Expect::DroppedOn(DropReason::Overload, 1),
            )
        },
        QueryCase {
            no_tables: true,
            ..QueryCase::new(
                "no upstream for the target",
                query(0x1234),
                Expect::Dropped(DropReason::NoTarget),
            )
        },
        QueryCase {
            no_sockets: true,
            ..QueryCase::new(
                "no socket of the target's pool open",
                query(0x1234),
                Expect::Dropped(DropReason::NoTarget),
            )
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn method_session_keeps_a_client_on_its_target_at_the_clock_passed_in() {
    let snapshot = build_with(&config(Method::Session, false), &HashMap::new());
    let server = &snapshot.servers[0];
    let mut tables = tables(&snapshot);
    let mut pick = Pick::new(1);
    let sessions = &snapshot.sessions;
    let data = query(7);
    let datagram = Datagram {
        data: &data,
        source: Some(CLIENT),
        local: None,
        truncated: false,
    };
    let mut vias = Vec::new();
    let targets: Vec<usize> = (0..4)
        .map(|_| {
            match on_query(
                server,
                0,
                &datagram,
                NOW,
                sessions,
                &mut pick,
                &mut tables[..],
            ) {
                QueryVerdict::Forward { target, via, .. } => {
                    vias.push(via);
                    target
                }
                other => panic!("not forwarded: {other:?}"),
            }
        })
        .collect();
    assert!(targets.windows(2).all(|w| w[0] == w[1]), "{targets:?}");
    // Sticking to a target is not sticking to a socket: every query draws its own.
    assert_eq!(vias, [POOL[0], POOL[1], POOL[2], POOL[0]]);
    assert_eq!(sessions.count_of_server(1), 1, "the session is recorded");
    let target = server.targets[targets[0]].id;
    assert_eq!(sessions.lookup(1, CLIENT.ip(), NOW.secs), Some(target));
}

#[test]
fn a_tcp_connection_follows_the_same_rule_over_the_tcp_choosers() {
    let snapshot = build_with(&config(Method::First, false), &HashMap::from([(1, false)]));
    let server = &snapshot.servers[0];
    let sessions = &snapshot.sessions;
    let chosen = on_connection(server, CLIENT.ip(), 5, sessions, &mut Pick::new(1));
    assert_eq!(chosen.map(|i| server.targets[i].id), Some(2));
    assert_eq!(check_query(&query(1)).map(|i| i.id), Ok(1));
    assert_eq!(
        check_query(&answer_to(1)).map(|i| i.id),
        Err(DropReason::NotQuery)
    );
}
