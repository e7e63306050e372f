//! An AF_XDP worker thread: drains its socket's receive ring in batches, hands each frame to
//! the plane's shared [`handle`] (the same decision and counting as an `AF_PACKET` worker) and
//! lets the socket send what it queued. Thin: the only thing of its own is telling a partial
//! checksum apart ([`super::partial`]), which `AF_PACKET` reports and XDP does not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_sys::packet::{PacketType, RawIpv4Sender, RxFrame};
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_xdp::xsk::XskSocket;

use super::super::forward::Pick;
use super::super::plane_counters::Event;
use super::super::worker::handle;
use super::super::Shared;
use super::partial::checksum_left_to_hardware;

/// Frames handled per ring pass before the snapshot is looked at again.
const BATCH: u32 = 256;
const POLL_MS: i32 = 100;
const DEFAULT_MTU: usize = 1500;

pub struct XskWorker {
    /// This worker's counter slot (after the `AF_PACKET` workers' and the maintenance's).
    pub slot: usize,
    pub socket: XskSocket,
    pub local: Option<RawIpv4Sender>,
    pub own_mac: EthernetAddress,
    pub interface: String,
    pub stop: Arc<AtomicBool>,
}

/// The interface's MTU as sysfs says (the AF_XDP socket has no ioctl of its own for it).
fn mtu_of(interface: &str) -> Option<usize> {
    std::fs::read_to_string(format!("/sys/class/net/{interface}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn run(mut worker: XskWorker, shared: Arc<Shared>) {
    let slot = worker.slot;
    let mut pick = Pick::new(0x9e37_79b9_7f4a_7c15 ^ (slot as u64).rotate_left(17));
    let mut last_error: Option<Instant> = None;
    let mut last_ring_check = Instant::now();
    let mut mtu = mtu_of(&worker.interface).unwrap_or(DEFAULT_MTU);
    let queue = worker.socket.queue();
    let beat = crate::service::heartbeat::register(format!("dsr AF_XDP worker {queue}"));
    let mut frames = 0u64;
    while !worker.stop.load(Ordering::Relaxed) {
        beat.bump();
        if last_ring_check.elapsed() >= Duration::from_millis(500) {
            last_ring_check = Instant::now();
            mtu = mtu_of(&worker.interface).unwrap_or(mtu);
            if let Ok(lost) = worker.socket.take_ring_drops() {
                shared.counters.slot(slot).add(Event::DropRingFull, lost);
            }
        }
        if let Err(e) = worker.socket.wait(POLL_MS) {
            complain(&mut last_error, queue, &e);
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let table = shared.table.load();
        let active = shared.active.load(Ordering::Relaxed);
        let XskWorker {
            socket,
            local,
            own_mac,
            ..
        } = &mut worker;
        let result = socket.process(BATCH, |data, tx| {
            let frame = RxFrame {
                data,
                wire_len: data.len(),
                // The program steers only frames to the virtual MAC, never the host's own.
                packet_type: PacketType::OtherHost,
                checksum_incomplete: checksum_left_to_hardware(data),
            };
            // The program steers IPv4 only: no IPv6 frame reaches this worker.
            handle(
                slot,
                &frame,
                tx,
                &table,
                &shared,
                &mut pick,
                active,
                (local, &None),
                *own_mac,
                mtu,
            );
        });
        match result {
            Ok(seen) => frames += seen as u64,
            Err(e) => complain(&mut last_error, queue, &e),
        }
    }
    tracing::info!("dsr AF_XDP worker (queue {queue}) stopped after frames: {frames}");
}

/// One log line per minute at most for a failing socket.
fn complain(last: &mut Option<Instant>, queue: u32, e: &std::io::Error) {
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
        tracing::error!("dsr AF_XDP worker (queue {queue}): {e}");
        *last = Some(Instant::now());
    }
}
