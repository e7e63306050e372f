//! The DSR plane's share of the `dsr-path` health check: sending a probe to a target exactly as
//! the plane forwards a client's frame (addressed to the VIP, sent to the target's MAC), and
//! catching the target's answer, which goes from the VIP to the network's `real` address and
//! so arrives on the DSR interface, where the host's own stack (holding the VIP on `lo`) drops
//! it as a martian.
//!
//! Contract: [`PathProbes::send`] reserves a UDP port on `real` (a bound placeholder socket,
//! `IP_FREEBIND` when the host does not hold `real`, so no other socket of the host gets that
//! port and the kernel has somewhere to put a copy instead of answering "port unreachable"),
//! registers the probe and transmits the frame; the returned [`PathWait`] yields the UDP
//! payloads of frames that arrive for that port from the probed VIP:port and the target's MAC,
//! and unregisters the probe when dropped. Workers offer every frame left to the kernel while a
//! probe waits ([`PathProbes::offer`], [`PathProbes::offer6`]): only UDP to `real` (or `real6`)
//! is looked at, in a few dozen instructions. An IPv6 VIP is probed the same way from the
//! network's `real6`, to the MAC Neighbor Discovery learned ([`ipv6`] builds and reads
//! those frames). Anything else from a VIP to `real` (another MAC or address, a port no probe
//! waits on, a full queue) is counted as ignored, as are the payloads the prober rejects.

mod ipv6;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fulcrum_sys::packet::FrameSender;
use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::ipv4::{self, protocol};
use fulcrum_wire::udp;
use tokio::sync::mpsc;

/// Answers queued per waiting probe; more are counted as ignored.
const QUEUE: usize = 4;

/// Counters of the DSR-path probes (all targets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathTotals {
    pub sent: u64,
    /// Handed to a waiting probe.
    pub answers: u64,
    /// From a VIP to `real` but not an answer to a waiting probe, or rejected by the prober.
    pub ignored: u64,
}

pub(super) struct Pending {
    pub(super) vip: IpAddr,
    pub(super) vip_port: u16,
    pub(super) mac: EthernetAddress,
    pub(super) answers: mpsc::Sender<Vec<u8>>,
}

struct Sender {
    frames: FrameSender,
    own_mac: EthernetAddress,
}

#[derive(Default)]
pub struct PathProbes {
    /// By the placeholder's address: `real:port` or `[real6]:port`.
    pending: Mutex<HashMap<SocketAddr, Pending>>,
    /// `pending.len()`, read by the workers without the lock.
    waiting: AtomicUsize,
    sender: Mutex<Option<Sender>>,
    sent: AtomicU64,
    answers: AtomicU64,
    ignored: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A probe in flight: its answers, until dropped.
pub struct PathWait {
    at: SocketAddr,
    answers: mpsc::Receiver<Vec<u8>>,
    probes: Arc<PathProbes>,
    _placeholder: std::net::UdpSocket,
}

impl PathWait {
    /// The next UDP payload that came back (`None` never happens while the wait lives).
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.answers.recv().await
    }

    /// The prober rejected an answer (not a DNS response to its query).
    pub fn ignored(&self) {
        self.probes.count_ignored();
    }
}

impl Drop for PathWait {
    fn drop(&mut self) {
        let mut pending = lock(&self.probes.pending);
        pending.remove(&self.at);
        self.probes.waiting.store(pending.len(), Ordering::Release);
    }
}

/// What a probe is sent with.
pub struct PathProbe<'a> {
    /// The network's `real` (or `real6`) address: the probe's source, of the VIP's family.
    pub source: IpAddr,
    pub vip: IpAddr,
    pub vip_port: u16,
    pub mac: EthernetAddress,
    pub payload: &'a [u8],
}

impl PathProbes {
    /// The plane's threads run on an interface: probes leave from it.
    pub fn set_sender(&self, frames: Option<(FrameSender, EthernetAddress)>) {
        *lock(&self.sender) = frames.map(|(frames, own_mac)| Sender { frames, own_mac });
    }

    pub fn totals(&self) -> PathTotals {
        PathTotals {
            sent: self.sent.load(Ordering::Relaxed),
            answers: self.answers.load(Ordering::Relaxed),
            ignored: self.ignored.load(Ordering::Relaxed),
        }
    }

