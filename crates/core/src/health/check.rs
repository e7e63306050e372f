//! One configured check of one target: its probe schedule and its pass/fail state.
//!
//! Contract: a probe is due at the check's start and then every `interval`; the check fails at
//! `last_success + timeout` (the start counts as a success, so a new check is given one full
//! timeout to prove itself) and recovers on the next successful result. Results only update
//! the record; time alone takes a check down. Nothing here knows about probe ids or targets.

use std::time::{Duration, Instant};

use crate::model::{DnsCheck, PingCheck, PortCheck, Target};

/// The kinds of check a target can carry, in the order they are probed and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckKind {
    Ping,
    TcpOpen,
    Agent,
    Dns,
    /// Not configured by the operator: the scheduler adds it for DSR targets, a probe
    /// addressed to the VIP and sent to the target's MAC, proving the target holds the VIP.
    DsrPath,
}

impl CheckKind {
    /// The configuration keyword, also used in log lines (`agent no reply for 13 s`).
    pub fn keyword(self) -> &'static str {
        match self {
            CheckKind::Ping => "ping",
            CheckKind::TcpOpen => "tcpopen",
            CheckKind::Agent => "agent",
            CheckKind::Dns => "dns",
            CheckKind::DsrPath => "dsr-path",
        }
    }
}

/// What a probe must do, with the parameters its driver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// ICMP echo to the target address.
    Ping,
    /// A TCP handshake to `port`, closed at once.
    TcpOpen { port: u16 },
    /// An agent request to UDP `port`; the reply's value is reported back.
    Agent { port: u16 },
    /// An authoritative SOA query for `zone`.
    Dns { zone: String },
    /// A query to `vip:port` sent at layer 2 to the target's MAC.
    DsrPath { vip: std::net::IpAddr, port: u16 },
}

impl Probe {
    pub fn kind(&self) -> CheckKind {
        match self {
            Probe::Ping => CheckKind::Ping,
            Probe::TcpOpen { .. } => CheckKind::TcpOpen,
            Probe::Agent { .. } => CheckKind::Agent,
            Probe::Dns { .. } => CheckKind::Dns,
            Probe::DsrPath { .. } => CheckKind::DsrPath,
        }
    }
}

/// A check as configured: what to probe, how often, and how long without success is a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
}

impl CheckSpec {
    /// The checks a target's configuration asks for, in [`CheckKind`] order.
    pub fn of_target(target: &Target) -> Vec<CheckSpec> {
        let mut specs = Vec::new();
        if let Some(PingCheck { interval, timeout }) = target.ping {
            specs.push(CheckSpec::new(Probe::Ping, interval, timeout));
        }
        if let Some(PortCheck {
            port,
            interval,
            timeout,
        }) = target.tcpopen
        {
            specs.push(CheckSpec::new(Probe::TcpOpen { port }, interval, timeout));
        }
        if let Some(PortCheck {
            port,
            interval,
            timeout,
        }) = target.agent
        {
            specs.push(CheckSpec::new(Probe::Agent { port }, interval, timeout));
        }
        if let Some(DnsCheck {
            zone,
            interval,
            timeout,
        }) = &target.dns
        {
            let probe = Probe::Dns { zone: zone.clone() };
            specs.push(CheckSpec::new(probe, *interval, *timeout));
        }
        specs
    }

    /// A check with whole-second INTERVAL and TIMEOUT, as the configuration states them.
    pub fn new(probe: Probe, interval_s: u32, timeout_s: u32) -> CheckSpec {
        CheckSpec {
            probe,
            // An interval of 0 would ask for probes in a busy loop; the validator refuses it,
            // and this keeps a hand-built model from doing so either.
            interval: Duration::from_secs(u64::from(interval_s.max(1))),
            timeout: Duration::from_secs(u64::from(timeout_s.max(1))),
        }
    }

    pub fn kind(&self) -> CheckKind {
        self.probe.kind()
    }
}

/// Whether a check currently counts as passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// No result yet and its first timeout has not run out: passing (see the module docs of
    /// `health` for why a new target starts operational).
    Pending,
    Up,
    Down,
}

impl CheckState {
    pub fn passing(self) -> bool {
        self != CheckState::Down
    }

    pub fn keyword(self) -> &'static str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Up => "up",
            CheckState::Down => "down",
        }
    }
}

/// The last result a check received (a probe that went unanswered counts, as "no reply").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResult {
    pub at: Instant,
    pub ok: bool,
    /// What the driver said (`connection refused`, `value 0`), or `no reply`.
    pub detail: String,
}

/// A check's state and history, as `show targets` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    pub spec: CheckSpec,
    pub state: CheckState,
    /// When `state` last changed (or the check was created).
    pub since: Instant,
    pub last_result: Option<LastResult>,
    pub last_rtt: Option<Duration>,
    /// Failed or unanswered probes since the check was created.
    pub failures: u64,
    /// Failed or unanswered probes since the last success.
    pub consecutive_failures: u64,
    /// The last agent value received (agent checks only).
    pub agent_value: Option<u32>,
}

