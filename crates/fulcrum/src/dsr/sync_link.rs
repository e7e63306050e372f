//! The DSR plane's share of session sync on a host whose kernel does not hold the network's
//! `real` address (the seed's hosts: BalanceNG owned eth1 and its address): sync datagrams
//! leave the DSR interface as whole frames from `real`, to the peer's MAC found by the plane's
//! own ARP ([`super::resolver`]), and frames for `real`:10439 are taken off the plane's receive
//! path and handed to the sync driver.
//!
//! Contract: [`Dsr::sync_attach`] gives the one [`SyncPort`] (a second attach replaces the
//! first). While a port is attached, workers offer each frame they leave to the kernel
//! ([`SyncLink::offer`]; only frames to `real`'s IPv4 address are parsed, with
//! `fulcrum_wire::udp_frame`): a valid UDP datagram to port 10439 is queued on a bounded
//! channel of [`INBOX`] datagrams, one that does not fit is counted as `queue-full`, a broken
//! frame to `real` as `malformed`. [`SyncPort::send`] builds one frame per datagram (never
//! fragmented: the sender's datagrams stay under the link MTU, see `docs/sync.md`); while the
//! peer's MAC is unknown it asks the resolver for it and says so ([`SendError::Unresolved`]).
//! Dropping the port detaches it and stops resolving the peer.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fulcrum_sys::packet::FrameSender;
use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_wire::sync::PORT;
use fulcrum_wire::udp_frame;
use fulcrum_wire::WireError;

use super::{lock, Dsr, Shared};

/// Datagrams queued for the sync driver: about as many as a full table sends in 350 ms.
pub const INBOX: usize = 8192;

/// One datagram for `real`:10439.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub from: Ipv4Addr,
    pub payload: Vec<u8>,
}

/// Counters of the sync link (since the plane started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncLinkCounters {
    pub received: u64,
    pub queue_full: u64,
    pub malformed: u64,
    pub sent: u64,
}

/// Why a datagram was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The peer's MAC is not known yet; the plane's ARP is asking.
    Unresolved,
    /// The plane runs on no interface, or has no `real` address.
    NotRunning,
    /// The frame could not be built or the kernel refused it.
    Failed(String),
}

#[derive(Default)]
pub struct SyncLink {
    listening: AtomicBool,
    /// Counts attaches, so a replaced port's drop leaves its successor attached.
    generation: AtomicU64,
    inbox: Mutex<Option<SyncSender<Received>>>,
    sender: Mutex<Option<(FrameSender, EthernetAddress)>>,
    /// Sync peers whose MAC the resolver must find (beside the targets).
    peers: Mutex<Vec<Ipv4Addr>>,
    received: AtomicU64,
    queue_full: AtomicU64,
    malformed: AtomicU64,
    sent: AtomicU64,
}

impl SyncLink {
    /// The plane's threads run on an interface: sync frames leave from it.
    pub fn set_sender(&self, sender: Option<(FrameSender, EthernetAddress)>) {
        *lock(&self.sender) = sender;
    }

    /// Whether a sync driver listens (the workers' cheap test before [`SyncLink::offer`]).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// The sync peers to resolve.
    pub fn peers(&self) -> Vec<Ipv4Addr> {
        lock(&self.peers).clone()
    }

    pub fn counters(&self) -> SyncLinkCounters {
        SyncLinkCounters {
            received: self.received.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
        }
    }

