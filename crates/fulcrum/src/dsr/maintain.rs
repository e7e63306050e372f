//! The DSR plane's maintenance thread: ARP requests for target MACs (from the network's
//! `real` address), table rebuilds when the resolved set changes, gratuitous ARP for the VIPs
//! when the node becomes active, and session expiry. One per running interface; it never waits
//! for the control lock (see the comment at the rebuild).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_sys::packet::FrameSender;
use fulcrum_wire::arp;
use fulcrum_wire::ethernet::EthernetAddress;

use super::plane_counters::Event;
use super::resolver::{self, ARP_FRAME_LEN};
use super::{lock, Inner};

impl Inner {
    /// The maintenance thread: ARP requests for target MACs, table rebuilds when the resolved
    /// set changes, gratuitous ARP for the VIPs, session expiry.
    pub(super) fn maintain(
        self: Arc<Self>,
        sender: FrameSender,
        own_mac: EthernetAddress,
        stop: Arc<AtomicBool>,
    ) {
        let counters = self.shared.counters.slot(self.options.workers);
        let mut last_second = Instant::now() - Duration::from_secs(1);
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut changed = self.shared.resolver_changed.swap(false, Ordering::AcqRel);
            if now.duration_since(last_second) >= Duration::from_secs(1) {
                last_second = now;
                changed |= lock(&self.shared.resolver).expire(now);
                self.shared.sessions.expire(self.shared.sessions.now());
            }
            let table = self.shared.table.load_full();
            if let Some(source) = table.source {
                let due = lock(&self.shared.resolver).due_requests(now);
                for target in due {
                    let request = resolver::request(own_mac, source, target);
                    if send_arp(&sender, own_mac, EthernetAddress::BROADCAST, &request) {
                        counters.count(Event::ArpRequestsSent);
                    }
                }
            }
            if self.shared.announce.swap(false, Ordering::AcqRel)
                && self.shared.active.load(Ordering::Acquire)
                && !table.routed
            {
                if let Some(virtual_mac) = table.virtual_mac {
                    for vip in table.vips() {
                        let announcement = arp::Repr::gratuitous(virtual_mac, vip);
                        if send_arp(
                            &sender,
                            virtual_mac,
                            EthernetAddress::BROADCAST,
                            &announcement,
                        ) {
                            counters.count(Event::ArpAnnounced);
                        }
                    }
                }
            }
            changed |=
                super::nd::maintain6(&self.shared.nd6, &table, &sender, own_mac, counters, now);
            if changed {
                // `apply` may hold the lock while it joins this very thread (interface change):
                // never wait for it here, retry on the next turn instead.
                match self.control.try_lock() {
                    Ok(mut control) => {
                        self.rebuild(&mut control);
                    }
                    Err(_) => self.shared.resolver_changed.store(true, Ordering::Release),
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn send_arp(
    sender: &FrameSender,
    src: EthernetAddress,
    dst: EthernetAddress,
    repr: &arp::Repr,
) -> bool {
    let mut frame = [0u8; ARP_FRAME_LEN];
    resolver::arp_frame(&mut frame, src, dst, repr);
    match sender.send(&frame) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!("dsr: cannot send ARP: {e}");
            false
        }
    }
}
