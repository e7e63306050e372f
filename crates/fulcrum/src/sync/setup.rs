//! What the sync driver needs from the configuration: the network it runs on (the first
//! registered, enabled network with a `syncpeer`, else the `vrrp` block's network), the local
//! `real` address it binds, the configured peer if any, and the key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fulcrum_core::model::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub network: u32,
    pub local: Ipv4Addr,
    /// `real6`, when a `syncpeer` is IPv6 (sync then runs over IPv6 to it).
    pub local6: Option<Ipv6Addr>,
    /// Every `syncpeer`; none means derived (the VRRP master's address on a backup, the source
    /// of the last full-table request on a master).
    pub peers: Vec<IpAddr>,
    pub key: Option<Vec<u8>>,
    /// There is a `vrrp` block: the role comes from VRRP (never *peer*).
    pub with_vrrp: bool,
}

impl Setup {
    /// `Ok(None)`: nothing to sync (no `syncpeer`, no `vrrp`). `Err`: why it cannot run.
    pub fn from_config(config: &Config) -> Result<Option<Setup>, String> {
        let with_peer = config
            .networks
            .values()
            .find(|n| n.registered && n.enabled && !n.syncpeers.is_empty());
        let network = match (with_peer, &config.vrrp) {
            (Some(network), _) => network,
            (None, Some(vrrp)) => match config.networks.get(&vrrp.network) {
                Some(network) => network,
                None => {
                    return Err(format!(
                        "the vrrp block names network {}, which is not defined",
                        vrrp.network
                    ))
                }
            },
            (None, None) => return Ok(None),
        };
        let local = network.real.ok_or_else(|| {
            format!(
                "network {} has no `real` address to send sync datagrams from",
                network.id
            )
        })?;
        let local6 = match network.syncpeers.iter().find(|p| p.is_ipv6()) {
            Some(peer) => Some(network.real6.ok_or_else(|| {
                format!(
                    "network {} has the IPv6 syncpeer {peer} but no `real6` address to send \
                     sync datagrams from",
                    network.id
                )
            })?),
            None => None,
        };
        let peers = network.syncpeers.clone();
        Ok(Some(Setup {
            network: network.id,
            local,
            local6,
            peers,
            key: config
                .settings
                .sync_key
                .as_ref()
                .map(|k| k.as_bytes().to_vec()),
            with_vrrp: config.vrrp.is_some(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETWORK: &str =
        "network 1 {\naddr 10.235.210.0\nmask 255.255.255.0\nreal 10.235.210.45\n\
        interface eth1\n}\nregister network 1\nenable network 1\n";
    const VRRP: &str = "vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n";

    fn setup(text: &str) -> Result<Option<Setup>, String> {
        let config = fulcrum_config::parse("test.conf", text).expect("a valid configuration");
        Setup::from_config(&config)
    }

    #[test]
    fn the_vrrp_network_syncs_from_its_real_address_with_a_derived_peer() {
        let found = setup(&format!("{VRRP}{NETWORK}")).unwrap().unwrap();
        assert_eq!(found.local, Ipv4Addr::new(10, 235, 210, 45));
        assert!(found.peers.is_empty());
        assert!(found.with_vrrp);
    }

    #[test]
    fn names_why_it_cannot_run() {
        assert_eq!(setup(NETWORK), Ok(None), "no vrrp, no syncpeer");
        let without_real = format!("{VRRP}{}", NETWORK.replace("real 10.235.210.45\n", ""));
        let why = setup(&without_real).unwrap_err();
        assert!(why.contains("network 1 has no `real` address"), "{why}");
        assert!(!why.contains("vrrp block"), "{why}");
        let ipv6_peer = NETWORK.replace("interface eth1\n", "interface eth1\nsyncpeer fd00::46\n");
        let why = setup(&ipv6_peer).unwrap_err();
        assert!(
            why.contains("IPv6 syncpeer fd00::46 but no `real6`"),
            "{why}"
        );
        let with_real6 = NETWORK.replace(
            "interface eth1\n",
            "interface eth1\nreal6 fd00::45\nsyncpeer fd00::46,10.235.210.47\n",
        );
        let found = setup(&with_real6).unwrap().unwrap();
        assert_eq!(found.local6, Some("fd00::45".parse().unwrap()));
        assert_eq!(found.peers.len(), 2);
    }
}
