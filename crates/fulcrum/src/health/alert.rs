//! `alert "script"` / `upalert "script"`: run on a target's down/up transition caused by its
//! checks, as `sh -c 'SCRIPT "$@"' fulcrum-alert ID ADDRESS REASON`, so a script path or a
//! command line gets the target id, its address and the reason as its last three arguments.
//!
//! Contract: [`Alerts::spawn`] never blocks the caller: the script is queued on the daemon's
//! [`Alerts`] queue, a [`ScriptQueue`] started on first use (one at a time, in transition order, at most [`QUEUE_CAPACITY`] waiting; a
//! transition that finds the queue full runs no script and is counted and logged, rate-limited).
//! Each runs in its own process group with stdin, stdout and stderr on /dev/null, and the whole
//! group is killed after [`ALERT_TIMEOUT`]; its outcome is logged in one line (rate-limited per
//! target: a target flapping on every probe cannot flood the log).

use std::net::IpAddr;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::limited;
use crate::loglimit::LogLimiter;
use crate::scripts::{self, ScriptQueue};
pub use scripts::Outcome;

/// How long a script may run.
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(10);
/// Scripts waiting to run; more are not run (counted).
pub const QUEUE_CAPACITY: usize = 64;

/// Outcome lines per target: 10 in a minute, then counted.
static OUTCOME_LOG: LogLimiter = LogLimiter::new(10, Duration::from_secs(60));

/// One daemon's alert scripts: the queue they wait in (its thread starts with the first script).
#[derive(Default)]
pub struct Alerts {
    queue: OnceLock<ScriptQueue>,
}

impl Alerts {
    fn queue(&self) -> &ScriptQueue {
        self.queue
            .get_or_init(|| ScriptQueue::new("alert", 1, QUEUE_CAPACITY))
    }

    /// Transitions whose script did not run because the queue was full (all targets).
    pub fn not_run(&self) -> u64 {
        self.queue.get().map_or(0, ScriptQueue::dropped)
    }

    /// Queues `script` for target `id`; it runs and its outcome is logged off the caller's
    /// thread.
    pub fn spawn(
        &self,
        which: &'static str,
        script: String,
        id: u32,
        addr: IpAddr,
        reason: String,
    ) {
        let what = format!("target {id}: {which} {script:?}");
        let label = what.clone();
        self.queue().submit(&label, move || {
            let key = u64::from(id);
            match run(&script, id, addr, &reason, ALERT_TIMEOUT) {
                Outcome::Exited {
                    success: true,
                    status,
                } => limited!(OUTCOME_LOG, key, info, "{what} done ({status})"),
                Outcome::Exited { status, .. } => {
                    limited!(OUTCOME_LOG, key, warn, "{what} failed ({status})")
                }
                Outcome::Killed => limited!(
                    OUTCOME_LOG,
                    key,
                    warn,
                    "{what} killed after {} s",
                    ALERT_TIMEOUT.as_secs()
                ),
                Outcome::Error(e) => limited!(OUTCOME_LOG, key, error, "{what}: {e}"),
            }
        });
    }
}

/// Runs `script` with the target's arguments (blocking), killing its process group after
/// `timeout`.
pub fn run(script: &str, id: u32, addr: IpAddr, reason: &str, timeout: Duration) -> Outcome {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(format!("{script} \"$@\""))
        .arg("fulcrum-alert")
        .arg(id.to_string())
        .arg(addr.to_string())
        .arg(reason);
    scripts::run(&mut command, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    const ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 235, 210, 44));

    #[test]
    fn arguments_reach_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = dir.path().join("record.sh");
        std::fs::write(
            &script,
            format!("printf '%s|' \"$@\" > {}\n", out.display()),
        )
        .unwrap();
        let command = format!("sh {} first", script.display());
        let outcome = run(&command, 2, ADDR, "agent no reply for 13 s", ALERT_TIMEOUT);
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

    #[test]
    fn failure_is_reported() {
        let outcome = run("exit 3;", 1, ADDR, "x", ALERT_TIMEOUT);
        assert!(
            matches!(outcome, Outcome::Exited { success: false, ref status } if status.contains('3')),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_hanging_script_and_its_children_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // A background child that would outlive the shell if only the shell were killed.
        let script = format!("sleep 100 & echo $! > {}; sleep 30;", pid_file.display());
        let started = Instant::now();
        let outcome = run(&script, 1, ADDR, "x", Duration::from_millis(300));
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

    #[test]
    fn a_flood_of_transitions_runs_a_bounded_number_of_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        // Each run takes a while, so the flood outpaces the queue.
        let script = format!("sleep 0.1; echo $1 >> {};", ran.display());
        let alerts = Alerts::default();
        for n in 0..500 {
            alerts.spawn("alert", script.clone(), n, ADDR, "flood".into());
        }
        let dropped = alerts.not_run();
        let accepted = 500 - dropped;
        assert!(
            accepted <= QUEUE_CAPACITY as u64 + 1,
            "{accepted} scripts accepted"
        );
        // What was accepted runs, in order, one at a time.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let lines: Vec<u32> = std::fs::read_to_string(&ran)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.parse().ok())
                .collect();
            if lines.len() as u64 == accepted {
                assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {accepted} ran",
                lines.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
