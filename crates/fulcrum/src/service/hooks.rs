//! Test-only hooks, off unless `FULCRUM_TEST_HOOKS=1` is in the environment: then SIGUSR2 makes
//! the first registered heartbeat's worker (a UDP worker) block for good, so a test can watch
//! the watchdog pings stop. Nothing else changes; a production unit never sets the variable.

use tokio::signal::unix::{signal, SignalKind};

pub const HOOKS_ENV: &str = "FULCRUM_TEST_HOOKS";

/// Starts listening for SIGUSR2 when the hooks are on (call on the tokio runtime).
pub fn install() {
    if std::env::var(HOOKS_ENV).as_deref() != Ok("1") {
        return;
    }
    let mut stall = match signal(SignalKind::user_defined2()) {
        Ok(stall) => stall,
        Err(e) => {
            tracing::warn!("test hooks: cannot handle SIGUSR2: {e}");
            return;
        }
    };
    tracing::warn!("test hooks are on: SIGUSR2 stalls a data-plane worker");
    tokio::spawn(async move {
        while stall.recv().await.is_some() {
            match super::heartbeat::stall_first() {
                Some(name) => tracing::warn!("test hook: {name} stalls now"),
                None => tracing::warn!("test hook: no worker to stall"),
            }
        }
    });
}
