//! `vrrp { notify "script" }`: runs the script on every transition with the new state (`MASTER`,
//! `BACKUP`, `INIT`) as its argument. The driver only queues the state; one notifier thread runs
//! the scripts in transition order ([`ScriptQueue`], at most [`QUEUE_CAPACITY`] waiting: a
//! transition that finds it full runs no script and is counted and logged, rate-limited), each
//! through `sh -c` (so the setting may carry arguments of its own) in a process group of its
//! own, killed with everything it started after a time limit. The driver never waits for a
//! script.
//!
//! Whatever was dropped, the script always hears the **last** transition: a script that starts
//! or stops services on MASTER/BACKUP must end in the node's real state. The newest queued job,
//! once its script has run, runs it again with the latest state if a transition after it found
//! the queue full (and so on until it has caught up); a dropped transition in the middle of a
//! flood is lost, its successor is not.

use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
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
    order: Arc<Mutex<Order>>,
}

/// Which transitions were queued, so the newest queued job can catch up with dropped ones.
#[derive(Debug, Default)]
struct Order {
    /// The latest transition (numbered from 1) and its state.
    latest: u64,
    latest_state: &'static str,
    /// The newest transition whose job is queued, running or has caught up.
    newest_queued: u64,
}

impl Notifier {
    pub fn new(script: Option<String>) -> Notifier {
        Notifier {
            script: script.map(|s| (s, ScriptQueue::new("vrrp-notify", 1, QUEUE_CAPACITY))),
            order: Arc::default(),
        }
    }

    pub fn notify(&self, state: &'static str) {
        let Some((script, queue)) = &self.script else {
            return;
        };
        // Held across the (non-blocking) submit so a finishing job sees a consistent order.
        let mut order = lock(&self.order);
        order.latest += 1;
        order.latest_state = state;
        let number = order.latest;
        let (script, shared) = (script.clone(), self.order.clone());
        let queued = queue.submit(&format!("vrrp: notify {state}"), move || {
            run(&script, state);
            catch_up(&script, number, &shared);
        });
        if queued {
            order.newest_queued = number;
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

fn lock(order: &Mutex<Order>) -> std::sync::MutexGuard<'_, Order> {
    order.lock().unwrap_or_else(PoisonError::into_inner)
}

/// After the job of transition `number` ran: if it is the newest queued one and later
/// transitions were dropped, run the script with the latest state until nothing is left over.
fn catch_up(script: &str, number: u64, order: &Mutex<Order>) {
    let mut ran = number;
    loop {
        let state = {
            let mut order = lock(order);
            if order.newest_queued != ran || order.latest == ran {
                return;
            }
            ran = order.latest;
            order.newest_queued = ran;
            order.latest_state
        };
        run(script, state);
    }
}

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

    /// 300 alternating transitions and a final INIT against a script slow enough for the flood to outpace it:
    /// most are dropped (counted), the ones that run run in order, and the last one always runs
    /// (a queue that keeps only its first 17 would never run the INIT).
    #[test]
    fn a_flood_of_transitions_is_bounded_in_order_and_ends_on_the_last_state() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let script = format!("sleep 0.05; printf '%s\\n' >> {}", ran.display());
        let notifier = Notifier::new(Some(script));
        for n in 0..300 {
            notifier.notify(if n % 2 == 0 { "MASTER" } else { "BACKUP" });
        }
        notifier.notify("INIT");
        let not_run = notifier.not_run();
        assert!(not_run > 0, "the flood must outpace the script");
        drop(notifier); // waits for the queued ones, and their catching up
        let lines = std::fs::read_to_string(&ran).unwrap();
        let states: Vec<&str> = lines.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(states.first(), Some(&"MASTER"));
        assert_eq!(states.last(), Some(&"INIT"), "{states:?}");
        // Runs: the queued ones, plus at most one catch-up per queued job.
        let queued = 301 - not_run;
        let runs = states.len() as u64;
        assert!(
            runs >= queued && runs <= 2 * queued,
            "{runs} runs for {queued} queued: {states:?}"
        );
    }

    #[test]
    fn without_a_flood_every_transition_runs_once() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let notifier = Notifier::new(Some(format!("printf '%s\\n' >> {}", ran.display())));
        for state in ["BACKUP", "MASTER", "BACKUP"] {
            notifier.notify(state);
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(notifier);
        let lines = std::fs::read_to_string(&ran).unwrap();
        assert_eq!(lines, "BACKUP\nMASTER\nBACKUP\n");
    }
}
