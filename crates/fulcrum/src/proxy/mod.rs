//! The socket proxy data plane (UDP and TCP) for targets without `dsr enable`.
//!
//! NOTE: placeholder API while the data plane is being written; the daemon calls exactly these.

use fulcrum_core::model::Config;
use fulcrum_core::stats::Counters;

/// The running proxy data plane. Cheap to share (`Arc<Proxy>`); all methods take `&self`.
#[derive(Default)]
pub struct Proxy {}

impl Proxy {
    /// Creates an idle data plane (no listeners until [`Proxy::apply`]).
    pub fn new() -> Proxy {
        Proxy {}
    }

    /// Brings listeners and the forwarding snapshot in line with `config`: binds newly enabled
    /// servers, closes disabled ones, swaps in the new target set. Returns one message per
    /// problem (a server whose address cannot be bound, ...); the rest is applied anyway.
    pub fn apply(&self, config: &Config) -> Vec<String> {
        let _ = config;
        Vec::new()
    }

    /// Marks a target operational or not (health checks). Sessions on a target going down are
    /// moved at once by the server's method.
    pub fn set_operational(&self, target: u32, operational: bool) {
        let _ = (target, operational);
    }

    /// `show sessions [N|all]` in the seed's format; `limit` None means all.
    pub fn show_sessions(&self, limit: Option<usize>) -> String {
        let _ = limit;
        "0 sessions\n".to_string()
    }

    pub fn server_counters(&self, server: u32) -> Counters {
        let _ = server;
        Counters::default()
    }

    pub fn target_counters(&self, target: u32) -> Counters {
        let _ = target;
        Counters::default()
    }

    /// Stops every listener and worker; returns when they are gone.
    pub fn shutdown(&self) {}
}
