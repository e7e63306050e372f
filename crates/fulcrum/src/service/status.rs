//! The one-line `STATUS=` summary systemd shows in `systemctl status`: the VRRP role, how many
//! of the registered and enabled targets are up, and how many sessions the data planes hold,
//! e.g. `vrrp MASTER, 2/2 targets up, 71 sessions`. [`summary`] reads the running state;
//! [`format`] is the pure part the tests pin.

use crate::daemon::Daemon;

/// What the summary line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// None: the configuration has no VRRP block (or the driver has not started yet).
    pub vrrp_master: Option<bool>,
    pub targets_up: usize,
    pub targets: usize,
    pub sessions: u64,
}

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
    let dsr_sessions = crate::dsr::running().map_or(0, |plane| plane.session_count());
    Summary {
        vrrp_master: daemon
            .published()
            .vrrp
            .borrow()
            .as_ref()
            .map(crate::vrrp::Status::is_master),
        targets_up,
        targets: active.len(),
        sessions: daemon.proxy().session_count() + dsr_sessions,
    }
}

pub fn format(summary: &Summary) -> String {
    let vrrp = match summary.vrrp_master {
        Some(true) => "vrrp MASTER, ",
        Some(false) => "vrrp BACKUP, ",
        None => "",
    };
    format!(
        "{vrrp}{}/{} targets up, {} session{}",
        summary.targets_up,
        summary.targets,
        summary.sessions,
        if summary.sessions == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_role_targets_and_sessions() {
        let line = format(&Summary {
            vrrp_master: Some(true),
            targets_up: 2,
            targets: 2,
            sessions: 71,
        });
        assert_eq!(line, "vrrp MASTER, 2/2 targets up, 71 sessions");
        let line = format(&Summary {
            vrrp_master: None,
            targets_up: 0,
            targets: 1,
            sessions: 1,
        });
        assert_eq!(line, "0/1 targets up, 1 session");
    }
}
