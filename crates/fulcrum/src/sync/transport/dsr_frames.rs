//! The DSR-interface transport, for hosts whose kernel does not hold `real` (the seed's: eth1
//! is up with no address): datagrams leave as whole frames through the DSR plane
//! ([`crate::dsr::sync_link`]) and arrive on its receive path.
//!
//! Contract: while the plane's ARP has not yet found the peer's MAC (the first datagram to a
//! new peer, a peer that just came back), datagrams wait in order, at most [`PENDING`] of them
//! for at most [`PENDING_FOR`]; they leave as soon as the MAC is known (looked at on every
//! receive, that is every loop turn of the driver). Datagrams that waited too long or found
//! the queue full are dropped and counted as `unresolved`: the core's resync recovers them.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::dsr::sync_link::{SendError, SyncPort};

use super::{Kind, Transport};

/// Datagrams held while the peer's MAC is unknown: a full table of about 250000 sessions.
const PENDING: usize = 4096;
/// How long they are held: a few ARP retries.
const PENDING_FOR: Duration = Duration::from_secs(3);

pub struct DsrFrames {
    port: SyncPort,
    interface: String,
    pending: VecDeque<(Ipv4Addr, Vec<u8>)>,
    pending_since: Option<Instant>,
    unresolved: u64,
    /// Times waiting datagrams were given up (logged at powers of two: a peer that is down
    /// for long gives one every few seconds).
    give_ups: u64,
}

impl DsrFrames {
    pub fn new(port: SyncPort, interface: String) -> DsrFrames {
        tracing::info!(
            "sync: {interface} holds no address of this host's: datagrams go as frames on the \
             DSR interface"
        );
        DsrFrames {
            port,
            interface,
            pending: VecDeque::new(),
            pending_since: None,
            unresolved: 0,
            give_ups: 0,
        }
    }

    /// Sends what waited for the peer's MAC, once it is known; drops it after [`PENDING_FOR`].
    fn flush(&mut self) -> Result<(), String> {
        while let Some((peer, datagram)) = self.pending.front() {
            let peer = *peer;
            match self.port.send(peer, datagram) {
                Ok(()) => {
                    self.pending.pop_front();
                }
                Err(SendError::Unresolved)
                    if self
                        .pending_since
                        .is_some_and(|at| at.elapsed() < PENDING_FOR) =>
                {
                    return Ok(());
                }
                Err(e) => {
                    let dropped = self.pending.len();
                    self.unresolved += dropped as u64;
                    self.pending.clear();
                    self.pending_since = None;
                    return Err(format!(
                        "{} (dropped {dropped} waiting)",
                        describe(&e, peer)
                    ));
                }
            }
        }
        self.pending_since = None;
        Ok(())
    }
}

fn describe(error: &SendError, peer: Ipv4Addr) -> String {
    match error {
        SendError::Unresolved => format!("no ARP answer from {peer} on the DSR interface"),
        SendError::NotRunning => "the DSR plane runs on no interface".to_string(),
        SendError::Failed(e) => e.clone(),
    }
}

impl Transport for DsrFrames {
    fn kind(&self) -> Kind {
        Kind::DsrFrames
    }

    fn send(&mut self, peer: IpAddr, datagram: &[u8]) -> Result<(), String> {
        let IpAddr::V4(peer) = peer else {
            return Err("the DSR interface carries sync over IPv4 only".to_string());
        };
        if self.pending.is_empty() {
            match self.port.send(peer, datagram) {
                Ok(()) => return Ok(()),
                Err(SendError::Unresolved) => self.pending_since = Some(Instant::now()),
                Err(e) => return Err(describe(&e, peer)),
            }
        }
        if self.pending.len() >= PENDING {
            self.unresolved += 1;
            return Err(format!(
                "{} ({PENDING} datagrams already waiting)",
                describe(&SendError::Unresolved, peer)
            ));
        }
        self.pending.push_back((peer, datagram.to_vec()));
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Option<(usize, IpAddr)> {
        if !self.pending.is_empty() {
            if let Err(e) = self.flush() {
                self.give_ups += 1;
                if self.give_ups.is_power_of_two() {
                    tracing::warn!("sync: {e} ({} times so far)", self.give_ups);
                }
            }
        }
        let received = self.port.recv(wait)?;
        let len = received.payload.len().min(buf.len());
        buf[..len].copy_from_slice(&received.payload[..len]);
        Some((len, IpAddr::V4(received.from)))
    }

    fn detail(&self) -> String {
        let c = self.port.counters();
        format!(
            " on {} (frames received {} sent {} queue-full {} malformed {} unresolved {} \
             waiting {})",
            self.interface,
            c.received,
            c.sent,
            c.queue_full,
            c.malformed,
            self.unresolved,
            self.pending.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use fulcrum_core::sync::SenderConfig;
    use fulcrum_wire::udp_frame::IP_OVERHEAD;

    /// Frames are never fragmented: the sender's largest datagram (HMAC trailer included) fits
    /// one IP packet on an Ethernet link's 1500-byte MTU.
    #[test]
    fn the_senders_largest_datagram_fits_an_ethernet_mtu() {
        for with_mac in [false, true] {
            let largest = SenderConfig::new(1, with_mac).max_datagram;
            assert!(largest + IP_OVERHEAD <= 1500, "{largest}");
        }
    }
}
