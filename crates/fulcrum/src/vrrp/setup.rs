//! What the VRRP driver needs from the configuration, resolved once per configuration: the
//! `vrrp` block, the network it names (its `real` address and kernel interface), the virtual
//! addresses (the network's `virt`, then every active server's IPv4 address, without repeats),
//! and whether the DSR plane owns the VIP. [`Setup::from_config`] says why when the
//! configuration cannot run VRRP, so the driver can log it once.

use std::net::{IpAddr, Ipv4Addr};

use fulcrum_core::model::{Config, InterfaceRef};
use fulcrum_core::vrrp;

/// How the active node holds the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The DSR plane answers ARP with the virtual MAC; the driver flips its active switch.
    Dsr,
    /// The kernel holds the VIP on the interface; the driver adds and removes it.
    Proxy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub machine: vrrp::Config,
    pub interface: String,
    pub mode: Mode,
    pub notify: Option<String>,
}

impl Setup {
    /// `Ok(None)`: no `vrrp` block. `Err`: a `vrrp` block that cannot run, with the reason.
    pub fn from_config(config: &Config) -> Result<Option<Setup>, String> {
        let Some(block) = &config.vrrp else {
            return Ok(None);
        };
        let network = config
            .networks
            .get(&block.network)
            .ok_or_else(|| format!("network {} is not defined", block.network))?;
        let real = network
            .real
            .ok_or_else(|| format!("network {} has no real address", block.network))?;
        let interface = match &network.interface {
            Some(InterfaceRef::Name(name)) => name.clone(),
            Some(InterfaceRef::Id(id)) => config
                .interfaces
                .get(id)
                .map(|i| i.name.clone())
                .ok_or_else(|| format!("interface {id} is not defined"))?,
            None => return Err(format!("network {} has no interface", block.network)),
        };
        let mut addresses: Vec<Ipv4Addr> = network.virt.into_iter().collect();
        for server in config.active_servers() {
            if let IpAddr::V4(addr) = server.ipaddr {
                if !addresses.contains(&addr) {
                    addresses.push(addr);
                }
            }
        }
        if addresses.is_empty() {
            return Err(format!(
                "no virtual address (network {} has no virt and no server is active)",
                block.network
            ));
        }
        let mode = if crate::dsr::table::wants_dsr(config) {
            Mode::Dsr
        } else {
            Mode::Proxy
        };
        Ok(Some(Setup {
            machine: vrrp::Config::from_model(block, real, addresses),
            interface,
            mode,
            notify: block.notify.clone(),
        }))
    }

    /// The same group on the same link, so a running machine can keep going (only the
    /// priority differs, or nothing VRRP cares about).
    pub fn same_group(&self, other: &Setup) -> bool {
        let mut a = self.machine.clone();
        a.priority = other.machine.priority;
        a == other.machine
            && self.interface == other.interface
            && self.mode == other.mode
            && self.notify == other.notify
    }
}
