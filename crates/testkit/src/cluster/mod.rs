//! The seed's two-node cluster in a netlab lab (the cluster, sync, DSR-link and upgrade tests):
//! the seed topology, the
//! seed's Bind9 pair, a real `fulcrum agent` on each node (port 439, the seed's agentcheck.sh
//! with `fulcrum dns-check` in place of mon's dns.monitor), and the real `fulcrum run` on each
//! node with the seed's NS0A/NS0B configurations (tests/fixtures, used as they are: the lab's
//! interface is `eth1` like the seed's), on the seed's hosts as the seed has them: eth1 is up
//! with no address (the `real` addresses 10.235.210.45/.46 lived in BalanceNG, not in Linux),
//! so Fulcrum sends VRRP adverts, ARP and sync datagrams from `real` on its own.
//! Every process is killed by PID when the lab drops (also on panic).

mod dual;
pub mod load;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use netlab::seed::{seed_topology, SeedBind9, SeedLab};
use netlab::{Lab, Ns, Proc};

use crate::plane::Plane;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use crate::process::{read, within};
pub use crate::show::Session;

/// The seed's VRRP group: v2, 1 s adverts, priority 200 on both nodes.
pub const ADVERT: Duration = Duration::from_secs(1);
/// RFC 3768 Skew_Time at priority 200: (256 - 200) / 256 s.
pub const SKEW: Duration = Duration::from_micros(218_750);
/// RFC 3768 Master_Down_Interval at priority 200: 3 x advert + skew.
pub const MASTER_DOWN: Duration = Duration::from_micros(3_218_750);
/// Room for a busy shared machine on top of a protocol deadline.
pub const MARGIN: Duration = Duration::from_millis(1500);

/// dig, Bind9, nftables and iproute2 installed, and root.
pub fn require_tools() {
    crate::process::require_tools(
        &[
            "/usr/bin/dig",
            "/usr/sbin/named",
            "/usr/sbin/nft",
            "/usr/sbin/ip",
        ],
        "install dnsutils, bind9, nftables and iproute2 to run this test",
    );
    crate::process::require_root();
}

/// One node's Fulcrum: its namespace, configuration, control socket and logs (one per run).
pub struct Node {
    pub name: &'static str,
    pub ns: Ns,
    conf: PathBuf,
    pub socket: PathBuf,
    dir: PathBuf,
    runs: u32,
    pub proc: Option<Proc>,
    /// Run as user nobody holding only fulcrum.service's capabilities (through setpriv).
    pub unprivileged: bool,
    /// The `fulcrum` binary the next [`Node::start`] runs (default: this build's).
    pub binary: PathBuf,
    /// Where the node sends systemd notifications (`NOTIFY_SOCKET`), if anywhere.
    pub notify_socket: Option<PathBuf>,
}

/// The capabilities fulcrum.service grants, in setpriv's spelling.
pub const UNIT_CAPS: &str = "+net_raw,+net_admin,+net_bind_service";

