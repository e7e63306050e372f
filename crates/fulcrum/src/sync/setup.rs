//! What the sync driver needs from the configuration: the network it runs on (the first
//! registered, enabled network with a `syncpeer`, else the `vrrp` block's network), the local
//! `real` address it binds, the configured peer if any, and the key.

use std::net::Ipv4Addr;

use fulcrum_core::model::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub network: u32,
    pub local: Ipv4Addr,
    /// `syncpeer`; `None` means derived (the VRRP master's address on a backup, the source of
    /// the last full-table request on a master).
    pub peer: Option<Ipv4Addr>,
    pub key: Option<Vec<u8>>,
}

impl Setup {
    /// `Ok(None)`: nothing to sync (no `syncpeer`, no `vrrp`). `Err`: why it cannot run.
    pub fn from_config(config: &Config) -> Result<Option<Setup>, String> {
        let with_peer = config
            .networks
            .values()
            .find(|n| n.registered && n.enabled && n.syncpeer.is_some());
        let network = match (with_peer, &config.vrrp) {
            (Some(network), _) => network,
            (None, Some(vrrp)) => match config.networks.get(&vrrp.network) {
                Some(network) => network,
                None => return Err(format!("network {} is not defined", vrrp.network)),
            },
            (None, None) => return Ok(None),
        };
        let local = network.real.ok_or_else(|| {
            format!(
                "network {} has no real address to send sync datagrams from",
                network.id
            )
        })?;
        Ok(Some(Setup {
            network: network.id,
            local,
            peer: network.syncpeer,
            key: config
                .settings
                .sync_key
                .as_ref()
                .map(|k| k.as_bytes().to_vec()),
        }))
    }
}
