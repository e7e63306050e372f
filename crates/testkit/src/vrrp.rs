//! VRRP labs: a lab switch with VRRP nodes on it, `fulcrum run` and keepalived started inside a
//! node's namespace (killed by PID when the lab drops, also on panic), `show vrrp` read through
//! the real `fulcrum control`, and waits on logs and states.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use netlab::{Lab, Ns, Proc};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::control::control_text;
use crate::process::{read, require_on_path as require, wait_for_log};

pub const VIP: &str = "10.235.210.1";

/// VRRP settings shared by every member of the group.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub version: u8,
    pub advert_ms: u32,
}

impl Group {
    /// RFC 3768 / RFC 5798 Master_Down_Interval for `priority`.
    pub fn master_down(&self, priority: u8) -> Duration {
        let advert = Duration::from_millis(u64::from(self.advert_ms));
        advert * 3 + self.skew(priority)
    }

    pub fn skew(&self, priority: u8) -> Duration {
        let weight = 256 - u64::from(priority);
        match self.version {
            2 => Duration::from_nanos(weight * 1_000_000_000 / 256),
            _ => Duration::from_nanos(weight * u64::from(self.advert_ms) * 1_000_000 / 256),
        }
    }
}

/// A lab switch with one namespace per node, each with `eth0` on the switch.
pub struct Link {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

impl Link {
    pub fn new(tag: &str) -> Link {
        for tool in ["ip", "sysctl"] {
            require(tool);
        }
        let lab = Lab::new(tag);
        Link {
            lab,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A namespace on the switch with `address`/24 on eth0.
    pub fn node(&self, name: &str, switch: &netlab::Switch, address: &str) -> Ns {
        let ns = self.lab.netns(name).expect("namespace");
        self.lab
            .link(&ns, "eth0", switch)
            .expect("link to the switch");
        ns.addr("eth0", &format!("{address}/24")).expect("address");
        ns
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A `fulcrum run` in a namespace.
pub struct Fulcrum {
    pub proc: Proc,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// The configuration of a proxy-mode node: a server on the VIP forwarding to 127.0.0.1:`port`.
pub fn fulcrum_config(name: &str, real: &str, priority: u8, group: Group, extra: &str) -> String {
    format!(
        "hostname {name}\ninterface eth0\n\
         vrrp {{\nvrid 7\npriority {priority}\nnetwork 1\nversion {}\nadvert {}ms\n{extra}}}\n\
         network 1 {{\naddr 10.235.210.0\nmask 255.255.255.0\nreal {real}\ninterface eth0\n}}\n\
         register network 1\nenable network 1\n\
         server 1 {{\nipaddr {VIP}\nport 53\nprotocol udp\ntargets 1\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\nipaddr 127.0.0.1\nport 5353\n}}\n\
         register target 1\nenable target 1\n",
        group.version, group.advert_ms
    )
}

impl Fulcrum {
    /// Starts `fulcrum run` as `NAME` on `config` in `ns`; returns once it logged its VRRP
    /// instance.
    pub fn start(link: &Link, ns: &Ns, name: &str, config: &str) -> Fulcrum {
        Fulcrum::start_under(link, ns, name, config, &[])
    }

    /// [`Fulcrum::start`] run by `wrapper` (a program and its arguments, e.g.
    /// `["prlimit", "--nofile=1024:1024"]`), which then runs the binary.
    pub fn start_under(
        link: &Link,
        ns: &Ns,
        name: &str,
        config: &str,
        wrapper: &[&str],
    ) -> Fulcrum {
        let conf = link.path(&format!("{name}.conf"));
        std::fs::write(&conf, config).expect("write the configuration");
        let socket = link.path(&format!("{name}.sock"));
        let log = link.path(&format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = ns.command(program);
                command.args(args).arg(crate::fulcrum());
                command
            }
            None => ns.command(crate::fulcrum()),
        };
        command
            .arg("run")
            .arg("-c")
            .arg(&conf)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        let proc = ns.spawn(command).expect("start fulcrum");
        let fulcrum = Fulcrum { proc, socket, log };
        wait_for_log(&fulcrum.log, "vrrp: vrid 7", Duration::from_secs(10));
        fulcrum
    }

    /// `show vrrp` through the real control client.
    pub fn show_vrrp(&self) -> String {
        control_text(&self.socket, "show vrrp")
    }

    /// One or more control commands through the real client, in one session (stdout, whatever
    /// the exit).
    pub fn control(&self, lines: &[&str]) -> String {
        crate::control::stdout(&crate::control::control(&self.socket, lines))
    }

    /// A counter or value line of `show vrrp`, e.g. `adverts-not-a-peer`.
    pub fn vrrp_value(&self, key: &str) -> Option<String> {
        crate::show::value_of(&self.show_vrrp(), key)
    }

    /// The IPv4 VRRP state as the seed spells it (`MASTER`), from `show vrrp`'s JSON document;
    /// empty while it cannot be read.
    pub fn state(&self) -> String {
        crate::control::show(&self.socket, "show vrrp")
            .map(|doc| crate::show::vrrp_state(&doc))
            .unwrap_or_default()
    }

    /// Waits until `show vrrp` says `state`; returns how long that took.
    pub fn wait_state(&self, state: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.state() == state {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "fulcrum did not reach {state} within {limit:?}; show vrrp:\n{}\nlog:\n{}",
                self.show_vrrp(),
                read(&self.log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn sigterm(&self) {
        let _ = kill(Pid::from_raw(self.proc.pid() as i32), Signal::SIGTERM);
        let _ = self.proc.wait_timeout(Duration::from_secs(10));
    }
}

/// A keepalived VRRP instance in a namespace.
pub struct Keepalived {
    pub proc: Proc,
    pub log: PathBuf,
    /// Where keepalived writes the PID of its VRRP child process.
    pub vrrp_pidfile: PathBuf,
}

impl Keepalived {
    pub fn start(link: &Link, ns: &Ns, name: &str, priority: u8, group: Group) -> Keepalived {
        Keepalived::start_with(link, ns, name, priority, group, "")
    }

    /// With `extra` lines in the `vrrp_instance` block (e.g. `authentication { ... }`,
    /// `unicast_peer { ... }`).
    pub fn start_with(
        link: &Link,
        ns: &Ns,
        name: &str,
        priority: u8,
        group: Group,
        extra: &str,
    ) -> Keepalived {
        let advert_int = format!("{}", f64::from(group.advert_ms) / 1000.0);
        let config = format!(
            "global_defs {{\n  router_id {name}\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  \
             priority {priority}\n  advert_int {advert_int}\n  version {}\n  \
             virtual_ipaddress {{\n    {VIP}/32\n  }}\n{extra}}}\n",
            group.version
        );
        Keepalived::spawn(ns, link.dir.path(), name, &config)
    }

    /// keepalived with `config` (VRRP only, in the foreground) in `ns`; its configuration, log
    /// and PID files are `dir/NAME.keepalived.*` and `dir/NAME.vrrp.pid`.
    pub fn spawn(ns: &Ns, dir: &Path, name: &str, config: &str) -> Keepalived {
        require("keepalived");
        let conf = dir.join(format!("{name}.keepalived.conf"));
        std::fs::write(&conf, config).expect("write keepalived.conf");
        let log = dir.join(format!("{name}.keepalived.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let vrrp_pidfile = dir.join(format!("{name}.vrrp.pid"));
        let mut command = ns.command("keepalived");
        command
            .args(["-n", "-l", "-D", "--vrrp", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.join(format!("{name}.keepalived.pid")))
            .arg("-r")
            .arg(&vrrp_pidfile)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        let proc = ns.spawn(command).expect("start keepalived");
        Keepalived {
            proc,
            log,
            vrrp_pidfile,
        }
    }

    /// A crash: SIGKILL to the VRRP child first (the parent's death would make it stop
    /// cleanly, with a priority-0 advert), then to the parent.
    pub fn sigkill(&self) {
        let child = std::fs::read_to_string(&self.vrrp_pidfile)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok());
        let child = child.expect("keepalived wrote no VRRP child PID");
        let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
        self.proc.kill();
    }

    /// keepalived's current state from its log (the last `Entering ... STATE`).
    pub fn state(&self) -> String {
        let text = read(&self.log);
        let last_master = text.rfind("Entering MASTER STATE");
        let last_backup = text.rfind("Entering BACKUP STATE");
        match (last_master, last_backup) {
            (Some(m), Some(b)) if m > b => "MASTER".into(),
            (Some(_), None) => "MASTER".into(),
            (_, Some(_)) => "BACKUP".into(),
            _ => String::new(),
        }
    }

    pub fn wait_state(&self, state: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.state() == state {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "keepalived did not reach {state} within {limit:?}; log:\n{}",
                read(&self.log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether `ns` holds the VIP on eth0.
pub fn holds_vip(ns: &Ns) -> bool {
    ns.run(&["ip", "-4", "addr", "show", "dev", "eth0"])
        .map(|text| text.contains(&format!("{VIP}/32")))
        .unwrap_or(false)
}
