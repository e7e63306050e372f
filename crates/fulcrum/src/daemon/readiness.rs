//! What the daemon tells systemd through [`crate::service`]: what it still waits for before it
//! is ready, and the one-line status summary. Contract: both read only the daemon's own state
//! (configuration, planes, health checks) and the VRRP driver's published role; the service
//! module gets them as closures and names no daemon part.

use crate::plane::data_plane::wants_dsr;
use crate::service::status::Summary;

use super::state::Daemon;

/// What the configuration asks for and does not run yet: the DSR plane on its interface, the
/// VRRP machine in a state (empty: ready).
pub fn waiting_for(daemon: &Daemon) -> Vec<&'static str> {
    let config = daemon.config();
    let mut missing = Vec::new();
    if wants_dsr(&config) && !daemon.planes().dsr_forwarding() {
        missing.push("the DSR data plane");
    }
    if config.vrrp.is_some() && daemon.published().vrrp.borrow().is_none() {
        missing.push("VRRP");
    }
    missing
}

/// The VRRP role, the registered and enabled targets that are up, the planes' sessions.
pub fn summary(daemon: &Daemon) -> Summary {
    let config = daemon.config();
    let active: Vec<u32> = config
        .targets
        .values()
        .filter(|t| t.registered && t.enabled)
        .map(|t| t.id)
        .collect();
    let targets_up = active
        .iter()
        .filter(|&&id| daemon.health().is_operational(id))
        .count();
    Summary {
        vrrp_master: daemon
            .published()
            .vrrp
            .borrow()
            .as_ref()
            .map(crate::vrrp::Status::is_master),
        targets_up,
        targets: active.len(),
        sessions: daemon.planes().session_count(),
    }
}
