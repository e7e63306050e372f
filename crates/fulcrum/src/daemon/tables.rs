//! The tables `show servers`, `show targets` and `show networks` print: a header, a rule of
//! dashes (the seed's `show sessions` style), one row per object in id order.
//!
//! Each table is built in two steps: the typed rows of [`fulcrum_control::show`] (what the JSON
//! format answers as is), then the text rendered from those rows alone, so the two forms cannot
//! disagree. State columns: `reg` (registered), `ena` (enabled) and `op` (operational: registered,
//! enabled and, for targets, the health checks' verdict through [`Operational`]).

use std::time::Instant;

use fulcrum_control::show::{CheckRow, NetworkRow, RowCounters, ServerRow, TargetRow};
use fulcrum_core::health::CheckStatus;
use fulcrum_core::model::{Config, InterfaceRef, Protocol};
use fulcrum_core::stats::Counters;

use super::planes::Planes;

/// Where the `op` column's verdict comes from (the health checks, [`crate::health::Health`]).
pub trait Operational {
    fn target_up(&self, target: u32) -> bool;

    /// The target's health checks, in the order they are printed (none by default).
    fn checks(&self, _target: u32) -> Vec<CheckStatus> {
        Vec::new()
    }
}

impl Operational for crate::health::Health {
    fn target_up(&self, target: u32) -> bool {
        self.is_operational(target)
    }

