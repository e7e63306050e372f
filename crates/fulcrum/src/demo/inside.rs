//! The demo's inner half: builds the lab, starts the targets, the agents and both Fulcrums (ns0a
//! first, so it becomes MASTER), the clients, and then drives the timeline (a new zone serial,
//! the master's SIGKILL, its restart) while refreshing the view once a second, until
//! `--duration`, Ctrl-C or SIGTERM. Everything it started is stopped and the lab removed on the
//! way out, also after an error.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlab::seed::{SEED_ZONE, VIP};
use netlab::seed6::VIP6;

use super::clients::{Clients, SerialProbe};
use super::lab::DemoLab;
use super::live::Live;
use super::node::Node;
use super::targets::{Targets, WHOAMI};
use super::view::Screen;
use super::Options;

pub fn main(options: Options) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fulcrum demo: {e}");
            return 1;
        }
    };
    let _context = runtime.enter();
    let stop = match watch_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("fulcrum demo: cannot handle signals: {e}");
            return 1;
        }
    };
    let screen = Screen::new();
    let result = if options.nodes == 3 {
        super::active_active::run(&options, &stop, &screen)
    } else {
        run(&options, &stop, &screen)
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fulcrum demo: {e:#}");
            1
        }
    }
}

/// A flag raised by Ctrl-C (SIGINT) or SIGTERM; handled from now on, also during the setup.
fn watch_signals() -> std::io::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        flag.store(true, Ordering::Relaxed);
    });
    Ok(stop)
}

fn stopped(stop: &AtomicBool) -> anyhow::Result<()> {
    anyhow::ensure!(
        !stop.load(Ordering::Relaxed),
        "stopped by a signal during the setup"
    );
    Ok(())
}

fn run(options: &Options, stop: &AtomicBool, screen: &Screen) -> anyhow::Result<()> {
    screen.say(
        None,
        if options.ipv6 {
            "building the seed's lab (netlab), dual-stack"
        } else {
            "building the seed's lab (netlab)"
        },
    );
    let lab = DemoLab::build(super::LAB_TAG, options.ipv6)?;
    let mut header = vec![
        format!("lab: namespaces {}", lab.describe()),
        format!("files: {}", options.workdir.display()),
    ];
    screen.say(None, &header[0]);
    screen.say(None, &header[1]);
    stopped(stop)?;
    let mut targets = Targets::start(&lab.nodes, options.builtin)?;
    header.push(format!("targets: {}", targets.describe()));
    screen.say(None, &header[2]);
    let mut nodes = [
        Node::prepare(&lab.nodes[0], &options.workdir)?,
        Node::prepare(&lab.nodes[1], &options.workdir)?,
    ];
    for node in &nodes {
        screen.say(
            None,
            &format!(
                "{}: fulcrum agent 439 (pid {}), the seed's agent check",
                node.spec.name,
                node.agent_pid()
            ),
        );
    }
    for (index, wanted) in [(0, "MASTER"), (1, "BACKUP")] {
        stopped(stop)?;
        let started = Instant::now();
        let pid = nodes[index].start_fulcrum()?;
        let state = wait_state(&nodes[index], wanted, Duration::from_secs(15), stop);
        let line = format!(
            "{}: fulcrum run -c {}.conf (pid {pid}): {} after {:.1} s{}",
            nodes[index].spec.name,
            nodes[index].spec.name,
            if state.is_empty() { "no state" } else { &state },
            started.elapsed().as_secs_f64(),
            if index == 0 { " (started first)" } else { "" }
        );
        screen.say(None, &line);
        header.push(line);
    }
    stopped(stop)?;
    let plan = match options.kill_at {
        Some(at) => format!(
            "plan: SIGKILL the master's fulcrum at {} s, restart it {} s later",
            at.as_secs(),
            options.rejoin_after.as_secs()
        ),
        None => "plan: no failover (--kill-master-at 0, or --duration too short)".to_string(),
    };
    screen.say(None, &plan);
    header.push(plan);
    let vip = SocketAddr::new(IpAddr::V4(VIP), 53);
    let mut pairs: Vec<(IpAddr, SocketAddr)> = Clients::sources4(options.clients)
        .into_iter()
        .map(|source| (source, vip))
        .collect();
    screen.say(
        None,
        &format!(
            "{} clients (10.99.1.1 and up) ask {WHOAMI} TXT at {vip}, 4 queries/s each",
            options.clients
        ),
    );
    if options.ipv6 {
        let vip6 = SocketAddr::new(IpAddr::V6(VIP6), 53);
        let sources = lab.seed.client_sources6();
        pairs.extend(
            sources
                .iter()
                .take(usize::from(options.clients))
                .map(|&source| (IpAddr::V6(source), vip6)),
        );
        screen.say(
            None,
            &format!(
                "{} IPv6 clients ({} and up) ask {WHOAMI} TXT at {vip6}, 4 queries/s each",
                options.clients, sources[0]
            ),
        );
    }
    let clients = Clients::start(lab.seed.client.name(), &pairs, WHOAMI)?;
    let mut probe = SerialProbe::new(lab.seed.client.name(), SEED_ZONE)?;

    let mut live = Live::new(options, screen, &header);
    let result = live.run(stop, &mut nodes, &mut targets, &clients, &mut probe);
    let totals = clients.snapshot();
    clients.stop();
    for node in &mut nodes {
        node.stop_fulcrum();
    }
    drop(probe);
    drop(targets);
    drop(nodes);
    let namespaces = lab.namespaces();
    let names = [lab.nodes[0].name, lab.nodes[1].name];
    drop(lab);
    result?;
    live.summary(&totals, &names);
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

/// Waits until the node's `show vrrp` says `state`; returns the last state seen.
fn wait_state(node: &Node, state: &str, limit: Duration, stop: &AtomicBool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let seen = node.status().state;
        if seen == state || Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
