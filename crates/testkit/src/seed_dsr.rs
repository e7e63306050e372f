//! The seed-lab DSR tests' support: `fulcrum run` in `ns0a` with (a variant of) the seed's NS0A
//! configuration, the seed's agents (`fulcrum agent -c agentcheck.sh 439` on both nodes, the
//! script asking `fulcrum dns-check` about the VIP as the seed's asks dns.monitor), `dig` from
//! the client namespace and the real `fulcrum control`. Every process runs inside a namespace
//! of the test's lab and is killed by PID when the lab drops, also on panic.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use netlab::seed::{SeedLab, VIP};
use netlab::{Ns, Proc};

use crate::process::read;

pub use crate::show::target_counts;

/// dig, Bind9, tcpdump and nftables installed, and root.
pub fn require_tools() {
    crate::process::require_tools(
        &[
            "/usr/bin/dig",
            "/usr/sbin/named",
            "/usr/bin/tcpdump",
            "/usr/sbin/nft",
        ],
        "install dnsutils, bind9, tcpdump and nftables to run this test",
    );
    crate::process::require_root();
}

/// The seed's NS0A configuration as the fixture has it.
pub fn seed_config() -> String {
    std::fs::read_to_string(crate::fixture("ns0a.conf")).expect("read tests/fixtures/ns0a.conf")
}

/// The seed's configuration with every check at INTERVAL 1, TIMEOUT 2 (down within 3 s).
pub fn seed_config_fast() -> String {
    seed_config()
        .replace("ping 5,12", "ping 1,2")
        .replace("agent 439,5,13", "agent 439,1,2")
        .replace("tcpopen 53,5,12", "tcpopen 53,1,2")
}

/// `dig` from `source` to the VIP for the zone's TXT: which node answered (`None`: no answer).
pub fn ask(seed: &SeedLab, source: Ipv4Addr, tcp: bool) -> Option<String> {
    ask_with(seed, source, tcp, 2, 2)
}

/// [`ask`] over UDP with a single try of one second.
pub fn ask_once(seed: &SeedLab, source: Ipv4Addr) -> Option<String> {
    ask_with(seed, source, false, 1, 1)
}

fn ask_with(seed: &SeedLab, source: Ipv4Addr, tcp: bool, time: u32, tries: u32) -> Option<String> {
    dig_vip(seed, Some(source), tcp, time, tries)
}

