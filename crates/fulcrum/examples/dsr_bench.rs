//! The DSR benchmark harness (run by `bench/dsr.sh`, as root): builds the seed lab (netlab),
//! and measures in one run
//!
//! 1. forwarding: a UDP flood from the client namespace (many source addresses, sendmmsg)
//!    through the router, once to a target directly (the kernel's IP forwarding alone) and once
//!    to the VIP (the kernel's forwarding, then Fulcrum's DSR path on ns0a's eth1 to ns0b),
//!    read from the interfaces' packet counters, Fulcrum's and its DSR workers' CPU time and the
//!    machine's softirq time ([`traffic`], [`cpu`]);
//! 2. DNS: dnsperf QPS to the VIP (seed configuration, both Bind9 nodes) and directly to one
//!    target ([`dns`]).
//!
//! The matrix is family x plane in one lab: IPv4, IPv6 or both (the lab made dual-stack,
//! `netlab::seed6`; one Fulcrum serves both VIPs, as a dual-stack node does), each on the
//! AF_PACKET plane (`access raw`), the AF_XDP plane (`access xdp` on eth1) or both side by side
//! ([`daemon`]), and each plane with the VIPs on the segment (the pair's virtual MAC) or routed
//! to ns0a's own MAC as an active-active node gets them ([`route`]). AF_XDP steers IPv4 only: IPv6 on an `access xdp` interface goes through the
//! AF_PACKET workers beside it, and the output says so. `DSR_BENCH_PROFILE=1` adds a perf
//! profile of the workers in each DSR phase ([`profile`]).
//!
//! `dsr_bench flood DST PORT SECONDS` is the traffic generator itself (run inside the client
//! namespace by the harness). Every phase is bounded in time; the lab is removed on exit.

#[path = "dsr_bench/cpu.rs"]
mod cpu;
#[path = "dsr_bench/daemon.rs"]
mod daemon;
#[path = "dsr_bench/dns.rs"]
mod dns;
#[path = "dsr_bench/profile.rs"]
mod profile;
#[path = "dsr_bench/report.rs"]
mod report;
#[path = "dsr_bench/route.rs"]
mod route;
#[path = "dsr_bench/traffic.rs"]
mod traffic;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use netlab::lab::Lab;
use netlab::seed::{seed_topology, NS0B_ADDR, VIP};
use netlab::seed6::{NS0B_ADDR6, VIP6};

