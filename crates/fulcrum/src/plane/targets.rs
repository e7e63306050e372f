//! How both planes see a target when they build their forwarding state: which transport a
//! query came over ([`Transport`]), whether a target is configured to take clients
//! ([`configured`]), healthy ([`operational_of`]) and what the chooser gets of it
//! ([`candidate`]). Contract: pure functions of the configuration and the control path's
//! maps (health verdicts and agent values by target id); a target without a health verdict
//! is operational. Each plane adds only what is its own: DSR's reachability (a resolved MAC
//! or this host), passed in as `reachable`.

use std::collections::HashMap;

use fulcrum_core::balance::Candidate;
use fulcrum_core::model::{Config, Protocol};

/// Which transport a query (or frame) came over; indexes the per-transport arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp = 0,
    Tcp = 1,
}

impl Transport {
    /// Whether `protocol` (a server's or target's `protocol`) serves this transport.
    pub fn served_by(self, protocol: Protocol) -> bool {
        match self {
            Transport::Udp => protocol.udp(),
            Transport::Tcp => protocol.tcp(),
        }
    }
}

/// The health verdict for `id` (absent: operational).
pub fn operational_of(operational: &HashMap<u32, bool>, id: u32) -> bool {
    operational.get(&id).copied().unwrap_or(true)
}

/// Registered, enabled and serving `transport`: everything but health.
pub fn configured(config: &Config, id: u32, transport: Transport) -> bool {
    config
        .targets
        .get(&id)
        .is_some_and(|t| t.registered && t.enabled && transport.served_by(t.protocol))
}

/// The agent value `method agent` ranks `id` by: the last one its agent check reported, while
/// the target has an agent check.
pub fn agent_value_of(config: &Config, values: &HashMap<u32, u32>, id: u32) -> Option<u32> {
    let checked = config.targets.get(&id).is_some_and(|t| t.agent.is_some());
    checked.then(|| values.get(&id).copied()).flatten()
}

/// The chooser's view of target `id` over `transport`: operational when configured,
/// `reachable` (always, in the proxy) and healthy.
pub fn candidate(
    config: &Config,
    id: u32,
    transport: Transport,
    reachable: bool,
    operational: &HashMap<u32, bool>,
    agent_values: &HashMap<u32, u32>,
) -> Candidate {
    let weight = config.targets.get(&id).map_or(0, |t| t.weight);
    Candidate {
        id,
        weight,
        operational: configured(config, id, transport)
            && reachable
            && operational_of(operational, id),
        agent_value: agent_value_of(config, agent_values, id),
    }
}
