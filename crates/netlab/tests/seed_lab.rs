//! The seed topology in real namespaces (root, iproute2, procps and iputils-ping required): it
//! is reachable where it should be, carries the seed's ARP settings, and disappears completely
//! when the lab is dropped, also when the test panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;

use netlab::seed::{CLIENT_ADDR, NS0A_ADDR, NS0B_ADDR, ROUTER_ADDR, VIP};
use netlab::{seed_topology, Lab, Ns};

/// Namespace names in the host's list that start with `prefix`.
fn namespaces_with(prefix: &str) -> Vec<String> {
    let output = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("`ip netns list` must run: is iproute2 installed?");
    assert!(output.status.success(), "ip netns list: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Host interfaces whose names could be ours (the lab never creates any in the host).
fn host_links() -> String {
    let output = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("`ip link show` must run");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `pid` is a live process (a zombie waiting for its reaper counts as gone).
fn is_running(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the parenthesised command name: "1234 (sleep) S ...".
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next());
        let alive = matches!(state, Some(s) if s != "Z" && s != "X");
        if !alive || std::time::Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn assert_pings(from: &Ns, to: &str) {
    // The first ping may wait for ARP resolution on a fresh bridge; allow a second try.
    let ok = (0..2).any(|_| {
        from.ping(to)
            .expect("ping must run (iputils-ping installed?)")
    });
    assert!(ok, "{} cannot ping {to}", from.short_name());
}

#[test]
fn seed_topology_routes_clients_to_nodes_and_keeps_arp_quiet() {
    let lab = Lab::new("seed");
    let seed = seed_topology(&lab).expect("seed topology");
    let links_before = host_links();

    for node in seed.nodes() {
        assert_pings(
            &seed.router,
            &node
                .ip(&["-4", "-o", "addr", "show", "eth0"])
                .map(|text| {
                    let cidr = text
                        .split_whitespace()
                        .nth(3)
                        .unwrap_or_default()
                        .to_string();
                    cidr.split('/').next().unwrap_or_default().to_string()
                })
                .expect("eth0 address"),
        );
        assert_pings(node, &ROUTER_ADDR.to_string());
    }
    assert_pings(&seed.client, &NS0A_ADDR.to_string());
    assert_pings(&seed.client, &NS0B_ADDR.to_string());
    assert_pings(&seed.ns0a, &CLIENT_ADDR.to_string());
    // A secondary client address is routed back too.
    let ok = seed
        .client
        .exec(&[
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "-n",
            "-I",
            "10.99.1.200",
            &NS0B_ADDR.to_string(),
        ])
        .expect("ping")
        .status
        .success();
    assert!(ok, "ping from 10.99.1.200 to ns0b");
    assert_eq!(seed.client_sources().len(), 200);

    for node in seed.nodes() {
        for key in [
            "net.ipv4.conf.all.arp_ignore",
            "net.ipv4.conf.eth0.arp_ignore",
        ] {
            assert_eq!(node.sysctl_get(key).expect(key), "1", "{key} in {node}");
        }
        for key in [
            "net.ipv4.conf.all.arp_announce",
            "net.ipv4.conf.eth0.arp_announce",
        ] {
            assert_eq!(node.sysctl_get(key).expect(key), "2", "{key} in {node}");
        }
        let lo = node.ip(&["-4", "-o", "addr", "show", "lo"]).expect("lo");
        assert!(
            lo.contains(&format!("{VIP}/32")),
            "VIP on lo of {node}: {lo}"
        );
        let eth1 = node.ip(&["-o", "link", "show", "eth1"]).expect("eth1");
        assert!(eth1.contains("UP"), "eth1 up in {node}: {eth1}");
        let eth1_v4 = node
            .ip(&["-4", "-o", "addr", "show", "eth1"])
            .expect("eth1");
        assert!(
            eth1_v4.trim().is_empty(),
            "eth1 has no IPv4 address: {eth1_v4}"
        );
        // No default route anywhere, and no way out to the host.
        let routes = node.ip(&["route", "show", "default"]).expect("routes");
        assert!(
            routes.trim().is_empty(),
            "default route in {node}: {routes}"
        );
    }
    // The VIP is not answered by the nodes' kernels on the switch: arp_ignore=1 keeps a lo
    // address out of ARP replies on eth0, so from the router the VIP does not resolve.
    assert!(
        !seed.router.ping(&VIP.to_string()).expect("ping"),
        "a node's kernel answered ARP for the VIP"
    );

    assert_eq!(
        host_links(),
        links_before,
        "the lab touched the host's links"
    );
    let prefix = lab.prefix().to_string();
    assert_eq!(
        namespaces_with(&prefix).len(),
        5,
        "sw, ns0a, ns0b, router, client"
    );
    drop(lab);
    assert!(
        namespaces_with(&prefix).is_empty(),
        "left behind: {:?}",
        namespaces_with(&prefix)
    );
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    let mut seen_prefix = String::new();
    let mut seen_pid = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let lab = Lab::new("panic");
        seen_prefix = lab.prefix().to_string();
        let seed = seed_topology(&lab).expect("seed topology");
        let sleeper = seed
            .ns0a
            .spawn({
                let mut command = seed.ns0a.command("sleep");
                command.arg("300");
                command
            })
            .expect("sleep");
        seen_pid = sleeper.pid();
        assert!(!namespaces_with(&seen_prefix).is_empty());
        panic!("deliberate panic with a live lab");
    }));
    assert!(result.is_err(), "the closure must have panicked");
    assert!(
        namespaces_with(&seen_prefix).is_empty(),
        "left behind after panic: {:?}",
        namespaces_with(&seen_prefix)
    );
    assert!(
        !is_running(seen_pid),
        "process {seen_pid} spawned in the lab still runs"
    );
}

