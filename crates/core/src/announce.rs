//! Which virtual addresses a node announces to its routers (active-active through BIRD), and why
//! it holds back the others.
//!
//! Contract: [`decide`] takes the configuration, each target's health verdict and whether the
//! data plane that serves each server runs, and returns one [`Decision`] per server the
//! `announce` block names (every active server when it names none), in server order. A server's
//! VIP is announced exactly when the node can serve it: the server is registered and enabled,
//! its plane runs, and at least one of its enabled targets is operational. Otherwise the
//! decision carries the first reason that holds, in that order, as `show announce` prints it.
//! [`hold_for_sync`] holds every VIP back while a joining node waits for its peers' sessions;
//! [`Settle`] holds a newly servable VIP back until it has stayed servable for a while (every
//! data plane has taken the verdict by then, and a flapping target does not flap the route)
//! and until each of its targets' checks has had its first result (a node that starts counts
//! an unprobed target as up, and would otherwise send new clients to a dead one, placing them
//! where its peers, which know better, would not); withdrawals take effect at once. Pure: the caller owns the interface and the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::model::Config;

/// Why a VIP is not announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The `announce` block names a server the configuration does not have.
    NoSuchServer,
    /// The server is unregistered or disabled.
    ServerDisabled,
    /// The data plane that serves the server is not running.
    PlaneStopped,
    /// The DSR plane runs but cannot take the frames routers send to this node's own MAC
    /// (its XDP program is not attached: the log says why).
    NoRoutedFrames,
    /// None of the server's enabled targets is operational.
    NoTargetUp,
    /// Servable, but the node has not yet received the session table from a sync peer
    /// ([`hold_for_sync`]).
    Syncing,
    /// Servable, but not yet for long enough ([`Settle`]).
    Settling,
}

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Withheld::NoSuchServer => "no such server",
            Withheld::ServerDisabled => "server disabled",
            Withheld::PlaneStopped => "data plane not running",
            Withheld::NoRoutedFrames => "DSR plane cannot take routed frames (no XDP program)",
            Withheld::NoTargetUp => "no target up",
            Withheld::Syncing => "waiting for the session table from a sync peer",
            Withheld::Settling => "settling",
        })
    }
}

/// One server's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub server: u32,
    /// The VIP (`None` for a server the configuration lacks).
    pub vip: Option<IpAddr>,
    /// Enabled targets of the server that are operational.
    pub targets_up: usize,
    /// `Ok(())`: announce; `Err`: withhold, and why.
    pub verdict: Result<(), Withheld>,
}

impl Decision {
    pub fn announced(&self) -> bool {
        self.verdict.is_ok()
    }

    /// The address to hold while announced, with its host prefix length (32 or 128).
    pub fn address(&self) -> Option<(IpAddr, u8)> {
        match (self.verdict, self.vip) {
            (Ok(()), Some(vip)) => Some((vip, if vip.is_ipv4() { 32 } else { 128 })),
            _ => None,
        }
    }
}

/// The decisions for every announced server (none without an `announce` block).
/// `operational(target)`: the health verdict; `plane(server)`: whether its data plane serves it
/// (`Err`: [`Withheld::PlaneStopped`] or [`Withheld::NoRoutedFrames`]).
pub fn decide(
    config: &Config,
    operational: impl Fn(u32) -> bool,
    plane: impl Fn(u32) -> Result<(), Withheld>,
) -> Vec<Decision> {
    let Some(announce) = &config.announce else {
        return Vec::new();
    };
    let mut ids: Vec<u32> = if announce.servers.is_empty() {
        config.active_servers().map(|s| s.id).collect()
    } else {
        announce.servers.clone()
    };
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let Some(server) = config.servers.get(&id) else {
                return Decision {
                    server: id,
                    vip: None,
                    targets_up: 0,
                    verdict: Err(Withheld::NoSuchServer),
                };
            };
            let targets_up = server
                .targets
                .iter()
                .filter_map(|t| config.targets.get(t))
                .filter(|t| t.registered && t.enabled && operational(t.id))
                .count();
            let verdict = if !(server.registered && server.enabled) {
                Err(Withheld::ServerDisabled)
            } else if let Err(why) = plane(id) {
                Err(why)
            } else if targets_up == 0 {
                Err(Withheld::NoTargetUp)
            } else {
                Ok(())
            };
            Decision {
                server: id,
                vip: Some(server.ipaddr),
                targets_up,
                verdict,
            }
        })
        .collect()
}

/// A node joining active-active peers announces nothing it could serve until it holds their
/// sessions (`joined`: [`crate::sync::Coordinator::joined`] says it may), so a client the
/// routers move to it keeps its target.
pub fn hold_for_sync(joined: bool, decisions: &mut [Decision]) {
    if joined {
        return;
    }
    for decision in decisions.iter_mut().filter(|d| d.verdict.is_ok()) {
        decision.verdict = Err(Withheld::Syncing);
    }
}

