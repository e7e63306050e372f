//! Rereading the configuration file while running (SIGHUP, the shell's `reload`).
//!
//! [`reload`] reads and validates the file the daemon was started with and swaps it in through
//! [`Daemon::update`]; on any problem (unreadable file, errors) the running configuration stays.
//! Either way it logs the outcome and returns it as text for the shell: the summary and the data
//! plane's warnings on success, every diagnostic (file:line:col) on failure. systemd hears
//! `RELOADING=1` before and `READY=1` after.

use super::state::Daemon;
use super::{load, log_diagnostics};

/// Reloads the file; `Ok` carries the report, `Err` the reasons it was rejected.
pub fn reload(daemon: &Daemon) -> Result<String, String> {
    crate::service::reloading();
    let outcome = reload_file(daemon);
    crate::service::ready();
    outcome
}

fn reload_file(daemon: &Daemon) -> Result<String, String> {
    let path = daemon.config_path();
    let parsed = match load(path) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!("reload: {e:#}; keeping the running configuration");
            return Err(format!(
                "ERROR: reload: {e:#}; keeping the running configuration\n"
            ));
        }
    };
    match daemon.update(|_| parsed) {
        Ok(warnings) => {
            let summary = daemon.config().summary();
            tracing::info!("reload: {} loaded ({summary})", path.display());
            let mut text = format!("{} loaded ({summary})\n", path.display());
            for warning in warnings {
                text.push_str(&format!("WARNING: {warning}\n"));
            }
            Ok(text)
        }
        Err(diagnostics) => {
            log_diagnostics(&diagnostics);
            let count = diagnostics.0.len();
            tracing::error!(
                "reload: {} rejected with {count} error(s); keeping the running configuration",
                path.display()
            );
            Err(format!(
                "{diagnostics}ERROR: reload: {} rejected with {count} error(s); keeping the running configuration\n",
                path.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;
    use std::sync::Arc;

    fn daemon_on(path: &std::path::Path) -> Daemon {
        let config = fulcrum_config::parse("start", "hostname NS0A\n").unwrap();
        Daemon::start(config, path.to_path_buf(), Arc::new(Proxy::new())).0
    }

    #[test]
    fn a_good_file_is_swapped_in_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fulcrum.conf");
        std::fs::write(&path, "hostname NS0B\n").unwrap();
        let daemon = daemon_on(&path);
        let text = reload(&daemon).unwrap();
        assert!(text.contains("loaded"), "{text}");
        assert_eq!(daemon.config().hostname.as_deref(), Some("NS0B"));
    }

    #[test]
    fn a_bad_file_is_rejected_with_its_positions_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fulcrum.conf");
        std::fs::write(&path, "hostname NS0B\nenable target 7\n").unwrap();
        let daemon = daemon_on(&path);
        let text = reload(&daemon).unwrap_err();
        assert!(text.contains("fulcrum.conf:2:"), "{text}");
        assert!(text.contains("rejected with 1 error(s)"), "{text}");
        assert_eq!(daemon.config().hostname.as_deref(), Some("NS0A"));
    }

    #[test]
    fn a_missing_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = daemon_on(&dir.path().join("gone.conf"));
        let text = reload(&daemon).unwrap_err();
        assert!(text.contains("cannot read"), "{text}");
    }
}
