//! The table against a plain `HashMap` model: random sequences of insert, lookup, remove,
//! expire and move, checked after every step (contents, counts, recency order, and that a full
//! table sheds a least recently active session).

use std::collections::HashMap;
use std::net::IpAddr;

use proptest::prelude::*;

use super::{v4, v6};
use crate::session::{SessionRow, SessionTable};

#[derive(Debug, Clone)]
enum Op {
    Insert {
        server: u32,
        client: IpAddr,
        target: u32,
        dt: u32,
        timeout: u32,
    },
    Lookup {
        server: u32,
        client: IpAddr,
        dt: u32,
    },
    Remove {
        server: u32,
        client: IpAddr,
    },
    Expire {
        dt: u32,
    },
    Move {
        server: u32,
        from: u32,
        to: Option<u32>,
    },
}

fn client_strategy() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u32..40).prop_map(v4),
        (0u128..20).prop_map(v6),
        // Addresses that collide in their low bits with the IPv4 ones.
        (0u32..3).prop_map(|n| v6(u128::from(n))),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let server = 0u32..3;
    let target = 0u32..4;
    let dt = prop_oneof![Just(0u32), 0u32..5, 0u32..40];
    prop_oneof![
        4 => (server.clone(), client_strategy(), target.clone(), dt.clone(),
              prop_oneof![Just(10u32), Just(30), Just(600)])
            .prop_map(|(server, client, target, dt, timeout)| Op::Insert { server, client, target, dt, timeout }),
        3 => (server.clone(), client_strategy(), dt.clone())
            .prop_map(|(server, client, dt)| Op::Lookup { server, client, dt }),
        1 => (server.clone(), client_strategy()).prop_map(|(server, client)| Op::Remove { server, client }),
        1 => dt.prop_map(|dt| Op::Expire { dt }),
        1 => (server, target.clone(), proptest::option::of(target))
            .prop_map(|(server, from, to)| Op::Move { server, from, to }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ModelEntry {
    target: u32,
    last_seen: u32,
    timeout: u32,
}

fn expired(entry: &ModelEntry, now: u32) -> bool {
    now - entry.last_seen > entry.timeout
}

fn check_same(table: &SessionTable, model: &HashMap<(u32, IpAddr), ModelEntry>) {
    assert_eq!(table.len(), model.len());
    let mut rows: Vec<SessionRow> = table.iter().collect();
    rows.sort_by_key(|r| (r.server, r.client));
    let mut expected: Vec<SessionRow> = model
        .iter()
        .map(|(&(server, client), e)| SessionRow {
            server,
            client,
            port: None,
            target: e.target,
            last_seen: e.last_seen,
            timeout: e.timeout,
        })
        .collect();
    expected.sort_by_key(|r| (r.server, r.client));
    assert_eq!(rows, expected);
    for target in 0..4 {
        let count = model.values().filter(|e| e.target == target).count() as u64;
        assert_eq!(table.count_on(target), count, "count_on({target})");
    }
    let newest = table.newest(usize::MAX);
    assert_eq!(newest.len(), model.len());
    assert!(newest.windows(2).all(|w| w[0].last_seen >= w[1].last_seen));
}

fn run_against_model(max_sessions: usize, ops: Vec<Op>) {
    let mut table = SessionTable::new(max_sessions);
    let mut model: HashMap<(u32, IpAddr), ModelEntry> = HashMap::new();
    let mut now = 0u32;
    for op in ops {
        match op {
            Op::Insert {
                server,
                client,
                target,
                dt,
                timeout,
            } => {
                now += dt;
                let shed = table.insert(server, client, target, now, timeout);
                let key = (server, client);
                if max_sessions == 0 {
                    assert_eq!(shed, None);
                    continue;
                }
                if !model.contains_key(&key) && model.len() >= max_sessions {
                    let shed = shed.expect("a full table sheds");
                    let oldest = model.values().map(|e| e.last_seen).min().unwrap();
                    assert_eq!(shed.last_seen, oldest, "shed the least recently active");
                    assert!(model.remove(&(shed.server, shed.client)).is_some());
                } else {
                    assert_eq!(shed, None);
                }
                model.insert(
                    key,
                    ModelEntry {
                        target,
                        last_seen: now,
                        timeout,
                    },
                );
            }
            Op::Lookup { server, client, dt } => {
                now += dt;
                let key = (server, client);
                let expected = match model.get_mut(&key) {
                    Some(entry) if !expired(entry, now) => {
                        entry.last_seen = now;
                        Some(entry.target)
                    }
                    Some(_) => {
                        model.remove(&key);
                        None
                    }
                    None => None,
                };
                assert_eq!(table.lookup(server, client, now), expected);
            }
            Op::Remove { server, client } => {
                assert_eq!(
                    table.remove(server, client),
                    model.remove(&(server, client)).is_some()
                );
            }
            Op::Expire { dt } => {
                now += dt;
                let before = model.len();
                model.retain(|_, e| !expired(e, now));
                assert_eq!(table.expire(now), before - model.len());
            }
            Op::Move { server, from, to } => {
                let mut changed = 0;
                let keys: Vec<_> = model
                    .iter()
                    .filter(|(k, e)| k.0 == server && e.target == from)
                    .map(|(k, _)| *k)
                    .collect();
                for key in keys {
                    match to {
                        Some(t) if t == from => {}
                        Some(t) => {
                            model.get_mut(&key).unwrap().target = t;
                            changed += 1;
                        }
                        None => {
                            model.remove(&key);
                            changed += 1;
                        }
                    }
                }
                assert_eq!(table.move_target(server, from, &mut |_| to), changed);
            }
        }
        check_same(&table, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn table_behaves_like_the_model(
        max_sessions in 0usize..12,
        ops in proptest::collection::vec(op_strategy(), 1..120),
    ) {
        run_against_model(max_sessions, ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Room for every key, so the table grows (rehashes) several times along the way.
    #[test]
    fn growing_table_behaves_like_the_model(
        ops in proptest::collection::vec(op_strategy(), 100..400),
    ) {
        run_against_model(1000, ops);
    }
}
