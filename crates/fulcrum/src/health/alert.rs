//! `alert "script"` / `upalert "script"`: run on a target's down/up transition caused by its
//! checks, as `sh -c 'SCRIPT "$@"' fulcrum-alert ID ADDRESS REASON`, so a script path or a
//! command line gets the target id, its address and the reason as its last three arguments.
//!
//! Contract: [`spawn`] never blocks the caller (the script runs on a task of its own); the
//! script runs in its own process group with stdin, stdout and stderr on /dev/null, and the
//! whole group is killed after [`ALERT_TIMEOUT`]; its outcome is logged in one line.

use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;

/// How long a script may run.
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a script run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exited, with this status text (`exit status: 0`).
    Exited { success: bool, status: String },
    /// Still running at the timeout: killed.
    Killed,
    /// Could not be started or waited for.
    Error(String),
}

/// Starts `script` for target `id` on its own task and logs how it ended.
pub fn spawn(which: &'static str, script: String, id: u32, addr: IpAddr, reason: String) {
    tokio::spawn(async move {
        match run(&script, id, addr, &reason, ALERT_TIMEOUT).await {
            Outcome::Exited {
                success: true,
                status,
            } => tracing::info!("target {id}: {which} {script:?} done ({status})"),
            Outcome::Exited { status, .. } => {
                tracing::warn!("target {id}: {which} {script:?} failed ({status})")
            }
            Outcome::Killed => tracing::warn!(
                "target {id}: {which} {script:?} killed after {} s",
                ALERT_TIMEOUT.as_secs()
            ),
            Outcome::Error(e) => tracing::error!("target {id}: {which} {script:?}: {e}"),
        }
    });
}

/// Runs `script` with the target's arguments, killing its process group after `timeout`.
pub async fn run(script: &str, id: u32, addr: IpAddr, reason: &str, timeout: Duration) -> Outcome {
    let spawned = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{script} \"$@\""))
        .arg("fulcrum-alert")
        .arg(id.to_string())
        .arg(addr.to_string())
        .arg(reason)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::Error(format!("could not start: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Outcome::Exited {
            success: status.success(),
            status: status.to_string(),
        },
        Ok(Err(e)) => Outcome::Error(e.to_string()),
        Err(_elapsed) => {
            // The group, so that whatever the script started goes too.
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.kill().await;
            Outcome::Killed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    const ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 235, 210, 44));

    #[tokio::test]
    async fn arguments_reach_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = dir.path().join("record.sh");
        std::fs::write(
            &script,
            format!("printf '%s|' \"$@\" > {}\n", out.display()),
        )
        .unwrap();
        let command = format!("sh {} first", script.display());
        let outcome = run(&command, 2, ADDR, "agent no reply for 13 s", ALERT_TIMEOUT).await;
        assert_eq!(
            outcome,
            Outcome::Exited {
                success: true,
                status: "exit status: 0".into()
            }
        );
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(written, "first|2|10.235.210.44|agent no reply for 13 s|");
    }

    #[tokio::test]
    async fn failure_is_reported() {
        let outcome = run("exit 3;", 1, ADDR, "x", ALERT_TIMEOUT).await;
        assert!(
            matches!(outcome, Outcome::Exited { success: false, ref status } if status.contains('3')),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_hanging_script_and_its_children_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // A background child that would outlive the shell if only the shell were killed.
        let script = format!("sleep 60 & echo $! > {}; wait;", pid_file.display());
        let started = Instant::now();
        let outcome = run(&script, 1, ADDR, "x", Duration::from_millis(300)).await;
        assert_eq!(outcome, Outcome::Killed);
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed with its group (give the kernel a moment to reap it: it was re-parented).
        let deadline = Instant::now() + Duration::from_secs(2);
        while Path::new(&format!("/proc/{pid}/stat")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
        {
            assert!(
                Instant::now() < deadline,
                "sleep {pid} survived the timeout"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