impl CheckSpec {
    /// The check as the configuration writes it: `ping 5,12`, `agent 439,5,13`.
    pub fn describe(&self) -> String {
        let (i, t) = (self.interval.as_secs(), self.timeout.as_secs());
        let keyword = self.kind().keyword();
        match &self.probe {
            Probe::Ping => format!("{keyword} {i},{t}"),
            Probe::TcpOpen { port } | Probe::Agent { port } => format!("{keyword} {port},{i},{t}"),
            Probe::Dns { zone } => format!("{keyword} {zone},{i},{t}"),
            Probe::DsrPath { vip, port } => {
                let at = std::net::SocketAddr::new(*vip, *port);
                format!("{keyword} {at},{i},{t}")
            }
        }
    }
}

impl CheckStatus {
    /// One line for `show targets`:
    /// `agent 439,5,13 up for 35 s; last ok (value 3) 2 s ago, rtt 0.4 ms; 3 failures (0 in a row)`.
    pub fn describe(&self, now: Instant) -> String {
        let mut line = format!(
            "{} {} for {} s",
            self.spec.describe(),
            self.state.keyword(),
            now.saturating_duration_since(self.since).as_secs()
        );
        match &self.last_result {
            Some(last) => line.push_str(&format!(
                "; last {} ({}) {} s ago",
                if last.ok { "ok" } else { "failed" },
                last.detail,
                now.saturating_duration_since(last.at).as_secs()
            )),
            None => line.push_str("; no result yet"),
        }
        if let Some(rtt) = self.last_rtt {
            line.push_str(&format!(", rtt {:.1} ms", rtt.as_secs_f64() * 1000.0));
        }
        line.push_str(&format!(
            "; {} failures ({} in a row)",
            self.failures, self.consecutive_failures
        ));
        line
    }
}

/// One check's live state inside the scheduler.
#[derive(Debug, Clone)]
pub(crate) struct CheckRun {
    pub status: CheckStatus,
    /// The last success, or when the check started: the failure deadline counts from here.
    pub last_ok: Instant,
    pub next_probe: Instant,
}

impl CheckRun {
    pub fn new(spec: CheckSpec, now: Instant) -> CheckRun {
        CheckRun {
            status: CheckStatus {
                spec,
                state: CheckState::Pending,
                since: now,
                last_result: None,
                last_rtt: None,
                failures: 0,
                consecutive_failures: 0,
                agent_value: None,
            },
            last_ok: now,
            next_probe: now,
        }
    }

    pub fn spec(&self) -> &CheckSpec {
        &self.status.spec
    }

    /// When this check fails if no success comes first (`None` once it is down).
    pub fn fail_at(&self) -> Option<Instant> {
        self.status
            .state
            .passing()
            .then(|| self.last_ok + self.status.spec.timeout)
    }

    /// The earliest instant this check needs attention.
    pub fn next_deadline(&self) -> Instant {
        match self.fail_at() {
            Some(fail_at) => fail_at.min(self.next_probe),
            None => self.next_probe,
        }
    }

    /// Whether a probe is due; if so, the schedule moves on. Probes missed while the caller
    /// was late are skipped, not sent in a burst.
    pub fn take_due_probe(&mut self, now: Instant) -> bool {
        if now < self.next_probe {
            return false;
        }
        let interval = self.status.spec.interval;
        while self.next_probe <= now {
            self.next_probe += interval;
        }
        true
    }

    /// Takes the check down if its timeout ran out; returns the reason when it did.
    pub fn expire(&mut self, now: Instant) -> Option<String> {
        let fail_at = self.fail_at()?;
        if now < fail_at {
            return None;
        }
        self.status.state = CheckState::Down;
        self.status.since = now;
        let detail = match &self.status.last_result {
            Some(last) if !last.ok => last.detail.clone(),
            _ => NO_REPLY.to_string(),
        };
        Some(format!(
            "{} {detail} for {} s",
            self.status.spec.kind().keyword(),
            now.saturating_duration_since(self.last_ok).as_secs()
        ))
    }

    /// Records a result. A success brings the check up at once.
    pub fn record(
        &mut self,
        now: Instant,
        ok: bool,
        rtt: Option<Duration>,
        detail: String,
        value: Option<u32>,
    ) {
        if self.status.spec.kind() == CheckKind::Agent && value.is_some() {
            self.status.agent_value = value;
        }
        if rtt.is_some() {
            self.status.last_rtt = rtt;
        }
        if ok {
            self.last_ok = now;
            self.status.consecutive_failures = 0;
            if self.status.state != CheckState::Up {
                self.status.state = CheckState::Up;
                self.status.since = now;
            }
        } else {
            self.status.failures += 1;
            self.status.consecutive_failures += 1;
        }
        self.status.last_result = Some(LastResult {
            at: now,
            ok,
            detail,
        });
    }

    /// New parameters for the same kind of check: state and history stay, the schedule starts
    /// over with a probe now, and the failure deadline follows the new timeout.
    pub fn reconfigure(&mut self, spec: CheckSpec, now: Instant) {
        self.status.spec = spec;
        self.next_probe = now;
    }
}

/// The detail recorded for a probe that got no result within its interval.
pub const NO_REPLY: &str = "no reply";
