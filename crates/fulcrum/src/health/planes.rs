//! Telling the data planes what the health checks found: every verdict and every new agent
//! value (`method agent`) goes to the proxy plane and, when it runs, to the DSR plane, in the
//! order the scheduler decided them.
//!
//! Contract: [`apply`] hands each update to [`crate::dsr::Dsr::set_operational`] and
//! [`Proxy::set_operational`] one at a time, off the async threads (both rebuild
//! their forwarding snapshot; the proxy also waits for its workers). A burst (a
//! reconfiguration) is coalesced so each target gets its final state once. Agent values reach
//! the planes only when they change (the scheduler reports no repeated value), and a plane
//! rebuilds its snapshot only when the new value changes where `method agent` sends clients. A DSR plane that
//! starts later is seeded from the scheduler by the DSR driver ([`super::Health::attach`]), so
//! it never runs with verdicts older than the ones applied here.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::proxy::Proxy;

/// One thing a data plane must learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// A target's verdict changed.
    Operational { target: u32, up: bool },
    /// A target's agent reported a different value (0: down).
    AgentValue { target: u32, value: u32 },
}

/// Runs until the sending side is dropped (the health driver ends).
pub async fn apply(proxy: Arc<Proxy>, mut updates: mpsc::UnboundedReceiver<Update>) {
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
        let proxy = proxy.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let dsr = crate::dsr::running();
            for (target, up) in operational {
                // The DSR plane first: it swaps its table at once, while the proxy waits for
                // its workers to take the new snapshot (up to a worker tick).
                if let Some(dsr) = &dsr {
                    dsr.set_operational(target, up);
                }
                proxy.set_operational(target, up);
            }
            for (target, value) in values {
                if let Some(dsr) = &dsr {
                    dsr.set_agent_value(target, Some(value));
                }
                proxy.set_agent_value(target, Some(value));
            }
        })
        .await;
        if let Err(e) = applied {
            tracing::error!("health: telling the data planes failed: {e}");
        }
    }
}
