//! Fulcrum's own ARP for DSR target MACs (the kernel's neighbour table is not used: the DSR
//! interface has no address of the host's, and the targets must be reached from the network's
//! `real` address whatever the host's routes say), plus the ARP frames the plane sends.
//!
//! Contract: [`Resolver`] is a pure cache on a caller-supplied clock. It asks for every wanted
//! address not yet resolved once per [`RETRY`], refreshes a resolved one after [`REFRESH`]
//! without a reply, and forgets it after [`EXPIRE`] without one; `learn` and `expire` report
//! whether the set of resolved MACs changed, which is when the forwarding table is rebuilt.
//! Only a reply to a request of ours, within [`ANSWER_WINDOW`] of it and the first one, is
//! learned: an unsolicited (gratuitous or spoofed) reply could otherwise point a target's
//! clients at any MAC on the segment whenever its sender liked. The cache is the same for both
//! families: `Resolver<Ipv6Addr>` holds what Neighbor Discovery learns ([`super::resolver6`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fulcrum_wire::arp::{self, Operation};
use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};

pub const RETRY: Duration = Duration::from_secs(1);
pub const REFRESH: Duration = Duration::from_secs(20);
pub const EXPIRE: Duration = Duration::from_secs(60);
/// How long after a request its reply is taken.
pub const ANSWER_WINDOW: Duration = Duration::from_secs(2);

/// What [`Resolver::learn`] made of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// The resolved set changed (a new or different MAC).
    Changed,
    /// Taken, nothing changed.
    Same,
    /// Not asked about lately, already answered, or not a unicast MAC: ignored.
    Ignored,
}

/// Length of an Ethernet frame carrying an Ethernet/IPv4 ARP packet (without padding).
pub const ARP_FRAME_LEN: usize = ethernet::HEADER_LEN + arp::ETHERNET_IPV4_LEN;

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    mac: Option<EthernetAddress>,
    last_reply: Option<Instant>,
    last_request: Option<Instant>,
    /// The last request has had its reply.
    answered: bool,
}

#[derive(Debug)]
pub struct Resolver<A = Ipv4Addr> {
    entries: HashMap<A, Entry>,
}

impl<A> Default for Resolver<A> {
    fn default() -> Self {
        Resolver {
            entries: HashMap::new(),
        }
    }
}

impl<A: Copy + Eq + Hash + Ord> Resolver<A> {
    /// Makes `addrs` the addresses to resolve; others are forgotten. True if a resolved MAC
    /// was dropped.
    pub fn set_wanted(&mut self, addrs: &[A]) -> bool {
        let before = self.entries.values().filter(|e| e.mac.is_some()).count();
        self.entries.retain(|ip, _| addrs.contains(ip));
        for ip in addrs {
            self.entries.entry(*ip).or_default();
        }
        before != self.entries.values().filter(|e| e.mac.is_some()).count()
    }

    /// An ARP reply said `ip` is at `mac`: taken if it answers our latest request for `ip`.
    pub fn learn(&mut self, ip: A, mac: EthernetAddress, now: Instant) -> Learned {
        let Some(entry) = self.entries.get_mut(&ip) else {
            return Learned::Ignored;
        };
        let solicited = entry
            .last_request
            .is_some_and(|at| now.saturating_duration_since(at) < ANSWER_WINDOW);
        if !mac.is_unicast() || !solicited || entry.answered {
            return Learned::Ignored;
        }
        entry.answered = true;
        entry.last_reply = Some(now);
        let changed = entry.mac != Some(mac);
        entry.mac = Some(mac);
        if changed {
            Learned::Changed
        } else {
            Learned::Same
        }
    }

    /// Addresses to send an ARP request for now (each is then not due again for [`RETRY`]).
    pub fn due_requests(&mut self, now: Instant) -> Vec<A> {
        let mut due = Vec::new();
        for (ip, entry) in &mut self.entries {
            let stale = match (entry.mac, entry.last_reply) {
                (Some(_), Some(at)) => now.saturating_duration_since(at) >= REFRESH,
                _ => true,
            };
            let may_ask = entry
                .last_request
                .is_none_or(|at| now.saturating_duration_since(at) >= RETRY);
            if stale && may_ask {
                entry.last_request = Some(now);
                entry.answered = false;
                due.push(*ip);
            }
        }
        due.sort();
        due
    }

    /// Forgets MACs not confirmed for [`EXPIRE`]. True if any was forgotten.
    pub fn expire(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for entry in self.entries.values_mut() {
            if let (Some(_), Some(at)) = (entry.mac, entry.last_reply) {
                if now.saturating_duration_since(at) >= EXPIRE {
                    entry.mac = None;
                    changed = true;
                }
            }
        }
        changed
    }

    /// Whether `ip` is among the addresses to resolve.
    pub fn wants(&self, ip: A) -> bool {
        self.entries.contains_key(&ip)
    }

