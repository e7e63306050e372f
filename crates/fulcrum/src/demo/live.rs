//! The live part of the demo: once a second, read both nodes and the clients and show them;
//! carry out the timeline (a new zone serial at 3 s with Bind9, the master's SIGKILL at
//! `--kill-master-at`, its restart `--rejoin-after` later); note the events (state changes, the
//! takeover with its delay, a client changing node, the secondary's new serial); and sum it up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::clients::{ClientStats, Clients, SerialProbe};
use super::node::Node;
use super::status::NodeStatus;
use super::targets::Targets;
use super::view::{Frame, NodeView, Screen};
use super::Options;

/// When ns0a's zone gets a new serial (Bind9 only), to show NOTIFY and the transfer.
const BUMP_SERIAL_AT: Duration = Duration::from_secs(3);
/// How many events the terminal view keeps.
const EVENTS_SHOWN: usize = 8;
const REFRESH: Duration = Duration::from_secs(1);
/// How often the loop looks at the clock (and, during a failover, at the survivor's state).
const TURN: Duration = Duration::from_millis(50);

/// What happened to the master.
#[derive(Default)]
struct Failover {
    /// (node index, when).
    killed: Option<(usize, Duration)>,
    /// (node index, when, each client's answers so far).
    took_over: Option<(usize, Duration, Vec<u64>)>,
    restarted: Option<Duration>,
    rejoined: Option<Duration>,
}

pub struct Live<'a> {
    options: &'a Options,
    screen: &'a Screen,
    header: &'a [String],
    start: Instant,
    events: Vec<String>,
    failover: Failover,
    previous: [NodeStatus; 2],
    previous_clients: Vec<ClientStats>,
    previous_serials: [Option<u32>; 2],
    bumped: bool,
}

impl<'a> Live<'a> {
    pub fn new(options: &'a Options, screen: &'a Screen, header: &'a [String]) -> Live<'a> {
        Live {
            options,
            screen,
            header,
            start: Instant::now(),
            events: Vec::new(),
            failover: Failover::default(),
            previous: Default::default(),
            previous_clients: Vec::new(),
            previous_serials: [None, None],
            bumped: false,
        }
    }

    /// Runs until `--duration` or a signal.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        nodes: &mut [Node; 2],
        targets: &mut Targets,
        clients: &Clients,
        probe: &mut SerialProbe,
    ) -> anyhow::Result<()> {
        self.start = Instant::now();
        self.previous = [nodes[0].status(), nodes[1].status()];
        let mut next_refresh = self.start;
        loop {
            let t = self.start.elapsed();
            if stop.load(Ordering::Relaxed) || self.options.duration.is_some_and(|d| t >= d) {
                return Ok(());
            }
            self.timeline(t, nodes, targets)?;
            self.watch_takeover(nodes, clients);
            if Instant::now() >= next_refresh {
                next_refresh += REFRESH;
                self.refresh(nodes, clients, probe);
            }
            std::thread::sleep(TURN);
        }
    }

    fn note(&mut self, line: String) {
        let t = self.start.elapsed();
        self.screen.event(t, &line);
        self.events.push(format!("{:>3} s  {line}", t.as_secs()));
        if self.events.len() > EVENTS_SHOWN {
            self.events.remove(0);
        }
    }

    fn timeline(
        &mut self,
        t: Duration,
        nodes: &mut [Node; 2],
        targets: &mut Targets,
    ) -> anyhow::Result<()> {
        if !self.bumped && t >= BUMP_SERIAL_AT {
            self.bumped = true;
            if let Some(serial) = targets.bump_serial()? {
                self.note(format!(
                    "ns0a's zone has serial {serial} now; NOTIFY to ns0b"
                ));
            }
        }
        let kill_due = self.options.kill_at.is_some_and(|at| t >= at);
        if self.failover.killed.is_none() && kill_due {
            let master = self.previous.iter().position(|s| s.state == "MASTER");
            if let Some(index) = master {
                if let Some(pid) = nodes[index].kill_fulcrum() {
                    self.failover.killed = Some((index, t));
                    self.note(format!(
                        "SIGKILL {}'s fulcrum (pid {pid}), the MASTER",
                        nodes[index].spec.name
                    ));
                }
            }
        }
        if let Some((index, at)) = self.failover.killed {
            if self.failover.restarted.is_none() && t >= at + self.options.rejoin_after {
                let pid = nodes[index].start_fulcrum()?;
                self.failover.restarted = Some(t);
                self.note(format!(
                    "restarted {}'s fulcrum (pid {pid})",
                    nodes[index].spec.name
                ));
            }
        }
        Ok(())
    }

    /// Between the kill and the takeover: the survivor's state, every turn, for the delay.
    fn watch_takeover(&mut self, nodes: &[Node; 2], clients: &Clients) {
        let (Some((killed, at)), None) = (self.failover.killed, &self.failover.took_over) else {
            return;
        };
        let survivor = 1 - killed;
        if nodes[survivor].state() != "MASTER" {
            return;
        }
        let t = self.start.elapsed();
        let answered = clients.snapshot().iter().map(|c| c.answered).collect();
        self.failover.took_over = Some((survivor, t, answered));
        self.previous[survivor].state = "MASTER".to_string();
        self.note(format!(
            "{}: BACKUP -> MASTER, {:.1} s after the kill (VRRP master down interval 3.2 s)",
            nodes[survivor].spec.name,
            t.saturating_sub(at).as_secs_f64()
        ));
    }

