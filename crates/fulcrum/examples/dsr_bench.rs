//! The DSR benchmark harness (run by `bench/dsr.sh`, as root): builds the seed lab (netlab),
//! and measures in one run
//!
//! 1. forwarding: a UDP flood from the client namespace (many source addresses, sendmmsg)
//!    through the router, once to a target directly (the kernel's IP forwarding alone) and once
//!    to the VIP (the kernel's forwarding, then Fulcrum's DSR path on ns0a's eth1 to ns0b),
//!    read from the interfaces' packet counters and Fulcrum's CPU time;
//! 2. DNS: dnsperf QPS to the VIP (seed configuration, both Bind9 nodes) and directly to one
//!    target.
//!
//! The DSR phase and dnsperf run once per plane asked for (`afpacket`, `afxdp` or `both`, side
//! by side in one lab), with the worker threads' CPU and the machine's softirq time per phase
//! ([`cpu`]).
//!
//! `dsr_bench flood DST PORT SECONDS` is the traffic generator itself (run inside the client
//! namespace by the harness). Every phase is bounded in time; the lab is removed on exit.

#[path = "dsr_bench/cpu.rs"]
mod cpu;
#[path = "dsr_bench/profile.rs"]
mod profile;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netlab::lab::{Lab, Ns};
use netlab::seed::{seed_topology, SeedLab, NS0B_ADDR, VIP};

/// The flood's destination port on the targets: nothing listens there, so the target's kernel
/// counts and drops (its ICMP errors are rate limited).
const FLOOD_PORT: u16 = 9;
const PAYLOAD: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("flood") => flood(&args[2..]),
        Some("lab") => lab(&args[2..]),
        _ => Err(
            "usage: dsr_bench lab FULCRUM_BIN SECONDS [afpacket|afxdp|both] | \
                  dsr_bench flood DST PORT SECONDS"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("dsr_bench: {e}");
        std::process::exit(1);
    }
}

type Result<T> = std::result::Result<T, String>;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("missing or bad {what}"))
}

/// The generator: UDP datagrams of PAYLOAD bytes to DST:PORT from 10.99.1.1..200 in turn,
/// batches of 64 through sendmmsg, for SECONDS (at most 60). Prints `sent N`.
fn flood(args: &[String]) -> Result<()> {
    let dst: Ipv4Addr = arg(args, 0, "destination")?;
    let port: u16 = arg(args, 1, "port")?;
    let seconds: f64 = arg(args, 2, "seconds")?;
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
    let dest = SocketAddr::new(IpAddr::V4(dst), port);
    let payload = [0x5au8; PAYLOAD];
    let mut batch = fulcrum_sys::SendBatch::new(64, 64 * PAYLOAD);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.1, 60.0));
    let mut sent = 0u64;
    let mut source = 0u8;
    while Instant::now() < deadline {
        for _ in 0..64 {
            source = source % 200 + 1;
            let from = IpAddr::V4(Ipv4Addr::new(10, 99, 1, source));
            batch.push(&payload, Some(dest), Some(from));
        }
        sent += batch.flush(&socket) as u64;
    }
    println!("sent {sent}");
    Ok(())
}

fn counter(ns: &Ns, ifname: &str, which: &str) -> Result<u64> {
    let path = format!("/sys/class/net/{ifname}/statistics/{which}");
    ns.run(&["cat", &path])
        .map_err(|e| e.to_string())?
        .trim()
        .parse()
        .map_err(|e| format!("{path}: {e}"))
}

/// The DSR plane a phase runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plane {
    AfPacket,
    AfXdp,
}

impl Plane {
    fn name(self) -> &'static str {
        match self {
            Plane::AfPacket => "AF_PACKET",
            Plane::AfXdp => "AF_XDP",
        }
    }

    /// `config` with its (first, top-level) `interface eth1` in this plane's access mode.
    fn config(self, config: &str) -> String {
        match self {
            Plane::AfPacket => config.to_string(),
            Plane::AfXdp => config.replacen(
                "interface eth1\n",
                "interface 1 {\nname eth1\naccess xdp\n}\n",
                1,
            ),
        }
    }
}

