//! The Fulcrum daemon under test: its configurations (the flood's and the seed's NS0A, both
//! dual-stack, in either plane's access mode), starting and stopping it in ns0a, and what its
//! log says afterwards (the closing counter table, the plane it really ran).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use netlab::seed::SeedLab;

use crate::Result;

/// The DSR plane a phase runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    AfPacket,
    AfXdp,
}

impl Plane {
    pub fn name(self) -> &'static str {
        match self {
            Plane::AfPacket => "AF_PACKET",
            Plane::AfXdp => "AF_XDP",
        }
    }

    /// `config` with its (first, top-level) `interface eth1` in this plane's access mode.
    pub fn config(self, config: &str) -> String {
        match self {
            Plane::AfPacket => config.to_string(),
            Plane::AfXdp => config.replacen(
                "interface eth1\n",
                "interface 1 {\nname eth1\naccess xdp\n}\n",
                1,
            ),
        }
    }
}

/// The flood's configuration: VIP:9 and the IPv6 VIP:9 balanced to ns0b only.
pub const FLOOD_CONFIG: &str = "\
hostname BENCH
interface eth1
network 1 {
addr 10.235.210.0
mask 255.255.255.0
real 10.235.210.45
addr6 fd00:10:235:210::
mask6 64
real6 fd00:10:235:210::45
interface eth1
}
register network 1
enable network 1
server 1 {
ipaddr 10.235.210.1
port 9
protocol udp
method session
targets 2
}
register server 1
enable server 1
target 2 {
ipaddr 10.235.210.44
port 9
dsr enable
}
register target 2
enable target 2
server 2 {
ipaddr fd00:10:235:210::1
port 9
protocol udp
method session
targets 3
}
register server 2
enable server 2
target 3 {
ipaddr fd00:10:235:210::44
port 9
dsr enable
}
register target 3
enable target 3
";

/// The seed's NS0A configuration with IPv6 added: `real6`, and server 2 on the IPv6 VIP over
/// both nodes' IPv6 addresses.
pub fn seed_dual_config() -> String {
    include_str!("../../../../tests/fixtures/ns0a.conf")
        .replace(
            "real 10.235.210.45\n",
            "real 10.235.210.45\naddr6 fd00:10:235:210::\nmask6 64\nreal6 fd00:10:235:210::45\n",
        )
        .replace(
            "// end of configuration",
            "server 2 {\nipaddr fd00:10:235:210::1\nport 53\nmethod session\ntargets 3,4\n}\n\
             register server 2\nenable server 2\n\
             target 3 {\nipaddr fd00:10:235:210::43\nport 53\ndsr enable\n}\n\
             target 4 {\nipaddr fd00:10:235:210::44\nport 53\ndsr enable\n}\n\
             register targets 3,4\nenable targets 3,4\n",
        )
}

pub struct Fulcrum {
    pub pid: u32,
    proc: netlab::lab::Proc,
}

/// Starts `fulcrum run` in ns0a with `config`, its files (`NAME.conf`, `NAME.sock`,
/// `NAME.log`) in `dir`.
pub fn start_fulcrum(
    seed: &SeedLab,
    bin: &Path,
    dir: &Path,
    name: &str,
    config: &str,
) -> Result<Fulcrum> {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let socket: PathBuf = dir.join(format!("{name}.sock"));
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let mut command = seed.ns0a.command(&bin.display().to_string());
    command
        .args(["run", "--log-level", "info", "-c"])
        .arg(&path)
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let proc = seed.ns0a.spawn(command).map_err(|e| e.to_string())?;
    Ok(Fulcrum {
        pid: proc.pid(),
        proc,
    })
}

/// SIGTERM (so it prints its counter table), SIGKILL after 5 s.
pub fn stop_fulcrum(f: Fulcrum) {
    let _ = Command::new("kill")
        .args(["-TERM", &f.pid.to_string()])
        .status();
    if f.proc.wait_timeout(Duration::from_secs(5)).is_none() {
        f.proc.kill();
    }
}

/// Plane counters from a stopped daemon's log (its closing counter table).
pub fn plane_counter(log: &str, name: &str) -> u64 {
    log.lines()
        .find_map(|line| {
            let mut cells = line.split_whitespace();
            (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// Whether the daemon of `log` runs the plane asked for; the fallback's reason if not.
pub fn plane_check(plane: Plane, log: &str) -> std::result::Result<(), String> {
    if plane == Plane::AfPacket || log.contains("dsr: AF_XDP on ") {
        return Ok(());
    }
    Err(log
        .lines()
        .find(|l| l.contains("AF_XDP unavailable"))
        .unwrap_or("no AF_XDP line in the log")
        .to_string())
}
