//! The daemon as a systemd service (`Type=notify`), through the `sd-notify` crate. Contract:
//! [`ready`] is sent once by the daemon after the data planes, the health checks and VRRP run
//! (see [`wait_until_running`]); [`reloading`] and [`ready`] bracket every reload; [`stopping`]
//! starts the shutdown. [`spawn_monitor`] runs on the control runtime and, once a second, sends
//! `STATUS=` with [`status::format`]'s one-line summary when it changed; with `WatchdogSec=` set
//! it sends `WATCHDOG=1` every half period, but only when every [`heartbeat`] moved since the
//! last look and the monitor itself got to run (it shares the runtime with the control socket,
//! so a stuck control loop also stops the pings). Without `NOTIFY_SOCKET` every call is a no-op.
//! [`hooks`] holds the test-only way to stall a worker on purpose.

pub mod heartbeat;
pub mod hooks;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use fulcrum_core::model::Config;
use sd_notify::NotifyState;
use tokio::task::JoinHandle;

use crate::daemon::Daemon;

/// How often the monitor looks at the summary line.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// The shortest watchdog ping period: every heartbeat owner loops at least once a second.
const MIN_PING_PERIOD: Duration = Duration::from_millis(1500);

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// `RELOADING=1` with the monotonic timestamp systemd's `notify-reload` also wants.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
    heartbeat::release_stalls();
}

/// Returns once what the configuration asks for runs: the DSR plane has its interface, the VRRP
/// machine has a state. Logs what it still waits for every few seconds (under systemd the
/// unit's start timeout ends a wait that never finishes).
pub async fn wait_until_running(daemon: Arc<Daemon>) {
    const WARN_EVERY: Duration = Duration::from_secs(5);
    let mut next_warning = tokio::time::Instant::now() + WARN_EVERY;
    loop {
        let config = daemon.config();
        let config: &Config = &config;
        let mut missing = Vec::new();
        let dsr_up = crate::dsr::running().is_some_and(|plane| plane.interface().is_some());
        if crate::dsr::table::wants_dsr(config) && !dsr_up {
            missing.push("the DSR data plane");
        }
        if config.vrrp.is_some() && daemon.published().vrrp.borrow().is_none() {
            missing.push("VRRP");
        }
        if missing.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= next_warning {
            tracing::warn!("not ready yet: waiting for {}", missing.join(" and "));
            next_warning += WARN_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the status and watchdog monitor (nothing when systemd does not listen).
pub fn spawn_monitor(daemon: Arc<Daemon>) -> Option<JoinHandle<()>> {
    std::env::var_os("NOTIFY_SOCKET")?;
    hooks::install();
    let ping_period = sd_notify::watchdog_enabled().map(|limit| (limit / 2).max(MIN_PING_PERIOD));
    Some(tokio::spawn(monitor(daemon, ping_period)))
}

async fn monitor(daemon: Arc<Daemon>, ping_period: Option<Duration>) {
    let mut last_status = String::new();
    let mut status_tick = tokio::time::interval(STATUS_PERIOD);
    let mut ping_tick = tokio::time::interval(ping_period.unwrap_or(Duration::from_secs(3600)));
    let mut reported_stall: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            _ = status_tick.tick() => {
                let line = status::format(&status::summary(&daemon));
                if line != last_status {
                    send(&[NotifyState::Status(&line)]);
                    last_status = line;
                }
            }
            _ = ping_tick.tick(), if ping_period.is_some() => {
                let stalled = heartbeat::stalled();
                if stalled.is_empty() {
                    send(&[NotifyState::Watchdog]);
                } else if stalled != reported_stall {
                    tracing::error!(
                        "watchdog: no progress from {}; not pinging systemd",
                        stalled.join(", ")
                    );
                }
                reported_stall = stalled;
            }
        }
    }
}
