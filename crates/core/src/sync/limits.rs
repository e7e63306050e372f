//! What a received session may name: a server of the running configuration, one of that
//! server's targets, and a timeout between 1 s and that server's session timeout. Anything else
//! is refused entry by entry and counted by reason, never applied (a forged or stale entry would
//! otherwise send clients to an address the configuration never named).

use std::collections::HashMap;

use fulcrum_wire::sync::{Entry, Op};

use crate::model::Config;

use super::DropReason;

/// The servers, their targets and session timeouts, from the running configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLimits {
    servers: HashMap<u32, ServerLimits>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerLimits {
    targets: Vec<u32>,
    timeout: u32,
}

impl SessionLimits {
    /// Every server of `config` with its targets and its effective session timeout.
    pub fn from_config(config: &Config) -> SessionLimits {
        SessionLimits::new(config.servers.values().map(|server| {
            (
                server.id,
                server.targets.clone(),
                config.server_stout(server),
            )
        }))
    }

    /// From (server, targets, session timeout) triples.
    pub fn new(servers: impl IntoIterator<Item = (u32, Vec<u32>, u32)>) -> SessionLimits {
        SessionLimits {
            servers: servers
                .into_iter()
                .map(|(id, targets, timeout)| (id, ServerLimits { targets, timeout }))
                .collect(),
        }
    }

    /// Ok when the entry may be applied; else why not. A removal only needs a known server
    /// (its target may be one the configuration has since dropped).
    pub fn check(&self, entry: &Entry) -> Result<(), DropReason> {
        let server = self
            .servers
            .get(&entry.server)
            .ok_or(DropReason::UnknownServer)?;
        if entry.op == Op::Remove {
            return Ok(());
        }
        if !server.targets.contains(&entry.target) {
            return Err(DropReason::UnknownTarget);
        }
        if entry.timeout == 0 || entry.timeout > server.timeout {
            return Err(DropReason::BadTimeout);
        }
        Ok(())
    }
}
