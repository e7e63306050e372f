//! What the daemon's drivers and its control dispatcher need from a data plane, whatever moves
//! the packets (the socket proxy, the DSR plane on `AF_PACKET` rings, later an `AF_XDP` plane).
//!
//! Contract: a [`DataPlane`] takes each configuration that becomes current ([`DataPlane::apply`],
//! returning its problems, the rest applied), the health checks' verdicts and agent values as
//! they change ([`DataPlane::set_operational`], [`DataPlane::set_agent_value`]; a plane may get
//! them before its first configuration and keeps them for it), and answers the control socket's
//! reads (sessions, counters) from state its packet path keeps anyway; every method takes
//! `&self`, may block briefly (a rebuild, joining threads), and is called off the async
//! workers. A plane that starts after the health checks is seeded with their current states
//! from a [`HealthStates`] and published inside that call, so it misses no later verdict. A
//! plane that answers for the virtual addresses itself (ARP with the VRRP virtual MAC, as the
//! DSR plane does) also obeys VRRP's [`VipSwitch`]. Nothing here names a driver or a plane:
//! planes implement these traits, drivers and the daemon use them.

use fulcrum_core::model::Config;
use fulcrum_core::stats::Counters;

/// A data plane as the daemon drives it (see the module doc).
pub trait DataPlane: Send + Sync {
    /// Brings the plane in line with `config`; one message per problem, the rest is applied.
    fn apply(&self, config: &Config) -> Vec<String>;

    /// A target's health verdict changed; sessions on a target going down move at once.
    fn set_operational(&self, target: u32, operational: bool);

    /// A target's agent reported `value` (`None` or 0: no value to rank it by).
    fn set_agent_value(&self, target: u32, value: Option<u32>);

    /// Sessions the plane holds.
    fn session_count(&self) -> u64;

    /// The `limit` most recently active sessions (`None`: all) for `show sessions`.
    fn newest_sessions(&self, limit: Option<usize>) -> crate::plane::sessions::NewestSessions;

    /// A server's counters, if this plane balances it.
    fn server_counters(&self, server: u32) -> Option<Counters>;

    /// A target's counters, if this plane forwards to it.
    fn target_counters(&self, target: u32) -> Option<Counters>;

    /// The plane's rate-limit tables and how full they are.
    fn rate_tables(&self) -> Vec<super::protect::TableUsage> {
        Vec::new()
    }

    /// Stops every thread of the plane; returns when they are gone.
    fn shutdown(&self);
}

/// VRRP's switch on a plane that answers for the virtual addresses itself: a backup answers no
/// ARP for them and forwards nothing; turning it on announces them (gratuitous ARP).
pub trait VipSwitch: Send + Sync {
    fn set_active(&self, active: bool);
    fn is_active(&self) -> bool;
    /// The IPv6 VRRP instance's switch over the plane's IPv6 VIPs (Neighbor Discovery in
    /// place of ARP); a plane without IPv6 VIPs has none to switch.
    fn set_active6(&self, _active: bool) {}
    fn is_active6(&self) -> bool {
        false
    }
}

/// One target's state as the health checks hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetState {
    pub target: u32,
    pub operational: bool,
    /// The agent's last non-zero value (`method agent`).
    pub agent_value: Option<u32>,
}

/// Where a plane that starts late gets the health checks' states (the health driver's handle).
pub trait HealthStates: Send + Sync {
    /// Runs `attach` with every probed target's state while no new verdict can be decided: a
    /// plane seeded and published inside `attach` gets every later update too.
    fn attach(&self, attach: &mut dyn FnMut(&[TargetState]));
}

/// Seeds `plane` with `states` (before its first configuration it only records them).
pub fn seed(plane: &dyn DataPlane, states: &[TargetState]) {
    for state in states {
        plane.set_operational(state.target, state.operational);
        plane.set_agent_value(state.target, state.agent_value);
    }
}

/// Whether `config` asks for the DSR plane: an enabled server with a `dsr enable` target.
pub fn wants_dsr(config: &Config) -> bool {
    config.active_servers().any(|server| {
        server
            .targets
            .iter()
            .filter_map(|id| config.targets.get(id))
            .any(|target| target.dsr)
    })
}
