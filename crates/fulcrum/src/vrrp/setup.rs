//! What one instance of the VRRP driver needs from the configuration, resolved once per
//! configuration: the `vrrp` block, the network it names (its kernel interface, and for IPv4
//! its `real` address), the virtual addresses of the instance's family (the network's `virt` or
//! `virt6`, then every active server's address of that family, without repeats), and whether
//! the DSR plane owns the VIPs. Which family runs when is [`Instance::primary`]'s to say.
//! [`Setup::from_config`] says why when the configuration cannot run VRRP, so the driver can
//! log it once.

use std::net::IpAddr;

use fulcrum_core::model::{Config, InterfaceRef, Network, Vrrp};
use fulcrum_core::vrrp;

use super::instance::Instance;

/// How the active node holds the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The DSR plane answers ARP (IPv6: Neighbor Solicitations) with the virtual MAC; the
    /// driver flips its active switch.
    Dsr,
    /// The kernel holds the VIP on the interface; the driver adds and removes it.
    Proxy,
}

/// One instance's group: the machine's configuration (for IPv6 with an unspecified primary
/// address until the socket knows the link-local one, see [`Setup::machine_on`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup<A: Instance> {
    pub machine: vrrp::Config<A>,
    pub interface: String,
    pub mode: Mode,
    pub notify: Option<String>,
}

impl<A: Instance> Setup<A> {
    /// `Ok(None)`: no `vrrp` block, or nothing for this family to run. `Err`: a `vrrp` block
    /// that cannot run, with the reason.
    pub fn from_config(config: &Config) -> Result<Option<Setup<A>>, String> {
        let Some(block) = &config.vrrp else {
            return Ok(None);
        };
        let network = config.networks.get(&block.network);
        let addresses = network.map_or_else(Vec::new, |n| virtual_addresses::<A>(config, n));
        let (Some(primary), Some(network)) =
            (A::primary(config, block, network, &addresses)?, network)
        else {
            return Ok(None);
        };
        let interface = interface_of(config, block, network)?;
        let mode = if crate::plane::data_plane::wants_dsr(config) {
            Mode::Dsr
        } else {
            Mode::Proxy
        };
        Ok(Some(Setup {
            machine: A::machine(block, primary, addresses),
            interface,
            mode,
            notify: block.notify.clone(),
        }))
    }

    /// The machine's configuration on a socket that decides our source address (IPv6's
    /// link-local), or as configured.
    pub fn machine_on(&self, own_address: Option<A>) -> vrrp::Config<A> {
        let mut machine = self.machine.clone();
        if let Some(address) = own_address {
            machine.primary_address = address;
        }
        machine
    }

    /// The same group on the same link, so a running machine can keep going (only the
    /// priority or the virtual address list differs, or nothing VRRP cares about). A new
    /// address list must not restart the group: the master would send priority 0 and release
    /// every VIP, and the backup would take over for nothing.
    pub fn same_group(&self, other: &Setup<A>) -> bool {
        let mut a = self.machine.clone();
        a.priority = other.machine.priority;
        a.addresses.clone_from(&other.machine.addresses);
        a == other.machine
            && self.interface == other.interface
            && self.mode == other.mode
            && self.notify == other.notify
    }
}

/// The network's own virtual address of the family first, then every active server's.
fn virtual_addresses<A: Instance>(config: &Config, network: &Network) -> Vec<A> {
    let mut addresses: Vec<A> = A::pick(network.virt, network.virt6).into_iter().collect();
    for server in config.active_servers() {
        let address = match server.ipaddr {
            IpAddr::V4(v4) => A::pick(Some(v4), None),
            IpAddr::V6(v6) => A::pick(None, Some(v6)),
        };
        if let Some(addr) = address {
            if !addresses.contains(&addr) {
                addresses.push(addr);
            }
        }
    }
    addresses
}

/// The kernel name of the network's interface.
fn interface_of(config: &Config, block: &Vrrp, network: &Network) -> Result<String, String> {
    match &network.interface {
        Some(InterfaceRef::Name(name)) => Ok(name.clone()),
        Some(InterfaceRef::Id(id)) => config
            .interfaces
            .get(id)
            .map(|i| i.name.clone())
            .ok_or_else(|| format!("interface {id} is not defined")),
        None => Err(format!("network {} has no interface", block.network)),
    }
}

#[cfg(test)]
mod tests;