fn planes(arg: Option<&String>) -> Result<Vec<Plane>> {
    match arg.map(String::as_str) {
        None | Some("both") => Ok(vec![Plane::AfPacket, Plane::AfXdp]),
        Some("afpacket") => Ok(vec![Plane::AfPacket]),
        Some("afxdp") => Ok(vec![Plane::AfXdp]),
        Some(other) => Err(format!("unknown plane {other:?} (afpacket, afxdp or both)")),
    }
}

/// The DSR worker threads of either plane.
const WORKER_THREADS: &[&str] = &["fulcrum-dsr-", "fulcrum-xsk-"];

struct Fulcrum {
    pid: u32,
    proc: netlab::lab::Proc,
    socket: PathBuf,
}

fn start_fulcrum(
    seed: &SeedLab,
    bin: &Path,
    dir: &Path,
    name: &str,
    config: &str,
) -> Result<Fulcrum> {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let socket = dir.join(format!("{name}.sock"));
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let mut command = seed.ns0a.command(&bin.display().to_string());
    command
        .args(["run", "--log-level", "info", "-c"])
        .arg(&path)
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let proc = seed.ns0a.spawn(command).map_err(|e| e.to_string())?;
    Ok(Fulcrum {
        pid: proc.pid(),
        proc,
        socket,
    })
}

fn stop_fulcrum(f: Fulcrum) {
    let _ = Command::new("kill")
        .args(["-TERM", &f.pid.to_string()])
        .status();
    if f.proc.wait_timeout(Duration::from_secs(5)).is_none() {
        f.proc.kill();
    }
    let _ = f.socket;
}

