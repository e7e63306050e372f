//! Who may speak for a virtual router, and what is said about those who should not.
//!
//! Contract: [`Senders`] holds the configured unicast peers (empty: anyone on the link may send,
//! as RFC 3768 and RFC 5798 assume) and the sources of adverts that passed every check before.
//! [`Senders::admits`] says whether an advert from a source is taken at all (only configured
//! peers, when there are any). [`Senders::accepted`] and [`Senders::refused`] count what came and
//! queue at most one [`Notice`] per source and kind per [`NOTICE_INTERVAL`] (and at most
//! [`NOTICES_PER_INTERVAL`] in all), each carrying how many were held back since, so that a
//! forged flood from many addresses stays visible in a few log lines. Every table is bounded;
//! time is passed in.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::family::Family;

/// The shortest time between two notices about one source.
pub const NOTICE_INTERVAL: Duration = Duration::from_secs(10);
/// At most this many notices in any [`NOTICE_INTERVAL`], whatever the number of sources.
pub const NOTICES_PER_INTERVAL: u32 = 8;
/// Sources remembered as peers without a configured list (a group has few members).
const SEEN_MAX: usize = 8;
/// Sources whose notices are paced one by one; beyond, the oldest is forgotten.
const PACED_MAX: usize = 64;

/// Something worth one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice<A = Ipv4Addr> {
    pub source: A,
    pub priority: u8,
    pub kind: NoticeKind,
    /// Notices about this source (or, after a flood, about any) held back since the last one.
    pub suppressed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A valid advert from an address that is neither a configured nor a previously seen peer.
    NewSender,
    /// An advert from an address outside the configured peer list: refused.
    NotAPeer,
    /// A valid advert whose address list differs from ours (taken: RFC 5798 §7.1 makes this a
    /// logged misconfiguration, and during a change of the list both sides differ for a moment).
    AddressMismatch,
}

impl<A: fmt::Display> fmt::Display for Notice<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (source, priority) = (&self.source, self.priority);
        match self.kind {
            NoticeKind::NewSender => write!(
                f,
                "vrrp: advert from {source} (priority {priority}), a sender not heard before"
            )?,
            NoticeKind::NotAPeer => write!(
                f,
                "vrrp: advert from {source} (priority {priority}) refused: not a configured peer"
            )?,
            NoticeKind::AddressMismatch => write!(
                f,
                "vrrp: advert from {source} (priority {priority}) lists other virtual addresses \
                 than ours; taken, check both configurations"
            )?,
        }
        if self.suppressed > 0 {
            write!(f, " ({} similar lines suppressed)", self.suppressed)?;
        }
        Ok(())
    }
}

/// Counters for `show vrrp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderCounters {
    /// Valid adverts from a source that was neither configured nor seen before.
    pub new_sender: u64,
    /// Adverts refused because the source is not a configured peer.
    pub not_a_peer: u64,
    /// Valid adverts taken although their address list differs from ours.
    pub address_mismatch: u64,
}

#[derive(Debug, Clone)]
struct Paced<A> {
    source: A,
    kind: NoticeKind,
    last: Instant,
    suppressed: u64,
}

#[derive(Debug, Clone)]
pub struct Senders<A = Ipv4Addr> {
    configured: Vec<A>,
    seen: Vec<A>,
    paced: VecDeque<Paced<A>>,
    window_start: Option<Instant>,
    in_window: u32,
    /// Held back by the global cap or forgotten with an evicted source.
    suppressed_elsewhere: u64,
    counters: SenderCounters,
    notices: VecDeque<Notice<A>>,
}

impl<A: Family> Senders<A> {
    pub fn new(configured: &[A]) -> Senders<A> {
        Senders {
            configured: configured.to_vec(),
            seen: Vec::new(),
            paced: VecDeque::new(),
            window_start: None,
            in_window: 0,
            suppressed_elsewhere: 0,
            counters: SenderCounters::default(),
            notices: VecDeque::new(),
        }
    }

    pub fn configured(&self) -> &[A] {
        &self.configured
    }

    pub fn counters(&self) -> SenderCounters {
        self.counters
    }

    /// Whether adverts from `source` are taken at all.
    pub fn admits(&self, source: A) -> bool {
        self.configured.is_empty() || self.configured.contains(&source)
    }

    /// An advert from `source` refused by [`Senders::admits`].
    pub fn refused(&mut self, now: Instant, source: A, priority: u8) {
        self.counters.not_a_peer += 1;
        self.notice(now, source, priority, NoticeKind::NotAPeer);
    }

    /// An advert that passed every check.
    pub fn accepted(&mut self, now: Instant, source: A, priority: u8, addresses_match: bool) {
        let known = self.configured.contains(&source) || self.seen.contains(&source);
        if !known {
            self.counters.new_sender += 1;
            if self.seen.len() < SEEN_MAX {
                self.seen.push(source);
            }
            self.notice(now, source, priority, NoticeKind::NewSender);
        }
        if !addresses_match {
            self.counters.address_mismatch += 1;
            self.notice(now, source, priority, NoticeKind::AddressMismatch);
        }
    }

    /// The next line to log. Drain it after each recorded advert, until `None`.
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<Notice<A>> {
        self.notices.pop_front()
    }

