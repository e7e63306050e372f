//! The DSR plane's own counters (frames, ARP, drops by reason), one cache-line-aligned slot per
//! worker thread plus one for the maintenance thread, summed on read. A slot has exactly one
//! writer, so an increment is a plain load and store.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use fulcrum_wire::classify::DropReason;

fulcrum_wire::counted_enum! {
    /// Everything counted outside the per-server and per-target counters.
    pub enum Event {
        FramesIn => "frames-in",
        /// Frames for a VIP service (forwarded, delivered locally or dropped).
        VipFrames => "vip-frames",
        Forwarded => "forwarded",
        DeliveredLocally => "delivered-locally",
        /// Left to the kernel.
        Other => "left-to-kernel",
        ArpAnswered => "arp-answered",
        ArpRepliesSeen => "arp-replies-seen",
        /// ARP replies for an address not asked about lately (unsolicited or spoofed): ignored.
        ArpUnsolicited => "arp-unsolicited",
        ArpRequestsSent => "arp-requests-sent",
        /// Gratuitous ARP for a VIP (start, becoming active).
        ArpAnnounced => "arp-announced",
        /// Neighbor Solicitations answered (an IPv6 VIP, or `real6`).
        NdAnswered => "nd-answered",
        NdAdvertsSeen => "nd-adverts-seen",
        /// Neighbor Advertisements for an address not asked about lately: ignored.
        NdUnsolicited => "nd-unsolicited",
        NdSolicitsSent => "nd-solicits-sent",
        /// Unsolicited Neighbor Advertisements for an IPv6 VIP (start, becoming active).
        NdAnnounced => "nd-announced",
        /// ICMPv6 errors about a client's flow sent on to the target holding its session.
        Icmpv6ErrorsForwarded => "icmp6-errors-fwd",
        Vrrp => "vrrp",
        DropNotActive => "drop-not-active",
        DropNoTarget => "drop-no-target",
        /// The transmit ring had no free slot.
        DropTxFull => "drop-tx-full",
        /// The local stack refused the packet.
        DropLocalFailed => "drop-local-failed",
        /// Longer than a ring slot.
        DropTruncated => "drop-truncated",
        /// Lost by the kernel because the receive ring was full (the workers fell behind).
        DropRingFull => "drop-ring-full",
        /// Reassembled datagrams too long for one frame on the link, sent on as fragments.
        Refragmented => "refragmented",
        /// TCP segments merged beyond the link's MTU (GRO, LRO), sent on cut at its MSS.
        Resegmented => "resegmented",
        /// Reassembled datagrams too long for the link that cannot be cut (Don't Fragment, IP
        /// options).
        DropTooBig => "drop-too-big",
        /// Refused by a server's `allow`/`deny` rules, `ratelimit`, `anylimit`.
        DropAcl => "drop-acl",
        DropRateLimit => "drop-ratelimit",
        DropAnyLimit => "drop-any-limit",
    }
}

#[derive(Default)]
#[repr(align(128))]
pub struct Slot {
    events: [AtomicU64; Event::COUNT],
    drops: [AtomicU64; DropReason::COUNT],
}

fn bump(counter: &AtomicU64) {
    // Single writer per slot: load + store cannot lose an update.
    counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
}

impl Slot {
    pub fn count(&self, event: Event) {
        bump(&self.events[event.index()]);
    }

    pub fn add(&self, event: Event, n: u64) {
        let counter = &self.events[event.index()];
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn drop(&self, reason: DropReason) {
        bump(&self.drops[reason.index()]);
    }
}

pub struct PlaneCounters {
    slots: Box<[Slot]>,
}

/// A summed snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaneTotals {
    pub events: [u64; Event::COUNT],
    pub drops: [u64; DropReason::COUNT],
}

impl PlaneTotals {
    pub fn get(&self, event: Event) -> u64 {
        self.events[event.index()]
    }

    /// One `name value` line per counter, zero drops left out.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for event in Event::ALL {
            out.push_str(&format!("{:<20} {}\n", event.name(), self.get(event)));
        }
        for reason in DropReason::ALL {
            let n = self.drops[reason.index()];
            if n > 0 {
                out.push_str(&format!("drop-{:<15} {n}\n", reason.name()));
            }
        }
        out
    }
}

impl PlaneCounters {
    pub fn new(writers: usize) -> PlaneCounters {
        PlaneCounters {
            slots: (0..writers.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    /// The slot of `writer` (the last slot for an index out of range).
    pub fn slot(&self, writer: usize) -> &Slot {
        &self.slots[writer.min(self.slots.len() - 1)]
    }

    pub fn totals(&self) -> PlaneTotals {
        let mut totals = PlaneTotals::default();
        for slot in self.slots.iter() {
            for (sum, c) in totals.events.iter_mut().zip(&slot.events) {
                *sum += c.load(Relaxed);
            }
            for (sum, c) in totals.drops.iter_mut().zip(&slot.drops) {
                *sum += c.load(Relaxed);
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_sum_and_render() {
        let counters = PlaneCounters::new(2);
        counters.slot(0).count(Event::FramesIn);
        counters.slot(1).count(Event::FramesIn);
        counters.slot(9).drop(DropReason::IpBadChecksum);
        let totals = counters.totals();
        assert_eq!(totals.get(Event::FramesIn), 2);
        let text = totals.render();
        assert!(text.contains("frames-in            2"), "{text}");
        assert!(text.contains("drop-ip-bad-checksum 1"), "{text}");
        assert!(!text.contains("drop-runt"), "{text}");
    }
}
