//! The Grafana dashboard in `contrib/grafana/fulcrum.json` parses as JSON, has panels with
//! queries, and every `fulcrum_*` name its queries use is one the exposition of a snapshot with
//! every family really prints (Grafana itself is not run).

use std::collections::BTreeSet;
use std::time::Duration;

use fulcrum_metrics::*;

fn every_family() -> Snapshot {
    Snapshot {
        servers: vec![ServerSample::default()],
        targets: vec![TargetSample {
            checks: vec![CheckSample {
                check: "dns".into(),
                up: true,
                last_rtt: Some(Duration::from_millis(1)),
            }],
            response_time: Some(Histogram::default()),
            ..TargetSample::default()
        }],
        drops: vec![DropSample {
            plane: "proxy",
            reason: "runt".into(),
            count: 1,
        }],
        vrrp: Some(VrrpSample {
            vrid: 1,
            state: VrrpState::Master,
            master: None,
            transitions: 0,
            adverts_sent: 0,
            adverts_received: 0,
        }),
        sync: Some(SyncSample::default()),
        dsr_frames: vec![("frames-in".into(), 0)],
        announce: Some(vec![AnnounceSample {
            server: 1,
            vip: Some("10.255.0.53".into()),
            state: AnnounceState::Withdrawn,
            reason: Some("no target up".into()),
            targets_up: 0,
        }]),
        sync_join: Some(SyncJoin {
            state: JoinState::Waiting,
            from: None,
        }),
        ..Snapshot::default()
    }
}

fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

fn names(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("fulcrum_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        found.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    found
}

#[test]
fn the_dashboard_uses_only_names_the_daemon_exports() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contrib/grafana/fulcrum.json"
    );
    let text = std::fs::read_to_string(path).expect("contrib/grafana/fulcrum.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 5));
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() > 10, "{queries:?}");

    let exported: BTreeSet<String> = render(&every_family())
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let used: BTreeSet<String> = queries.iter().flat_map(|q| names(q)).collect();
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    // And the dashboard shows every family (a new family gets a panel).
    let families = |name: &String| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name.clone(), |n, suffix| {
                n.trim_end_matches(suffix).to_string()
            })
    };
    let shown: BTreeSet<String> = used.iter().map(families).collect();
    let missing: Vec<String> = exported
        .iter()
        .map(families)
        .filter(|f| !shown.contains(f))
        .collect();
    assert!(missing.is_empty(), "no panel for: {missing:?}");
}
