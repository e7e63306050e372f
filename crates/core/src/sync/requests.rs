//! The master's guard in front of full-table dumps: which full-table requests it takes.
//!
//! Contract: [`RequestGate::admit`] decides for one request that already passed the driver's
//! source and HMAC checks. With a key (a replay window set) a request must be fresh (its
//! sent-at within the window of the master's wall clock), newer than every request admitted
//! from the same requester boot (higher sequence; the last [`BOOTS`] boots are remembered), and,
//! from a boot not remembered, sent after every request admitted so far (an old boot's request
//! replayed is refused). A request from an address that is not the known
//! peer (`syncpeer` or the VRRP peer) is never taken on its word: the master answers a Cookie
//! to the request's source and admits only a request that echoes it within
//! [`COOKIE_LIFETIME`], so a request with a forged source address (a victim's) gets the
//! victim one small Cookie, never a dump. Time and randomness come in as arguments.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{fresh, DropReason};

/// A Cookie is good for this long.
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(10);
/// Cookies outstanding at once (the oldest is forgotten first).
const COOKIES: usize = 64;
/// Requester boots whose highest admitted sequence is remembered.
pub const BOOTS: usize = 16;

/// A full-table request as the wire carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo {
    pub from: IpAddr,
    pub node: u32,
    pub sequence: u32,
    pub sent_at: u64,
    pub request: u32,
    pub cookie: u32,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Take it (its source is the peer, or proved it receives at its address).
    Admit,
    /// Answer a Cookie carrying this value to the request's source.
    SendCookie(u32),
    Drop(DropReason),
}

#[derive(Debug, Default)]
pub struct RequestGate {
    window: Option<Duration>,
    /// (requester boot, its highest admitted sequence), oldest first.
    boots: VecDeque<(u32, u32)>,
    /// The newest sent-at admitted.
    newest: u64,
    cookies: VecDeque<(IpAddr, u32, Instant)>,
}

impl RequestGate {
    /// `window`: the replay window with a key, `None` without one (nothing to check against).
    pub fn new(window: Option<Duration>) -> RequestGate {
        RequestGate {
            window,
            ..RequestGate::default()
        }
    }

    /// `wall_ms`: the master's wall clock (ms since the Unix epoch); `known_peer`: the source is
    /// the configured or VRRP peer; `random`: a fresh random value for a cookie.
    pub fn admit(
        &mut self,
        now: Instant,
        wall_ms: u64,
        request: &RequestInfo,
        known_peer: bool,
        random: u32,
    ) -> Admission {
        if let Some(window) = self.window {
            if !fresh(window, request.sent_at, wall_ms) {
                return Admission::Drop(DropReason::OutOfWindow);
            }
            match self.boots.iter().find(|(node, _)| *node == request.node) {
                // Plain order, no wrapping: a requester asks at most every few seconds, so its
                // sequence never wraps within a boot, and a wrapped one could readmit old ones.
                Some(&(_, sequence)) if request.sequence <= sequence => {
                    return Admission::Drop(DropReason::Replayed);
                }
                None if request.sent_at <= self.newest => {
                    return Admission::Drop(DropReason::OldBoot);
                }
                _ => {}
            }
        }
        if !known_peer {
            self.cookies
                .retain(|(_, _, at)| now.saturating_duration_since(*at) < COOKIE_LIFETIME);
            let echoed = request.cookie != 0
                && self
                    .cookies
                    .iter()
                    .any(|(from, cookie, _)| *from == request.from && *cookie == request.cookie);
            if !echoed {
                let cookie = random.max(1);
                self.cookies.retain(|(from, _, _)| *from != request.from);
                if self.cookies.len() >= COOKIES {
                    self.cookies.pop_front();
                }
                self.cookies.push_back((request.from, cookie, now));
                return Admission::SendCookie(cookie);
            }
            self.cookies.retain(|(from, _, _)| *from != request.from);
        }
        if self.window.is_some() {
            self.boots.retain(|(node, _)| *node != request.node);
            if self.boots.len() >= BOOTS {
                self.boots.pop_front();
            }
            self.boots.push_back((request.node, request.sequence));
            self.newest = self.newest.max(request.sent_at);
        }
        Admission::Admit
    }
}
