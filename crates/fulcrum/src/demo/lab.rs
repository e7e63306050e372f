//! The demo's network: the seed's lab from `netlab` (switch, `ns0a`, `ns0b`, router, client;
//! see docs/netlab.md), its hosts exactly as the seed has them: `eth1` up with no address, the
//! network's `real` address (.45, .46) existing only in Fulcrum, which sends VRRP adverts, ARP
//! for target MACs and session sync from it on `eth1` itself. Dual-stack (`--ipv6`), the lab
//! gains `netlab::seed6`'s unique-local addresses and each configuration the IPv6 network, a
//! `real6` ending like its `real`, and server 2 on the IPv6 VIP over both nodes' IPv6 addresses,
//! as the dual-stack cluster test has them. Dropping the [`DemoLab`] kills what runs in it and
//! deletes its namespaces.

use std::net::{Ipv4Addr, Ipv6Addr};

use netlab::seed::{seed_topology, SeedLab, NS0A_ADDR, NS0B_ADDR};
use netlab::seed6::{NS0A_ADDR6, NS0B_ADDR6, VIP6};
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
    /// Its eth0 IPv6 address, in a dual-stack lab.
    pub addr6: Option<Ipv6Addr>,
    /// Its configuration file's text.
    pub config: String,
}

pub struct DemoLab {
    pub seed: SeedLab,
    pub nodes: [NodeSpec; 2],
    // Last: dropped after everything that refers to it.
    lab: Lab,
}

impl DemoLab {
    /// The seed's lab; dual-stack when `ipv6`.
    pub fn build(tag: &str, ipv6: bool) -> anyhow::Result<DemoLab> {
        let lab = Lab::new(tag);
        let seed = seed_topology(&lab)?;
        if ipv6 {
            seed.add_ipv6()?;
        }
        let node = |name, ns: &Ns, addr, addr6, config: &str, real6: u16| NodeSpec {
            name,
            ns: ns.clone(),
            addr,
            addr6: ipv6.then_some(addr6),
            config: if ipv6 {
                dual_stack_config(config, real6)
            } else {
                config.to_string()
            },
        };
        let nodes = [
            node("ns0a", &seed.ns0a, NS0A_ADDR, NS0A_ADDR6, NS0A_CONF, 0x45),
            node("ns0b", &seed.ns0b, NS0B_ADDR, NS0B_ADDR6, NS0B_CONF, 0x46),
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

/// A node's seed configuration made dual-stack: after its `real`, the network's IPv6 prefix and
/// `real6` (`::45` or `::46`, ending as `real` does); at its end, server 2 on the IPv6 VIP with
/// targets 3 and 4 (both nodes' IPv6 addresses, DSR, `method session`, checks of their own).
fn dual_stack_config(seed: &str, real6_host: u16) -> String {
    let real = format!("real 10.235.210.{real6_host:x}\n");
    let real6 = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, real6_host);
    seed.replace(
        &real,
        &format!("{real}addr6 fd00:10:235:210::\nmask6 64\nreal6 {real6}\n"),
    )
    .replace(
        "// end of configuration",
        &format!(
            "server 2 {{\nipaddr {VIP6}\nport 53\nmethod session\ntargets 3,4\n}}\n\
             register server 2\nenable server 2\n\
             target 3 {{\nipaddr {NS0A_ADDR6}\nport 53\nping 2,4\ntcpopen 53,2,4\ndsr enable\n}}\n\
             target 4 {{\nipaddr {NS0B_ADDR6}\nport 53\nping 2,4\ntcpopen 53,2,4\ndsr enable\n}}\n\
             register targets 3,4\nenable targets 3,4\n// end of configuration"
        ),
    )
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

    #[test]
    fn the_dual_stack_configuration_adds_the_ipv6_network_and_server_2() {
        let text = dual_stack_config(NS0B_CONF, 0x46);
        assert!(
            text.contains("real 10.235.210.46\naddr6 fd00:10:235:210::\nmask6 64\nreal6 fd00:10:235:210::46\n"),
            "{text}"
        );
        assert!(
            text.contains("server 2 {\nipaddr fd00:10:235:210::1\n"),
            "{text}"
        );
        assert!(
            text.contains("target 4 {\nipaddr fd00:10:235:210::44\n"),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with("// end of configuration"),
            "{text}"
        );
    }
}
