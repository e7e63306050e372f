//! One active-active node ([`Node`]): its namespace (built for the lab's [`Mode`]), its BIRD
//! with the shipped `node.conf` and its `fulcrum run`, both restartable; how it crashes (network
//! silenced, then SIGKILL), stops cleanly or loses its targets; and what the test reads of it
//! (`show` documents, logs, its kernel's refusals).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use fulcrum_control::show::{AnnounceDoc, SyncDoc};
use netlab::{Lab, Ns, Proc, Switch};

use super::lab::{birdc, node_config, start_bird, Mode, NODE_AS, ROUTER_AS, VIP};

/// One node: its namespace, BIRD and `fulcrum run` (both restartable).
pub struct Node {
    pub n: u8,
    pub mode: Mode,
    /// The switch's port that `eth1` plugs into.
    pub switch_port: String,
    pub ns: Ns,
    pub dir: PathBuf,
    pub fulcrum: Option<Proc>,
    pub bird: Option<Proc>,
    /// How many times fulcrum started (each start logs to its own file).
    starts: u32,
}

impl Node {
    /// Node `n` with 10.1.0.1n/24 on the switch (`eth1`); in proxy mode also 10.0.n.2/24 on a
    /// link of its own to the router (`up0`, its default route).
    pub fn build(lab: &Lab, router: &Ns, switch: &Switch, n: u8, mode: Mode, root: &Path) -> Node {
        let ns = lab.netns(&format!("node{n}")).expect("node namespace");
        if mode == Mode::Proxy {
            let router_if = format!("r{n}");
            lab.veth(router, &router_if, &ns, "up0").expect("veth");
            router
                .addr(&router_if, &format!("{}/24", mode.router_addr(n)))
                .expect("router address");
            ns.addr("up0", &format!("{}/24", mode.node_addr(n)))
                .expect("node address");
            ns.ip(&["route", "add", "default", "via", &mode.router_addr(n)])
                .expect("default route");
        }
        let switch_port = lab
            .link(&ns, "eth1", switch)
            .expect("switch port")
            .peer_ifname;
        ns.addr("eth1", &format!("10.1.0.1{n}/24"))
            .expect("node switch address");
        // No duplicate address detection: sync binds it at once (the lab has no duplicates).
        ns.ip(&[
            "addr",
            "add",
            &format!("fd00:1::1{n}/64"),
            "dev",
            "eth1",
            "nodad",
        ])
        .expect("node switch IPv6 address");
        if matches!(mode, Mode::Dsr(_)) {
            // Counts what the kernel receives for the VIP on eth1 (DSR: nothing, the plane
            // takes those frames); it neither drops nor changes anything.
            let watch = format!(
                "table inet vipwatch {{\n chain input {{\n  \
                 type filter hook input priority 0; policy accept;\n  \
                 iifname \"eth1\" ip daddr {VIP} counter\n }}\n}}\n"
            );
            nft(&ns, &["-f", "-"], Some(&watch));
        }
        let dir = root.join(format!("node{n}"));
        std::fs::create_dir_all(&dir).expect("node directory");
        std::fs::write(dir.join("fulcrum.conf"), node_config(n, mode))
            .expect("write the configuration");
        Node {
            n,
            mode,
            switch_port,
            ns,
            dir,
            fulcrum: None,
            bird: None,
            starts: 0,
        }
    }

    /// Starts fulcrum, then BIRD (a node coming up, its network working again after a crash).
    pub fn start(&mut self) {
        if self.starts > 0 {
            self.nft(&["delete", "table", "inet", "crash"], None);
        }
        self.starts += 1;
        self.fulcrum = Some(testkit::daemon::spawn_run_in(
            &self.ns,
            &[],
            &self.dir.join("fulcrum.conf"),
            &self.dir.join("fulcrum.sock"),
            &self.log_path(),
        ));
        if let Mode::Dsr(plane) = self.mode {
            plane.assert_running(&self.log_path());
        }
        let local = format!(
            "router id {};\ndefine NODE_AS = {NODE_AS};\ndefine ROUTER_AS = {ROUTER_AS};\n\
             define ROUTER_IP = {};\n",
            self.mode.node_addr(self.n),
            self.mode.router_addr(self.n)
        );
        self.bird = Some(start_bird(
            &self.ns,
            &self.dir.join("bird"),
            "node.conf",
            "node-local.conf",
            &local,
        ));
    }

    /// The node crashes: its network goes silent at once (nftables drops every packet in and
    /// out of its namespace, as a machine that lost power sends no TCP reset or BGP
    /// notification), then its fulcrum and BIRD get SIGKILL. Only BFD can tell the router.
    /// Returns when the network went silent.
    pub fn crash(&mut self) -> std::time::Instant {
        let silence = "table inet crash {\n\
            chain in { type filter hook input priority -300; policy drop; }\n\
            chain out { type filter hook output priority -300; policy drop; }\n}\n";
        self.nft(&["-f", "-"], Some(silence));
        let silent = std::time::Instant::now();
        for proc in [self.fulcrum.take(), self.bird.take()]
            .into_iter()
            .flatten()
        {
            proc.kill();
        }
        silent
    }

