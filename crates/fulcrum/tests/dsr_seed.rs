//! The seed scenario, end to end: the seed's topology in network namespaces (netlab), the
//! seed's Bind9 pair, and the real `fulcrum run` inside `ns0a` with the seed's NS0A
//! configuration unchanged (the lab's interface is called `eth1` too). Clients behind the router
//! query the VIP 10.235.210.1 over UDP and TCP from many source addresses with the real `dig`.
//!
//! What it proves: both nodes' Bind9 answer through the VIP (ns0a's own share reaches its local
//! stack, `set localdsr 1`), every client sticks to one node across UDP and TCP, answers go
//! straight from the target to the client (a capture on ns0a's eth1 sees requests, never an
//! answer to a client: only the `dsr-path` health probes' answers, which go to the `real`
//! address by design), Fulcrum's counters agree (frames forwarded to both targets, no responses), and
//! `show sessions` lists the clients, and the seed's health checks (ping, tcpopen and the
//! seed's agent on both nodes) all pass, so the DSR plane keeps both targets. Once per DSR
//! plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`). Needs root,
//! iproute2, bind9, dig, tcpdump and nftables.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use netlab::lab::Lab;
use netlab::seed::{seed_topology, VIP};
use testkit::seed_dsr::{
    ask, require_tools, seed_config, start_seed_agents, target_counts, Balancer,
};
use testkit::show::{CheckRow, SessionsDoc, TargetsDoc};

testkit::per_plane! {
fn the_seed_scenario_balances_both_nodes_with_direct_server_return(plane) {
    require_tools();
    let lab = Lab::new("dsr_seed");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let _bind9 = seed.start_bind9().expect("start Bind9 on both nodes");

    // The seed's agents: every target carries `agent 439,5,13`.
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());
    // The lab's interface is named eth1 like the seed's: the file is used as it is.
    let balancer = Balancer::start(&seed.ns0a, &plane.config(&seed_config()));
    plane.assert_running(&balancer.log);
    let fulcrum = &balancer.proc;
    let logs = || balancer.logs();
    balancer.wait_ready(&seed);

    let capture = seed
        .ns0a
        .capture(
            "eth1",
            &[
                "ip", "and", "(udp", "port", "53", "or", "tcp", "port", "53)",
            ],
        )
        .expect("capture on ns0a's eth1");
    let clients: Vec<Ipv4Addr> = seed.client_sources().into_iter().take(40).collect();
    let mut node_of: HashMap<Ipv4Addr, String> = HashMap::new();
    let mut queries = 0u64;
    for (i, &client) in clients.iter().enumerate() {
        for tcp in [false, true, false] {
            let answer = ask(&seed, client, tcp)
                .unwrap_or_else(|| panic!("no answer for {client} (tcp: {tcp}):\n{}", logs()));
            queries += 1;
            let first = node_of.entry(client).or_insert_with(|| answer.clone());
            assert_eq!(*first, answer, "client {client} (#{i}) moved between nodes");
        }
    }
    let lines = capture.stop();

    // Every check of both targets has succeeded (none pending, none down).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let targets: TargetsDoc = balancer.show("show targets");
        let checks: Vec<&CheckRow> = targets.targets.iter().flat_map(|t| &t.checks).collect();
        if checks.len() >= 6 && checks.iter().all(|c| c.state == "up") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seed's checks do not all pass:\n{}\n{}",
            balancer.control("show targets"),
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let on_a = node_of.values().filter(|n| *n == "ns0a").count();
    let on_b = node_of.values().filter(|n| *n == "ns0b").count();
    assert!(
        on_a >= 5 && on_b >= 5,
        "both nodes must serve clients: ns0a {on_a}, ns0b {on_b}"
    );

    let vip_port = format!("{VIP}.53");
    let requests = lines
        .iter()
        .filter(|l| l.contains(&format!("> {vip_port}:")))
        .count();
    // The dsr-path probes ask the VIP from the `real` address, which gets their answers.
    let answers: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("{vip_port} >")) && !l.contains("> 10.235.210.45."))
        .collect();
    assert!(requests > 0, "the capture saw no request:\n{lines:#?}");
    assert!(
        answers.is_empty(),
        "answers crossed Fulcrum's interface instead of going straight to the client:\n{answers:#?}"
    );

    let targets: TargetsDoc = balancer.show("show targets");
    let (q1, r1) =
        target_counts(&targets, 1).unwrap_or_else(|| panic!("no target 1:\n{targets:?}"));
    let (q2, r2) =
        target_counts(&targets, 2).unwrap_or_else(|| panic!("no target 2:\n{targets:?}"));
    let targets = balancer.control("show targets");
    assert!(
        q1 > 0 && q2 > 0,
        "frames forwarded to both targets:\n{targets}"
    );
    assert!(
        q1 + q2 >= queries,
        "at least one frame per query ({queries}):\n{targets}"
    );
    assert_eq!((r1, r2), (0, 0), "DSR never sees a response:\n{targets}");

    let sessions: SessionsDoc = balancer.show("show sessions all");
    for client in &clients {
        assert!(
            sessions
                .sessions
                .iter()
                .any(|s| s.client == client.to_string()),
            "show sessions lacks {client}:\n{sessions:?}"
        );
    }

    // A clean stop logs the plane's own counters: both paths were used, nothing failed.
    let _ = Command::new("kill")
        .args(["-TERM", &fulcrum.pid().to_string()])
        .status();
    assert!(
        fulcrum.wait_timeout(Duration::from_secs(10)).is_some(),
        "fulcrum run did not stop on SIGTERM:\n{}",
        logs()
    );
    let text = logs();
    let counter = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| {
                let mut cells = line.split_whitespace();
                (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {name} counter in the log:\n{text}"))
    };
    assert!(counter("forwarded") > 0, "{text}");
    assert!(counter("delivered-locally") > 0, "{text}");
    // The router learns the VIP's MAC from an answer or, once VRRP makes the node master,
    // from its gratuitous ARP.
    assert!(
        counter("arp-answered") + counter("arp-announced") > 0,
        "{text}"
    );
    assert_eq!(counter("drop-local-failed"), 0, "{text}");
    assert_eq!(counter("drop-tx-full"), 0, "{text}");
    assert_eq!(
        counter("forwarded") + counter("delivered-locally"),
        q1 + q2,
        "plane and target counters agree:\n{text}"
    );
    plane.assert_carried(&text);
    eprintln!("{text}");
}
}
