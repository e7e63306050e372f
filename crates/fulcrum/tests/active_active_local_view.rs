//! One active-active node's own health view never moves its peers' clients. Two real
//! `fulcrum run` nodes in proxy mode (`announce { }`, no BIRD: what a node announces is what it
//! holds on its interface), A 10.1.0.11 and B 10.1.0.12, each the other's `syncpeer`, share one
//! switch with two real Bind9 targets (t1 10.1.0.21, t2 10.1.0.22, each TXT answer naming its
//! target) and a client namespace of [`CLIENTS`] source addresses whose only route to the VIP
//! is via B: B creates every session, A holds them all by sync. A steady bounded load runs
//! while A alone loses sight of its targets (nftables in A's namespace drops A's own output to
//! them; B still reaches both). Checks, in order:
//! - A's health checks hold t1 down while B's hold it up: A moves its own sessions off t1 (it
//!   logs so, none of its sessions names t1), but after more than two sync refresh rounds no
//!   client has changed target, B's sessions still name each client's target (t1 for t1's
//!   clients) and B created no session anew;
//! - the rule removed, t1 comes back on A: still no client changed target, and A's sessions
//!   agree with B's again (B's refreshes, which A refused while t1 was down here);
//! - A loses both targets: it withdraws (`show announce`: `no target up`), and B still holds
//!   every session, each on its client's target, created none anew, and no client changed
//!   target.
//!
//! Why: each node applies its own health verdicts and sends its peers only what its own traffic
//! did; a node whose view is wrong (a broken link of its own, a firewall) must not move or reset
//! the clients the other nodes serve, which a synced move or removal would do.
//!
//! Needs root, iproute2, bind9 and nftables. Everything runs inside the lab's namespaces; every
//! process is killed by PID and every namespace removed when the lab drops, also on panic.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fulcrum_control::show::{AnnounceDoc, SessionsDoc, TargetsDoc};
use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::{Lab, Ns, Proc, Switch};
use testkit::cluster::load::{ClientLog, Load, LoadSpec};

const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");
const VIP: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 53);
/// The zone the load asks for and the health checks ask the SOA of.
const ZONE: &str = netlab::seed::SEED_ZONE;
const CLIENTS: u8 = 40;
const NODE_A: &str = "10.1.0.11";
const NODE_B: &str = "10.1.0.12";
/// A session's refresh is synced at most once a second: this is more than two rounds.
const SETTLE: Duration = Duration::from_secs(3);
const PACE: Duration = Duration::from_millis(400);

fn target_addr(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 20 + k)
}

/// Target `k`: Bind9 on its address, answering the zone's TXT with `t{k}`.
fn start_target(ns: &Ns, k: u8) -> Bind9 {
    let record = format!("@ IN TXT \"t{k}\"");
    Bind9::start(Bind9Options {
        listen: vec![IpAddr::V4(target_addr(k))],
        port: 53,
        zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
        netns: Some(ns.name().to_string()),
        extra_options: String::new(),
    })
    .expect("start Bind9")
}

/// A node's configuration: `method session` over both targets, the other node its sync peer,
/// the VIP announced through `fulcrum-vip`.
fn node_config(name: &str, real: &str, peer: &str) -> String {
    let mut text = format!(
        "hostname {name}\n\
         network 1 {{\naddr 10.1.0.0\nmask 255.255.255.0\nreal {real}\nsyncpeer {peer}\n}}\n\
         register network 1\nenable network 1\n\
         server 1 {{\nipaddr {VIP}\nport 53\nmethod session\ntargets 1,2\n}}\n\
         register server 1\nenable server 1\n"
    );
    for k in 1..=2 {
        text.push_str(&format!(
            "target {k} {{\nipaddr {}\nport 53\ndns {ZONE},1,2\n}}\n",
            target_addr(k)
        ));
    }
    text.push_str(
        "register targets 1,2\nenable targets 1,2\nannounce {\ninterface fulcrum-vip\n}\n",
    );
    text
}

/// One node: its namespace on the switch and its `fulcrum run`.
struct Node {
    name: &'static str,
    ns: Ns,
    dir: PathBuf,
    _fulcrum: Proc,
}

