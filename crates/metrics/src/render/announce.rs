//! The families of active-active nodes: each announced server's state as an enum gauge (one
//! sample per state, 1 for the current one, so the series set stays fixed while the state
//! moves), why a withdrawn one is withdrawn as an info-style sample of its own (a reason that
//! changes would otherwise start a new state series and reset every `for:` clause watching it),
//! the targets up behind each, and the sync join state the announcement waits for. Each family
//! is present only when the snapshot carries its part.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::gauges;
use crate::snapshot::{AnnounceState, JoinState, Snapshot};

pub(super) fn encode(e: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let servers = s.announce.as_deref().unwrap_or_default();
    let vip = |v: &Option<String>| v.clone().unwrap_or_default();
    gauges(
        e,
        "fulcrum_announce_state",
        "1 for the state an announced server's VIP is in (announced, pending, withdrawn), 0 for the others.",
        servers.iter().flat_map(|a| {
            AnnounceState::ALL.map(|state| {
                let labels = [
                    ("server", a.server.to_string()),
                    ("vip", vip(&a.vip)),
                    ("state", state.name().to_string()),
                ];
                (labels, i64::from(a.state == state))
            })
        }),
    )?;
    gauges(
        e,
        "fulcrum_announce_withdrawn_reason",
        "Why an announced server's VIP is withdrawn (always 1; absent while it is not).",
        servers.iter().filter_map(|a| {
            let reason = a.reason.clone()?;
            (a.state == AnnounceState::Withdrawn)
                .then(|| ([("server", a.server.to_string()), ("reason", reason)], 1))
        }),
    )?;
    gauges(
        e,
        "fulcrum_announce_targets_up",
        "Enabled and operational targets of an announced server.",
        servers
            .iter()
            .map(|a| ([("server", a.server.to_string())], a.targets_up as i64)),
    )?;
    if let Some(join) = &s.sync_join {
        gauges(
            e,
            "fulcrum_sync_joined",
            "1 for the node's sync join state (alone, synced, nobody-answered, waiting), 0 for the others; waiting withholds every VIP.",
            JoinState::ALL.map(|state| {
                (
                    [("state", state.name().to_string())],
                    i64::from(join.state == state),
                )
            }),
        )?;
    }
    Ok(())
}
