//! The demo's network: the seed's lab from `netlab` (switch, `ns0a`, `ns0b`, router, client;
//! see docs/netlab.md), its hosts exactly as the seed has them: `eth1` up with no address, the
//! network's `real` address (.45, .46) existing only in Fulcrum, which sends VRRP adverts, ARP
//! for target MACs and session sync from it on `eth1` itself. Dropping the [`DemoLab`] kills
//! what runs in it and deletes its namespaces.

use std::net::Ipv4Addr;

use netlab::seed::{seed_topology, SeedLab, NS0A_ADDR, NS0B_ADDR};
use netlab::{Lab, Ns};

/// The seed's configurations, unchanged: the lab's Fulcrum interface is `eth1` like the seed's.
const NS0A_CONF: &str = include_str!("../../../../tests/fixtures/ns0a.conf");
const NS0B_CONF: &str = include_str!("../../../../tests/fixtures/ns0b.conf");

/// One of the two DNS nodes.
#[derive(Clone)]
pub struct NodeSpec {
    /// `ns0a` or `ns0b`.
    pub name: &'static str,
    pub ns: Ns,
    /// Its eth0 address: where its Bind9 answers and the target address in the configuration.
    pub addr: Ipv4Addr,
    /// Its configuration file's text.
    pub config: &'static str,
}

pub struct DemoLab {
    pub seed: SeedLab,
    pub nodes: [NodeSpec; 2],
    // Last: dropped after everything that refers to it.
    lab: Lab,
}

impl DemoLab {
    pub fn build(tag: &str) -> anyhow::Result<DemoLab> {
        let lab = Lab::new(tag);
        let seed = seed_topology(&lab)?;
        let node = |name, ns: &Ns, addr, config| NodeSpec {
            name,
            ns: ns.clone(),
            addr,
            config,
        };
        let nodes = [
            node("ns0a", &seed.ns0a, NS0A_ADDR, NS0A_CONF),
            node("ns0b", &seed.ns0b, NS0B_ADDR, NS0B_CONF),
        ];
        Ok(DemoLab { seed, nodes, lab })
    }

    /// The namespaces' common prefix and their short names, for the opening lines.
    pub fn describe(&self) -> String {
        let short: Vec<String> = self
            .lab
            .namespaces()
            .iter()
            .map(|n| n.trim_start_matches(self.lab.prefix()).to_string())
            .collect();
        format!("{}{{{}}}", self.lab.prefix(), short.join(","))
    }

    /// Full names of the lab's namespaces.
    pub fn namespaces(&self) -> Vec<String> {
        self.lab.namespaces()
    }
}

/// The start of the namespace names the inner demo with PID `pid` creates.
pub fn namespace_prefix_of(tag: &str, pid: u32) -> String {
    Lab::process_prefix(tag, pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_configurations_are_used_unchanged_and_name_eth1() {
        for (text, real) in [
            (NS0A_CONF, "real 10.235.210.45"),
            (NS0B_CONF, "real 10.235.210.46"),
        ] {
            assert!(text.contains(real), "{text}");
            assert!(text.contains("interface eth1"), "{text}");
            assert!(text.contains("vrid 7\npriority 200"), "{text}");
            assert!(text.contains("agent 439,5,13"), "{text}");
        }
    }
}
