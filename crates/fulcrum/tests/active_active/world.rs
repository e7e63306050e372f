//! The running active-active lab as one value ([`World`]): the router and client, the targets,
//! the three nodes (built by `lab.rs` and `node.rs` for the lab's [`Mode`]), with the router's
//! view (next hops, the node of each flow), the waits and the failure report the test and the
//! benchmark share.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use netlab::bind9::Bind9;
use netlab::{Lab, Ns, Proc, Switch};

use super::lab::{
    birdc, build_router_and_client, next_hops, nodes_of, start_target, target_addr, with_bfd, Mode,
    NODES, TARGETS, VIP,
};
use super::node::{nft, Node};

/// How many of the router's BFD sessions are up (the nodes' BGP sessions ask for them once
/// established; until then only the BGP hold time would notice a dead node).
pub fn bfd_sessions_up(router: &Ns, router_dir: &Path) -> usize {
    birdc(router, router_dir, &["show", "bfd", "sessions"])
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("Up"))
        .count()
}

/// The whole lab, running: router and client, the targets, the three nodes.
pub struct World {
    pub mode: Mode,
    pub router: Ns,
    pub client: Ns,
    pub router_dir: PathBuf,
    pub targets: Vec<(Ns, Bind9)>,
    pub nodes: Vec<Node>,
    /// The switch of the nodes' `eth1` and the targets (and in DSR mode the router), with the
    /// targets' ports on it.
    switch: Switch,
    target_ports: Vec<String>,
    _router_bird: Proc,
}

impl World {
    /// Builds the lab in `lab` (files under `root`) for `mode` and starts every process.
    pub fn start(lab: &Lab, root: &Path, mode: Mode) -> World {
        let switch = lab.switch("sw").expect("the nodes' switch");
        let (router, client, router_bird) = build_router_and_client(lab, root, mode, &switch);
        let mut targets = Vec::new();
        let mut target_ports = Vec::new();
        for k in 1..=TARGETS {
            let ns = lab.netns(&format!("t{k}")).expect("target namespace");
            let port = lab.link(&ns, "eth0", &switch).expect("target port");
            target_ports.push(port.peer_ifname);
            ns.addr("eth0", &format!("{}/24", target_addr(k)))
                .expect("target address");
            if matches!(mode, Mode::Dsr(_)) {
                // As the seed's DNS hosts: the VIP on `lo`, ARP for it left to the balancer,
                // answers to the clients through the router.
                ns.lo_alias(&format!("{VIP}/32")).expect("VIP on lo");
                for scope in ["all", "eth0"] {
                    ns.sysctl(&format!("net.ipv4.conf.{scope}.arp_ignore"), "1")
                        .expect("arp_ignore");
                    ns.sysctl(&format!("net.ipv4.conf.{scope}.arp_announce"), "2")
                        .expect("arp_announce");
                }
                ns.ip(&["route", "add", "default", "via", &mode.router_addr(1)])
                    .expect("target default route");
            }
            let bind9 = start_target(&ns, k, mode);
            targets.push((ns, bind9));
        }
        let mut nodes: Vec<Node> = (1..=NODES)
            .map(|n| Node::build(lab, &router, &switch, n, mode, root))
            .collect();
        for node in &mut nodes {
            node.start();
        }
        World {
            mode,
            router,
            client,
            router_dir: root.join("router"),
            targets,
            nodes,
            switch,
            target_ports,
            _router_bird: router_bird,
        }
    }

    /// The router's next hops to the VIP (sorted; empty: no route).
    pub fn next_hops(&self) -> Vec<String> {
        next_hops(&self.router)
    }

    /// The next hops of `nodes` (sorted), as [`World::next_hops`] shows them.
    pub fn hops(&self, nodes: &[u8]) -> Vec<String> {
        let mut hops: Vec<String> = nodes.iter().map(|n| self.mode.node_addr(*n)).collect();
        hops.sort();
        hops
    }

    /// The node the router's kernel sends each flow to now (see `lab::nodes_of`).
    pub fn nodes_of(&self, flows: &[(Ipv4Addr, u16)]) -> BTreeMap<(Ipv4Addr, u16), u8> {
        nodes_of(&self.router, self.mode, flows)
    }

    /// Restarts target `k`'s Bind9 (stopped by the test).
    pub fn restart_target(&mut self, k: u8) {
        let slot = &mut self.targets[usize::from(k - 1)];
        slot.1 = start_target(&slot.0, k, self.mode);
    }

    /// Node `n` loses its side of the switch, the targets and its sync peers, while its path to
    /// the router stays: in proxy mode its `eth1` goes down (the router is on `up0`); in DSR
    /// mode, where `eth1` is also the router's link (BGP, BFD), the switch stops forwarding
    /// between node `n`'s port and the targets' and peers' ports, both ways, whatever sends the
    /// frames (its kernel's health checks, its DSR plane's rewritten queries, sync).
    pub fn cut_from_targets_and_peers(&self, n: u8) {
        let node = &self.nodes[usize::from(n - 1)];
        match self.mode {
            Mode::Proxy => {
                node.ns
                    .ip(&["link", "set", "eth1", "down"])
                    .expect("cut the node from its targets");
            }
            Mode::Dsr(_) => {
                let others: Vec<String> = (self.target_ports.iter())
                    .chain(
                        self.nodes
                            .iter()
                            .filter(|m| m.n != n)
                            .map(|m| &m.switch_port),
                    )
                    .map(|port| format!("\"{port}\""))
                    .collect();
                let (own, others) = (format!("\"{}\"", node.switch_port), others.join(", "));
                let cut = format!(
                    "table bridge cut {{\n chain forward {{\n  \
                     type filter hook forward priority 0; policy accept;\n  \
                     iifname {own} oifname {{ {others} }} drop\n  \
                     iifname {{ {others} }} oifname {own} drop\n }}\n}}\n"
                );
                nft(self.switch.ns(), &["-f", "-"], Some(&cut));
            }
        }
    }

    /// Every node in the router's route and, with BFD, every BFD session up (within `limit`).
    pub fn all_up(&self, limit: std::time::Duration) -> bool {
        let all = self.hops(&[1, 2, 3]);
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            let bfd = !with_bfd()
                || bfd_sessions_up(&self.router, &self.router_dir) == usize::from(NODES);
            if bfd && next_hops(&self.router) == all {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// The router's route, BIRD log and protocols, then each node's report.
    pub fn report(&self) -> String {
        let mut text = format!(
            "== router: ip route\n{}\n== router bird log\n{}\n{}",
            self.router.ip(&["route"]).unwrap_or_default(),
            std::fs::read_to_string(self.router_dir.join("bird.log")).unwrap_or_default(),
            birdc(
                &self.router,
                &self.router_dir,
                &["show", "protocols", "all"]
            ) + &birdc(&self.router, &self.router_dir, &["show", "bfd", "sessions"]),
        );
        for node in &self.nodes {
            text.push_str(&node.report());
        }
        text
    }
}
