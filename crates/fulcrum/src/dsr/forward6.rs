//! The per-frame forwarding decision of the DSR plane for IPv6 frames: one received Ethernet
//! frame in, one [`Decision6`] out. Pure apart from the session table it reads and updates; no
//! I/O. The IPv6 twin of [`super::forward`], with Neighbor Discovery in place of ARP.
//!
//! Contract: the frame is classified by `fulcrum_wire::classify6` (malformed input is a counted
//! drop with the classifier's reason, never a panic). A frame sent to the IPv6 virtual MAC for
//! a VIP service is steered exactly as an IPv4 one is ([`super::forward::choose`]: the server's
//! method, the session table keyed by the client's address, TCP and fragments always sticky, so
//! a non-first fragment, which carries no ports, follows its client's session). A Neighbor
//! Solicitation for a VIP is answered with the virtual MAC only while the IPv6 VRRP instance is
//! master; one for `real6` always, with the interface's own MAC. Neighbor Advertisements feed
//! the resolver. An ICMPv6 error about a packet a target sent from the VIP (Packet Too Big,
//! Destination Unreachable, ...) goes to the target holding that client's session, unchanged,
//! so path MTU discovery and unreachables reach the host that sent the packet; without a
//! session it is left to the kernel, like everything else that is not the plane's.

use std::net::{IpAddr, Ipv6Addr};

use fulcrum_core::model::Method;
use fulcrum_wire::classify6::{classify_ipv6, Flow6, Verdict6, Vip6Table};
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_wire::ipv4::protocol;

use super::forward::{choose, Pick, PlaneDrop};
use super::table::{DsrTable, NextHop};
use crate::plane::sessions::Sessions;

/// What to do with one IPv6 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision6 {
    /// Rewrite the MACs and transmit it out of the DSR interface.
    Forward {
        server: usize,
        target: usize,
        mac: EthernetAddress,
    },
    /// Hand the IPv6 packet (`ip_len` bytes after the Ethernet header) to the local stack.
    Local {
        server: usize,
        target: usize,
        dst: Ipv6Addr,
        ip_len: usize,
    },
    /// An ICMPv6 error about a client's flow: send it unchanged to the target with the
    /// client's session (`mac`), or into the local stack towards `dst` (`mac` is `None`: the
    /// target is this host; `ip_len` as for `Local`).
    ForwardError {
        target: usize,
        mac: Option<EthernetAddress>,
        dst: Ipv6Addr,
        ip_len: usize,
    },
    /// Answer a Neighbor Solicitation for `addr`: a VIP with the IPv6 virtual MAC (while
    /// active), or `real6` with the interface's own MAC (`own_mac`).
    AnswerNs {
        addr: Ipv6Addr,
        asker_ip: Ipv6Addr,
        asker_mac: EthernetAddress,
        own_mac: bool,
    },
    /// A Neighbor Advertisement: maybe a target's MAC.
    Learn {
        ip: Ipv6Addr,
        mac: EthernetAddress,
    },
    /// VRRP over IPv6: the VRRP driver's business (its own socket).
    Vrrp,
    /// Not for the plane: the kernel has its own copy.
    Other,
    Drop(PlaneDrop),
}

