//! The seed scenario, end to end: the seed's topology in network namespaces (netlab), the
//! seed's Bind9 pair, and the real `fulcrum run` inside `ns0a` with the seed's NS0A
//! configuration unchanged (the lab's interface is called `eth1` too). Clients behind the router
//! query the VIP 10.235.210.1 over UDP and TCP from many source addresses with the real `dig`.
//!
//! What it proves: both nodes' Bind9 answer through the VIP (ns0a's own share reaches its local
//! stack, `set localdsr 1`), every client sticks to one node across UDP and TCP, answers go
//! straight from the target to the client (a capture on ns0a's eth1 sees requests, never an
//! answer), Fulcrum's counters agree (frames forwarded to both targets, no responses), and
//! `show sessions` lists the clients. Needs root, iproute2, bind9, dig and tcpdump.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use netlab::lab::Lab;
use netlab::seed::{seed_topology, SeedLab, VIP};

const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");

fn require_tools() {
    for tool in ["/usr/bin/dig", "/usr/sbin/named", "/usr/bin/tcpdump"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install dnsutils, bind9 and tcpdump to run this test"
        );
    }
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    assert!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "this test builds network namespaces and opens AF_PACKET sockets: run it as root"
    );
}

fn control(socket: &Path, command: &str) -> String {
    let output = Command::new(FULCRUM)
        .arg("control")
        .arg("--socket")
        .arg(socket)
        .args(["-e", command])
        .stdin(Stdio::null())
        .output()
        .expect("run fulcrum control");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `dig` from `source` to the VIP for the zone's TXT: which node answered (`None`: no answer).
fn ask(seed: &SeedLab, source: Ipv4Addr, tcp: bool) -> Option<String> {
    let source = source.to_string();
    let server = format!("@{VIP}");
    let mut argv = vec![
        "dig",
        "-b",
        &source,
        &server,
        "balanceng.net",
        "TXT",
        "+short",
        "+tries=2",
        "+time=2",
    ];
    if tcp {
        argv.push("+tcp");
    }
    let output: Output = seed
        .client
        .exec(&argv)
        .expect("run dig in the client namespace");
    let text = String::from_utf8_lossy(&output.stdout);
    let answer = text.trim().trim_matches('"');
    (output.status.success() && matches!(answer, "ns0a" | "ns0b")).then(|| answer.to_string())
}

/// Numbers in a `show targets` row: (queries, responses) of target `id`.
fn target_counts(table: &str, id: u32) -> Option<(u64, u64)> {
    // A row: id ip-address port proto weight dsr reg ena op queries responses timeouts drops
    // sessions (the `2 targets` title also starts with a number, hence the cell count).
    let cells: Vec<&str> = table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<&str>>())
        .find(|cells| cells.len() >= 14 && cells[0] == id.to_string())?;
    let n = cells.len();
    Some((
        cells.get(n - 5)?.parse().ok()?,
        cells.get(n - 4)?.parse().ok()?,
    ))
}

#[test]
fn the_seed_scenario_balances_both_nodes_with_direct_server_return() {
    require_tools();
    let lab = Lab::new("dsr_seed");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let _bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
    // The network's `real` address, as the seed's NS0A has it (health probes leave from it).
    seed.ns0a
        .addr("eth1", "10.235.210.45/32")
        .expect("add the real address to ns0a's eth1");

    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("ns0a.conf");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ns0a.conf");
    // The lab's interface is named eth1 like the seed's: the file is used as it is.
    std::fs::copy(&fixture, &config).expect("copy the NS0A configuration");
    let socket = dir.path().join("fulcrum.sock");
    let log = dir.path().join("fulcrum.log");
    let mut command = seed.ns0a.command(FULCRUM);
    command
        .args(["run", "--log-level", "info", "-c"])
        .arg(&config)
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log file"));
    let fulcrum = seed.ns0a.spawn(command).expect("start fulcrum run in ns0a");
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();

    // Ready when a client gets an answer through the VIP (ARP for the VIP and the peer's MAC
    // resolved).
    let deadline = Instant::now() + Duration::from_secs(30);
    while ask(&seed, Ipv4Addr::new(10, 99, 0, 1), false).is_none() {
        assert!(
            fulcrum.try_wait().is_none(),
            "fulcrum run exited:\n{}",
            logs()
        );
        assert!(
            Instant::now() < deadline,
            "no answer through the VIP within 30 s:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

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
    let answers: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("{vip_port} >")))
        .collect();
    assert!(requests > 0, "the capture saw no request:\n{lines:#?}");
    assert!(
        answers.is_empty(),
        "answers crossed Fulcrum's interface instead of going straight to the client:\n{answers:#?}"
    );

    let targets = control(&socket, "show targets");
    let (q1, r1) = target_counts(&targets, 1).unwrap_or_else(|| panic!("no target 1:\n{targets}"));
    let (q2, r2) = target_counts(&targets, 2).unwrap_or_else(|| panic!("no target 2:\n{targets}"));
    assert!(
        q1 > 0 && q2 > 0,
        "frames forwarded to both targets:\n{targets}"
    );
    assert!(
        q1 + q2 >= queries,
        "at least one frame per query ({queries}):\n{targets}"
    );
    assert_eq!((r1, r2), (0, 0), "DSR never sees a response:\n{targets}");

    let sessions = control(&socket, "show sessions all");
    for client in &clients {
        assert!(
            sessions.contains(&format!(" {client} ")),
            "show sessions lacks {client}:\n{sessions}"
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
    eprintln!("{text}");
}
