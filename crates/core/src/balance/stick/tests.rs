//! The stick-or-pick rule, case by case: one row per situation a client can be in, each run
//! against a real [`SessionTable`] with the clock passed in.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::balance::{fail_open, Candidate};
use crate::model::Method;
use crate::session::SessionTable;

const SERVER: u32 = 7;
const TIMEOUT: u32 = 60;

fn client(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 60, last))
}

fn candidates(up: &[(u32, bool)]) -> Vec<Candidate> {
    up.iter()
        .map(|&(id, operational)| Candidate {
            id,
            weight: 1,
            operational,
            agent_value: None,
        })
        .collect()
}

/// One situation: the client's session before (target, seen at), the targets' health, which
/// targets may keep clients, and what the rule must answer.
struct Case {
    name: &'static str,
    method: Method,
    sticky: bool,
    /// Targets 1 and 2: operational?
    up: [bool; 2],
    /// `set failopen 1` (applied to the candidates as the planes do).
    failopen: bool,
    /// Targets that may keep their clients.
    keepers: &'static [u32],
    /// The client's session before: (target, last seen).
    session: Option<(u32, u32)>,
    now: u32,
    /// Expected answer; `Pick` means the chooser's choice for this client.
    expect: Expect,
    /// The session after: target, or None (none recorded).
    session_after: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Target(u32),
    Pick,
    Nothing,
}

fn run(case: &Case) {
    let mut list = candidates(&[(1, case.up[0]), (2, case.up[1])]);
    let failing_open = case.failopen && fail_open(&mut list, |_| true);
    let chooser = Chooser::new(case.method, list);
    let table = RefCell::new(SessionTable::new(100));
    let who = client(5);
    if let Some((target, seen)) = case.session {
        table
            .borrow_mut()
            .insert(SERVER, who, target, seen, TIMEOUT);
    }
    let rule = Rule {
        server: SERVER,
        chooser: &chooser,
        sticky: case.sticky,
        fail_open: failing_open,
        timeout: TIMEOUT,
    };
    let may_keep = |id: u32| case.keepers.contains(&id);
    let got = stick_or_pick(&rule, who, case.now, may_keep, &table, &mut Pick::new(3));
    let expected = match case.expect {
        Expect::Target(id) => Some(id),
        Expect::Pick => chooser.pick(who, 1, 0, &|_| 0),
        Expect::Nothing => None,
    };
    assert_eq!(got, expected, "{}: target", case.name);
    let after = table.borrow().peek(SERVER, who).map(|row| row.target);
    assert_eq!(after, case.session_after, "{}: session after", case.name);
    let row = table.borrow().peek(SERVER, who);
    if let (Some(row), true) = (row, case.sticky && got.is_some()) {
        assert_eq!(row.last_seen, case.now, "{}: session refreshed", case.name);
    }
}

#[test]
fn each_situation_of_a_client_gets_its_answer() {
    // With both up, `session`/`hash` put client 10.1.60.5 where the Maglev table says.
    let both = Chooser::new(Method::Session, candidates(&[(1, true), (2, true)]));
    let hashed = both.hash_choice(client(5)).unwrap_or(0);
    let other = 3 - hashed;
    let cases = [
        Case {
            name: "not sticky: the chooser picks, nothing recorded",
            method: Method::Hash,
            sticky: false,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: None,
            now: 10,
            expect: Expect::Target(hashed),
            session_after: None,
        },
        Case {
            name: "not sticky: an existing session is ignored",
            method: Method::Hash,
            sticky: false,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: Some((other, 5)),
            now: 10,
            expect: Expect::Target(hashed),
            session_after: Some(other),
        },
        Case {
            name: "new client: picked and recorded",
            method: Method::Session,
            sticky: true,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: None,
            now: 10,
            expect: Expect::Target(hashed),
            session_after: Some(hashed),
        },
        Case {
            name: "live session on a keeper: kept against the hash",
            method: Method::Session,
            sticky: true,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: Some((other, 5)),
            now: 10,
            expect: Expect::Target(other),
            session_after: Some(other),
        },
        Case {
            name: "session target may not keep (down): moved by the chooser",
            method: Method::Session,
            sticky: true,
            up: [other == 2, other == 1],
            failopen: false,
            keepers: &[],
            session: Some((other, 5)),
            now: 10,
            expect: Expect::Target(hashed),
            session_after: Some(hashed),
        },
        Case {
            name: "session expired at now: picked again",
            method: Method::Session,
            sticky: true,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: Some((other, 5)),
            now: 5 + TIMEOUT + 1,
            expect: Expect::Target(hashed),
            session_after: Some(hashed),
        },
        Case {
            name: "session one second before expiry: kept",
            method: Method::Session,
            sticky: true,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: Some((other, 5)),
            now: 5 + TIMEOUT,
            expect: Expect::Target(other),
            session_after: Some(other),
        },
        Case {
            name: "failing open: a session on an unhealthy target is kept",
            method: Method::Session,
            sticky: true,
            up: [false, false],
            failopen: true,
            keepers: &[],
            session: Some((other, 5)),
            now: 10,
            expect: Expect::Target(other),
            session_after: Some(other),
        },
        Case {
            name: "nothing operational, no failopen: no target, nothing recorded",
            method: Method::Session,
            sticky: true,
            up: [false, false],
            failopen: false,
            keepers: &[],
            session: None,
            now: 10,
            expect: Expect::Nothing,
            session_after: None,
        },
        Case {
            name: "rr, not sticky: the first turn",
            method: Method::Rr,
            sticky: false,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: None,
            now: 10,
            expect: Expect::Pick,
            session_after: None,
        },
        Case {
            name: "rr, sticky (DSR's TCP): the first turn, recorded",
            method: Method::Rr,
            sticky: true,
            up: [true, true],
            failopen: false,
            keepers: &[1, 2],
            session: None,
            now: 10,
            expect: Expect::Target(2),
            session_after: Some(2),
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn a_seeded_pick_replays_and_round_robin_alternates() {
    let chooser = Chooser::new(Method::Rr, candidates(&[(1, true), (2, true)]));
    let rule = Rule {
        server: SERVER,
        chooser: &chooser,
        sticky: false,
        fail_open: false,
        timeout: TIMEOUT,
    };
    let table = RefCell::new(SessionTable::new(10));
    let mut pick = Pick::new(11);
    let turns: Vec<Option<u32>> = (0..4)
        .map(|_| stick_or_pick(&rule, client(1), 0, |_| true, &table, &mut pick))
        .collect();
    assert_eq!(turns, [Some(2), Some(1), Some(2), Some(1)]);
    let mut a = Pick::new(42);
    let mut b = Pick::new(42);
    let draws_a: Vec<(u64, u64)> = (0..8).map(|_| a.draw()).collect();
    let draws_b: Vec<(u64, u64)> = (0..8).map(|_| b.draw()).collect();
    assert_eq!(draws_a, draws_b);
    assert_ne!(Pick::new(0).draw(), (1, 0), "a zero seed still draws");
}
