//! The benchmark's traffic and what it reads around it: the UDP flood generator (run inside the
//! client namespace as `dsr_bench flood DST PORT SECONDS`), and one measured flood phase, read
//! from the interfaces' packet counters, the Fulcrum process's and its DSR workers' CPU time and
//! the machine's softirq time ([`crate::cpu`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use netlab::lab::Ns;
use netlab::seed::SeedLab;

use crate::{arg, cpu, Result};

/// The flood's destination port on the targets: nothing listens there, so the target's kernel
/// counts and drops (its ICMP errors are rate limited).
pub const FLOOD_PORT: u16 = 9;
pub const PAYLOAD: usize = 64;

/// The DSR worker threads of either plane.
const WORKER_THREADS: &[&str] = &["fulcrum-dsr-", "fulcrum-xsk-"];

/// The generator: UDP datagrams of PAYLOAD bytes to DST:PORT from 10.99.1.1..200 (or, to an
/// IPv6 DST, fd00:10:99::1:1..200) in turn, batches of 64 through sendmmsg, for SECONDS (at
/// most 60). Prints `sent N`.
pub fn flood(args: &[String]) -> Result<()> {
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

/// Runs the generator (this same binary, `me`) in the client namespace; the datagrams it sent.
pub fn run_flood(seed: &SeedLab, me: &str, dst: IpAddr, seconds: f64) -> Result<u64> {
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

fn counter(ns: &Ns, ifname: &str, which: &str) -> Result<u64> {
    let path = format!("/sys/class/net/{ifname}/statistics/{which}");
    ns.run(&["cat", &path])
        .map_err(|e| e.to_string())?
        .trim()
        .parse()
        .map_err(|e| format!("{path}: {e}"))
}

/// One flood phase's rates, per second.
pub struct Rates {
    pub sent: f64,
    pub router: f64,
    pub dsr: f64,
    pub delivered: f64,
    pub fulcrum_cores: f64,
    /// The DSR worker threads' share of `fulcrum_cores`.
    pub worker_cores: f64,
    /// The machine's softirq time (all CPUs), in cores.
    pub softirq_cores: f64,
}

fn workers_seconds(pid: u32) -> f64 {
    cpu::thread_seconds(pid, WORKER_THREADS).values().sum()
}

struct Snapshot {
    router_tx: u64,
    eth1_tx: u64,
    ns0b_rx: u64,
    process: f64,
    workers: f64,
    softirq: f64,
}

fn snapshot(seed: &SeedLab, fulcrum_pid: u32) -> Result<Snapshot> {
    Ok(Snapshot {
        router_tx: counter(&seed.router, "eth0", "tx_packets")?,
        eth1_tx: counter(&seed.ns0a, "eth1", "tx_packets")?,
        ns0b_rx: counter(&seed.ns0b, "eth0", "rx_packets")?,
        process: cpu::process_seconds(fulcrum_pid),
        workers: workers_seconds(fulcrum_pid),
        softirq: cpu::softirq_seconds(),
    })
}

/// One flood phase: packets per second sent, forwarded by the router, sent by ns0a's eth1
/// (Fulcrum), received by ns0b's eth0; Fulcrum's, its workers' and the softirq CPU in cores.
pub fn phase(
    seed: &SeedLab,
    me: &str,
    dst: IpAddr,
    seconds: f64,
    fulcrum_pid: u32,
) -> Result<Rates> {
    let before = snapshot(seed, fulcrum_pid)?;
    let started = Instant::now();
    let sent = run_flood(seed, me, dst, seconds)?;
    // Let the last frames drain through the rings.
    std::thread::sleep(Duration::from_millis(300));
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .min(seconds + 0.3)
        .max(seconds);
    let after = snapshot(seed, fulcrum_pid)?;
    let pps = |a: u64, b: u64| a.saturating_sub(b) as f64 / seconds;
    Ok(Rates {
        sent: sent as f64 / seconds,
        router: pps(after.router_tx, before.router_tx),
        dsr: pps(after.eth1_tx, before.eth1_tx),
        delivered: pps(after.ns0b_rx, before.ns0b_rx),
        fulcrum_cores: (after.process - before.process) / elapsed,
        worker_cores: (after.workers - before.workers) / elapsed,
        softirq_cores: (after.softirq - before.softirq) / elapsed,
    })
}
