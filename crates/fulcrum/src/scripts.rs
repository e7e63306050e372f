//! Running operator scripts (target `alert`/`upalert`, VRRP `notify`) without letting a flood
//! of events or a hanging script pile up processes. [`run`] starts one script in a process group
//! of its own (stdin, stdout and stderr on /dev/null) and, past its time limit, kills the whole
//! group, so whatever the script started in the background goes too. A [`ScriptQueue`] runs
//! jobs on worker threads of its own, in submission order, with a bounded queue: a job that
//! does not fit is not run, but counted, and logged (rate-limited) with the running count.
//! Submitting never blocks the caller.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::loglimit::LogLimiter;

/// How a script run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exited, with this status text (`exit status: 0`).
    Exited { success: bool, status: String },
    /// Still running at the time limit: its process group was killed.
    Killed,
    /// Could not be started or waited for.
    Error(String),
}

/// Runs `command` to completion in a new process group, killing the group after `limit`.
/// Blocks the calling thread (a queue's worker).
pub fn run(command: &mut Command, limit: Duration) -> Outcome {
    use std::os::unix::process::CommandExt as _;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::Error(format!("could not start: {e}")),
    };
    // The group's id is the leader's pid (`process_group(0)`).
    let group = i32::try_from(child.id()).ok().map(Pid::from_raw);
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Outcome::Exited {
                    success: status.success(),
                    status: status.to_string(),
                }
            }
            Ok(None) if Instant::now() >= deadline => {
                if let Some(group) = group {
                    let _ = killpg(group, Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Killed;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Outcome::Error(e.to_string()),
        }
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Jobs not run because the queue was full, logged at most 5 times in 10 s per queue.
static OVERFLOW_LOG: LogLimiter = LogLimiter::new(5, Duration::from_secs(10));

/// Worker threads running jobs in order from a bounded queue. Dropping it lets the queued jobs
/// finish (each bounded by its script's limit) and joins the workers.
pub struct ScriptQueue {
    name: &'static str,
    /// Distinguishes queues in the overflow log limiter.
    log_key: u64,
    sender: Option<SyncSender<Job>>,
    dropped: AtomicU64,
    workers: Vec<JoinHandle<()>>,
}

impl ScriptQueue {
    /// `workers` threads (1 keeps jobs strictly in order) and room for `capacity` waiting jobs.
    pub fn new(name: &'static str, workers: usize, capacity: usize) -> ScriptQueue {
        let (sender, receiver) = mpsc::sync_channel::<Job>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..workers.max(1))
            .filter_map(|n| {
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{n}"))
                    .spawn(move || loop {
                        let job = receiver
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(_closed) => return,
                        }
                    })
                    .map_err(|e| tracing::error!("{name}: cannot start a script thread: {e}"))
                    .ok()
            })
            .collect();
        ScriptQueue {
            name,
            log_key: name
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b)),
            sender: Some(sender),
            dropped: AtomicU64::new(0),
            workers,
        }
    }

    /// Queues `job` (what to run: [`run`] and logging its outcome); false, counted and logged,
    /// when the queue is full.
    pub fn submit(&self, what: &str, job: impl FnOnce() + Send + 'static) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        match sender.try_send(Box::new(job)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                crate::limited!(
                    OVERFLOW_LOG,
                    self.log_key,
                    warn,
                    "{}: too many scripts waiting, {what} not run ({dropped} not run so far)",
                    self.name
                );
                false
            }
        }
    }

    /// Jobs not run because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for ScriptQueue {
    fn drop(&mut self) {
        self.sender = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(script);
        command
    }

    /// Whether `pid` is gone (or a zombie waiting for its new parent to reap it).
    fn gone(pid: i32) -> bool {
        let stat = format!("/proc/{pid}/stat");
        !Path::new(&stat).exists()
            || std::fs::read_to_string(&stat)
                .unwrap_or_default()
                .contains(") Z ")
    }

    #[test]
    fn a_timed_out_script_is_killed_with_the_child_that_would_outlive_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 100 & echo $! > {}; sleep 30", pid_file.display());
        let outcome = run(&mut shell(&script), Duration::from_millis(300));
        assert_eq!(outcome, Outcome::Killed);
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !gone(pid) {
            assert!(
                Instant::now() < deadline,
                "sleep 100 ({pid}) outlived the kill"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn exit_status_is_reported() {
        assert_eq!(
            run(&mut shell("exit 0"), Duration::from_secs(5)),
            Outcome::Exited {
                success: true,
                status: "exit status: 0".into()
            }
        );
        assert!(matches!(
            run(&mut shell("exit 3"), Duration::from_secs(5)),
            Outcome::Exited { success: false, .. }
        ));
        assert!(matches!(
            run(
                &mut Command::new("/nonexistent/script"),
                Duration::from_secs(5)
            ),
            Outcome::Error(_)
        ));
    }

    #[test]
    fn a_flood_of_jobs_is_bounded_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let queue = ScriptQueue::new("test-scripts", 1, 4);
        let mut accepted = 0;
        for n in 0..200 {
            let script = format!("sleep 0.2; echo {n} >> {}", ran.display());
            if queue.submit("test", move || {
                run(&mut shell(&script), Duration::from_secs(5));
            }) {
                accepted += 1;
            }
        }
        // One running (or about to) and four waiting: nothing like 200 processes.
        assert!((4..=6).contains(&accepted), "{accepted} accepted");
        assert_eq!(queue.dropped(), 200 - accepted);
        drop(queue); // runs what was queued, in order
        let lines: Vec<u32> = std::fs::read_to_string(&ran)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(lines.len() as u64, accepted);
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "in order: {lines:?}");
    }
}
