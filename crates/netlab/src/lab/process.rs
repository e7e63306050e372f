//! Running commands for a lab: the error type naming each failed command with its stderr,
//! processes spawned in a namespace ([`Proc`], reaped through std so a recycled PID is never
//! signalled), and killing by PID whatever still runs inside a namespace being removed.

use std::process::{Child, Command, ExitStatus, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;

/// What went wrong while building or driving a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command could not be started at all (most often: the tool is not installed).
    #[error(
        "cannot run `{command}`: {source} (is iproute2/procps/iputils installed and are we root?)"
    )]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// A name the caller chose cannot be used.
    #[error("invalid name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    /// A helper process started but never became ready.
    #[error("{what} was not ready in time: {log}")]
    NotReady { what: String, log: String },
    /// The same namespace name was asked for twice in one lab.
    #[error("namespace {0:?} already exists in this lab")]
    Duplicate(String),
}

/// A process spawned in a namespace; killed when the lab is dropped if still running.
#[derive(Debug, Clone)]
pub struct Proc {
    pub(super) pid: u32,
    pub(super) child: Arc<Mutex<Child>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        lock(&self.child).try_wait().ok().flatten()
    }

    /// Waits at most `limit` for it to exit.
    pub fn wait_timeout(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `f` with the `Child` (to take its stdout, for example).
    pub fn with_child<R>(&self, f: impl FnOnce(&mut Child) -> R) -> R {
        f(&mut lock(&self.child))
    }
}

/// Kills, by PID, whatever still runs inside a lab namespace (a daemon that forked away from
/// the process we spawned); a namespace with live processes would outlive `ip netns del`.
pub(super) fn kill_namespace_processes(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids = namespace_pids(name);
        if pids.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        // SIGKILL is asynchronous; look again so the namespace is really empty when we return.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose network namespace is `name` (`ip netns pids`).
pub(super) fn namespace_pids(name: &str) -> Vec<u32> {
    let Ok(output) = Command::new("ip").args(["netns", "pids", name]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

pub(super) fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub(super) fn run(command: &mut Command) -> Result<String, LabError> {
    let description = describe(command);
    let output = command.output().map_err(|source| LabError::Spawn {
        command: description.clone(),
        source,
    })?;
    check(description, output)
}

pub(super) fn check(command: String, output: Output) -> Result<String, LabError> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(LabError::Failed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}
