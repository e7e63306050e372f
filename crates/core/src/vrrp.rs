//! The VRRP state machine (RFC 3768 for version 2, RFC 5798 for version 3 over IPv4 and IPv6),
//! sans I/O.
//!
//! Contract: [`Machine`] holds the Initialize / Backup / Master state of one virtual router and
//! decides everything the RFCs decide; it never touches a socket or a clock. The driver feeds it
//! with [`Machine::handle_input`] (startup, shutdown, a priority change, and adverts that already
//! passed [`Group::check`]) and [`Machine::handle_timeout`], asks [`Machine::poll_timeout`] when
//! to call next, and carries out what [`Machine::poll_output`] returns, in order: send an advert,
//! claim the VIP (gratuitous ARP, answer ARP, or add it to the kernel), release it, log a
//! transition. Time is a [`std::time::Instant`] passed in; tests build their own from one base.
//!
//! Timers (RFC 3768 §6.1 / RFC 5798 §6.1), with exact arithmetic in nanoseconds:
//! - v2: `Skew_Time = (256 - Priority) / 256` seconds; `Master_Down_Interval = 3 x
//!   Advertisement_Interval + Skew_Time`; the advert interval is whole seconds.
//! - v3: `Skew_Time = ((256 - Priority) x Master_Adver_Interval) / 256`; `Master_Down_Interval
//!   = 3 x Master_Adver_Interval + Skew_Time`, where `Master_Adver_Interval` is learned from the
//!   master's adverts; intervals are centiseconds.
//!
//! The receive-side checks of RFC 3768 §7.1 / RFC 5798 §7.1 and the advert, gratuitous-ARP and
//! unsolicited Neighbor Advertisement frames live in [`group`]. Every type is generic over the
//! address [`Family`] (IPv4 by default, IPv6 for RFC 5798's IPv6 instance): the election rules
//! and timers exist once; a dual-stack `vrrp` block runs one machine per family.

pub mod family;
pub mod group;
mod link;
pub mod senders;

#[cfg(test)]
#[rustfmt::skip]
mod scenarios;
#[cfg(test)]
mod sim;

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

pub use family::Family;
pub use fulcrum_wire::vrrp::{Auth, Version};
pub use group::{AdvertDrop, Group};
pub use senders::{Notice, NoticeKind, SenderCounters};

use crate::model;

/// The owner's priority: it goes straight to master (RFC 3768 §6.4.1).
pub const PRIORITY_OWNER: u8 = fulcrum_wire::vrrp::PRIORITY_OWNER;
/// Sent by a master that stops, so backups take over after Skew_Time (RFC 3768 §6.4.3).
pub const PRIORITY_STOP: u8 = fulcrum_wire::vrrp::PRIORITY_STOP;

/// What one virtual router is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config<A = Ipv4Addr> {
    pub version: Version,
    pub vrid: u8,
    /// 1..=255; 255 is the address owner.
    pub priority: u8,
    /// v2: a multiple of 100 (whole seconds); v3: 1..=4095.
    pub advert_interval_cs: u16,
    pub preempt: bool,
    /// This node's primary address on the network: the source of its adverts, and the tie
    /// breaker between two masters of equal priority.
    pub primary_address: A,
    /// The virtual addresses carried in adverts.
    pub addresses: Vec<A>,
    /// v2 authentication; `Auth::None` for v3.
    pub auth: Auth,
    /// Unicast peers: adverts go to each of them and only theirs are taken. Empty: multicast,
    /// from anyone.
    pub peers: Vec<A>,
}

impl Config<Ipv4Addr> {
    /// From the validated model: `vrrp { ... }`, the network's `real` address and its `virt`.
    pub fn from_model(
        vrrp: &model::Vrrp,
        primary_address: Ipv4Addr,
        addresses: Vec<Ipv4Addr>,
    ) -> Config {
        let cs = u16::try_from(vrrp.advert_ms / 10).unwrap_or(u16::MAX);
        Config {
            version: match vrrp.version {
                model::VrrpVersion::V2 => Version::V2,
                model::VrrpVersion::V3 => Version::V3,
            },
            vrid: vrrp.vrid,
            priority: vrrp.priority,
            advert_interval_cs: cs.max(1),
            preempt: vrrp.preempt,
            primary_address,
            addresses,
            auth: match (&vrrp.auth_pass, vrrp.version) {
                (Some(pass), model::VrrpVersion::V2) => Auth::simple_text(pass),
                _ => Auth::None,
            },
            peers: vrrp.peers.clone(),
        }
    }
}

