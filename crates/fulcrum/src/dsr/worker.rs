//! A DSR worker thread: drains its `AF_PACKET` socket (one member of the interface's fanout
//! group), decides per frame with [`forward::decide`], and carries the decision out (transmit
//! ring, local stack, ARP cache). Thin: no decisions of its own beyond counting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_sys::packet::{PacketSocket, PacketType, RawIpv4Sender, RawIpv6Sender, RxFrame};
use fulcrum_wire::ethernet::EthernetAddress;

use super::checksum::complete_l4_checksum;
use super::forward::{self, Decision, Pick};
use super::plane_counters::Event;
use super::resolver::{self, Learned, ARP_FRAME_LEN};
use super::table::DsrTable;
use super::worker6::{self, Io6};
use super::Shared;

mod cut;

pub(super) use super::frame_out::FrameOut;

/// Frames handled per ring pass before the snapshot is looked at again.
const BATCH: usize = 256;
const POLL_MS: i32 = 100;
/// The link MTU assumed when the interface cannot be asked.
const DEFAULT_MTU: usize = 1500;
const ETHERNET_HEADER_LEN: usize = fulcrum_wire::ethernet::HEADER_LEN;

pub struct Worker {
    pub index: usize,
    pub socket: PacketSocket,
    pub local: Option<RawIpv4Sender>,
    pub local6: Option<RawIpv6Sender>,
    pub own_mac: EthernetAddress,
    pub stop: Arc<AtomicBool>,
}

pub fn run(mut worker: Worker, shared: Arc<Shared>) {
    let mut pick = Pick::new(0x9e37_79b9_7f4a_7c15 ^ worker.index as u64);
    let mut last_error: Option<Instant> = None;
    let mut last_ring_check = Instant::now();
    // Read again with the ring's counters: only datagrams longer than it need it per frame.
    let mut mtu = worker.socket.mtu().unwrap_or(DEFAULT_MTU);
    let beat = crate::service::heartbeat::register(format!("dsr worker {}", worker.index));
    while !worker.stop.load(Ordering::Relaxed) {
        beat.bump();
        if last_ring_check.elapsed() >= Duration::from_millis(500) {
            last_ring_check = Instant::now();
            mtu = worker.socket.mtu().unwrap_or(mtu);
            // The kernel's count resets on each read.
            if let Ok(lost) = worker.socket.take_ring_drops() {
                shared
                    .counters
                    .slot(worker.index)
                    .add(Event::DropRingFull, lost);
            }
        }
        if let Err(e) = worker.socket.wait(POLL_MS) {
            complain(&mut last_error, worker.index, &e);
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let table = shared.table.load();
        let active = shared.active.load(Ordering::Relaxed);
        let Worker {
            index,
            socket,
            local,
            local6,
            own_mac,
            ..
        } = &mut worker;
        let result = socket.process(BATCH, |frame, tx| {
            let locals = (&*local, &*local6);
            handle(
                *index, &frame, tx, &table, &shared, &mut pick, active, locals, *own_mac, mtu,
            )
        });
        if let Err(e) = result {
            complain(&mut last_error, worker.index, &e);
        }
    }
}

/// One log line per minute at most for a failing socket.
fn complain(last: &mut Option<Instant>, index: usize, e: &std::io::Error) {
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
        tracing::error!("dsr worker {index}: {e}");
        *last = Some(Instant::now());
    }
}

