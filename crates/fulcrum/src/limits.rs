//! File descriptors: the daemon raises its soft `RLIMIT_NOFILE` to the hard limit at start
//! (systemd gives a service 1024 soft, far less than its hard limit), and sizes what clients
//! can make it open from what is left after a reserve for everything else.
//!
//! Contract: [`raise`] sets soft = hard (at most [`CEILING`]) and says what it found and did;
//! it never lowers the limit and a refusal leaves it as it was. [`tcp_budget`] is how many TCP
//! client connections (two descriptors each: the client's and the one to the target) fit in a
//! soft limit once [`reserve`] descriptors are kept for the listeners and UDP sockets, the
//! health probes, VRRP, session sync, the DSR rings, netlink, logs and the control socket.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Never ask for more than this many descriptors, whatever the hard limit (an "unlimited" hard
/// limit is refused by the kernel above `fs.nr_open`, 1 Mi by default).
pub const CEILING: u64 = 1 << 20;

/// What [`raise`] found and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptors {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now.
    pub soft: u64,
    pub hard: u64,
}

/// The current limits, unchanged.
pub fn current() -> Descriptors {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    Descriptors {
        was: soft,
        soft,
        hard,
    }
}

/// Raises the soft limit to the hard one (at most [`CEILING`]).
pub fn raise() -> Descriptors {
    let now = current();
    let wanted = now.hard.min(CEILING);
    if wanted <= now.soft {
        return now;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, wanted, now.hard) {
        Ok(()) => Descriptors {
            soft: wanted,
            ..now
        },
        Err(e) => {
            tracing::warn!(
                "cannot raise the file-descriptor limit from {} to {wanted}: {e}",
                now.soft
            );
            now
        }
    }
}

/// Descriptors kept for everything but TCP client connections.
pub fn reserve(soft: u64) -> u64 {
    (soft / 8).max(256)
}

/// TCP client connections that fit in `soft` descriptors after the [`reserve`].
pub fn tcp_budget(soft: u64) -> u64 {
    (soft.saturating_sub(reserve(soft)) / 2).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_the_reserve_free_at_a_full_tcp_cap() {
        // systemd's default soft limit: the default cap of 1000 would need 2000.
        assert_eq!(tcp_budget(1024), 384);
        assert_eq!(2 * tcp_budget(1024) + reserve(1024), 1024);
        assert!(tcp_budget(524_288) > 1000);
        assert_eq!(tcp_budget(100), 1);
        for soft in [256, 1024, 4096, 65_536, CEILING] {
            assert!(
                2 * tcp_budget(soft) + reserve(soft) <= soft.max(258),
                "{soft}"
            );
        }
    }

    #[test]
    fn raising_never_lowers_and_reaches_the_hard_limit() {
        let before = current();
        let after = raise();
        assert!(after.soft >= before.soft);
        assert_eq!(after.soft, before.hard.min(CEILING).max(before.soft));
        assert_eq!(current().soft, after.soft);
    }
}