    /// A clean stop: SIGTERM to fulcrum (which withdraws as it goes), then BIRD.
    pub fn stop(&mut self) {
        if let Some(proc) = self.fulcrum.take() {
            let pid = nix::unistd::Pid::from_raw(proc.pid() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if proc
                .wait_timeout(std::time::Duration::from_secs(10))
                .is_none()
            {
                proc.kill();
            }
        }
        if let Some(proc) = self.bird.take() {
            proc.kill();
        }
    }

    /// `show stats`' DSR frame event `event` (0 while absent).
    pub fn dsr_frames(&self, event: &str) -> u64 {
        let stats: serde_json::Value =
            testkit::control::show(&self.dir.join("fulcrum.sock"), "show stats")
                .unwrap_or_else(|e| panic!("node{}: {e}", self.n));
        stats["dsr_frames"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|row| row["event"] == event)
            .and_then(|row| row["count"].as_u64())
            .unwrap_or(0)
    }

    /// Datagrams for the VIP the node's kernel received on `eth1` (DSR mode's watch counter).
    pub fn vip_taken(&self) -> u64 {
        let output = self
            .ns
            .exec(&["nft", "list", "table", "inet", "vipwatch"])
            .expect("nft list table inet vipwatch");
        let text = String::from_utf8_lossy(&output.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == "packets")
            .and_then(|w| w[1].parse().ok())
            .unwrap_or_else(|| panic!("no counter in the vipwatch table:\n{text}"))
    }

    /// The node kernel's refusals of datagrams it took for itself: `Udp NoPorts` and ICMP
    /// `OutDestUnreachs` from its namespace's `/proc/net/snmp`.
    pub fn kernel_refusals(&self) -> (u64, u64) {
        let output = self
            .ns
            .exec(&["cat", "/proc/net/snmp"])
            .expect("read /proc/net/snmp");
        let text = String::from_utf8_lossy(&output.stdout);
        (
            snmp_field(&text, "Udp", "NoPorts"),
            snmp_field(&text, "Icmp", "OutDestUnreachs"),
        )
    }

    fn nft(&self, args: &[&str], stdin: Option<&str>) {
        nft(&self.ns, args, stdin);
    }

    /// This start's fulcrum log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("fulcrum-{}.log", self.starts))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Every start's fulcrum log, oldest first, each line prefixed with its start's number.
    pub fn all_logs(&self) -> String {
        (1..=self.starts)
            .flat_map(|start| {
                let path = self.dir.join(format!("fulcrum-{start}.log"));
                let text = std::fs::read_to_string(path).unwrap_or_default();
                text.lines()
                    .map(|l| format!("[{start}] {l}\n"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn control(&self, line: &str) -> String {
        testkit::control::control_text(&self.dir.join("fulcrum.sock"), line)
    }

    /// `show sync`'s JSON document (docs/control.md).
    pub fn sync(&self) -> SyncDoc {
        testkit::control::show(&self.dir.join("fulcrum.sock"), "show sync")
            .unwrap_or_else(|e| panic!("node{}: {e}", self.n))
    }

    /// `show announce`'s JSON document (docs/control.md).
    pub fn announce(&self) -> AnnounceDoc {
        testkit::control::show(&self.dir.join("fulcrum.sock"), "show announce")
            .unwrap_or_else(|e| panic!("node{}: {e}", self.n))
    }

    pub fn report(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "== node{}: show announce\n{}\n== show sync\n{}\n== fulcrum log\n{}\n== bird log\n{}\n{}\n",
            self.n,
            self.control("show announce"),
            self.control("show sync"),
            self.log(),
            read(self.dir.join("bird/bird.log")),
            birdc(&self.ns, &self.dir.join("bird"), &["show", "protocols", "all", "uplink"]),
        )
    }
}

/// `nft ARGS` in `ns`, with `stdin` as its input (a ruleset); panics when it fails.
pub fn nft(ns: &Ns, args: &[&str], stdin: Option<&str>) {
    let mut child = ns
        .command("nft")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run nft");
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes()).expect("nft input");
    }
    drop(child.stdin.take());
    let status = child.wait().expect("nft status");
    assert!(status.success(), "nft {args:?} failed");
}

/// A counter of `/proc/net/snmp`: the line `PROTO: names...` followed by `PROTO: values...`.
fn snmp_field(text: &str, proto: &str, name: &str) -> u64 {
    let prefix = format!("{proto}:");
    let lines: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (Some(names), Some(values)) = (lines.first(), lines.get(1)) else {
        panic!("no {proto} lines in /proc/net/snmp:\n{text}");
    };
    names
        .iter()
        .position(|n| *n == name)
        .and_then(|i| values.get(i))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {proto} {name} in /proc/net/snmp:\n{text}"))
}
