//! The active-active benchmark (`bench/active_active.sh` runs it, release build): in the lab of
//! `lab.rs`, in proxy mode or DSR mode on the `AF_PACKET` plane (`FULCRUM_BENCH_MODE=proxy` or
//! `dsr`), with BFD or without (`FULCRUM_BENCH_BFD=0`),
//! - `FULCRUM_BENCH_KILLS` (10) crashes of a random node at a random phase (network silenced,
//!   fulcrum and BIRD killed) under the 300 clients' load: the time from the crash to the first
//!   answer to one of its clients' queries sent after it (the router's path works again) and to
//!   every one of its clients answered; the fraction of clients whose node changed on the
//!   removal and on the node's return, beside the 1/3 ideal;
//! - dnsperf from the client at the VIP for `FULCRUM_BENCH_QPS_SECONDS` (10) with three nodes
//!   announcing, then with one (the other two stopped cleanly): the capacity of an active-active
//!   trio against one active node, the forwarding path of a VRRP pair's master; with each
//!   fulcrum's CPU time per query answered.
//!
//! Every figure is printed as a `BENCH` line. Bounded: every wait has a limit, every load a
//! count and a deadline.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use netlab::Lab;
use testkit::cluster::load::{ClientLog, Load, LoadSpec};

use testkit::plane::Plane;

use super::lab::{self, Mode, CLIENTS, NODES, VIP};
use super::world::World;

const PACE: Duration = Duration::from_millis(100);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wait(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// A small xorshift, seeded from the clock: which node and which phase.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn flows(logs: &[ClientLog]) -> Vec<(Ipv4Addr, u16)> {
    logs.iter().map(|l| (l.addr, l.port)).collect()
}

/// CPU seconds (user + system) of `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the line; 12 and 13 after the command's closing parenthesis.
    (ticks(11) + ticks(12)) / 100.0
}

/// The mode `FULCRUM_BENCH_MODE` names: `proxy` (the default) or `dsr` (`AF_PACKET`).
fn mode() -> Mode {
    match std::env::var("FULCRUM_BENCH_MODE").as_deref() {
        Ok("dsr") => Mode::Dsr(Plane::AfPacket),
        Ok("proxy") | Err(_) => Mode::Proxy,
        Ok(other) => panic!("FULCRUM_BENCH_MODE={other}: proxy or dsr"),
    }
}