    fn refresh(&mut self, nodes: &[Node; 2], clients: &Clients, probe: &mut SerialProbe) {
        let now = [nodes[0].status(), nodes[1].status()];
        let totals = clients.snapshot();
        for (i, node) in nodes.iter().enumerate() {
            // The IPv6 instance (dual-stack only) changes on its own timers.
            let (was6, is6) = (&self.previous[i].state6, &now[i].state6);
            if is6 != was6 && !is6.is_empty() {
                let was6 = if was6.is_empty() {
                    "(not running)"
                } else {
                    was6
                };
                let line = format!("{}: ipv6 {was6} -> {is6}", node.spec.name);
                self.note(line);
            }
            let (was, is) = (&self.previous[i].state, &now[i].state);
            if is == was || is.is_empty() {
                continue;
            }
            let was = if was.is_empty() { "(not running)" } else { was };
            let line = format!("{}: {was} -> {is}", node.spec.name);
            self.note(line);
            let restarted = self.failover.restarted.is_some()
                && self.failover.killed.is_some_and(|(k, _)| k == i);
            if is == "BACKUP" && restarted && self.failover.rejoined.is_none() {
                self.failover.rejoined = Some(self.start.elapsed());
                self.note(format!("{} rejoined as BACKUP", node.spec.name));
            }
        }
        let moved: Vec<String> = totals
            .iter()
            .zip(&self.previous_clients)
            .filter(|(c, before)| !before.last_node.is_empty() && c.last_node != before.last_node)
            .map(|(c, before)| {
                let addr = c.addr.map(|a| a.to_string()).unwrap_or_default();
                format!(
                    "client {addr} moved {} -> {}",
                    before.last_node, c.last_node
                )
            })
            .collect();
        for line in moved {
            self.note(line);
        }
        let serials = [
            probe.serial(nodes[0].spec.addr),
            probe.serial(nodes[1].spec.addr),
        ];
        if let (Some(before), Some(now)) = (self.previous_serials[1], serials[1]) {
            if before != now {
                self.note(format!(
                    "ns0b serves serial {now} now (zone transfer after the NOTIFY)"
                ));
            }
        }
        let frame = Frame {
            elapsed: self.start.elapsed(),
            header: self.header,
            nodes: [
                NodeView {
                    name: nodes[0].spec.name,
                    pid: nodes[0].fulcrum_pid(),
                    status: &now[0],
                },
                NodeView {
                    name: nodes[1].spec.name,
                    pid: nodes[1].fulcrum_pid(),
                    status: &now[1],
                },
            ],
            clients: &totals,
            serials,
            events: &self.events,
        };
        self.screen.show(&frame);
        self.previous = now;
        self.previous_clients = totals;
        self.previous_serials = serials;
    }

    /// The closing lines: queries, clients that changed node, the failover.
    pub fn summary(&self, totals: &[ClientStats], names: &[&str; 2]) {
        let sent: u64 = totals.iter().map(|c| c.sent).sum();
        let answered: u64 = totals.iter().map(|c| c.answered).sum();
        let moved = totals.iter().filter(|c| c.switches > 0).count();
        self.screen.say(
            None,
            &format!(
                "summary: {answered} of {sent} queries answered; {} clients, {moved} changed node",
                totals.len()
            ),
        );
        let f = &self.failover;
        let line = match (f.killed, &f.took_over) {
            (None, _) => "failover: none".to_string(),
            (Some((k, at)), None) => format!(
                "failover: {}'s fulcrum killed at {} s; the demo ended before a takeover",
                names[k],
                at.as_secs()
            ),
            (Some((k, at)), Some((m, when, answered_then))) => {
                let after: u64 = totals
                    .iter()
                    .zip(answered_then)
                    .map(|(c, then)| c.answered.saturating_sub(*then))
                    .sum();
                let kept_answering = totals
                    .iter()
                    .zip(answered_then)
                    .filter(|(c, then)| c.answered > **then)
                    .count();
                let rejoin = match (f.rejoined, f.restarted) {
                    (Some(_), _) => format!("{} rejoined as BACKUP", names[k]),
                    (None, Some(_)) => format!("{} restarted, not BACKUP yet", names[k]),
                    (None, None) => format!("{} not restarted", names[k]),
                };
                format!(
                    "failover: {}'s fulcrum killed at {} s; {} MASTER {:.1} s later; \
                     {after} answers after the takeover, {kept_answering} of {} clients \
                     answered after it; {rejoin}",
                    names[k],
                    at.as_secs(),
                    names[*m],
                    when.saturating_sub(at).as_secs_f64(),
                    totals.len(),
                )
            }
        };
        self.screen.say(None, &line);
        if let Some(line) = self.ipv6_summary(totals) {
            self.screen.say(None, &line);
        }
    }

    /// The IPv6 clients' part of the summary, in a dual-stack run.
    fn ipv6_summary(&self, totals: &[ClientStats]) -> Option<String> {
        let is_ipv6 = |c: &ClientStats| c.addr.is_some_and(|a| a.is_ipv6());
        let ipv6: Vec<&ClientStats> = totals.iter().filter(|c| is_ipv6(c)).collect();
        if ipv6.is_empty() {
            return None;
        }
        let sent: u64 = ipv6.iter().map(|c| c.sent).sum();
        let answered: u64 = ipv6.iter().map(|c| c.answered).sum();
        let moved = ipv6.iter().filter(|c| c.switches > 0).count();
        let after = match &self.failover.took_over {
            Some((_, _, answered_then)) => {
                let kept = totals
                    .iter()
                    .zip(answered_then)
                    .filter(|(c, then)| is_ipv6(c) && c.answered > **then)
                    .count();
                format!("; {kept} of {} answered after the takeover", ipv6.len())
            }
            None => String::new(),
        };
        Some(format!(
            "ipv6 clients: {answered} of {sent} queries answered; {} clients, {moved} changed \
             node{after}",
            ipv6.len()
        ))
    }
}
