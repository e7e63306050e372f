//! [`render`]: one [`Snapshot`] as the Prometheus text exposition (format 0.0.4). A collector
//! registered with a fresh `prometheus-client` registry encodes each family from the snapshot's
//! values; counters get their `_total` suffix from the encoder. Families with no samples (no
//! VRRP, no targets) are left out rather than printed empty.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::snapshot::{Histogram, Snapshot, VrrpSample};

mod announce;

/// The `Content-Type` of what [`render`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The exposition of `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail, and the collector's own errors are only the writer's.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

type Label = (&'static str, String);

const NO_LABELS: [Label; 0] = [];

fn id(name: &'static str, value: impl ToString) -> [Label; 1] {
    [(name, value.to_string())]
}

/// One family of `kind` with a sample per row; nothing at all when there are no rows.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let rows = rows.into_iter().map(|(l, v)| (l, ConstCounter::new(v)));
    family(encoder, name, help, MetricType::Counter, rows)
}

fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, i64)>,
) -> fmt::Result {
    let rows = rows.into_iter().map(|(l, v)| (l, ConstGauge::new(v)));
    family(encoder, name, help, MetricType::Gauge, rows)
}

/// A counter without labels, always present (zero is a value worth showing).
fn single_counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    counters(encoder, name, help, [(NO_LABELS, v)])
}

