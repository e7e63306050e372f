//! The example alert rules in `docs/metrics.md` are a valid Prometheus rule file (`promtool
//! check rules`, Debian's `prometheus` package), every `fulcrum_*` name they use is one the
//! exposition really prints, and with `promtool test rules` they fire on the series a node
//! that withdrew its VIP and has not joined exposes, and stay quiet on one that announces.

use std::collections::BTreeSet;
use std::process::Command;

use fulcrum_metrics::*;

fn rules_of_the_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
    let doc = std::fs::read_to_string(path).expect("docs/metrics.md");
    let start = doc
        .find("groups:\n  - name: fulcrum-active-active")
        .expect("the active-active rule group in docs/metrics.md");
    let end = doc[start..].find("```").expect("the end of the YAML block") + start;
    doc[start..end].to_string()
}

fn promtool(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian package prometheus, scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The exposition's samples of a node, as `promtool test rules` input series held for 10 minutes.
fn series(snapshot: &Snapshot) -> String {
    render(snapshot)
        .lines()
        .filter(|l| l.starts_with("fulcrum_announce_") || l.starts_with("fulcrum_sync_joined"))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("a sample line");
            let with_instance = match name.split_once('{') {
                Some((n, labels)) => format!("{n}{{instance=\"n1\",{labels}"),
                None => format!("{name}{{instance=\"n1\"}}"),
            };
            format!("      - series: '{with_instance}'\n        values: '{value}x10'\n")
        })
        .collect()
}

fn node(state: AnnounceState, reason: Option<&str>, join: JoinState) -> Snapshot {
    Snapshot {
        announce: Some(vec![AnnounceSample {
            server: 1,
            vip: Some("10.255.0.53".into()),
            state,
            reason: reason.map(str::to_string),
            targets_up: u64::from(state == AnnounceState::Announced) * 2,
        }]),
        sync_join: Some(SyncJoin {
            state: join,
            from: None,
        }),
        ..Snapshot::default()
    }
}

#[test]
fn the_documented_rules_are_valid_and_fire_on_the_exposed_series() {
    let rules = rules_of_the_doc();
    let exported: BTreeSet<String> = render(&node(
        AnnounceState::Withdrawn,
        Some("no target up"),
        JoinState::Waiting,
    ))
    .lines()
    .filter(|l| !l.starts_with('#'))
    .filter_map(|l| l.split(['{', ' ']).next())
    .map(str::to_string)
    .collect();
    for name in rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("fulcrum_"))
    {
        assert!(
            exported.contains(name),
            "{name} is not exported: {exported:?}"
        );
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path();
    std::fs::write(dir.join("rules.yml"), &rules).expect("write the rules");
    promtool(&["check", "rules", "rules.yml"], dir);

    let down = node(
        AnnounceState::Withdrawn,
        Some("no target up"),
        JoinState::Waiting,
    );
    let up = node(AnnounceState::Announced, None, JoinState::NobodyAnswered);
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n\
         \x20 - interval: 1m\n    input_series:\n{down}\
         \x20   alert_rule_test:\n\
         \x20     - {{eval_time: 2m, alertname: FulcrumVipWithdrawn, exp_alerts: [{{exp_labels: {{instance: n1, server: '1', vip: 10.255.0.53, state: withdrawn}}, exp_annotations: {{summary: 'n1 withdrew 10.255.0.53 (server 1)'}}}}]}}\n\
         \x20     - {{eval_time: 2m, alertname: FulcrumNodeNotJoined, exp_alerts: [{{exp_labels: {{instance: n1, state: waiting}}, exp_annotations: {{summary: 'n1 has not joined its sync peers: nothing announced'}}}}]}}\n\
         \x20 - interval: 1m\n    input_series:\n{up}\
         \x20   alert_rule_test:\n\
         \x20     - {{eval_time: 2m, alertname: FulcrumVipWithdrawn, exp_alerts: []}}\n\
         \x20     - {{eval_time: 2m, alertname: FulcrumNodeNotJoined, exp_alerts: []}}\n",
        down = series(&down),
        up = series(&up),
    );
    std::fs::write(dir.join("test.yml"), &test).expect("write the rule test");
    promtool(&["test", "rules", "test.yml"], dir);
}
