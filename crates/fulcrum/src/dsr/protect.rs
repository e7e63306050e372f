//! The DSR plane's side of the servers' protection ([`crate::plane::protect`]): which frames
//! are queries to a protected server, and the one call the workers make for each frame.
//!
//! Contract: [`refused`] looks at a frame sent to the virtual MAC, IPv4 or IPv6 (no extension
//! headers) carrying UDP or TCP to a protected server's VIP and port, and applies the server's
//! guard with the frame's source address: over UDP to the whole datagram (its DNS message
//! tells an ANY query); over TCP the access list to every segment and the rate limits to
//! connection openings (SYN without ACK) only, since a layer-2 balancer cannot see queries
//! inside a stream and dropping a segment mid-connection would only make the client resend
//! it. A refused frame is dropped and counted as a VIP frame, as a query and a drop of its
//! server (`acl`, `ratelimit`, `any-limit`) and as the plane's `drop-acl`, `drop-ratelimit`,
//! `drop-any-limit` event. `rateaction tc` acts as `drop` here: answering would mean building
//! a reply frame from the VIP, which this plane never does. Non-first fragments carry no ports:
//! they meet the access list of the first protected server on their VIP and no limit (the
//! first fragment, which is checked, decides whether the datagram can be reassembled at all;
//! the kernel's reassembly for the fanout group usually hands over whole datagrams anyway).
//! Anything this parse does not recognise passes to the classifier, which drops what is
//! malformed. A plane without protected servers pays one length check per frame.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use fulcrum_core::model::Protocol;
use fulcrum_core::stats::DropReason;
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_wire::ipv4::protocol;

use super::plane_counters::{Event, Slot as PlaneSlot};
use crate::plane::counters::CounterSet;
use crate::plane::protect::{Guards, ServerGuard, Verdict};

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

struct Protected {
    vip: IpAddr,
    /// 0: every port.
    port: u16,
    protocol: Protocol,
    guard: Arc<ServerGuard>,
    counters: Arc<CounterSet>,
}

/// A server of the forwarding table, as the guards see it.
pub struct Service {
    pub id: u32,
    pub vip: IpAddr,
    /// 0: every port.
    pub port: u16,
    pub protocol: Protocol,
    pub counters: Arc<CounterSet>,
}

/// The protected servers of one forwarding table, and the virtual MACs (IPv4, IPv6) its VIPs'
/// frames are sent to.
pub struct FrameGuards {
    servers: Vec<Protected>,
    virtual_macs: [Option<EthernetAddress>; 2],
    started: Instant,
}

impl Default for FrameGuards {
    fn default() -> Self {
        FrameGuards {
            servers: Vec::new(),
            virtual_macs: [None, None],
            started: Instant::now(),
        }
    }
}

impl FrameGuards {
    /// The guards of the table's servers that have one.
    pub fn new(
        servers: impl IntoIterator<Item = Service>,
        virtual_macs: [Option<EthernetAddress>; 2],
        guards: &Guards,
    ) -> FrameGuards {
        FrameGuards {
            servers: servers
                .into_iter()
                .filter_map(|s| {
                    Some(Protected {
                        vip: s.vip,
                        port: s.port,
                        protocol: s.protocol,
                        guard: guards.get(s.id)?,
                        counters: s.counters,
                    })
                })
                .collect(),
            virtual_macs,
            started: guards.started(),
        }
    }
}

/// What a frame is, as far as the guards care.
struct Query<'a> {
    client: IpAddr,
    vip: IpAddr,
    proto: u8,
    /// `None`: a non-first fragment (no transport header).
    port: Option<u16>,
    /// The UDP payload; `None` for TCP.
    message: Option<&'a [u8]>,
    /// A TCP segment that opens a connection (SYN without ACK); always true for UDP.
    opens: bool,
}

/// Whether worker `index` must drop `frame` by its server's access list or rate limits
/// (counted); false for everything else.
pub fn refused(index: usize, frame: &[u8], guards: &FrameGuards, counters: &PlaneSlot) -> bool {
    let to = frame.get(0..6);
    let to_a_vip = |mac: &Option<EthernetAddress>| mac.as_ref().map(|m| &m.0[..]) == to;
    if guards.servers.is_empty() || !guards.virtual_macs.iter().any(to_a_vip) {
        return false;
    }
    let Some(query) = parse(frame) else {
        return false;
    };
    let Some(server) = guards.servers.iter().find(|s| {
        let transport = match query.proto {
            protocol::UDP => s.protocol.udp(),
            _ => s.protocol.tcp(),
        };
        let port = query.port.is_none_or(|p| s.port == 0 || s.port == p);
        s.vip == query.vip && transport && port
    }) else {
        return false;
    };
    let reason = if !query.opens || query.port.is_none() {
        (!server.guard.admits(query.client)).then_some(DropReason::Acl)
    } else {
        let now_ms = guards.started.elapsed().as_millis() as u64;
        match server.guard.check(query.client, query.message, now_ms) {
            Verdict::Admit => None,
            Verdict::Refuse { reason, .. } => Some(reason),
        }
    };
    let Some(reason) = reason else {
        return false;
    };
    counters.count(Event::VipFrames);
    counters.count(match reason {
        DropReason::Acl => Event::DropAcl,
        DropReason::AnyLimit => Event::DropAnyLimit,
        _ => Event::DropRateLimit,
    });
    let slot = server.counters.slot(index);
    slot.query(frame.len());
    slot.drop(reason);
    true
}

/// The addresses, transport and port of an Ethernet frame carrying UDP or TCP over IPv4 or
/// IPv6 (no extension headers); no port for a non-first IPv4 fragment; `None` for anything
/// else.
fn parse(frame: &[u8]) -> Option<Query<'_>> {
    let (client, vip, proto, l4) = match frame.get(12..14)? {
        t if t == ETHERTYPE_IPV4 => {
            let ip = frame.get(14..34)?;
            let header_len = usize::from(ip[0] & 0x0f) * 4;
            let fragment_offset = u16::from_be_bytes([ip[6] & 0x1f, ip[7]]);
            if header_len < 20 {
                return None;
            }
            let src: [u8; 4] = ip[12..16].try_into().ok()?;
            let dst: [u8; 4] = ip[16..20].try_into().ok()?;
            let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
            if fragment_offset != 0 {
                return matches!(ip[9], protocol::UDP | protocol::TCP).then_some(Query {
                    client: v4(src),
                    vip: v4(dst),
                    proto: ip[9],
                    port: None,
                    message: None,
                    opens: false,
                });
            }
            (v4(src), v4(dst), ip[9], 14 + header_len)
        }
        t if t == ETHERTYPE_IPV6 => {
            let ip = frame.get(14..54)?;
            let src: [u8; 16] = ip[8..24].try_into().ok()?;
            let dst: [u8; 16] = ip[24..40].try_into().ok()?;
            let v6 = |a: [u8; 16]| IpAddr::V6(Ipv6Addr::from(a));
            (v6(src), v6(dst), ip[6], 54)
        }
        _ => return None,
    };
    let port = u16::from_be_bytes(frame.get(l4 + 2..l4 + 4)?.try_into().ok()?);
    match proto {
        protocol::UDP => Some(Query {
            client,
            vip,
            proto,
            port: Some(port),
            message: Some(frame.get(l4 + 8..)?),
            opens: true,
        }),
        protocol::TCP => {
            let flags = *frame.get(l4 + 13)?;
            Some(Query {
                client,
                vip,
                proto,
                port: Some(port),
                message: None,
                opens: flags & (TCP_SYN | TCP_ACK) == TCP_SYN,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
