//! `fulcrum demo`: the seed's two-node cluster, live, on this machine, torn down at exit.
//!
//! The demo builds the seed's lab with `netlab` (a switch, nodes `ns0a` and `ns0b` with the VIP
//! on `lo` and `eth1` for Fulcrum, a router, a client namespace; nothing linked or routed to the
//! host), starts the targets (Bind9 when `named` is installed, ns0b's a secondary of ns0a's
//! through NOTIFY and zone transfer; otherwise the built-in responder), runs `fulcrum agent` and
//! `fulcrum run` with the seed's two configurations on both nodes (DSR on eth1, VRRP vrid 7 at
//! equal priority, session sync), the node started first becoming MASTER, and sends a trickle
//! of queries from a few client addresses. A live view shows both nodes' VRRP state, the VIP,
//! the targets' health, the sessions on each node and which node answers each client. Some
//! seconds in it SIGKILLs the master's Fulcrum, shows the backup taking over with the clients
//! keeping their node, and restarts the old master, which rejoins as BACKUP. With `--ipv6` the
//! lab is dual-stack (`netlab::seed6`), each node's configuration gains the IPv6 network and a
//! server on the IPv6 VIP over both nodes' IPv6 addresses, and as many IPv6 clients ask it; the
//! view shows both VRRP instances (IPv4 and IPv6) per node and clients of both families.
//!
//! Two processes: this one (outside) creates the work directory, runs the binary again with
//! `--inside` (which builds and drives the lab and removes it when it ends, on `--duration`,
//! Ctrl-C or SIGTERM), and when that one has exited, however it ended, kills by PID whatever
//! still runs in a namespace of its lab and deletes those namespaces and the work directory.

mod active_active;
mod clients;
mod inside;
mod lab;
mod live;
mod netns;
mod node;
mod responder;
mod status;
mod targets;
mod view;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The tag of the demo's lab: its namespaces are `nl-fulcrumdemo-PID-...` (see `netlab`).
const LAB_TAG: &str = "fulcrum demo";

#[derive(clap::Args)]
#[command(after_help = "\
Timeline (seconds of live view): the clients start at 0; at --kill-master-at the master's \
Fulcrum is killed with SIGKILL and the backup takes over after VRRP's master down interval \
(about 3.2 s); --rejoin-after seconds later the old master's Fulcrum starts again and rejoins \
as BACKUP. Needs root, iproute2 and (for Bind9 targets) bind9 and dig.")]
pub struct Args {
    /// Stop after this many seconds of live view (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// Number of demo clients, each its own source address, one query every 250 ms each.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u8).range(1..=50))]
    clients: u8,
    /// SIGKILL the master's Fulcrum this many seconds in (0: never). Default: 6, when
    /// --duration leaves room to see the takeover (a duration of at least 12 s, or none).
    #[arg(long, value_name = "SECONDS")]
    kill_master_at: Option<u64>,
    /// Restart the killed Fulcrum this many seconds after the kill; it rejoins as BACKUP.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    rejoin_after: u64,
    /// Use the built-in responder as the targets even when Bind9 is installed.
    #[arg(long)]
    builtin: bool,
    /// 3: three active-active nodes behind a BIRD router (ECMP, BGP, BFD) instead of the
    /// seed's VRRP pair; node 2 crashes at --kill-master-at and restarts --rejoin-after later.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=3))]
    nodes: u8,
    /// The seed's pair dual-stack: unique-local IPv6 beside IPv4 in the lab, the IPv6 VIP on
    /// both nodes (VRRP v3 instance, IPv6 DSR to both Bind9s) and as many IPv6 clients.
    #[arg(long, conflicts_with = "nodes")]
    ipv6: bool,
    /// Internal: build and run the lab (the outer process supervises and cleans up).
    #[arg(long, hide = true)]
    inside: bool,
    /// Internal: the work directory the outer process made.
    #[arg(long, hide = true, value_name = "DIR")]
    workdir: Option<PathBuf>,
}

/// What the inside process runs: [`Args`] with the defaults applied. Both the lab's driver
/// (`inside`) and the live view's timeline (`live`) read it.
pub struct Options {
    pub duration: Option<Duration>,
    pub clients: u8,
    pub builtin: bool,
    pub kill_at: Option<Duration>,
    pub rejoin_after: Duration,
    pub workdir: PathBuf,
    /// 2: the seed's VRRP pair; 3: active-active behind a BIRD router.
    pub nodes: u8,
    /// The seed's pair dual-stack.
    pub ipv6: bool,
}

/// The default failover time, when the duration allows.
const DEFAULT_KILL_AT: u64 = 6;
/// The shortest duration for which the default failover happens.
const MIN_DURATION_FOR_KILL: u64 = 12;

impl Args {
    /// When to kill the master, if at all.
    fn kill_at(&self) -> Option<Duration> {
        let at = match (self.kill_master_at, self.duration) {
            (Some(0), _) => return None,
            (Some(at), _) => at,
            (None, Some(d)) if d < MIN_DURATION_FOR_KILL => return None,
            (None, _) => DEFAULT_KILL_AT,
        };
        Some(Duration::from_secs(at))
    }
}

