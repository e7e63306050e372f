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
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

mod api;
mod golden;
use crate::model::{Config, DnsCheck, PingCheck, PortCheck, Target};

/// The configuration holding `targets` (no servers), as the driver hands one in.
pub(super) fn config_of(targets: &[Target]) -> Arc<Config> {
    let mut config = Config::default();
    for target in targets {
        config.targets.insert(target.id, target.clone());
    }
    Arc::new(config)
}

/// Configures `scheduler` with `targets` through its one entry for a configuration.
pub(super) fn configure(scheduler: &mut Scheduler, now: Instant, targets: &[Target]) {
    scheduler.handle_input(now, Input::Reconfigure(config_of(targets)));
}

pub(super) fn target(spec: &str) -> Target {
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
        let targets: Vec<Target> = specs.split('|').map(target).collect();
        return Input::Reconfigure(config_of(&targets));
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
pub(super) fn scenario(targets: &[&str], script: &str) -> Scheduler {
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
    configure(&mut scheduler, t0, &configured);
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
