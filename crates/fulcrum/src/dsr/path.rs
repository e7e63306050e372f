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
//! probe waits ([`PathProbes::offer`]): only IPv4 UDP to `real` is looked at, in a few dozen
//! instructions. Anything else from a VIP to `real` (another MAC or address, a port no probe
//! waits on, a full queue) is counted as ignored, as are the payloads the prober rejects.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
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

struct Pending {
    vip: Ipv4Addr,
    vip_port: u16,
    mac: EthernetAddress,
    answers: mpsc::Sender<Vec<u8>>,
}

struct Sender {
    frames: FrameSender,
    own_mac: EthernetAddress,
}

#[derive(Default)]
pub struct PathProbes {
    pending: Mutex<HashMap<u16, Pending>>,
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
    port: u16,
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
        pending.remove(&self.port);
        self.probes.waiting.store(pending.len(), Ordering::Release);
    }
}

/// What a probe is sent with.
pub struct PathProbe<'a> {
    /// The network's `real` address: the probe's source.
    pub source: Ipv4Addr,
    pub vip: Ipv4Addr,
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
        let port = placeholder
            .local_addr()
            .map_err(|e| format!("cannot reserve a port on {}: {e}", probe.source))?
            .port();
        let (answers_tx, answers) = mpsc::channel(QUEUE);
        {
            let mut pending = lock(&self.pending);
            pending.insert(
                port,
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
            port,
            answers,
            probes: self.clone(),
            _placeholder: placeholder,
        };
        let sender = lock(&self.sender);
        let Some(sender) = sender.as_ref() else {
            return Err("the DSR plane runs on no interface".to_string());
        };
        let frame = probe_frame(probe, sender.own_mac, port)?;
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
        let pending = lock(&self.pending);
        let Some(probe) = pending.get(&datagram.dst_port()) else {
            if is_vip(src) {
                // Late (its probe gave up) or forged.
                self.ignored.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        if src != probe.vip || datagram.src_port() != probe.vip_port || eth.src_addr() != probe.mac
        {
            self.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match probe.answers.try_send(datagram.payload().to_vec()) {
            Ok(()) => {
                self.answers.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Ethernet to the target's MAC, IPv4 from `real` to the VIP, UDP from `port` to the VIP's.
fn probe_frame(
    probe: &PathProbe<'_>,
    own_mac: EthernetAddress,
    port: u16,
) -> Result<Vec<u8>, String> {
    let udp_len = udp::Repr::buffer_len(probe.payload.len());
    let ip_repr = ipv4::Repr {
        src_addr: probe.source,
        dst_addr: probe.vip,
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
    .emit(
        &mut ip[ipv4::HEADER_LEN..],
        probe.source,
        probe.vip,
        probe.payload,
    )
    .map_err(bad)?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
    const TARGET_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x44]);
    const OWN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x45]);

    fn probe(payload: &[u8]) -> PathProbe<'_> {
        PathProbe {
            source: REAL,
            vip: VIP,
            vip_port: 53,
            mac: TARGET_MAC,
            payload,
        }
    }

    /// The target's answer to a probe sent from `port`: the probe frame turned around.
    fn answer(port: u16, from_mac: EthernetAddress, from: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        let mut turned = probe(payload);
        turned.source = from;
        turned.vip = REAL;
        turned.vip_port = port;
        turned.mac = OWN_MAC;
        probe_frame(&turned, from_mac, 53).unwrap()
    }

    fn register(probes: &Arc<PathProbes>) -> (PathWait, u16) {
        // Sending fails without an interface, after the probe was registered; register by
        // hand the same way for the offer tests.
        let placeholder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = placeholder.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel(QUEUE);
        lock(&probes.pending).insert(
            port,
            Pending {
                vip: VIP,
                vip_port: 53,
                mac: TARGET_MAC,
                answers: tx,
            },
        );
        probes.waiting.store(1, Ordering::Release);
        let wait = PathWait {
            port,
            answers: rx,
            probes: probes.clone(),
            _placeholder: placeholder,
        };
        (wait, port)
    }

    #[test]
    fn the_probe_frame_is_a_valid_datagram_to_the_vip_for_the_target_mac() {
        let frame = probe_frame(&probe(b"query"), OWN_MAC, 40000).unwrap();
        let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
        assert_eq!((eth.dst_addr(), eth.src_addr()), (TARGET_MAC, OWN_MAC));
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), (REAL, VIP));
        let datagram = udp::Packet::new_checked(ip.payload()).unwrap();
        assert!(datagram.verify_checksum(REAL, VIP));
        assert_eq!((datagram.src_port(), datagram.dst_port()), (40000, 53));
        assert_eq!(datagram.payload(), b"query");
    }

    #[test]
    fn only_the_targets_answer_at_a_waiting_port_is_handed_over() {
        let probes = Arc::new(PathProbes::default());
        let (mut wait, port) = register(&probes);
        assert!(probes.waiting());
        let is_vip = |a: Ipv4Addr| a == VIP;
        let other_mac = EthernetAddress([2, 0, 0, 0, 0, 0x99]);
        // Another host answering for the VIP, another source address, a port nobody waits on:
        // ignored and counted. A datagram to `real` from elsewhere: not even counted.
        probes.offer(&answer(port, other_mac, VIP, b"x"), REAL, false, is_vip);
        let elsewhere = Ipv4Addr::new(10, 235, 210, 44);
        probes.offer(
            &answer(port, TARGET_MAC, elsewhere, b"x"),
            REAL,
            false,
            is_vip,
        );
        probes.offer(
            &answer(port ^ 1, TARGET_MAC, VIP, b"x"),
            REAL,
            false,
            is_vip,
        );
        let mut corrupt = answer(port, TARGET_MAC, VIP, b"x");
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        probes.offer(&corrupt, REAL, false, is_vip);
        probes.offer(&[0u8; 3], REAL, false, is_vip);
        assert_eq!(probes.totals().ignored, 3);
        probes.offer(
            &answer(port, TARGET_MAC, VIP, b"reply"),
            REAL,
            false,
            is_vip,
        );
        assert_eq!(wait.answers.try_recv().ok().as_deref(), Some(&b"reply"[..]));
        assert_eq!(probes.totals().answers, 1);
        wait.ignored();
        assert_eq!(probes.totals().ignored, 4);
        drop(wait);
        assert!(
            !probes.waiting(),
            "the probe is unregistered when its wait ends"
        );
    }

    #[test]
    fn without_an_interface_nothing_is_sent_and_nothing_stays_registered() {
        let probes = Arc::new(PathProbes::default());
        let mut local = probe(b"q");
        local.source = Ipv4Addr::LOCALHOST;
        let error = probes.send(&local).err().unwrap_or_default();
        assert!(error.contains("no interface"), "{error}");
        assert!(!probes.waiting());
        assert_eq!(probes.totals().sent, 0);
    }
}