fn histograms<'h>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = ([Label; 1], &'h Histogram)>,
) -> fmt::Result {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in rows {
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?;
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let build = [
            ("version", s.build.version.clone()),
            ("commit", s.build.commit.clone()),
        ];
        e.encode_descriptor(
            "fulcrum_build",
            "Version and commit of the running daemon (always 1).",
            None,
            MetricType::Info,
        )?
        .encode_info(&build)?;

        counters(
            &mut e,
            "fulcrum_server_queries",
            "Queries received for a server (DSR: frames for it).",
            s.servers
                .iter()
                .map(|v| (id("server", v.server), v.queries)),
        )?;
        gauges(
            &mut e,
            "fulcrum_sessions",
            "Sticky sessions held now for a server.",
            s.servers
                .iter()
                .map(|v| (id("server", v.server), v.sessions as i64)),
        )?;
        let targets = &s.targets;
        counters(
            &mut e,
            "fulcrum_target_queries",
            "Queries forwarded to a target.",
            targets.iter().map(|t| (id("target", t.target), t.queries)),
        )?;
        counters(
            &mut e,
            "fulcrum_target_responses",
            "Responses received from a target (proxy mode; DSR never sees them).",
            targets
                .iter()
                .map(|t| (id("target", t.target), t.responses)),
        )?;
        counters(
            &mut e,
            "fulcrum_target_timeouts",
            "Queries forwarded to a target that got no answer in time.",
            targets.iter().map(|t| (id("target", t.target), t.timeouts)),
        )?;
        counters(
            &mut e,
            "fulcrum_target_bytes",
            "Bytes exchanged with a target: direction sent (queries) or received (responses).",
            targets.iter().flat_map(|t| {
                [("sent", t.bytes_sent), ("received", t.bytes_received)].map(|(dir, v)| {
                    let labels = [("target", t.target.to_string()), ("direction", dir.into())];
                    (labels, v)
                })
            }),
        )?;
        gauges(
            &mut e,
            "fulcrum_target_up",
            "1 when a target is registered, enabled and passes its health checks, else 0.",
            targets
                .iter()
                .map(|t| (id("target", t.target), i64::from(t.up))),
        )?;
        let checks = || {
            targets.iter().flat_map(|t| {
                t.checks.iter().map(move |c| {
                    let labels = [("target", t.target.to_string()), ("check", c.check.clone())];
                    (labels, c)
                })
            })
        };
        gauges(
            &mut e,
            "fulcrum_health_check_up",
            "1 when a target's health check passes, else 0.",
            checks().map(|(labels, c)| (labels, i64::from(c.up))),
        )?;
        family(
            &mut e,
            "fulcrum_health_check_seconds",
            "Round trip of a health check's last successful probe, in seconds.",
            MetricType::Gauge,
            checks().filter_map(|(labels, c)| {
                c.last_rtt
                    .map(|rtt| (labels, ConstGauge::new(rtt.as_secs_f64())))
            }),
        )?;
        histograms(
            &mut e,
            "fulcrum_target_response_seconds",
            "Time from forwarding a query to a target to its answer (proxy mode), in seconds.",
            targets.iter().filter_map(|t| {
                t.response_time
                    .as_ref()
                    .map(|h| (id("target", t.target), h))
            }),
        )?;

        let mut drops: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for d in &s.drops {
            *drops.entry((d.plane, d.reason.as_str())).or_default() += d.count;
        }
        counters(
            &mut e,
            "fulcrum_drops",
            "Packets dropped, by plane (proxy, dsr, vrrp, sync) and reason.",
            drops.into_iter().map(|((plane, reason), v)| {
                (
                    [("plane", plane.to_string()), ("reason", reason.to_string())],
                    v,
                )
            }),
        )?;
        single_counter(
            &mut e,
            "fulcrum_sessions_created",
            "Sticky sessions created (both planes, synced ones included).",
            s.sessions_created,
        )?;
        single_counter(
            &mut e,
            "fulcrum_sessions_expired",
            "Sticky sessions removed after their idle timeout.",
            s.sessions_expired,
        )?;

        let instances: Vec<(&VrrpSample, &str)> = [(&s.vrrp, "ipv4"), (&s.vrrp6, "ipv6")]
            .into_iter()
            .filter_map(|(sample, family)| sample.as_ref().map(|v| (v, family)))
            .collect();
        let vrid_family = |v: &VrrpSample, family: &str| {
            [("vrid", v.vrid.to_string()), ("family", family.to_string())]
        };
        gauges(
            &mut e,
            "fulcrum_vrrp_state",
            "VRRP state: 0 initialize, 1 backup, 2 master, 3 fault (link down).",
            instances
                .iter()
                .map(|&(v, family)| (vrid_family(v, family), v.state.value())),
        )?;
        counters(
            &mut e,
            "fulcrum_vrrp_transitions",
            "VRRP state transitions.",
            instances
                .iter()
                .map(|&(v, family)| (vrid_family(v, family), v.transitions)),
        )?;
        counters(
            &mut e,
            "fulcrum_vrrp_adverts",
            "VRRP adverts, direction sent or received.",
            instances.iter().flat_map(|&(v, family)| {
                [("sent", v.adverts_sent), ("received", v.adverts_received)].map(|(dir, n)| {
                    let [vrid, family] = vrid_family(v, family);
                    ([vrid, family, ("direction", dir.to_string())], n)
                })
            }),
        )?;
        if let Some(v) = &s.sync {
            counters(
                &mut e,
                "fulcrum_sync_datagrams",
                "Session-sync datagrams, direction sent or received.",
                [
                    ("sent", v.datagrams_sent),
                    ("received", v.datagrams_received),
                ]
                .map(|(dir, n)| ([("direction", dir.to_string())], n)),
            )?;
            single_counter(
                &mut e,
                "fulcrum_sync_events_applied",
                "Session events from the peer applied to this node's tables.",
                v.events_applied,
            )?;
            gauges(
                &mut e,
                "fulcrum_sync_in_sync",
                "1 while this node holds the peer's whole session table and missed nothing since.",
                [(NO_LABELS, i64::from(v.in_sync))],
            )?;
            single_counter(
                &mut e,
                "fulcrum_sync_full_resyncs",
                "Full session-table transfers: sent as master plus asked for as backup.",
                v.full_resyncs,
            )?;
        }
        let table_labels = |t: &crate::snapshot::RateTableSample| {
            [
                ("plane", t.plane.to_string()),
                ("server", t.server.to_string()),
                ("limit", t.limit.to_string()),
            ]
        };
        let tables = &s.rate_tables;
        gauges(
            &mut e,
            "fulcrum_ratelimit_entries",
            "Client prefixes holding a bucket in a rate-limit table.",
            tables.iter().map(|t| (table_labels(t), t.entries as i64)),
        )?;
        gauges(
            &mut e,
            "fulcrum_ratelimit_capacity",
            "Buckets a rate-limit table holds at most.",
            tables.iter().map(|t| (table_labels(t), t.capacity as i64)),
        )?;
        gauges(
            &mut e,
            "fulcrum_ratelimit_memory_bytes",
            "Memory of a rate-limit table, fixed when it is built.",
            tables
                .iter()
                .map(|t| (table_labels(t), t.memory_bytes as i64)),
        )?;
        counters(
            &mut e,
            "fulcrum_ratelimit_replaced",
            "Buckets of a rate-limit table given to a new client prefix by replacing another's.",
            tables.iter().map(|t| (table_labels(t), t.replaced)),
        )?;
        counters(
            &mut e,
            "fulcrum_dsr_frames",
            "DSR plane frame events (frames in, forwarded, ARP, drops...) by event.",
            s.dsr_frames
                .iter()
                .map(|(event, n)| (id("event", event), *n)),
        )?;
        announce::encode(&mut e, s)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
