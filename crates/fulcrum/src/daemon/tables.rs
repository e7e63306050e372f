//! The tables `show servers`, `show targets` and `show networks` print: a header, a rule of
//! dashes (the seed's `show sessions` style), one row per object in id order.
//!
//! State columns: `reg` (registered), `ena` (enabled) and `op` (operational). For now an object is
//! operational when it is registered and enabled; the health-check driver will add its verdict
//! to the target column through [`Operational`].

use fulcrum_core::model::{Config, InterfaceRef, Protocol};
use fulcrum_core::stats::Counters;

use super::planes::Planes;

/// Where the `op` column's verdict comes from (the health checks, [`crate::health::Health`]).
pub trait Operational {
    fn target_up(&self, target: u32) -> bool;

    /// Lines printed under a target's row, one per health check (none by default).
    fn check_lines(&self, _target: u32) -> Vec<String> {
        Vec::new()
    }
}

impl Operational for crate::health::Health {
    fn target_up(&self, target: u32) -> bool {
        self.is_operational(target)
    }

    fn check_lines(&self, target: u32) -> Vec<String> {
        crate::health::Health::check_lines(self, target, std::time::Instant::now())
    }
}

/// No health information: every target counts as up (the tables' own tests).
#[cfg_attr(not(test), allow(dead_code))]
pub struct NoHealth;

impl Operational for NoHealth {
    fn target_up(&self, _target: u32) -> bool {
        true
    }
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "udp",
        Protocol::Tcp => "tcp",
        Protocol::Any => "any",
    }
}

fn id_list(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    ids.join(",")
}

fn counters_cells(c: &Counters) -> String {
    format!(
        "{:>9} {:>9} {:>8} {:>6} {:>8}",
        c.queries,
        c.responses,
        c.timeouts,
        c.total_drops(),
        c.sessions
    )
}

const COUNTER_HEADER: &str = "  queries responses timeouts  drops sessions";
const COUNTER_RULE: &str = "--------- --------- -------- ------ --------";