impl Node {
    /// This run's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("{}.{}.log", self.name, self.runs))
    }

    /// Every run's log, oldest first.
    pub fn logs(&self) -> String {
        (1..=self.runs)
            .map(|run| {
                let path = self.dir.join(format!("{}.{run}.log", self.name));
                format!("--- {} run {run} ---\n{}", self.name, read(&path))
            })
            .collect()
    }

    /// Starts `fulcrum run` with the node's configuration; returns once `show vrrp` answers.
    pub fn start(&mut self) {
        self.runs += 1;
        let _ = std::fs::remove_file(&self.socket);
        let log = std::fs::File::create(self.log()).expect("create the log file");
        let mut command = if self.unprivileged {
            // nobody creates the control socket in the lab's directory.
            let nobody = nix::unistd::Uid::from_raw(65534);
            nix::unistd::chown(&self.dir, Some(nobody), None).expect("chown the lab directory");
            let mut command = self.ns.command("setpriv");
            command
                .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
                .args(["--inh-caps", UNIT_CAPS, "--ambient-caps", UNIT_CAPS])
                .args(["--bounding-set", &format!("-all,{UNIT_CAPS}")])
                .arg("--no-new-privs")
                .arg(&self.binary);
            command
        } else {
            self.ns.command(&self.binary.display().to_string())
        };
        command
            .args(["run", "--log-level", "info", "-c"])
            .arg(&self.conf)
            .arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(path) = &self.notify_socket {
            command.env("NOTIFY_SOCKET", path);
        }
        self.proc = Some(self.ns.spawn(command).expect("start fulcrum run"));
        let ready = within(Duration::from_secs(20), || {
            self.assert_running();
            self.show_vrrp().starts_with("state ")
        });
        assert!(ready.is_some(), "{}: no vrrp:\n{}", self.name, self.logs());
    }

    fn assert_running(&self) {
        if let Some(status) = self.proc.as_ref().and_then(Proc::try_wait) {
            panic!(
                "{}: fulcrum run exited ({status}):\n{}",
                self.name,
                self.logs()
            );
        }
    }

    /// A crash: SIGKILL, reaped.
    pub fn sigkill(&mut self) {
        if let Some(proc) = self.proc.take() {
            proc.kill();
        }
    }

    /// A clean stop: SIGTERM; returns once the process has exited (at most 10 s).
    pub fn sigterm(&mut self) {
        let Some(proc) = self.proc.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(proc.pid() as i32), Signal::SIGTERM);
        assert!(
            proc.wait_timeout(Duration::from_secs(10)).is_some(),
            "{}: fulcrum run did not stop on SIGTERM:\n{}",
            self.name,
            self.logs()
        );
    }

    /// One control command through the real `fulcrum control` (empty if it cannot connect).
    pub fn control(&self, line: &str) -> String {
        crate::control::control_text(&self.socket, line)
    }

    pub fn show_vrrp(&self) -> String {
        self.control("show vrrp")
    }

    /// One command's JSON document, typed (`None` while the daemon does not answer).
    pub fn show<T: serde::de::DeserializeOwned>(&self, line: &str) -> Option<T> {
        crate::control::show(&self.socket, line).ok()
    }

    /// The IPv4 VRRP state as the seed spells it (`MASTER`), empty while it cannot be read.
    pub fn state(&self) -> String {
        self.show("show vrrp")
            .map(|doc| crate::show::vrrp_state(&doc))
            .unwrap_or_default()
    }

    /// Waits until `show vrrp` says `state`; returns how long that took.
    pub fn wait_state(&self, state: &str, limit: Duration) -> Duration {
        let took = within(limit, || self.state() == state);
        took.unwrap_or_else(|| {
            panic!(
                "{} did not reach {state} within {limit:?}; show vrrp:\n{}\n{}",
                self.name,
                self.show_vrrp(),
                self.logs()
            )
        })
    }

    /// `show sessions all` as (hash, address, server, target).
    pub fn sessions(&self) -> BTreeSet<Session> {
        self.show("show sessions all")
            .map(|doc| crate::show::sessions(&doc))
            .unwrap_or_default()
    }

    pub fn show_sync(&self) -> String {
        self.control("show sync")
    }

    /// The `queries` column of `show targets` for target `id` (DSR: frames forwarded to it).
    pub fn target_queries(&self, id: u32) -> Option<u64> {
        let targets = self.show("show targets")?;
        crate::show::target_counts(&targets, id).map(|(queries, _)| queries)
    }
}

/// The lab, the seed's Bind9 pair, the agents and the two nodes (`ns0a`, `ns0b`).
pub struct Cluster {
    pub a: Node,
    pub b: Node,
    _agents: Vec<Proc>,
    _bind9: SeedBind9,
    pub seed: SeedLab,
    _dir: tempfile::TempDir,
    /// The DSR plane both nodes' configurations ask for.
    pub plane: Plane,
    // Last: dropping the lab kills every process and removes the namespaces.
    pub lab: Lab,
}

impl Cluster {
    /// Builds the lab and starts Bind9 and the agents; no Fulcrum runs yet.
    pub fn new(tag: &str) -> Cluster {
        Cluster::new_on(tag, Plane::AfPacket)
    }

