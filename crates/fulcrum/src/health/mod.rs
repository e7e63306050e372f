//! The health-check driver: the I/O shell around the pure [`Scheduler`] of `fulcrum_core::health`.
//!
//! Contract: [`run`] feeds the scheduler the wall clock (`Instant::now()`), every probe result
//! and every new configuration (unchanged checks keep their state); it carries out each
//! [`Output::Probe`] with a thin async probe ([`probe`]) on its own task and feeds the result
//! back; on each transition it logs one line (`target 2 (127.0.0.44:53) down: agent no reply
//! for 13 s`; rate-limited per target with a count of suppressed lines, [`crate::loglimit`]),
//! tells the data planes ([`planes`]: the proxy's and the DSR plane's
//! `set_operational`, in transition order, off the async threads) and, for transitions caused by
//! checks (not configuration), runs the target's `alert`/`upalert` script ([`alert`]). Nothing
//! here decides anything: the scheduler does. [`Health`] is the shared handle `show targets`
//! reads; its lock is only ever held for a scheduler call, never across an await.

mod alert;
mod dsr_path;
mod ping;
mod planes;
mod probe;
mod show;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use fulcrum_core::health::{dsr_path_checks, Cause, Input, Output, ProbeRequest, Scheduler};
use fulcrum_core::model::{Config, Target};
use tokio::sync::{mpsc, watch};

use crate::limited;
use crate::loglimit::LogLimiter;
use crate::proxy::Proxy;
use planes::Update;
use probe::ProbeContext;

/// Transition lines per target: a target whose answers flip on every probe (a remote peer's
/// choice) gets 20 lines a minute, then a count of the rest.
static TRANSITION_LOG: LogLimiter = LogLimiter::new(20, Duration::from_secs(60));
/// Agent value lines per target (debug level).
static AGENT_VALUE_LOG: LogLimiter = LogLimiter::new(10, Duration::from_secs(60));

/// The health state shared by the driver and the control socket.
#[derive(Clone, Default)]
pub struct Health {
    scheduler: Arc<Mutex<Scheduler>>,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    fn lock(&self) -> MutexGuard<'_, Scheduler> {
        self.scheduler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the scheduler lets `target` take traffic (unknown targets: no).
    pub fn is_operational(&self, target: u32) -> bool {
        self.lock().is_operational(target)
    }

    /// One line per configured check of `target` (state, last result, rtt, failures).
    pub fn check_lines(&self, target: u32, now: Instant) -> Vec<String> {
        let status = self.lock().status(target);
        status
            .map(|s| s.checks.iter().map(|c| c.describe(now)).collect())
            .unwrap_or_default()
    }

    /// Every probed target's status with its checks, in id order (for the metrics).
    pub fn statuses(&self) -> Vec<fulcrum_core::health::TargetStatus> {
        self.lock().statuses()
    }

    /// Runs `attach` with every probed target's verdict and last agent value, by id, while no
    /// transition can be decided: a data plane that starts late (the DSR plane) is seeded with
    /// them and registered inside `attach`, so every later update reaches it (see [`planes`]).
    pub fn attach<R>(&self, attach: impl FnOnce(&[(u32, bool, Option<u32>)]) -> R) -> R {
        let scheduler = self.lock();
        let states: Vec<(u32, bool, Option<u32>)> = scheduler
            .statuses()
            .iter()
            .map(|s| (s.id, s.operational, scheduler.agent_value(s.id)))
            .collect();
        attach(&states)
    }

    /// `show target N`: the detail printed after the target's `show targets` row.
    pub fn show_target(&self, config: &Config, target: u32) -> Result<String, String> {
        let status = self.lock().status(target);
        show::target_detail(config, target, status.as_ref())
    }
}

