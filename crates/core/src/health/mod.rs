//! The health-check scheduler: a pure state machine that decides when each target's checks are
//! probed and whether each target is operational. Drivers carry out the [`Output::Probe`]
//! requests and feed the results back; the daemon logs the transitions, runs `alert`/`upalert`
//! and tells the proxy which targets may take traffic.
//!
//! Rules: every configured check (`ping`, `tcpopen`, `agent`, `dns`) is probed at once
//! and then every INTERVAL; a check fails once it has had no success for TIMEOUT (counted from
//! its last success, or from when it was configured); it recovers on the next success. A probe
//! unanswered after one INTERVAL is recorded as `no reply`, and any result for it arriving later
//! is stale. An agent reply passes only with a non-zero value; a 0 is a failed probe like any
//! other, so the agent check, too, goes down after TIMEOUT without success (the same hysteresis
//! for every check: one bad reading does not empty a target). A target is operational while it
//! is registered, enabled and none of its checks is down.
//!
//! Start state: a new target is operational at once, and each check gets one full TIMEOUT to
//! produce its first success (its state shows `pending` until then). This is BalanceNG's
//! behaviour and what an operator restarting or reloading a balancer expects: service goes on
//! without a blackout while the first probes are in flight, and a dead target is taken out
//! exactly as it would be later in its life, TIMEOUT after the last sign of life. The
//! alternative (down until a first success) would drop every query for the first round trip
//! of the slowest check after each start, and flap with `alert`/`upalert` on every reload.
//!
//! Input contract: a configuration enters only as [`Input::Reconfigure`], which takes its
//! targets' own checks and the ones it implies ([`dsr_path_checks`]) together.
//!
//! Output contract: after [`Input::Reconfigure`] every newly configured target appears in
//! exactly one [`Output::TargetUp`] or [`Output::TargetDown`] with [`Cause::Admin`] (its initial
//! state); afterwards outputs appear only on changes. Results for unknown, expired, already
//! answered or reconfigured probes are counted as a [`DropReason`] and otherwise ignored.

mod check;
mod extra;
mod messages;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

pub use check::{CheckKind, CheckSpec, CheckState, CheckStatus, LastResult, Probe, NO_REPLY};
pub use extra::dsr_path_checks;
pub use messages::{
    Cause, Counters, DropReason, Input, Output, ProbeId, ProbeRequest, ProbeResult, TargetStatus,
};

use crate::model::{Config, Target};
use check::CheckRun;

#[derive(Debug)]
struct TargetRun {
    addr: IpAddr,
    enabled: bool,
    operational: bool,
    /// In [`CheckKind`] order, at most one per kind; each with the generation that issued
    /// its outstanding probes.
    checks: Vec<(u64, CheckRun)>,
}

impl TargetRun {
    fn healthy(&self) -> bool {
        self.checks
            .iter()
            .all(|(_, run)| run.status.state.passing())
    }

    fn check_mut(&mut self, kind: CheckKind) -> Option<&mut (u64, CheckRun)> {
        self.checks
            .iter_mut()
            .find(|(_, run)| run.spec().kind() == kind)
    }
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    target: u32,
    kind: CheckKind,
    generation: u64,
    expires: Instant,
}

/// The scheduler. See the module documentation for its rules.
#[derive(Debug, Default)]
pub struct Scheduler {
    targets: BTreeMap<u32, TargetRun>,
    outstanding: BTreeMap<ProbeId, Outstanding>,
    next_probe_id: ProbeId,
    next_generation: u64,
    outputs: VecDeque<Output>,
    counters: Counters,
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// Takes a configuration: its registered targets with their checks plus the checks it
    /// implies ([`dsr_path_checks`]). Called through [`Input::Reconfigure`], the one way in for
    /// a configuration, so no caller can forget the implied checks.
    fn reconfigure(&mut self, now: Instant, config: &Config) {
        self.set_targets_with_extra(now, config.targets.values(), &dsr_path_checks(config));
    }

