//! Health checks steering the DSR plane, end to end in the seed's lab: the real `fulcrum run` in
//! `ns0a` with the seed's NS0A configuration, its checks shortened to `1,2` (a probe every
//! second, down after two without success: down within INTERVAL + TIMEOUT = 3 s), the seed's
//! agents on both nodes, the seed's Bind9 pair, and `dig` from client addresses behind the
//! router.
//!
//! What it proves: a target that fails its checks is taken out of the DSR plane at once (its
//! clients are answered by the other node, new clients avoid it), and after it recovers the
//! moved clients stay where they were moved while new clients reach it again; and the
//! `dsr-path` check (a query to the VIP in a frame to the target's MAC) takes out a target
//! that lost the VIP from its `lo` although every configured check still passes. Each test runs
//! once per DSR plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`). Needs root,
//! iproute2, bind9, dig, tcpdump and nftables.

use std::net::Ipv4Addr;
use std::time::Duration;

use netlab::lab::Lab;
use netlab::seed::{seed_topology, SeedLab, NS0B_ADDR, VIP};
use testkit::plane::Plane;
use testkit::seed_dsr::{
    nodes_of, require_tools, seed_config_fast, start_agents_asking, start_node_bind9, Balancer,
};
use testkit::show::TargetsDoc;

/// INTERVAL + TIMEOUT of the `1,2` checks, and a margin for the busy shared machine.
const DOWN_WITHIN: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_secs(2);

/// The lab with Fulcrum running and both targets up.
struct Running {
    _lab: Lab,
    seed: SeedLab,
    bind9: netlab::seed::SeedBind9,
    balancer: Balancer,
    _agents: Vec<netlab::Proc>,
    _scripts: tempfile::TempDir,
}

fn start(name: &str, plane: Plane) -> Running {
    start_with_agents_asking(name, VIP, plane)
}

/// [`start`] with the agents' script asking each node's Bind9 at `agent_asks`.
fn start_with_agents_asking(name: &str, agent_asks: Ipv4Addr, plane: Plane) -> Running {
    require_tools();
    let lab = Lab::new(name);
    let seed = seed_topology(&lab).expect("build the seed topology");
    let bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let agents = start_agents_asking(&seed, scripts.path(), agent_asks);
    let balancer = Balancer::start(&seed.ns0a, &plane.config(&seed_config_fast()));
    plane.assert_running(&balancer.log);
    balancer.wait_ready(&seed);
    balancer.wait_for(1, true, MARGIN);
    balancer.wait_for(2, true, MARGIN);
    Running {
        _lab: lab,
        seed,
        bind9,
        balancer,
        _agents: agents,
        _scripts: scripts,
    }
}

/// Client addresses `from..from+count` of the client namespace's 10.99.1.0/24 range.
fn clients(from: u8, count: u8) -> Vec<Ipv4Addr> {
    (from..from + count)
        .map(|host| Ipv4Addr::new(10, 99, 1, host))
        .collect()
}

/// Those of `clients` placed on `node`.
fn placed_on(run: &Running, clients: &[Ipv4Addr], node: &str) -> Vec<Ipv4Addr> {
    let nodes = nodes_of(&run.seed, &run.balancer, clients);
    clients
        .iter()
        .zip(nodes)
        .filter(|(_, n)| n == node)
        .map(|(c, _)| *c)
        .collect()
}