/// Holds back each server's announcement until it has been servable for `settle` without a
/// break and its targets' first check results are in (see the module doc).
#[derive(Debug, Clone)]
pub struct Settle {
    settle: Duration,
    servable_since: BTreeMap<u32, Instant>,
    /// Servers announced since they last became servable: later pending checks (a reload that
    /// adds one) do not take them back.
    released: BTreeSet<u32>,
}

impl Settle {
    pub fn new(settle: Duration) -> Settle {
        Settle {
            settle,
            servable_since: BTreeMap::new(),
            released: BTreeSet::new(),
        }
    }

    /// Turns the announcements of servers servable for less than `settle` at `now`, or whose
    /// targets' checks still wait for a first result (`first_checks_pending(server)`), into
    /// [`Withheld::Settling`], unless they were announced already; forgets servers that are not
    /// servable.
    pub fn apply(
        &mut self,
        now: Instant,
        decisions: &mut [Decision],
        first_checks_pending: impl Fn(u32) -> bool,
    ) {
        let mut since = BTreeMap::new();
        let mut released = BTreeSet::new();
        for decision in decisions.iter_mut() {
            if decision.verdict.is_err() {
                continue;
            }
            let server = decision.server;
            let first = *self.servable_since.get(&server).unwrap_or(&now);
            since.insert(server, first);
            let settled = now.saturating_duration_since(first) >= self.settle;
            if self.released.contains(&server) || (settled && !first_checks_pending(server)) {
                released.insert(server);
            } else {
                decision.verdict = Err(Withheld::Settling);
            }
        }
        self.servable_since = since;
        self.released = released;
    }
}