/// Where a target is reached, for log lines: `127.0.0.44:53` (the port of the first server
/// using it when the target has none).
fn endpoint(config: &Config, target: &Target) -> String {
    let port = target_port(config, target);
    match target.ipaddr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The target's own port, else that of the first server listing it, else 53.
fn target_port(config: &Config, target: &Target) -> u16 {
    target.port.unwrap_or_else(|| {
        config
            .servers
            .values()
            .find(|s| s.targets.contains(&target.id))
            .map_or(53, |s| s.port)
    })
}

/// The driver task: follows the configuration on `changes` (the current one first) and
/// reports to `proxy` and the DSR plane; runs until aborted (the daemon's drivers module starts and stops it).
pub async fn run(health: Health, mut changes: watch::Receiver<Arc<Config>>, proxy: Arc<Proxy>) {
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let (transitions_tx, transitions) = mpsc::unbounded_channel();
    let transitions_task = tokio::spawn(planes::apply(proxy, transitions));
    let _stop_with_us = AbortOnDrop(transitions_task);

    let mut config = changes.borrow_and_update().clone();
    set_targets(&health, &config);
    loop {
        let (outputs, next) = {
            let mut scheduler = health.lock();
            scheduler.handle_timeout(Instant::now());
            let outputs: Vec<Output> = std::iter::from_fn(|| scheduler.poll_output()).collect();
            (outputs, scheduler.poll_timeout())
        };
        for output in outputs {
            carry_out(output, &config, &results_tx, &transitions_tx);
        }
        // No checks at all: wake up now and then anyway; a new configuration wakes us sooner.
        let wake = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            Some(result) = results.recv() => {
                health.lock().handle_input(Instant::now(), Input::ProbeResult(result));
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                config = changes.borrow_and_update().clone();
                set_targets(&health, &config);
            }
        }
    }
}

/// The configuration's targets with their checks, and a `dsr-path` check for each DSR target
/// ([`fulcrum_core::health::dsr_path_checks`]).
fn set_targets(health: &Health, config: &Config) {
    let extra = dsr_path_checks(config);
    health
        .lock()
        .set_targets_with_extra(Instant::now(), config.targets.values(), &extra);
}

/// Aborts a helper task when the driver ends (or is aborted itself).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn carry_out(
    output: Output,
    config: &Config,
    results: &mpsc::UnboundedSender<fulcrum_core::health::ProbeResult>,
    transitions: &mpsc::UnboundedSender<Update>,
) {
    match output {
        Output::Probe(request) => start_probe(request, config, results),
        Output::TargetUp {
            target,
            reason,
            cause,
        } => transition(config, target, true, &reason, cause, transitions),
        Output::TargetDown {
            target,
            reason,
            cause,
        } => transition(config, target, false, &reason, cause, transitions),
        Output::AgentValue { target, value } => {
            // An agent can change its value on every reply.
            limited!(
                AGENT_VALUE_LOG,
                u64::from(target),
                debug,
                "target {target}: agent value {value}"
            );
            let _ = transitions.send(Update::AgentValue { target, value });
        }
    }
}

fn start_probe(
    request: ProbeRequest,
    config: &Config,
    results: &mpsc::UnboundedSender<fulcrum_core::health::ProbeResult>,
) {
    let context = ProbeContext::of(config, request.target, request.addr);
    let results = results.clone();
    tokio::spawn(async move {
        let within = request.reply_within;
        // Past `reply_within` the scheduler has recorded `no reply` itself; a late result
        // would only be counted as stale.
        if let Ok(result) = tokio::time::timeout(within, probe::run(&request, &context)).await {
            let _ = results.send(result);
        }
    });
}

fn transition(
    config: &Config,
    id: u32,
    up: bool,
    reason: &str,
    cause: Cause,
    transitions: &mpsc::UnboundedSender<Update>,
) {
    let state = if up { "up" } else { "down" };
    let key = u64::from(id);
    let Some(target) = config.targets.get(&id) else {
        limited!(TRANSITION_LOG, key, info, "target {id} {state}: {reason}");
        let _ = transitions.send(Update::Operational { target: id, up });
        return;
    };
    let endpoint = endpoint(config, target);
    if up || cause == Cause::Admin {
        limited!(
            TRANSITION_LOG,
            key,
            info,
            "target {id} ({endpoint}) {state}: {reason}"
        );
    } else {
        limited!(
            TRANSITION_LOG,
            key,
            warn,
            "target {id} ({endpoint}) {state}: {reason}"
        );
    }
    let _ = transitions.send(Update::Operational { target: id, up });
    if cause == Cause::Check {
        let script = if up { &target.upalert } else { &target.alert };
        if let Some(script) = script {
            alert::spawn(
                if up { "upalert" } else { "alert" },
                script.clone(),
                id,
                target.ipaddr,
                reason.to_string(),
            );
        }
    }
}