impl Config<Ipv6Addr> {
    /// The IPv6 instance of the same `vrrp` block (RFC 5798 over IPv6): always version 3 (v2
    /// has no IPv6), no authentication, its adverts from the interface's `link_local` address;
    /// unicast peers are IPv4 in the model, so the IPv6 instance multicasts.
    pub fn from_model_v6(
        vrrp: &model::Vrrp,
        link_local: Ipv6Addr,
        addresses: Vec<Ipv6Addr>,
    ) -> Config<Ipv6Addr> {
        let cs = u16::try_from(vrrp.advert_ms / 10).unwrap_or(u16::MAX);
        Config {
            version: Version::V3,
            vrid: vrrp.vrid,
            priority: vrrp.priority,
            advert_interval_cs: cs.clamp(1, fulcrum_wire::vrrp::MAX_V3_INTERVAL_CS),
            preempt: vrrp.preempt,
            primary_address: link_local,
            addresses,
            auth: Auth::None,
            peers: Vec::new(),
        }
    }
}

/// RFC 3768 §6.4 / RFC 5798 §6.4 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// The interface is down or gone: no adverts, no VIP, no timers until it is back (as
    /// keepalived's FAULT; the RFCs leave link failure to the implementation).
    Fault,
}

impl State {
    /// As `show vrrp` prints it.
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A received advert that passed [`Group::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert<A = Ipv4Addr> {
    /// The sender's primary address (the IP source).
    pub source: A,
    pub priority: u8,
    pub advert_interval_cs: u16,
}

/// What the driver feeds in besides timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<A = Ipv4Addr> {
    /// The Startup event: the interface is up and the daemon runs.
    Startup,
    /// The Shutdown event: the daemon stops cleanly (a master sends priority 0).
    Shutdown,
    Advert(Advert<A>),
    /// A new local priority (1..=255; 0 is ignored, it is reserved for stopping).
    SetPriority(u8),
    /// The interface lost its carrier, went down or was deleted.
    LinkDown,
    /// The interface is up again (possibly a new one under the same name).
    LinkUp,
}

/// Why a transition happened, for the one-line log and `notify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<A = Ipv4Addr> {
    /// Initialize -> Backup on startup.
    Startup,
    /// Initialize or Backup -> Master with priority 255.
    AddressOwner,
    /// Backup -> Master: no advert within Master_Down_Interval (or Skew_Time after a
    /// priority-0 advert).
    MasterDown,
    /// Master -> Backup: an advert with a higher priority.
    HigherPriority { master: A, priority: u8 },
    /// Master -> Backup: an advert with our priority from a higher primary address.
    HigherAddress { master: A },
    /// Any -> Initialize on shutdown.
    Shutdown,
    /// Backup or Master -> Fault.
    LinkDown,
    /// Fault -> Backup (or Master for the address owner).
    LinkUp,
}

impl<A: fmt::Display> fmt::Display for Reason<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::AddressOwner => f.write_str("address owner (priority 255)"),
            Reason::MasterDown => f.write_str("master down timer expired"),
            Reason::HigherPriority { master, priority } => {
                write!(f, "advert from {master} with higher priority {priority}")
            }
            Reason::HigherAddress { master } => {
                write!(
                    f,
                    "advert from {master} with equal priority and higher address"
                )
            }
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::LinkDown => f.write_str("link down"),
            Reason::LinkUp => f.write_str("link up"),
        }
    }
}

/// One state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<A = Ipv4Addr> {
    pub from: State,
    pub to: State,
    pub reason: Reason<A>,
}

impl<A: fmt::Display> fmt::Display for Transition<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vrrp {} -> {}: {}", self.from, self.to, self.reason)
    }
}

/// What the machine asks the driver to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output<A = Ipv4Addr> {
    /// Send one advert with this priority (0 when stopping).
    SendAdvert { priority: u8 },
    /// Take the virtual addresses: send gratuitous ARP, answer ARP, forward VIP traffic (or add
    /// the VIP to the kernel interface in proxy mode).
    BecomeMaster,
    /// Hold no virtual address: stop answering ARP and forwarding (remove the kernel VIP). Also
    /// issued on entering Backup at startup, so a stale VIP is released.
    BecomeBackup,
    /// Log it and run `notify`.
    Transition(Transition<A>),
}

/// Counters for `show vrrp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// Adverts a backup ignored because preemption let it outrank the sender, or a master
    /// ignored because it outranks the sender (RFC 3768 §6.4.2, §6.4.3).
    pub adverts_outranked: u64,
    pub priority_zero_received: u64,
    /// Inputs with no meaning in the current state (an advert in Initialize, priority 0...).
    pub inputs_ignored: u64,
    pub transitions: u64,
}

