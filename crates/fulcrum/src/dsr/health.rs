//! What the health checks tell the DSR plane: a target's verdict ([`Dsr::set_operational`]) and
//! its agent's value ([`Dsr::set_agent_value`], for `method agent`), and the log lines for
//! the changes they cause (`set failopen 1` starting or ending).

use fulcrum_core::model::Method;

use super::table::DsrTable;
use super::{lock, Dsr};
use crate::plane::control::{log_fail_open_change, preferred_text};
use crate::plane::targets::agent_value_of;

impl Dsr {
    /// Health: marks a target operational or not (the health driver calls it on every
    /// transition). Sessions on a target going down move at once, by the method.
    pub fn set_operational(&self, target: u32, operational: bool) {
        let mut control = lock(&self.inner.control);
        // Every verdict, changed here or not: sync must know what this node holds down.
        (self.inner.shared.sessions).note_target_operational(target, operational);
        if !control.plane.note_operational(target, operational) {
            return;
        }
        self.inner.rebuild(&mut control);
        if operational {
            return;
        }
        let table = self.inner.shared.table.load();
        for server in &table.servers {
            if server.method != Method::Session {
                continue;
            }
            (self.inner.shared.sessions).move_off("dsr", server.id, target, &server.choosers[0]);
        }
    }

    /// A target's agent reported `value` (`None`, or 0, which means down: no value to rank it
    /// by). The table is rebuilt only when this changes where `method agent` sends new
    /// clients; otherwise the value is kept for the next rebuild.
    pub fn set_agent_value(&self, target: u32, value: Option<u32>) {
        let mut control = lock(&self.inner.control);
        if !control.plane.note_agent_value(target, value) {
            return;
        }
        let Some(config) = control.plane.config.as_ref() else {
            return;
        };
        let table = self.inner.shared.table.load();
        let value_of = |id| agent_value_of(config, &control.plane.agent_values, id);
        let changed: Vec<u32> = table
            .servers
            .iter()
            .filter(|s| s.choosers.iter().any(|c| c.agent_values_matter(&value_of)))
            .map(|s| s.id)
            .collect();
        drop(table);
        if changed.is_empty() {
            return;
        }
        self.inner.rebuild(&mut control);
        let table = self.inner.shared.table.load();
        for server in table.servers.iter().filter(|s| changed.contains(&s.id)) {
            tracing::info!(
                "dsr: server {} (method agent): new clients go to {}",
                server.id,
                preferred_text(&server.choosers[0], &control.plane.agent_values)
            );
        }
    }
}

/// One line when a server starts or stops failing open (`set failopen 1`).
pub(super) fn log_fail_open(previous: &DsrTable, next: &DsrTable) {
    for server in &next.servers {
        let was = previous
            .servers
            .iter()
            .find(|s| s.id == server.id)
            .map_or([false; 2], |s| s.fail_open);
        log_fail_open_change("dsr", server.id, was, server.fail_open);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::table::tests::seed_config;
    use super::super::DsrOptions;
    use super::*;

    #[test]
    fn agent_values_reach_the_table_and_only_a_new_winner_rebuilds_it() {
        let mut config = seed_config(true);
        if let Some(server) = config.servers.get_mut(&1) {
            server.method = Method::Agent;
        }
        // Both targets this host (reachable through the local stack, so eligible).
        for target in config.targets.values_mut() {
            target.ipaddr = std::net::Ipv4Addr::LOCALHOST.into();
        }
        // This host has no eth1: the plane reports it and builds its table all the same.
        let dsr = Dsr::new(
            DsrOptions { workers: 1 },
            &crate::plane::tap::SyncTap::new(),
        );
        dsr.apply(&config);
        let table = || dsr.inner.shared.table.load_full();
        let preferred = || table().servers[0].choosers[0].agent_preferred();
        assert_eq!(preferred(), None);
        dsr.set_agent_value(2, Some(5));
        assert_eq!(preferred(), Some(vec![2]));
        let before = table();
        dsr.set_agent_value(1, Some(50));
        dsr.set_agent_value(2, Some(6));
        assert!(
            Arc::ptr_eq(&before, &table()),
            "target 2 still lowest: no rebuild"
        );
        dsr.set_agent_value(1, Some(3));
        assert_eq!(preferred(), Some(vec![1]));
        dsr.set_agent_value(1, None);
        assert_eq!(
            preferred(),
            Some(vec![2]),
            "its value gone, target 2 (6) leads"
        );
        dsr.shutdown();
    }
}
