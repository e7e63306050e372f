//! The exposition of a sample snapshot, line by line, and what `promtool` would object to.

use std::time::Duration;

use super::*;
use crate::snapshot::*;

pub(crate) fn sample() -> Snapshot {
    Snapshot {
        build: BuildInfo {
            version: "0.1.0".into(),
            commit: "abc1234".into(),
        },
        servers: vec![ServerSample {
            server: 1,
            queries: 10,
            sessions: 2,
        }],
        targets: vec![TargetSample {
            target: 3,
            queries: 9,
            responses: 8,
            timeouts: 1,
            bytes_sent: 300,
            bytes_received: 900,
            sessions: 2,
            up: true,
            checks: vec![CheckSample {
                check: "dns".into(),
                up: true,
                last_rtt: Some(Duration::from_micros(250)),
            }],
            response_time: Some(Histogram {
                buckets: vec![(0.001, 5), (0.01, 2)],
                count: 8,
                sum_seconds: 0.5,
            }),
        }],
        drops: vec![
            DropSample {
                plane: "proxy",
                reason: "runt".into(),
                count: 2,
            },
            DropSample {
                plane: "proxy",
                reason: "runt".into(),
                count: 1,
            },
        ],
        sessions_created: 4,
        sessions_expired: 1,
        vrrp: Some(VrrpSample {
            vrid: 7,
            state: VrrpState::Master,
            master: Some("10.0.0.1".into()),
            transitions: 2,
            adverts_sent: 30,
            adverts_received: 4,
        }),
        vrrp6: Some(VrrpSample {
            vrid: 7,
            state: VrrpState::Backup,
            master: Some("fe80::1".into()),
            transitions: 1,
            adverts_sent: 0,
            adverts_received: 25,
        }),
        sync: Some(SyncSample {
            datagrams_sent: 5,
            datagrams_received: 6,
            events_applied: 7,
            in_sync: true,
            full_resyncs: 1,
        }),
        dsr_frames: vec![("frames-in".into(), 11)],
        rate_tables: vec![RateTableSample {
            plane: "proxy",
            server: 1,
            limit: "ratelimit",
            entries: 12,
            capacity: 1024,
            memory_bytes: 24_640,
            replaced: 5,
        }],
        announce: Some(vec![
            AnnounceSample {
                server: 1,
                vip: Some("10.255.0.53".into()),
                state: AnnounceState::Announced,
                reason: None,
                targets_up: 1,
            },
            AnnounceSample {
                server: 2,
                vip: Some("10.255.0.54".into()),
                state: AnnounceState::Withdrawn,
                reason: Some("no target up".into()),
                targets_up: 0,
            },
        ]),
        sync_join: Some(SyncJoin {
            state: JoinState::Synced,
            from: Some("10.1.0.11".into()),
        }),
    }
}

fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn every_family_of_a_full_snapshot() {
    let text = render(&sample());
    assert_eq!(
        samples(&text),
        [
            r#"fulcrum_build_info{version="0.1.0",commit="abc1234"} 1"#,
            r#"fulcrum_server_queries_total{server="1"} 10"#,
            r#"fulcrum_sessions{server="1"} 2"#,
            r#"fulcrum_target_queries_total{target="3"} 9"#,
            r#"fulcrum_target_responses_total{target="3"} 8"#,
            r#"fulcrum_target_timeouts_total{target="3"} 1"#,
            r#"fulcrum_target_bytes_total{target="3",direction="sent"} 300"#,
            r#"fulcrum_target_bytes_total{target="3",direction="received"} 900"#,
            r#"fulcrum_target_up{target="3"} 1"#,
            r#"fulcrum_health_check_up{target="3",check="dns"} 1"#,
            r#"fulcrum_health_check_seconds{target="3",check="dns"} 0.00025"#,
            r#"fulcrum_target_response_seconds_bucket{target="3",le="0.001"} 5"#,
            r#"fulcrum_target_response_seconds_bucket{target="3",le="0.01"} 7"#,
            r#"fulcrum_target_response_seconds_bucket{target="3",le="+Inf"} 8"#,
            r#"fulcrum_target_response_seconds_sum{target="3"} 0.5"#,
            r#"fulcrum_target_response_seconds_count{target="3"} 8"#,
            r#"fulcrum_drops_total{plane="proxy",reason="runt"} 3"#,
            r#"fulcrum_sessions_created_total 4"#,
            r#"fulcrum_sessions_expired_total 1"#,
            r#"fulcrum_vrrp_state{vrid="7",family="ipv4"} 2"#,
            r#"fulcrum_vrrp_state{vrid="7",family="ipv6"} 1"#,
            r#"fulcrum_vrrp_transitions_total{vrid="7",family="ipv4"} 2"#,
            r#"fulcrum_vrrp_transitions_total{vrid="7",family="ipv6"} 1"#,
            r#"fulcrum_vrrp_adverts_total{vrid="7",family="ipv4",direction="sent"} 30"#,
            r#"fulcrum_vrrp_adverts_total{vrid="7",family="ipv4",direction="received"} 4"#,
            r#"fulcrum_vrrp_adverts_total{vrid="7",family="ipv6",direction="sent"} 0"#,
            r#"fulcrum_vrrp_adverts_total{vrid="7",family="ipv6",direction="received"} 25"#,
            r#"fulcrum_sync_datagrams_total{direction="sent"} 5"#,
            r#"fulcrum_sync_datagrams_total{direction="received"} 6"#,
            r#"fulcrum_sync_events_applied_total 7"#,
            r#"fulcrum_sync_in_sync 1"#,
            r#"fulcrum_sync_full_resyncs_total 1"#,
            r#"fulcrum_ratelimit_entries{plane="proxy",server="1",limit="ratelimit"} 12"#,
            r#"fulcrum_ratelimit_capacity{plane="proxy",server="1",limit="ratelimit"} 1024"#,
            r#"fulcrum_ratelimit_memory_bytes{plane="proxy",server="1",limit="ratelimit"} 24640"#,
            r#"fulcrum_ratelimit_replaced_total{plane="proxy",server="1",limit="ratelimit"} 5"#,
            r#"fulcrum_dsr_frames_total{event="frames-in"} 11"#,
            r#"fulcrum_announce_state{server="1",vip="10.255.0.53",state="announced"} 1"#,
            r#"fulcrum_announce_state{server="1",vip="10.255.0.53",state="pending"} 0"#,
            r#"fulcrum_announce_state{server="1",vip="10.255.0.53",state="withdrawn"} 0"#,
            r#"fulcrum_announce_state{server="2",vip="10.255.0.54",state="announced"} 0"#,
            r#"fulcrum_announce_state{server="2",vip="10.255.0.54",state="pending"} 0"#,
            r#"fulcrum_announce_state{server="2",vip="10.255.0.54",state="withdrawn"} 1"#,
            r#"fulcrum_announce_withdrawn_reason{server="2",reason="no target up"} 1"#,
            r#"fulcrum_announce_targets_up{server="1"} 1"#,
            r#"fulcrum_announce_targets_up{server="2"} 0"#,
            r#"fulcrum_sync_joined{state="alone"} 0"#,
            r#"fulcrum_sync_joined{state="synced"} 1"#,
            r#"fulcrum_sync_joined{state="nobody-answered"} 0"#,
            r#"fulcrum_sync_joined{state="waiting"} 0"#,
        ]
    );
}

