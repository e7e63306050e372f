//! The daemon's side of the Prometheus metrics: [`collect`] reads what the planes and drivers
//! already count (the proxy's and the DSR plane's per-thread counters, the session tables'
//! totals, the health checks' verdicts, VRRP's and sync's last published status) into a plain
//! [`Snapshot`] for `fulcrum-metrics` to render, and [`spawn`] keeps the listener where the
//! command line or, without it, the configuration's `set metrics` says: started, moved or
//! stopped as the configuration changes. This is the only file that knows where each metric's
//! value comes from; the names and meanings are in `docs/metrics.md`.

use std::net::SocketAddr;
use std::sync::Arc;

use fulcrum_core::model::Config;
use fulcrum_core::stats::{Counters, DropReason};
use fulcrum_core::vrrp::{AdvertDrop, State};
use fulcrum_metrics::{
    AnnounceSample, AnnounceState, BuildInfo, CheckSample, DropSample, Histogram, JoinState,
    Listener, RateTableSample, ServerSample, Snapshot, SnapshotSource, SyncJoin, SyncSample,
    TargetSample, VrrpSample, VrrpState,
};
use tokio::task::JoinHandle;

use super::state::Daemon;
use crate::dsr::plane_counters::Event;

/// Starts the task that owns the listener; aborting it closes the listener.
pub fn spawn(daemon: Arc<Daemon>, command_line: Option<SocketAddr>) -> JoinHandle<()> {
    tokio::spawn(follow(daemon, command_line))
}