    /// A frame the plane left to the kernel: queued for the driver if it is a sync datagram
    /// to `real`.
    pub fn offer(&self, frame: &[u8], real: Ipv4Addr, checksum_incomplete: bool) {
        // Ethernet type IPv4 and destination address `real`, before anything is parsed.
        const DST: std::ops::Range<usize> = 30..34;
        if frame.get(12..14) != Some(&[0x08, 0x00][..]) || frame.get(DST) != Some(&real.octets()) {
            return;
        }
        let datagram = match udp_frame::parse(frame, checksum_incomplete) {
            Ok(datagram) => datagram,
            Err(WireError::Unsupported) => return,
            Err(_) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if datagram.dst.port() != PORT {
            return;
        }
        let inbox = lock(&self.inbox);
        let Some(inbox) = inbox.as_ref() else {
            return;
        };
        let received = Received {
            from: *datagram.src.ip(),
            payload: datagram.payload.to_vec(),
        };
        match inbox.try_send(received) {
            Ok(()) => {
                self.received.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.queue_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The sync driver's end of the link.
pub struct SyncPort {
    shared: Arc<Shared>,
    inbox: Receiver<Received>,
    frame: Vec<u8>,
    ident: u16,
    generation: u64,
}

impl Dsr {
    /// The plane's interface and `real` address, while it runs on one with a `real` address.
    pub fn sync_endpoint(&self) -> Option<(String, Ipv4Addr)> {
        let source = self.inner.shared.table.load().source?;
        Some((self.interface()?, source))
    }

    /// Attaches the sync driver (see the module doc).
    pub fn sync_attach(&self) -> SyncPort {
        let (tx, inbox) = mpsc::sync_channel(INBOX);
        let link = &self.inner.shared.sync;
        *lock(&link.inbox) = Some(tx);
        link.listening.store(true, Ordering::Release);
        SyncPort {
            shared: self.inner.shared.clone(),
            inbox,
            frame: Vec::new(),
            ident: 0,
            generation: link.generation.fetch_add(1, Ordering::AcqRel) + 1,
        }
    }
}

impl SyncPort {
    /// Waits at most `wait` (not at all for zero) for one datagram.
    pub fn recv(&self, wait: Duration) -> Option<Received> {
        if wait.is_zero() {
            self.inbox.try_recv().ok()
        } else {
            self.inbox.recv_timeout(wait).ok()
        }
    }

    /// The peer's MAC, if the plane's ARP has found it; asks for it otherwise.
    pub fn peer_mac(&self, peer: Ipv4Addr) -> Option<EthernetAddress> {
        {
            let mut peers = lock(&self.shared.sync.peers);
            if !peers.contains(&peer) {
                *peers = vec![peer];
            }
        }
        let mut resolver = lock(&self.shared.resolver);
        if !resolver.wants(peer) {
            // A table rebuild adds the peers too; this is for the first datagram.
            let mut wanted = self.shared.table.load().to_resolve();
            wanted.push(peer);
            resolver.set_wanted(&wanted);
        }
        resolver.mac_of(peer)
    }

    /// Sends `payload` from `real`:10439 to `peer`:10439.
    pub fn send(&mut self, peer: Ipv4Addr, payload: &[u8]) -> Result<(), SendError> {
        let Some(real) = self.shared.table.load().source else {
            return Err(SendError::NotRunning);
        };
        let mac = self.peer_mac(peer).ok_or(SendError::Unresolved)?;
        let sender = lock(&self.shared.sync.sender);
        let Some((frames, own_mac)) = sender.as_ref() else {
            return Err(SendError::NotRunning);
        };
        self.ident = self.ident.wrapping_add(1);
        let repr = udp_frame::Repr {
            src_mac: *own_mac,
            dst_mac: mac,
            src: SocketAddrV4::new(real, PORT),
            dst: SocketAddrV4::new(peer, PORT),
            ident: self.ident,
        };
        udp_frame::emit(&repr, payload, &mut self.frame)
            .map_err(|e| SendError::Failed(format!("cannot build the frame: {e}")))?;
        frames
            .send(&self.frame)
            .map_err(|e| SendError::Failed(e.to_string()))?;
        self.shared.sync.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn counters(&self) -> SyncLinkCounters {
        self.shared.sync.counters()
    }
}

impl Drop for SyncPort {
    fn drop(&mut self) {
        let link = &self.shared.sync;
        if link.generation.load(Ordering::Acquire) != self.generation {
            return;
        }
        link.listening.store(false, Ordering::Release);
        *lock(&link.inbox) = None;
        lock(&link.peers).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 46);

    fn frame(dst: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let repr = udp_frame::Repr {
            src_mac: EthernetAddress([2, 0, 0, 0, 0, 0x46]),
            dst_mac: EthernetAddress([2, 0, 0, 0, 0, 0x45]),
            src: SocketAddrV4::new(PEER, PORT),
            dst: SocketAddrV4::new(dst, port),
            ident: 1,
        };
        udp_frame::emit(&repr, payload, &mut out).unwrap();
        out
    }

    fn attached(link: &SyncLink, capacity: usize) -> Receiver<Received> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        *lock(&link.inbox) = Some(tx);
        link.listening.store(true, Ordering::Release);
        rx
    }

    #[test]
    fn only_sync_datagrams_to_real_are_queued_and_a_full_queue_is_counted() {
        let link = SyncLink::default();
        let rx = attached(&link, 1);
        link.offer(&frame(PEER, PORT, b"elsewhere"), REAL, false);
        link.offer(&frame(REAL, 53, b"another port"), REAL, false);
        link.offer(&frame(REAL, PORT, b"one"), REAL, false);
        link.offer(&frame(REAL, PORT, b"two"), REAL, false);
        let mut broken = frame(REAL, PORT, b"three");
        let last = broken.len() - 1;
        broken[last] ^= 0xff;
        link.offer(&broken, REAL, false);
        link.offer(&broken[..40], REAL, false);
        assert_eq!(
            rx.try_recv().ok(),
            Some(Received {
                from: PEER,
                payload: b"one".to_vec()
            })
        );
        assert!(rx.try_recv().is_err());
        let counters = link.counters();
        assert_eq!(
            (counters.received, counters.queue_full, counters.malformed),
            (1, 1, 2)
        );
    }

    #[test]
    fn nothing_is_queued_without_a_listener() {
        let link = SyncLink::default();
        link.offer(&frame(REAL, PORT, b"one"), REAL, false);
        assert_eq!(link.counters(), SyncLinkCounters::default());
    }
}
