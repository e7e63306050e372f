//! Neighbour discovery for the DSR plane's IPv6 side: the state both kinds of DSR thread share
//! ([`Nd6`]: the IPv6 VRRP instance's switch, the resolver of IPv6 target MACs, whether
//! unsolicited advertisements are due) and the maintenance thread's IPv6 turn ([`maintain6`]):
//! solicitations for the target MACs from `real6`, and one unsolicited Neighbor Advertisement
//! per IPv6 VIP with the IPv6 virtual MAC when the node becomes master for IPv6 (RFC 5798 §6.4.2
//! asks for them as the IPv4 instance's gratuitous ARP).
//!
//! Contract: the IPv6 switch is separate from the IPv4 one, because the `vrrp` block runs one
//! VRRP instance per family and each may be master on another node. Without a `vrrp` block
//! both stay on. Turning the IPv6 switch on makes the announcements due; the maintenance thread
//! sends them on its next turn, only if the switch is still on.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use fulcrum_sys::packet::FrameSender;
use fulcrum_wire::ethernet::EthernetAddress;

use super::plane_counters::{Event, Slot};
use super::resolver::Resolver;
use super::resolver6::{self, ND_FRAME_LEN};
use super::table::DsrTable;
use super::{lock, Dsr};

/// What the IPv6 side of the plane shares between its threads.
pub(crate) struct Nd6 {
    /// The IPv6 VRRP instance's switch: false while this node is its backup.
    pub active: AtomicBool,
    /// Unsolicited advertisements for the IPv6 VIPs are due.
    pub announce: AtomicBool,
    pub resolver: Mutex<Resolver<Ipv6Addr>>,
}

impl Default for Nd6 {
    fn default() -> Self {
        Nd6 {
            active: AtomicBool::new(true),
            announce: AtomicBool::new(true),
            resolver: Mutex::new(Resolver::default()),
        }
    }
}

impl Dsr {
    /// The IPv6 VRRP instance's switch: a backup answers no solicitation for the IPv6 VIPs and
    /// forwards nothing sent to them.
    pub fn set_active6(&self, active: bool) {
        let nd = &self.inner.shared.nd6;
        let was = nd.active.swap(active, Ordering::AcqRel);
        if active && !was {
            nd.announce.store(true, Ordering::Release);
        }
    }

    pub fn is_active6(&self) -> bool {
        self.inner.shared.nd6.active.load(Ordering::Acquire)
    }
}

/// The maintenance thread's IPv6 turn (see the module doc); `changed` is set when the
/// resolver forgot a MAC, which changes the table.
pub(super) fn maintain6(
    nd: &Nd6,
    table: &DsrTable,
    sender: &FrameSender,
    own_mac: EthernetAddress,
    counters: &Slot,
    now: Instant,
) -> bool {
    let changed = lock(&nd.resolver).expire(now);
    let mut frame = [0u8; ND_FRAME_LEN];
    if let Some(source) = table.source6 {
        let due = lock(&nd.resolver).due_requests(now);
        for target in due {
            let sent = resolver6::solicit(&mut frame, own_mac, source, target)
                .is_some_and(|len| send(sender, &frame[..len]));
            if sent {
                counters.count(Event::NdSolicitsSent);
            }
        }
    }
    if nd.announce.swap(false, Ordering::AcqRel)
        && nd.active.load(Ordering::Acquire)
        && !table.routed
    {
        if let Some(virtual_mac) = table.virtual_mac6 {
            for vip in table.vips6() {
                let sent = resolver6::announce(&mut frame, virtual_mac, vip)
                    .is_some_and(|len| send(sender, &frame[..len]));
                if sent {
                    counters.count(Event::NdAnnounced);
                }
            }
        }
    }
    changed
}

fn send(sender: &FrameSender, frame: &[u8]) -> bool {
    match sender.send(frame) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!("dsr: cannot send a neighbour discovery frame: {e}");
            false
        }
    }
}
