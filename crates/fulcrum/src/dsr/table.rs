//! The DSR plane's immutable forwarding table, built from a [`Config`] and the facts only the
//! running host knows (its own addresses, the target MACs resolved so far, health), swapped
//! whole whenever one of them changes.
//!
//! Contract: a server is balanced here when it is registered, enabled and has at least one
//! `dsr enable` target; an IPv6 server is balanced on the network whose `addr6`/`mask6` hold
//! it (resolved from `real6`, answered for with the IPv6 VRRP virtual MAC, see [`super::nd`]). Its DSR targets take new clients only if registered,
//! enabled, operational, serving the protocol and reachable: a resolved MAC, or this very host
//! (with `set localdsr 1`); with `set failopen 1`, when none is operational for a protocol,
//! all of them but health ([`fail_open`]). Everything the table cannot honour is one human message in the
//! returned problem list, never a panic: a missing interface or `real` address, a local target
//! without `localdsr`. Frames are forwarded unchanged at the IP layer, so a
//! target's own `port` cannot apply and is reported when it differs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use fulcrum_core::balance::{fail_open, Candidate, Chooser};
use fulcrum_core::model::{Config, InterfaceRef, Method, Network, Protocol, Server};
use fulcrum_wire::classify::VipTable;
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_wire::ipv4::protocol;

use crate::plane::counters::CounterSet;
use crate::plane::targets::{candidate, configured, operational_of};
use crate::plane::Transport;

/// The VRRP id used for the virtual MAC when the configuration has no `vrrp` block.
pub const DEFAULT_VRID: u8 = 1;

/// How frames for a target leave this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// Out of the DSR interface to this MAC.
    Mac(EthernetAddress),
    /// This host itself: handed to the local stack.
    Local,
    /// No MAC known yet (or any more): not operational.
    Unresolved,
}

pub struct DsrTarget {
    pub id: u32,
    /// Of the family of its servers.
    pub addr: IpAddr,
    pub next_hop: NextHop,
    pub counters: Arc<CounterSet>,
    /// May keep its clients, per transport (UDP, TCP): registered, operational, reachable.
    pub sticky: [bool; 2],
}

pub struct DsrServer {
    pub id: u32,
    pub vip: IpAddr,
    /// 0 balances every port of the VIP.
    pub port: u16,
    pub protocol: Protocol,
    pub method: Method,
    /// Session timeout, seconds.
    pub stout: u32,
    /// Per transport (UDP, TCP): the chooser for new clients.
    pub choosers: [Chooser; 2],
    /// Per transport: no target is operational and `set failopen 1` forwards to all of them
    /// (registered, enabled, serving the protocol and reachable; health ignored).
    pub fail_open: [bool; 2],
    /// The server's DSR targets (indices into [`DsrTable::targets`]).
    pub targets: Vec<usize>,
    pub counters: Arc<CounterSet>,
}

impl DsrServer {
    pub fn serves(&self, proto: u8, port: u16) -> bool {
        let transport = match proto {
            protocol::UDP => self.protocol.udp(),
            protocol::TCP => self.protocol.tcp(),
            _ => false,
        };
        transport && (self.port == 0 || self.port == port)
    }
}

/// Everything the workers forward by.
#[derive(Default)]
pub struct DsrTable {
    /// The kernel name of the DSR interface (`None`: nothing to forward).
    pub interface: Option<String>,
    /// The network's `real` address: the sender of Fulcrum's ARP requests.
    pub source: Option<Ipv4Addr>,
    /// The MAC Fulcrum answers ARP for the VIPs with (VRRP virtual MAC).
    pub virtual_mac: Option<EthernetAddress>,
    /// The network's `real6` address: the sender of Fulcrum's Neighbor Solicitations.
    pub source6: Option<Ipv6Addr>,
    /// The MAC Fulcrum answers Neighbor Solicitations for the IPv6 VIPs with (the IPv6 VRRP
    /// virtual MAC `00:00:5e:00:02:VRID`, RFC 5798 §7.3).
    pub virtual_mac6: Option<EthernetAddress>,
    /// An active-active node (`announce` block): routers send the VIPs' frames to the
    /// interface's own MAC (the XDP program hands them to the plane at the virtual MAC), and
    /// the VIPs live on no segment, so the plane neither answers ARP or Neighbor Solicitations
    /// for them nor announces them (every node would claim one MAC from its own port).
    pub routed: bool,
    pub servers: Vec<DsrServer>,
    pub targets: Vec<DsrTarget>,
    /// The servers' access lists and rate limits (set by the plane after [`build`]).
    pub guards: super::protect::FrameGuards,
}

