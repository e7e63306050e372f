//! What differs between the driver's two instances of one `vrrp` block: the IPv4 instance
//! (RFC 3768 / RFC 5798 over IPv4) and the IPv6 one (RFC 5798 over IPv6, same VRID, priority,
//! interval and preemption, always version 3, from the interface's link-local address).
//!
//! Contract: [`Instance`] extends the core's [`Family`] (implemented for [`Ipv4Addr`] and
//! [`Ipv6Addr`]) with what the driver needs per family: its socket ([`VrrpSocket`]), where its
//! virtual addresses come from (the network's `virt` or `virt6`, then every active server of the
//! family), whether it runs and from which primary address, the DSR plane's switch it flips, the
//! prefix a kernel-held VIP gets, whether DSR adverts leave as frames from the virtual MAC
//! (IPv4 only: the IPv6 ones leave through the kernel), and the names its log lines carry. Everything else (the runner
//! loop, FAULT, holding the VIPs, the setup) is one generic piece of code for both families.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fulcrum_core::model::{Config, Network, Vrrp};
use fulcrum_core::vrrp::{self, Family};

use super::socket::{VrrpSocket, VrrpSocket4};
use super::socket6::VrrpSocket6;
use crate::plane::data_plane::VipSwitch;

/// One family's instance of the driver.
pub trait Instance: Family + Into<IpAddr> {
    /// The prefix of its log lines and the name of its thread.
    const NAME: &'static str;
    /// Appended to its transition log lines.
    const TRANSITION_SUFFIX: &'static str;
    /// The prefix length of a VIP the kernel holds in proxy mode.
    const HOST_PREFIX: u8;
    /// What its announcements of a taken VIP are called in log lines.
    const ANNOUNCEMENT: &'static str;
    /// In DSR mode, adverts leave as whole frames from the virtual MAC (RFC 3768 7.3) rather
    /// than through the raw socket.
    const ADVERTS_AS_FRAMES: bool;

    type Socket: VrrpSocket<Address = Self>;

    /// Of an IPv4 and an IPv6 choice (`virt` and `virt6`, or a server's address), this
    /// family's.
    fn pick(v4: Option<Ipv4Addr>, v6: Option<Ipv6Addr>) -> Option<Self>;
    /// Whether this instance runs for `block` with these virtual addresses, and its primary
    /// address from the configuration; `Err` says why a block cannot run.
    fn primary(
        config: &Config,
        block: &Vrrp,
        network: Option<&Network>,
        addresses: &[Self],
    ) -> Result<Option<Self>, String>;
    /// The machine's configuration for `block`.
    fn machine(block: &Vrrp, primary: Self, addresses: Vec<Self>) -> vrrp::Config<Self>;
    /// The DSR plane's switch over this family's VIPs.
    fn is_active(plane: &dyn VipSwitch) -> bool;
    fn set_active(plane: &dyn VipSwitch, active: bool);
}

impl Instance for Ipv4Addr {
    const NAME: &'static str = "vrrp";
    const TRANSITION_SUFFIX: &'static str = "";
    const HOST_PREFIX: u8 = 32;
    const ANNOUNCEMENT: &'static str = "gratuitous ARP";
    const ADVERTS_AS_FRAMES: bool = true;

    type Socket = VrrpSocket4;

    fn pick(v4: Option<Ipv4Addr>, _: Option<Ipv6Addr>) -> Option<Ipv4Addr> {
        v4
    }

    /// The network's `real` address. A block with IPv6 virtual addresses only has no IPv4
    /// instance (`Ok(None)`); a block without any virtual address cannot run.
    fn primary(
        config: &Config,
        block: &Vrrp,
        network: Option<&Network>,
        addresses: &[Ipv4Addr],
    ) -> Result<Option<Ipv4Addr>, String> {
        let network = network.ok_or_else(|| format!("network {} is not defined", block.network))?;
        let has_ipv6 = network.virt6.is_some()
            || config
                .active_servers()
                .any(|server| server.ipaddr.is_ipv6());
        if addresses.is_empty() && has_ipv6 {
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
        Ok(Some(real))
    }

    fn machine(block: &Vrrp, primary: Ipv4Addr, addresses: Vec<Ipv4Addr>) -> vrrp::Config {
        vrrp::Config::from_model(block, primary, addresses)
    }

    fn is_active(plane: &dyn VipSwitch) -> bool {
        plane.is_active()
    }

    fn set_active(plane: &dyn VipSwitch, active: bool) {
        plane.set_active(active);
    }
}

impl Instance for Ipv6Addr {
    const NAME: &'static str = "vrrp6";
    const TRANSITION_SUFFIX: &'static str = " (IPv6)";
    const HOST_PREFIX: u8 = 128;
    const ANNOUNCEMENT: &'static str = "unsolicited neighbour advertisements";
    const ADVERTS_AS_FRAMES: bool = false;

    type Socket = VrrpSocket6;

    fn pick(_: Option<Ipv4Addr>, v6: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        v6
    }

    /// Runs when the block's network has IPv6 virtual addresses (a missing network is the IPv4
    /// instance's to report). The primary address is the interface's link-local one, known
    /// once the socket is open ([`VrrpSocket::own_address`]); unspecified until then.
    fn primary(
        _config: &Config,
        _block: &Vrrp,
        network: Option<&Network>,
        addresses: &[Ipv6Addr],
    ) -> Result<Option<Ipv6Addr>, String> {
        if network.is_none() || addresses.is_empty() {
            return Ok(None);
        }
        Ok(Some(Ipv6Addr::UNSPECIFIED))
    }

    fn machine(
        block: &Vrrp,
        primary: Ipv6Addr,
        addresses: Vec<Ipv6Addr>,
    ) -> vrrp::Config<Ipv6Addr> {
        vrrp::Config::from_model_v6(block, primary, addresses)
    }

    fn is_active(plane: &dyn VipSwitch) -> bool {
        plane.is_active6()
    }

    fn set_active(plane: &dyn VipSwitch, active: bool) {
        plane.set_active6(active);
    }
}
