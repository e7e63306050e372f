//! Golden scenarios: a script of timed inputs (`<-` lines) and the outputs expected at each
//! time. The runner drives the scheduler as a driver would (calling `handle_timeout` whenever
//! `poll_timeout` says, up to each input's time and the script's last time) and compares the
//! whole transcript, so an extra, missing or mistimed output fails the test.
//!
//! Script lines: `TIME TEXT`, TIME in seconds (`15` or `15.2`). Outputs render as
//! `probe T KIND #ID`, `up T: REASON`, `down T: REASON` (`[admin]` appended for configuration
//! causes) and `agent T value N`. Inputs: `<- T KIND #ID ok|fail [rtt=MS] [value=N] [detail=WORD]`
//! and `<- config SPEC | SPEC ...` with SPEC = `ID [ping I,T] [tcpopen P,I,T] [agent P,I,T]
//! [dns ZONE,I,T] [disabled]`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;
use crate::model::{DnsCheck, PingCheck, PortCheck, Target};

fn target(spec: &str) -> Target {
    let mut words = spec.split_whitespace();
    let id: u32 = words
        .next()
        .and_then(|w| w.parse().ok())
        .expect("target id");
    let mut target = Target::new(id, IpAddr::V4(Ipv4Addr::new(10, 235, 210, 40 + id as u8)));
    target.registered = true;
    target.enabled = true;
    while let Some(word) = words.next() {
        let numbers = |words: &mut std::str::SplitWhitespace| -> Vec<String> {
            let arg = words.next().expect("check arguments");
            arg.split(',').map(str::to_string).collect()
        };
        let n = |s: &String| -> u32 { s.parse().expect("number") };
        match word {
            "ping" => {
                let a = numbers(&mut words);
                target.ping = Some(PingCheck {
                    interval: n(&a[0]),
                    timeout: n(&a[1]),
                });
            }
            "tcpopen" | "agent" => {
                let a = numbers(&mut words);
                let check = Some(PortCheck {
                    port: n(&a[0]) as u16,
                    interval: n(&a[1]),
                    timeout: n(&a[2]),
                });
                if word == "agent" {
                    target.agent = check;
                } else {
                    target.tcpopen = check;
                }
            }
            "dns" => {
                let a = numbers(&mut words);
                target.dns = Some(DnsCheck {
                    zone: a[0].clone(),
                    interval: n(&a[1]),
                    timeout: n(&a[2]),
                });
            }
            "disabled" => target.enabled = false,
            other => panic!("unknown target word {other:?}"),
        }
    }
    target
}

fn kind(word: &str) -> CheckKind {
    match word {
        "ping" => CheckKind::Ping,
        "tcpopen" => CheckKind::TcpOpen,
        "agent" => CheckKind::Agent,
        "dns" => CheckKind::Dns,
        other => panic!("unknown check {other:?}"),
    }
}

fn render(output: &Output) -> String {
    let admin = |cause: &Cause| {
        if *cause == Cause::Admin {
            " [admin]"
        } else {
            ""
        }
    };
    match output {
        Output::Probe(p) => format!("probe {} {} #{}", p.target, p.probe.kind().keyword(), p.id),
        Output::TargetUp {
            target,
            reason,
            cause,
        } => format!("up {target}: {reason}{}", admin(cause)),
        Output::TargetDown {
            target,
            reason,
            cause,
        } => format!("down {target}: {reason}{}", admin(cause)),
        Output::AgentValue { target, value } => format!("agent {target} value {value}"),
    }
}

fn parse_time(word: &str) -> Duration {
    let seconds: f64 = word.parse().expect("time in seconds");
    Duration::from_millis((seconds * 1000.0).round() as u64)
}

fn show_time(at: Duration) -> String {
    if at.subsec_millis() == 0 {
        at.as_secs().to_string()
    } else {
        format!("{}.{}", at.as_secs(), at.subsec_millis() / 100)
    }
}

