//! Three active-active Fulcrum nodes behind an ECMP router, all through BIRD (the lab is
//! described in `active_active/lab.rs`): the nodes run in proxy mode, each holding the VIP
//! locally, with `method session`, and sync their sessions with each other (node 1 over IPv6
//! with both others, nodes 2 and 3 over IPv4). A steady load from
//! 300 client addresses (testkit's bounded load) runs while the test checks, in order:
//! - the router's multipath route holds all three nodes and the clients are spread over all
//!   three (the router kernel's own decision per flow, `ip route get`);
//! - node 2 crashes (its namespace silenced by nftables, then SIGKILL of its fulcrum and BIRD):
//!   BFD takes it out of the route,
//!   its clients are answered again within BFD detection plus one second, no client changes
//!   target, and the other nodes' clients keep their node. Node 2 is the middle next hop of the
//!   kernel's hash-threshold multipath route, whose other ranges only grow when it goes; killing
//!   the first or last next hop moves a sixth of the others' flows too (docs/active-active.md);
//! - restart of node 2: it receives the full session table from a peer before it announces
//!   (its log says so, in that order), about a third of the clients move to it, none changes
//!   target;
//! - stopping target 1's Bind9: only its clients change target, each once; starting it again
//!   moves nobody back (sessions), not even after node 3 crashes and comes back, which only
//!   the sessions it synced from its peers can ensure (the hash alone would send target 1's old
//!   clients back to it);
//! - node 1 losing every target (its link to them down): it withdraws, the router keeps the two
//!   others, and `show announce` says why.
//!
//! Needs root, iproute2, bird2, bind9. Under about 90 s of wall time.

#[path = "active_active/bench.rs"]
mod bench;
#[path = "active_active/lab.rs"]
mod lab;
#[path = "active_active/world.rs"]
mod world;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use lab::{next_hops, node_addr, nodes_of, CLIENTS, NODES, VIP};
use netlab::Lab;
use testkit::cluster::load::{ClientLog, Load, LoadSpec};

/// The nodes' and the router's BFD: 100 ms intervals, multiplier 3 (packaging/bird).
const BFD_DETECTION: Duration = Duration::from_millis(300);
/// Room for a busy shared machine on top of a protocol deadline.
const MARGIN: Duration = Duration::from_millis(1500);
const PACE: Duration = Duration::from_millis(400);

fn wait_for(
    what: &str,
    within: Duration,
    report: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if done() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what}: not within {within:?}\n{}",
            report()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn hops(nodes: &[u8]) -> Vec<String> {
    let mut hops: Vec<String> = nodes.iter().map(|n| node_addr(*n)).collect();
    hops.sort();
    hops
}

/// Each client's targets in the order they answered (one entry per change).
fn targets_of(log: &ClientLog) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for answer in &log.answers {
        if seen.last() != Some(&answer.node) {
            seen.push(answer.node.clone());
        }
    }
    seen
}

fn flows(logs: &[ClientLog]) -> Vec<(Ipv4Addr, u16)> {
    logs.iter().map(|l| (l.addr, l.port)).collect()
}

fn count_by_node(map: &BTreeMap<(Ipv4Addr, u16), u8>) -> BTreeMap<u8, usize> {
    let mut counts = BTreeMap::new();
    for node in map.values() {
        *counts.entry(*node).or_insert(0) += 1;
    }
    counts
}

