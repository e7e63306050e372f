//! The active-active lab: a router namespace running BIRD with the shipped
//! `packaging/bird/router.conf` (verbatim, beside its local definitions), L4 multipath hashing
//! on; a client namespace behind it holding [`CLIENTS`] source addresses; three node namespaces,
//! each running BIRD with the shipped `packaging/bird/node.conf` and the real `fulcrum run`
//! (`method session`, three targets, `announce`, every other node a `syncpeer`; the node itself
//! is `node.rs`); three target namespaces, each a real Bind9 whose TXT answer names it. Two
//! [`Mode`]s:
//!
//! - proxy: each node reaches the router over a link of its own and the targets over a switch;
//!   the targets answer the node, which answers the client.
//! ```text
//!   client 10.99.0.1/16 + 10.99.1.1.. ── rc | router | r1 r2 r3 ── up0 10.0.n.2 (node n)
//!                                                           node n eth1 10.1.0.1n ── switch
//!                                                     switch ── eth0 10.1.0.2k (target k)
//! ```
//! - DSR (either plane): one switch holds the router, the nodes' `eth1` (their BGP next hop and
//!   `real`) and the targets, which hold the VIP on `lo` (the seed's ARP settings) and answer the
//!   clients straight through the router.
//! ```text
//!   client 10.99.0.1/16 + 10.99.1.1.. ── rc | router eth1 10.1.0.1 ── switch
//!                       switch ── eth1 10.1.0.1n (node n) ── eth0 10.1.0.2k, lo VIP (target k)
//! ```
//!
//! Everything lives in the [`Lab`]'s uniquely named namespaces; every process is killed by PID
//! and every namespace removed when the lab drops, also on panic.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};

use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::{Lab, Ns, Proc, Switch};
use testkit::plane::Plane;

pub use testkit::bird::BIRD;
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 53);
/// The zone the load asks for (testkit's load asks the seed's zone).
pub const ZONE: &str = netlab::seed::SEED_ZONE;
pub const CLIENTS: usize = 300;
pub const NODES: u8 = 3;
pub const TARGETS: u8 = 3;
pub const ROUTER_AS: u32 = 65000;
pub const NODE_AS: u32 = 65001;

/// How the nodes forward: proxy (the VIP held locally, answers through the node) or DSR on one
/// of the two planes (frames rewritten to the targets' MACs, answers straight to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Proxy,
    Dsr(Plane),
}

impl Mode {
    /// Node `n`'s address towards the router: its BGP next hop.
    pub fn node_addr(self, n: u8) -> String {
        match self {
            Mode::Proxy => format!("10.0.{n}.2"),
            Mode::Dsr(_) => format!("10.1.0.1{n}"),
        }
    }

    /// The router's address as node `n` sees it (its BGP neighbour).
    pub fn router_addr(self, n: u8) -> String {
        match self {
            Mode::Proxy => format!("10.0.{n}.1"),
            Mode::Dsr(_) => "10.1.0.1".to_string(),
        }
    }

    /// The node the router's next hop `via` is.
    pub fn node_of_hop(self, via: &str) -> Option<u8> {
        (1..=NODES).find(|n| self.node_addr(*n) == via)
    }
}

/// Whether BIRD runs BFD: always in the test (the shipped files verbatim); the benchmark also
/// measures without it (`FULCRUM_BENCH_BFD=0`: every `bfd on;` line taken out, as the shipped
/// files' comments allow).
pub fn with_bfd() -> bool {
    std::env::var("FULCRUM_BENCH_BFD").map_or(true, |v| v != "0")
}

/// BIRD in `ns`: the shipped `conf` verbatim beside `local` (the file it includes), with or
/// without BFD as [`with_bfd`] says, at real-time priority, as docs/active-active.md asks of a
/// node running BFD at 100 ms x 3 (on a saturated machine, CI's two cores with other tests
/// beside, a BIRD at normal priority may wait longer than the 300 ms detection time for a CPU,
/// and both ends then take a live peer for dead).
pub fn start_bird(ns: &Ns, dir: &Path, conf: &str, local_name: &str, local: &str) -> Proc {
    let options = testkit::bird::Options {
        bfd: with_bfd(),
        real_time: true,
    };
    testkit::bird::start(ns, dir, (conf, local_name, local), options)
}

/// Target `k`'s address on the nodes' switch.
pub fn target_addr(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 20 + k)
}

/// Target `k`: Bind9 on its own address (the health checks') and, in DSR mode, on the VIP (the
/// clients'), answering the zone's TXT with `t{k}`.
pub fn start_target(ns: &Ns, k: u8, mode: Mode) -> Bind9 {
    let record = format!("@ IN TXT \"t{k}\"");
    let mut listen = vec![IpAddr::V4(target_addr(k))];
    if matches!(mode, Mode::Dsr(_)) {
        listen.push(IpAddr::V4(VIP));
    }
    Bind9::start(Bind9Options {
        listen,
        port: 53,
        zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
        netns: Some(ns.name().to_string()),
        extra_options: String::new(),
    })
    .expect("start Bind9")
}

/// Node `n`'s sync address towards node `m`: node 1 syncs over IPv6 with both others, nodes 2
/// and 3 over IPv4 with each other.
fn sync_addr(m: u8, with: u8) -> String {
    if m == 1 || with == 1 {
        format!("fd00:1::1{m}")
    } else {
        format!("10.1.0.1{m}")
    }
}