#[test]
fn type_lines_name_the_samples() {
    let text = render(&sample());
    assert!(text.contains("# TYPE fulcrum_target_queries_total counter\n"));
    assert!(text.contains("# TYPE fulcrum_target_up gauge\n"));
    assert!(text.contains("# TYPE fulcrum_target_response_seconds histogram\n"));
    assert!(text.contains("# TYPE fulcrum_build_info gauge\n"));
    assert!(
        !text.contains("# EOF"),
        "Prometheus text format, not OpenMetrics"
    );
}

#[test]
fn an_idle_daemon_shows_build_and_session_totals_only() {
    let text = render(&Snapshot::default());
    assert_eq!(
        samples(&text),
        [
            r#"fulcrum_build_info{version="",commit=""} 1"#,
            "fulcrum_sessions_created_total 0",
            "fulcrum_sessions_expired_total 0",
        ]
    );
}

#[test]
fn announce_families_follow_the_state_and_need_their_block() {
    let mut snapshot = sample();
    let announce = snapshot.announce.as_mut().unwrap();
    announce[0].state = AnnounceState::Pending;
    announce.truncate(1);
    snapshot.sync_join = Some(SyncJoin {
        state: JoinState::Waiting,
        from: None,
    });
    let text = render(&snapshot);
    let lines = samples(&text);
    let of = |family: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(family))
            .collect()
    };
    assert_eq!(
        of("fulcrum_announce_state{"),
        [
            r#"fulcrum_announce_state{server="1",vip="10.255.0.53",state="announced"} 0"#,
            r#"fulcrum_announce_state{server="1",vip="10.255.0.53",state="pending"} 1"#,
            r#"fulcrum_announce_state{server="1",vip="10.255.0.53",state="withdrawn"} 0"#,
        ]
    );
    assert!(of("fulcrum_announce_withdrawn_reason").is_empty(), "{text}");
    assert!(!text.contains("# HELP fulcrum_announce_withdrawn_reason"));
    assert_eq!(
        of("fulcrum_sync_joined{state=\"waiting\"}"),
        [r#"fulcrum_sync_joined{state="waiting"} 1"#]
    );
    // Without an announce block (and no join to wait for) none of the families is there.
    snapshot.announce = None;
    snapshot.sync_join = None;
    let text = render(&snapshot);
    assert!(!text.contains("fulcrum_announce_"), "{text}");
    assert!(!text.contains("fulcrum_sync_joined"), "{text}");
    // An announce block with no server in it: no sample, so no family either.
    snapshot.announce = Some(Vec::new());
    assert!(!render(&snapshot).contains("fulcrum_announce_"));
}

#[test]
fn label_values_are_escaped() {
    let mut snapshot = sample();
    snapshot.targets[0].checks[0].check = "say \"hi\"\\\n".into();
    let text = render(&snapshot);
    assert!(
        text.contains(r#"fulcrum_health_check_up{target="3",check="say \"hi\"\\\n"} 1"#),
        "{text}"
    );
}

/// Debian's `promtool` (package `prometheus`) lints the exposition of a snapshot with every family.
#[test]
fn promtool_accepts_the_exposition() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let text = render(&sample());
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus, scripts/install-deps.sh)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
