//! The running active-active lab as one value ([`World`]): the router and client, the targets,
//! the three nodes (built by `lab.rs`), with the waits and the failure report the test and the
//! benchmark share.

use std::path::{Path, PathBuf};

use netlab::bind9::Bind9;
use netlab::{Lab, Ns, Proc};

use super::lab::{
    birdc, build_router_and_client, next_hops, node_addr, start_target, target_addr, with_bfd,
    Node, NODES, TARGETS,
};

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
    pub router: Ns,
    pub client: Ns,
    pub router_dir: PathBuf,
    pub targets: Vec<(Ns, Bind9)>,
    pub nodes: Vec<Node>,
    _router_bird: Proc,
}

impl World {
    /// Builds the lab in `lab` (files under `root`) and starts every process.
    pub fn start(lab: &Lab, root: &Path) -> World {
        let (router, client, router_bird) = build_router_and_client(lab, root);
        let switch = lab.switch("tsw").expect("targets' switch");
        let mut targets = Vec::new();
        for k in 1..=TARGETS {
            let ns = lab.netns(&format!("t{k}")).expect("target namespace");
            lab.link(&ns, "eth0", &switch).expect("target port");
            ns.addr("eth0", &format!("{}/24", target_addr(k)))
                .expect("target address");
            let bind9 = start_target(&ns, k);
            targets.push((ns, bind9));
        }
        let mut nodes: Vec<Node> = (1..=NODES)
            .map(|n| Node::build(lab, &router, &switch, n, root))
            .collect();
        for node in &mut nodes {
            node.start();
        }
        World {
            router,
            client,
            router_dir: root.join("router"),
            targets,
            nodes,
            _router_bird: router_bird,
        }
    }

    /// Every node in the router's route and, with BFD, every BFD session up (within `limit`).
    pub fn all_up(&self, limit: std::time::Duration) -> bool {
        let all: Vec<String> = (1..=NODES).map(node_addr).collect();
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
