//! The proxy as a [`DataPlane`]: the daemon's always-running plane, which balances every server
//! the DSR plane does not. Its counters are therefore always there (zero for a server it does not
//! serve), so it is the last plane asked for them.

use fulcrum_core::model::Config;
use fulcrum_core::stats::Counters;

use super::Proxy;
use crate::plane::data_plane::DataPlane;

impl DataPlane for Proxy {
    fn apply(&self, config: &Config) -> Vec<String> {
        Proxy::apply(self, config)
    }

    fn set_operational(&self, target: u32, operational: bool) {
        Proxy::set_operational(self, target, operational);
    }

    fn set_agent_value(&self, target: u32, value: Option<u32>) {
        Proxy::set_agent_value(self, target, value);
    }

    fn session_count(&self) -> u64 {
        Proxy::session_count(self)
    }

    fn newest_sessions(&self, limit: Option<usize>) -> crate::plane::sessions::NewestSessions {
        self.shared.snapshot().sessions.newest(limit)
    }

    fn server_counters(&self, server: u32) -> Option<Counters> {
        Some(Proxy::server_counters(self, server))
    }

    fn target_counters(&self, target: u32) -> Option<Counters> {
        Some(Proxy::target_counters(self, target))
    }

    fn rate_tables(&self) -> Vec<crate::plane::protect::TableUsage> {
        self.control().guards.usage()
    }

    fn shutdown(&self) {
        Proxy::shutdown(self);
    }
}