/// `show announce`: the interface, then one line per server. `held(vip)`: the VIP is on the
/// interface now (a servable VIP not yet there is settling, or could not be added).
pub fn show(config: &Config, decisions: &[Decision], held: impl Fn(IpAddr) -> bool) -> String {
    let Some(announce) = &config.announce else {
        return "announce: not configured\n".to_string();
    };
    let mut out = format!("announce interface {}\n", announce.interface);
    for d in decisions {
        let vip = d.vip.map_or_else(|| "-".to_string(), |v| v.to_string());
        let state = match d.verdict {
            Ok(()) if d.vip.is_some_and(&held) => "announced".to_string(),
            Ok(()) => "pending (servable for less than the settle time, or not added: see the log)"
                .to_string(),
            Err(why) => format!("withdrawn ({why})"),
        };
        out.push_str(&format!(
            "server {} {vip}: {state}, {} target(s) up\n",
            d.server, d.targets_up
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Announce, Server, Target};

    fn config(servers: Vec<u32>) -> Config {
        let mut config = Config {
            announce: Some(Announce {
                interface: "fulcrum-vip".into(),
                servers,
            }),
            ..Config::default()
        };
        for (id, vip, targets) in [
            (1, "10.235.210.1", vec![1, 2]),
            (2, "fd00:235::1", vec![3]),
            (3, "10.235.210.3", vec![]),
        ] {
            let vip: IpAddr = vip.parse().unwrap();
            let mut server = Server::new(id, vip);
            server.targets = targets;
            (server.registered, server.enabled) = (true, true);
            config.servers.insert(id, server);
        }
        for id in 1..=3 {
            let mut target = Target::new(id, IpAddr::from([10, 235, 210, 10 + id as u8]));
            (target.registered, target.enabled) = (true, true);
            config.targets.insert(id, target);
        }
        config
    }

    #[test]
    fn each_server_is_announced_exactly_when_the_node_can_serve_it() {
        type Case = (
            &'static str,
            Vec<u32>,
            &'static [u32],
            bool,
            Vec<(u32, Result<(), Withheld>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "all up, every server",
                vec![],
                &[1, 2, 3],
                true,
                vec![(1, Ok(())), (2, Ok(())), (3, Err(Withheld::NoTargetUp))],
            ),
            (
                "one of two targets up",
                vec![1],
                &[2],
                true,
                vec![(1, Ok(()))],
            ),
            (
                "no target up",
                vec![1, 2],
                &[],
                true,
                vec![
                    (1, Err(Withheld::NoTargetUp)),
                    (2, Err(Withheld::NoTargetUp)),
                ],
            ),
            (
                "plane stopped beats targets",
                vec![1],
                &[1, 2],
                false,
                vec![(1, Err(Withheld::PlaneStopped))],
            ),
            (
                "unknown server",
                vec![9, 2],
                &[3],
                true,
                vec![(2, Ok(())), (9, Err(Withheld::NoSuchServer))],
            ),
        ];
        for (name, servers, up, plane, expected) in cases {
            let config = config(servers);
            let decisions = decide(
                &config,
                |t| up.contains(&t),
                |_| plane.then_some(()).ok_or(Withheld::PlaneStopped),
            );
            let got: Vec<_> = decisions.iter().map(|d| (d.server, d.verdict)).collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn disabled_servers_and_targets_are_not_counted() {
        let mut config = config(vec![1, 2]);
        config.targets.get_mut(&1).unwrap().enabled = false;
        config.servers.get_mut(&2).unwrap().enabled = false;
        let decisions = decide(&config, |_| true, |_| Ok(()));
        assert_eq!(decisions[0].targets_up, 1);
        assert_eq!(decisions[1].verdict, Err(Withheld::ServerDisabled));
        let all = decide(
            &Config {
                announce: config.announce.clone().map(|a| Announce {
                    servers: vec![],
                    ..a
                }),
                ..config.clone()
            },
            |_| true,
            |_| Ok(()),
        );
        assert_eq!(
            all.iter().map(|d| d.server).collect::<Vec<_>>(),
            vec![1, 3],
            "every active server"
        );
    }

    #[test]
    fn addresses_carry_host_prefixes_and_show_says_why() {
        let config = config(vec![]);
        let decisions = decide(&config, |t| t == 3, |_| Ok(()));
        assert_eq!(decisions[0].address(), None);
        assert_eq!(
            decisions[1].address(),
            Some(("fd00:235::1".parse().unwrap(), 128))
        );
        let text = show(&config, &decisions, |_| true);
        assert!(
            text.starts_with("announce interface fulcrum-vip\n"),
            "{text}"
        );
        assert!(
            text.contains("server 1 10.235.210.1: withdrawn (no target up), 0 target(s) up"),
            "{text}"
        );
        assert!(
            text.contains("server 2 fd00:235::1: announced, 1 target(s) up"),
            "{text}"
        );
        assert_eq!(decide(&Config::default(), |_| true, |_| Ok(())), vec![]);
        assert_eq!(
            show(&Config::default(), &[], |_| true),
            "announce: not configured\n"
        );
        let pending = show(&config, &decisions, |_| false);
        assert!(
            pending.contains("server 2 fd00:235::1: pending"),
            "{pending}"
        );
    }

    #[test]
    fn a_server_is_announced_only_after_it_stayed_servable_for_the_settle_time() {
        let config = config(vec![1]);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut settle = Settle::new(Duration::from_millis(1000));
        // (time, target 1 up, expected verdict)
        let steps = [
            (0, true, Err(Withheld::Settling)),
            (999, true, Err(Withheld::Settling)),
            (1000, true, Ok(())),
            (1500, false, Err(Withheld::NoTargetUp)),
            (1600, true, Err(Withheld::Settling)),
            (2599, true, Err(Withheld::Settling)),
            (2600, true, Ok(())),
        ];
        for (ms, up, expected) in steps {
            let mut decisions = decide(&config, |_| up, |_| Ok(()));
            settle.apply(at(ms), &mut decisions, |_| false);
            assert_eq!(decisions[0].verdict, expected, "at {ms} ms");
        }
    }

    #[test]
    fn a_server_waits_for_its_first_check_results_but_a_reload_does_not_withdraw_it() {
        let config = config(vec![1]);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut settle = Settle::new(Duration::from_millis(1000));
        // (time, a target's first check result still out, expected verdict)
        let steps = [
            (0, true, Err(Withheld::Settling)),
            (1500, true, Err(Withheld::Settling)),
            (1600, false, Ok(())),
            // A reload adds a check: pending again, the VIP stays announced.
            (2000, true, Ok(())),
        ];
        for (ms, pending, expected) in steps {
            let mut decisions = decide(&config, |_| true, |_| Ok(()));
            settle.apply(at(ms), &mut decisions, |_| pending);
            assert_eq!(decisions[0].verdict, expected, "at {ms} ms");
        }
        // Withdrawn (no target up), then servable again: it waits for first results anew.
        let mut decisions = decide(&config, |_| false, |_| Ok(()));
        settle.apply(at(2100), &mut decisions, |_| true);
        let mut decisions = decide(&config, |_| true, |_| Ok(()));
        settle.apply(at(3200), &mut decisions, |_| true);
        assert_eq!(decisions[0].verdict, Err(Withheld::Settling));
    }

    #[test]
    fn a_joining_node_withholds_what_it_could_serve_until_it_has_the_sessions() {
        let config = config(vec![]);
        let mut decisions = decide(&config, |t| t != 3, |_| Ok(()));
        hold_for_sync(false, &mut decisions);
        let verdicts: Vec<_> = decisions.iter().map(|d| d.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Err(Withheld::Syncing),
                Err(Withheld::NoTargetUp),
                Err(Withheld::NoTargetUp)
            ],
            "a server it cannot serve keeps its own reason"
        );
        let mut decisions = decide(&config, |_| true, |_| Ok(()));
        hold_for_sync(true, &mut decisions);
        assert!(decisions[0].announced() && decisions[1].announced());
    }
}
