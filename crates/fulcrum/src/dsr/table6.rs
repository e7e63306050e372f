//! The IPv6 side of the DSR forwarding table: which IPv6 addresses the plane forwards for and
//! answers Neighbor Solicitations for, and which target MACs it resolves by Neighbor
//! Discovery. The servers and targets themselves are the table's own ([`super::table`]): one
//! list for both families, so sessions, methods, health and counters are shared code.

use std::net::{IpAddr, Ipv6Addr};

use fulcrum_wire::classify6::Vip6Table;

use super::table::{DsrTable, NextHop};

impl DsrTable {
    /// The distinct IPv6 VIPs.
    pub fn vips6(&self) -> Vec<Ipv6Addr> {
        let mut vips: Vec<Ipv6Addr> = self
            .servers
            .iter()
            .filter_map(|s| match s.vip {
                IpAddr::V6(vip) => Some(vip),
                IpAddr::V4(_) => None,
            })
            .collect();
        vips.sort();
        vips.dedup();
        vips
    }

    /// IPv6 addresses whose MAC must be resolved by Neighbor Discovery.
    pub fn to_resolve6(&self) -> Vec<Ipv6Addr> {
        self.targets
            .iter()
            .filter(|t| t.next_hop != NextHop::Local)
            .filter_map(|t| match t.addr {
                IpAddr::V6(addr) => Some(addr),
                IpAddr::V4(_) => None,
            })
            .collect()
    }
}

impl Vip6Table for DsrTable {
    fn is_vip6_addr(&self, addr: Ipv6Addr) -> bool {
        self.servers.iter().any(|s| s.vip == IpAddr::V6(addr))
    }

    fn is_vip6_service(&self, addr: Ipv6Addr, protocol: u8, port: u16) -> bool {
        self.server_for(IpAddr::V6(addr), protocol, port).is_some()
    }

    /// The IPv6 VIPs, and the network's `real6` (this node's own on the DSR interface, where
    /// the targets answer its solicitations).
    fn answers_nd_for(&self, addr: Ipv6Addr) -> bool {
        self.is_vip6_addr(addr) || self.source6 == Some(addr)
    }
}
