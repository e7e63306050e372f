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

use fulcrum_core::model::Method;
use fulcrum_wire::classify::{classify, DropReason, Flow, Verdict, VipTable};
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_wire::ipv4::protocol;

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

/// Per-worker choice state: a round-robin counter and a random generator.
pub struct Pick {
    rr_counter: u64,
    random: u64,
}

impl Pick {
    pub fn new(seed: u64) -> Pick {
        Pick {
            rr_counter: 0,
            random: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for spreading load; not for anything secret.
        let mut x = self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
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
            if active || real {
                Decision::AnswerArp {
                    addr: target,
                    asker_ip: sender_ip,
                    asker_mac: sender_mac,
                    own_mac: real,
                }
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
            .position(|s| s.vip == flow.dst && s.serves(flow.protocol, ports.dst)),
        None => table
            .servers
            .iter()
            .position(|s| s.vip == flow.dst && s.serves(flow.protocol, s.port)),
    };
    let Some(server_index) = found else {
        return Decision::Other;
    };
    let server = &table.servers[server_index];
    let sticky = server.method == Method::Session
        || flow.protocol == protocol::TCP
        || flow.fragment.is_some();
    let Some(target_index) = choose(server, table, flow, sticky, sessions, pick) else {
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

/// The index in `table.targets` for this flow's client: its live session if the session's
/// target may keep it, else the method's choice (recorded when `sticky`).
fn choose(
    server: &DsrServer,
    table: &DsrTable,
    flow: &Flow,
    sticky: bool,
    sessions: &Sessions,
    pick: &mut Pick,
) -> Option<usize> {
    let transport = usize::from(flow.protocol == protocol::TCP);
    let client = IpAddr::V4(flow.src);
    let index_of = |id: u32| {
        server
            .targets
            .iter()
            .copied()
            .find(|&i| table.targets[i].id == id)
    };
    let now = if sticky { sessions.now() } else { 0 };
    if sticky {
        if let Some(id) = sessions.lookup(server.id, client, now) {
            let keeps = |i: usize| {
                table.targets[i].sticky[transport]
                    || (server.fail_open[transport]
                        && server.choosers[transport].is_operational(id))
            };
            if let Some(index) = index_of(id).filter(|&i| keeps(i)) {
                return Some(index);
            }
        }
    }
    pick.rr_counter = pick.rr_counter.wrapping_add(1);
    let random = pick.next_random();
    let sessions_of = |id: u32| sessions.recent_count_on(id);
    let id = server.choosers[transport].pick(client, pick.rr_counter, random, &sessions_of)?;
    if sticky {
        sessions.insert(server.id, client, id, now, server.stout);
    }
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
