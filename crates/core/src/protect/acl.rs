//! Client access lists: `allow` and `deny` rules over address prefixes, per server.
//!
//! Contract: an [`Acl`] is built once per snapshot from its rules and is immutable afterwards.
//! [`Acl::admits`] decides a client address by the **most specific** rule that contains it (the
//! longest prefix, as a routing table does), so `deny 192.0.2.0/24` with `allow 192.0.2.7/32`
//! admits only .7 of that /24 whatever the order the operator wrote them in; between an `allow`
//! and a `deny` of the same prefix, `deny` wins. An address no rule contains is admitted (the
//! default is allow all, as BalanceNG's); an empty list admits everyone at the cost of one
//! length check. IPv4-mapped IPv6 addresses are decided as the IPv4 address they carry.
//! Rules are kept per family, sorted by prefix length, longest first: a decision is a linear
//! scan that stops at the first match, which for the tens of rules an operator writes is cheaper
//! than a trie's pointer chasing.

use std::net::IpAddr;

/// An address prefix: the address with the bits past `len` cleared, and `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// `addr/len`, with `len` at most 32 (IPv4) or 128 (IPv6); host bits are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then(|| Prefix {
            addr: mask(addr, len),
            len,
        })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// `0.0.0.0/0` or `::/0`.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` (already canonical) lies in this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && mask(addr, self.len) == self.addr
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address; anything else unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// `addr` with the bits past `len` cleared.
pub fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

/// What a rule does with the addresses it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
}

/// One rule as the operator wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub action: Action,
    pub prefix: Prefix,
}

/// The rules of one server, ready for per-query decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    v4: Vec<Rule>,
    v6: Vec<Rule>,
}

impl Acl {
    pub fn new(rules: &[Rule]) -> Acl {
        let mut acl = Acl::default();
        for rule in rules {
            match rule.prefix.addr {
                IpAddr::V4(_) => acl.v4.push(*rule),
                IpAddr::V6(_) => acl.v6.push(*rule),
            }
        }
        // Longest prefix first; of equal prefixes, deny first.
        let order = |r: &Rule| (std::cmp::Reverse(r.prefix.len), r.action == Action::Allow);
        acl.v4.sort_by_key(order);
        acl.v6.sort_by_key(order);
        acl
    }

    /// No rules: everyone is admitted.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `client` may use the server: the most specific rule containing it decides;
    /// none does: admitted.
    pub fn admits(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        let rules = if client.is_ipv4() { &self.v4 } else { &self.v6 };
        rules
            .iter()
            .find(|rule| rule.prefix.contains(client))
            .is_none_or(|rule| rule.action == Action::Allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(action: Action, text: &str) -> Rule {
        let (addr, len) = text.split_once('/').unwrap();
        Rule {
            action,
            prefix: Prefix::new(addr.parse().unwrap(), len.parse().unwrap()).unwrap(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_most_specific_rule_decides_whatever_the_order() {
        let rules = [
            rule(Action::Allow, "192.0.2.7/32"),
            rule(Action::Deny, "192.0.2.0/24"),
            rule(Action::Deny, "2001:db8::/32"),
            rule(Action::Allow, "2001:db8:1::/48"),
        ];
        for ordering in [rules.to_vec(), rules.iter().rev().copied().collect()] {
            let acl = Acl::new(&ordering);
            let cases = [
                ("192.0.2.7", true),
                ("192.0.2.8", false),
                ("198.51.100.1", true),
                ("::ffff:192.0.2.8", false),
                ("::ffff:192.0.2.7", true),
                ("2001:db8::1", false),
                ("2001:db8:1::53", true),
                ("2001:db9::1", true),
            ];
            for (client, admitted) in cases {
                assert_eq!(acl.admits(ip(client)), admitted, "{client}");
            }
        }
    }

    #[test]
    fn deny_beats_allow_of_the_same_prefix_and_a_default_route_covers_all() {
        let acl = Acl::new(&[
            rule(Action::Allow, "10.0.0.0/8"),
            rule(Action::Deny, "10.0.0.0/8"),
        ]);
        assert!(!acl.admits(ip("10.1.2.3")));
        let closed = Acl::new(&[
            rule(Action::Deny, "0.0.0.0/0"),
            rule(Action::Deny, "::/0"),
            rule(Action::Allow, "127.0.0.0/8"),
        ]);
        assert!(closed.admits(ip("127.0.0.1")));
        assert!(!closed.admits(ip("192.0.2.1")));
        assert!(!closed.admits(ip("::1")));
        assert!(Acl::new(&[]).admits(ip("192.0.2.1")));
    }

    #[test]
    fn prefixes_clear_host_bits_and_refuse_impossible_lengths() {
        let p = Prefix::new(ip("192.0.2.77"), 24).unwrap();
        assert_eq!(p.to_string(), "192.0.2.0/24");
        assert_eq!(
            Prefix::new(ip("::ffff:192.0.2.77"), 32).unwrap().addr(),
            ip("192.0.2.77")
        );
        assert!(Prefix::new(ip("192.0.2.1"), 33).is_none());
        assert!(Prefix::new(ip("::1"), 129).is_none());
        assert_eq!(mask(ip("2001:db8::1"), 0), ip("::"));
        assert_eq!(mask(ip("255.255.255.255"), 0), ip("0.0.0.0"));
    }

    proptest! {
        /// Against a reference: the decision of the longest containing prefix, deny on ties.
        #[test]
        fn matches_the_longest_prefix_reference(
            rules in proptest::collection::vec((any::<bool>(), any::<u32>(), 0u8..=32), 0..12),
            client in any::<u32>(),
        ) {
            let rules: Vec<Rule> = rules
                .into_iter()
                .map(|(allow, addr, len)| Rule {
                    action: if allow { Action::Allow } else { Action::Deny },
                    prefix: Prefix::new(IpAddr::V4(addr.into()), len).unwrap(),
                })
                .collect();
            let client = IpAddr::V4(client.into());
            let best = rules
                .iter()
                .filter(|r| r.prefix.contains(client))
                .map(|r| r.prefix.prefix_len())
                .max();
            let expected = match best {
                None => true,
                Some(len) => rules
                    .iter()
                    .filter(|r| r.prefix.contains(client) && r.prefix.prefix_len() == len)
                    .all(|r| r.action == Action::Allow),
            };
            prop_assert_eq!(Acl::new(&rules).admits(client), expected);
        }
    }
}
