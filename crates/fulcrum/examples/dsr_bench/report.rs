//! The benchmark's Markdown output: the forwarding table (the kernel path per family, then each
//! plane x family DSR phase), each plane's own counters and whether it ran the plane asked for,
//! the optional profiles, and the dnsperf table.

use crate::daemon::{plane_check, plane_counter, Plane};
use crate::route::Path;
use crate::traffic::{Rates, PAYLOAD};
use crate::{plane_label, run_label, Family, PlaneRun};

fn per_core(frames: f64, cores: f64) -> f64 {
    if cores > 0.01 {
        frames / cores
    } else {
        0.0
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}

pub fn forwarding(seconds: f64, kernel: &[(Family, Rates)], runs: &[PlaneRun]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("## DSR forwarding ({cores} cores, {seconds} s per phase, {PAYLOAD}-byte UDP payload, 200 sources)");
    println!();
    println!("| family | path | generator sent pps | router forwarded pps | ns0a eth1 (Fulcrum) tx pps | forwarded of the router's | ns0b eth0 rx pps | Fulcrum CPU (cores) | DSR workers (cores) | machine softirq (cores) | frames per core-second (process) | frames per worker core-second |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (family, k) in kernel {
        println!(
            "| {} | kernel forwarding only: client -> router -> ns0b | {:.0} | {:.0} | | | {:.0} | | | {:.2} | | |",
            family.name(),
            k.sent,
            k.router,
            k.delivered,
            k.softirq_cores
        );
    }
    for run in runs {
        for (family, r) in &run.dsr {
            println!(
                "| {} | {}: client -> router -> VIP -> Fulcrum -> ns0b | {:.0} | {:.0} | {:.0} | {:.1} % | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
                family.name(),
                run_label(run.plane, run.path, *family),
                r.sent,
                r.router,
                r.dsr,
                100.0 * ratio(r.dsr, r.router),
                r.delivered,
                r.fulcrum_cores,
                r.worker_cores,
                r.softirq_cores,
                per_core(r.dsr, r.fulcrum_cores),
                per_core(r.dsr, r.worker_cores),
            );
        }
    }
    println!();
    if runs
        .iter()
        .any(|run| run.plane == Plane::AfXdp && run.dsr.iter().any(|(f, _)| *f == Family::V6))
    {
        println!(
            "AF_XDP steers IPv4 only: the IPv6 rows of the AF_XDP interface measure its AF_PACKET workers (fulcrum-dsr-N), which run beside the AF_XDP workers (fulcrum-xsk-N) on an `access xdp` interface."
        );
    }
    for run in runs {
        let name = match run.path {
            Path::OnLink => run.plane.name().to_string(),
            Path::Routed => format!("{}, {}", run.plane.name(), run.path.name()),
        };
        if let Err(reason) = plane_check(run.plane, &run.log) {
            println!("{name}: NOT MEASURED AS ASKED, the daemon fell back: {reason}");
        }
        if run.path == Path::Routed && !run.log.contains("dsr: frames routed to") {
            if let Some(line) = run
                .log
                .lines()
                .find(|l| l.contains("cannot take the frames"))
            {
                println!("{name}: NOT MEASURED AS ASKED, routed frames stay the kernel's: {line}");
            }
        }
        println!(
            "{name}: Fulcrum's counters over its flood phases (all families): frames-in {}, forwarded {}, drop-ring-full {} (lost while the workers were off the CPU), drop-tx-full {}",
            plane_counter(&run.log, "frames-in"),
            plane_counter(&run.log, "forwarded"),
            plane_counter(&run.log, "drop-ring-full"),
            plane_counter(&run.log, "drop-tx-full"),
        );
    }
}

pub fn profiles(profiles: &[(String, Family, String)]) {
    for (label, family, top) in profiles {
        println!();
        println!(
            "## Profile of the {label} workers in the {} DSR phase (perf)",
            family.name()
        );
        println!();
        println!("```\n{top}\n```");
    }
}

pub fn dns(seconds: u32, vip_qps: &[(Plane, Family, f64)], direct_qps: &[(Family, f64)]) {
    println!();
    println!("## dnsperf ({seconds} s each, 8 clients, 200 outstanding, one source address)");
    println!();
    println!("| family | to | QPS | VIP / direct |");
    println!("|---|---|---:|---:|");
    for (plane, family, qps) in vip_qps {
        let direct = direct_qps
            .iter()
            .find(|(f, _)| f == family)
            .map_or(0.0, |(_, q)| *q);
        println!(
            "| {} | VIP {} (Fulcrum DSR on {}, seed configuration) | {qps:.0} | {:.2} |",
            family.name(),
            family.vip(),
            plane_label(*plane, *family),
            ratio(*qps, direct)
        );
    }
    for (family, qps) in direct_qps {
        println!(
            "| {} | ns0b {} directly | {qps:.0} | |",
            family.name(),
            family.ns0b()
        );
    }
}