    /// The MAC resolved for `ip`, if any.
    pub fn mac_of(&self, ip: A) -> Option<EthernetAddress> {
        self.entries.get(&ip).and_then(|e| e.mac)
    }

    pub fn macs(&self) -> HashMap<A, EthernetAddress> {
        self.entries
            .iter()
            .filter_map(|(ip, e)| e.mac.map(|mac| (*ip, mac)))
            .collect()
    }
}

/// An Ethernet frame of `ARP_FRAME_LEN` bytes carrying `repr` from `src` to `dst`.
pub fn arp_frame(out: &mut [u8], src: EthernetAddress, dst: EthernetAddress, repr: &arp::Repr) {
    let header = ethernet::Repr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EtherType::Arp,
    };
    if out.len() < ARP_FRAME_LEN {
        return;
    }
    let _ = header.emit(&mut ethernet::Frame::new_unchecked(&mut out[..]));
    let _ = repr.emit(&mut arp::Packet::new_unchecked(
        &mut out[ethernet::HEADER_LEN..ARP_FRAME_LEN],
    ));
}

/// Who-has `target`, tell `source` (at `own_mac`), broadcast.
pub fn request(own_mac: EthernetAddress, source: Ipv4Addr, target: Ipv4Addr) -> arp::Repr {
    arp::Repr {
        operation: Operation::Request,
        source_hardware_addr: own_mac,
        source_protocol_addr: source,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
}

/// `vip` is at `virtual_mac`, to the asker.
pub fn answer(
    virtual_mac: EthernetAddress,
    vip: Ipv4Addr,
    asker_mac: EthernetAddress,
    asker_ip: Ipv4Addr,
) -> arp::Repr {
    arp::Repr {
        operation: Operation::Reply,
        source_hardware_addr: virtual_mac,
        source_protocol_addr: vip,
        target_hardware_addr: asker_mac,
        target_protocol_addr: asker_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const T2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    #[test]
    fn asks_until_answered_then_refreshes_then_forgets() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut r = Resolver::default();
        r.set_wanted(&[T1, T2]);
        assert_eq!(r.due_requests(t0), vec![T1, T2]);
        assert!(r.due_requests(t0).is_empty(), "not again within RETRY");
        assert_eq!(r.learn(T1, MAC, at(0)), Learned::Changed);
        assert_eq!(
            r.learn(T1, MAC, at(0)),
            Learned::Ignored,
            "a second reply to one request"
        );
        assert_eq!(
            r.learn(Ipv4Addr::new(10, 0, 0, 9), MAC, at(0)),
            Learned::Ignored,
            "not wanted"
        );
        assert_eq!(
            r.learn(T2, EthernetAddress::BROADCAST, at(0)),
            Learned::Ignored,
            "not a unicast MAC"
        );
        assert_eq!(r.due_requests(at(1)), vec![T2]);
        assert_eq!(
            r.due_requests(at(20)),
            vec![T1, T2],
            "T1 refreshed after REFRESH"
        );
        assert!(!r.expire(at(59)));
        assert!(r.expire(at(60)));
        assert!(r.macs().is_empty());
    }

    #[test]
    fn unsolicited_replies_are_ignored() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let spoofed = EthernetAddress([2, 0, 0, 0, 0, 0x66]);
        let mut r = Resolver::default();
        r.set_wanted(&[T1]);
        assert_eq!(r.learn(T1, MAC, t0), Learned::Ignored, "never asked");
        assert_eq!(r.due_requests(t0), vec![T1]);
        assert_eq!(r.learn(T1, MAC, at(1)), Learned::Changed);
        // A gratuitous reply later, redirecting T1: ignored, T1 stays where it answered.
        assert_eq!(r.learn(T1, spoofed, at(5)), Learned::Ignored);
        assert_eq!(r.mac_of(T1), Some(MAC));
        // A reply that comes too late for its request is ignored too.
        assert_eq!(
            r.due_requests(at(21)),
            vec![T1],
            "refreshed REFRESH after the reply"
        );
        assert_eq!(r.learn(T1, spoofed, at(24)), Learned::Ignored);
        // A real change of MAC is learned from the answer to the next request.
        assert_eq!(r.due_requests(at(25)), vec![T1]);
        assert_eq!(r.learn(T1, spoofed, at(25)), Learned::Changed);
    }

    #[test]
    fn frames_are_well_formed_arp() {
        let mut frame = [0u8; ARP_FRAME_LEN];
        let repr = answer(EthernetAddress::vrrp_virtual(7), T1, MAC, T2);
        arp_frame(&mut frame, EthernetAddress::vrrp_virtual(7), MAC, &repr);
        let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Arp);
        assert_eq!(eth.dst_addr(), MAC);
        let parsed = arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(parsed, repr);
    }
}