#[test]
fn three_nodes_share_the_vip_and_no_client_changes_target() {
    assert!(
        Path::new(lab::BIRD).exists(),
        "{} is missing: apt-get install bird2 (scripts/install-deps.sh)",
        lab::BIRD
    );
    let test_started = Instant::now();
    let lab = Lab::new("aa");
    let root = tempfile::tempdir().expect("temporary directory");
    let mut world = world::World::start(&lab, root.path());
    let took = wait_for(
        "the route via all three nodes",
        Duration::from_secs(40),
        || world.report(),
        || next_hops(&world.router) == hops(&[1, 2, 3]),
    );
    println!("multipath route via all three nodes {took:?} after the start");
    assert!(
        world.all_up(Duration::from_secs(20)),
        "BFD up to every node\n{}",
        world.report()
    );
    for node in &world.nodes {
        let sync = node.sync();
        let detail = sync.detail.expect("sync runs on every node");
        assert_ne!(detail.joined, "waiting", "{detail:?}");
        let in_sync = detail
            .peers
            .iter()
            .filter(|p| p.resync == "in-sync")
            .count();
        assert_eq!(in_sync, 2, "each peer shown, in sync\n{detail:?}");
    }

    // Phase 1: spread, a node dying, the node coming back.
    let sources = lab::client_sources();
    let spec = LoadSpec {
        pace: PACE,
        queries: 100,
        duration: Duration::from_secs(40),
    };
    let load = Load::start(&world.client, &sources, VIP, spec);
    assert!(
        load.wait_until(Duration::from_secs(10), |logs| logs
            .iter()
            .all(|l| l.answers.len() >= 2)),
        "every client answered twice\n{}",
        world.report()
    );
    // The route as the flows are mapped: all three nodes (a BFD session that flapped on this
    // busy machine comes back within a few seconds).
    assert!(
        world.all_up(Duration::from_secs(20)),
        "all three nodes in the route\n{}",
        world.report()
    );
    let before = nodes_of(&world.router, &flows(&load.snapshot()));
    assert_eq!(before.len(), CLIENTS, "the router routes every flow");
    let spread = count_by_node(&before);
    println!("clients per node: {spread:?}");
    for n in 1..=NODES {
        assert!(
            spread.get(&n).copied().unwrap_or(0) >= CLIENTS / 6,
            "node {n} carries a fair share: {spread:?}\n{}",
            world.report()
        );
    }

    let killed_at = world.nodes[1].crash();
    let gone = wait_for(
        "node 2 out of the route",
        BFD_DETECTION + MARGIN,
        || world.report(),
        || next_hops(&world.router) == hops(&[1, 3]),
    );
    println!(
        "node 2 crashed (silenced, fulcrum and BIRD killed): out of the route after {gone:?} (BFD)"
    );
    let deadline = killed_at + BFD_DETECTION + Duration::from_secs(1);
    let answered_after = load.wait_until(Duration::from_secs(10), |logs| {
        logs.iter()
            .all(|l| l.answers.iter().any(|a| a.sent >= deadline))
    });
    let logs = load.snapshot();
    let orphans: Vec<&ClientLog> = logs
        .iter()
        .filter(|l| before.get(&(l.addr, l.port)) == Some(&2))
        .collect();
    let unanswered: Vec<Ipv4Addr> = orphans
        .iter()
        .filter(|l| !l.answers.iter().any(|a| a.sent >= deadline))
        .map(|l| l.addr)
        .collect();
    assert!(
        answered_after && unanswered.is_empty(),
        "node 2's clients answered again by BFD detection + 1 s; not: {unanswered:?}\n{}",
        world.report()
    );
    let mut gaps: Vec<Duration> = orphans
        .iter()
        .filter_map(|l| l.answers.iter().find(|a| a.sent >= killed_at))
        .map(|a| a.sent.saturating_duration_since(killed_at))
        .collect();
    gaps.sort();
    println!(
        "node 2's {} clients: first answered query sent {:?} (median) / {:?} (max) after the kill",
        orphans.len(),
        gaps.get(gaps.len() / 2),
        gaps.last()
    );
    // The router's view per flow is what the clients saw: while node 2 was still in the route,
    // its clients went unanswered.
    let answered_in_dark = orphans
        .iter()
        .filter(|l| {
            l.answers
                .iter()
                .any(|a| a.sent > killed_at && a.sent + PACE < killed_at + gone)
        })
        .count();
    assert_eq!(answered_in_dark, 0, "node 2's clients lost their node");
    let after_kill = nodes_of(&world.router, &flows(&logs));
    let moved_survivors = before
        .iter()
        .filter(|(flow, node)| **node != 2 && after_kill.get(flow) != Some(node))
        .count();
    assert_eq!(
        moved_survivors, 0,
        "the other nodes' clients keep their node"
    );
    assert!(
        after_kill.values().all(|n| *n != 2),
        "no flow to the dead node"
    );

    world.nodes[1].start();
    let back = wait_for(
        "node 2 back in the route",
        Duration::from_secs(30),
        || world.report(),
        || next_hops(&world.router) == hops(&[1, 2, 3]),
    );
    println!("node 2 restarted: announced and in the route after {back:?}");
    let log = world.nodes[1].log();
    let joined = log.find("sync: joined (full table received from");
    let announced = log.find("announce: server 1");
    assert!(
        joined.is_some() && announced.is_some() && joined < announced,
        "node 2 has a peer's full table before it announces\n{}",
        world.report()
    );
    let sync = world.nodes[1].sync();
    let detail = sync.detail.expect("sync runs on node 2");
    assert_eq!(detail.joined, "synced", "{detail:?}");
    assert!(detail.joined_from.is_some(), "{detail:?}");
    let after_return = nodes_of(&world.router, &flows(&logs));
    let moved = before
        .iter()
        .filter(|(flow, _)| after_kill.get(flow) != after_return.get(flow))
        .count();
    println!("node 2's return moved {moved} of {CLIENTS} clients to another node (1/3: 100)");
    assert!(
        moved > 0 && moved * 100 <= CLIENTS * 45,
        "about a third of the clients change node: {moved}"
    );
    std::thread::sleep(PACE * 4);
    let phase1 = load.finish();
    let mut first_targets = BTreeMap::new();
    for log in &phase1 {
        let seen = targets_of(log);
        assert_eq!(
            seen.len(),
            1,
            "client {} keeps its target across node loss and return: {seen:?}",
            log.addr
        );
        first_targets.insert(log.addr, seen[0].clone());
    }
    let per_target: BTreeMap<&String, usize> =
        first_targets.values().fold(BTreeMap::new(), |mut m, t| {
            *m.entry(t).or_insert(0) += 1;
            m
        });
    println!("clients per target: {per_target:?}");

    // Phase 2: a target goes and comes back, a node restarts, then one node loses every
    // target.
    let load = Load::start(&world.client, &sources, VIP, spec);
    assert!(
        load.wait_until(Duration::from_secs(10), |logs| logs
            .iter()
            .all(|l| !l.answers.is_empty())),
        "every client answered\n{}",
        world.report()
    );
    let t1_stopped = Instant::now();
    world.targets[0].1.stop();
    let moved_off = wait_for(
        "target 1's clients on other targets",
        Duration::from_secs(15),
        || world.report(),
        || {
            load.snapshot()
                .iter()
                .all(|l| l.answers.last().is_some_and(|a| a.node != "t1"))
        },
    );
    println!("target 1 stopped: its clients answered by other targets after {moved_off:?}");
    let t1_ns = world.targets[0].0.clone();
    world.targets[0].1 = lab::start_target(&t1_ns, 1);
    let up_again = wait_for(
        "target 1 up again on every node",
        Duration::from_secs(15),
        || world.report(),
        || {
            world.nodes.iter().all(|n| {
                let announce = n.announce();
                announce.servers.iter().all(|row| row.targets_up == 3)
            })
        },
    );
    println!("target 1 back: up on every node after {up_again:?} (its old clients stay moved)");
    // A node that comes back now has only the synced sessions to keep target 1's old clients
    // where they went (the hash would put them back on target 1).
    let mut events = vec![
        ("target 1 stopped", t1_stopped),
        ("target 1 up", Instant::now()),
    ];
    events.push(("node 3 crashed", world.nodes[2].crash()));
    wait_for(
        "node 3 out of the route",
        BFD_DETECTION + MARGIN,
        || world.report(),
        || next_hops(&world.router) == hops(&[1, 2]),
    );
    world.nodes[2].start();
    events.push(("node 3 restarted", Instant::now()));
    let back = wait_for(
        "node 3 back in the route",
        Duration::from_secs(30),
        || world.report(),
        || next_hops(&world.router) == hops(&[1, 2, 3]),
    );
    println!("node 3 crashed and restarted: back in the route after {back:?}");
    events.push(("node 3 in the route", Instant::now()));
    std::thread::sleep(PACE * 3);
    events.push(("node 1 cut from its targets", Instant::now()));
    world.nodes[0]
        .ns
        .ip(&["link", "set", "eth1", "down"])
        .expect("cut node 1 from its targets");
    let withdrawn = wait_for(
        "node 1 withdrawn",
        Duration::from_secs(15),
        || world.report(),
        || next_hops(&world.router) == hops(&[2, 3]),
    );
    println!("node 1 lost every target: withdrawn after {withdrawn:?}");
    let announce = world.nodes[0].announce();
    let row = announce.servers.iter().find(|row| row.server == 1);
    assert!(
        row.is_some_and(|row| row.vip.as_deref() == Some(&VIP.to_string())
            && row.state == "withdrawn"
            && row.reason.as_deref() == Some("no target up")),
        "{announce:?}"
    );
    std::thread::sleep(PACE * 4);
    let phase2 = load.finish();
    let history = |log: &ClientLog| client_history(&world, log, &events, &first_targets);
    for log in &phase2 {
        let seen = targets_of(log);
        let first = &first_targets[&log.addr];
        if first == "t1" {
            assert!(
                seen.len() <= 2 && seen.last().is_some_and(|t| t != "t1"),
                "client {} of target 1 moved once and stayed: {seen:?}\n{}",
                log.addr,
                history(log)
            );
        } else {
            assert_eq!(
                seen,
                vec![first.clone()],
                "client {} of another target keeps it through target 1's loss and return, node \
                 3's restart and node 1's loss\n{}",
                log.addr,
                history(log)
            );
        }
    }
    println!("wall time {:?}", test_started.elapsed());
    drop(lab);
}

