//! The active-active scenario both lab tests run, in proxy mode (`tests/active_active.rs`) and
//! in DSR mode on each plane (`tests/active_active_dsr.rs`); their module docs say what it
//! checks. [`run`] builds the lab (`lab.rs`, `node.rs`, `world.rs`) and drives it; in DSR mode
//! it also checks, in `dsr_checks`, that every node's DSR plane forwarded frames and that no
//! node's kernel took a VIP frame for itself.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use netlab::Lab;
use testkit::cluster::load::{ClientLog, Load, LoadSpec};
use testkit::plane::Plane;

use super::lab::{self, Mode, CLIENTS, NODES, VIP};
use super::world::World;

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

/// The whole scenario (the test's module doc) in a fresh lab named `name`, nodes in `mode`.
pub fn run(name: &str, mode: Mode) {
    assert!(
        Path::new(lab::BIRD).exists(),
        "{} is missing: apt-get install bird2 (scripts/install-deps.sh)",
        lab::BIRD
    );
    let test_started = Instant::now();
    let lab = Lab::new(name);
    let root = tempfile::tempdir().expect("temporary directory");
    let mut world = World::start(&lab, root.path(), mode);
    let took = wait_for(
        "the route via all three nodes",
        Duration::from_secs(40),
        || world.report(),
        || world.next_hops() == world.hops(&[1, 2, 3]),
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
    let refusals_before: Vec<(u64, u64)> =
        world.nodes.iter().map(|n| n.kernel_refusals()).collect();
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
    let before = world.nodes_of(&flows(&load.snapshot()));
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

    if matches!(mode, Mode::Dsr(_)) {
        for node in &world.nodes {
            let forwarded = node.dsr_frames("forwarded");
            assert!(
                forwarded > 0,
                "node {} forwarded its clients' frames through its DSR plane: {forwarded}\n{}",
                node.n,
                node.control("show stats")
            );
        }
        // No node has restarted yet: a refusal now can only be a VIP frame its kernel took.
        assert_refused_nothing(&world, &refusals_before, &[1, 2, 3]);
    }

    let killed_at = world.nodes[1].crash();
    let gone = wait_for(
        "node 2 out of the route",
        BFD_DETECTION + MARGIN,
        || world.report(),
        || world.next_hops() == world.hops(&[1, 3]),
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
    let after_kill = world.nodes_of(&flows(&logs));
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
        || world.next_hops() == world.hops(&[1, 2, 3]),
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
    let after_return = world.nodes_of(&flows(&logs));
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
    world.restart_target(1);
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
        || world.next_hops() == world.hops(&[1, 2]),
    );
    world.nodes[2].start();
    events.push(("node 3 restarted", Instant::now()));
    let back = wait_for(
        "node 3 back in the route",
        Duration::from_secs(30),
        || world.report(),
        || world.next_hops() == world.hops(&[1, 2, 3]),
    );
    println!("node 3 crashed and restarted: back in the route after {back:?}");
    events.push(("node 3 in the route", Instant::now()));
    std::thread::sleep(PACE * 3);
    events.push(("node 1 cut from its targets", Instant::now()));
    world.cut_from_targets_and_peers(1);
    let withdrawn = wait_for(
        "node 1 withdrawn",
        Duration::from_secs(15),
        || world.report(),
        || world.next_hops() == world.hops(&[2, 3]),
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
    if let Mode::Dsr(plane) = mode {
        dsr_checks(&mut world, plane, &refusals_before);
    }
    println!("wall time {:?}", test_started.elapsed());
    drop(lab);
}

/// No node among `nodes` refused a datagram since `before` (`Node::kernel_refusals`): a VIP
/// frame its kernel took instead of its DSR plane would meet no socket on port 53 (`Udp
/// NoPorts`, an ICMP port unreachable). Only over times when those nodes did not start: a
/// starting node refuses its peers' sync datagrams and the router's BFD until it binds them.
fn assert_refused_nothing(world: &World, before: &[(u64, u64)], nodes: &[u8]) {
    for n in nodes {
        let i = usize::from(n - 1);
        let now = world.nodes[i].kernel_refusals();
        assert_eq!(
            now, before[i],
            "node {n}'s kernel took no VIP frame (Udp NoPorts, Icmp OutDestUnreachs unchanged)"
        );
    }
}

/// DSR mode, after the load: node 1 (never restarted) refused nothing since before the load,
/// and no node's kernel ever received a datagram for the VIP on `eth1` (`Node::vip_taken`);
/// then every node stops cleanly and, on AF_XDP, its log shows that the AF_XDP path carried
/// frames.
fn dsr_checks(world: &mut World, plane: Plane, refusals_before: &[(u64, u64)]) {
    assert_refused_nothing(world, refusals_before, &[1]);
    for node in &world.nodes {
        assert_eq!(
            node.vip_taken(),
            0,
            "node {}'s kernel took VIP frames",
            node.n
        );
    }
    println!("no node's kernel took a VIP frame (refusals before the load: {refusals_before:?})");
    for node in &mut world.nodes {
        node.stop();
        plane.assert_carried(&node.all_logs());
    }
}

/// What a client that failed a phase-2 check saw: its answers (target changes, with the time
/// since target 1 stopped) among the phase's events, the node the router sends its flow to
/// now, each node's session for it and each node's health and sync log lines.
fn client_history(
    world: &World,
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
    let mut text = format!(
        "client {}:{} (phase 1: {}), {} queries, {} answers; the router sends it to node {:?}\n",
        log.addr,
        log.port,
        first_targets[&log.addr],
        log.sent,
        log.answers.len(),
        world.nodes_of(&[(log.addr, log.port)]).values().next()
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