    fn checks(&self, target: u32) -> Vec<CheckStatus> {
        crate::health::Health::checks(self, target)
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

fn row_counters(c: &Counters) -> RowCounters {
    RowCounters {
        queries: c.queries,
        responses: c.responses,
        timeouts: c.timeouts,
        drops: c.total_drops(),
        sessions: c.sessions,
    }
}

fn counters_cells(c: &RowCounters) -> String {
    format!(
        "{:>9} {:>9} {:>8} {:>6} {:>8}",
        c.queries, c.responses, c.timeouts, c.drops, c.sessions
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

/// `show servers` as typed rows.
pub fn server_rows(config: &Config, planes: &Planes) -> Vec<ServerRow> {
    config
        .servers
        .values()
        .map(|server| ServerRow {
            id: server.id,
            address: server.ipaddr.to_string(),
            port: server.port,
            protocol: protocol(server.protocol).to_string(),
            method: server.method.keyword().to_string(),
            targets: server.targets.clone(),
            registered: server.registered,
            enabled: server.enabled,
            operational: server.registered && server.enabled,
            counters: row_counters(&planes.server_counters(server.id)),
        })
        .collect()
}

pub fn show_servers(config: &Config, planes: &Planes) -> String {
    render_servers(&server_rows(config, planes))
}

fn render_servers(rows: &[ServerRow]) -> String {
    let mut out = plural(rows.len(), "server") + "\n";
    out.push_str(&format!(
        "srv ip-address      port  proto method  targets    reg ena op  {COUNTER_HEADER}\n"
    ));
    out.push_str(&format!(
        "--- --------------- ----- ----- ------- ---------- --- --- --- {COUNTER_RULE}\n"
    ));
    for server in rows {
        out.push_str(&format!(
            "{:<3} {:<15} {:<5} {:<5} {:<7} {:<10} {:<3} {:<3} {:<3} {}\n",
            server.id,
            server.address,
            server.port,
            server.protocol,
            server.method,
            id_list(&server.targets),
            yes_no(server.registered),
            yes_no(server.enabled),
            yes_no(server.operational),
            counters_cells(&server.counters),
        ));
    }
    trim_lines(out)
}

/// One health check as a typed row, its ages taken at `now`.
pub fn check_row(check: &CheckStatus, now: Instant) -> CheckRow {
    let last = check.last_result.as_ref();
    CheckRow {
        check: check.spec.describe(),
        kind: check.spec.kind().keyword().to_string(),
        state: check.state.keyword().to_string(),
        state_age_s: now.saturating_duration_since(check.since).as_secs(),
        last_ok: last.map(|l| l.ok),
        last_detail: last.map(|l| l.detail.clone()),
        last_age_s: last.map(|l| now.saturating_duration_since(l.at).as_secs()),
        rtt_ms: check.last_rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
        failures: check.failures,
        consecutive_failures: check.consecutive_failures,
        agent_value: check.agent_value,
    }
}

/// `show targets` as typed rows (the checks with their ages at `now`), with the text lines
/// printed under each row (the checks as [`CheckStatus::describe`] words them).
fn target_rows_and_lines(
    config: &Config,
    planes: &Planes,
    health: &dyn Operational,
    now: Instant,
) -> Vec<(TargetRow, Vec<String>)> {
    config
        .targets
        .values()
        .map(|target| {
            let checks = health.checks(target.id);
            let row = TargetRow {
                id: target.id,
                address: target.ipaddr.to_string(),
                port: target.port,
                protocol: protocol(target.protocol).to_string(),
                weight: target.weight,
                dsr: target.dsr,
                registered: target.registered,
                enabled: target.enabled,
                operational: target.registered && target.enabled && health.target_up(target.id),
                counters: row_counters(&planes.target_counters(target.id)),
                checks: checks.iter().map(|c| check_row(c, now)).collect(),
            };
            (row, checks.iter().map(|c| c.describe(now)).collect())
        })
        .collect()
}

/// `show targets` as typed rows.
pub fn target_rows(config: &Config, planes: &Planes, health: &dyn Operational) -> Vec<TargetRow> {
    target_rows_and_lines(config, planes, health, Instant::now())
        .into_iter()
        .map(|(row, _)| row)
        .collect()
}

pub fn show_targets(config: &Config, planes: &Planes, health: &dyn Operational) -> String {
    let rows = target_rows_and_lines(config, planes, health, Instant::now());
    let mut out = plural(rows.len(), "target") + "\n";
    out.push_str(&format!(
        "tgt ip-address      port  proto weight dsr reg ena op  {COUNTER_HEADER}\n"
    ));
    out.push_str(&format!(
        "--- --------------- ----- ----- ------ --- --- --- --- {COUNTER_RULE}\n"
    ));
    for (target, check_lines) in &rows {
        let port = target
            .port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<3} {:<15} {:<5} {:<5} {:>6} {:<3} {:<3} {:<3} {:<3} {}\n",
            target.id,
            target.address,
            port,
            target.protocol,
            target.weight,
            yes_no(target.dsr),
            yes_no(target.registered),
            yes_no(target.enabled),
            yes_no(target.operational),
            counters_cells(&target.counters),
        ));
        for line in check_lines {
            out.push_str(&format!("    {line}\n"));
        }
    }
    trim_lines(out)
}

/// `show networks` as typed rows.
pub fn network_rows(config: &Config) -> Vec<NetworkRow> {
    config
        .networks
        .values()
        .map(|network| NetworkRow {
            id: network.id,
            name: network.name.clone(),
            address: network.addr.map(|a| a.to_string()),
            mask: network.mask.map(|m| m.to_string()),
            real: network.real.map(|a| a.to_string()),
            virt: network.virt.map(|a| a.to_string()),
            interface: network.interface.as_ref().map(|i| match i {
                InterfaceRef::Id(id) => id.to_string(),
                InterfaceRef::Name(name) => name.clone(),
            }),
            registered: network.registered,
            enabled: network.enabled,
            operational: network.registered && network.enabled,
        })
        .collect()
}

pub fn show_networks(config: &Config) -> String {
    let rows = network_rows(config);
    let mut out = plural(rows.len(), "network") + "\n";
    out.push_str(
        "net name                 addr/mask                        real            virt            interface reg ena op\n",
    );
    out.push_str(
        "--- -------------------- -------------------------------- --------------- --------------- --------- --- --- ---\n",
    );
    let cell = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_string());
    for network in &rows {
        let addr = match (&network.address, &network.mask) {
            (Some(a), Some(m)) => format!("{a}/{m}"),
            (Some(a), None) => a.clone(),
            _ => "-".to_string(),
        };
        out.push_str(&format!(
            "{:<3} {:<20} {:<32} {:<15} {:<15} {:<9} {:<3} {:<3} {:<3}\n",
            network.id,
            cell(&network.name),
            addr,
            cell(&network.real),
            cell(&network.virt),
            cell(&network.interface),
            yes_no(network.registered),
            yes_no(network.enabled),
            yes_no(network.operational),
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