/// Cells are padded to fixed widths; the last one must not leave spaces at the line's end.
fn trim_lines(text: String) -> String {
    text.lines()
        .map(|line| line.trim_end().to_string() + "\n")
        .collect()
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

pub fn show_servers(config: &Config, planes: &Planes) -> String {
    let mut out = plural(config.servers.len(), "server") + "\n";
    out.push_str(&format!(
        "srv ip-address      port  proto method  targets    reg ena op  {COUNTER_HEADER}\n"
    ));
    out.push_str(&format!(
        "--- --------------- ----- ----- ------- ---------- --- --- --- {COUNTER_RULE}\n"
    ));
    for server in config.servers.values() {
        out.push_str(&format!(
            "{:<3} {:<15} {:<5} {:<5} {:<7} {:<10} {:<3} {:<3} {:<3} {}\n",
            server.id,
            server.ipaddr,
            server.port,
            protocol(server.protocol),
            server.method.keyword(),
            id_list(&server.targets),
            yes_no(server.registered),
            yes_no(server.enabled),
            yes_no(server.registered && server.enabled),
            counters_cells(&planes.server_counters(server.id)),
        ));
    }
    trim_lines(out)
}

pub fn show_targets(config: &Config, planes: &Planes, health: &dyn Operational) -> String {
    let mut out = plural(config.targets.len(), "target") + "\n";
    out.push_str(&format!(
        "tgt ip-address      port  proto weight dsr reg ena op  {COUNTER_HEADER}\n"
    ));
    out.push_str(&format!(
        "--- --------------- ----- ----- ------ --- --- --- --- {COUNTER_RULE}\n"
    ));
    for target in config.targets.values() {
        let port = target
            .port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        let up = target.registered && target.enabled && health.target_up(target.id);
        out.push_str(&format!(
            "{:<3} {:<15} {:<5} {:<5} {:>6} {:<3} {:<3} {:<3} {:<3} {}\n",
            target.id,
            target.ipaddr,
            port,
            protocol(target.protocol),
            target.weight,
            yes_no(target.dsr),
            yes_no(target.registered),
            yes_no(target.enabled),
            yes_no(up),
            counters_cells(&planes.target_counters(target.id)),
        ));
        for line in health.check_lines(target.id) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    trim_lines(out)
}

pub fn show_networks(config: &Config) -> String {
    let mut out = plural(config.networks.len(), "network") + "\n";
    out.push_str(
        "net name                 addr/mask                        real            virt            interface reg ena op\n",
    );
    out.push_str(
        "--- -------------------- -------------------------------- --------------- --------------- --------- --- --- ---\n",
    );
    let dash = || "-".to_string();
    for network in config.networks.values() {
        let addr = match (network.addr, network.mask) {
            (Some(a), Some(m)) => format!("{a}/{m}"),
            (Some(a), None) => a.to_string(),
            _ => dash(),
        };
        let interface = match &network.interface {
            Some(InterfaceRef::Id(id)) => id.to_string(),
            Some(InterfaceRef::Name(name)) => name.clone(),
            None => dash(),
        };
        out.push_str(&format!(
            "{:<3} {:<20} {:<32} {:<15} {:<15} {:<9} {:<3} {:<3} {:<3}\n",
            network.id,
            network.name.clone().unwrap_or_else(dash),
            addr,
            network.real.map(|a| a.to_string()).unwrap_or_else(dash),
            network.virt.map(|a| a.to_string()).unwrap_or_else(dash),
            interface,
            yes_no(network.registered),
            yes_no(network.enabled),
            yes_no(network.registered && network.enabled),
        ));
    }
    trim_lines(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;
    use fulcrum_core::model::{Network, Server, Target};
    use std::sync::Arc;

    fn planes() -> Planes {
        Planes::new(Arc::new(Proxy::new()))
    }

    /// The seed's NS0A shape, built by hand so these tests do not depend on the parser.
    fn seed_like() -> Config {
        let mut config = Config::default();
        let mut server = Server::new(1, "10.235.210.1".parse().unwrap());
        server.targets = vec![1, 2];
        server.registered = true;
        server.enabled = true;
        config.servers.insert(1, server);
        for (id, addr, enabled) in [(1, "10.235.210.43", true), (2, "10.235.210.44", false)] {
            let mut target = Target::new(id, addr.parse().unwrap());
            target.port = Some(53);
            target.dsr = true;
            target.registered = true;
            target.enabled = enabled;
            config.targets.insert(id, target);
        }
        let mut network = Network::new(1);
        network.name = Some("local network".into());
        network.addr = Some("10.235.210.0".parse().unwrap());
        network.mask = Some("255.255.255.0".parse().unwrap());
        network.real = Some("10.235.210.45".parse().unwrap());
        network.interface = Some(InterfaceRef::Name("eth1".into()));
        network.registered = true;
        config.networks.insert(1, network);
        config
    }

    #[test]
    fn servers_table() {
        let text = show_servers(&seed_like(), &planes());
        assert_eq!(
            text,
            "\
1 server
srv ip-address      port  proto method  targets    reg ena op    queries responses timeouts  drops sessions
--- --------------- ----- ----- ------- ---------- --- --- --- --------- --------- -------- ------ --------
1   10.235.210.1    53    any   session 1,2        yes yes yes         0         0        0      0        0
"
        );
    }

    #[test]
    fn targets_table() {
        let text = show_targets(&seed_like(), &planes(), &NoHealth);
        assert_eq!(
            text,
            "\
2 targets
tgt ip-address      port  proto weight dsr reg ena op    queries responses timeouts  drops sessions
--- --------------- ----- ----- ------ --- --- --- --- --------- --------- -------- ------ --------
1   10.235.210.43   53    any        1 yes yes yes yes         0         0        0      0        0
2   10.235.210.44   53    any        1 yes yes no  no          0         0        0      0        0
"
        );
    }

    #[test]
    fn health_verdict_reaches_the_op_column() {
        struct Down;
        impl Operational for Down {
            fn target_up(&self, _: u32) -> bool {
                false
            }
        }
        let text = show_targets(&seed_like(), &planes(), &Down);
        assert!(
            text.contains("1   10.235.210.43   53    any        1 yes yes yes no "),
            "{text}"
        );
    }

    #[test]
    fn networks_table() {
        let text = show_networks(&seed_like());
        assert_eq!(
            text,
            "\
1 network
net name                 addr/mask                        real            virt            interface reg ena op
--- -------------------- -------------------------------- --------------- --------------- --------- --- --- ---
1   local network        10.235.210.0/255.255.255.0       10.235.210.45   -               eth1      yes no  no
"
        );
    }
}