/// What a client that failed a phase-2 check saw: its answers (target changes, with the time
/// since target 1 stopped) among the phase's events, the node the router sends its flow to
/// now, each node's session for it and each node's health and sync log lines.
fn client_history(
    world: &world::World,
    log: &ClientLog,
    events: &[(&str, Instant)],
    first_targets: &BTreeMap<Ipv4Addr, String>,
) -> String {
    let origin = events[0].1;
    let at = |t: Instant| {
        let ms = |d: Duration| d.as_millis() as i128;
        ms(t.saturating_duration_since(origin)) - ms(origin.saturating_duration_since(t))
    };
    let mut lines: Vec<(i128, String)> = events
        .iter()
        .map(|(what, t)| (at(*t), format!("== {what}")))
        .collect();
    let mut last: Option<&str> = None;
    for answer in &log.answers {
        if last != Some(answer.node.as_str()) {
            lines.push((at(answer.sent), format!("answered by {}", answer.node)));
            last = Some(answer.node.as_str());
        }
    }
    if let Some(answer) = log.answers.last() {
        lines.push((at(answer.sent), format!("last answer, by {}", answer.node)));
    }
    lines.sort_by_key(|(t, _)| *t);
    let mut text =
        format!(
        "client {}:{} (phase 1: {}), {} queries, {} answers; the router sends it to node {:?}\n",
        log.addr,
        log.port,
        first_targets[&log.addr],
        log.sent,
        log.answers.len(),
        nodes_of(&world.router, &[(log.addr, log.port)]).values().next()
    );
    for (t, line) in lines {
        text.push_str(&format!("{t:>7} ms  {line}\n"));
    }
    let client = log.addr.to_string();
    for node in &world.nodes {
        let sessions = node.control("show sessions all");
        let row: Vec<&str> = sessions
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == client))
            .collect();
        text.push_str(&format!("node{} session: {row:?}\n", node.n));
        for line in node
            .all_logs()
            .lines()
            .filter(|l| l.contains("target") || l.contains("sync") || l.contains("announce"))
        {
            text.push_str(&format!("  node{}: {line}\n", node.n));
        }
    }
    text
}

/// The benchmark behind `bench/active_active.sh` (figures in docs/benchmarks.md).
#[test]
#[ignore = "a benchmark: run bench/active_active.sh"]
fn bench_active_active() {
    bench::run();
}
