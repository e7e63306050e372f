//! Active-active through BIRD: a router namespace running BIRD 2 with `packaging/bird/router.conf`
//! and two node namespaces, each running BIRD with `packaging/bird/node.conf` (both verbatim,
//! beside a local file of addresses and AS numbers) and the real `fulcrum run` in proxy mode in
//! front of its own real Bind9, with `announce { }` on. Checks, in order:
//! - the router's kernel holds one multipath route to the VIP via both nodes, and `dig` from a
//!   client namespace behind the router reaches the VIP (answered by both nodes over a few
//!   queries: the router hashes on ports);
//! - `show announce` on a node says the VIP is announced and why;
//! - SIGKILL of one node's fulcrum (its BIRD lives on): the router drops that next hop, without
//!   Fulcrum's help, because the kernel deletes the interface with the process (the time is
//!   printed); the client is still answered, by the other node;
//! - stopping the other node's Bind9: its health check fails, Fulcrum withdraws the VIP, and
//!   the router has no route to it left; starting it again announces the VIP again;
//! - SIGTERM of that node's fulcrum: a clean shutdown withdraws the VIP (times are printed).
//!
//! Needs root, iproute2, bird2, bind9 and dig. Everything runs inside the lab's namespaces;
//! every process is killed by PID and every namespace removed when the lab drops, also on panic.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::{Lab, Ns, Proc};

use testkit::bird::BIRD;
const ZONE: &str = "fulcrum.test";
const VIP: &str = "10.255.0.53";
const TARGET_PORT: u16 = 5353;
const ROUTER_AS: u32 = 65000;
const NODE_AS: u32 = 65001;
const CLIENT: &str = "10.0.9.2";

/// BIRD in `ns`: the shipped `conf` verbatim beside `local` (the file it includes), at normal
/// priority.
fn start_bird(ns: &Ns, dir: &Path, conf: &str, local_name: &str, local: &str) -> Proc {
    let options = testkit::bird::Options {
        bfd: true,
        real_time: false,
    };
    testkit::bird::start(ns, dir, (conf, local_name, local), options)
}

/// The node's target: Bind9 on 127.0.0.1:5353 in `ns`, whose TXT record names the node.
fn start_target(ns: &Ns, node: &str) -> Bind9 {
    let record = format!("@ IN TXT \"{node}\"");
    Bind9::start(Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: TARGET_PORT,
        zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
        netns: Some(ns.name().to_string()),
        extra_options: String::new(),
    })
    .expect("start Bind9")
}

/// One Fulcrum node: its namespace, Bind9, BIRD and `fulcrum run`.
struct Node {
    name: String,
    ns: Ns,
    bind9: Bind9,
    fulcrum: Proc,
    _bird: Proc,
    dir: PathBuf,
}

impl Node {
    /// Node `n` (1, 2, ...) on 10.0.n.2/24 towards the router's 10.0.n.1.
    fn start(lab: &Lab, router: &Ns, n: u8, root: &Path) -> Node {
        let name = format!("node{n}");
        let ns = lab.netns(&name).expect("node namespace");
        let router_if = format!("r{n}");
        lab.veth(router, &router_if, &ns, "up0").expect("veth");
        router
            .addr(&router_if, &format!("10.0.{n}.1/24"))
            .expect("router address");
        ns.addr("up0", &format!("10.0.{n}.2/24"))
            .expect("node address");
        ns.ip(&["route", "add", "default", "via", &format!("10.0.{n}.1")])
            .expect("default route");
        let bind9 = start_target(&ns, &name);
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).expect("node directory");
        let conf = dir.join("fulcrum.conf");
        std::fs::write(
            &conf,
            format!(
                "hostname NODE{n}\n\
                 server 1 {{\nipaddr {VIP}\nport 53\ntargets 1\n}}\n\
                 register server 1\nenable server 1\n\
                 target 1 {{\nipaddr 127.0.0.1\nport {TARGET_PORT}\ndns {ZONE},1,2\n}}\n\
                 register target 1\nenable target 1\n\
                 announce {{\ninterface fulcrum-vip\n}}\n"
            ),
        )
        .expect("write the configuration");
        let socket = dir.join("fulcrum.sock");
        let log = dir.join("fulcrum.log");
        let fulcrum = testkit::daemon::spawn_run_in(&ns, &[], &conf, &socket, &log);
        let local = format!(
            "router id 10.0.{n}.2;\ndefine NODE_AS = {NODE_AS};\ndefine ROUTER_AS = {ROUTER_AS};\n\
             define ROUTER_IP = 10.0.{n}.1;\n"
        );
        let bird = start_bird(
            &ns,
            &dir.join("bird"),
            "node.conf",
            "node-local.conf",
            &local,
        );
        Node {
            name,
            ns,
            bind9,
            fulcrum,
            _bird: bird,
            dir,
        }
    }

    fn control(&self, line: &str) -> String {
        testkit::control::control_text(&self.dir.join("fulcrum.sock"), line)
    }

    fn report(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "== {}: show announce\n{}\n== fulcrum log\n{}\n== bird log\n{}\n== ip addr\n{}",
            self.name,
            self.control("show announce"),
            read(self.dir.join("fulcrum.log")),
            read(self.dir.join("bird/bird.log")),
            self.ns.ip(&["addr"]).unwrap_or_default(),
        )
    }
}

/// The next hops of the router's route to the VIP (empty: no route).
fn next_hops(router: &Ns) -> BTreeSet<String> {
    let text = router
        .ip(&["route", "show", &format!("{VIP}/32")])
        .unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect()
}

