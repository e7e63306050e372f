//! What the VRRP driver needs from the configuration, resolved once per configuration: the
//! `vrrp` block, the network it names (its `real` address and kernel interface), the virtual
//! addresses (the network's `virt`, then every active server's IPv4 address, without repeats),
//! and whether the DSR plane owns the VIP. A block with IPv6 virtual addresses only has no IPv4
//! instance (`Ok(None)`); its IPv6 instance is `v6.rs`'s. [`Setup::from_config`] says why when the
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
        let has_ipv6 = network.virt6.is_some()
            || config
                .active_servers()
                .any(|server| server.ipaddr.is_ipv6());
        if addresses.is_empty() && has_ipv6 {
            // Only the IPv6 instance runs (`v6.rs`).
            return Ok(None);
        }
        let real = network
            .real
            .ok_or_else(|| format!("network {} has no real address", block.network))?;
        if addresses.is_empty() {
            return Err(format!(
                "no virtual address (network {} has no virt and no server is active)",
                block.network
            ));
        }
        let mode = if crate::plane::data_plane::wants_dsr(config) {
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
    /// priority or the virtual address list differs, or nothing VRRP cares about). A new
    /// address list must not restart the group: the master would send priority 0 and release
    /// every VIP, and the backup would take over for nothing.
    pub fn same_group(&self, other: &Setup) -> bool {
        let mut a = self.machine.clone();
        a.priority = other.machine.priority;
        a.addresses.clone_from(&other.machine.addresses);
        a == other.machine
            && self.interface == other.interface
            && self.mode == other.mode
            && self.notify == other.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_NS0A: &str = "hostname NS0A\nset localdsr 1\ninterface eth1\n\
        vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n\
        network 1 {\naddr 10.235.210.0\nmask 255.255.255.0\nreal 10.235.210.45\ninterface eth1\n}\n\
        register network 1\nenable network 1\n\
        server 1 {\nipaddr 10.235.210.1\nport 53\nmethod session\ntargets 1,2\n}\n\
        register server 1\nenable server 1\n\
        target 1 {\nipaddr 10.235.210.43\nport 53\ndsr enable\n}\n\
        target 2 {\nipaddr 10.235.210.44\nport 53\ndsr enable\n}\n\
        register targets 1,2\nenable targets 1,2\n";

    fn parse(text: &str) -> Config {
        fulcrum_config::parse("test.conf", text).expect("a valid configuration")
    }

    #[test]
    fn the_seeds_node_runs_vrid_7_on_eth1_in_dsr_mode() {
        let setup = Setup::from_config(&parse(SEED_NS0A))
            .expect("runnable")
            .expect("a vrrp block");
        assert_eq!(setup.interface, "eth1");
        assert_eq!(setup.mode, Mode::Dsr);
        assert_eq!(setup.machine.vrid, 7);
        assert_eq!(setup.machine.priority, 200);
        assert_eq!(setup.machine.advert_interval_cs, 100);
        assert_eq!(
            setup.machine.primary_address,
            Ipv4Addr::new(10, 235, 210, 45)
        );
        assert_eq!(
            setup.machine.addresses,
            vec![Ipv4Addr::new(10, 235, 210, 1)]
        );
    }

    #[test]
    fn without_dsr_targets_it_is_proxy_mode_and_virt_comes_first() {
        let text = SEED_NS0A.replace("dsr enable\n", "").replace(
            "real 10.235.210.45\n",
            "real 10.235.210.45\nvirt 10.235.210.2\n",
        );
        let setup = Setup::from_config(&parse(&text)).unwrap().unwrap();
        assert_eq!(setup.mode, Mode::Proxy);
        assert_eq!(
            setup.machine.addresses,
            vec![
                Ipv4Addr::new(10, 235, 210, 2),
                Ipv4Addr::new(10, 235, 210, 1)
            ]
        );
    }

    #[test]
    fn no_vrrp_block_is_none_and_a_priority_change_keeps_the_group() {
        let without = SEED_NS0A.replace("vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n", "");
        assert_eq!(Setup::from_config(&parse(&without)), Ok(None));
        let a = Setup::from_config(&parse(SEED_NS0A)).unwrap().unwrap();
        let b = Setup::from_config(&parse(&SEED_NS0A.replace("priority 200", "priority 100")))
            .unwrap()
            .unwrap();
        assert!(a.same_group(&b));
        let c = Setup::from_config(&parse(&SEED_NS0A.replace("vrid 7", "vrid 8")))
            .unwrap()
            .unwrap();
        assert!(!a.same_group(&c));
    }

    #[test]
    fn a_second_server_with_its_own_address_keeps_the_group() {
        let two = SEED_NS0A.replace(
            "register server 1\nenable server 1\n",
            "register server 1\nenable server 1\n\
             server 2 {\nipaddr 10.235.210.2\nport 53\nmethod session\ntargets 1,2\n}\n\
             register server 2\nenable server 2\n",
        );
        let one = Setup::from_config(&parse(SEED_NS0A)).unwrap().unwrap();
        let both = Setup::from_config(&parse(&two)).unwrap().unwrap();
        assert_eq!(
            both.machine.addresses,
            vec![
                Ipv4Addr::new(10, 235, 210, 1),
                Ipv4Addr::new(10, 235, 210, 2)
            ]
        );
        assert!(one.same_group(&both));
        assert!(both.same_group(&one));
        // Peers and authentication are part of the group: a change restarts it.
        let peered = Setup::from_config(&parse(&SEED_NS0A.replace(
            "network 1\n}\n",
            "network 1\npeer 10.235.210.46\nauthpass secret\n}\n",
        )))
        .unwrap()
        .unwrap();
        assert_eq!(peered.machine.peers, vec![Ipv4Addr::new(10, 235, 210, 46)]);
        assert_eq!(peered.machine.auth, vrrp::Auth::simple_text("secret"));
        assert!(!one.same_group(&peered));
    }
}