use daemon::{seed_dual_config, start_fulcrum, stop_fulcrum, Plane, FLOOD_CONFIG};
use route::Path;
use traffic::{phase, run_flood, Rates};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("flood") => traffic::flood(&args[2..]),
        Some("lab") => lab(&args[2..]),
        _ => Err(
            "usage: dsr_bench lab FULCRUM_BIN SECONDS [4|6|both] [afpacket|afxdp|both] \
             [onlink|routed|both] | \
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

/// What runs `family` on `plane`'s daemon: AF_XDP steers IPv4 only, so IPv6 on an
/// `access xdp` interface is the AF_PACKET workers' beside it.
fn plane_label(plane: Plane, family: Family) -> String {
    match (plane, family) {
        (Plane::AfXdp, Family::V6) => "AF_XDP interface (IPv6 via its AF_PACKET workers)".into(),
        _ => plane.name().into(),
    }
}

/// [`plane_label`], and how the VIPs reach the plane when it is not the pair's way.
fn run_label(plane: Plane, path: Path, family: Family) -> String {
    match path {
        Path::OnLink => plane_label(plane, family),
        Path::Routed => format!("{}, {}", plane_label(plane, family), path.name()),
    }
}

fn families(arg: Option<&String>) -> Result<Vec<Family>> {
    match arg.map(String::as_str) {
        None | Some("both") => Ok(vec![Family::V4, Family::V6]),
        Some("4") => Ok(vec![Family::V4]),
        Some("6") => Ok(vec![Family::V6]),
        Some(other) => Err(format!("family {other:?}: 4, 6 or both")),
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

/// One plane's flood daemon on one path: its DSR phase per family and its log.
struct PlaneRun {
    plane: Plane,
    path: Path,
    dsr: Vec<(Family, Rates)>,
    log: String,
}

fn lab(args: &[String]) -> Result<()> {
    let bin: PathBuf = arg::<String>(args, 0, "fulcrum binary")?.into();
    let seconds: f64 = arg(args, 1, "seconds")?;
    let families = families(args.get(2))?;
    let planes = planes(args.get(3))?;
    let paths = route::paths(args.get(4))?;
    let me = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .display()
        .to_string();
    let lab = Lab::new("dsrbench");
    let seed = seed_topology(&lab).map_err(|e| e.to_string())?;
    seed.add_ipv6().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;

    // Forwarding: Fulcrum on ns0a balancing VIP:9 (both families) to ns0b only, once per plane;
    // the kernel phase once per family, while the first plane's daemon idles.
    let mut kernel: Vec<(Family, Rates)> = Vec::new();
    let mut runs = Vec::new();
    let mut profiles = Vec::new();
    for (&plane, &path) in planes
        .iter()
        .flat_map(|plane| paths.iter().map(move |path| (plane, path)))
    {
        let name = format!("flood-{}-{path:?}", plane.name());
        path.apply(&seed)?;
        let config = path.config(&plane.config(FLOOD_CONFIG));
        let fulcrum = start_fulcrum(&seed, &bin, dir.path(), &name, &config)?;
        std::thread::sleep(Duration::from_millis(1500));
        let mut dsr = Vec::new();
        for &family in &families {
            // Warm up ARP (neighbour discovery) on the router for both destinations.
            let _ = run_flood(&seed, &me, family.ns0b(), 0.2);
            let _ = run_flood(&seed, &me, family.vip(), 0.2);
            if !kernel.iter().any(|(f, _)| *f == family) {
                let rates = phase(&seed, &me, family.ns0b(), seconds, fulcrum.pid)?;
                kernel.push((family, rates));
            }
            let recording = profile::wanted()
                .then(|| {
                    let tag = format!("{}-{path:?}-{}", plane.name(), family.name());
                    profile::start(fulcrum.pid, dir.path(), &tag)
                })
                .flatten();
            dsr.push((
                family,
                phase(&seed, &me, family.vip(), seconds, fulcrum.pid)?,
            ));
            if let Some(recording) = recording {
                let top = recording.report(
                    "fulcrum-dsr-0,fulcrum-dsr-1,fulcrum-xsk-0,fulcrum-xsk-1",
                    25,
                );
                profiles.push((run_label(plane, path, family), family, top));
            }
        }
        stop_fulcrum(fulcrum);
        let log =
            std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
        runs.push(PlaneRun {
            plane,
            path,
            dsr,
            log,
        });
    }
    Path::OnLink.apply(&seed)?;
    report::forwarding(seconds, &kernel, &runs);
    report::profiles(&profiles);

    // DNS: the seed configuration, both Bind9 nodes, once per plane; each target directly once.
    let _bind9 = seed.start_bind9_dual().map_err(|e| e.to_string())?;
    seed.ns0a
        .addr("eth1", "10.235.210.45/32")
        .map_err(|e| e.to_string())?;
    let dns_seconds = seconds.round().max(1.0) as u32;
    let mut vip_qps = Vec::new();
    for &plane in &planes {
        let name = format!("seed-{}", plane.name());
        let config = plane.config(&seed_dual_config());
        let fulcrum = start_fulcrum(&seed, &bin, dir.path(), &name, &config)?;
        for &family in &families {
            dns::wait_answer(&seed, family.vip())?;
            let qps = dns::dnsperf(&seed, dir.path(), family.vip(), dns_seconds)?;
            vip_qps.push((plane, family, qps));
        }
        stop_fulcrum(fulcrum);
    }
    let mut direct_qps = Vec::new();
    for &family in &families {
        let qps = dns::dnsperf(&seed, dir.path(), family.ns0b(), dns_seconds)?;
        direct_qps.push((family, qps));
    }
    report::dns(dns_seconds, &vip_qps, &direct_qps);
    Ok(())
}
