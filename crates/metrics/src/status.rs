//! The status JSON (`GET /api/v1/status`) and the status page (`GET /`) built on it. [`status`]
//! turns the same [`Snapshot`] a scrape renders into one JSON document with typed fields
//! (counts as numbers, seconds as floating-point numbers, states as strings, absent values as
//! `null`); the field names are documented in `docs/metrics.md` and stay stable. [`PAGE`] is
//! one self-contained HTML page (inline CSS and JS, nothing fetched but the JSON) that polls the
//! JSON every second and draws queries per second per target from the differences it sees.

use serde::Serialize;

use crate::snapshot::{Snapshot, TargetSample};

/// The status page: served as is, it asks `/api/v1/status` once a second.
pub const PAGE: &str = include_str!("status_page.html");

/// The status JSON's media type.
pub const JSON_CONTENT_TYPE: &str = "application/json";

#[derive(Serialize)]
struct Status<'a> {
    version: &'a str,
    commit: &'a str,
    servers: Vec<Server>,
    targets: Vec<Target<'a>>,
    sessions_created: u64,
    sessions_expired: u64,
    vrrp: Option<Vrrp<'a>>,
    sync: Option<Sync>,
    drops: Vec<Drop<'a>>,
    dsr_frames: Vec<Frames<'a>>,
    announce: Option<Vec<Announce<'a>>>,
    sync_join: Option<Join<'a>>,
}

#[derive(Serialize)]
struct Announce<'a> {
    server: u32,
    vip: Option<&'a str>,
    state: &'static str,
    reason: Option<&'a str>,
    targets_up: u64,
}

#[derive(Serialize)]
struct Join<'a> {
    state: &'static str,
    joined: bool,
    from: Option<&'a str>,
}

#[derive(Serialize)]
struct Server {
    server: u32,
    queries: u64,
    sessions: u64,
}

#[derive(Serialize)]
struct Target<'a> {
    target: u32,
    up: bool,
    queries: u64,
    responses: u64,
    timeouts: u64,
    bytes_sent: u64,
    bytes_received: u64,
    sessions: u64,
    checks: Vec<Check<'a>>,
    /// Answers timed and their mean, `null` where the plane does not time them (DSR).
    responses_timed: Option<u64>,
    response_seconds_mean: Option<f64>,
}

#[derive(Serialize)]
struct Check<'a> {
    check: &'a str,
    up: bool,
    last_rtt_seconds: Option<f64>,
}

#[derive(Serialize)]
struct Vrrp<'a> {
    vrid: u8,
    state: &'static str,
    master: Option<&'a str>,
    transitions: u64,
    adverts_sent: u64,
    adverts_received: u64,
}

#[derive(Serialize)]
struct Sync {
    in_sync: bool,
    datagrams_sent: u64,
    datagrams_received: u64,
    events_applied: u64,
    full_resyncs: u64,
}

#[derive(Serialize)]
struct Drop<'a> {
    plane: &'a str,
    reason: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct Frames<'a> {
    event: &'a str,
    count: u64,
}

fn target(t: &TargetSample) -> Target<'_> {
    let timed = t.response_time.as_ref();
    Target {
        target: t.target,
        up: t.up,
        queries: t.queries,
        responses: t.responses,
        timeouts: t.timeouts,
        bytes_sent: t.bytes_sent,
        bytes_received: t.bytes_received,
        sessions: t.sessions,
        checks: t
            .checks
            .iter()
            .map(|c| Check {
                check: &c.check,
                up: c.up,
                last_rtt_seconds: c.last_rtt.map(|d| d.as_secs_f64()),
            })
            .collect(),
        responses_timed: timed.map(|h| h.count),
        response_seconds_mean: timed
            .filter(|h| h.count > 0)
            .map(|h| h.sum_seconds / h.count as f64),
    }
}

