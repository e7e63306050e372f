//! The per-frame forwarding decision of the DSR plane: one received Ethernet frame in, one
//! [`Decision`] out. Pure apart from the session table it reads and updates; no I/O.
//!
//! Contract: the frame is classified by `fulcrum_wire::classify` (so malformed input is a
//! counted drop with the classifier's reason, never a panic); a frame to a VIP service is
//! steered by its server's method and, where a client must stick, by the session table keyed
//! by the client's address alone. That one key is what keeps every segment of a TCP connection
//! and every fragment of a datagram (non-first fragments carry no ports) on one target:
//!
//! - `method session`: every frame follows the client's session (created by the method's
//!   choice for a new client);
//! - other methods: whole UDP datagrams are balanced one by one, while TCP segments and
//!   fragments follow a session too, since a layer-2 balancer cannot see where a connection
//!   or a fragmented datagram ends.

use std::net::{IpAddr, Ipv4Addr};

pub use fulcrum_core::balance::Pick;
use fulcrum_core::balance::{stick_or_pick, Rule};
use fulcrum_core::model::Method;
use fulcrum_core::stats::DropReason as ServerDrop;
use fulcrum_wire::classify::{classify, DropReason, Flow, Verdict, VipTable};
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_wire::ipv4::protocol;

use super::plane_counters::{Event, Slot};
use super::table::{DsrServer, DsrTable, NextHop};
use crate::plane::sessions::Sessions;

/// Why the plane dropped a frame that the classifier accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaneDrop {
    /// The classifier's reason.
    Frame(DropReason),
    /// For a VIP while this node is a backup.
    NotActive,
    /// No target of the server (index into the table's servers) can take the client.
    NoTarget(usize),
}

impl PlaneDrop {
    /// Counts the drop on worker `index`'s slot, and on the server's for `NoTarget`.
    pub fn count(self, table: &DsrTable, counters: &Slot, index: usize) {
        match self {
            PlaneDrop::Frame(reason) => counters.drop(reason),
            PlaneDrop::NotActive => counters.count(Event::DropNotActive),
            PlaneDrop::NoTarget(server) => {
                counters.count(Event::VipFrames);
                counters.count(Event::DropNoTarget);
                if let Some(server) = table.servers.get(server) {
                    server.counters.slot(index).drop(ServerDrop::NoTarget);
                }
            }
        }
    }
}

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Rewrite the MACs and transmit it out of the DSR interface.
    Forward {
        server: usize,
        target: usize,
        mac: EthernetAddress,
    },
    /// Hand the IP packet (`ip_len` bytes after the Ethernet header) to the local stack.
    Local {
        server: usize,
        target: usize,
        dst: Ipv4Addr,
        ip_len: usize,
    },
    /// Answer an ARP request for `addr`: a VIP with the virtual MAC (while active), or the
    /// network's `real` address with the interface's own MAC (`own_mac`; always: it is this
    /// node's own, and the targets send the DSR-path probes' answers to it).
    AnswerArp {
        addr: Ipv4Addr,
        asker_ip: Ipv4Addr,
        asker_mac: EthernetAddress,
        own_mac: bool,
    },
    /// An ARP reply: maybe a target's MAC.
    Learn {
        ip: Ipv4Addr,
        mac: EthernetAddress,
    },
    /// VRRP: the VRRP driver's business.
    Vrrp,
    /// Not for the plane: the kernel has its own copy.
    Other,
    Drop(PlaneDrop),
}

