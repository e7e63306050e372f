//! `vrrp { notify "script" }`: runs the script on every transition with the new state (`MASTER`,
//! `BACKUP`, `INIT`) as its argument. The driver only queues the state; one notifier thread runs
//! the scripts in transition order ([`ScriptQueue`], at most [`QUEUE_CAPACITY`] waiting: a
//! transition that finds it full runs no script and is counted and logged, rate-limited), each
//! through `sh -c` (so the setting may carry arguments of its own) in a process group of its
//! own, killed with everything it started after a time limit. The driver never waits for a
//! script.

use std::process::Command;
use std::time::Duration;

use crate::limited;
use crate::loglimit::LogLimiter;
use crate::scripts::{self, Outcome, ScriptQueue};

/// How long one notify script may run.
const NOTIFY_LIMIT: Duration = Duration::from_secs(10);
/// Transitions waiting for their script; more are not run (counted).
pub const QUEUE_CAPACITY: usize = 16;

pub struct Notifier {
    script: Option<(String, ScriptQueue)>,
}

impl Notifier {
    pub fn new(script: Option<String>) -> Notifier {
        Notifier {
            script: script.map(|s| (s, ScriptQueue::new("vrrp-notify", 1, QUEUE_CAPACITY))),
        }
    }

    pub fn notify(&self, state: &'static str) {
        if let Some((script, queue)) = &self.script {
            let script = script.clone();
            queue.submit(&format!("vrrp: notify {state}"), move || {
                run(&script, state)
            });
        }
    }

    /// Transitions whose script did not run because the queue was full.
    #[cfg(test)]
    pub fn not_run(&self) -> u64 {
        self.script.as_ref().map_or(0, |(_, queue)| queue.dropped())
    }
}

// Dropping the queue lets the queued scripts run (each bounded by the limit), so `INIT` on
// shutdown is seen.

/// Outcome lines: transitions can follow adverts from the network, one per packet.
static OUTCOME_LOG: LogLimiter = LogLimiter::new(10, Duration::from_secs(60));

fn run(script: &str, state: &str) {
    let mut command = Command::new("/bin/sh");
    command.args(["-c", &format!("{script} \"$1\""), "fulcrum-notify", state]);
    match scripts::run(&mut command, NOTIFY_LIMIT) {
        Outcome::Exited { success: true, .. } => {}
        Outcome::Exited { status, .. } => limited!(
            OUTCOME_LOG,
            0,
            warn,
            "vrrp: notify {script:?} {state} exited with {status}"
        ),
        Outcome::Killed => limited!(
            OUTCOME_LOG,
            0,
            warn,
            "vrrp: notify {script:?} {state} ran over {NOTIFY_LIMIT:?}; killed"
        ),
        Outcome::Error(e) => limited!(
            OUTCOME_LOG,
            0,
            error,
            "vrrp: notify {script:?} {state}: {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_transitions_is_bounded_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        // Run as `sleep 0.05; printf '%s\n' >> RAN "$1"`: slow enough for the flood to
        // outpace it.
        let script = format!("sleep 0.05; printf '%s\\n' >> {}", ran.display());
        let notifier = Notifier::new(Some(script));
        for n in 0..300 {
            notifier.notify(if n % 2 == 0 { "MASTER" } else { "BACKUP" });
        }
        let not_run = notifier.not_run();
        assert!(
            not_run >= 300 - QUEUE_CAPACITY as u64 - 1,
            "{not_run} not run"
        );
        drop(notifier); // waits for the queued ones
        let lines = std::fs::read_to_string(&ran).unwrap();
        let states: Vec<&str> = lines.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(states.len() as u64, 300 - not_run, "{states:?}");
        assert_eq!(states.first(), Some(&"MASTER"));
        assert!(
            states.windows(2).all(|w| w[0] != w[1]),
            "alternating: {states:?}"
        );
    }
}
