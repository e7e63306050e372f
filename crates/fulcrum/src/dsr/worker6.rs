//! A DSR worker's handling of IPv6 frames: the worker ([`super::worker`]) hands every frame
//! with the IPv6 EtherType here; [`handle6`] decides with [`forward6::decide6`] and carries the
//! decision out (transmit ring, local stack, neighbour cache), counting each outcome under the
//! same events as IPv4 where there is one (`forwarded`, `delivered-locally`, drops) and under
//! the `nd-*` events where IPv6 differs; frames left to the kernel are offered to a waiting
//! `dsr-path` probe ([`super::path`]). Thin: no decisions of its own.
//!
//! A frame longer than the link MTU is dropped (`drop-too-big`): IPv6 routers never fragment,
//! and only the IPv4 fanout reassembles, so such a frame cannot come from a conforming sender.

use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use fulcrum_sys::packet::{RawIpv6Sender, RxFrame};
use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};

use super::checksum6::complete_l4_checksum6;
use super::forward::{rewrite, Pick};
use super::forward6::{decide6, Decision6};
use super::frame_out::FrameOut;
use super::plane_counters::{Event, Slot};
use super::resolver::Learned;
use super::resolver6::{self, ND_FRAME_LEN};
use super::table::DsrTable;
use super::{lock, Shared};

const ETHERTYPE: std::ops::Range<usize> = 12..14;

/// Whether `frame` carries IPv6 (untagged).
pub fn is_ipv6(frame: &[u8]) -> bool {
    frame.get(ETHERTYPE) == Some(&u16::from(EtherType::Ipv6).to_be_bytes()[..])
}

/// What a worker lends its IPv6 handling.
pub struct Io6<'a, T: FrameOut> {
    pub index: usize,
    pub tx: &'a mut T,
    pub local: &'a Option<RawIpv6Sender>,
    pub own_mac: EthernetAddress,
    pub mtu: usize,
}

pub fn handle6(
    io: Io6<'_, impl FrameOut>,
    frame: &RxFrame<'_>,
    table: &DsrTable,
    shared: &Shared,
    pick: &mut Pick,
) {
    let counters = shared.counters.slot(io.index);
    let data = frame.data;
    let active = shared.nd6.active.load(Ordering::Relaxed);
    let fix_checksum = frame.checksum_incomplete;
    match decide6(data, table, &shared.sessions, pick, active) {
        Decision6::Forward {
            server,
            target,
            mac,
        } => {
            counters.count(Event::VipFrames);
            table.servers[server]
                .counters
                .slot(io.index)
                .query(data.len());
            if data.len() > ethernet::HEADER_LEN + io.mtu {
                counters.count(Event::DropTooBig);
                return;
            }
            let sent = io.tx.send(data.len(), |out| {
                rewrite(data, out, mac, io.own_mac);
                if fix_checksum {
                    complete_l4_checksum6(&mut out[ethernet::HEADER_LEN..]);
                }
            });
            forwarded(counters, table, target, io.index, data.len(), sent);
        }
        Decision6::Local {
            server,
            target,
            dst,
            ip_len,
        } => {
            counters.count(Event::VipFrames);
            table.servers[server]
                .counters
                .slot(io.index)
                .query(data.len());
            let sent = deliver(io.local, data, ip_len, dst, fix_checksum);
            if sent {
                counters.count(Event::DeliveredLocally);
                table.targets[target]
                    .counters
                    .slot(io.index)
                    .forwarded(data.len());
            } else {
                counters.count(Event::DropLocalFailed);
            }
        }
        Decision6::ForwardError {
            mac, dst, ip_len, ..
        } => {
            let (sent, failed) = match mac {
                Some(mac) => (
                    io.tx
                        .send(data.len(), |out| rewrite(data, out, mac, io.own_mac)),
                    Event::DropTxFull,
                ),
                None => (
                    deliver(io.local, data, ip_len, dst, false),
                    Event::DropLocalFailed,
                ),
            };
            counters.count(if sent {
                Event::Icmpv6ErrorsForwarded
            } else {
                failed
            });
        }
        Decision6::AnswerNs {
            addr,
            asker_ip,
            asker_mac,
            own_mac: with_own,
        } => {
            let mac = if with_own {
                io.own_mac
            } else {
                let Some(virtual_mac) = table.virtual_mac6 else {
                    return;
                };
                virtual_mac
            };
            let mut answer = [0u8; ND_FRAME_LEN];
            let Some(len) = resolver6::answer(&mut answer, (mac, addr), (asker_mac, asker_ip))
            else {
                return;
            };
            if io.tx.send(len, |out| out.copy_from_slice(&answer[..len])) {
                counters.count(Event::NdAnswered);
            } else {
                counters.count(Event::DropTxFull);
            }
        }
        Decision6::Learn { ip, mac } => {
            counters.count(Event::NdAdvertsSeen);
            match lock(&shared.nd6.resolver).learn(ip, mac, Instant::now()) {
                Learned::Changed => shared.resolver_changed.store(true, Ordering::Release),
                Learned::Same => {}
                Learned::Ignored => counters.count(Event::NdUnsolicited),
            }
        }
        Decision6::Vrrp => counters.count(Event::Vrrp),
        Decision6::Other => {
            counters.count(Event::Other);
            if let (true, Some(real6)) = (shared.path.waiting(), table.source6) {
                let is_vip = |addr| fulcrum_wire::classify6::Vip6Table::is_vip6_addr(table, addr);
                shared
                    .path
                    .offer6(data, real6, frame.checksum_incomplete, is_vip);
            }
        }
        Decision6::Drop(drop) => drop.count(table, counters, io.index),
    }
}

fn forwarded(
    counters: &Slot,
    table: &DsrTable,
    target: usize,
    index: usize,
    len: usize,
    sent: bool,
) {
    if sent {
        counters.count(Event::Forwarded);
        table.targets[target].counters.slot(index).forwarded(len);
    } else {
        counters.count(Event::DropTxFull);
    }
}

/// The IPv6 packet of `frame` into the local stack (its transport checksum completed first
/// when the sender left it to hardware).
fn deliver(
    local: &Option<RawIpv6Sender>,
    frame: &[u8],
    ip_len: usize,
    dst: Ipv6Addr,
    fix_checksum: bool,
) -> bool {
    let Some(sender) = local else {
        return false;
    };
    let end = ethernet::HEADER_LEN + ip_len;
    let Some(packet) = frame.get(ethernet::HEADER_LEN..end) else {
        return false;
    };
    let mut copy = [0u8; 2048];
    let packet = match copy.get_mut(..packet.len()) {
        Some(copy) if fix_checksum => {
            copy.copy_from_slice(packet);
            complete_l4_checksum6(copy);
            &*copy
        }
        _ => packet,
    };
    sender.send(packet, dst).is_ok()
}