/// `dig` in the seed lab's client namespace (from `source`, or its primary address) to the VIP
/// for `balanceng.net TXT`, `+time=TIME +tries=TRIES`: which node answered (`None`: no answer).
pub fn dig_vip(
    seed: &SeedLab,
    source: Option<Ipv4Addr>,
    tcp: bool,
    time: u32,
    tries: u32,
) -> Option<String> {
    let server = format!("@{VIP}");
    let time = format!("+time={time}");
    let tries = format!("+tries={tries}");
    let source = source.map(|s| s.to_string());
    let mut argv = vec!["dig"];
    if let Some(source) = &source {
        argv.extend(["-b", source.as_str()]);
    }
    argv.extend([
        server.as_str(),
        "balanceng.net",
        "TXT",
        "+short",
        tries.as_str(),
        time.as_str(),
    ]);
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

/// The seed's agent on both nodes: `fulcrum agent -c agentcheck.sh 439`, the script running
/// `fulcrum dns-check` (in place of dns.monitor) against the VIP on the node's own `lo`.
pub fn start_seed_agents(seed: &SeedLab, dir: &Path) -> Vec<Proc> {
    start_agents_asking(seed, dir, VIP)
}

/// [`start_seed_agents`] with the script asking the node's Bind9 at `address` instead.
pub fn start_agents_asking(seed: &SeedLab, dir: &Path, address: Ipv4Addr) -> Vec<Proc> {
    let fulcrum = crate::fulcrum();
    let text = format!(
        "#!/bin/sh\n\
         {fulcrum} dns-check -retry 1 -timeout 1 -zone balanceng.net -master {address} {address}\n\
         if [ \"$?\" = \"0\" ]\nthen\necho 1\nelse\necho 0\nfi\n"
    );
    let script = crate::process::write_executable(&dir.join("agentcheck.sh"), &text);
    seed.nodes()
        .into_iter()
        .map(|node| {
            let mut command = node.command(fulcrum);
            command
                .arg("agent")
                .arg("-c")
                .arg(&script)
                .arg("439")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            node.spawn(command).expect("start fulcrum agent")
        })
        .collect()
}

/// `fulcrum run` in a node with a configuration text; its log and control socket.
pub struct Balancer {
    pub proc: Proc,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Balancer {
    pub fn start(node: &Ns, config: &str) -> Balancer {
        Balancer::start_under(node, config, &[])
    }

    /// [`Balancer::start`] with `fulcrum` run by `wrapper` (e.g. `setpriv` with fewer
    /// capabilities): `wrapper... fulcrum run ...`.
    pub fn start_under(node: &Ns, config: &str, wrapper: &[&str]) -> Balancer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("ns0a.conf");
        std::fs::write(&config_path, config).expect("write the configuration");
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let proc = crate::daemon::spawn_run_in(node, wrapper, &config_path, &socket, &log);
        Balancer {
            proc,
            socket,
            log,
            config: config_path,
            _dir: dir,
        }
    }

    pub fn logs(&self) -> String {
        read(&self.log)
    }

    /// One command's stdout through the real `fulcrum control` (empty if it cannot connect).
    pub fn control(&self, command: &str) -> String {
        crate::control::control_text(&self.socket, command)
    }

    /// Waits until a client gets an answer through the VIP (ARP for the VIP and the peer's
    /// MAC resolved).
    pub fn wait_ready(&self, seed: &SeedLab) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ask(seed, Ipv4Addr::new(10, 99, 0, 1), false).is_none() {
            assert!(
                self.proc.try_wait().is_none(),
                "fulcrum run exited:\n{}",
                self.logs()
            );
            assert!(
                Instant::now() < deadline,
                "no answer through the VIP within 30 s:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One command's JSON document, typed; panics with the log if it cannot be read.
    pub fn show<T: serde::de::DeserializeOwned>(&self, line: &str) -> T {
        crate::control::show(&self.socket, line).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Whether target `id` is operational in `show targets`.
    pub fn operational(&self, id: u32) -> bool {
        let targets: crate::show::TargetsDoc = self.show("show targets");
        crate::show::operational_in(&targets, id).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Polls until target `id` is `up` (or down); returns how long that took.
    pub fn wait_for(&self, id: u32, up: bool, within: Duration) -> Duration {
        crate::show::wait_operational(
            id,
            up,
            within,
            || self.operational(id),
            || format!("{}\n{}", self.control("show targets"), self.logs()),
        )
    }

    /// Waits until the log contains `text`; returns the line.
    pub fn wait_for_log(&self, text: &str, limit: Duration) -> String {
        let log = crate::process::wait_for_log(&self.log, text, limit);
        log.lines()
            .find(|l| l.contains(text))
            .unwrap_or_default()
            .to_string()
    }
}

/// Starts a node's Bind9 as [`SeedLab::start_bind9`] does (after a test stopped it).
pub fn start_node_bind9(node: &Ns, addr: Ipv4Addr) -> netlab::bind9::Bind9 {
    use netlab::bind9::{Bind9, Bind9Options, Zone};
    use netlab::seed::{SEED_SERIAL, SEED_ZONE};
    let txt = format!("@ IN TXT \"{}\"", node.short_name());
    Bind9::start(Bind9Options {
        listen: vec![VIP.into(), addr.into(), Ipv4Addr::LOCALHOST.into()],
        port: 53,
        zones: vec![Zone::primary(SEED_ZONE, SEED_SERIAL, &[&txt])],
        netns: Some(node.name().to_string()),
        extra_options: String::new(),
    })
    .unwrap_or_else(|e| panic!("restarting Bind9 in {}: {e}", node.name()))
}

/// Which node answers each of `clients` now (panics with the log when one gets no answer).
pub fn nodes_of(seed: &SeedLab, balancer: &Balancer, clients: &[Ipv4Addr]) -> Vec<String> {
    clients
        .iter()
        .map(|&client| {
            ask(seed, client, false)
                .unwrap_or_else(|| panic!("no answer for {client}:\n{}", balancer.logs()))
        })
        .collect()
}
