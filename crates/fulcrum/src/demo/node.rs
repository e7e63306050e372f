//! One node's processes: `fulcrum agent` on UDP 439 (the seed's agent check: its value is 1
//! while the node's DNS server serves the zone with the primary's serial, as the seed's
//! `agentcheck.sh` reports, and 0 once it lags) and `fulcrum run` with the node's seed
//! configuration, which the demo kills and restarts. Both are spawned in the node's namespace
//! through netlab, so the lab kills them by PID if the demo does not.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use netlab::seed::{NS0A_ADDR, SEED_ZONE};
use netlab::Proc;

use super::lab::NodeSpec;
use super::status::NodeStatus;
use crate::shell::Client;
use fulcrum_control::show::{from_text, VrrpDoc};

pub struct Node {
    pub spec: NodeSpec,
    exe: PathBuf,
    config: PathBuf,
    socket: PathBuf,
    pub log: PathBuf,
    fulcrum: Option<Proc>,
    agent: Proc,
}

impl Node {
    /// Writes the node's files into `dir` and starts its agent (not yet Fulcrum).
    pub fn prepare(spec: &NodeSpec, dir: &Path) -> anyhow::Result<Node> {
        let exe = std::env::current_exe()?;
        let config = dir.join(format!("{}.conf", spec.name));
        std::fs::write(&config, &spec.config)?;
        let check = dir.join(format!("{}.agentcheck.sh", spec.name));
        std::fs::write(&check, agent_check(&exe))?;
        let mut agent = spec.ns.command(&exe.to_string_lossy());
        agent
            .arg("agent")
            .arg("-c")
            .arg(format!("sh {}", shell_quote(&check.to_string_lossy())))
            .arg("439")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&dir.join(format!("{}.agent.log", spec.name)))?)
            // Out of the terminal's process group: Ctrl-C is the demo's, which stops them.
            .process_group(0);
        let agent = spec.ns.spawn(agent)?;
        Ok(Node {
            spec: spec.clone(),
            exe,
            config,
            socket: dir.join(format!("{}.sock", spec.name)),
            log: dir.join(format!("{}.fulcrum.log", spec.name)),
            fulcrum: None,
            agent,
        })
    }

    pub fn agent_pid(&self) -> u32 {
        self.agent.pid()
    }

    pub fn fulcrum_pid(&self) -> Option<u32> {
        self.fulcrum.as_ref().map(Proc::pid)
    }

    /// Starts `fulcrum run` and waits until its control socket answers. Returns its PID.
    pub fn start_fulcrum(&mut self) -> anyhow::Result<u32> {
        let mut command = self.spec.ns.command(&self.exe.to_string_lossy());
        command
            .args(["run", "--log-level", "info", "-c"])
            .arg(&self.config)
            .arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&self.log)?)
            .process_group(0);
        let proc = self.spec.ns.spawn(command)?;
        let pid = proc.pid();
        self.fulcrum = Some(proc);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Client::connect(&self.socket).is_err() {
            if let Some(status) = self.fulcrum.as_ref().and_then(Proc::try_wait) {
                anyhow::bail!(
                    "{}'s fulcrum run exited ({status}); its log is {}",
                    self.spec.name,
                    self.log.display()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}'s fulcrum run opened no control socket within 20 s; its log is {}",
                self.spec.name,
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(pid)
    }

    /// SIGKILLs `fulcrum run` (a crash: no priority-0 advert) and reaps it. Returns its PID.
    pub fn kill_fulcrum(&mut self) -> Option<u32> {
        let proc = self.fulcrum.take()?;
        proc.kill();
        Some(proc.pid())
    }

    /// Stops `fulcrum run` cleanly (SIGTERM: priority 0, the peer takes over at once), waiting
    /// a few seconds before killing it.
    pub fn stop_fulcrum(&mut self) {
        let Some(proc) = self.fulcrum.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(proc.pid()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if proc.wait_timeout(Duration::from_secs(5)).is_none() {
            proc.kill();
        }
    }

    /// `show vrrp`'s IPv4 state alone, as the seed spells it (empty while Fulcrum is not
    /// running).
    pub fn state(&self) -> String {
        let running = self
            .fulcrum
            .as_ref()
            .is_some_and(|p| p.try_wait().is_none());
        let answer = running
            .then(|| Client::connect(&self.socket).ok())
            .flatten()
            .and_then(|client| client.json().request("show vrrp").ok());
        answer
            .and_then(|a| from_text::<VrrpDoc>(&a.text).ok())
            .and_then(|doc| doc.ipv4)
            .map(|v| v.state.to_ascii_uppercase())
            .unwrap_or_default()
    }

    /// What the node's Fulcrum says now (all empty while it is not running).
    pub fn status(&self) -> NodeStatus {
        let running = self
            .fulcrum
            .as_ref()
            .is_some_and(|p| p.try_wait().is_none());
        if !running {
            return NodeStatus::default();
        }
        let Ok(client) = Client::connect(&self.socket) else {
            return NodeStatus::default();
        };
        let mut client = client.json();
        let mut ask = |command: &str| {
            client
                .request(command)
                .ok()
                .filter(|answer| answer.ok)
                .map(|answer| answer.text)
        };
        let vrrp = ask("show vrrp").and_then(|t| from_text(&t).ok());
        let targets = ask("show targets").and_then(|t| from_text(&t).ok());
        let sessions = ask("show sessions all").and_then(|t| from_text(&t).ok());
        let sync = ask("show sync").and_then(|t| from_text(&t).ok());
        NodeStatus::from_documents(vrrp, targets, sessions, sync)
    }
}

/// The seed's agent check, with `fulcrum dns-check` in the role of mon's `dns.monitor`: 1 while
/// this node's server (127.0.0.1) answers for the zone with the primary's (ns0a's) serial, 0
/// when it fails or lags behind.
fn agent_check(exe: &Path) -> String {
    format!(
        "#!/bin/sh\n# fulcrum demo: the seed's agentcheck.sh\n\
         if {} dns-check -zone {SEED_ZONE} -master {NS0A_ADDR} 127.0.0.1 >/dev/null 2>&1; \
         then echo 1; else echo 0; fi\n",
        shell_quote(&exe.to_string_lossy())
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    Ok(OpenOptions::new().create(true).append(true).open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_check_compares_with_the_primary_and_prints_one_or_zero() {
        let script = agent_check(Path::new("/opt/it's/fulcrum"));
        assert!(
            script.contains("'/opt/it'\\''s/fulcrum' dns-check -zone balanceng.net -master 10.235.210.43 127.0.0.1"),
            "{script}"
        );
        assert!(script.contains("then echo 1; else echo 0; fi"), "{script}");
    }
}