fn run_flood(seed: &SeedLab, me: &str, dst: Ipv4Addr, seconds: f64) -> Result<u64> {
    let out = seed
        .client
        .run(&[
            me,
            "flood",
            &dst.to_string(),
            &FLOOD_PORT.to_string(),
            &seconds.to_string(),
        ])
        .map_err(|e| e.to_string())?;
    out.trim()
        .strip_prefix("sent ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("generator said {out:?}"))
}

struct Rates {
    sent: f64,
    router: f64,
    dsr: f64,
    delivered: f64,
    fulcrum_cores: f64,
    /// The DSR worker threads' share of `fulcrum_cores`.
    worker_cores: f64,
    /// The machine's softirq time (all CPUs), in cores.
    softirq_cores: f64,
}

fn workers_seconds(pid: u32) -> f64 {
    cpu::thread_seconds(pid, WORKER_THREADS).values().sum()
}

/// One flood phase: packets per second sent, forwarded by the router, sent by ns0a's eth1
/// (Fulcrum), received by ns0b's eth0; Fulcrum's CPU in cores.
fn phase(seed: &SeedLab, me: &str, dst: Ipv4Addr, seconds: f64, fulcrum_pid: u32) -> Result<Rates> {
    let before = (
        counter(&seed.router, "eth0", "tx_packets")?,
        counter(&seed.ns0a, "eth1", "tx_packets")?,
        counter(&seed.ns0b, "eth0", "rx_packets")?,
        cpu::process_seconds(fulcrum_pid),
        workers_seconds(fulcrum_pid),
        cpu::softirq_seconds(),
    );
    let started = Instant::now();
    let sent = run_flood(seed, me, dst, seconds)?;
    // Let the last frames drain through the rings.
    std::thread::sleep(Duration::from_millis(300));
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .min(seconds + 0.3)
        .max(seconds);
    let after = (
        counter(&seed.router, "eth0", "tx_packets")?,
        counter(&seed.ns0a, "eth1", "tx_packets")?,
        counter(&seed.ns0b, "eth0", "rx_packets")?,
        cpu::process_seconds(fulcrum_pid),
        workers_seconds(fulcrum_pid),
        cpu::softirq_seconds(),
    );
    Ok(Rates {
        sent: sent as f64 / seconds,
        router: (after.0 - before.0) as f64 / seconds,
        dsr: (after.1 - before.1) as f64 / seconds,
        delivered: (after.2 - before.2) as f64 / seconds,
        fulcrum_cores: (after.3 - before.3) / elapsed,
        worker_cores: (after.4 - before.4) / elapsed,
        softirq_cores: (after.5 - before.5) / elapsed,
    })
}

fn dnsperf(seed: &SeedLab, dir: &Path, server: Ipv4Addr, seconds: u32) -> Result<f64> {
    let queries = dir.join("queries.txt");
    std::fs::write(
        &queries,
        "balanceng.net TXT\nbalanceng.net SOA\nbalanceng.net NS\n",
    )
    .map_err(|e| e.to_string())?;
    let out = seed
        .client
        .exec(&[
            "dnsperf",
            "-s",
            &server.to_string(),
            "-d",
            &queries.display().to_string(),
            "-l",
            &seconds.to_string(),
            "-c",
            "8",
            "-q",
            "200",
            "-t",
            "2",
        ])
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no QPS in dnsperf's output:\n{text}"))
}

fn wait_answer(seed: &SeedLab, server: Ipv4Addr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = seed
            .client
            .exec(&[
                "dig",
                &format!("@{server}"),
                "balanceng.net",
                "TXT",
                "+short",
                "+tries=1",
                "+time=1",
            ])
            .map_err(|e| e.to_string())?;
        if out.status.success() && !out.stdout.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{server} never answered"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

const FLOOD_CONFIG: &str = "\
hostname BENCH
interface eth1
network 1 {
addr 10.235.210.0
mask 255.255.255.0
real 10.235.210.45
interface eth1
}
register network 1
enable network 1
server 1 {
ipaddr 10.235.210.1
port 9
protocol udp
method session
targets 2
}
register server 1
enable server 1
target 2 {
ipaddr 10.235.210.44
port 9
dsr enable
}
register target 2
enable target 2
";

/// Plane counters from a stopped daemon's log (its closing counter table).
fn plane_counter(log: &str, name: &str) -> u64 {
    log.lines()
        .find_map(|line| {
            let mut cells = line.split_whitespace();
            (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// Whether the daemon of `log` runs the plane asked for; the fallback's reason if not.
fn plane_check(plane: Plane, log: &str) -> std::result::Result<(), String> {
    if plane == Plane::AfPacket || log.contains("dsr: AF_XDP on ") {
        return Ok(());
    }
    Err(log
        .lines()
        .find(|l| l.contains("AF_XDP unavailable"))
        .unwrap_or("no AF_XDP line in the log")
        .to_string())
}

fn per_core(frames: f64, cores: f64) -> f64 {
    if cores > 0.01 {
        frames / cores
    } else {
        0.0
    }
}

fn lab(args: &[String]) -> Result<()> {
    let bin: PathBuf = arg::<String>(args, 0, "fulcrum binary")?.into();
    let seconds: f64 = arg(args, 1, "seconds")?;
    let planes = planes(args.get(2))?;
    let me = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .display()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let lab = Lab::new("dsrbench");
    let seed = seed_topology(&lab).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;

    // Forwarding: Fulcrum on ns0a balancing VIP:9 to ns0b only, once per plane; the kernel
    // phase once, while the first plane's daemon idles.
    let mut kernel = None;
    let mut rows = Vec::new();
    let mut profiles = Vec::new();
    for plane in &planes {
        let name = format!("flood-{}", plane.name());
        let fulcrum = start_fulcrum(&seed, &bin, dir.path(), &name, &plane.config(FLOOD_CONFIG))?;
        std::thread::sleep(Duration::from_millis(1500));
        // Warm up ARP on the router for both destinations.
        let _ = run_flood(&seed, &me, NS0B_ADDR, 0.2);
        let _ = run_flood(&seed, &me, VIP, 0.2);
        if kernel.is_none() {
            kernel = Some(phase(&seed, &me, NS0B_ADDR, seconds, fulcrum.pid)?);
        }
        let recording = profile::wanted()
            .then(|| profile::start(fulcrum.pid, dir.path(), plane.name()))
            .flatten();
        let dsr = phase(&seed, &me, VIP, seconds, fulcrum.pid)?;
        if let Some(recording) = recording {
            let top = recording.report(
                "fulcrum-dsr-0,fulcrum-dsr-1,fulcrum-xsk-0,fulcrum-xsk-1",
                25,
            );
            profiles.push((*plane, top));
        }
        stop_fulcrum(fulcrum);
        let log =
            std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
        rows.push((*plane, dsr, log));
    }
    let kernel = kernel.ok_or("no plane to measure")?;

    println!("## DSR forwarding ({cores} cores, {seconds} s per phase, {PAYLOAD}-byte UDP payload, 200 sources)");
    println!();
    println!("| path | generator sent pps | router forwarded pps | ns0a eth1 (Fulcrum) tx pps | forwarded of the router's | ns0b eth0 rx pps | Fulcrum CPU (cores) | DSR workers (cores) | machine softirq (cores) | frames per core-second (process) | frames per worker core-second |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| kernel forwarding only: client -> router -> ns0b | {:.0} | {:.0} | | | {:.0} | | | {:.2} | | |",
        kernel.sent, kernel.router, kernel.delivered, kernel.softirq_cores
    );
    for (plane, r, _) in &rows {
        println!(
            "| {}: client -> router -> VIP -> Fulcrum -> ns0b | {:.0} | {:.0} | {:.0} | {:.1} % | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
            plane.name(),
            r.sent,
            r.router,
            r.dsr,
            if r.router > 0.0 { 100.0 * r.dsr / r.router } else { 0.0 },
            r.delivered,
            r.fulcrum_cores,
            r.worker_cores,
            r.softirq_cores,
            per_core(r.dsr, r.fulcrum_cores),
            per_core(r.dsr, r.worker_cores),
        );
    }
    println!();
    for (plane, _, log) in &rows {
        if let Err(reason) = plane_check(*plane, log) {
            println!(
                "{}: NOT MEASURED AS ASKED, the daemon fell back: {reason}",
                plane.name()
            );
        }
        println!(
            "{}: Fulcrum's counters: frames-in {}, forwarded {}, drop-ring-full {} (lost while the workers were off the CPU), drop-tx-full {}",
            plane.name(),
            plane_counter(log, "frames-in"),
            plane_counter(log, "forwarded"),
            plane_counter(log, "drop-ring-full"),
            plane_counter(log, "drop-tx-full"),
        );
    }

    for (plane, top) in &profiles {
        println!();
        println!(
            "## Profile of the {} workers in the DSR phase (perf, self time)",
            plane.name()
        );
        println!();
        println!("```\n{top}\n```");
    }

    // DNS: the seed configuration, both Bind9 nodes.
    let _bind9 = seed.start_bind9().map_err(|e| e.to_string())?;
    seed.ns0a
        .addr("eth1", "10.235.210.45/32")
        .map_err(|e| e.to_string())?;
    let seed_conf = include_str!("../../../tests/fixtures/ns0a.conf");
    let dns_seconds = seconds.round().max(1.0) as u32;
    let mut vip_qps = Vec::new();
    for plane in &planes {
        let name = format!("seed-{}", plane.name());
        let fulcrum = start_fulcrum(&seed, &bin, dir.path(), &name, &plane.config(seed_conf))?;
        wait_answer(&seed, VIP)?;
        vip_qps.push((*plane, dnsperf(&seed, dir.path(), VIP, dns_seconds)?));
        stop_fulcrum(fulcrum);
    }
    let direct_qps = dnsperf(&seed, dir.path(), NS0B_ADDR, dns_seconds)?;
    println!();
    println!("## dnsperf ({dns_seconds} s each, 8 clients, 200 outstanding, one source address)");
    println!();
    println!("| to | QPS | VIP / direct |");
    println!("|---|---:|---:|");
    for (plane, qps) in &vip_qps {
        println!(
            "| VIP 10.235.210.1 (Fulcrum DSR on {}, seed configuration) | {qps:.0} | {:.2} |",
            plane.name(),
            if direct_qps > 0.0 {
                qps / direct_qps
            } else {
                0.0
            }
        );
    }
    println!("| ns0b 10.235.210.44 directly | {direct_qps:.0} | |");
    Ok(())
}