fn parse_input(text: &str) -> Input {
    if let Some(specs) = text.strip_prefix("config ") {
        return Input::Reconfigure(specs.split('|').map(target).collect());
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut result = ProbeResult {
        target: words[0].parse().expect("target"),
        check: kind(words[1]),
        id: words[2].trim_start_matches('#').parse().expect("#id"),
        ok: words[3] == "ok",
        rtt: None,
        value: None,
        detail: String::new(),
    };
    for word in &words[4..] {
        match word.split_once('=') {
            Some(("rtt", ms)) => result.rtt = Some(Duration::from_millis(ms.parse().expect("ms"))),
            Some(("value", v)) => result.value = Some(v.parse().expect("value")),
            Some(("detail", d)) => result.detail = d.replace('_', " "),
            _ => panic!("unknown result word {word:?}"),
        }
    }
    Input::ProbeResult(result)
}

/// Runs `script` against a scheduler configured with `targets` at time 0 and returns the
/// scheduler for further assertions.
#[track_caller]
fn scenario(targets: &[&str], script: &str) -> Scheduler {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    let mut transcript = Vec::new();
    let drain = |scheduler: &mut Scheduler, at: Duration, transcript: &mut Vec<String>| {
        while let Some(output) = scheduler.poll_output() {
            transcript.push(format!("{} {}", show_time(at), render(&output)));
        }
    };
    let advance = |scheduler: &mut Scheduler, to: Duration, transcript: &mut Vec<String>| {
        while let Some(when) = scheduler.poll_timeout() {
            if when > t0 + to {
                break;
            }
            scheduler.handle_timeout(when);
            drain(scheduler, when - t0, transcript);
        }
    };
    let configured: Vec<Target> = targets.iter().map(|spec| target(spec)).collect();
    scheduler.set_targets(t0, &configured);
    drain(&mut scheduler, Duration::ZERO, &mut transcript);

    let expected: Vec<String> = script
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (time, text) = line.split_once(char::is_whitespace).expect("TIME TEXT");
            format!("{} {}", show_time(parse_time(time)), text.trim())
        })
        .collect();
    let mut end = Duration::ZERO;
    for line in &expected {
        let (time, text) = line.split_once(' ').expect("TIME TEXT");
        let at = parse_time(time);
        end = end.max(at);
        if let Some(input) = text.strip_prefix("<- ") {
            advance(&mut scheduler, at, &mut transcript);
            transcript.push(line.clone());
            scheduler.handle_input(t0 + at, parse_input(input));
            drain(&mut scheduler, at, &mut transcript);
        }
    }
    advance(&mut scheduler, end, &mut transcript);
    assert_eq!(
        transcript.join("\n"),
        expected.join("\n"),
        "\n--- got:\n{}\n--- expected:\n{}",
        transcript.join("\n"),
        expected.join("\n")
    );
    scheduler
}