/// The state machine of one virtual router.
#[derive(Debug, Clone)]
pub struct Machine<A = Ipv4Addr> {
    config: Config<A>,
    state: State,
    /// Master_Down_Timer in Backup, Adver_Timer in Master, none in Initialize.
    timer: Option<Instant>,
    /// v3: learned from the master's adverts (RFC 5798 §6.1); v2: the configured interval.
    master_adver_interval_cs: u16,
    /// The master as far as this node knows: itself, or the source of the last advert a
    /// backup accepted.
    master: Option<A>,
    last_transition: Option<Instant>,
    outputs: VecDeque<Output<A>>,
    counters: Counters,
}

fn centiseconds(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

impl<A: Family> Machine<A> {
    pub fn new(config: Config<A>) -> Machine<A> {
        let master_adver_interval_cs = config.advert_interval_cs;
        Machine {
            config,
            state: State::Initialize,
            timer: None,
            master_adver_interval_cs,
            master: None,
            last_transition: None,
            outputs: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config<A> {
        &self.config
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn priority(&self) -> u8 {
        self.config.priority
    }

    pub fn master_address(&self) -> Option<A> {
        self.master
    }

    /// The interval the master down timer is computed from (v3: learned).
    pub fn master_advert_interval_cs(&self) -> u16 {
        self.master_adver_interval_cs
    }

    pub fn last_transition(&self) -> Option<Instant> {
        self.last_transition
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Skew_Time (RFC 3768 §6.1, RFC 5798 §6.1).
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u64::from(self.config.priority);
        match self.config.version {
            Version::V2 => Duration::from_nanos(weight * 1_000_000_000 / 256),
            Version::V3 => {
                let interval_ns = u64::from(self.master_adver_interval_cs) * 10_000_000;
                Duration::from_nanos(weight * interval_ns / 256)
            }
        }
    }

    /// Master_Down_Interval (RFC 3768 §6.1, RFC 5798 §6.1).
    pub fn master_down_interval(&self) -> Duration {
        let interval = match self.config.version {
            Version::V2 => self.config.advert_interval_cs,
            Version::V3 => self.master_adver_interval_cs,
        };
        centiseconds(interval) * 3 + self.skew_time()
    }

    fn advertisement_interval(&self) -> Duration {
        centiseconds(self.config.advert_interval_cs)
    }

    /// A new virtual address list (a server with its own address enabled or disabled). The
    /// state and timers stay: the driver changes what it holds and the group what it sends.
    pub fn set_addresses(&mut self, addresses: Vec<A>) {
        self.config.addresses = addresses;
    }

    /// When [`Machine::handle_timeout`] must next be called (the advert or master-down timer); ask
    /// again after every `handle_*` call. `None`: no timer runs (Initialize, Fault).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// The next thing to carry out (send an advert, add or remove the VIP, log a transition),
    /// in order. Drain it after every `handle_*` call, until `None`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output<A>> {
        self.outputs.pop_front()
    }

    /// Call with each event the driver sees: startup and shutdown, every advert that passed
    /// [`Group::check`], a priority change, the link going down or up. Then drain
    /// [`Machine::poll_output`] and ask [`Machine::poll_timeout`] again.
    pub fn handle_input(&mut self, now: Instant, input: Input<A>) {
        match input {
            Input::Startup => self.startup(now),
            Input::Shutdown => self.shutdown(now),
            Input::Advert(advert) => self.advert(now, advert),
            Input::SetPriority(priority) => self.set_priority(now, priority),
            Input::LinkDown => self.link_down(now),
            Input::LinkUp => self.link_up(now),
        }
    }

    /// Call when the instant [`Machine::poll_timeout`] named has come (an early call does
    /// nothing), then drain [`Machine::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.timer else { return };
        if now < deadline {
            return;
        }
        match self.state {
            State::Initialize | State::Fault => self.timer = None,
            // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: Master_Down_Timer fires.
            State::Backup => self.become_master(now, Reason::MasterDown),
            // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: Adver_Timer fires.
            State::Master => {
                self.send_advert(self.config.priority);
                self.timer = Some(now + self.advertisement_interval());
            }
        }
    }

    fn startup(&mut self, now: Instant) {
        if self.state != State::Initialize {
            self.counters.inputs_ignored += 1;
            return;
        }
        // RFC 3768 §6.4.1 / RFC 5798 §6.4.1.
        if self.config.priority == PRIORITY_OWNER {
            self.become_master(now, Reason::AddressOwner);
        } else {
            self.master_adver_interval_cs = self.config.advert_interval_cs;
            self.become_backup(now, Reason::Startup, None);
        }
    }

    fn shutdown(&mut self, now: Instant) {
        match self.state {
            State::Initialize => self.counters.inputs_ignored += 1,
            // RFC 3768 §6.4.2: cancel the Master_Down_Timer.
            State::Backup | State::Fault => self.enter(now, State::Initialize, Reason::Shutdown),
            // RFC 3768 §6.4.3: cancel the Adver_Timer, send an advert with priority 0.
            State::Master => {
                self.send_advert(PRIORITY_STOP);
                self.outputs.push_back(Output::BecomeBackup);
                self.enter(now, State::Initialize, Reason::Shutdown);
            }
        }
        self.timer = None;
        self.master = None;
    }

    fn advert(&mut self, now: Instant, advert: Advert<A>) {
        self.counters.adverts_received += 1;
        if advert.priority == PRIORITY_STOP {
            self.counters.priority_zero_received += 1;
        }
        match self.state {
            State::Initialize | State::Fault => self.counters.inputs_ignored += 1,
            State::Backup => self.advert_in_backup(now, advert),
            State::Master => self.advert_in_master(now, advert),
        }
    }

    fn advert_in_backup(&mut self, now: Instant, advert: Advert<A>) {
        if advert.priority == PRIORITY_STOP {
            // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: the master stopped; take over after Skew_Time
            // so the highest-priority backup goes first.
            self.timer = Some(now + self.skew_time());
            return;
        }
        if !self.config.preempt || advert.priority >= self.config.priority {
            // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: accept this master and reset the timer. v3
            // learns the master's interval first, so the down interval follows it.
            if self.config.version == Version::V3 {
                self.master_adver_interval_cs = advert.advert_interval_cs;
            }
            self.master = Some(advert.source);
            self.timer = Some(now + self.master_down_interval());
        } else {
            // Preempt and we outrank it: let the master down timer run out.
            self.counters.adverts_outranked += 1;
        }
    }

    fn advert_in_master(&mut self, now: Instant, advert: Advert<A>) {
        let local = self.config.priority;
        if advert.priority == PRIORITY_STOP {
            // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: another master stopped; assert ourselves at
            // once so its backups do not take over after their skew.
            self.send_advert(local);
            self.timer = Some(now + self.advertisement_interval());
            return;
        }
        let reason = if advert.priority > local {
            Reason::HigherPriority {
                master: advert.source,
                priority: advert.priority,
            }
        } else if advert.priority == local && advert.source > self.config.primary_address {
            // Two masters of equal priority: the higher primary address wins.
            Reason::HigherAddress {
                master: advert.source,
            }
        } else {
            self.counters.adverts_outranked += 1;
            return;
        };
        // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: step down.
        if self.config.version == Version::V3 {
            self.master_adver_interval_cs = advert.advert_interval_cs;
        }
        self.outputs.push_back(Output::BecomeBackup);
        self.become_backup(now, reason, Some(advert.source));
    }

    fn set_priority(&mut self, now: Instant, priority: u8) {
        if priority == PRIORITY_STOP {
            self.counters.inputs_ignored += 1;
            return;
        }
        self.config.priority = priority;
        match self.state {
            // An owner does not wait for a master down timer (RFC 3768 §6.4.1 by analogy).
            State::Backup if priority == PRIORITY_OWNER => {
                self.become_master(now, Reason::AddressOwner)
            }
            // Otherwise the next advert carries it; a backup's skew changes from the next
            // timer reset on.
            _ => {}
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason<A>) {
        self.send_advert(self.config.priority);
        self.outputs.push_back(Output::BecomeMaster);
        self.timer = Some(now + self.advertisement_interval());
        self.master = Some(self.config.primary_address);
        self.enter(now, State::Master, reason);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason<A>, master: Option<A>) {
        if reason == Reason::Startup {
            self.outputs.push_back(Output::BecomeBackup);
        }
        self.master = master;
        self.timer = Some(now + self.master_down_interval());
        self.enter(now, State::Backup, reason);
    }

    fn send_advert(&mut self, priority: u8) {
        self.counters.adverts_sent += 1;
        self.outputs.push_back(Output::SendAdvert { priority });
    }

    fn enter(&mut self, now: Instant, to: State, reason: Reason<A>) {
        let from = self.state;
        self.state = to;
        self.counters.transitions += 1;
        self.last_transition = Some(now);
        self.outputs
            .push_back(Output::Transition(Transition { from, to, reason }));
    }
}
