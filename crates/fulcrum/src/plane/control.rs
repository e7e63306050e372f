//! What only a plane's control path touches (behind one mutex, never on the per-packet path):
//! the configuration it runs, the health verdicts and agent values it was told, and the
//! counter sets it keeps by id across rebuilds so counters survive reconfiguration.
//! Contract: the `note_*` methods record a change and say whether it was one; the plane then
//! rebuilds its forwarding state from these fields. Both planes hold one [`Control`] (DSR
//! beside its interface state), and log what a change did with the helpers below.

use std::collections::HashMap;
use std::sync::Arc;

use fulcrum_core::balance::Chooser;
use fulcrum_core::model::Config;
use fulcrum_core::stats::Counters;

use super::counters::CounterSet;

#[derive(Default)]
pub struct Control {
    pub config: Option<Config>,
    /// Health verdicts by target id (absent: operational).
    pub operational: HashMap<u32, bool>,
    /// The last non-zero agent value per target (`method agent`).
    pub agent_values: HashMap<u32, u32>,
    pub server_counters: HashMap<u32, Arc<CounterSet>>,
    pub target_counters: HashMap<u32, Arc<CounterSet>>,
    /// The servers' access lists and rate-limit tables (tables kept across rebuilds).
    pub guards: super::protect::Guards,
}

impl Control {
    /// Records a health verdict; true when it changes the target's state.
    pub fn note_operational(&mut self, target: u32, operational: bool) -> bool {
        let before = self.operational.insert(target, operational).unwrap_or(true);
        before != operational
    }

    /// Records an agent's value (`None` or 0: no value to rank by); true when it changed.
    pub fn note_agent_value(&mut self, target: u32, value: Option<u32>) -> bool {
        let value = value.filter(|&v| v > 0);
        if self.agent_values.get(&target).copied() == value {
            return false;
        }
        match value {
            Some(v) => self.agent_values.insert(target, v),
            None => self.agent_values.remove(&target),
        };
        true
    }

    /// The summed counters of a server, if the plane has counted any for it.
    pub fn server_counters_of(&self, server: u32) -> Option<Counters> {
        self.server_counters.get(&server).map(|s| s.snapshot())
    }

    /// The summed counters of a target, if the plane has counted any for it.
    pub fn target_counters_of(&self, target: u32) -> Option<Counters> {
        self.target_counters.get(&target).map(|s| s.snapshot())
    }
}

/// `target 2 (agent value 5)`, `targets 1,2 (agent value 5)`, or the hash fallback: where a
/// server with `method agent` sends new clients, for the log line when that changes.
pub fn preferred_text(chooser: &Chooser, values: &HashMap<u32, u32>) -> String {
    match chooser.agent_preferred() {
        Some(ids) => {
            let value = ids
                .first()
                .and_then(|id| values.get(id))
                .copied()
                .unwrap_or(0);
            let list: Vec<String> = ids.iter().map(u32::to_string).collect();
            let noun = if ids.len() == 1 { "target" } else { "targets" };
            format!("{noun} {} (agent value {value})", list.join(","))
        }
        None => "every operational target by hash (no agent value yet)".to_string(),
    }
}

/// Logs a server's change of failing open (per transport, as both planes keep it), if any.
pub fn log_fail_open_change(plane: &str, server: u32, was: [bool; 2], now: [bool; 2]) {
    if was == now {
        return;
    }
    if now.iter().any(|&open| open) {
        tracing::warn!(
            "{plane}: server {server}: no target operational; failopen: forwarding to all its targets"
        );
    } else {
        tracing::info!("{plane}: server {server}: a target is operational again; failopen ends");
    }
}
