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
//! Each for IPv4, IPv6 or both in the same run (the lab made dual-stack, `netlab::seed6`; one
//! Fulcrum serves both VIPs, as a dual-stack node does).
//!
//! `dsr_bench flood DST PORT SECONDS` is the traffic generator itself (run inside the client
//! namespace by the harness; the sources are the client's extra addresses of DST's family).
//! Every phase is bounded in time; the lab is removed on exit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netlab::lab::{Lab, Ns};
use netlab::seed::{seed_topology, SeedLab, NS0B_ADDR, VIP};
use netlab::seed6::{NS0B_ADDR6, VIP6};

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
            "usage: dsr_bench lab FULCRUM_BIN SECONDS [4|6|both] | dsr_bench flood DST PORT SECONDS"
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

/// The generator: UDP datagrams of PAYLOAD bytes to DST:PORT from 10.99.1.1..200 (or, to an
/// IPv6 DST, fd00:10:99::1:1..200) in turn, batches of 64 through sendmmsg, for SECONDS (at
/// most 60). Prints `sent N`.
fn flood(args: &[String]) -> Result<()> {
    let dst: IpAddr = arg(args, 0, "destination")?;
    let port: u16 = arg(args, 1, "port")?;
    let seconds: f64 = arg(args, 2, "seconds")?;
    let any = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(any).map_err(|e| format!("bind: {e}"))?;
    let dest = SocketAddr::new(dst, port);
    let payload = [0x5au8; PAYLOAD];
    let mut batch = fulcrum_sys::SendBatch::new(64, 64 * PAYLOAD);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.1, 60.0));
    let mut sent = 0u64;
    let mut source = 0u8;
    while Instant::now() < deadline {
        for _ in 0..64 {
            source = source % 200 + 1;
            let from = match dst {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 99, 1, source)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(
                    0xfd00,
                    0x10,
                    0x99,
                    0,
                    0,
                    0,
                    1,
                    u16::from(source),
                )),
            };
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

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

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

fn run_flood(seed: &SeedLab, me: &str, dst: IpAddr, seconds: f64) -> Result<u64> {
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
}

/// One flood phase: packets per second sent, forwarded by the router, sent by ns0a's eth1
/// (Fulcrum), received by ns0b's eth0; Fulcrum's CPU in cores.
fn phase(seed: &SeedLab, me: &str, dst: IpAddr, seconds: f64, fulcrum_pid: u32) -> Result<Rates> {
    let before = (
        counter(&seed.router, "eth0", "tx_packets")?,
        counter(&seed.ns0a, "eth1", "tx_packets")?,
        counter(&seed.ns0b, "eth0", "rx_packets")?,
        cpu_seconds(fulcrum_pid),
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
        cpu_seconds(fulcrum_pid),
    );
    Ok(Rates {
        sent: sent as f64 / seconds,
        router: (after.0 - before.0) as f64 / seconds,
        dsr: (after.1 - before.1) as f64 / seconds,
        delivered: (after.2 - before.2) as f64 / seconds,
        fulcrum_cores: (after.3 - before.3) / elapsed,
    })
}

