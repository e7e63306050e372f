//! The daemon driver of the DSR plane: starts it when the configuration first asks for DSR
//! (an enabled server with a `dsr enable` target), hands it every configuration that becomes
//! current, and shuts it down when the daemon stops (the task is aborted; its guard stops the
//! threads). A new plane starts with the health checks' current verdicts and agent values
//! (registered under the scheduler's lock, so every later update reaches it too). With a `vrrp`
//! block it starts inactive and VRRP switches it on while master; without one it is always
//! active. Problems (a local target without `set localdsr 1`, an interface that cannot be
//! opened) are logged as errors by the plane. It also hands the plane every change the link
//! watcher ([`crate::link`]) sees, so the plane stops while its interface is down and restarts
//! its sockets on the interface's new index when it comes back. The plane's session table
//! registers with the daemon's sync tap, which the driver is given when it starts.

use std::sync::Arc;

use fulcrum_core::model::Config;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{register, table, Dsr, DsrOptions};
use crate::health::Health;
use crate::link::Links;
use crate::sync::tap::SyncTap;

/// Unregisters and stops the plane when the driver task ends or is aborted.
struct PlaneGuard(Arc<Dsr>);

impl Drop for PlaneGuard {
    fn drop(&mut self) {
        register(None);
        self.0.shutdown();
    }
}

/// Spawns the driver on the current tokio runtime.
pub fn spawn(
    changes: watch::Receiver<Arc<Config>>,
    health: Health,
    links: watch::Receiver<Links>,
    sync: Arc<SyncTap>,
) -> JoinHandle<()> {
    tokio::spawn(follow(changes, health, links, sync))
}

async fn follow(
    mut changes: watch::Receiver<Arc<Config>>,
    health: Health,
    mut links: watch::Receiver<Links>,
    sync: Arc<SyncTap>,
) {
    let mut plane: Option<PlaneGuard> = None;
    loop {
        let config = changes.borrow_and_update().clone();
        if plane.is_none() && table::wants_dsr(&config) {
            let dsr = Arc::new(Dsr::new(DsrOptions::default(), &sync));
            // With VRRP the node is not active until the VRRP driver says it is master (it
            // switches the plane on its next turn); starting active, a rejoining backup would
            // answer ARP for the VIP with the virtual MAC until then.
            if config.vrrp.is_some() {
                dsr.set_active(false);
            }
            // Before its first table: `set_operational` only records the verdict here.
            health.attach(|states| {
                for &(target, up, agent_value) in states {
                    dsr.set_operational(target, up);
                    dsr.set_agent_value(target, agent_value);
                }
                register(Some(dsr.clone()));
            });
            plane = Some(PlaneGuard(dsr));
        }
        if let Some(guard) = &plane {
            let dsr = guard.0.clone();
            if config.vrrp.is_none() {
                // A node without VRRP always is active (also when `vrrp` was removed live).
                dsr.set_active(true);
            }
            let links = links.borrow_and_update().clone();
            // Opening sockets and joining threads block: keep them off the runtime's workers.
            let _ = tokio::task::spawn_blocking(move || {
                dsr.set_links(links);
                dsr.apply(&config)
            })
            .await;
        }
        // A link change alone goes to the running plane; a configuration change goes round.
        loop {
            tokio::select! {
                changed = changes.changed() => match changed {
                    Ok(()) => break,
                    Err(_) => return,
                },
                changed = links.changed() => {
                    if changed.is_err() {
                        // No watcher any more: keep the plane as it is, follow the configuration.
                        if changes.changed().await.is_err() {
                            return;
                        }
                        break;
                    }
                    if let Some(guard) = &plane {
                        let dsr = guard.0.clone();
                        let links = links.borrow_and_update().clone();
                        let _ = tokio::task::spawn_blocking(move || dsr.set_links(links)).await;
                    }
                }
            }
        }
    }
}