    /// Unregistered targets are not probed. A target whose address is unchanged keeps the state
    /// of its unchanged checks; a check whose parameters changed keeps its state and is probed
    /// again at once; a new check starts `pending`; a target with a new address starts over.
    /// `extra`: checks beyond the target's own, by target id; at most one check per
    /// [`CheckKind`], so an extra check of a kind the target already has is ignored.
    fn set_targets_with_extra<'a>(
        &mut self,
        now: Instant,
        targets: impl IntoIterator<Item = &'a Target>,
        extra: &BTreeMap<u32, Vec<CheckSpec>>,
    ) {
        let wanted: BTreeMap<u32, &Target> = targets
            .into_iter()
            .filter(|t| t.registered)
            .map(|t| (t.id, t))
            .collect();

        let removed: Vec<u32> = (self.targets.keys())
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in removed {
            if let Some(run) = self.targets.remove(&id) {
                if run.operational {
                    self.push_transition(id, false, "removed from the configuration", Cause::Admin);
                }
            }
        }

        for (id, target) in wanted {
            let mut specs = CheckSpec::of_target(target);
            for spec in extra.get(&id).into_iter().flatten() {
                if specs.iter().all(|s| s.kind() != spec.kind()) {
                    specs.push(spec.clone());
                }
            }
            specs.sort_by_key(CheckSpec::kind);
            match self.targets.get_mut(&id) {
                Some(run) if run.addr == target.ipaddr => {
                    let was_enabled = run.enabled;
                    run.enabled = target.enabled;
                    let mut checks = Vec::with_capacity(specs.len());
                    for spec in specs {
                        let kept = run
                            .checks
                            .iter()
                            .position(|(_, c)| c.spec().kind() == spec.kind())
                            .map(|index| run.checks.swap_remove(index));
                        checks.push(match kept {
                            Some(kept) if *kept.1.spec() == spec => kept,
                            Some((_, mut changed)) => {
                                changed.reconfigure(spec, now);
                                (bump(&mut self.next_generation), changed)
                            }
                            None => (bump(&mut self.next_generation), CheckRun::new(spec, now)),
                        });
                    }
                    run.checks = checks;
                    let reason = match (was_enabled, target.enabled) {
                        (true, false) => "disabled",
                        (false, true) => "enabled",
                        _ => "checks reconfigured",
                    };
                    self.update_operational(id, reason, Cause::Admin);
                }
                existing => {
                    let reason = if existing.is_some() {
                        "address changed"
                    } else {
                        "configured"
                    };
                    let checks = specs
                        .into_iter()
                        .map(|spec| (bump(&mut self.next_generation), CheckRun::new(spec, now)))
                        .collect();
                    let run = TargetRun {
                        addr: target.ipaddr,
                        enabled: target.enabled,
                        operational: target.enabled,
                        checks,
                    };
                    let reason = if run.operational {
                        reason.to_string()
                    } else {
                        format!("{reason}, disabled")
                    };
                    self.push_transition(id, run.operational, &reason, Cause::Admin);
                    self.targets.insert(id, run);
                }
            }
        }
        // Probes of checks that changed or vanished can no longer be matched to a check.
        let targets = &self.targets;
        self.outstanding
            .retain(|_, out| generation_of(targets, out.target, out.kind) == Some(out.generation));
        self.handle_timeout(now);
    }

    /// Call with each probe result the driver learns and with each new configuration (the
    /// first one before anything else), then drain [`Scheduler::poll_output`] and ask
    /// [`Scheduler::poll_timeout`] again.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::ProbeResult(result) => self.handle_result(now, result),
            Input::Reconfigure(config) => self.reconfigure(now, &config),
        }
    }

    /// Expires unanswered probes, takes down checks whose timeout ran out, and sends the
    /// probes that are due. Call when the instant [`Scheduler::poll_timeout`] named has come
    /// (calling late or early is harmless), then drain [`Scheduler::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<(ProbeId, Outstanding)> = self
            .outstanding
            .iter()
            .filter(|(_, out)| out.expires <= now)
            .map(|(id, out)| (*id, *out))
            .collect();
        for (id, out) in expired {
            self.outstanding.remove(&id);
            self.counters.probes_unanswered += 1;
            if let Some((_, run)) = self.check_of(out.target, out.kind, out.generation) {
                // Dated when its wait ran out, even if this call comes late.
                run.record(out.expires, false, None, NO_REPLY.to_string(), None);
            }
        }

        let ids: Vec<u32> = self.targets.keys().copied().collect();
        for id in ids {
            let Some(run) = self.targets.get_mut(&id) else {
                continue;
            };
            let reasons: Vec<String> = run
                .checks
                .iter_mut()
                .filter_map(|(_, check)| check.expire(now))
                .collect();
            if !reasons.is_empty() {
                self.update_operational(id, &reasons.join("; "), Cause::Check);
            }
            self.send_due_probes(id, now);
        }
    }

    /// When [`Scheduler::handle_timeout`] must next be called; ask again after every
    /// `handle_*` call. `None`: no check is configured.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let checks = self
            .targets
            .values()
            .flat_map(|run| run.checks.iter().map(|(_, check)| check.next_deadline()));
        let probes = self.outstanding.values().map(|out| out.expires);
        checks.chain(probes).min()
    }

    /// The next thing to carry out (a probe to send, a transition, an agent value), in order.
    /// Drain it after every `handle_*` call, until `None`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether a target may take traffic (unknown targets may not).
    pub fn is_operational(&self, target: u32) -> bool {
        self.targets.get(&target).is_some_and(|run| run.operational)
    }

    /// The last value a target's agent reported.
    pub fn agent_value(&self, target: u32) -> Option<u32> {
        let run = self.targets.get(&target)?;
        run.checks
            .iter()
            .find_map(|(_, check)| check.status.agent_value)
    }

    pub fn status(&self, target: u32) -> Option<TargetStatus> {
        self.targets.get(&target).map(|run| status_of(target, run))
    }

    /// Every probed target in id order.
    pub fn statuses(&self) -> Vec<TargetStatus> {
        self.targets
            .iter()
            .map(|(id, run)| status_of(*id, run))
            .collect()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    fn handle_result(&mut self, now: Instant, result: ProbeResult) {
        let Some(out) = self.outstanding.get(&result.id).copied() else {
            self.counters.count(DropReason::StaleProbe);
            return;
        };
        if out.target != result.target || out.kind != result.check {
            self.counters.count(DropReason::MismatchedProbe);
            return;
        }
        self.outstanding.remove(&result.id);
        if self
            .check_of(out.target, out.kind, out.generation)
            .is_none()
        {
            self.counters.count(DropReason::StaleProbe);
            return;
        }
        self.counters.results_accepted += 1;
        let Some((_, check)) = self.check_of(out.target, out.kind, out.generation) else {
            return;
        };
        let previous_value = check.status.agent_value;
        let (ok, detail) = judge(&result);
        check.record(now, ok, result.rtt, detail, result.value);
        let kind = out.kind;
        if let Some(value) = result.value.filter(|v| Some(*v) != previous_value) {
            if kind == CheckKind::Agent {
                self.outputs.push_back(Output::AgentValue {
                    target: out.target,
                    value,
                });
            }
        }
        if ok {
            self.update_operational(out.target, &format!("{} ok", kind.keyword()), Cause::Check);
        }
    }

    fn send_due_probes(&mut self, id: u32, now: Instant) {
        let Some(run) = self.targets.get_mut(&id) else {
            return;
        };
        for (generation, check) in run.checks.iter_mut() {
            if !check.take_due_probe(now) {
                continue;
            }
            self.next_probe_id += 1;
            let probe_id = self.next_probe_id;
            let spec = check.spec();
            self.outstanding.insert(
                probe_id,
                Outstanding {
                    target: id,
                    kind: spec.kind(),
                    generation: *generation,
                    expires: now + spec.interval,
                },
            );
            self.counters.probes_sent += 1;
            self.outputs.push_back(Output::Probe(ProbeRequest {
                id: probe_id,
                target: id,
                addr: run.addr,
                probe: spec.probe.clone(),
                reply_within: spec.interval,
            }));
        }
    }

    fn check_of(
        &mut self,
        target: u32,
        kind: CheckKind,
        generation: u64,
    ) -> Option<&mut (u64, CheckRun)> {
        self.targets
            .get_mut(&target)?
            .check_mut(kind)
            .filter(|(current, _)| *current == generation)
    }

    /// Recomputes a target's operational flag and reports a change with `reason`.
    fn update_operational(&mut self, id: u32, reason: &str, cause: Cause) {
        let Some(run) = self.targets.get_mut(&id) else {
            return;
        };
        let operational = run.enabled && run.healthy();
        if operational == run.operational {
            return;
        }
        run.operational = operational;
        self.push_transition(id, operational, reason, cause);
    }

    fn push_transition(&mut self, target: u32, up: bool, reason: &str, cause: Cause) {
        let reason = reason.to_string();
        self.outputs.push_back(if up {
            Output::TargetUp {
                target,
                reason,
                cause,
            }
        } else {
            Output::TargetDown {
                target,
                reason,
                cause,
            }
        });
    }
}

/// Whether a result counts as a success, and the detail to record for it.
fn judge(result: &ProbeResult) -> (bool, String) {
    let detail = if result.detail.is_empty() {
        if result.ok {
            "ok".to_string()
        } else {
            "failed".to_string()
        }
    } else {
        result.detail.clone()
    };
    if result.check != CheckKind::Agent || !result.ok {
        return (result.ok, detail);
    }
    match result.value {
        Some(0) => (false, "value 0".to_string()),
        Some(value) => (true, format!("value {value}")),
        None => (false, "reply without a value".to_string()),
    }
}

fn bump(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}

fn generation_of(targets: &BTreeMap<u32, TargetRun>, target: u32, kind: CheckKind) -> Option<u64> {
    let run = targets.get(&target)?;
    run.checks
        .iter()
        .find(|(_, check)| check.spec().kind() == kind)
        .map(|(generation, _)| *generation)
}

fn status_of(id: u32, run: &TargetRun) -> TargetStatus {
    TargetStatus {
        id,
        addr: run.addr,
        enabled: run.enabled,
        operational: run.operational,
        checks: run.checks.iter().map(|(_, c)| c.status.clone()).collect(),
    }
}