/// Decides what to do with `frame`. `active` is false while this node is a VRRP backup.
pub fn decide(
    frame: &[u8],
    table: &DsrTable,
    sessions: &Sessions,
    pick: &mut Pick,
    active: bool,
) -> Decision {
    match classify(frame, table) {
        // An announcement (gratuitous ARP: sender = target, as a node taking the VIP sends,
        // RFC 3768 6.4.2, RFC 5227 3), not a question. Answering it from the virtual MAC would
        // make the switch learn that MAC here again, taking the VIP back from the announcer.
        Verdict::ArpRequest {
            target, sender_ip, ..
        } if sender_ip == target => Decision::Other,
        Verdict::ArpRequest {
            target,
            sender_ip,
            sender_mac,
        } => {
            let real = table.source == Some(target) && !table.is_vip_addr(target);
            if real || (active && !table.routed) {
                Decision::AnswerArp {
                    addr: target,
                    asker_ip: sender_ip,
                    asker_mac: sender_mac,
                    own_mac: real,
                }
            } else if table.routed {
                // Routed VIPs live on no segment: the question is not the plane's.
                Decision::Other
            } else {
                Decision::Drop(PlaneDrop::NotActive)
            }
        }
        Verdict::ArpReply {
            sender_ip,
            sender_mac,
        } => Decision::Learn {
            ip: sender_ip,
            mac: sender_mac,
        },
        // Only frames sent to the VIP's MAC are ours: a switch floods unknown unicast, and a
        // frame for a target's own MAC must not be forwarded a second time.
        Verdict::ToVip(_) if frame.get(0..6) != table.virtual_mac.as_ref().map(|m| &m.0[..]) => {
            Decision::Other
        }
        Verdict::ToVip(_) if !active => Decision::Drop(PlaneDrop::NotActive),
        Verdict::ToVip(flow) => steer(frame, &flow, table, sessions, pick),
        Verdict::Vrrp => Decision::Vrrp,
        Verdict::Other => Decision::Other,
        Verdict::Drop(reason) => Decision::Drop(PlaneDrop::Frame(reason)),
    }
}

fn steer(
    frame: &[u8],
    flow: &Flow,
    table: &DsrTable,
    sessions: &Sessions,
    pick: &mut Pick,
) -> Decision {
    let found = match flow.ports {
        Some(ports) => table
            .servers
            .iter()
            .position(|s| s.vip == IpAddr::V4(flow.dst) && s.serves(flow.protocol, ports.dst)),
        None => table
            .servers
            .iter()
            .position(|s| s.vip == IpAddr::V4(flow.dst) && s.serves(flow.protocol, s.port)),
    };
    let Some(server_index) = found else {
        return Decision::Other;
    };
    let server = &table.servers[server_index];
    let sticky = server.method == Method::Session
        || flow.protocol == protocol::TCP
        || flow.fragment.is_some();
    let client = IpAddr::V4(flow.src);
    let Some(target_index) = choose(server, table, flow.protocol, client, sticky, sessions, pick)
    else {
        return Decision::Drop(PlaneDrop::NoTarget(server_index));
    };
    let target = &table.targets[target_index];
    match target.next_hop {
        NextHop::Mac(mac) => Decision::Forward {
            server: server_index,
            target: target_index,
            mac,
        },
        NextHop::Local => {
            // The classifier checked the total length against the frame.
            let ip_len = frame
                .get(14..18)
                .map_or(0, |h| usize::from(u16::from_be_bytes([h[2], h[3]])));
            Decision::Local {
                server: server_index,
                target: target_index,
                dst: flow.dst,
                ip_len,
            }
        }
        NextHop::Unresolved => Decision::Drop(PlaneDrop::NoTarget(server_index)),
    }
}

/// The index in `table.targets` for `client` (of either family) over `proto`: the core's
/// stick-or-pick rule, sticky as the caller says, each session's target kept while its
/// `sticky` flag holds.
pub(super) fn choose(
    server: &DsrServer,
    table: &DsrTable,
    proto: u8,
    client: IpAddr,
    sticky: bool,
    sessions: &Sessions,
    pick: &mut Pick,
) -> Option<usize> {
    let transport = usize::from(proto == protocol::TCP);
    let index_of = |id: u32| {
        server
            .targets
            .iter()
            .copied()
            .find(|&i| table.targets[i].id == id)
    };
    let rule = Rule {
        server: server.id,
        chooser: &server.choosers[transport],
        sticky,
        fail_open: server.fail_open[transport],
        timeout: server.stout,
    };
    // Only a sticky frame reads the clock: whole datagrams balanced one by one need none.
    let now = if sticky { sessions.now() } else { 0 };
    let may_keep = |id: u32| index_of(id).is_some_and(|i| table.targets[i].sticky[transport]);
    let id = stick_or_pick(&rule, client, now, may_keep, sessions, pick)?;
    index_of(id)
}

/// Writes the MAC rewrite of a forwarded frame into `out` (same length as `frame`).
pub fn rewrite(frame: &[u8], out: &mut [u8], dst: EthernetAddress, src: EthernetAddress) {
    out.copy_from_slice(frame);
    out[0..6].copy_from_slice(&dst.0);
    out[6..12].copy_from_slice(&src.0);
}

#[cfg(test)]
mod tests;
