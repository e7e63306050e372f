//! `fulcrum demo`: a live demo cluster on this machine, torn down at exit.
//!
//! The demo runs in a network namespace of its own (created here, deleted at exit), so it can use
//! port 53 and loopback addresses freely and sends nothing outside: two DNS targets (Bind9 when
//! `named` is installed, otherwise a small built-in authoritative responder), Fulcrum balancing
//! them in proxy mode with sticky sessions and health checks, and a few clients sending a steady
//! trickle of queries. A live view shows the targets, the sessions and which target answers
//! each client. Ctrl-C or `--duration` ends it; nothing is left behind.
//!
//! Two processes: this one (outside) creates and finally deletes the namespace and re-runs the
//! binary inside it (`ip netns exec NS fulcrum demo --inside`), which starts and stops
//! everything else. Even if the inner one dies, the outer one kills whatever is left in the
//! namespace (by PID, from `ip netns pids`) before deleting it.

mod clients;
mod inside;
mod responder;

use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// Number of demo clients (each its own source address).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=200))]
    clients: u8,
    /// Use the built-in responder even when Bind9 is installed.
    #[arg(long)]
    builtin: bool,
    /// Internal: run the demo's processes (already inside the namespace).
    #[arg(long, hide = true)]
    inside: bool,
}

pub fn main(args: Args) -> u8 {
    if args.inside {
        return inside::main(inside::Options {
            duration: args.duration.map(Duration::from_secs),
            clients: args.clients,
            builtin: args.builtin,
        });
    }
    if !is_root() {
        eprintln!(
            "fulcrum demo: needs root (it creates a network namespace); run it with sudo: \
             sudo cargo run --release -- demo"
        );
        return 1;
    }
    match outside(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fulcrum demo: {e}");
            1
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The namespace that holds the whole demo; deleted (after killing what runs in it) on drop.
struct DemoNetns {
    name: String,
}

impl DemoNetns {
    fn create() -> anyhow::Result<DemoNetns> {
        let name = format!("fulcrum-demo-{}", std::process::id());
        run_ip(&["netns", "add", &name])?;
        let netns = DemoNetns { name };
        run_ip(&["-n", &netns.name, "link", "set", "lo", "up"])?;
        Ok(netns)
    }
}

impl Drop for DemoNetns {
    fn drop(&mut self) {
        kill_leftovers(&self.name);
        let _ = run_ip(&["netns", "delete", &self.name]);
    }
}

/// Kills, by PID, every process still inside the demo's namespace (all of them ours).
fn kill_leftovers(netns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", netns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if pid.parse::<u32>().is_ok() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run ip (package iproute2): {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn outside(args: &Args) -> anyhow::Result<u8> {
    let exe = std::env::current_exe()?;
    let netns = DemoNetns::create()?;
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &netns.name])
        .arg(&exe)
        .args(["demo", "--inside", "--clients", &args.clients.to_string()]);
    if let Some(duration) = args.duration {
        command.args(["--duration", &duration.to_string()]);
    }
    if args.builtin {
        command.arg("--builtin");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        let mut child = tokio::process::Command::from(command).spawn()?;
        tokio::select! {
            status = child.wait() => status,
            _ = tokio::signal::ctrl_c() => {
                // The inner demo got the same Ctrl-C and is tearing down; give it a moment.
                match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        let _ = child.start_kill();
                        child.wait().await
                    }
                }
            }
        }
    })?;
    drop(netns);
    println!("fulcrum demo: namespace removed, nothing left running");
    Ok(if status.success() { 0 } else { 1 })
}
