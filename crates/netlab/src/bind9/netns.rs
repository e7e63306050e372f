//! [`LoopbackNetns`]: a network namespace holding only a loopback interface with extra
//! addresses, removed on drop, for tests whose tools can only talk to port 53.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use super::{Bind9Error, IP};

/// A network namespace of its own with `lo` up and extra loopback addresses (e.g. 127.0.1.2/32),
/// so that several Bind9 instances can each listen on port 53, as tools without a port option
/// (mon's `dns.monitor`) require. Deleted on drop, also during a panic. Has no link to anything.
pub struct LoopbackNetns {
    name: String,
}

impl LoopbackNetns {
    /// Creates namespace `name` (make it unique per test) with `addrs` on its `lo`.
    pub fn create(name: &str, addrs: &[IpAddr]) -> Result<LoopbackNetns, Bind9Error> {
        if !Path::new(IP).exists() {
            return Err(Bind9Error::ToolMissing { path: IP });
        }
        run_ip(&["netns", "add", name])?;
        // From here on, drop removes the namespace whatever fails next.
        let netns = LoopbackNetns {
            name: name.to_string(),
        };
        run_ip(&["-n", name, "link", "set", "lo", "up"])?;
        for addr in addrs {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            run_ip(&[
                "-n",
                name,
                "addr",
                "add",
                &format!("{addr}/{prefix}"),
                "dev",
                "lo",
            ])?;
        }
        Ok(netns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command run inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(IP);
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }
}

impl Drop for LoopbackNetns {
    fn drop(&mut self) {
        // Nothing useful to do on failure during drop; the name is unique per test.
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}

fn run_ip(args: &[&str]) -> Result<(), Bind9Error> {
    let out = Command::new(IP)
        .args(args)
        .output()
        .map_err(Bind9Error::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Bind9Error::BadOptions(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