/// Polls the router's route until its next hops are `want`; returns how long that took.
fn wait_next_hops(
    router: &Ns,
    want: &[&str],
    within: Duration,
    report: impl Fn() -> String,
) -> Duration {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let started = Instant::now();
    loop {
        let got = next_hops(router);
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "router's next hops to {VIP}: {got:?}, want {want:?} within {within:?}\n{}\n{}",
            router.ip(&["route"]).unwrap_or_default(),
            report()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One query from the client; the TXT answer names the node whose Bind9 answered.
fn dig(client: &Ns) -> Option<String> {
    let output = client
        .exec(&[
            "dig",
            "+short",
            "+time=1",
            "+tries=1",
            &format!("@{VIP}"),
            ZONE,
            "TXT",
        ])
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout)
        .trim()
        .trim_matches('"')
        .to_string();
    (output.status.success() && text.starts_with("node")).then_some(text)
}

#[test]
fn nodes_announce_the_vip_through_bird_and_withdraw_it_on_kill_and_target_loss() {
    if !Path::new(BIRD).exists() {
        panic!("{BIRD} is missing: apt-get install bird2 (scripts/install-deps.sh)");
    }
    let lab = Lab::new("announce");
    let root = tempfile::tempdir().expect("temporary directory");
    let router = lab.netns("router").expect("router namespace");
    router
        .sysctl("net.ipv4.ip_forward", "1")
        .expect("forwarding");
    router
        .sysctl("net.ipv4.fib_multipath_hash_policy", "1")
        .expect("L4 multipath hash");
    let client = lab.netns("client").expect("client namespace");
    lab.veth(&router, "rc", &client, "up0")
        .expect("client veth");
    router.addr("rc", "10.0.9.1/24").expect("router address");
    client
        .addr("up0", &format!("{CLIENT}/24"))
        .expect("client address");
    client
        .ip(&["route", "add", "default", "via", "10.0.9.1"])
        .expect("client route");
    let router_local = format!(
        "router id 10.0.9.1;\ndefine ROUTER_AS = {ROUTER_AS};\ndefine NODE_AS = {NODE_AS};\n\
         define NODES = 10.0.0.0/16;\n"
    );
    let router_dir = root.path().join("router");
    let _router_bird = start_bird(
        &router,
        &router_dir,
        "router.conf",
        "router-local.conf",
        &router_local,
    );
    let nodes = [
        Node::start(&lab, &router, 1, root.path()),
        Node::start(&lab, &router, 2, root.path()),
    ];
    let mut nodes = nodes;
    let report = |nodes: &[Node]| {
        let router_log = std::fs::read_to_string(router_dir.join("bird.log")).unwrap_or_default();
        let mut text = format!("== router bird log\n{router_log}\n");
        for node in nodes {
            text.push_str(&node.report());
        }
        text
    };

    let took = wait_next_hops(
        &router,
        &["10.0.1.2", "10.0.2.2"],
        Duration::from_secs(60),
        || report(&nodes),
    );
    println!("multipath route via both nodes after {took:?}");
    let announce = nodes[0].control("show announce");
    assert!(
        announce.contains("announce interface fulcrum-vip")
            && announce.contains(&format!("server 1 {VIP}: announced, 1 target(s) up")),
        "{announce}"
    );
    let mut answered_by = BTreeSet::new();
    for _ in 0..24 {
        match dig(&client) {
            Some(node) => {
                answered_by.insert(node);
            }
            None => panic!("the client got no answer from {VIP}\n{}", report(&nodes)),
        }
    }
    assert_eq!(
        answered_by,
        BTreeSet::from(["node1".to_string(), "node2".to_string()]),
        "24 queries from distinct ports reach both nodes"
    );

    nodes[0].fulcrum.kill();
    let withdrawn = wait_next_hops(&router, &["10.0.2.2"], Duration::from_secs(10), || {
        report(&nodes)
    });
    println!("SIGKILL of node1's fulcrum: the router dropped its next hop after {withdrawn:?}");
    assert!(
        !nodes[0]
            .ns
            .ip(&["link"])
            .unwrap_or_default()
            .contains("fulcrum-vip"),
        "the kernel deleted the interface with the process"
    );
    for _ in 0..5 {
        assert_eq!(dig(&client).as_deref(), Some("node2"), "{}", report(&nodes));
    }
    let sessions = router
        .run(&[
            "birdc",
            "-s",
            &router_dir.join("bird.ctl").to_string_lossy(),
            "show",
            "protocols",
        ])
        .expect("birdc show protocols");
    assert_eq!(
        sessions.lines().filter(|l| l.contains("Established")).count(),
        2,
        "node1's BIRD keeps its session: the route went with the interface, not the session\n{sessions}"
    );

    nodes[1].bind9.stop();
    let gone = wait_next_hops(&router, &[], Duration::from_secs(30), || report(&nodes));
    println!("node2's target stopped: the router has no route to {VIP} after {gone:?}");
    let announce = nodes[1].control("show announce");
    assert!(
        announce.contains(&format!("server 1 {VIP}: withdrawn (no target up)")),
        "{announce}"
    );

    nodes[1].bind9 = start_target(&nodes[1].ns, "node2");
    let back = wait_next_hops(&router, &["10.0.2.2"], Duration::from_secs(30), || {
        report(&nodes)
    });
    println!("node2's target back: announced again after {back:?}");
    assert_eq!(dig(&client).as_deref(), Some("node2"), "{}", report(&nodes));

    let pid = nix::unistd::Pid::from_raw(nodes[1].fulcrum.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let shut = wait_next_hops(&router, &[], Duration::from_secs(10), || report(&nodes));
    println!("SIGTERM of node2's fulcrum: the router has no route after {shut:?}");
    let status = nodes[1].fulcrum.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "a clean shutdown: {status:?}\n{}",
        report(&nodes)
    );
    drop(lab);
}