    fn notice(&mut self, now: Instant, source: A, priority: u8, kind: NoticeKind) {
        let index = match self
            .paced
            .iter()
            .position(|p| p.source == source && p.kind == kind)
        {
            Some(index) => {
                let entry = &mut self.paced[index];
                if now.saturating_duration_since(entry.last) < NOTICE_INTERVAL {
                    entry.suppressed += 1;
                    return;
                }
                index
            }
            None => {
                if self.paced.len() == PACED_MAX {
                    if let Some(oldest) = self.paced.pop_front() {
                        self.suppressed_elsewhere += oldest.suppressed;
                    }
                }
                self.paced.push_back(Paced {
                    source,
                    kind,
                    // Never in the past of `now`'s interval: the cap below decides.
                    last: now,
                    suppressed: 0,
                });
                self.paced.len() - 1
            }
        };
        let window_over = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= NOTICE_INTERVAL);
        if window_over {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        if self.in_window >= NOTICES_PER_INTERVAL {
            self.suppressed_elsewhere += 1;
            return;
        }
        self.in_window += 1;
        let entry = &mut self.paced[index];
        entry.last = now;
        let suppressed =
            std::mem::take(&mut entry.suppressed) + std::mem::take(&mut self.suppressed_elsewhere);
        self.notices.push_back(Notice {
            source,
            priority,
            kind,
            suppressed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 235, 210, last)
    }

    fn drain(senders: &mut Senders) -> Vec<Notice> {
        std::iter::from_fn(|| senders.poll_notice()).collect()
    }

    #[test]
    fn without_a_list_every_source_is_admitted_and_a_new_one_is_told_once() {
        let t0 = Instant::now();
        let mut senders = Senders::new(&[]);
        assert!(senders.admits(addr(46)));
        senders.accepted(t0, addr(46), 200, true);
        senders.accepted(t0 + Duration::from_secs(1), addr(46), 200, true);
        let notices = drain(&mut senders);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].kind, NoticeKind::NewSender);
        assert_eq!(senders.counters().new_sender, 1);
        // A second sender is new as well (a forger, or a third member).
        senders.accepted(t0 + Duration::from_secs(2), addr(99), 255, true);
        let notices = drain(&mut senders);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].source, addr(99));
        assert_eq!(
            notices[0].to_string(),
            "vrrp: advert from 10.235.210.99 (priority 255), a sender not heard before"
        );
    }

    #[test]
    fn a_configured_list_refuses_others_and_paces_their_notices() {
        let t0 = Instant::now();
        let mut senders = Senders::new(&[addr(46)]);
        assert!(senders.admits(addr(46)));
        assert!(!senders.admits(addr(99)));
        // A configured peer is not new.
        senders.accepted(t0, addr(46), 200, true);
        assert_eq!(senders.counters().new_sender, 0);
        for n in 0..100u32 {
            senders.refused(t0 + Duration::from_millis(u64::from(n) * 10), addr(99), 255);
        }
        let notices = drain(&mut senders);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert_eq!(senders.counters().not_a_peer, 100);
        // After the interval the next one says how many were held back.
        senders.refused(t0 + NOTICE_INTERVAL, addr(99), 255);
        let notices = drain(&mut senders);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].suppressed, 99);
        assert!(notices[0]
            .to_string()
            .ends_with("(99 similar lines suppressed)"));
    }

    #[test]
    fn a_flood_from_many_sources_is_capped_per_interval() {
        let t0 = Instant::now();
        let mut senders = Senders::new(&[addr(46)]);
        for n in 0..1000u32 {
            let source = Ipv4Addr::from(0x0a00_0000 + n);
            senders.refused(t0 + Duration::from_millis(u64::from(n)), source, 255);
        }
        assert_eq!(drain(&mut senders).len(), NOTICES_PER_INTERVAL as usize);
        assert_eq!(senders.counters().not_a_peer, 1000);
        // The next interval's first notice carries the rest.
        senders.refused(t0 + Duration::from_secs(11), addr(98), 255);
        let notices = drain(&mut senders);
        assert_eq!(notices.len(), 1);
        assert!(notices[0].suppressed >= 1000 - u64::from(NOTICES_PER_INTERVAL) - 1);
    }

    #[test]
    fn an_address_mismatch_is_counted_and_told() {
        let t0 = Instant::now();
        let mut senders = Senders::new(&[]);
        senders.accepted(t0, addr(46), 200, false);
        assert_eq!(senders.counters().address_mismatch, 1);
        let kinds: Vec<NoticeKind> = drain(&mut senders).iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            vec![NoticeKind::NewSender, NoticeKind::AddressMismatch]
        );
        senders.accepted(t0 + Duration::from_secs(1), addr(46), 200, false);
        assert!(drain(&mut senders).is_empty());
        senders.accepted(t0 + NOTICE_INTERVAL, addr(46), 200, false);
        let notices = drain(&mut senders);
        assert_eq!(notices.len(), 1);
        assert_eq!(
            (notices[0].kind, notices[0].suppressed),
            (NoticeKind::AddressMismatch, 1)
        );
        assert_eq!(senders.counters().address_mismatch, 3);
    }
}
