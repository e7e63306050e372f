//! The `--nodes 3` demo's network, built with `netlab` (nothing linked or routed to the host): a
//! router running BIRD with the shipped `packaging/bird/router.conf` (ECMP, L4 hashing), a
//! client namespace behind it with the demo clients' addresses (10.99.1.1 and up), three nodes
//! each running BIRD with the shipped `packaging/bird/node.conf` and `fulcrum run` in proxy mode
//! (`announce`, every other node a `syncpeer`), and three Bind9 targets on a switch with the
//! nodes, each answering `balanceng.net TXT` with its name. The same topology as the
//! active-active lab test (`crates/fulcrum/tests/active_active/lab.rs`). Dropping the
//! [`Trio`] kills what runs in it and deletes its namespaces.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::{Lab, Ns, Proc};

pub const BIRD: &str = "/usr/sbin/bird";
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 53);
pub const ZONE: &str = "balanceng.net";
pub const NODES: u8 = 3;
const ROUTER_CONF: &str = include_str!("../../../../../packaging/bird/router.conf");
const NODE_CONF: &str = include_str!("../../../../../packaging/bird/node.conf");

/// Node `n`'s address towards the router (its BGP next hop).
pub fn node_addr(n: u8) -> String {
    format!("10.0.{n}.2")
}

fn target_addr(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 20 + k)
}

