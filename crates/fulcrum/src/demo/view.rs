//! The live view: on a terminal, a screen redrawn about once a second; otherwise plain lines,
//! three per second (one per node, one for the clients) and one per event, so a log or a test
//! can follow the run.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use super::clients::ClientStats;
use super::status::NodeStatus;

/// One node in a frame.
pub struct NodeView<'a> {
    pub name: &'a str,
    pub pid: Option<u32>,
    pub status: &'a NodeStatus,
}

/// Everything one refresh shows.
pub struct Frame<'a> {
    pub elapsed: Duration,
    /// The opening lines: the lab, the targets, the plan.
    pub header: &'a [String],
    pub nodes: [NodeView<'a>; 2],
    pub clients: &'a [ClientStats],
    /// The replicated zone's serial as each node's DNS server answers it.
    pub serials: [Option<u32>; 2],
    /// The most recent events, oldest first.
    pub events: &'a [String],
}

/// Where the view goes: redrawn on a terminal, appended otherwise.
pub struct Screen {
    terminal: bool,
}

impl Screen {
    pub fn new() -> Screen {
        Screen {
            terminal: std::io::stdout().is_terminal(),
        }
    }

    /// A line that is not part of the redrawn view (setup steps, events, the summary).
    pub fn say(&self, elapsed: Option<Duration>, line: &str) {
        match elapsed {
            Some(t) => println!("[{:>3}s] {line}", t.as_secs()),
            None => println!("fulcrum demo: {line}"),
        }
        let _ = std::io::stdout().flush();
    }

    /// An event: a plain line, which on a terminal the next redraw shows among the events.
    pub fn event(&self, elapsed: Duration, line: &str) {
        if !self.terminal {
            self.say(Some(elapsed), &format!(">> {line}"));
        }
    }

    pub fn show(&self, frame: &Frame) {
        if self.terminal {
            print!("\x1b[H\x1b[2J{}", screen(frame));
        } else {
            for line in lines(frame) {
                println!("[{:>3}s] {line}", frame.elapsed.as_secs());
            }
        }
        let _ = std::io::stdout().flush();
    }
}

fn state_of(node: &NodeView) -> String {
    if !node.status.running {
        return "DOWN (fulcrum not running)".to_string();
    }
    let v4 = if node.status.holding {
        format!("{} (holds the VIP)", node.status.state)
    } else {
        node.status.state.clone()
    };
    match (node.status.state6.as_str(), node.status.holding6) {
        ("", _) => v4,
        (state6, true) => format!("{v4} | ipv6 {state6} (holds the VIP6)"),
        (state6, false) => format!("{v4} | ipv6 {state6}"),
    }
}

fn sessions_of(status: &NodeStatus) -> String {
    let per = status.sessions_per_target();
    if per.is_empty() {
        return "none".to_string();
    }
    let cells: Vec<String> = per.iter().map(|(t, n)| format!("t{t}:{n}")).collect();
    cells.join(" ")
}

fn sync_of(status: &NodeStatus) -> String {
    let lost = if status.sync_lost > 0 {
        format!(", {} events lost", status.sync_lost)
    } else {
        String::new()
    };
    let role = match status.sync_role.as_str() {
        "" => "-".to_string(),
        "master" => format!("master, sent {}", status.sync_sent),
        role => format!(
            "{role} ({}), applied {}",
            status.sync_state, status.sync_applied
        ),
    };
    role + &lost
}

fn targets_of(status: &NodeStatus) -> String {
    let cells: Vec<String> = status
        .targets
        .iter()
        .map(|t| format!("t{} {}", t.id, if t.up { "up" } else { "DOWN" }))
        .collect();
    cells.join(" ")
}

/// Which node answered each client last: `ns0a: 10.99.1.1 10.99.1.3 | ns0b: 10.99.1.2`.
fn clients_by_node(clients: &[ClientStats]) -> String {
    let mut groups: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for c in clients {
        let node = if c.last_node.is_empty() {
            "none yet"
        } else {
            &c.last_node
        };
        let addr = c.addr.map(|a| a.to_string()).unwrap_or_default();
        groups.entry(node).or_default().push(addr);
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(node, addrs)| format!("{node}: {}", addrs.join(" ")))
        .collect();
    parts.join(" | ")
}

fn serial(s: Option<u32>) -> String {
    s.map_or("-".to_string(), |s| s.to_string())
}

/// The plain lines of one refresh.
pub fn lines(frame: &Frame) -> Vec<String> {
    let mut out = Vec::new();
    for node in &frame.nodes {
        let status = node.status;
        if !status.running {
            out.push(format!("{} {}", node.name, state_of(node)));
            continue;
        }
        out.push(format!(
            "{} {} | targets {} | sessions {} | sync {}",
            node.name,
            state_of(node),
            targets_of(status),
            sessions_of(status),
            sync_of(status)
        ));
    }
    let sent: u64 = frame.clients.iter().map(|c| c.sent).sum();
    let answered: u64 = frame.clients.iter().map(|c| c.answered).sum();
    out.push(format!(
        "clients answered {answered}/{sent} | {} | serial ns0a {} ns0b {}",
        clients_by_node(frame.clients),
        serial(frame.serials[0]),
        serial(frame.serials[1])
    ));
    out
}

