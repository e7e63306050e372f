//! Where the daemon's drivers start and stop: the tasks that own sockets and timers around a pure
//! core (health checks, the DSR plane, VRRP, session sync). Each one follows the configuration
//! with [`Daemon::subscribe`] and gets, at spawn time, exactly the part of the data planes it
//! uses from [`Daemon::planes`] (the DSR driver the slot it fills, the others read-only views;
//! see [`super::planes`]); none changes the configuration itself or reaches a plane otherwise.
//!
//! [`start`] is the single place to add them (the health checks, [`crate::health`], run today),
//! and [`Drivers::stop`] ends them before the data plane shuts down.
//!
//! What a driver publishes for the rest of the daemon travels on the channels of
//! [`super::published`], made with the daemon: each driver gets its sending end here. No driver
//! state is process-global.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::state::Daemon;
use crate::plane::tap::SyncTap;

/// The running drivers.
#[derive(Default)]
pub struct Drivers {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    /// Stopped first and gracefully: a master sends its priority-0 advert and releases the VIP.
    vrrp: Option<crate::vrrp::Handle>,
    /// Session sync (master to backup); stopped after VRRP.
    sync: Option<crate::sync::Handle>,
    /// The link watcher the DSR plane and VRRP follow; stopped last.
    links: Option<crate::link::Handle>,
}

/// Starts every driver the configuration asks for. `sync_tap` is the one the daemon's planes
/// register their session tables with (the DSR plane, built here, too).
pub fn start(daemon: &Arc<Daemon>, sync_tap: &Arc<SyncTap>) -> Drivers {
    let planes = daemon.planes();
    let health = tokio::spawn(crate::health::run(
        daemon.health().clone(),
        daemon.subscribe(),
        crate::health::HealthPlanes {
            verdicts: planes.data_planes(),
            dsr: planes.dsr(),
        },
    ));
    let (links, link_changes) = crate::link::spawn();
    // Idle until the configuration has a DSR server; then it owns the raw interface.
    let dsr = crate::dsr::driver::spawn(
        daemon.subscribe(),
        Arc::new(daemon.health().clone()),
        link_changes.clone(),
        planes.dsr_slot(),
        sync_tap.clone(),
    );
    let outlets = daemon.outlets();
    let vrrp = crate::vrrp::spawn(
        daemon.subscribe(),
        link_changes,
        planes.vip_switch(),
        outlets.vrrp,
        outlets.vrrp6,
    );
    let sync = crate::sync::spawn(
        daemon.subscribe(),
        daemon.published().vrrp.clone(),
        outlets.sync,
        sync_tap.clone(),
        planes.dsr(),
    );
    Drivers {
        tasks: vec![
            ("vip announcement", announce_driver(daemon)),
            ("health checks", health),
            ("dsr data plane", dsr),
        ],
        vrrp: Some(vrrp),
        sync: Some(sync),
        links: Some(links),
    }
}

/// The VIP announcement (first in line to stop: routers stop sending before anything else ends).
fn announce_driver(daemon: &Arc<Daemon>) -> JoinHandle<()> {
    crate::announce::spawn(daemon.subscribe(), announce_inputs(daemon))
}

/// What the announcement driver and `show announce` read.
pub fn announce_inputs(daemon: &Daemon) -> crate::announce::AnnounceInputs {
    crate::announce::AnnounceInputs {
        health: daemon.health().clone(),
        dsr: daemon.planes().dsr(),
        sync: daemon.published().sync.clone(),
    }
}

impl Drivers {
    /// Stops every driver and waits until each has ended.
    pub async fn stop(self) {
        if let Some(vrrp) = self.vrrp {
            vrrp.stop().await;
        }
        if let Some(sync) = self.sync {
            sync.stop().await;
        }
        for (name, task) in self.tasks {
            task.abort();
            if let Err(e) = task.await {
                if !e.is_cancelled() {
                    tracing::warn!("driver {name} ended badly: {e}");
                }
            }
        }
        if let Some(links) = self.links {
            let _ = tokio::task::spawn_blocking(move || links.stop()).await;
        }
    }
}