/// The status JSON of one snapshot.
pub fn status(snapshot: &Snapshot) -> String {
    let status = Status {
        version: &snapshot.build.version,
        commit: &snapshot.build.commit,
        servers: snapshot
            .servers
            .iter()
            .map(|s| Server {
                server: s.server,
                queries: s.queries,
                sessions: s.sessions,
            })
            .collect(),
        targets: snapshot.targets.iter().map(target).collect(),
        sessions_created: snapshot.sessions_created,
        sessions_expired: snapshot.sessions_expired,
        vrrp: snapshot.vrrp.as_ref().map(|v| Vrrp {
            vrid: v.vrid,
            state: v.state.name(),
            master: v.master.as_deref(),
            transitions: v.transitions,
            adverts_sent: v.adverts_sent,
            adverts_received: v.adverts_received,
        }),
        sync: snapshot.sync.as_ref().map(|s| Sync {
            in_sync: s.in_sync,
            datagrams_sent: s.datagrams_sent,
            datagrams_received: s.datagrams_received,
            events_applied: s.events_applied,
            full_resyncs: s.full_resyncs,
        }),
        drops: snapshot
            .drops
            .iter()
            .map(|d| Drop {
                plane: d.plane,
                reason: &d.reason,
                count: d.count,
            })
            .collect(),
        dsr_frames: snapshot
            .dsr_frames
            .iter()
            .map(|(event, count)| Frames {
                event,
                count: *count,
            })
            .collect(),
        announce: snapshot.announce.as_ref().map(|servers| {
            servers
                .iter()
                .map(|a| Announce {
                    server: a.server,
                    vip: a.vip.as_deref(),
                    state: a.state.name(),
                    reason: a.reason.as_deref(),
                    targets_up: a.targets_up,
                })
                .collect()
        }),
        sync_join: snapshot.sync_join.as_ref().map(|j| Join {
            state: j.state.name(),
            joined: j.state.joined(),
            from: j.from.as_deref(),
        }),
    };
    // Plain structs of numbers, strings and options: serializing them cannot fail.
    serde_json::to_string(&status).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{
        AnnounceSample, AnnounceState, CheckSample, JoinState, SyncJoin, VrrpSample, VrrpState,
    };
    use std::time::Duration;

    #[test]
    fn the_json_has_typed_fields() {
        let snapshot = Snapshot {
            targets: vec![TargetSample {
                target: 2,
                queries: 5,
                sessions: 3,
                up: true,
                checks: vec![CheckSample {
                    check: "dns".into(),
                    up: false,
                    last_rtt: Some(Duration::from_micros(1500)),
                }],
                ..TargetSample::default()
            }],
            vrrp: Some(VrrpSample {
                vrid: 7,
                state: VrrpState::Backup,
                master: Some("10.0.0.2".into()),
                transitions: 1,
                adverts_sent: 0,
                adverts_received: 9,
            }),
            ..Snapshot::default()
        };
        let json: serde_json::Value = serde_json::from_str(&status(&snapshot)).expect("valid JSON");
        let t = &json["targets"][0];
        assert_eq!(t["target"], 2);
        assert_eq!(t["queries"], 5);
        assert_eq!(t["sessions"], 3);
        assert_eq!(t["up"], true);
        assert_eq!(t["checks"][0]["check"], "dns");
        assert_eq!(t["checks"][0]["up"], false);
        assert_eq!(t["checks"][0]["last_rtt_seconds"], 0.0015);
        assert!(t["responses_timed"].is_null());
        assert_eq!(json["vrrp"]["state"], "backup");
        assert_eq!(json["vrrp"]["master"], "10.0.0.2");
        assert!(json["sync"].is_null());
        assert!(json["announce"].is_null() && json["sync_join"].is_null());
    }

    #[test]
    fn announce_and_join_state_are_in_the_json() {
        let snapshot = Snapshot {
            announce: Some(vec![
                AnnounceSample {
                    server: 1,
                    vip: Some("10.255.0.53".into()),
                    state: AnnounceState::Announced,
                    reason: None,
                    targets_up: 2,
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
            ..Snapshot::default()
        };
        let json: serde_json::Value = serde_json::from_str(&status(&snapshot)).expect("valid JSON");
        let a = &json["announce"];
        assert_eq!(a[0]["server"], 1);
        assert_eq!(a[0]["vip"], "10.255.0.53");
        assert_eq!(a[0]["state"], "announced");
        assert!(a[0]["reason"].is_null());
        assert_eq!(a[0]["targets_up"], 2);
        assert_eq!(a[1]["state"], "withdrawn");
        assert_eq!(a[1]["reason"], "no target up");
        assert_eq!(a[1]["targets_up"], 0);
        assert_eq!(json["sync_join"]["state"], "synced");
        assert_eq!(json["sync_join"]["joined"], true);
        assert_eq!(json["sync_join"]["from"], "10.1.0.11");
    }

    #[test]
    fn the_page_is_self_contained() {
        assert!(PAGE.contains("/api/v1/status"));
        for external in ["src=", "href=\"http", "@import", "url("] {
            assert!(!PAGE.contains(external), "the page loads {external}");
        }
    }
}