    pub fn count_ignored(&self) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether any probe waits (the workers' cheap test before [`PathProbes::offer`]).
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Sends one probe (see the module doc).
    pub fn send(self: &Arc<Self>, probe: &PathProbe<'_>) -> Result<PathWait, String> {
        let options = fulcrum_sys::UdpOptions {
            freebind: true,
            ..fulcrum_sys::UdpOptions::default()
        };
        let placeholder = fulcrum_sys::bind_udp(SocketAddr::from((probe.source, 0)), options)
            .map_err(|e| format!("cannot reserve a port on {}: {e}", probe.source))?;
        let at = placeholder
            .local_addr()
            .map_err(|e| format!("cannot reserve a port on {}: {e}", probe.source))?;
        let port = at.port();
        let (answers_tx, answers) = mpsc::channel(QUEUE);
        {
            let mut pending = lock(&self.pending);
            pending.insert(
                at,
                Pending {
                    vip: probe.vip,
                    vip_port: probe.vip_port,
                    mac: probe.mac,
                    answers: answers_tx,
                },
            );
            self.waiting.store(pending.len(), Ordering::Release);
        }
        let wait = PathWait {
            at,
            answers,
            probes: self.clone(),
            _placeholder: placeholder,
        };
        let sender = lock(&self.sender);
        let Some(sender) = sender.as_ref() else {
            return Err("the DSR plane runs on no interface".to_string());
        };
        let frame = match (probe.source, probe.vip) {
            (IpAddr::V4(source), IpAddr::V4(vip)) => {
                probe_frame(source, vip, probe, sender.own_mac, port)?
            }
            (IpAddr::V6(source), IpAddr::V6(vip)) => {
                ipv6::probe_frame6(source, vip, probe, sender.own_mac, port)?
            }
            _ => return Err(format!("{} cannot probe {}", probe.source, probe.vip)),
        };
        sender
            .frames
            .send(&frame)
            .map_err(|e| format!("cannot send on the DSR interface: {e}"))?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(wait)
    }

    /// A frame the plane left to the kernel while a probe waits: an answer if it is IPv4 UDP
    /// to `real` from the probed VIP:port and the target's MAC at a waiting port.
    /// `is_vip(addr)` says whether a stray datagram to `real` came from a VIP (then counted).
    pub fn offer(
        &self,
        frame: &[u8],
        real: Ipv4Addr,
        checksum_incomplete: bool,
        is_vip: impl Fn(Ipv4Addr) -> bool,
    ) {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EtherType::Ipv4 {
            return;
        }
        let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else {
            return;
        };
        if ip.dst_addr() != real || ip.protocol() != protocol::UDP || ip.is_fragment() {
            return;
        }
        if !ip.verify_checksum() {
            return;
        }
        let Ok(datagram) = udp::Packet::new_checked(ip.payload()) else {
            return;
        };
        let src = ip.src_addr();
        // A sender that left the checksum to hardware (a veth peer) has only the pseudo-header
        // sum in it.
        if !checksum_incomplete && !datagram.verify_checksum(src, real) {
            return;
        }
        let from = SocketAddr::from((src, datagram.src_port()));
        let to = SocketAddr::from((real, datagram.dst_port()));
        self.hand_over(eth.src_addr(), from, to, is_vip(src), datagram.payload());
    }

    /// An answer parsed from a frame of either family (`from` the VIP's side, `to` a
    /// placeholder's): handed to the probe waiting at `to` if it comes from the probed VIP:port
    /// and the target's MAC. `from_vip`: the source is a VIP (a stray is then counted).
    pub(super) fn hand_over(
        &self,
        mac: EthernetAddress,
        from: SocketAddr,
        to: SocketAddr,
        from_vip: bool,
        payload: &[u8],
    ) {
        let pending = lock(&self.pending);
        let Some(probe) = pending.get(&to) else {
            if from_vip {
                // Late (its probe gave up) or forged.
                self.ignored.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        if from != SocketAddr::new(probe.vip, probe.vip_port) || mac != probe.mac {
            self.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match probe.answers.try_send(payload.to_vec()) {
            Ok(()) => {
                self.answers.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Ethernet to the target's MAC, IPv4 from `real` (`source`) to the VIP, UDP from `port` to
/// the VIP's.
fn probe_frame(
    source: Ipv4Addr,
    vip: Ipv4Addr,
    probe: &PathProbe<'_>,
    own_mac: EthernetAddress,
    port: u16,
) -> Result<Vec<u8>, String> {
    let udp_len = udp::Repr::buffer_len(probe.payload.len());
    let ip_repr = ipv4::Repr {
        src_addr: source,
        dst_addr: vip,
        protocol: protocol::UDP,
        payload_len: udp_len,
        ttl: 64,
        tos: 0,
        ident: port,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip_repr.buffer_len()];
    let bad = |e: fulcrum_wire::error::WireError| format!("cannot build the probe frame: {e}");
    ethernet::Repr {
        src_addr: own_mac,
        dst_addr: probe.mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
    .map_err(bad)?;
    let ip = &mut frame[ethernet::HEADER_LEN..];
    ip_repr
        .emit(&mut ipv4::Packet::new_unchecked(&mut *ip))
        .map_err(bad)?;
    udp::Repr {
        src_port: port,
        dst_port: probe.vip_port,
    }
    .emit(&mut ip[ipv4::HEADER_LEN..], source, vip, probe.payload)
    .map_err(bad)?;
    Ok(frame)
}

#[cfg(test)]
mod tests;