impl DsrTable {
    /// The distinct IPv4 VIPs.
    pub fn vips(&self) -> Vec<Ipv4Addr> {
        let mut vips: Vec<Ipv4Addr> = self
            .servers
            .iter()
            .filter_map(|s| match s.vip {
                IpAddr::V4(vip) => Some(vip),
                IpAddr::V6(_) => None,
            })
            .collect();
        vips.sort();
        vips.dedup();
        vips
    }

    /// The first server balancing `vip`:`port` over `proto`.
    pub fn server_for(&self, vip: IpAddr, proto: u8, port: u16) -> Option<&DsrServer> {
        self.servers
            .iter()
            .find(|s| s.vip == vip && s.serves(proto, port))
    }

    /// Addresses whose MAC must be resolved by ARP.
    pub fn to_resolve(&self) -> Vec<Ipv4Addr> {
        self.targets
            .iter()
            .filter(|t| t.next_hop != NextHop::Local)
            .filter_map(|t| match t.addr {
                IpAddr::V4(addr) => Some(addr),
                IpAddr::V6(_) => None,
            })
            .collect()
    }
}

impl VipTable for DsrTable {
    fn is_vip_addr(&self, addr: Ipv4Addr) -> bool {
        self.servers.iter().any(|s| s.vip == IpAddr::V4(addr))
    }

    fn is_vip_service(&self, addr: Ipv4Addr, proto: u8, port: u16) -> bool {
        self.server_for(IpAddr::V4(addr), proto, port).is_some()
    }

    /// The VIPs, and the network's `real` address (this node's own on the DSR interface: the
    /// targets answer the DSR-path probes there, whether or not the host's stack holds it).
    fn answers_arp_for(&self, addr: Ipv4Addr) -> bool {
        self.is_vip_addr(addr) || self.source == Some(addr)
    }
}

/// What the running host knows that the configuration does not.
pub struct Facts<'a> {
    /// The host's own IPv4 addresses (a target among them is this host).
    pub local_addrs: &'a [Ipv4Addr],
    /// The host's own IPv6 addresses.
    pub local_addrs6: &'a [Ipv6Addr],
    /// Resolved target MACs.
    pub macs: &'a HashMap<Ipv4Addr, EthernetAddress>,
    /// Resolved IPv6 target MACs (Neighbor Discovery).
    pub macs6: &'a HashMap<Ipv6Addr, EthernetAddress>,
    /// Health by target id (absent: operational).
    pub operational: &'a HashMap<u32, bool>,
    /// The last non-zero value each target's agent reported (`method agent`).
    pub agent_values: &'a HashMap<u32, u32>,
}

/// Counter sets by id, kept across tables so counters survive reconfiguration.
pub struct CounterMaps<'a> {
    pub servers: &'a mut HashMap<u32, Arc<CounterSet>>,
    pub targets: &'a mut HashMap<u32, Arc<CounterSet>>,
    pub writers: usize,
}

fn dsr_targets_of<'a>(
    config: &'a Config,
    server: &'a Server,
) -> impl Iterator<Item = &'a fulcrum_core::model::Target> + 'a {
    server
        .targets
        .iter()
        .filter_map(|id| config.targets.get(id))
        .filter(|t| t.dsr)
}

