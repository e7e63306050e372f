//! The daemon driver of the DSR plane: starts it when the configuration first asks for DSR
//! (an enabled server with a `dsr enable` target), publishes it in the daemon's [`PlaneSlot`],
//! hands it every configuration that becomes current, and shuts it down when the daemon stops
//! (the task is aborted; its guard clears the slot, then stops the threads). A new plane starts
//! with the health checks' current verdicts and agent values ([`HealthStates`]: seeded and
//! published while no verdict can be decided, so every later update reaches it too). With a `vrrp`
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

use super::{Dsr, DsrOptions};
use crate::link::Links;
use crate::plane::data_plane::{seed, wants_dsr, HealthStates};
use crate::plane::slot::PlaneSlot;
use crate::plane::tap::SyncTap;

/// Withdraws and stops the plane when the driver task ends or is aborted.
struct PlaneGuard {
    dsr: Arc<Dsr>,
    slot: PlaneSlot<Dsr>,
}

impl Drop for PlaneGuard {
    fn drop(&mut self) {
        self.slot.clear();
        self.dsr.shutdown();
    }
}

/// Spawns the driver on the current tokio runtime; it fills `slot` while the plane runs.
pub fn spawn(
    changes: watch::Receiver<Arc<Config>>,
    health: Arc<dyn HealthStates>,
    links: watch::Receiver<Links>,
    slot: PlaneSlot<Dsr>,
    sync: Arc<SyncTap>,
) -> JoinHandle<()> {
    tokio::spawn(follow(changes, health, links, slot, sync))
}

async fn follow(
    mut changes: watch::Receiver<Arc<Config>>,
    health: Arc<dyn HealthStates>,
    mut links: watch::Receiver<Links>,
    slot: PlaneSlot<Dsr>,
    sync: Arc<SyncTap>,
) {
    let mut plane: Option<PlaneGuard> = None;
    loop {
        let config = changes.borrow_and_update().clone();
        if plane.is_none() && wants_dsr(&config) {
            let dsr = Arc::new(Dsr::new(DsrOptions::default(), &sync));
            // With VRRP the node is not active until the VRRP driver says it is master (it
            // switches the plane on its next turn); starting active, a rejoining backup would
            // answer ARP for the VIP with the virtual MAC until then.
            if config.vrrp.is_some() {
                dsr.set_active(false);
            }
            // Before its first table: `set_operational` only records the verdict here.
            health.attach(&mut |states| {
                seed(&*dsr, states);
                slot.fill(dsr.clone());
            });
            plane = Some(PlaneGuard {
                dsr,
                slot: slot.clone(),
            });
        }
        if let Some(guard) = &plane {
            let dsr = guard.dsr.clone();
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
                        let dsr = guard.dsr.clone();
                        let links = links.borrow_and_update().clone();
                        let _ = tokio::task::spawn_blocking(move || dsr.set_links(links)).await;
                    }
                }
            }
        }
    }
}