fn dnsperf(seed: &SeedLab, dir: &Path, server: IpAddr, seconds: u32) -> Result<f64> {
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

fn wait_answer(seed: &SeedLab, server: IpAddr) -> Result<()> {
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
addr6 fd00:10:235:210::
mask6 64
real6 fd00:10:235:210::45
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
server 2 {
ipaddr fd00:10:235:210::1
port 9
protocol udp
method session
targets 3
}
register server 2
enable server 2
target 3 {
ipaddr fd00:10:235:210::44
port 9
dsr enable
}
register target 3
enable target 3
";

/// The seed's NS0A configuration with IPv6 added: `real6`, and server 2 on the IPv6 VIP over
/// both nodes' IPv6 addresses.
fn seed_dual_config() -> String {
    include_str!("../../../tests/fixtures/ns0a.conf")
        .replace(
            "real 10.235.210.45\n",
            "real 10.235.210.45\naddr6 fd00:10:235:210::\nmask6 64\nreal6 fd00:10:235:210::45\n",
        )
        .replace(
            "// end of configuration",
            "server 2 {\nipaddr fd00:10:235:210::1\nport 53\nmethod session\ntargets 3,4\n}\n\
             register server 2\nenable server 2\n\
             target 3 {\nipaddr fd00:10:235:210::43\nport 53\ndsr enable\n}\n\
             target 4 {\nipaddr fd00:10:235:210::44\nport 53\ndsr enable\n}\n\
             register targets 3,4\nenable targets 3,4\n",
        )
}

/// Which families a run measures.
fn families(args: &[String]) -> Result<Vec<Family>> {
    match args.get(2).map(String::as_str) {
        None | Some("both") => Ok(vec![Family::V4, Family::V6]),
        Some("4") => Ok(vec![Family::V4]),
        Some("6") => Ok(vec![Family::V6]),
        Some(other) => Err(format!("family {other:?}: 4, 6 or both")),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    fn vip(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(VIP),
            Family::V6 => IpAddr::V6(VIP6),
        }
    }

    fn ns0b(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(NS0B_ADDR),
            Family::V6 => IpAddr::V6(NS0B_ADDR6),
        }
    }
}

fn lab(args: &[String]) -> Result<()> {
    let bin: PathBuf = arg::<String>(args, 0, "fulcrum binary")?.into();
    let seconds: f64 = arg(args, 1, "seconds")?;
    let families = families(args)?;
    let me = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .display()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let lab = Lab::new("dsrbench");
    let seed = seed_topology(&lab).map_err(|e| e.to_string())?;
    seed.add_ipv6().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;

    // Forwarding: Fulcrum on ns0a balancing VIP:9 to ns0b only.
    let fulcrum = start_fulcrum(&seed, &bin, dir.path(), "flood", FLOOD_CONFIG)?;
    std::thread::sleep(Duration::from_millis(1500));
    let mut measured = Vec::new();
    for &family in &families {
        // Warm up ARP (neighbour discovery) on the router for both destinations.
        let _ = run_flood(&seed, &me, family.ns0b(), 0.2);
        let _ = run_flood(&seed, &me, family.vip(), 0.2);
        let kernel = phase(&seed, &me, family.ns0b(), seconds, fulcrum.pid)?;
        let dsr = phase(&seed, &me, family.vip(), seconds, fulcrum.pid)?;
        measured.push((family, kernel, dsr));
    }
    stop_fulcrum(fulcrum);
    let log = std::fs::read_to_string(dir.path().join("flood.log")).unwrap_or_default();
    let plane_counter = |name: &str| -> u64 {
        log.lines()
            .find_map(|line| {
                let mut cells = line.split_whitespace();
                (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
            })
            .unwrap_or(0)
    };

    println!("## DSR forwarding ({cores} cores, {seconds} s per phase, {PAYLOAD}-byte UDP payload, 200 sources)");
    println!();
    println!("| family | path | generator sent pps | router forwarded pps | ns0a eth1 (Fulcrum) tx pps | ns0b eth0 rx pps | Fulcrum CPU (cores) | Fulcrum frames per core-second |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let rows = measured.iter().flat_map(|(family, kernel, dsr)| {
        [
            (
                family.name(),
                "client -> router -> ns0b (kernel forwarding only)",
                kernel,
            ),
            (
                family.name(),
                "client -> router -> VIP -> Fulcrum DSR -> ns0b",
                dsr,
            ),
        ]
    });
    for (family, name, r) in rows {
        let per_core = if r.fulcrum_cores > 0.01 {
            r.dsr / r.fulcrum_cores
        } else {
            0.0
        };
        println!(
            "| {family} | {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} |",
            r.sent, r.router, r.dsr, r.delivered, r.fulcrum_cores, per_core
        );
    }
    println!();
    for (family, _, dsr) in &measured {
        println!(
            "{}: DSR kept up with the kernel's forwarding: {:.1}% of the router's forwarded packets left ns0a's eth1 towards ns0b",
            family.name(),
            if dsr.router > 0.0 { 100.0 * dsr.dsr / dsr.router } else { 0.0 }
        );
    }

    println!(
        "Fulcrum's own counters over every flood phase: frames-in {}, forwarded {}, drop-ring-full {} (lost while the workers were off the CPU), drop-tx-full {}",
        plane_counter("frames-in"),
        plane_counter("forwarded"),
        plane_counter("drop-ring-full"),
        plane_counter("drop-tx-full"),
    );

    // DNS: the seed configuration, both Bind9 nodes.
    let _bind9 = seed.start_bind9_dual().map_err(|e| e.to_string())?;
    seed.ns0a
        .addr("eth1", "10.235.210.45/32")
        .map_err(|e| e.to_string())?;
    let fulcrum = start_fulcrum(&seed, &bin, dir.path(), "seed", &seed_dual_config())?;
    let dns_seconds = seconds.round().max(1.0) as u32;
    let mut qps = Vec::new();
    for &family in &families {
        wait_answer(&seed, family.vip())?;
        let vip_qps = dnsperf(&seed, dir.path(), family.vip(), dns_seconds)?;
        let direct_qps = dnsperf(&seed, dir.path(), family.ns0b(), dns_seconds)?;
        qps.push((family, vip_qps, direct_qps));
    }
    stop_fulcrum(fulcrum);
    println!();
    println!("## dnsperf ({dns_seconds} s each, 8 clients, 200 outstanding, one source address)");
    println!();
    println!("| to | QPS |");
    println!("|---|---:|");
    for (family, vip_qps, direct_qps) in qps {
        println!(
            "| VIP {} (Fulcrum DSR, seed configuration) | {vip_qps:.0} |",
            family.vip()
        );
        println!("| ns0b {} directly | {direct_qps:.0} |", family.ns0b());
    }
    Ok(())
}