/// Decides on one frame and carries the decision out on `tx` (either plane's ring).
#[allow(clippy::too_many_arguments)]
pub(super) fn handle(
    index: usize,
    frame: &RxFrame<'_>,
    tx: &mut impl FrameOut,
    table: &DsrTable,
    shared: &Shared,
    pick: &mut Pick,
    active: bool,
    (local, local6): (&Option<RawIpv4Sender>, &Option<RawIpv6Sender>),
    own_mac: EthernetAddress,
    mtu: usize,
) {
    let counters = shared.counters.slot(index);
    if frame.packet_type == PacketType::Outgoing {
        return;
    }
    counters.count(Event::FramesIn);
    if frame.is_truncated() {
        counters.count(Event::DropTruncated);
        return;
    }
    let data = frame.data;
    if super::protect::refused(index, data, &table.guards, counters) {
        return;
    }
    if worker6::is_ipv6(data) {
        let io = Io6 {
            index,
            tx,
            local: local6,
            own_mac,
            mtu,
        };
        return worker6::handle6(io, frame, table, shared, pick);
    }
    match forward::decide(data, table, &shared.sessions, pick, active) {
        Decision::Forward {
            server,
            target,
            mac,
        } => {
            counters.count(Event::VipFrames);
            let server = &table.servers[server];
            server.counters.slot(index).query(data.len());
            if data.len() > ETHERNET_HEADER_LEN + mtu {
                // TCP that GRO or LRO merged is cut into segments again; a datagram the fanout
                // group reassembled, into fragments.
                let macs = (mac, own_mac);
                let cut = if data.get(ETHERNET_HEADER_LEN + 9)
                    == Some(&fulcrum_wire::ipv4::protocol::TCP)
                {
                    cut::segments(data, mtu, tx, macs)
                        .map(|sent| (sent, Event::Resegmented))
                        .map_err(drop)
                } else {
                    cut::fragments(data, mtu, tx, macs)
                        .map(|sent| (sent, Event::Refragmented))
                        .map_err(drop)
                };
                let counted = match cut {
                    Ok(((queued, total), done)) if queued == total => done,
                    Ok(_) => Event::DropTxFull,
                    Err(()) => Event::DropTooBig,
                };
                counters.count(counted);
                if matches!(counted, Event::Refragmented | Event::Resegmented) {
                    counters.count(Event::Forwarded);
                    table.targets[target]
                        .counters
                        .slot(index)
                        .forwarded(data.len());
                }
                return;
            }
            let fix_checksum = frame.checksum_incomplete;
            let sent = tx.send(data.len(), |out| {
                forward::rewrite(data, out, mac, own_mac);
                if fix_checksum {
                    complete_l4_checksum(&mut out[14..]);
                }
            });
            if sent {
                counters.count(Event::Forwarded);
                table.targets[target]
                    .counters
                    .slot(index)
                    .forwarded(data.len());
            } else {
                counters.count(Event::DropTxFull);
            }
        }
        Decision::Local {
            server,
            target,
            dst,
            ip_len,
        } => {
            counters.count(Event::VipFrames);
            table.servers[server].counters.slot(index).query(data.len());
            let mut copy = [0u8; 2048];
            let packet = match data.get(14..14 + ip_len) {
                Some(packet) if frame.checksum_incomplete && packet.len() <= copy.len() => {
                    let copy = &mut copy[..packet.len()];
                    copy.copy_from_slice(packet);
                    complete_l4_checksum(copy);
                    Some(&*copy)
                }
                other => other,
            };
            let sent = match (local, packet) {
                (Some(sender), Some(packet)) => sender.send(packet, dst).is_ok(),
                _ => false,
            };
            if sent {
                counters.count(Event::DeliveredLocally);
                table.targets[target]
                    .counters
                    .slot(index)
                    .forwarded(data.len());
            } else {
                counters.count(Event::DropLocalFailed);
            }
        }
        Decision::AnswerArp {
            addr,
            asker_ip,
            asker_mac,
            own_mac: with_own,
        } => {
            let mac = if with_own {
                own_mac
            } else {
                let Some(virtual_mac) = table.virtual_mac else {
                    return;
                };
                virtual_mac
            };
            let reply = resolver::answer(mac, addr, asker_mac, asker_ip);
            if tx.send(ARP_FRAME_LEN, |out| {
                resolver::arp_frame(out, mac, asker_mac, &reply)
            }) {
                counters.count(Event::ArpAnswered);
            } else {
                counters.count(Event::DropTxFull);
            }
        }
        Decision::Learn { ip, mac } => {
            counters.count(Event::ArpRepliesSeen);
            let mut resolver = shared.resolver.lock().unwrap_or_else(|p| p.into_inner());
            match resolver.learn(ip, mac, Instant::now()) {
                Learned::Changed => shared.resolver_changed.store(true, Ordering::Release),
                Learned::Same => {}
                Learned::Ignored => counters.count(Event::ArpUnsolicited),
            }
        }
        Decision::Vrrp => counters.count(Event::Vrrp),
        Decision::Other => {
            counters.count(Event::Other);
            if let (true, Some(real)) = (shared.sync.listening(), table.source) {
                shared.sync.offer(data, real, frame.checksum_incomplete);
            }
            if let (true, Some(real)) = (shared.path.waiting(), table.source) {
                let is_vip = |addr| fulcrum_wire::classify::VipTable::is_vip_addr(table, addr);
                shared
                    .path
                    .offer(data, real, frame.checksum_incomplete, is_vip);
            }
        }
        Decision::Drop(drop) => drop.count(table, counters, index),
    }
}