impl Node {
    fn start(
        lab: &Lab,
        switch: &Switch,
        root: &Path,
        name: &'static str,
        real: &str,
        peer: &str,
    ) -> Node {
        let ns = lab.netns(name).expect("node namespace");
        lab.link(&ns, "eth0", switch).expect("node switch port");
        ns.addr("eth0", &format!("{real}/24"))
            .expect("node address");
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("node directory");
        let conf = dir.join("fulcrum.conf");
        std::fs::write(&conf, node_config(name, real, peer)).expect("write the configuration");
        let mut command = ns.command(FULCRUM);
        command
            .args(["run", "--log-level", "info", "-c"])
            .arg(&conf)
            .arg("--socket")
            .arg(dir.join("fulcrum.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("fulcrum.log")).expect("log file"));
        let fulcrum = ns.spawn(command).expect("start fulcrum");
        Node {
            name,
            ns,
            dir,
            _fulcrum: fulcrum,
        }
    }

    /// A `show` command's JSON document (docs/control.md).
    fn show<T: testkit::control::DeserializeOwned>(&self, line: &str) -> T {
        testkit::control::show(&self.dir.join("fulcrum.sock"), line)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", self.name, self.log()))
    }

    /// Every session of the node: client address to target.
    fn sessions(&self) -> BTreeMap<Ipv4Addr, u8> {
        let doc: SessionsDoc = self.show("show sessions all");
        doc.sessions
            .iter()
            .filter_map(|s| Some((s.client.parse().ok()?, u8::try_from(s.target).ok()?)))
            .collect()
    }

    /// Whether this node's health checks hold target `k` operational.
    fn target_up(&self, k: u8) -> bool {
        let doc: TargetsDoc = self.show("show targets");
        doc.targets
            .iter()
            .any(|t| t.id == u32::from(k) && t.operational)
    }

    /// Sessions the node's own traffic created since it started (`show stats`).
    fn sessions_created(&self) -> u64 {
        let stats: serde_json::Value = self.show("show stats");
        stats["sessions_created"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no sessions_created in show stats: {stats}", self.name))
    }

    fn announce(&self) -> AnnounceDoc {
        self.show("show announce")
    }

    /// The node's own output to `targets` is dropped from now on (its health checks see them
    /// down; nothing else of the lab changes).
    fn blind_to(&self, targets: &[u8]) {
        let addresses: Vec<String> = targets
            .iter()
            .map(|k| target_addr(*k).to_string())
            .collect();
        let rules = format!(
            "table inet localview {{\n chain out {{\n  \
             type filter hook output priority 0; policy accept;\n  \
             ip daddr {{ {} }} drop\n }}\n}}\n",
            addresses.join(", ")
        );
        self.nft(&["-f", "-"], Some(&rules));
    }

    fn see_again(&self) {
        self.nft(&["delete", "table", "inet", "localview"], None);
    }

    fn nft(&self, args: &[&str], stdin: Option<&str>) {
        use std::io::Write;
        let mut child = (self.ns.command("nft").args(args))
            .stdin(Stdio::piped())
            .spawn()
            .expect("run nft");
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
            pipe.write_all(text.as_bytes()).expect("nft input");
        }
        drop(child.stdin.take());
        let status = child.wait().expect("nft status");
        assert!(status.success(), "{}: nft {args:?} failed", self.name);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("fulcrum.log")).unwrap_or_default()
    }

    fn report(&self) -> String {
        let text =
            |line: &str| testkit::control::control_text(&self.dir.join("fulcrum.sock"), line);
        format!(
            "== {}: show targets\n{}\n== show announce\n{}\n== show sync\n{}\n== show sessions\n{}\n== log\n{}\n",
            self.name,
            text("show targets"),
            text("show announce"),
            text("show sync"),
            text("show sessions all"),
            self.log()
        )
    }
}

fn wait_for(
    what: &str,
    within: Duration,
    report: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < within,
            "{what}: not within {within:?}\n{}",
            report()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The target of each client that answered, as its answers name it (`t1` -> 1); a client whose
/// answers named several targets is reported by [`changed_target`].
fn target_by_client(logs: &[ClientLog]) -> BTreeMap<Ipv4Addr, u8> {
    logs.iter()
        .filter_map(|l| {
            let first = l.answers.first()?;
            Some((l.addr, first.node.trim_start_matches('t').parse().ok()?))
        })
        .collect()
}

/// The clients whose answers named another target than `placed` says, with what they named.
fn changed_target(logs: &[ClientLog], placed: &BTreeMap<Ipv4Addr, u8>) -> Vec<String> {
    logs.iter()
        .filter_map(|l| {
            let want = format!("t{}", placed.get(&l.addr)?);
            let nodes = l.nodes();
            (nodes.iter().any(|n| *n != want)).then(|| format!("{} ({want}): {nodes:?}", l.addr))
        })
        .collect()
}

/// After [`SETTLE`], with every client answered again since: no client changed target from
/// `placed`, B's sessions still name each client's target and B created none anew since it had
/// `created` (no session was moved or removed under it). `when` names the moment checked.
fn assert_b_keeps_every_client(
    when: &str,
    load: &Load,
    b: &Node,
    placed: &BTreeMap<Ipv4Addr, u8>,
    created: u64,
    report: impl Fn() -> String,
) {
    std::thread::sleep(SETTLE);
    let settled = Instant::now();
    assert!(
        load.wait_until(Duration::from_secs(5), |logs| logs
            .iter()
            .all(|l| l.answered_since(settled) > 0)),
        "{when}: every client answered again\n{}",
        report()
    );
    let changed = changed_target(&load.snapshot(), placed);
    assert!(
        changed.is_empty(),
        "{when}: these clients changed target: {changed:?}\n{}",
        report()
    );
    assert_eq!(
        &b.sessions(),
        placed,
        "{when}: B's sessions name each client's target\n{}",
        report()
    );
    assert_eq!(
        b.sessions_created(),
        created,
        "{when}: B created no session anew\n{}",
        report()
    );
}

#[test]
fn one_nodes_health_view_moves_no_client_of_its_peer() {
    let lab = Lab::new("aalocal");
    let switch = lab.switch("sw").expect("switch");
    let mut targets = Vec::new();
    for k in 1..=2u8 {
        let ns = lab.netns(&format!("t{k}")).expect("target namespace");
        lab.link(&ns, "eth0", &switch).expect("target switch port");
        ns.addr("eth0", &format!("{}/24", target_addr(k)))
            .expect("target address");
        let bind9 = start_target(&ns, k);
        targets.push((ns, bind9));
    }
    let root = tempfile::tempdir().expect("temporary directory");
    let a = Node::start(&lab, &switch, root.path(), "nodea", NODE_A, NODE_B);
    let b = Node::start(&lab, &switch, root.path(), "nodeb", NODE_B, NODE_A);
    let client = lab.netns("client").expect("client namespace");
    lab.link(&client, "eth0", &switch)
        .expect("client switch port");
    client
        .addr("eth0", "10.1.0.100/24")
        .expect("client address");
    let sources: Vec<Ipv4Addr> = (1..=CLIENTS)
        .map(|i| Ipv4Addr::new(10, 1, 0, 100 + i))
        .collect();
    let extra: Vec<String> = sources
        .iter()
        .map(|s| format!("addr add {s}/24 dev eth0"))
        .collect();
    client.ip_batch(&extra).expect("client addresses");
    // Only B carries the clients: every session is B's, A holds them by sync.
    client
        .ip(&["route", "add", &format!("{VIP}/32"), "via", NODE_B])
        .expect("the client's route to the VIP via B");
    let report = || format!("{}{}", a.report(), b.report());

    wait_for(
        "both nodes announce the VIP",
        Duration::from_secs(30),
        report,
        || {
            [&a, &b]
                .iter()
                .all(|n| n.announce().servers.iter().all(|s| s.state == "announced"))
        },
    );

    // Phase 1: A alone holds t1 down, then sees it again.
    let spec = LoadSpec {
        pace: PACE,
        queries: 100,
        duration: Duration::from_secs(40),
    };
    let load = Load::start(&client, &sources, VIP, spec);
    assert!(
        load.wait_until(Duration::from_secs(15), |logs| logs
            .iter()
            .all(|l| l.answers.len() >= 2)),
        "every client answered twice\n{}",
        report()
    );
    let placed = target_by_client(&load.snapshot());
    assert_eq!(placed.len(), usize::from(CLIENTS), "{placed:?}");
    let on_t1 = placed.values().filter(|t| **t == 1).count();
    println!("clients on t1: {on_t1}, on t2: {}", placed.len() - on_t1);
    assert!(
        on_t1 > 0 && on_t1 < placed.len(),
        "both targets have clients (the hash spreads them): {placed:?}"
    );
    wait_for(
        "A and B hold every client's session, on its target",
        Duration::from_secs(10),
        report,
        || a.sessions() == placed && b.sessions() == placed,
    );
    let created = b.sessions_created();

    a.blind_to(&[1]);
    wait_for("A holds t1 down", Duration::from_secs(15), report, || {
        !a.target_up(1)
    });
    assert!(
        b.target_up(1) && b.target_up(2),
        "B still reaches both targets\n{}",
        report()
    );
    assert_b_keeps_every_client("A holds t1 down", &load, &b, &placed, created, report);
    assert!(
        a.log().contains("sessions moved off target 1"),
        "A moved its own sessions off t1\n{}",
        report()
    );
    let a_on_t1: Vec<Ipv4Addr> = a
        .sessions()
        .iter()
        .filter(|(_, t)| **t == 1)
        .map(|(c, _)| *c)
        .collect();
    assert!(
        a_on_t1.is_empty(),
        "A's own view: no session on t1, it is down here: {a_on_t1:?}"
    );

    a.see_again();
    wait_for(
        "A holds t1 up again",
        Duration::from_secs(15),
        report,
        || a.target_up(1),
    );
    assert_b_keeps_every_client("t1 back on A", &load, &b, &placed, created, report);
    wait_for(
        "A's sessions agree with B's again (B's refreshes)",
        Duration::from_secs(10),
        report,
        || a.sessions() == placed,
    );
    load.finish();

    // Phase 2: A loses both targets and withdraws; B keeps every session.
    let load = Load::start(&client, &sources, VIP, spec);
    assert!(
        load.wait_until(Duration::from_secs(15), |logs| logs
            .iter()
            .all(|l| l.answers.len() >= 2)),
        "every client answered twice (second load)\n{}",
        report()
    );
    let created = b.sessions_created();
    a.blind_to(&[1, 2]);
    wait_for(
        "A withdraws: no target up",
        Duration::from_secs(15),
        report,
        || {
            a.announce()
                .servers
                .iter()
                .all(|s| s.state == "withdrawn" && s.reason.as_deref() == Some("no target up"))
        },
    );
    assert_b_keeps_every_client("A withdrew", &load, &b, &placed, created, report);
    load.finish();
    a.see_again();
    drop(targets);
    drop(lab);
}
