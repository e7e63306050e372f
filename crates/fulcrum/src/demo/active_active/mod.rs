//! `fulcrum demo --nodes 3`: three active-active nodes behind a BIRD router doing ECMP, live
//! ([`lab`] builds the network). Each second the view prints the router's side (its kernel's
//! multipath route to the VIP and `birdc show route` for it: which nodes carry the route) beside
//! each node's `show announce` verdict and `show sync` join and peer state (their JSON documents), and the clients'
//! side (answered queries, clients per target, target changes). At `--kill-master-at` (default
//! 6 s) node 2 crashes (its network silenced, its fulcrum and BIRD killed): BFD takes it out of
//! the route and its clients move to the other nodes, keeping their targets; `--rejoin-after`
//! seconds later it starts again, receives the session table from a peer, then announces.

mod lab;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::clients::{ClientStats, Clients};
use super::view::Screen;
use super::Options;
use fulcrum_control::show::{from_text, AnnounceDoc, SyncDoc};
use lab::{node_addr, Trio, TrioNode, NODES, VIP, ZONE};

/// The node that crashes and comes back.
const VICTIM: usize = 1;

pub fn run(options: &Options, stop: &AtomicBool, screen: &Screen) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    screen.say(
        None,
        "building the active-active lab (netlab): router, client, 3 nodes, 3 targets",
    );
    let mut trio = Trio::build(super::LAB_TAG, &options.workdir, options.clients)?;
    screen.say(None, &format!("lab: namespaces {}*", trio.prefix()));
    screen.say(None, &format!("files: {}", options.workdir.display()));
    for node in &mut trio.nodes {
        let pid = node.start(&exe)?;
        screen.say(
            None,
            &format!(
                "node{}: fulcrum run (pid {pid}) and BIRD (packaging/bird/node.conf)",
                node.n
            ),
        );
    }
    let started = Instant::now();
    while next_hops(&trio).len() < usize::from(NODES) && !stop.load(Ordering::Relaxed) {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the router has no route via all three nodes after 60 s (see {})",
            options.workdir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    screen.say(
        None,
        &format!(
            "the router's route to {VIP} holds all three nodes after {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    );
    let vip = SocketAddr::new(IpAddr::V4(VIP), 53);
    let pairs: Vec<_> = Clients::sources4(options.clients)
        .into_iter()
        .map(|source| (source, vip))
        .collect();
    let clients = Clients::start(trio.client.name(), &pairs, &format!("{ZONE}."))?;
    let result = live(options, stop, screen, &mut trio, &exe, &clients);
    let totals = clients.snapshot();
    clients.stop();
    for node in &mut trio.nodes {
        node.stop();
    }
    let namespaces = trio.namespaces();
    drop(trio);
    result?;
    let changes: u64 = totals.iter().map(|c| c.switches).sum();
    screen.say(
        None,
        &format!(
            "{} clients, {} queries answered, {changes} target changes",
            totals.len(),
            totals.iter().map(|c| c.answered).sum::<u64>()
        ),
    );
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let left: Vec<&String> = namespaces
        .iter()
        .filter(|n| listed.contains(n.as_str()))
        .collect();
    anyhow::ensure!(left.is_empty(), "namespaces left behind: {left:?}");
    screen.say(None, "lab removed");
    Ok(())
}

/// The timeline and a frame a second.
fn live(
    options: &Options,
    stop: &AtomicBool,
    screen: &Screen,
    trio: &mut Trio,
    exe: &Path,
    clients: &Clients,
) -> anyhow::Result<()> {
    let begin = Instant::now();
    let crash_at = options.kill_at;
    let mut crashed = false;
    let mut restarted = false;
    while !stop.load(Ordering::Relaxed) {
        let elapsed = begin.elapsed();
        if options.duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        if let Some(at) = crash_at {
            if !crashed && elapsed >= at {
                trio.nodes[VICTIM].crash()?;
                crashed = true;
                screen.say(
                    Some(elapsed),
                    ">> node2 crashes: its network silenced, its fulcrum and BIRD killed",
                );
            }
            if crashed && !restarted && elapsed >= at + options.rejoin_after {
                trio.nodes[VICTIM].start(exe)?;
                restarted = true;
                screen.say(
                    Some(elapsed),
                    ">> node2 starts again: it takes a peer's sessions before it announces",
                );
            }
        }
        screen.say(Some(elapsed), &frame(trio, &clients.snapshot()));
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

fn next_hops(trio: &Trio) -> Vec<String> {
    let text = trio
        .router
        .ip(&["route", "show", &format!("{VIP}/32")])
        .unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect()
}

/// One frame: the router's view, each node's, the clients'.
fn frame(trio: &Trio, clients: &[ClientStats]) -> String {
    let hops = next_hops(trio);
    let carried: Vec<String> = (1..=NODES)
        .map(|n| {
            let mark = if hops.contains(&node_addr(n)) {
                "+"
            } else {
                "-"
            };
            format!("{mark}node{n}")
        })
        .collect();
    let mut out = format!("router: {VIP} via {}\n", carried.join(" "));
    let socket = trio.router_dir.join("bird.ctl");
    let route = trio
        .router
        .exec(&[
            "birdc",
            "-s",
            &socket.to_string_lossy(),
            "show",
            "route",
            "for",
            &VIP.to_string(),
        ])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // BIRD prints each path as a `unicast [protocol ...]` line and its `via` line under it.
    let mut paths: Vec<String> = Vec::new();
    for line in route.lines().map(str::trim) {
        if line.starts_with("via ") {
            if let Some(last) = paths.last_mut() {
                last.push(' ');
                last.push_str(line);
            }
        } else if line.contains("unicast [") {
            paths.push(line.to_string());
        }
    }
    for path in paths {
        out.push_str(&format!("  birdc: {path}\n"));
    }
    for node in &trio.nodes {
        out.push_str(&node_view(node));
    }
    let answered: u64 = clients.iter().map(|c| c.answered).sum();
    let sent: u64 = clients.iter().map(|c| c.sent).sum();
    let changes: u64 = clients.iter().map(|c| c.switches).sum();
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    for c in clients.iter().filter(|c| !c.last_node.is_empty()) {
        *per_target.entry(c.last_node.as_str()).or_insert(0) += 1;
    }
    out.push_str(&format!(
        "clients: {answered}/{sent} answered, per target {per_target:?}, target changes {changes}"
    ));
    out
}

/// A node's `show announce` verdict and `show sync` join and peer state, read from their JSON
/// documents (docs/control.md).
fn node_view(node: &TrioNode) -> String {
    if !node.running() {
        return format!("node{}: down\n", node.n);
    }
    let show = |line: &str| {
        node.ns
            .command(
                &std::env::current_exe()
                    .unwrap_or_default()
                    .to_string_lossy(),
            )
            .arg("control")
            .arg("--json")
            .arg("--socket")
            .arg(node.dir.join("fulcrum.sock"))
            .args(["-e", line])
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let verdict = from_text::<AnnounceDoc>(&show("show announce"))
        .ok()
        .and_then(|doc| doc.servers.into_iter().next())
        .map(|row| {
            let why = row.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            format!(
                "server {} {}: {}{why}, {} target(s) up",
                row.server,
                row.vip.unwrap_or_default(),
                row.state,
                row.targets_up
            )
        })
        .unwrap_or_else(|| "starting".to_string());
    let mut out = format!("node{}: {verdict}\n", node.n);
    if let Some(detail) = from_text::<SyncDoc>(&show("show sync"))
        .ok()
        .and_then(|doc| doc.detail)
    {
        let from = detail
            .joined_from
            .map(|p| format!(" from {p}"))
            .unwrap_or_default();
        out.push_str(&format!("  joined: {}{from}\n", detail.joined));
        for peer in detail.peers {
            out.push_str(&format!(
                "  peer {}: {}, {} applied\n",
                peer.peer.unwrap_or_default(),
                peer.resync,
                peer.applied
            ));
        }
    }
    out
}