/// Decides what to do with the IPv6 `frame`. `active` is the IPv6 VRRP instance's switch
/// (false while this node is its backup).
pub fn decide6(
    frame: &[u8],
    table: &DsrTable,
    sessions: &Sessions,
    pick: &mut Pick,
    active: bool,
) -> Decision6 {
    match classify_ipv6(frame, table) {
        Verdict6::NeighborSolicit {
            target,
            sender_ip,
            sender_mac,
        } => {
            let real = table.source6 == Some(target) && !table.is_vip6_addr(target);
            if real || (active && !table.routed) {
                Decision6::AnswerNs {
                    addr: target,
                    asker_ip: sender_ip,
                    asker_mac: sender_mac,
                    own_mac: real,
                }
            } else if table.routed {
                // Routed VIPs live on no segment: the question is not the plane's.
                Decision6::Other
            } else {
                Decision6::Drop(PlaneDrop::NotActive)
            }
        }
        Verdict6::NeighborAdvert {
            target, target_mac, ..
        } => Decision6::Learn {
            ip: target,
            mac: target_mac,
        },
        // Only frames sent to the VIP's MAC are ours (see `forward::decide`).
        Verdict6::ToVip(_) | Verdict6::Icmpv6Error(_)
            if frame.get(0..6) != table.virtual_mac6.as_ref().map(|m| &m.0[..]) =>
        {
            Decision6::Other
        }
        Verdict6::ToVip(_) | Verdict6::Icmpv6Error(_) if !active => {
            Decision6::Drop(PlaneDrop::NotActive)
        }
        Verdict6::ToVip(flow) => steer(frame, &flow, table, sessions, pick),
        Verdict6::Icmpv6Error(flow) => error_to_session(frame, &flow, table, sessions),
        Verdict6::Vrrp => Decision6::Vrrp,
        Verdict6::Other => Decision6::Other,
        Verdict6::Drop(reason) => Decision6::Drop(PlaneDrop::Frame(reason)),
    }
}

fn server_of(flow: &Flow6, table: &DsrTable) -> Option<usize> {
    let vip = IpAddr::V6(flow.dst);
    table.servers.iter().position(|s| {
        let port = flow.ports.map_or(s.port, |p| p.dst);
        s.vip == vip && s.serves(flow.protocol, port)
    })
}

fn steer(
    frame: &[u8],
    flow: &Flow6,
    table: &DsrTable,
    sessions: &Sessions,
    pick: &mut Pick,
) -> Decision6 {
    let Some(server_index) = server_of(flow, table) else {
        return Decision6::Other;
    };
    let server = &table.servers[server_index];
    let sticky = server.method == Method::Session
        || flow.protocol == protocol::TCP
        || flow.fragment.is_some();
    let client = IpAddr::V6(flow.src);
    let Some(target_index) = choose(server, table, flow.protocol, client, sticky, sessions, pick)
    else {
        return Decision6::Drop(PlaneDrop::NoTarget(server_index));
    };
    match table.targets[target_index].next_hop {
        NextHop::Mac(mac) => Decision6::Forward {
            server: server_index,
            target: target_index,
            mac,
        },
        NextHop::Local => Decision6::Local {
            server: server_index,
            target: target_index,
            dst: flow.dst,
            ip_len: ip_len(frame),
        },
        NextHop::Unresolved => Decision6::Drop(PlaneDrop::NoTarget(server_index)),
    }
}

/// The fixed header and its payload (the classifier checked the payload length against the
/// frame).
fn ip_len(frame: &[u8]) -> usize {
    frame.get(18..20).map_or(0, |len| {
        fulcrum_wire::ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([len[0], len[1]]))
    })
}

/// An ICMPv6 error follows the session of the client whose flow it is about; it never creates
/// one (an error is no reason to pick a target).
fn error_to_session(
    frame: &[u8],
    flow: &Flow6,
    table: &DsrTable,
    sessions: &Sessions,
) -> Decision6 {
    let Some(server_index) = server_of(flow, table) else {
        return Decision6::Other;
    };
    let server = &table.servers[server_index];
    let found = sessions
        .lookup(server.id, IpAddr::V6(flow.src), sessions.now())
        .and_then(|id| {
            server
                .targets
                .iter()
                .copied()
                .find(|&i| table.targets[i].id == id)
        });
    let Some(target) = found else {
        return Decision6::Other;
    };
    let mac = match table.targets[target].next_hop {
        NextHop::Mac(mac) => Some(mac),
        NextHop::Local => None,
        NextHop::Unresolved => return Decision6::Other,
    };
    Decision6::ForwardError {
        target,
        mac,
        dst: flow.dst,
        ip_len: ip_len(frame),
    }
}

#[cfg(test)]
mod tests;
