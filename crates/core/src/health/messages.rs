//! What goes in and out of the health-check [`Scheduler`](super::Scheduler): probe requests and
//! results, configuration input, transitions, drop reasons, counters and status snapshots.
//! Plain data, no behaviour beyond counting.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::check::{CheckKind, CheckStatus, Probe};
use crate::model::Config;

/// Identifies one probe; never reused within a scheduler.
pub type ProbeId = u64;

/// A probe the driver must send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub id: ProbeId,
    pub target: u32,
    pub addr: IpAddr,
    pub probe: Probe,
    /// The driver may give up after this long; the scheduler then records `no reply` itself,
    /// so reporting a timeout is optional.
    pub reply_within: Duration,
}

/// What a driver learned from one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub target: u32,
    pub check: CheckKind,
    pub id: ProbeId,
    /// The probe got its answer (echo reply, handshake, agent reply, authoritative SOA).
    pub ok: bool,
    pub rtt: Option<Duration>,
    /// The agent's value (agent checks; 0 means down).
    pub value: Option<u32>,
    /// Why it failed (`connection refused`), shown in `show targets` and down reasons.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    ProbeResult(ProbeResult),
    /// A new configuration (the first one, or a reload): its registered targets with their
    /// checks, and the checks it implies ([`dsr_path_checks`](super::dsr_path_checks)).
    /// Unchanged checks keep their state.
    Reconfigure(Arc<Config>),
}

/// Why a target changed state: its checks, or the configuration (no alert scripts for those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Check,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Probe(ProbeRequest),
    TargetUp {
        target: u32,
        reason: String,
        cause: Cause,
    },
    /// `reason` reads like `agent no reply for 13 s`.
    TargetDown {
        target: u32,
        reason: String,
        cause: Cause,
    },
    /// A target's agent reported a different value (for `method agent`).
    AgentValue {
        target: u32,
        value: u32,
    },
}

fulcrum_wire::counted_enum! {
    /// Why a probe result was ignored.
    pub enum DropReason {
        /// No such probe is outstanding: never sent, already answered, expired, or its check
        /// was reconfigured or removed since.
        StaleProbe => "stale-probe",
        /// The probe exists but was sent for another target or check.
        MismatchedProbe => "mismatched-probe",
    }
}

/// Counters for `show health` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub probes_sent: u64,
    pub results_accepted: u64,
    pub probes_unanswered: u64,
    pub stale_probe: u64,
    pub mismatched_probe: u64,
}

impl Counters {
    pub(super) fn count(&mut self, reason: DropReason) {
        match reason {
            DropReason::StaleProbe => self.stale_probe += 1,
            DropReason::MismatchedProbe => self.mismatched_probe += 1,
        }
    }
}

/// A target's health, as `show targets` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    pub id: u32,
    pub addr: IpAddr,
    pub enabled: bool,
    pub operational: bool,
    /// In [`CheckKind`] order.
    pub checks: Vec<CheckStatus>,
}