/// Node `n`'s configuration: `method session` over the three targets, every other node a sync
/// peer (over IPv6 to and from node 1), the VIP announced through `fulcrum-vip`; in DSR mode
/// the seed's shape (`interface eth1`, `dsr enable` on every target) in the plane's access mode.
pub fn node_config(n: u8, mode: Mode) -> String {
    let peers: Vec<String> = (1..=NODES)
        .filter(|m| *m != n)
        .map(|m| sync_addr(m, n))
        .collect();
    let dsr = matches!(mode, Mode::Dsr(_));
    let mut text = format!("hostname NODE{n}\n");
    if dsr {
        text.push_str("interface eth1\n");
    }
    text.push_str(&format!(
        "network 1 {{\naddr 10.1.0.0\nmask 255.255.255.0\nreal 10.1.0.1{n}\n\
         addr6 fd00:1::\nmask6 64\nreal6 fd00:1::1{n}\n"
    ));
    if dsr {
        text.push_str("interface eth1\n");
    }
    text.push_str(&format!(
        "syncpeer {}\n}}\nregister network 1\nenable network 1\n\
         server 1 {{\nipaddr {VIP}\nport 53\nmethod session\ntargets 1-{TARGETS}\n}}\n\
         register server 1\nenable server 1\n",
        peers.join(",")
    ));
    for k in 1..=TARGETS {
        text.push_str(&format!(
            "target {k} {{\nipaddr {}\nport 53\ndns {ZONE},1,2\n{}}}\n",
            target_addr(k),
            if dsr { "dsr enable\n" } else { "" }
        ));
    }
    text.push_str(&format!(
        "register targets 1-{TARGETS}\nenable targets 1-{TARGETS}\n\
         announce {{\ninterface fulcrum-vip\n}}\n"
    ));
    match mode {
        Mode::Proxy => text,
        Mode::Dsr(plane) => plane.config(&text),
    }
}

/// The router's next hops to the VIP (empty: no route).
pub fn next_hops(router: &Ns) -> Vec<String> {
    let text = router
        .ip(&["route", "show", &format!("{VIP}/32")])
        .unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut hops: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops
}

/// The node the router's kernel sends each (client address, source port) flow to: its own
/// multipath decision, asked with `ip route get ... iif rc ipproto udp sport P dport 53` (the
/// kernel builds the packet and hashes it as it hashes forwarded ones). Node number by flow.
pub fn nodes_of(
    router: &Ns,
    mode: Mode,
    flows: &[(Ipv4Addr, u16)],
) -> BTreeMap<(Ipv4Addr, u16), u8> {
    let lines: Vec<String> = flows
        .iter()
        .map(|(addr, port)| {
            format!("route get {VIP} from {addr} iif rc ipproto udp sport {port} dport 53")
        })
        .collect();
    let mut child = Command::new("ip")
        .args(["-n", router.name(), "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ip -batch");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all((lines.join("\n") + "\n").as_bytes());
    }
    let output = child.wait_with_output().expect("ip -batch output");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let from = words
            .windows(2)
            .find(|w| w[0] == "from")
            .and_then(|w| w[1].parse::<Ipv4Addr>().ok());
        let via = words.windows(2).find(|w| w[0] == "via").map(|w| w[1]);
        let Some(from) = from else {
            continue;
        };
        let node = via.and_then(|via| mode.node_of_hop(via));
        if let (Some(flow), Some(node)) = (flows.iter().find(|f| f.0 == from), node) {
            map.insert(*flow, node);
        }
    }
    map
}

/// Every client source address: 10.99.1.1 ..= 10.99.1.250, then 10.99.2.1 and up.
pub fn client_sources() -> Vec<Ipv4Addr> {
    (0..CLIENTS)
        .map(|i| Ipv4Addr::new(10, 99, 1 + (i / 250) as u8, 1 + (i % 250) as u8))
        .collect()
}

/// The router (BIRD started, forwarding, L4 multipath hashing) and the client behind it; in
/// DSR mode the router is on `switch` with the nodes and the targets (their default route).
pub fn build_router_and_client(
    lab: &Lab,
    root: &Path,
    mode: Mode,
    switch: &Switch,
) -> (Ns, Ns, Proc) {
    let router = lab.netns("router").expect("router namespace");
    let nodes = match mode {
        Mode::Proxy => "10.0.0.0/16",
        Mode::Dsr(_) => {
            lab.link(&router, "eth1", switch)
                .expect("router switch port");
            router
                .addr("eth1", "10.1.0.1/24")
                .expect("router switch address");
            // 10.1.0.8 .. 10.1.0.15: the nodes' addresses, not the targets'.
            "10.1.0.8/29"
        }
    };
    router
        .sysctl("net.ipv4.ip_forward", "1")
        .expect("forwarding");
    router
        .sysctl("net.ipv4.fib_multipath_hash_policy", "1")
        .expect("L4 multipath hash");
    let client = lab.netns("client").expect("client namespace");
    lab.veth(&router, "rc", &client, "eth0")
        .expect("client veth");
    router.addr("rc", "10.99.0.254/16").expect("router address");
    client.addr("eth0", "10.99.0.1/16").expect("client address");
    client
        .ip(&["route", "add", "default", "via", "10.99.0.254"])
        .expect("client route");
    let extra: Vec<String> = client_sources()
        .iter()
        .map(|a| format!("addr add {a}/16 dev eth0"))
        .collect();
    client.ip_batch(&extra).expect("client addresses");
    let local = format!(
        "router id 10.99.0.254;\ndefine ROUTER_AS = {ROUTER_AS};\ndefine NODE_AS = {NODE_AS};\n\
         define NODES = {nodes};\n"
    );
    let bird = start_bird(
        &router,
        &root.join("router"),
        "router.conf",
        "router-local.conf",
        &local,
    );
    (router, client, bird)
}

pub use testkit::bird::birdc;