#[test]
fn seed_ping_5_12_goes_down_at_12_and_up_on_the_next_reply() {
    let scheduler = scenario(
        &["2 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        5  probe 2 ping #2
        10 probe 2 ping #3
        12 down 2: ping no reply for 12 s
        15 probe 2 ping #4
        15 <- 2 ping #4 ok rtt=1
        15 up 2: ping ok
        ",
    );
    let status = scheduler.status(2).expect("target 2");
    assert!(status.operational);
    let ping = &status.checks[0];
    assert_eq!(ping.state, CheckState::Up);
    assert_eq!(ping.failures, 3, "probes 1-3 went unanswered");
    assert_eq!(ping.consecutive_failures, 0);
    assert_eq!(ping.last_rtt, Some(Duration::from_millis(1)));
    assert_eq!(scheduler.counters().probes_unanswered, 3);
}

#[test]
fn replies_keep_a_target_up_and_the_timeout_counts_from_the_last_success() {
    scenario(
        &["2 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0.1 <- 2 ping #1 ok rtt=100
        5  probe 2 ping #2
        5.1 <- 2 ping #2 ok
        10 probe 2 ping #3
        15 probe 2 ping #4
        17.1 down 2: ping no reply for 12 s
        20 probe 2 ping #5
        ",
    );
}

#[test]
fn a_failure_detail_from_the_driver_becomes_the_down_reason() {
    scenario(
        &["2 tcpopen 53,5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 tcpopen #1
        0  <- 2 tcpopen #1 fail detail=connection_refused
        5  probe 2 tcpopen #2
        5  <- 2 tcpopen #2 fail detail=connection_refused
        10 probe 2 tcpopen #3
        10 <- 2 tcpopen #3 fail detail=connection_refused
        12 down 2: tcpopen connection refused for 12 s
        ",
    );
}

#[test]
fn seed_checks_where_only_the_agent_fails() {
    // The seed's three checks; ping and tcpopen answer, the agent never does.
    let scheduler = scenario(
        &["2 ping 5,12 agent 439,5,13 tcpopen 53,5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0  probe 2 tcpopen #2
        0  probe 2 agent #3
        0  <- 2 ping #1 ok
        0  <- 2 tcpopen #2 ok
        5  probe 2 ping #4
        5  probe 2 tcpopen #5
        5  probe 2 agent #6
        5  <- 2 ping #4 ok
        5  <- 2 tcpopen #5 ok
        10 probe 2 ping #7
        10 probe 2 tcpopen #8
        10 probe 2 agent #9
        10 <- 2 ping #7 ok
        10 <- 2 tcpopen #8 ok
        13 down 2: agent no reply for 13 s
        15 probe 2 ping #10
        15 probe 2 tcpopen #11
        15 probe 2 agent #12
        15 <- 2 ping #10 ok
        15 <- 2 agent #12 ok value=3
        15 agent 2 value 3
        15 up 2: agent ok
        ",
    );
    let status = scheduler.status(2).expect("target 2");
    let states: Vec<&str> = status.checks.iter().map(|c| c.state.keyword()).collect();
    // tcpopen #11 is still in flight, but tcpopen's last success (10) is recent enough.
    assert_eq!(states, ["up", "up", "up"]);
    assert_eq!(scheduler.agent_value(2), Some(3));
}

#[test]
fn an_agent_value_of_zero_is_a_failure_and_takes_the_target_out_after_the_timeout() {
    scenario(
        &["2 agent 439,5,13"],
        "
        0  up 2: configured [admin]
        0  probe 2 agent #1
        0  <- 2 agent #1 ok value=7
        0  agent 2 value 7
        5  probe 2 agent #2
        5  <- 2 agent #2 ok value=0
        5  agent 2 value 0
        10 probe 2 agent #3
        10 <- 2 agent #3 ok value=0
        13 down 2: agent value 0 for 13 s
        15 probe 2 agent #4
        15 <- 2 agent #4 ok value=1
        15 agent 2 value 1
        15 up 2: agent ok
        ",
    );
}

#[test]
fn two_targets_are_independent() {
    scenario(
        &["1 ping 1,3", "2 ping 1,3"],
        "
        0 up 1: configured [admin]
        0 up 2: configured [admin]
        0 probe 1 ping #1
        0 probe 2 ping #2
        0 <- 1 ping #1 ok
        1 probe 1 ping #3
        1 probe 2 ping #4
        1 <- 1 ping #3 ok
        2 probe 1 ping #5
        2 probe 2 ping #6
        2 <- 1 ping #5 ok
        3 probe 1 ping #7
        3 down 2: ping no reply for 3 s
        3 probe 2 ping #8
        3 <- 1 ping #7 ok
        ",
    );
}

#[test]
fn reconfigure_keeps_unchanged_checks_and_invalidates_probes_of_changed_ones() {
    let scheduler = scenario(
        &["2 ping 5,12 tcpopen 53,5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0  probe 2 tcpopen #2
        0  <- 2 ping #1 ok
        0  <- 2 tcpopen #2 ok
        5  probe 2 ping #3
        5  probe 2 tcpopen #4
        6  <- config 2 ping 5,12 tcpopen 5353,5,12
        6  probe 2 tcpopen #5
        6  <- 2 tcpopen #4 ok
        6  <- 2 ping #3 ok
        10 probe 2 ping #6
        11 probe 2 tcpopen #7
        12 down 2: tcpopen no reply for 12 s
        ",
    );
    // tcpopen #4 was sent to the old port: its late answer proves nothing about port 5353.
    assert_eq!(scheduler.counters().stale_probe, 1);
    let status = scheduler.status(2).expect("target 2");
    assert_eq!(
        status.checks[0].state,
        CheckState::Up,
        "ping kept its state"
    );
    assert_eq!(
        status.checks[1].spec.probe,
        Probe::TcpOpen { port: 5353 },
        "tcpopen took the new port"
    );
}

#[test]
fn reconfigure_adds_and_removes_checks_and_targets() {
    scenario(
        &["2 ping 5,12", "3 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  up 3: configured [admin]
        0  probe 2 ping #1
        0  probe 3 ping #2
        5  probe 2 ping #3
        5  probe 3 ping #4
        7  <- config 2 ping 5,12 dns example.org,5,12 | 4 ping 5,12
        7  down 3: removed from the configuration [admin]
        7  up 4: configured [admin]
        7  probe 2 dns #5
        7  probe 4 ping #6
        7  <- 3 ping #4 ok
        10 probe 2 ping #7
        12 down 2: ping no reply for 12 s
        12 probe 2 dns #8
        12 probe 4 ping #9
        ",
    );
}

#[test]
fn disabling_and_enabling_is_an_admin_transition_and_keeps_health() {
    let scheduler = scenario(
        &["2 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0  <- 2 ping #1 ok
        3  <- config 2 ping 5,12 disabled
        3  down 2: disabled [admin]
        5  probe 2 ping #2
        5  <- 2 ping #2 ok
        8  <- config 2 ping 5,12
        8  up 2: enabled [admin]
        ",
    );
    assert!(scheduler.is_operational(2));
}

#[test]
fn a_disabled_new_target_is_reported_down_and_still_probed() {
    scenario(
        &["2 ping 5,12 disabled"],
        "
        0 down 2: configured, disabled [admin]
        0 probe 2 ping #1
        0 <- 2 ping #1 ok
        ",
    );
}

#[test]
fn a_target_without_checks_is_operational_and_never_probed() {
    let scheduler = scenario(&["2"], "0 up 2: configured [admin]");
    assert_eq!(scheduler.poll_timeout(), None);
}

#[test]
fn stale_unknown_and_mismatched_results_are_counted_and_ignored() {
    let scheduler = scenario(
        &["2 ping 5,12", "3 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  up 3: configured [admin]
        0  probe 2 ping #1
        0  probe 3 ping #2
        1  <- 2 ping #99 ok
        1  <- 3 ping #1 ok
        1  <- 2 tcpopen #1 ok
        1  <- 2 ping #1 ok
        1  <- 2 ping #1 ok
        5  probe 2 ping #3
        5  probe 3 ping #4
        6  <- 3 ping #2 ok
        10 probe 2 ping #5
        10 probe 3 ping #6
        12 down 3: ping no reply for 12 s
        ",
    );
    let counters = scheduler.counters();
    assert_eq!(
        counters.stale_probe, 3,
        "#99, #1 twice answered, #2 expired at 5"
    );
    assert_eq!(
        counters.mismatched_probe, 2,
        "#1 claimed by target 3 and by tcpopen"
    );
    assert_eq!(counters.results_accepted, 1);
}

#[test]
fn a_late_caller_gets_one_probe_not_a_burst() {
    let t0 = Instant::now();
    let mut scheduler = Scheduler::new();
    scheduler.set_targets(t0, &[target("2 ping 1,3")]);
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
    scheduler.set_targets(t0, &[target("2 dns balanceng.net,5,12 agent 439,5,13")]);
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
        scheduler.set_targets(now, &configs[0]);
        let mut operational = std::collections::BTreeMap::new();
        let mut outstanding = Vec::new();
        for _ in 0..300 {
            match next() % 10 {
                0 => scheduler.set_targets(now, &configs[(next() % 2) as usize]),
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
