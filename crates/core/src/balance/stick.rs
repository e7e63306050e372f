//! The stick-or-pick rule both data planes apply to every query (proxy) or frame (DSR) that
//! needs a target: a client that must stick keeps its live session while the session's target
//! may keep it; otherwise the server's [`Chooser`] picks, and a sticky client's pick is recorded
//! as its session.
//!
//! Contract: [`stick_or_pick`] is a pure function of its arguments. The clock is `now` (whole
//! seconds of the session table's clock), the randomness is the caller's per-worker [`Pick`]
//! (a seeded xorshift, so a test replays it), and the sessions are whatever implements
//! [`SessionStore`] (the planes' sharded table, or a plain [`SessionTable`] in tests). It reads
//! no clock, takes no lock of its own and allocates nothing. A session is kept when its target
//! may keep clients (`may_keep`: the plane's per-target flag: registered, operational, serving
//! the transport, reachable) or, while the server fails open, when the chooser counts the
//! target operational (fail-open marks every configured target so).
//!
//! [`SessionTable`]: crate::session::SessionTable

use std::net::IpAddr;

use super::Chooser;

/// Where a plane keeps its clients' sessions, as the rule sees it. The methods take `&self`:
/// the planes' tables lock a shard inside.
pub trait SessionStore {
    /// The client's live session target on `server` at `now` (refreshed), if any.
    fn lookup(&self, server: u32, client: IpAddr, now: u32) -> Option<u32>;
    /// Records (or moves) the client's session on `server` to `target`, active at `now`.
    fn insert(&self, server: u32, client: IpAddr, target: u32, now: u32, timeout: u32);
    /// A recent count of the sessions on `target` (for `method least`).
    fn recent_count_on(&self, target: u32) -> u64;
}

/// A plain single-threaded table is a store too (tests, tools).
impl SessionStore for std::cell::RefCell<crate::session::SessionTable> {
    fn lookup(&self, server: u32, client: IpAddr, now: u32) -> Option<u32> {
        self.borrow_mut().lookup(server, client, now)
    }

    fn insert(&self, server: u32, client: IpAddr, target: u32, now: u32, timeout: u32) {
        self.borrow_mut()
            .insert(server, client, target, now, timeout);
    }

    fn recent_count_on(&self, target: u32) -> u64 {
        self.borrow().count_on(target)
    }
}

/// Per-worker choice state: the round-robin counter and the random generator the chooser's
/// `rr` and `random` methods draw from. One per worker thread, so no two threads share it.
#[derive(Debug, Clone)]
pub struct Pick {
    rr_counter: u64,
    random: u64,
}

impl Pick {
    /// A generator seeded with `seed` (any value; 0 is made odd).
    pub fn new(seed: u64) -> Pick {
        Pick {
            rr_counter: 0,
            random: seed | 1,
        }
    }

    /// The next round-robin turn and random number.
    fn draw(&mut self) -> (u64, u64) {
        self.rr_counter = self.rr_counter.wrapping_add(1);
        // xorshift64*: plenty for spreading load; not for anything secret.
        let mut x = self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random = x;
        (self.rr_counter, x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
}

/// One server and transport as the rule sees them.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    /// The server's id (sessions are per server and client).
    pub server: u32,
    /// The chooser for new clients over this transport.
    pub chooser: &'a Chooser,
    /// The client must stick: `method session`, and in DSR also TCP segments and fragments.
    pub sticky: bool,
    /// No target is operational and `set failopen 1` forwards to all of them.
    pub fail_open: bool,
    /// Session timeout, seconds (the server's `stout`).
    pub timeout: u32,
}

/// The target id for a query from `client` at `now`: its session's target if the client must
/// stick and that target may keep it, else the chooser's pick (recorded as the client's
/// session when it must stick). `None`: no target can take it.
pub fn stick_or_pick<S: SessionStore + ?Sized>(
    rule: &Rule<'_>,
    client: IpAddr,
    now: u32,
    may_keep: impl Fn(u32) -> bool,
    sessions: &S,
    pick: &mut Pick,
) -> Option<u32> {
    if rule.sticky {
        if let Some(id) = sessions.lookup(rule.server, client, now) {
            if may_keep(id) || (rule.fail_open && rule.chooser.is_operational(id)) {
                return Some(id);
            }
        }
    }
    let (rr_counter, random) = pick.draw();
    let sessions_of = |id: u32| sessions.recent_count_on(id);
    let id = rule
        .chooser
        .pick(client, rr_counter, random, &sessions_of)?;
    if rule.sticky {
        sessions.insert(rule.server, client, id, now, rule.timeout);
    }
    Some(id)
}

#[cfg(test)]
mod tests;
