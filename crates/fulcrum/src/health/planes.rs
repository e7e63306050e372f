//! Telling the data planes what the health checks found: every verdict and every new agent
//! value (`method agent`) goes to every running data plane (the proxy always, the DSR plane
//! while it runs), in the order the scheduler decided them.
//!
//! Contract: [`apply`] hands each update to each plane's [`DataPlane::set_operational`] (or
//! `set_agent_value`) one at a time, off the async threads, the planes in the order the daemon
//! gave them (each rebuilds its forwarding snapshot; the proxy also waits for its workers). A
//! burst (a reconfiguration) is coalesced so each target gets its final state once. Agent
//! values reach the planes only when they change (the scheduler reports no repeated value), and
//! a plane rebuilds its snapshot only when the new value changes where `method agent` sends
//! clients. A plane that starts later is seeded from the scheduler by its driver
//! ([`crate::plane::data_plane::HealthStates`]), so it never runs with verdicts older than the
//! ones applied here.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::plane::data_plane::DataPlane;
use crate::plane::slot::PlaneView;

/// One thing a data plane must learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// A target's verdict changed.
    Operational { target: u32, up: bool },
    /// A target's agent reported a different value (0: down).
    AgentValue { target: u32, value: u32 },
}

/// Runs until the sending side is dropped (the health driver ends).
pub async fn apply(
    planes: Vec<PlaneView<dyn DataPlane>>,
    mut updates: mpsc::UnboundedReceiver<Update>,
) {
    while let Some(first) = updates.recv().await {
        let mut operational = BTreeMap::new();
        let mut values = BTreeMap::new();
        let mut note = |update: Update| match update {
            Update::Operational { target, up } => {
                operational.insert(target, up);
            }
            Update::AgentValue { target, value } => {
                values.insert(target, value);
            }
        };
        note(first);
        while let Ok(update) = updates.try_recv() {
            note(update);
        }
        let running: Vec<Arc<dyn DataPlane>> =
            planes.iter().filter_map(PlaneView::current).collect();
        let applied = tokio::task::spawn_blocking(move || {
            for (target, up) in operational {
                for plane in &running {
                    plane.set_operational(target, up);
                }
            }
            for (target, value) in values {
                for plane in &running {
                    plane.set_agent_value(target, Some(value));
                }
            }
        })
        .await;
        if let Err(e) = applied {
            tracing::error!("health: telling the data planes failed: {e}");
        }
    }
}
