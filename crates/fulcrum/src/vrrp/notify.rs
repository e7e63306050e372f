//! `vrrp { notify "script" }`: runs the script on every transition with the new state (`MASTER`,
//! `BACKUP`, `INIT`) as its argument. The driver only queues the state; one notifier thread runs
//! the scripts in transition order, each through `sh -c` (so the setting may carry arguments of
//! its own) with a time limit, after which the script is killed by its PID. The driver never
//! waits for a script.

use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

/// How long one notify script may run.
const NOTIFY_LIMIT: Duration = Duration::from_secs(10);

pub struct Notifier {
    queue: Option<Sender<&'static str>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Notifier {
    pub fn new(script: Option<String>) -> Notifier {
        let Some(script) = script else {
            return Notifier {
                queue: None,
                thread: None,
            };
        };
        let (queue, states) = mpsc::channel::<&'static str>();
        let thread = std::thread::Builder::new()
            .name("vrrp-notify".into())
            .spawn(move || {
                for state in states {
                    run(&script, state);
                }
            })
            .map_err(|e| tracing::error!("vrrp: cannot start the notify thread: {e}"))
            .ok();
        Notifier {
            queue: Some(queue),
            thread,
        }
    }

    pub fn notify(&self, state: &'static str) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(state);
        }
    }
}

impl Drop for Notifier {
    /// Lets the queued scripts run (each bounded by the limit) so `INIT` on shutdown is seen.
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(script: &str, state: &str) {
    let spawned = Command::new("/bin/sh")
        .args(["-c", &format!("{script} \"$1\""), "fulcrum-notify", state])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            tracing::error!("vrrp: notify {script:?} {state}: {e}");
            return;
        }
    };
    let deadline = Instant::now() + NOTIFY_LIMIT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return,
            Ok(Some(status)) => {
                tracing::warn!("vrrp: notify {script:?} {state} exited with {status}");
                return;
            }
            Ok(None) if Instant::now() >= deadline => {
                tracing::warn!("vrrp: notify {script:?} {state} ran over {NOTIFY_LIMIT:?}; killed");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                tracing::warn!("vrrp: notify {script:?} {state}: {e}");
                return;
            }
        }
    }
}