/// BIRD in `ns` with the shipped `text` as `conf` in `dir`, beside the `local` file it includes.
fn start_bird(
    ns: &Ns,
    dir: &Path,
    conf: (&str, &str),
    local: (&str, &str),
) -> anyhow::Result<Proc> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(conf.0), conf.1)?;
    std::fs::write(dir.join(local.0), local.1)?;
    let mut command = ns.command(BIRD);
    command
        .current_dir(dir)
        .arg("-f")
        .arg("-c")
        .arg(dir.join(conf.0))
        .arg("-s")
        .arg(dir.join("bird.ctl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("bird.log"))?);
    Ok(ns.spawn(command)?)
}

/// Node `n`'s configuration (as in the lab test, all sync over IPv4).
fn node_config(n: u8) -> String {
    let peers: Vec<String> = (1..=NODES)
        .filter(|m| *m != n)
        .map(|m| format!("10.1.0.1{m}"))
        .collect();
    let mut text = format!(
        "hostname NODE{n}\nnetwork 1 {{\naddr 10.1.0.0\nmask 255.255.255.0\nreal 10.1.0.1{n}\n\
         syncpeer {}\n}}\nregister network 1\nenable network 1\n\
         server 1 {{\nipaddr {VIP}\nport 53\nmethod session\ntargets 1-3\n}}\n\
         register server 1\nenable server 1\n",
        peers.join(",")
    );
    for k in 1..=3 {
        text.push_str(&format!(
            "target {k} {{\nipaddr {}\nport 53\ndns {ZONE},1,2\n}}\n",
            target_addr(k)
        ));
    }
    text.push_str(
        "register targets 1-3\nenable targets 1-3\nannounce {\ninterface fulcrum-vip\n}\n",
    );
    text
}

/// One node: namespace, files, and its fulcrum and BIRD while they run.
pub struct TrioNode {
    pub n: u8,
    pub ns: Ns,
    pub dir: PathBuf,
    fulcrum: Option<Proc>,
    bird: Option<Proc>,
    crashed: bool,
}

impl TrioNode {
    /// Starts fulcrum, then BIRD (after a crash, the network first works again).
    pub fn start(&mut self, exe: &Path) -> anyhow::Result<u32> {
        if self.crashed {
            self.nft(&["delete", "table", "inet", "crash"], None)?;
            self.crashed = false;
        }
        let mut command = self.ns.command(&exe.to_string_lossy());
        command
            .args(["run", "--log-level", "info", "-c"])
            .arg(self.dir.join("fulcrum.conf"))
            .arg("--socket")
            .arg(self.dir.join("fulcrum.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("fulcrum.log"))?);
        let fulcrum = self.ns.spawn(command)?;
        let pid = fulcrum.pid();
        self.fulcrum = Some(fulcrum);
        let n = self.n;
        let local = format!(
            "router id {};\ndefine NODE_AS = 65001;\ndefine ROUTER_AS = 65000;\n\
             define ROUTER_IP = 10.0.{n}.1;\n",
            node_addr(n)
        );
        self.bird = Some(start_bird(
            &self.ns,
            &self.dir.join("bird"),
            ("node.conf", NODE_CONF),
            ("node-local.conf", &local),
        )?);
        Ok(pid)
    }

    /// The node crashes: nftables silences its namespace (no TCP reset, no BGP notification
    /// leaves), then its fulcrum and BIRD get SIGKILL; only BFD tells the router.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        let silence = "table inet crash {\n\
            chain in { type filter hook input priority -300; policy drop; }\n\
            chain out { type filter hook output priority -300; policy drop; }\n}\n";
        self.nft(&["-f", "-"], Some(silence))?;
        self.crashed = true;
        for proc in [self.fulcrum.take(), self.bird.take()]
            .into_iter()
            .flatten()
        {
            proc.kill();
        }
        Ok(())
    }

    pub fn running(&self) -> bool {
        self.fulcrum.is_some()
    }

    /// A clean stop of fulcrum (it withdraws), then BIRD.
    pub fn stop(&mut self) {
        if let Some(proc) = self.fulcrum.take() {
            if let Ok(raw) = i32::try_from(proc.pid()) {
                let pid = nix::unistd::Pid::from_raw(raw);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
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

    fn nft(&self, args: &[&str], input: Option<&str>) -> anyhow::Result<()> {
        let mut child = self
            .ns
            .command("nft")
            .args(args)
            .stdin(Stdio::piped())
            .spawn()?;
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), input) {
            pipe.write_all(text.as_bytes())?;
        }
        drop(child.stdin.take());
        anyhow::ensure!(child.wait()?.success(), "nft {args:?} failed");
        Ok(())
    }
}

/// The running lab.
pub struct Trio {
    pub router: Ns,
    pub router_dir: PathBuf,
    pub client: Ns,
    pub nodes: Vec<TrioNode>,
    _targets: Vec<Bind9>,
    _router_bird: Proc,
    // Last: dropped after everything that refers to it.
    lab: Lab,
}

impl Trio {
    /// Builds the network and starts BIRD on the router and the targets (not the nodes).
    pub fn build(tag: &str, workdir: &Path, clients: u8) -> anyhow::Result<Trio> {
        anyhow::ensure!(
            Path::new(BIRD).exists(),
            "{BIRD} is missing: apt-get install bird2 (scripts/install-deps.sh)"
        );
        let lab = Lab::new(tag);
        let router = lab.netns("router")?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        router.sysctl("net.ipv4.fib_multipath_hash_policy", "1")?;
        let client = lab.netns("client")?;
        lab.veth(&router, "rc", &client, "eth0")?;
        router.addr("rc", "10.99.0.254/16")?;
        client.addr("eth0", "10.99.0.1/16")?;
        client.ip(&["route", "add", "default", "via", "10.99.0.254"])?;
        let extra: Vec<String> = (1..=clients)
            .map(|i| format!("addr add 10.99.1.{i}/16 dev eth0"))
            .collect();
        client.ip_batch(&extra)?;
        let router_dir = workdir.join("router");
        let router_bird = start_bird(
            &router,
            &router_dir,
            ("router.conf", ROUTER_CONF),
            (
                "router-local.conf",
                "router id 10.99.0.254;\ndefine ROUTER_AS = 65000;\ndefine NODE_AS = 65001;\n\
                 define NODES = 10.0.0.0/16;\n",
            ),
        )
        .context("start the router's BIRD")?;
        let switch = lab.switch("tsw")?;
        let mut targets = Vec::new();
        for k in 1..=3u8 {
            let ns = lab.netns(&format!("t{k}"))?;
            lab.link(&ns, "eth0", &switch)?;
            ns.addr("eth0", &format!("{}/24", target_addr(k)))?;
            let record = format!("@ IN TXT \"target{k}\"");
            targets.push(Bind9::start(Bind9Options {
                listen: vec![IpAddr::V4(target_addr(k))],
                port: 53,
                zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
                netns: Some(ns.name().to_string()),
                extra_options: String::new(),
            })?);
        }
        let mut nodes = Vec::new();
        for n in 1..=NODES {
            let ns = lab.netns(&format!("node{n}"))?;
            let router_if = format!("r{n}");
            lab.veth(&router, &router_if, &ns, "up0")?;
            router.addr(&router_if, &format!("10.0.{n}.1/24"))?;
            ns.addr("up0", &format!("{}/24", node_addr(n)))?;
            ns.ip(&["route", "add", "default", "via", &format!("10.0.{n}.1")])?;
            lab.link(&ns, "eth1", &switch)?;
            ns.addr("eth1", &format!("10.1.0.1{n}/24"))?;
            let dir = workdir.join(format!("node{n}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("fulcrum.conf"), node_config(n))?;
            nodes.push(TrioNode {
                n,
                ns,
                dir,
                fulcrum: None,
                bird: None,
                crashed: false,
            });
        }
        Ok(Trio {
            router,
            router_dir,
            client,
            nodes,
            _targets: targets,
            _router_bird: router_bird,
            lab,
        })
    }

    /// The namespaces' common prefix (every name of the lab starts with it).
    pub fn prefix(&self) -> String {
        self.lab.prefix().to_string()
    }

    /// Full names of the lab's namespaces.
    pub fn namespaces(&self) -> Vec<String> {
        self.lab.namespaces()
    }
}