pub fn main(args: Args) -> u8 {
    if args.inside {
        let Some(workdir) = args.workdir.clone() else {
            eprintln!("fulcrum demo: --inside needs --workdir");
            return 2;
        };
        return inside::main(Options {
            duration: args.duration.map(Duration::from_secs),
            clients: args.clients,
            builtin: args.builtin,
            kill_at: args.kill_at(),
            rejoin_after: Duration::from_secs(args.rejoin_after),
            workdir,
            nodes: args.nodes,
            ipv6: args.ipv6,
        });
    }
    if !is_root() {
        eprintln!(
            "fulcrum demo: needs root (it builds network namespaces and opens raw sockets); \
             run it with sudo: sudo cargo run --release -- demo --duration 60"
        );
        return 1;
    }
    match outside(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fulcrum demo: {e:#}");
            1
        }
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn outside(args: &Args) -> anyhow::Result<u8> {
    let exe = std::env::current_exe()?;
    let workdir = tempfile::Builder::new().prefix("fulcrum-demo-").tempdir()?;
    let mut command = Command::new(&exe);
    command
        .args(["demo", "--inside", "--workdir"])
        .arg(workdir.path())
        .args(["--clients", &args.clients.to_string()])
        .args(["--rejoin-after", &args.rejoin_after.to_string()])
        // Every temporary file of the inner half (Bind9's directories too) lands in the work
        // directory, which this process removes whatever happens to the inner one.
        .env("TMPDIR", workdir.path())
        .stdin(Stdio::null());
    if let Some(duration) = args.duration {
        command.args(["--duration", &duration.to_string()]);
    }
    let kill_at = args.kill_at().map_or(0, |d| d.as_secs());
    command.args(["--kill-master-at", &kill_at.to_string()]);
    if args.builtin {
        command.arg("--builtin");
    }
    if args.ipv6 {
        command.arg("--ipv6");
    } else {
        command.args(["--nodes", &args.nodes.to_string()]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, pid) = runtime.block_on(supervise(command))?;
    let left = pid.map(cleanup_leftovers).unwrap_or_default();
    drop(workdir);
    if left.is_empty() {
        println!("fulcrum demo: done; no namespace, link or process of the demo is left");
    } else {
        eprintln!(
            "fulcrum demo: the demo ended abnormally; removed what it left: {}",
            left.join(", ")
        );
    }
    Ok(if status.success() { 0 } else { 1 })
}

/// Runs the inner demo to its end. Ctrl-C and SIGTERM reach it (Ctrl-C from a terminal reaches
/// it directly, as it is in the same process group; a signal sent to this process alone is
/// passed on); if it has not ended 15 s after a signal, it is killed.
async fn supervise(command: Command) -> anyhow::Result<(std::process::ExitStatus, Option<u32>)> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut child = tokio::process::Command::from(command).spawn()?;
    let pid = child.id();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let timeout = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let forward = tokio::select! {
            status = child.wait() => return Ok((status?, pid)),
            _ = interrupt.recv() => Some(nix::sys::signal::Signal::SIGINT),
            _ = terminate.recv() => Some(nix::sys::signal::Signal::SIGTERM),
            _ = timeout => None,
        };
        match forward {
            Some(sig) => {
                if let Some(raw) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
                }
                deadline.get_or_insert(tokio::time::Instant::now() + Duration::from_secs(15));
            }
            None => {
                eprintln!("fulcrum demo: the demo did not stop within 15 s; killing it");
                let _ = child.start_kill();
                return Ok((child.wait().await?, pid));
            }
        }
    }
}

/// Kills (by PID) what still runs in the inner demo's lab namespaces and deletes them; returns
/// what it found. Normally nothing: the inner demo removes its lab itself.
fn cleanup_leftovers(inner_pid: u32) -> Vec<String> {
    let prefix = lab::namespace_prefix_of(LAB_TAG, inner_pid);
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for name in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&prefix))
    {
        if let Ok(pids) = Command::new("ip").args(["netns", "pids", name]).output() {
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                if pid.parse::<u32>().is_ok() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                    found.push(format!("process {pid}"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        found.push(format!("namespace {name}"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        demo: Args,
    }

    fn kill_at(args: &[&str]) -> Option<u64> {
        let cli = Cli::try_parse_from(std::iter::once("demo").chain(args.iter().copied()))
            .expect("arguments");
        cli.demo.kill_at().map(|d| d.as_secs())
    }

    #[test]
    fn the_failover_happens_by_default_when_the_duration_leaves_room() {
        assert_eq!(kill_at(&[]), Some(6));
        assert_eq!(kill_at(&["--duration", "20"]), Some(6));
        assert_eq!(kill_at(&["--duration", "12"]), Some(6));
        assert_eq!(kill_at(&["--duration", "11"]), None);
        assert_eq!(
            kill_at(&["--duration", "8", "--kill-master-at", "3"]),
            Some(3)
        );
        assert_eq!(kill_at(&["--kill-master-at", "0"]), None);
    }
}