testkit::per_plane! {
fn a_dsr_target_whose_bind9_stops_hands_its_clients_over_and_keeps_them_away(plane) {
    let mut run = start("dsr_health_bind9", plane);
    let first = clients(1, 30);
    let on_b = placed_on(&run, &first, "ns0b");
    assert!(on_b.len() >= 3, "too few clients on ns0b to tell: {on_b:?}");

    run.bind9.ns0b.stop();
    let took = run.balancer.wait_for(2, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 2 reported down {took:?} after ns0b's Bind9 stopped");
    // The DSR plane, not only the proxy, took the transition: it moved target 2's sessions.
    run.balancer
        .wait_for_log("dsr: server 1: ", Duration::from_secs(2));
    assert!(run.balancer.operational(1), "target 1 stays up");
    let now = nodes_of(&run.seed, &run.balancer, &on_b);
    assert!(
        now.iter().all(|n| n == "ns0a"),
        "ns0b's clients must be answered by ns0a at once: {on_b:?} -> {now:?}\n{}",
        run.balancer.logs()
    );
    let fresh = clients(101, 20);
    let fresh_nodes = nodes_of(&run.seed, &run.balancer, &fresh);
    assert!(
        fresh_nodes.iter().all(|n| n == "ns0a"),
        "new clients avoid the down target: {fresh_nodes:?}"
    );

    let _restarted = start_node_bind9(&run.seed.ns0b, NS0B_ADDR);
    let took = run
        .balancer
        .wait_for(2, true, Duration::from_secs(2) + MARGIN);
    eprintln!("target 2 reported up {took:?} after ns0b's Bind9 restarted");
    let later = nodes_of(&run.seed, &run.balancer, &on_b);
    assert!(
        later.iter().all(|n| n == "ns0a"),
        "moved clients stay where they were moved: {on_b:?} -> {later:?}"
    );
    // New clients are placed by the method again, target 2 included.
    let newer = placed_on(&run, &clients(151, 30), "ns0b");
    assert!(
        !newer.is_empty(),
        "no new client reaches the recovered target:\n{}",
        run.balancer.control("show targets")
    );
}
}

testkit::per_plane! {
fn a_dsr_target_that_lost_the_vip_from_its_lo_is_taken_out_by_the_dsr_path_check(plane) {
    // The agents ask their Bind9 at 127.0.0.1, so that only the DSR path depends on the VIP.
    let run = start_with_agents_asking("dsr_health_vip", Ipv4Addr::LOCALHOST, plane);
    let path_line = format!("dsr-path {VIP}:53,1,2");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let targets: TargetsDoc = run.balancer.show("show targets");
        let up = (targets.targets.iter())
            .flat_map(|t| &t.checks)
            .filter(|c| c.check == path_line && c.state == "up")
            .count();
        if up == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no passing dsr-path check on both targets:\n{}\n{}",
            run.balancer.control("show targets"),
            run.balancer.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let on_b = placed_on(&run, &clients(1, 30), "ns0b");
    assert!(on_b.len() >= 3, "too few clients on ns0b to tell: {on_b:?}");

    let vip_on_lo = format!("{VIP}/32");
    run.seed
        .ns0b
        .ip(&["addr", "del", &vip_on_lo, "dev", "lo"])
        .expect("remove the VIP from ns0b's lo");
    let took = run.balancer.wait_for(2, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 2 reported down {took:?} after losing the VIP");
    let line = run
        .balancer
        .wait_for_log("target 2 (10.235.210.44:53) down: ", Duration::from_secs(2));
    eprintln!("{line}");
    assert!(
        line.contains(&format!("down: dsr-path no answer from {VIP}:53 at "))
            && line.contains("does the target hold the VIP on its lo?"),
        "the log line must say why: {line}"
    );
    let detail = run.balancer.control("show target 2");
    assert!(
        detail.contains(&format!("{path_line} down for ")),
        "{detail}"
    );
    for check in ["ping 1,2 up", "tcpopen 53,1,2 up", "agent 439,1,2 up"] {
        assert!(detail.contains(check), "only the DSR path fails: {detail}");
    }
    // Its clients, whose frames ns0b's stack now drops, are answered by ns0a (once the plane
    // has the transition: it logs the sessions it moved).
    run.balancer
        .wait_for_log("dsr: server 1: ", Duration::from_secs(2));
    let now = nodes_of(&run.seed, &run.balancer, &on_b);
    assert!(
        now.iter().all(|n| n == "ns0a"),
        "{on_b:?} -> {now:?}\n{}",
        run.balancer.logs()
    );

    run.seed
        .ns0b
        .ip(&["addr", "add", &vip_on_lo, "dev", "lo"])
        .expect("put the VIP back on ns0b's lo");
    let took = run
        .balancer
        .wait_for(2, true, Duration::from_secs(2) + MARGIN);
    eprintln!("target 2 reported up {took:?} after getting the VIP back");
    run.balancer.wait_for_log(
        "target 2 (10.235.210.44:53) up: dsr-path ok",
        Duration::from_secs(2),
    );
    let detail = run.balancer.control("show target 2");
    assert!(detail.contains(&format!("{path_line} up for ")), "{detail}");
    assert!(
        detail.contains("dsr-path probes (all targets): "),
        "{detail}"
    );
    eprintln!("{}{detail}", run.balancer.control("show target 1"));
}
}
