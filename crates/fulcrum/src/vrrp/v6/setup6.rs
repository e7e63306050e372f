//! What the IPv6 instance of a `vrrp` block runs with ([`Setup6`]): the block, the IPv6
//! virtual addresses (the network's `virt6` and every active IPv6 server's address), the
//! interface, and the mode (DSR when the configuration has DSR targets: the DSR plane answers
//! for the IPv6 VIPs; proxy otherwise: the kernel holds them).

use std::net::{IpAddr, Ipv6Addr};

use fulcrum_core::model::{Config, InterfaceRef};
use fulcrum_core::vrrp;

use crate::vrrp::setup::Mode;

/// What the IPv6 instance needs from the configuration; the primary address is the
/// interface's link-local address, known once the socket is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup6 {
    pub block: fulcrum_core::model::Vrrp,
    pub addresses: Vec<Ipv6Addr>,
    pub interface: String,
    pub notify: Option<String>,
    pub mode: Mode,
}

impl Setup6 {
    /// `Ok(None)`: no `vrrp` block, or no IPv6 virtual address. `Err`: why it cannot run.
    pub fn from_config(config: &Config) -> Result<Option<Setup6>, String> {
        let Some(block) = &config.vrrp else {
            return Ok(None);
        };
        let Some(network) = config.networks.get(&block.network) else {
            return Ok(None);
        };
        let mut addresses: Vec<Ipv6Addr> = network.virt6.into_iter().collect();
        for server in config.active_servers() {
            if let IpAddr::V6(addr) = server.ipaddr {
                if !addresses.contains(&addr) {
                    addresses.push(addr);
                }
            }
        }
        if addresses.is_empty() {
            return Ok(None);
        }
        let mode = if crate::plane::data_plane::wants_dsr(config) {
            Mode::Dsr
        } else {
            Mode::Proxy
        };
        let interface = match &network.interface {
            Some(InterfaceRef::Name(name)) => name.clone(),
            Some(InterfaceRef::Id(id)) => config
                .interfaces
                .get(id)
                .map(|i| i.name.clone())
                .ok_or_else(|| format!("interface {id} is not defined"))?,
            None => return Err(format!("network {} has no interface", block.network)),
        };
        Ok(Some(Setup6 {
            block: block.clone(),
            addresses,
            interface,
            notify: block.notify.clone(),
            mode,
        }))
    }

    pub(super) fn machine(&self, link_local: Ipv6Addr) -> vrrp::Config<Ipv6Addr> {
        vrrp::Config::from_model_v6(&self.block, link_local, self.addresses.clone())
    }

    /// Only the priority or the address list differs: the running group keeps going.
    pub(super) fn same_group(&self, other: &Setup6) -> bool {
        let mut a = self.clone();
        a.block.priority = other.block.priority;
        a.addresses.clone_from(&other.addresses);
        a == *other
    }
}
