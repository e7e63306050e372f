//! The AF_XDP side of the DSR plane, for an interface declared `interface N { name NAME
//! access xdp }`: the XDP program (`fulcrum_xdp::program`) steers the hot path — unfragmented
//! IPv4 UDP/TCP frames to a VIP, sent to the virtual MAC — to one AF_XDP socket per receive
//! queue, each drained by its own worker thread ([`worker`]) that decides with the same
//! [`super::worker::handle`] as the `AF_PACKET` workers and transmits from its UMEM.
//!
//! Contract: everything the program passes (ARP, VRRP, ICMP, IPv6, fragments, sync datagrams,
//! the DSR-path probes' answers, frames on a queue without a socket) still reaches the kernel
//! and the `AF_PACKET` workers, which run beside these as on an `access raw` interface: what
//! the plane does with a frame is the same on both, only the ring it came through differs.
//! When the path cannot start ([`start`] says why: no program in this build, a kernel or
//! driver without XDP or AF_XDP, a missing capability, another XDP program on the interface),
//! the plane runs on `AF_PACKET` alone and logs the reason. Setting `FULCRUM_AFXDP=off` in the
//! daemon's environment makes it unavailable on purpose (to compare planes, or to test the
//! fallback). The program and its maps are [`super::steer::Steering`], which follows the
//! forwarding table after every rebuild (also for frames routed to an active-active node).

mod partial;
mod worker;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use fulcrum_core::model::{Config, InterfaceAccess};
use fulcrum_sys::packet::RawIpv4Sender;
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_xdp::program::AttachMode;
use fulcrum_xdp::xsk::{XskOptions, XskSocket};

use super::steer::Steering;
use super::Shared;

/// The environment variable that turns the AF_XDP path off (`off`).
pub const DISABLE_VARIABLE: &str = "FULCRUM_AFXDP";

/// The started AF_XDP path of one interface: the attached program, its sockets' workers.
pub(super) struct XdpPath {
    pub(super) steering: Steering,
    pub(super) sockets: usize,
    pub(super) threads: Vec<JoinHandle<()>>,
}

/// Whether `interface` asks for AF_XDP in `config`.
pub fn wanted(config: &Config, interface: &str) -> bool {
    config
        .interfaces
        .values()
        .any(|i| i.name == interface && i.access == InterfaceAccess::Xdp)
}

/// Why AF_XDP is off before anything is tried, if it is.
pub fn ruled_out() -> Option<String> {
    if std::env::var(DISABLE_VARIABLE).is_ok_and(|v| v == "off") {
        return Some(format!("{DISABLE_VARIABLE}=off in the environment"));
    }
    if !fulcrum_xdp::program::compiled() {
        return Some("this build has no XDP program (clang was missing when it was built)".into());
    }
    None
}

/// What the start needs from the plane.
pub(super) struct Start<'a> {
    pub interface: &'a str,
    pub ifindex: u32,
    /// At most this many sockets (one per queue and worker).
    pub workers: usize,
    /// The counter slot of the first AF_XDP worker (the next ones follow).
    pub first_slot: usize,
    pub own_mac: EthernetAddress,
    pub stop: &'a Arc<AtomicBool>,
}

/// Attaches the program, opens the sockets and starts their workers.
pub(super) fn start(how: Start<'_>, shared: &Arc<Shared>) -> Result<XdpPath, String> {
    if let Some(reason) = ruled_out() {
        return Err(reason);
    }
    let mut steering = Steering::attach(how.ifindex, how.own_mac)?;
    let queues = fulcrum_xdp::rx_queues(how.interface);
    let count = (queues as usize).min(how.workers.max(1));
    let mut sockets = Vec::new();
    for queue in 0..count as u32 {
        let socket = XskSocket::open(how.ifindex, queue, XskOptions::default())
            .map_err(|e| format!("AF_XDP socket on queue {queue}: {e}"))?;
        steering.register(queue, &socket)?;
        sockets.push(socket);
    }
    steering.follow(&shared.table.load())?;
    let mut threads = Vec::new();
    for (n, socket) in sockets.into_iter().enumerate() {
        let local = RawIpv4Sender::open()
            .inspect_err(|e| tracing::warn!("dsr: no local delivery for AF_XDP ({e})"))
            .ok();
        let job = worker::XskWorker {
            slot: how.first_slot + n,
            socket,
            local,
            own_mac: how.own_mac,
            interface: how.interface.to_string(),
            stop: how.stop.clone(),
        };
        let shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fulcrum-xsk-{n}"))
            .spawn(move || worker::run(job, shared))
            .map_err(|e| format!("starting an AF_XDP worker: {e}"))?;
        threads.push(thread);
    }
    let mode = steering.mode();
    tracing::info!(
        "dsr: AF_XDP on {} ({count} of {queues} receive queue(s), XDP program in {mode} mode{})",
        how.interface,
        if mode == AttachMode::Generic {
            ": the driver has no native XDP"
        } else {
            ""
        }
    );
    Ok(XdpPath {
        steering,
        sockets: count,
        threads,
    })
}