    /// [`Cluster::new`] with both nodes' DSR interface on `plane`.
    pub fn new_on(tag: &str, plane: Plane) -> Cluster {
        require_tools();
        let lab = Lab::new(tag);
        let seed = seed_topology(&lab).expect("build the seed topology");
        let bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
        let dir = tempfile::tempdir().expect("temporary directory");
        let fulcrum = crate::fulcrum();
        // The seed's /etc/bind/agentcheck.sh, with `fulcrum dns-check` for dns.monitor.
        let script = dir.path().join("agentcheck.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{fulcrum} dns-check -zone balanceng.net -master 10.235.210.1 \
                 10.235.210.1\nif [ \"$?\" = \"0\" ]\nthen\necho 1\nelse\necho 0\nfi\n"
            ),
        )
        .expect("write agentcheck.sh");
        let mut agents = Vec::new();
        let mut nodes = Vec::new();
        for (name, ns) in [("ns0a", &seed.ns0a), ("ns0b", &seed.ns0b)] {
            let mut agent = ns.command(fulcrum);
            agent
                .args(["agent", "-c"])
                .arg(format!("sh {}", script.display()))
                .arg("439")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            agents.push(ns.spawn(agent).expect("start fulcrum agent"));
            let conf = dir.path().join(format!("{name}.conf"));
            let seed_text = std::fs::read_to_string(crate::fixture(&format!("{name}.conf")))
                .expect("read the seed configuration");
            std::fs::write(&conf, plane.config(&seed_text)).expect("write the configuration");
            nodes.push(Node {
                name,
                ns: ns.clone(),
                conf,
                socket: dir.path().join(format!("{name}.sock")),
                dir: dir.path().to_path_buf(),
                runs: 0,
                proc: None,
                unprivileged: false,
                binary: PathBuf::from(fulcrum),
                notify_socket: None,
            });
        }
        // The agents listen before Fulcrum's first probe.
        for ns in [&seed.ns0a, &seed.ns0b] {
            let listening = within(Duration::from_secs(10), || {
                ns.run(&["ss", "-Hlun", "sport = :439"])
                    .is_ok_and(|text| !text.trim().is_empty())
            });
            assert!(
                listening.is_some(),
                "fulcrum agent is not listening in {ns}"
            );
        }
        let b = nodes.pop().expect("ns0b");
        let a = nodes.pop().expect("ns0a");
        Cluster {
            a,
            b,
            _agents: agents,
            _bind9: bind9,
            seed,
            _dir: dir,
            plane,
            lab,
        }
    }

    /// Starts ns0a, waits until it is MASTER, starts ns0b, waits until it is BACKUP and has
    /// asked for and received the (empty) table, and until the VIP answers a client.
    pub fn up(tag: &str) -> Cluster {
        Cluster::up_from(Cluster::new(tag))
    }

    /// [`Cluster::up`] with both nodes' DSR interface on `plane`.
    pub fn up_on(tag: &str, plane: Plane) -> Cluster {
        Cluster::up_from(Cluster::new_on(tag, plane))
    }

    /// [`Cluster::up`] for a cluster prepared by the caller (e.g. unprivileged nodes).
    pub fn up_from(mut c: Cluster) -> Cluster {
        c.a.start();
        c.a.wait_state("MASTER", MASTER_DOWN + MARGIN * 2);
        c.plane.assert_running(&c.a.log());
        c.b.start();
        c.b.wait_state("BACKUP", MARGIN);
        c.plane.assert_running(&c.b.log());
        let synced = within(Duration::from_secs(10), || {
            c.b.show_sync().contains("resync in sync")
        });
        assert!(
            synced.is_some(),
            "ns0b never got the table:\n{}\n{}",
            c.b.show_sync(),
            c.logs()
        );
        let answered = within(Duration::from_secs(10), || c.dig().is_some());
        assert!(answered.is_some(), "the VIP never answered:\n{}", c.logs());
        // The seed's checks pass on both nodes for both targets (the agents answer 1).
        for node in [&c.a, &c.b] {
            let up = within(Duration::from_secs(10), || {
                let Some(shown) = node.show::<crate::show::TargetsDoc>("show targets") else {
                    return false;
                };
                // The seed's three checks (a `dsr-path` check may come beside them).
                let passing = |t: &crate::show::TargetRow, name: &str| {
                    t.checks.iter().any(|c| {
                        c.check == name
                            && c.state == "up"
                            && (c.kind != "agent"
                                || (c.last_ok == Some(true)
                                    && c.last_detail.as_deref() == Some("value 1")))
                    })
                };
                // The seed's targets 1 and 2 (a dual-stack lab adds IPv6 targets of its own).
                let seed: Vec<_> = shown.targets.iter().filter(|t| t.id <= 2).collect();
                seed.len() == 2
                    && seed.iter().all(|t| {
                        ["ping 5,12", "tcpopen 53,5,12", "agent 439,5,13"]
                            .iter()
                            .all(|name| passing(t, name))
                    })
            });
            assert!(
                up.is_some(),
                "{}: the targets' checks do not pass:\n{}",
                node.name,
                node.control("show targets")
            );
        }
        c
    }

    /// Both nodes' logs.
    pub fn logs(&self) -> String {
        format!("{}\n{}", self.a.logs(), self.b.logs())
    }

    /// `dig` from the client's primary address to the VIP: the node that answered.
    pub fn dig(&self) -> Option<String> {
        crate::seed_dsr::dig_vip(&self.seed, None, false, 1, 1)
    }

    /// Cuts VRRP and sync between the nodes at the switch (it drops the adverts and sync
    /// datagrams sent from either node's `real` address), leaving the client traffic, health
    /// checks and DSR path alone. Fulcrum reads eth1 below the hosts' own firewalls, so the
    /// cut is where a broken switch would make it.
    pub fn cut(&self) {
        let rules = "table bridge cluster_cut {\n chain forward {\n  \
             type filter hook forward priority -300; policy accept;\n  \
             ip saddr { 10.235.210.45, 10.235.210.46 } ip protocol 112 drop\n  \
             ip saddr { 10.235.210.45, 10.235.210.46 } udp dport 10439 drop\n }\n}\n";
        let path = self._dir.path().join("switch.cut.nft");
        std::fs::write(&path, rules).expect("write the nft rules");
        self.seed
            .switch
            .ns()
            .run(&["nft", "-f", &path.display().to_string()])
            .expect("nft: cut the link");
    }

    /// Restores what [`Cluster::cut`] cut.
    pub fn heal(&self) {
        self.seed
            .switch
            .ns()
            .run(&["nft", "delete", "table", "bridge", "cluster_cut"])
            .expect("nft: heal the link");
    }
}
