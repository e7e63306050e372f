//! `alert "script"` / `upalert "script"`: run on a target's down/up transition caused by its
//! checks, as `sh -c 'SCRIPT "$@"' fulcrum-alert ID ADDRESS REASON`, so a script path or a
//! command line gets the target id, its address and the reason as its last three arguments.
//!
//! Contract: never blocks the caller (a task of its own); the script runs in its own process
//! group with stdin, stdout and stderr on /dev/null, and is killed (the whole group) after
//! [`ALERT_TIMEOUT`]; its exit status is logged in one line.

use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;

/// How long a script may run.
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `script` for target `id` on its own task.
pub fn spawn(which: &'static str, script: String, id: u32, addr: IpAddr, reason: String) {
    tokio::spawn(async move {
        let spawned = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{script} \"$@\""))
            .arg("fulcrum-alert")
            .arg(id.to_string())
            .arg(addr.to_string())
            .arg(&reason)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                tracing::error!("target {id}: {which} {script:?} could not start: {e}");
                return;
            }
        };
        match tokio::time::timeout(ALERT_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => {
                tracing::info!("target {id}: {which} {script:?} done ({status})");
            }
            Ok(Ok(status)) => tracing::warn!("target {id}: {which} {script:?} failed ({status})"),
            Ok(Err(e)) => tracing::warn!("target {id}: {which} {script:?}: {e}"),
            Err(_elapsed) => {
                if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.kill().await;
                tracing::warn!(
                    "target {id}: {which} {script:?} killed after {} s",
                    ALERT_TIMEOUT.as_secs()
                );
            }
        }
    });
}
