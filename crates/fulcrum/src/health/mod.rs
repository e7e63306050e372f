//! The health-check driver: the I/O shell around the pure [`Scheduler`] of `fulcrum_core::health`.
//!
//! Contract: [`run`] feeds the scheduler the wall clock (`Instant::now()`), every probe result
//! and every new configuration (unchanged checks keep their state); it carries out each
//! [`Output::Probe`] with a thin async probe ([`probe`]) on its own task and feeds the result
//! back; on each transition it logs one line (`target 2 (127.0.0.44:53) down: agent no reply
//! for 13 s`; rate-limited per target with a count of suppressed lines, [`crate::loglimit`]),
//! tells the data planes ([`planes`]: each running [`DataPlane`]'s `set_operational`, in
//! transition order, off the async threads) and, for transitions caused by checks (not
//! configuration), runs the target's `alert`/`upalert` script ([`alert`]). Nothing here decides
//! anything: the scheduler does. The planes come from the daemon at spawn time as
//! [`HealthPlanes`]; the driver names no plane's global. [`Health`] is the shared handle
//! `show targets` reads and a late plane is seeded from ([`HealthStates`]); its lock is only ever
//! held for a scheduler call, never across an await. It also owns the daemon's count of foreign
//! ICMP messages the ping probes ignored and the queue the alert scripts run from (one per
//! daemon, never process-global).

mod alert;
mod dsr_path;
mod echo;
mod error_text;
mod ping;
mod ping6;
mod planes;
mod probe;
mod show;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use fulcrum_core::health::{Cause, Input, Output, ProbeRequest, Scheduler};
use fulcrum_core::model::{Config, Target};
use tokio::sync::{mpsc, watch};

use crate::dsr::path::PathTotals;
use crate::dsr::Dsr;
use crate::limited;
use crate::loglimit::LogLimiter;
use crate::plane::data_plane::{DataPlane, HealthStates, TargetState};
use crate::plane::slot::PlaneView;
use planes::Update;
use probe::ProbeContext;

/// Transition lines per target: a target whose answers flip on every probe (a remote peer's
/// choice) gets 20 lines a minute, then a count of the rest.
static TRANSITION_LOG: LogLimiter = LogLimiter::new(20, Duration::from_secs(60));
/// Agent value lines per target (debug level).
static AGENT_VALUE_LOG: LogLimiter = LogLimiter::new(10, Duration::from_secs(60));

/// The health state shared by the driver and the control socket (one per daemon).
#[derive(Clone, Default)]
pub struct Health {
    scheduler: Arc<Mutex<Scheduler>>,
    /// ICMP messages ping probes saw that were not the reply they waited for.
    foreign_icmp: Arc<AtomicU64>,
    /// The queue `alert` / `upalert` scripts run from.
    alerts: Arc<alert::Alerts>,
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

    /// The configured checks of `target` (state, last result, rtt, failures).
    pub fn checks(&self, target: u32) -> Vec<fulcrum_core::health::CheckStatus> {
        let status = self.lock().status(target);
        status.map(|s| s.checks).unwrap_or_default()
    }

    /// Whether the scheduler probes `target` (it is registered), and the counts `show target N`
    /// adds for all targets: foreign ICMP messages the ping probes ignored, alert scripts not
    /// run because their queue was full.
    pub fn detail_counts(&self, target: u32) -> (bool, u64, u64) {
        let probed = self.lock().status(target).is_some();
        (
            probed,
            self.foreign_icmp.load(Ordering::Relaxed),
            self.alerts.not_run(),
        )
    }

    /// Every probed target's status with its checks, in id order (for the metrics).
    pub fn statuses(&self) -> Vec<fulcrum_core::health::TargetStatus> {
        self.lock().statuses()
    }