/// The terminal screen.
pub fn screen(frame: &Frame) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fulcrum demo - the seed's cluster - {} s - Ctrl-C to stop",
        frame.elapsed.as_secs()
    );
    for line in frame.header {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\n{:<5} {:<7} {:<27} {:<26} {:<12} sync",
        "node", "fulcrum", "vrrp", "sessions per target", "targets"
    );
    for node in &frame.nodes {
        let pid = node.pid.map_or("-".to_string(), |p| p.to_string());
        let _ = writeln!(
            out,
            "{:<5} {pid:<7} {:<27} {:<26} {:<12} {}",
            node.name,
            state_of(node),
            sessions_of(node.status),
            targets_of(node.status),
            sync_of(node.status)
        );
    }
    // The targets' checks as the current master (else any running node) sees them.
    let viewer = frame
        .nodes
        .iter()
        .find(|n| n.status.holding)
        .or_else(|| frame.nodes.iter().find(|n| n.status.running));
    if let Some(viewer) = viewer {
        let _ = writeln!(out, "\ntargets, as {} sees them", viewer.name);
        for t in &viewer.status.targets {
            let checks: Vec<String> = t.checks.iter().map(|(k, s)| format!("{k} {s}")).collect();
            let _ = writeln!(
                out,
                "  {} {:<15} {:<4} forwarded {:>6}  sessions {:>3}  {}",
                t.id,
                t.addr,
                if t.up { "up" } else { "DOWN" },
                t.queries,
                t.sessions,
                checks.join(", ")
            );
        }
    }
    let _ = writeln!(
        out,
        "\nzone balanceng.net serial: ns0a {}  ns0b {}",
        serial(frame.serials[0]),
        serial(frame.serials[1])
    );
    let _ = writeln!(
        out,
        "\n{:<15} {:>6} {:>8} {:<8} node changes",
        "client", "sent", "answered", "node"
    );
    for c in frame.clients {
        let addr = c.addr.map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{addr:<15} {:>6} {:>8} {:<8} {}",
            c.sent, c.answered, c.last_node, c.switches
        );
    }
    if !frame.events.is_empty() {
        let _ = writeln!(out, "\nevents");
        for e in frame.events {
            let _ = writeln!(out, "  {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn client(host: u8, node: &str) -> ClientStats {
        ClientStats {
            addr: Some(IpAddr::V4(Ipv4Addr::new(10, 99, 1, host))),
            sent: 4,
            answered: 4,
            last_node: node.into(),
            switches: 0,
        }
    }

    #[test]
    fn plain_lines_name_each_nodes_state_and_each_clients_node() {
        let master = NodeStatus {
            running: true,
            state: "MASTER".into(),
            holding: true,
            sessions: [("10.99.1.1".to_string(), 1), ("10.99.1.2".to_string(), 2)].into(),
            sync_role: "master".into(),
            sync_sent: 2,
            ..Default::default()
        };
        let down = NodeStatus::default();
        let clients = [client(1, "ns0a"), client(2, "ns0b")];
        let frame = Frame {
            elapsed: Duration::from_secs(7),
            header: &[],
            nodes: [
                NodeView {
                    name: "ns0a",
                    pid: Some(10),
                    status: &master,
                },
                NodeView {
                    name: "ns0b",
                    pid: None,
                    status: &down,
                },
            ],
            clients: &clients,
            serials: [Some(5), None],
            events: &[],
        };
        let text = lines(&frame);
        assert_eq!(
            text,
            [
                "ns0a MASTER (holds the VIP) | targets  | sessions t1:1 t2:1 | sync master, sent 2",
                "ns0b DOWN (fulcrum not running)",
                "clients answered 8/8 | ns0a: 10.99.1.1 | ns0b: 10.99.1.2 | serial ns0a 5 ns0b -",
            ]
        );
        let screen = screen(&frame);
        assert!(
            screen.contains("ns0a  10      MASTER (holds the VIP)"),
            "{screen}"
        );
    }

    #[test]
    fn a_dual_stack_node_shows_both_instances() {
        let status = |state: &str, holding: bool| NodeStatus {
            running: true,
            state: state.into(),
            holding,
            state6: state.into(),
            holding6: holding,
            ..Default::default()
        };
        let (master, backup) = (status("MASTER", true), status("BACKUP", false));
        let view = |status| NodeView {
            name: "ns0a",
            pid: None,
            status,
        };
        assert_eq!(
            state_of(&view(&master)),
            "MASTER (holds the VIP) | ipv6 MASTER (holds the VIP6)"
        );
        assert_eq!(state_of(&view(&backup)), "BACKUP | ipv6 BACKUP");
    }
}