#[test]
fn spawned_processes_run_inside_their_namespace_and_die_with_the_lab() {
    let lab = Lab::new("spawn");
    let a = lab.netns("a").expect("netns");
    let b = lab.netns("b").expect("netns");
    lab.veth(&a, "left", &b, "right").expect("veth");
    a.addr("left", "192.0.2.1/30").expect("addr");
    b.addr("right", "192.0.2.2/30").expect("addr");
    assert_pings(&a, "192.0.2.2");

    // A daemon that forks away from the spawned process is still caught: it lives in the
    // namespace, and drop kills what `ip netns pids` lists.
    let mut command = b.command("sh");
    command.args(["-c", "sleep 300 & echo $!"]);
    command.stdout(std::process::Stdio::piped());
    let shell = b.spawn(command).expect("spawn");
    // One line only: the forked sleep keeps the pipe open, so reading to the end would block.
    let orphan: u32 = shell.with_child(|child| {
        use std::io::BufRead;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.as_mut() {
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        }
        line.trim().parse().expect("pid of the forked sleep")
    });
    let listed = Command::new("ip")
        .args(["netns", "pids", b.name()])
        .output()
        .expect("ip netns pids");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&orphan.to_string()),
        "the forked sleep runs in the namespace"
    );
    drop(lab);
    assert!(
        !is_running(orphan),
        "forked process {orphan} survived the lab"
    );
}

#[test]
fn names_are_checked_before_anything_is_created() {
    let lab = Lab::new("names");
    let a = lab.netns("a").expect("netns");
    let b = lab.netns("b").expect("netns");
    assert!(lab.veth(&a, "sixteen-chars-xx", &b, "x").is_err());
    assert!(lab.netns("a").is_err(), "duplicate namespace");
    assert!(lab.netns("bad name").is_err());
    assert_eq!(lab.namespaces().len(), 2);
}

#[test]
fn a_capture_sees_what_crosses_an_interface() {
    let lab = Lab::new("capture");
    let seed = seed_topology(&lab).expect("seed topology");
    let capture = seed
        .ns0b
        .capture("eth0", &["icmp"])
        .expect("tcpdump must run: is tcpdump installed?");
    assert_pings(&seed.client, &NS0B_ADDR.to_string());
    let (lines, log) = capture.stop_with_log();
    let requests = lines
        .iter()
        .filter(|l| l.contains("10.99.0.1 > 10.235.210.44") && l.contains("echo request"))
        .count();
    let replies = lines
        .iter()
        .filter(|l| l.contains("10.235.210.44 > 10.99.0.1") && l.contains("echo reply"))
        .count();
    assert!(requests >= 1 && replies >= 1, "capture: {lines:#?}\n{log}");
}