    /// `show target N`: the detail printed after the target's `show targets` row; `dsr_path`:
    /// the running DSR plane's path-probe counters, if it runs.
    pub fn show_target(
        &self,
        config: &Config,
        target: u32,
        dsr_path: Option<PathTotals>,
    ) -> Result<String, String> {
        let status = self.lock().status(target);
        show::target_detail(
            config,
            target,
            status.as_ref(),
            dsr_path,
            self.foreign_icmp.load(Ordering::Relaxed),
            self.alerts.not_run(),
        )
    }
}

impl HealthStates for Health {
    /// Holds the scheduler's lock across `attach`: a data plane that starts late (the DSR plane)
    /// is seeded and published inside it, so every later update reaches it (see [`planes`]).
    fn attach(&self, attach: &mut dyn FnMut(&[TargetState])) {
        let scheduler = self.lock();
        let states: Vec<TargetState> = scheduler
            .statuses()
            .iter()
            .map(|s| TargetState {
                target: s.id,
                operational: s.operational,
                agent_value: scheduler.agent_value(s.id),
            })
            .collect();
        attach(&states);
    }
}

/// The data planes the health driver reports to and probes through, handed over at spawn time.
#[derive(Clone)]
pub struct HealthPlanes {
    /// Every plane that takes verdicts, in the order they get them (the DSR plane first: it swaps
    /// its table at once, while the proxy waits for its workers).
    pub verdicts: Vec<PlaneView<dyn DataPlane>>,
    /// The DSR plane, for the `dsr-path` probe.
    pub dsr: PlaneView<Dsr>,
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
/// reports to the `planes`; runs until aborted (the daemon's drivers module starts and stops it).
pub async fn run(health: Health, mut changes: watch::Receiver<Arc<Config>>, planes: HealthPlanes) {
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let (transitions_tx, transitions) = mpsc::unbounded_channel();
    let transitions_task = tokio::spawn(planes::apply(planes.verdicts, transitions));
    let _stop_with_us = AbortOnDrop(transitions_task);

    let mut config = changes.borrow_and_update().clone();
    reconfigure(&health, &config);
    loop {
        let (outputs, next) = {
            let mut scheduler = health.lock();
            scheduler.handle_timeout(Instant::now());
            let outputs: Vec<Output> = std::iter::from_fn(|| scheduler.poll_output()).collect();
            (outputs, scheduler.poll_timeout())
        };
        for output in outputs {
            carry_out(
                output,
                &health,
                &config,
                &planes.dsr,
                &results_tx,
                &transitions_tx,
            );
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
                reconfigure(&health, &config);
            }
        }
    }
}

/// Hands the scheduler a new configuration (it adds the checks the configuration implies, such
/// as the `dsr-path` check of each DSR target).
fn reconfigure(health: &Health, config: &Arc<Config>) {
    health
        .lock()
        .handle_input(Instant::now(), Input::Reconfigure(Arc::clone(config)));
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
    health: &Health,
    config: &Config,
    dsr: &PlaneView<Dsr>,
    results: &mpsc::UnboundedSender<fulcrum_core::health::ProbeResult>,
    transitions: &mpsc::UnboundedSender<Update>,
) {
    match output {
        Output::Probe(request) => start_probe(request, health, config, dsr, results),
        Output::TargetUp {
            target,
            reason,
            cause,
        } => transition(health, config, target, true, &reason, cause, transitions),
        Output::TargetDown {
            target,
            reason,
            cause,
        } => transition(health, config, target, false, &reason, cause, transitions),
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
    health: &Health,
    config: &Config,
    dsr: &PlaneView<Dsr>,
    results: &mpsc::UnboundedSender<fulcrum_core::health::ProbeResult>,
) {
    let context = ProbeContext::of(
        config,
        request.target,
        request.addr,
        dsr,
        health.foreign_icmp.clone(),
    );
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
    health: &Health,
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
            health.alerts.spawn(
                if up { "upalert" } else { "alert" },
                script.clone(),
                id,
                target.ipaddr,
                reason.to_string(),
            );
        }
    }
}
