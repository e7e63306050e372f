//! `set failopen 1`: when no target of a server may take a client, forward to all of them
//! rather than drop everything.
//!
//! Contract: [`fail_open`] is applied to a server's candidates before its [`Chooser`] is
//! built. It changes nothing while any candidate is eligible; otherwise it marks operational
//! every candidate with a weight above zero that `usable` accepts (the caller's test for what
//! the configuration allows: registered, enabled, serving the protocol, reachable; health is
//! what fail-open ignores), so the server's own method spreads new clients over them.
//!
//! [`Chooser`]: super::Chooser

use super::Candidate;

/// Marks the usable candidates operational when none is eligible; true if it did.
pub fn fail_open(candidates: &mut [Candidate], usable: impl Fn(u32) -> bool) -> bool {
    if candidates.iter().any(Candidate::eligible) {
        return false;
    }
    let mut opened = false;
    for candidate in candidates.iter_mut() {
        if candidate.weight > 0 && usable(candidate.id) {
            candidate.operational = true;
            opened = true;
        }
    }
    opened
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::Chooser;
    use super::*;
    use crate::model::Method;

    fn candidate(id: u32, weight: u32, operational: bool) -> Candidate {
        Candidate {
            id,
            weight,
            operational,
            agent_value: None,
        }
    }

    #[test]
    fn nothing_changes_while_a_candidate_is_eligible() {
        let mut candidates = [candidate(1, 1, false), candidate(2, 1, true)];
        assert!(!fail_open(&mut candidates, |_| true));
        assert!(!candidates[0].operational);
    }

    #[test]
    fn with_every_candidate_down_the_usable_ones_take_clients() {
        // 3 is disabled (not usable), 4 has weight 0: neither takes clients even failing open.
        let mut candidates = [
            candidate(1, 1, false),
            candidate(2, 1, false),
            candidate(3, 1, false),
            candidate(4, 0, false),
        ];
        let closed = Chooser::new(Method::Rr, candidates.to_vec());
        assert_eq!(
            closed.pick(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, &|_| 0),
            None
        );
        assert!(fail_open(&mut candidates, |id| id != 3));
        let open = Chooser::new(Method::Rr, candidates.to_vec());
        let picked: BTreeSet<u32> = (0..8)
            .filter_map(|turn| open.pick(IpAddr::V4(Ipv4Addr::LOCALHOST), turn, 0, &|_| 0))
            .collect();
        assert_eq!(picked, BTreeSet::from([1, 2]));
    }

    #[test]
    fn nothing_usable_stays_closed() {
        let mut candidates = [candidate(1, 1, false)];
        assert!(!fail_open(&mut candidates, |_| false));
        assert!(!fail_open(&mut [], |_| true));
    }
}
