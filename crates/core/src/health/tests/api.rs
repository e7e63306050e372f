//! Scheduler behaviour outside the scenario tables: catch-up after a stalled caller, probe
//! parameters, extra checks, status lines, and a seeded random walk over the invariants.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::{config_of, configure, target};
use crate::health::*;

#[test]
fn a_late_caller_gets_one_probe_not_a_burst() {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    configure(&mut scheduler, t0, &[target("2 ping 1,3")]);
    while scheduler.poll_output().is_some() {}
    // The driver was stalled for 2.5 s: probes due at 1 and 2 collapse into one.
    scheduler.handle_timeout(t0 + Duration::from_millis(2500));
    let probes = std::iter::from_fn(|| scheduler.poll_output())
        .filter(|o| matches!(o, Output::Probe(_)))
        .count();
    assert_eq!(probes, 1);
    assert_eq!(scheduler.poll_timeout(), Some(t0 + Duration::from_secs(3)));
}

#[test]
fn probe_requests_carry_what_the_driver_needs() {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    configure(
        &mut scheduler,
        t0,
        &[target("2 dns balanceng.net,5,12 agent 439,5,13")],
    );
    let probes: Vec<ProbeRequest> = std::iter::from_fn(|| scheduler.poll_output())
        .filter_map(|o| match o {
            Output::Probe(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0].probe, Probe::Agent { port: 439 });
    assert_eq!(
        probes[1].probe,
        Probe::Dns {
            zone: "balanceng.net".to_string()
        }
    );
    assert_eq!(probes[0].addr, IpAddr::V4(Ipv4Addr::new(10, 235, 210, 42)));
    assert_eq!(probes[0].reply_within, Duration::from_secs(5));
}

/// A seeded random walk of results and reconfigurations checking the invariants after every
/// step: operational iff enabled and no check down; every transition output matches a change
/// of `is_operational`; the next timeout is never in the past.
#[test]
fn random_walk_keeps_outputs_consistent_with_state() {
    for seed in 0..200u64 {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let t0 = Instant::now();
        let mut now = t0;
        let mut scheduler = Scheduler::new();
        let configs = [
            vec![
                target("1 ping 1,3 agent 439,2,5"),
                target("2 tcpopen 53,1,2"),
            ],
            vec![
                target("1 ping 1,3"),
                target("2 tcpopen 53,1,2 disabled"),
                target("3 dns z,1,4"),
            ],
        ];
        configure(&mut scheduler, now, &configs[0]);
        let mut operational = std::collections::BTreeMap::new();
        let mut outstanding = Vec::new();
        for _ in 0..300 {
            match next() % 10 {
                0 => configure(&mut scheduler, now, &configs[(next() % 2) as usize]),
                1..=5 if !outstanding.is_empty() => {
                    let index = (next() as usize) % outstanding.len();
                    let p: ProbeRequest = outstanding.swap_remove(index);
                    let result = ProbeResult {
                        target: p.target,
                        check: p.probe.kind(),
                        id: p.id,
                        ok: next() % 3 != 0,
                        rtt: Some(Duration::from_millis(next() % 50)),
                        value: Some((next() % 3) as u32),
                        detail: String::new(),
                    };
                    scheduler.handle_input(now, Input::ProbeResult(result));
                }
                _ => {
                    let step = Duration::from_millis(next() % 1500);
                    let limit = now + step;
                    while let Some(when) = scheduler.poll_timeout().filter(|w| *w <= limit) {
                        assert!(when >= now, "seed {seed}: timeout in the past");
                        now = when;
                        scheduler.handle_timeout(now);
                    }
                    now = limit;
                }
            }
            while let Some(output) = scheduler.poll_output() {
                match output {
                    Output::Probe(p) => outstanding.push(p),
                    Output::TargetUp { target, .. } => {
                        assert_ne!(operational.insert(target, true), Some(true), "seed {seed}");
                    }
                    Output::TargetDown { target, .. } => {
                        assert_ne!(
                            operational.insert(target, false),
                            Some(false),
                            "seed {seed}"
                        );
                    }
                    Output::AgentValue { .. } => {}
                }
            }
            for status in scheduler.statuses() {
                let healthy = status.checks.iter().all(|c| c.state.passing());
                assert_eq!(status.operational, status.enabled && healthy, "seed {seed}");
                assert_eq!(
                    operational.get(&status.id),
                    Some(&status.operational),
                    "seed {seed}"
                );
            }
        }
    }
}

#[test]
fn an_extra_dsr_path_check_counts_like_a_configured_one() {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    let vip = IpAddr::V4(Ipv4Addr::new(10, 235, 210, 1));
    let dsr = CheckSpec::new(Probe::DsrPath { vip, port: 53 }, 5, 12);
    // A duplicate kind from the extras is ignored; the configured ping stays.
    let extra = BTreeMap::from([(2, vec![dsr.clone(), CheckSpec::new(Probe::Ping, 1, 2)])]);
    scheduler.set_targets_with_extra(t0, &[target("2 ping 5,12")], &extra);
    let probes: Vec<ProbeRequest> = std::iter::from_fn(|| scheduler.poll_output())
        .filter_map(|o| match o {
            Output::Probe(p) => Some(p),
            _ => None,
        })
        .collect();
    let kinds: Vec<CheckKind> = probes.iter().map(|p| p.probe.kind()).collect();
    assert_eq!(kinds, [CheckKind::Ping, CheckKind::DsrPath]);
    assert_eq!(
        probes[0].reply_within,
        Duration::from_secs(5),
        "configured ping kept"
    );
    let ping = ProbeResult {
        target: 2,
        check: CheckKind::Ping,
        id: probes[0].id,
        ok: true,
        rtt: None,
        value: None,
        detail: String::new(),
    };
    scheduler.handle_input(t0, Input::ProbeResult(ping));
    // Ping keeps answering, the VIP path never does: down at 12 s.
    let mut downs = Vec::new();
    for second in 1..=12 {
        let now = t0 + Duration::from_secs(second);
        scheduler.handle_timeout(now);
        while let Some(output) = scheduler.poll_output() {
            match output {
                Output::Probe(p) if p.probe.kind() == CheckKind::Ping => {
                    let result = ProbeResult {
                        target: 2,
                        check: CheckKind::Ping,
                        id: p.id,
                        ok: true,
                        rtt: None,
                        value: None,
                        detail: String::new(),
                    };
                    scheduler.handle_input(now, Input::ProbeResult(result));
                }
                Output::TargetDown { reason, .. } => downs.push((second, reason)),
                _ => {}
            }
        }
    }
    assert_eq!(downs, [(12, "dsr-path no reply for 12 s".to_string())]);
}

#[test]
fn a_configuration_brings_its_implied_dsr_path_checks() {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    let vip = IpAddr::V4(Ipv4Addr::new(10, 235, 210, 1));
    let mut dsr_target = target("2 ping 5,12");
    dsr_target.dsr = true;
    let mut config = (*config_of(&[dsr_target, target("3 ping 5,12")])).clone();
    let mut server = crate::model::Server::new(1, vip);
    server.port = 53;
    server.targets = vec![2, 3];
    server.registered = true;
    server.enabled = true;
    config.servers.insert(1, server);
    scheduler.handle_input(t0, Input::Reconfigure(std::sync::Arc::new(config)));
    let probes: Vec<(u32, Probe)> = std::iter::from_fn(|| scheduler.poll_output())
        .filter_map(|o| match o {
            Output::Probe(p) => Some((p.target, p.probe)),
            _ => None,
        })
        .collect();
    assert_eq!(
        probes,
        [
            (2, Probe::Ping),
            (2, Probe::DsrPath { vip, port: 53 }),
            (3, Probe::Ping)
        ]
    );
}

#[test]
fn check_status_lines_for_show_targets() {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    configure(
        &mut scheduler,
        t0,
        &[target("2 agent 439,5,13 dns balanceng.net,5,12")],
    );
    let agent_probe = std::iter::from_fn(|| scheduler.poll_output())
        .find_map(|o| match o {
            Output::Probe(p) if p.probe.kind() == CheckKind::Agent => Some(p),
            _ => None,
        })
        .expect("agent probe");
    let at = t0 + Duration::from_millis(1);
    let result = ProbeResult {
        target: 2,
        check: CheckKind::Agent,
        id: agent_probe.id,
        ok: true,
        rtt: Some(Duration::from_micros(400)),
        value: Some(3),
        detail: String::new(),
    };
    scheduler.handle_input(at, Input::ProbeResult(result));
    let now = t0 + Duration::from_secs(7);
    scheduler.handle_timeout(now);
    let status = scheduler.status(2).expect("target 2");
    let lines: Vec<String> = status.checks.iter().map(|c| c.describe(now)).collect();
    assert_eq!(
        lines,
        [
            "agent 439,5,13 up for 6 s; last ok (value 3) 6 s ago, rtt 0.4 ms; 0 failures (0 in a row)",
            "dns balanceng.net,5,12 pending for 7 s; last failed (no reply) 2 s ago; 1 failures (1 in a row)",
        ]
    );
}