pub fn run() {
    let mode = mode();
    let kills = env("FULCRUM_BENCH_KILLS", 10);
    let qps_seconds = env("FULCRUM_BENCH_QPS_SECONDS", 10);
    let bfd = lab::with_bfd();
    let lab = Lab::new("aab");
    let root = tempfile::tempdir().expect("temporary directory");
    let mut world = World::start(&lab, root.path(), mode);
    assert!(
        world.all_up(Duration::from_secs(60)),
        "route via all nodes\n{}",
        world.report()
    );
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    let mut dice = Dice(seed);
    println!("BENCH mode {mode:?} bfd {bfd} kills {kills} seed {seed}");
    let (mut first, mut every, mut removed, mut returned) = (vec![], vec![], vec![], vec![]);
    let sources = lab::client_sources();
    for trial in 0..kills {
        let victim = 1 + dice.below(u64::from(NODES)) as u8;
        let spec = LoadSpec {
            pace: PACE,
            queries: 400,
            duration: Duration::from_secs(40),
        };
        let load = Load::start(&world.client, &sources, VIP, spec);
        assert!(
            load.wait_until(Duration::from_secs(10), |logs| logs
                .iter()
                .all(|l| !l.answers.is_empty())),
            "every client answered\n{}",
            world.report()
        );
        let before = world.nodes_of(&flows(&load.snapshot()));
        // A random phase of BFD's 100 ms cycle (without BFD: of BGP's 3 s keepalive).
        let cycle = if bfd { 100 } else { 3000 };
        std::thread::sleep(Duration::from_millis(dice.below(cycle)));
        let crashed = world.nodes[usize::from(victim - 1)].crash();
        let orphans: Vec<(Ipv4Addr, u16)> = before
            .iter()
            .filter(|(_, n)| **n == victim)
            .map(|(flow, _)| *flow)
            .collect();
        let answered = |l: &ClientLog| l.answers.iter().any(|a| a.sent >= crashed);
        let back = load.wait_until(Duration::from_secs(20), |logs| {
            logs.iter()
                .filter(|l| orphans.contains(&(l.addr, l.port)))
                .all(answered)
        });
        let logs = load.finish();
        assert!(
            back,
            "node {victim}'s clients answered again\n{}",
            world.report()
        );
        let since: Vec<f64> = logs
            .iter()
            .filter(|l| orphans.contains(&(l.addr, l.port)))
            .filter_map(|l| l.answers.iter().find(|a| a.sent >= crashed))
            .map(|a| a.sent.saturating_duration_since(crashed).as_secs_f64() * 1000.0)
            .collect();
        let earliest = since.iter().copied().fold(f64::INFINITY, f64::min);
        let latest = since.iter().copied().fold(0.0, f64::max);
        let after = world.nodes_of(&flows(&logs));
        let moved = before
            .iter()
            .filter(|(f, n)| after.get(f) != Some(n))
            .count();
        world.nodes[usize::from(victim - 1)].start();
        assert!(
            world.all_up(Duration::from_secs(60)),
            "node {victim} back\n{}",
            world.report()
        );
        let again = world.nodes_of(&flows(&logs));
        let moved_back = after
            .iter()
            .filter(|(f, n)| again.get(f) != Some(n))
            .count();
        let fraction = |n: usize| n as f64 / before.len().max(1) as f64;
        println!(
            "BENCH kill {trial} node {victim}: first answer {earliest:.0} ms, all {} clients \
             {latest:.0} ms; moved on removal {:.3}, on return {:.3} (ideal 1/{NODES} = {:.3})",
            orphans.len(),
            fraction(moved),
            fraction(moved_back),
            1.0 / f64::from(NODES)
        );
        first.push(earliest);
        every.push(latest);
        removed.push(fraction(moved));
        returned.push(fraction(moved_back));
    }
    println!(
        "BENCH kill median: first answer {:.0} ms, all clients {:.0} ms; moved on removal {:.3}, \
         on return {:.3}",
        median(first),
        median(every),
        median(removed),
        median(returned)
    );
    if qps_seconds > 0 {
        let three = dnsperf(&world, qps_seconds);
        println!("BENCH qps 3 nodes: {three}");
        for n in [2, 3] {
            world.nodes[n - 1].stop();
        }
        assert!(
            wait(Duration::from_secs(10), || world.next_hops()
                == world.hops(&[1])),
            "only node 1 left\n{}",
            world.report()
        );
        let one = dnsperf(&world, qps_seconds);
        println!("BENCH qps 1 node: {one}");
    }
    drop(lab);
}

/// dnsperf at the VIP for `seconds` from the client (64 sockets, so the router's L4 hash
/// spreads them); the answered rate and the running fulcrums' CPU per answered query.
fn dnsperf(world: &World, seconds: u64) -> String {
    let queries = world.client.name().to_string() + ".queries";
    let path = std::env::temp_dir().join(queries);
    std::fs::write(&path, format!("{} TXT\n", lab::ZONE)).expect("query file");
    let pids: Vec<u32> = world
        .nodes
        .iter()
        .filter_map(|n| n.fulcrum.as_ref().map(|p| p.pid()))
        .collect();
    let cpu_before: BTreeMap<u32, f64> = pids.iter().map(|p| (*p, cpu_seconds(*p))).collect();
    let output = world
        .client
        .exec(&[
            "dnsperf",
            "-s",
            &VIP.to_string(),
            "-d",
            path.to_str().unwrap_or_default(),
            "-l",
            &seconds.to_string(),
            "-c",
            "64",
            "-T",
            "2",
            "-q",
            "500",
        ])
        .expect("dnsperf");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let completed = field("Queries completed:");
    let qps = field("Queries per second:");
    let cpu: f64 = pids
        .iter()
        .map(|p| cpu_seconds(*p) - cpu_before.get(p).copied().unwrap_or(0.0))
        .sum();
    format!(
        "{qps:.0} queries/s answered ({completed:.0} in {seconds} s, {CLIENTS} lab clients \
         idle), fulcrum CPU {cpu:.2} s = {:.1} us per query",
        cpu / completed.max(1.0) * 1e6
    )
}
