//! The DSR plane as a [`DataPlane`] and as VRRP's [`VipSwitch`]: the daemon's driver
//! ([`super::driver`]) starts it when the configuration first asks for DSR and publishes it
//! through the daemon's slot; the health checks, the control dispatcher and VRRP reach it only
//! through these traits (or the slot's view of `Dsr` for the DSR-path probe and session sync).
//! Counters exist only for the servers and targets it balances, so the proxy answers for the rest.

use fulcrum_core::model::Config;
use fulcrum_core::stats::Counters;

use super::Dsr;
use crate::plane::data_plane::{DataPlane, VipSwitch};

impl DataPlane for Dsr {
    fn apply(&self, config: &Config) -> Vec<String> {
        Dsr::apply(self, config)
    }

    fn set_operational(&self, target: u32, operational: bool) {
        Dsr::set_operational(self, target, operational);
    }

    fn set_agent_value(&self, target: u32, value: Option<u32>) {
        Dsr::set_agent_value(self, target, value);
    }

    fn session_count(&self) -> u64 {
        Dsr::session_count(self)
    }

    fn newest_sessions(&self, limit: Option<usize>) -> crate::plane::sessions::NewestSessions {
        self.inner.shared.sessions.newest(limit)
    }

    fn server_counters(&self, server: u32) -> Option<Counters> {
        Dsr::server_counters(self, server)
    }

    fn target_counters(&self, target: u32) -> Option<Counters> {
        Dsr::target_counters(self, target)
    }

    fn rate_tables(&self) -> Vec<crate::plane::protect::TableUsage> {
        super::lock(&self.inner.control).plane.guards.usage()
    }

    fn shutdown(&self) {
        Dsr::shutdown(self);
    }
}

impl VipSwitch for Dsr {
    fn set_active(&self, active: bool) {
        Dsr::set_active(self, active);
    }

    fn is_active(&self) -> bool {
        Dsr::is_active(self)
    }

    fn set_active6(&self, active: bool) {
        Dsr::set_active6(self, active);
    }

    fn is_active6(&self) -> bool {
        Dsr::is_active6(self)
    }
}
