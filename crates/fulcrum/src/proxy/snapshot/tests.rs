//! The snapshot built straight from a configuration and health verdicts (no traffic): which
//! target a client gets, with and without `set failopen 1`.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use fulcrum_core::model::{Config, Method, Server, Target};

use super::*;
use crate::plane::tap::Plane;

/// Server 1 on 127.0.61.10 (an ephemeral port) with targets 1 and 2 on 127.0.0.1.
pub(crate) fn config(method: Method, failopen: bool) -> Config {
    let mut config = Config::default();
    config.settings.failopen = failopen;
    let mut server = Server::new(1, IpAddr::V4(Ipv4Addr::new(127, 0, 61, 10)));
    server.port = 0;
    server.method = method;
    server.registered = true;
    server.enabled = true;
    for id in [1u32, 2] {
        let mut target = Target::new(id, IpAddr::V4(Ipv4Addr::LOCALHOST));
        target.port = Some(5300 + id as u16);
        target.registered = true;
        target.enabled = true;
        config.targets.insert(id, target);
        server.targets.push(id);
    }
    config.servers.insert(1, server);
    config
}

pub(crate) fn build_with(config: &Config, operational: &HashMap<u32, bool>) -> Snapshot {
    build_on(
        config,
        operational,
        Arc::new(Sessions::new(Plane::Proxy, 1000, Instant::now())),
    )
}

fn build_on(
    config: &Config,
    operational: &HashMap<u32, bool>,
    sessions: Arc<Sessions>,
) -> Snapshot {
    let previous = Snapshot::empty(sessions.clone(), 100);
    let (mut servers, mut targets) = (HashMap::new(), HashMap::new());
    let (snapshot, problems) = build(BuildContext {
        config,
        operational,
        agent_values: &HashMap::new(),
        previous: &previous,
        sessions,
        workers: 1,
        udp_timeout_ms: 100,
        server_counters: &mut servers,
        target_counters: &mut targets,
        counter_writers: 2,
    });
    assert!(problems.is_empty(), "{problems:?}");
    snapshot
}

/// The target ids the clients 127.0.62.1..=40 are given.
fn chosen(snapshot: &Snapshot, transport: Transport) -> Vec<Option<u32>> {
    let server = &snapshot.servers[0];
    let mut pick = Pick::new(7);
    (1..=40u8)
        .map(|host| {
            let client = IpAddr::V4(Ipv4Addr::new(127, 0, 62, host));
            server
                .choose(
                    client,
                    transport,
                    snapshot.sessions.now(),
                    &snapshot.sessions,
                    &mut pick,
                )
                .map(|i| server.targets[i].id)
        })
        .collect()
}

const ALL_DOWN: [(u32, bool); 2] = [(1, false), (2, false)];

#[test]
fn without_failopen_no_operational_target_means_no_target() {
    let snapshot = build_with(&config(Method::Rr, false), &HashMap::from(ALL_DOWN));
    assert_eq!(snapshot.servers[0].fail_open, [false, false]);
    assert!(chosen(&snapshot, Transport::Udp)
        .iter()
        .all(Option::is_none));
    assert!(chosen(&snapshot, Transport::Tcp)
        .iter()
        .all(Option::is_none));
}

#[test]
fn with_failopen_every_configured_target_takes_clients_when_none_is_operational() {
    let snapshot = build_with(&config(Method::Rr, true), &HashMap::from(ALL_DOWN));
    assert_eq!(snapshot.servers[0].fail_open, [true, true]);
    for transport in [Transport::Udp, Transport::Tcp] {
        let got: BTreeSet<Option<u32>> = chosen(&snapshot, transport).into_iter().collect();
        assert_eq!(got, BTreeSet::from([Some(1), Some(2)]), "{transport:?}");
    }
}

#[test]
fn failopen_waits_while_one_target_is_operational() {
    let operational = HashMap::from([(1, false), (2, true)]);
    let snapshot = build_with(&config(Method::Rr, true), &operational);
    assert_eq!(snapshot.servers[0].fail_open, [false, false]);
    assert!(chosen(&snapshot, Transport::Udp)
        .iter()
        .all(|t| *t == Some(2)));
}

#[test]
fn failopen_leaves_out_disabled_targets_and_keeps_sessions_on_down_ones() {
    let mut config = config(Method::Session, true);
    if let Some(target) = config.targets.get_mut(&1) {
        target.enabled = false;
    }
    let snapshot = build_with(&config, &HashMap::from(ALL_DOWN));
    let first = chosen(&snapshot, Transport::Udp);
    assert!(first.iter().all(|t| *t == Some(2)), "{first:?}");
    assert_eq!(snapshot.sessions.count_on(2), 40);
    // Target 1 enabled (still down): failing open it takes new clients, while the present
    // clients' sessions on target 2 (down too) are honoured.
    if let Some(target) = config.targets.get_mut(&1) {
        target.enabled = true;
    }
    let sessions = snapshot.sessions.clone();
    let snapshot = build_on(&config, &HashMap::from(ALL_DOWN), sessions);
    assert_eq!(chosen(&snapshot, Transport::Udp), first);
    assert_eq!(snapshot.sessions.count_on(2), 40);
    let server = &snapshot.servers[0];
    let mut pick = Pick::new(7);
    let newcomers: BTreeSet<u32> = (1..=40u8)
        .filter_map(|host| {
            let client = IpAddr::V4(Ipv4Addr::new(127, 0, 63, host));
            server.choose(
                client,
                Transport::Udp,
                snapshot.sessions.now(),
                &snapshot.sessions,
                &mut pick,
            )
        })
        .map(|i| server.targets[i].id)
        .collect();
    assert_eq!(newcomers, BTreeSet::from([1, 2]));
}