async fn follow(daemon: Arc<Daemon>, command_line: Option<SocketAddr>) {
    let mut changes = daemon.subscribe();
    let source: SnapshotSource = {
        let daemon = daemon.clone();
        Arc::new(move || collect(&daemon))
    };
    // The address asked for (not the bound one: port 0 means any) and its listener.
    let mut running: Option<(SocketAddr, Listener)> = None;
    let mut ignored_logged = None;
    loop {
        let configured = changes.borrow_and_update().settings.metrics;
        if command_line.is_some() && configured != command_line && configured != ignored_logged {
            if let Some(addr) = configured {
                tracing::info!("metrics: `set metrics {addr}` ignored: --metrics wins");
            }
            ignored_logged = configured;
        }
        let wanted = command_line.or(configured);
        if wanted != running.as_ref().map(|(addr, _)| *addr) {
            if let Some((_, listener)) = running.take() {
                let at = listener.local_addr();
                listener.stop().await;
                tracing::info!("metrics: stopped listening on {at}");
            }
            if let Some(addr) = wanted {
                match Listener::bind(addr, source.clone()).await {
                    Ok(listener) => {
                        tracing::info!("metrics: serving http://{}/metrics", listener.local_addr());
                        running = Some((addr, listener));
                    }
                    Err(e) => tracing::error!(
                        "metrics: cannot listen on {addr}: {e}; change `set metrics` to retry"
                    ),
                }
            }
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

fn counters_of(
    dsr: Option<&crate::dsr::Dsr>,
    proxy: Counters,
    dsr_side: impl Fn(&crate::dsr::Dsr) -> Option<Counters>,
) -> Counters {
    dsr.and_then(dsr_side).unwrap_or(proxy)
}

/// Everything one scrape shows, read now.
pub fn collect(daemon: &Daemon) -> Snapshot {
    let config = daemon.config();
    let proxy = daemon.proxy();
    let dsr = daemon.planes().dsr().current();
    let dsr = dsr.as_deref();
    let mut snapshot = Snapshot {
        build: BuildInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            commit: env!("FULCRUM_GIT_COMMIT").into(),
        },
        ..Snapshot::default()
    };
    let mut proxy_drops = [0u64; DropReason::ALL.len()];
    for id in config.servers.keys() {
        let of_proxy = proxy.server_counters(*id);
        add(&mut proxy_drops, &of_proxy.drops, None);
        let c = counters_of(dsr, of_proxy, |d| d.server_counters(*id));
        snapshot.servers.push(ServerSample {
            server: *id,
            queries: c.queries,
            sessions: c.sessions,
        });
    }
    targets(daemon, &config, dsr, &mut snapshot, &mut proxy_drops);
    for reason in DropReason::ALL {
        drop_sample(
            &mut snapshot,
            "proxy",
            reason.name(),
            proxy_drops[reason.index()],
        );
    }
    let (mut created, mut expired) = proxy.session_totals();
    if let Some(dsr) = dsr {
        let (c, e) = dsr.session_totals();
        (created, expired) = (created + c, expired + e);
        dsr_plane(dsr, &mut snapshot);
    }
    (snapshot.sessions_created, snapshot.sessions_expired) = (created, expired);
    rate_tables(&mut snapshot, "proxy", proxy);
    if let Some(dsr) = dsr {
        rate_tables(&mut snapshot, "dsr", dsr);
    }
    vrrp(&mut snapshot, daemon);
    sync(&mut snapshot, daemon);
    announce(&mut snapshot, daemon, &config);
    snapshot
}

/// Each announced server's verdict, from the decision `show announce` prints (the same
/// function, so the two never disagree), and the join state that decision waits for.
fn announce(snapshot: &mut Snapshot, daemon: &Daemon, config: &Config) {
    if config.announce.is_some() {
        let doc = crate::announce::document(config, &super::drivers::announce_inputs(daemon));
        snapshot.announce = Some(
            doc.servers
                .into_iter()
                .map(|row| AnnounceSample {
                    server: row.server,
                    vip: row.vip,
                    // The document's words are these three; anything else is not announced.
                    state: AnnounceState::from_name(&row.state).unwrap_or(AnnounceState::Withdrawn),
                    reason: row.reason,
                    targets_up: row.targets_up,
                })
                .collect(),
        );
    }
    if crate::announce::waits_for_sync(config) {
        use fulcrum_core::sync::Joined;
        let joined = match &*daemon.published().sync.borrow() {
            crate::sync::Published::Running(status) => Some(status.joined),
            // Sync cannot run: the announcement waits as it would for a peer's table.
            crate::sync::Published::Off(_) => None,
        };
        let (state, from) = match joined {
            Some(Joined::Alone) => (JoinState::Alone, None),
            Some(Joined::SyncedFrom(peer)) => (JoinState::Synced, Some(peer.to_string())),
            Some(Joined::NobodyAnswered) => (JoinState::NobodyAnswered, None),
            Some(Joined::Waiting { .. }) | None => (JoinState::Waiting, None),
        };
        snapshot.sync_join = Some(SyncJoin { state, from });
    }
}

/// A plane's rate-limit tables.
fn rate_tables(
    snapshot: &mut Snapshot,
    plane: &'static str,
    of: &dyn crate::plane::data_plane::DataPlane,
) {
    for table in of.rate_tables() {
        snapshot.rate_tables.push(RateTableSample {
            plane,
            server: table.server,
            limit: table.kind.name(),
            entries: table.entries as u64,
            capacity: table.capacity as u64,
            memory_bytes: table.memory_bytes as u64,
            replaced: table.replaced,
        });
    }
}

/// `into += from`, leaving out `skip`.
fn add(into: &mut [u64], from: &[u64], skip: Option<DropReason>) {
    for (i, (sum, n)) in into.iter_mut().zip(from).enumerate() {
        if skip.map(DropReason::index) != Some(i) {
            *sum += n;
        }
    }
}

fn drop_sample(snapshot: &mut Snapshot, plane: &'static str, reason: &str, count: u64) {
    snapshot.drops.push(DropSample {
        plane,
        reason: reason.into(),
        count,
    });
}

fn targets(
    daemon: &Daemon,
    config: &Config,
    dsr: Option<&crate::dsr::Dsr>,
    snapshot: &mut Snapshot,
    proxy_drops: &mut [u64],
) {
    let health = daemon.health().statuses();
    for target in config.targets.values() {
        let id = target.id;
        let of_proxy = daemon.proxy().target_counters(id);
        // The proxy counts an overload drop on the server and on the target: once here.
        add(proxy_drops, &of_proxy.drops, Some(DropReason::Overload));
        let c = counters_of(dsr, of_proxy, |d| d.target_counters(id));
        let status = health.iter().find(|s| s.id == id);
        let checks = status.map(|s| s.checks.as_slice()).unwrap_or_default();
        let kind_repeats = |kind| checks.iter().filter(|c| c.spec.kind() == kind).count() > 1;
        snapshot.targets.push(TargetSample {
            target: id,
            queries: c.queries,
            responses: c.responses,
            timeouts: c.timeouts,
            bytes_sent: c.bytes_out,
            bytes_received: c.bytes_in,
            sessions: c.sessions,
            up: target.registered && target.enabled && status.is_some_and(|s| s.operational),
            checks: checks
                .iter()
                .map(|check| CheckSample {
                    // Two checks of one kind (two DNS zones) are told apart by their spec.
                    check: if kind_repeats(check.spec.kind()) {
                        check.spec.describe()
                    } else {
                        check.spec.kind().keyword().to_string()
                    },
                    up: check.state.passing(),
                    last_rtt: check.last_rtt,
                })
                .collect(),
            // DSR targets answer the client directly: no time to measure.
            response_time: (!target.dsr).then(|| response_times(daemon, id)),
        });
    }
}

fn response_times(daemon: &Daemon, target: u32) -> Histogram {
    use crate::plane::counters::RESPONSE_BOUNDS_US;
    let times = daemon.proxy().target_response_times(target);
    Histogram {
        buckets: RESPONSE_BOUNDS_US
            .iter()
            .zip(times.counts)
            .map(|(bound, n)| (*bound as f64 / 1e6, n))
            .collect(),
        count: times.counts.iter().sum(),
        sum_seconds: times.sum_us as f64 / 1e6,
    }
}

fn dsr_plane(dsr: &crate::dsr::Dsr, snapshot: &mut Snapshot) {
    let totals = dsr.totals();
    for reason in fulcrum_wire::classify::DropReason::ALL {
        drop_sample(snapshot, "dsr", reason.name(), totals.drops[reason.index()]);
    }
    for event in Event::ALL {
        let n = totals.get(event);
        if let Some(reason) = event.name().strip_prefix("drop-") {
            drop_sample(snapshot, "dsr", reason, n);
        }
        snapshot.dsr_frames.push((event.name().into(), n));
    }
}

/// Both instances (IPv4, IPv6): their own `family` label on the VRRP families, their drops
/// summed under `plane="vrrp"`.
fn vrrp(snapshot: &mut Snapshot, daemon: &Daemon) {
    let published = daemon.published();
    let v4 = published.vrrp.borrow().clone();
    let v6 = published.vrrp6.borrow().clone();
    snapshot.vrrp = v4.map(|status| vrrp_sample(snapshot, &status));
    snapshot.vrrp6 = v6.map(|status| vrrp_sample(snapshot, &status));
}

fn vrrp_sample(snapshot: &mut Snapshot, status: &crate::vrrp::Status) -> VrrpSample {
    for reason in AdvertDrop::ALL {
        drop_sample(snapshot, "vrrp", reason.name(), status.drops.get(reason));
    }
    drop_sample(snapshot, "vrrp", "send-failed", status.send_errors);
    VrrpSample {
        vrid: status.vrid,
        state: match status.state {
            State::Initialize => VrrpState::Initialize,
            State::Backup => VrrpState::Backup,
            State::Master => VrrpState::Master,
            State::Fault => VrrpState::Fault,
        },
        master: status.master.map(|ip| ip.to_string()),
        transitions: status.counters.transitions,
        adverts_sent: status.counters.adverts_sent,
        adverts_received: status.counters.adverts_received,
    }
}

fn sync(snapshot: &mut Snapshot, daemon: &Daemon) {
    let status = match &*daemon.published().sync.borrow() {
        crate::sync::Published::Running(status) => status.as_ref().clone(),
        _ => return,
    };
    let r = &status.received;
    let reasons = [
        ("malformed", r.dropped_malformed),
        ("authentication", r.dropped_authentication),
        ("not-from-peer", r.dropped_not_from_peer),
        ("stale", r.dropped_stale),
        ("unexpected", r.dropped_unexpected),
        ("out-of-window", r.dropped_out_of_window),
        ("old-boot", r.dropped_old_boot),
        ("replayed", r.dropped_replayed),
        ("unknown-boot", r.dropped_unknown_boot),
        ("unknown-server", r.dropped_unknown_server),
        ("unknown-target", r.dropped_unknown_target),
        ("bad-timeout", r.dropped_bad_timeout),
        ("events-lost", status.events_lost),
    ];
    for (reason, n) in reasons {
        drop_sample(snapshot, "sync", reason, n);
    }
    snapshot.sync = Some(SyncSample {
        datagrams_sent: status.sent.datagrams,
        datagrams_received: r.datagrams,
        events_applied: r.applied,
        in_sync: status.resync == fulcrum_core::sync::Resync::InSync,
        full_resyncs: status.sent.full_dumps + r.full_requests,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;
    use fulcrum_core::model::{Server, Target};

    fn daemon() -> Daemon {
        daemon_with(Config::default())
    }

    fn daemon_with(mut config: Config) -> Daemon {
        let mut server = Server::new(1, "127.0.0.1".parse().unwrap());
        server.targets = vec![1, 2];
        (server.registered, server.enabled) = (true, true);
        config.servers.insert(1, server);
        for id in [1, 2] {
            let mut target = Target::new(id, "127.0.0.1".parse().unwrap());
            target.registered = true;
            target.enabled = id == 1;
            target.dsr = id == 2;
            config.targets.insert(id, target);
        }
        Daemon::start(config, "t.conf".into(), Arc::new(Proxy::new())).0
    }

    #[test]
    fn a_snapshot_has_every_configured_object_and_every_proxy_drop_reason() {
        let snapshot = collect(&daemon());
        assert_eq!(snapshot.build.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(snapshot.servers.len(), 1);
        assert_eq!(
            snapshot
                .targets
                .iter()
                .map(|t| t.target)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        // No health verdict yet: not up (as the `op` column says).
        assert!(snapshot.targets.iter().all(|t| !t.up));
        let timed = |id: usize| snapshot.targets[id].response_time.is_some();
        assert!(timed(0) && !timed(1), "DSR targets are not timed");
        let proxy_reasons: Vec<&str> = snapshot
            .drops
            .iter()
            .filter(|d| d.plane == "proxy")
            .map(|d| d.reason.as_str())
            .collect();
        let all: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(proxy_reasons, all);
        let text = fulcrum_metrics::render(&snapshot);
        assert!(text.contains("fulcrum_target_response_seconds_count{target=\"1\"} 0\n"));
        assert!(snapshot.announce.is_none() && snapshot.sync_join.is_none());
    }

    #[test]
    fn an_announce_block_brings_each_servers_verdict() {
        let config = Config {
            announce: Some(fulcrum_core::model::Announce {
                interface: "fulcrum-nosuch0".into(),
                servers: vec![1],
            }),
            ..Config::default()
        };
        let snapshot = collect(&daemon_with(config));
        // Target 2 has `dsr enable` and no DSR plane runs here, as `show announce` would say.
        assert_eq!(
            snapshot.announce,
            Some(vec![AnnounceSample {
                server: 1,
                vip: Some("127.0.0.1".into()),
                state: AnnounceState::Withdrawn,
                reason: Some("data plane not running".into()),
                targets_up: 0,
            }])
        );
        assert!(snapshot.sync_join.is_none(), "no syncpeer to wait for");
    }
}