fn contains(network: &Network, addr: IpAddr) -> bool {
    match (
        addr,
        network.addr,
        network.mask,
        network.addr6,
        network.mask6,
    ) {
        (IpAddr::V4(addr), Some(net), Some(mask), _, _) => {
            u32::from(addr) & u32::from(mask) == u32::from(net) & u32::from(mask)
        }
        (IpAddr::V6(addr), _, _, Some(net), Some(len)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(addr) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn interface_name(config: &Config, network: &Network) -> Option<String> {
    match network.interface.as_ref()? {
        InterfaceRef::Name(name) => Some(name.clone()),
        InterfaceRef::Id(id) => config.interfaces.get(id).map(|i| i.name.clone()),
    }
}

/// The network a VIP is balanced on: the one whose subnet holds it, else the only network with
/// an interface.
fn network_of(config: &Config, vip: IpAddr) -> Option<&Network> {
    let usable: Vec<&Network> = config
        .networks
        .values()
        .filter(|n| n.interface.is_some() || config.interfaces.len() == 1)
        .collect();
    usable
        .iter()
        .find(|n| contains(n, vip))
        .or_else(|| {
            if usable.len() == 1 {
                usable.first()
            } else {
                None
            }
        })
        .copied()
}

/// Builds the table for `config`; returns it and one message per problem.
pub fn build(
    config: &Config,
    facts: &Facts<'_>,
    counters: CounterMaps<'_>,
) -> (DsrTable, Vec<String>) {
    let mut problems = Vec::new();
    let vrid = config.vrrp.as_ref().map_or(DEFAULT_VRID, |v| v.vrid);
    let mut table = DsrTable {
        virtual_mac: Some(EthernetAddress::vrrp_virtual(vrid)),
        virtual_mac6: Some(EthernetAddress::vrrp_virtual_v6(vrid)),
        routed: config.announce.is_some(),
        ..DsrTable::default()
    };
    let mut target_index: HashMap<u32, usize> = HashMap::new();
    for server in config.active_servers() {
        if dsr_targets_of(config, server).next().is_none() {
            continue;
        }
        let vip = server.ipaddr;
        let Some(network) = network_of(config, vip) else {
            problems.push(format!(
                "server {}: no network with an `interface` holds {vip}; DSR needs one (network N {{ addr ... mask ... interface eth1 }})",
                server.id
            ));
            continue;
        };
        let interface = interface_name(config, network)
            .or_else(|| config.interfaces.values().next().map(|i| i.name.clone()));
        let Some(interface) = interface else {
            problems.push(format!(
                "network {}: no interface named; DSR needs one",
                network.id
            ));
            continue;
        };
        match &table.interface {
            Some(existing) if *existing != interface => {
                problems.push(format!(
                    "server {}: its network is on {interface}, but the DSR plane already runs on {existing} (one DSR interface per node)",
                    server.id
                ));
                continue;
            }
            _ => table.interface = Some(interface),
        }
        if vip.is_ipv6() {
            if table.source6.is_none() {
                table.source6 = network.real6;
                if network.real6.is_none() {
                    problems.push(format!(
                        "network {}: no `real6` address; IPv6 DSR needs it as the source of its neighbour solicitations to resolve target MACs",
                        network.id
                    ));
                }
            }
        } else if table.source.is_none() {
            table.source = network.real;
            if network.real.is_none() {
                problems.push(format!(
                    "network {}: no `real` address; DSR needs it as the source of its ARP requests to resolve target MACs",
                    network.id
                ));
            }
        }
        if dsr_targets_of(config, server).count() != server.targets.len() {
            problems.push(format!(
                "server {}: mixes DSR and proxied targets; the DSR plane balances only the DSR ones",
                server.id
            ));
        }
        let mut indices = Vec::new();
        for target in dsr_targets_of(config, server) {
            let index = match target_index.get(&target.id) {
                Some(&index) => index,
                None => {
                    let Some(built) = build_target(
                        config,
                        server,
                        target,
                        facts,
                        &mut problems,
                        &mut *counters.targets,
                        counters.writers,
                    ) else {
                        continue;
                    };
                    table.targets.push(built);
                    target_index.insert(target.id, table.targets.len() - 1);
                    table.targets.len() - 1
                }
            };
            indices.push(index);
        }
        let mut fail_open_on = [false; 2];
        let choosers = [protocol::UDP, protocol::TCP].map(|proto| {
            let mut candidates: Vec<Candidate> = indices
                .iter()
                .map(|&i| {
                    let target = &table.targets[i];
                    let reachable = target.next_hop != NextHop::Unresolved;
                    let transport = transport_of(proto);
                    let (health, values) = (facts.operational, facts.agent_values);
                    candidate(config, target.id, transport, reachable, health, values)
                })
                .collect();
            if config.settings.failopen {
                let usable = |id| {
                    let target = indices
                        .iter()
                        .map(|&i| &table.targets[i])
                        .find(|t| t.id == id);
                    target.is_some_and(|t| {
                        configured(config, t.id, transport_of(proto))
                            && t.next_hop != NextHop::Unresolved
                    })
                };
                fail_open_on[usize::from(proto == protocol::TCP)] =
                    fail_open(&mut candidates, usable);
            }
            Chooser::new(server.method, candidates)
        });
        table.servers.push(DsrServer {
            id: server.id,
            vip,
            port: server.port,
            protocol: server.protocol,
            method: server.method,
            stout: config.server_stout(server),
            choosers,
            fail_open: fail_open_on,
            targets: indices,
            counters: counters
                .servers
                .entry(server.id)
                .or_insert_with(|| Arc::new(CounterSet::new(counters.writers)))
                .clone(),
        });
    }
    (table, problems)
}

fn build_target(
    config: &Config,
    server: &Server,
    target: &fulcrum_core::model::Target,
    facts: &Facts<'_>,
    problems: &mut Vec<String>,
    counters: &mut HashMap<u32, Arc<CounterSet>>,
    writers: usize,
) -> Option<DsrTarget> {
    let addr = target.ipaddr;
    if addr.is_ipv4() != server.ipaddr.is_ipv4() {
        problems.push(format!(
            "target {} ({addr}): not of the family of server {} ({})",
            target.id, server.id, server.ipaddr
        ));
        return None;
    }
    if config.target_port(server, target) != server.port && server.port != 0 {
        problems.push(format!(
            "target {}: port {} ignored: DSR forwards frames unchanged, so the target serves the server's port {}",
            target.id,
            config.target_port(server, target),
            server.port
        ));
    }
    let local = match addr {
        IpAddr::V4(addr) => facts.local_addrs.contains(&addr),
        IpAddr::V6(addr) => facts.local_addrs6.contains(&addr),
    };
    let next_hop = if local {
        if !config.settings.localdsr {
            problems.push(format!(
                "target {} ({addr}) is this host's own address; balancing to the local host needs `set localdsr 1`",
                target.id
            ));
            return None;
        }
        NextHop::Local
    } else {
        let mac = match addr {
            IpAddr::V4(addr) => facts.macs.get(&addr),
            IpAddr::V6(addr) => facts.macs6.get(&addr),
        };
        mac.map_or(NextHop::Unresolved, |&mac| NextHop::Mac(mac))
    };
    let keeps = target.registered
        && operational_of(facts.operational, target.id)
        && next_hop != NextHop::Unresolved;
    Some(DsrTarget {
        id: target.id,
        addr,
        next_hop,
        counters: counters
            .entry(target.id)
            .or_insert_with(|| Arc::new(CounterSet::new(writers)))
            .clone(),
        sticky: [
            keeps && target.protocol.udp(),
            keeps && target.protocol.tcp(),
        ],
    })
}

/// The transport of an IP protocol number (UDP or TCP, the only ones a server serves).
fn transport_of(proto: u8) -> Transport {
    if proto == protocol::TCP {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

#[cfg(test)]
pub(crate) mod tests;
