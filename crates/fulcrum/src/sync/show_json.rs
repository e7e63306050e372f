//! `show sync` in the JSON format: what the driver last published ([`Published`]) as a
//! [`SyncDoc`], from the same status the text form ([`super::show`]) renders: `off` with the
//! reason while no driver runs, `waiting` with the reason while a running driver has no peer
//! yet, `running` otherwise; the counters under `detail`.

use std::time::{Duration, SystemTime};

use fulcrum_control::show::SyncPeer;
use fulcrum_control::show::{SyncDetail, SyncDoc, SyncDropped, SyncReceived, SyncSent};
use fulcrum_core::sync::{Joined, PeerSource, Resync, Role};

use super::show::{waiting_for, Status};
use super::Published;

/// The document of `show sync`, ages taken at `now`.
pub fn document(published: &Published, now: SystemTime) -> SyncDoc {
    match published {
        Published::Off(why) => SyncDoc {
            state: "off".to_string(),
            reason: Some(why.clone()),
            detail: None,
        },
        Published::Running(status) => SyncDoc {
            state: if status.peer.is_some() {
                "running"
            } else {
                "waiting"
            }
            .to_string(),
            reason: status
                .peer
                .is_none()
                .then(|| waiting_for(status.role).to_string()),
            detail: Some(detail(status, now)),
        },
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn resync_word(resync: Resync) -> &'static str {
    match resync {
        Resync::Wanted => "wanted",
        Resync::Requested { .. } => "requested",
        Resync::Receiving { .. } => "receiving",
        Resync::InSync => "in-sync",
    }
}

fn age_s(at: Option<SystemTime>, now: SystemTime) -> Option<f64> {
    at.map(|at| now.duration_since(at).unwrap_or_default().as_secs_f64())
}

fn detail(s: &Status, now: SystemTime) -> SyncDetail {
    let (resync, resync_sessions) = match (s.role, s.resync) {
        (Role::Master, _) => ("not-receiving", None),
        (_, Resync::Receiving { sessions, .. }) => ("receiving", Some(sessions)),
        (_, other) => (resync_word(other), None),
    };
    let (joined, joined_from) = match s.joined {
        Joined::Alone => ("alone", None),
        Joined::SyncedFrom(peer) => ("synced", Some(peer.to_string())),
        Joined::NobodyAnswered => ("nobody-answered", None),
        Joined::Waiting { .. } => ("waiting", None),
    };
    let (t, r) = (&s.sent, &s.received);
    SyncDetail {
        transport: s.transport.clone(),
        local: s.local.to_string(),
        port: fulcrum_core::sync::PORT,
        peer: s.peer.map(|(addr, _)| addr.to_string()),
        peer_source: s.peer.map(|(_, source)| {
            match source {
                PeerSource::Configured => "syncpeer",
                PeerSource::VrrpMaster => "vrrp-master",
                PeerSource::FullRequest => "full-request",
            }
            .to_string()
        }),
        role: match s.role {
            Role::Master => "master",
            Role::Backup => "backup",
            Role::Peer => "peer",
        }
        .to_string(),
        role_age_s: s.role_age.as_secs_f64(),
        authentication: if s.authenticated {
            "hmac-sha256"
        } else {
            "none"
        }
        .to_string(),
        resync: resync.to_string(),
        resync_sessions,
        resync_age_s: s.resync_age.map(|d: Duration| d.as_secs_f64()),
        full_dump_sent: s.dump.map(|(sent, _)| sent as u64),
        full_dump_total: s.dump.map(|(_, total)| total as u64),
        sent: SyncSent {
            datagrams: t.datagrams,
            entries: t.entries,
            full_dumps: t.full_dumps,
            errors: s.send_errors,
            requests_coalesced: t.requests_coalesced,
            requests_deferred: t.requests_deferred,
            cookies: t.cookies,
        },
        received: SyncReceived {
            datagrams: r.datagrams,
            applied: r.applied,
            gaps: r.gaps,
            peer_restarts: r.peer_restarts,
            full_requests: r.full_requests,
        },
        dropped: SyncDropped {
            malformed: r.dropped_malformed,
            authentication: r.dropped_authentication,
            stale: r.dropped_stale,
            unexpected: r.dropped_unexpected,
            not_from_peer: r.dropped_not_from_peer,
            out_of_window: r.dropped_out_of_window,
            old_boot: r.dropped_old_boot,
            replayed: r.dropped_replayed,
            unknown_boot: r.dropped_unknown_boot,
            entries_unknown_server: r.dropped_unknown_server,
            entries_unknown_target: r.dropped_unknown_target,
            entries_bad_timeout: r.dropped_bad_timeout,
        },
        events_lost: s.events_lost,
        last_datagram_unix_s: s.last_datagram.map(unix_seconds),
        last_datagram_age_s: age_s(s.last_datagram, now),
        joined: joined.to_string(),
        joined_from,
        peers: s
            .peers
            .iter()
            .map(|p| SyncPeer {
                peer: p.peer.map(|a| a.to_string()),
                resync: resync_word(p.resync).to_string(),
                sent_datagrams: p.sent,
                received_datagrams: p.received,
                applied: p.applied,
                last_datagram_age_s: age_s(p.last_datagram, now),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_core::sync::{ReceiverCounters, SenderCounters};
    use std::net::Ipv4Addr;

    fn status() -> Status {
        Status {
            local: Ipv4Addr::new(127, 0, 0, 1),
            transport: "kernel-udp".to_string(),
            peer: Some((Ipv4Addr::new(127, 0, 0, 2).into(), PeerSource::Configured)),
            role: Role::Backup,
            role_age: Duration::from_millis(2500),
            authenticated: true,
            resync: Resync::InSync,
            dump: None,
            sent: SenderCounters::default(),
            received: ReceiverCounters {
                datagrams: 3,
                applied: 10,
                dropped_authentication: 2,
                dropped_unknown_target: 4,
                ..ReceiverCounters::default()
            },
            send_errors: 0,
            events_lost: 0,
            last_datagram: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(50)),
            resync_age: None,
            joined: Joined::SyncedFrom(Ipv4Addr::new(127, 0, 0, 2).into()),
            peers: vec![super::super::show::PeerStatus {
                peer: Some(Ipv4Addr::new(127, 0, 0, 2).into()),
                resync: Resync::InSync,
                sent: 7,
                received: 3,
                applied: 10,
                last_datagram: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(50)),
            }],
        }
    }

    #[test]
    fn a_running_driver_has_typed_counters() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(51);
        let published = Published::Running(Box::new(status()));
        let text = fulcrum_control::show::to_text(&document(&published, now));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["state"], "running");
        assert!(json["reason"].is_null());
        let d = &json["detail"];
        assert_eq!(d["transport"], "kernel-udp");
        assert_eq!(d["peer"], "127.0.0.2");
        assert_eq!(d["peer_source"], "syncpeer");
        assert_eq!(d["port"], 10439);
        assert_eq!(d["role"], "backup");
        assert_eq!(d["role_age_s"], 2.5);
        assert_eq!(d["authentication"], "hmac-sha256");
        assert_eq!(d["resync"], "in-sync");
        assert_eq!(d["received"]["datagrams"], 3);
        assert_eq!(d["received"]["applied"], 10);
        assert_eq!(d["dropped"]["authentication"], 2);
        assert_eq!(d["dropped"]["entries_unknown_target"], 4);
        assert_eq!(d["last_datagram_unix_s"], 50.0);
        assert_eq!(d["last_datagram_age_s"], 1.0);
        assert_eq!(d["joined"], "synced");
        assert_eq!(d["joined_from"], "127.0.0.2");
        assert_eq!(d["peers"][0]["peer"], "127.0.0.2");
        assert_eq!(d["peers"][0]["resync"], "in-sync");
        assert_eq!(d["peers"][0]["sent_datagrams"], 7);
        assert_eq!(d["peers"][0]["last_datagram_age_s"], 1.0);
        let doc: SyncDoc = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.detail.map(|d| d.received.applied), Some(10));
    }

    #[test]
    fn off_and_waiting_say_why() {
        let now = SystemTime::now();
        let off = document(&Published::Off("nothing to sync".into()), now);
        assert_eq!((off.state.as_str(), off.detail), ("off", None));
        assert_eq!(off.reason.as_deref(), Some("nothing to sync"));
        let mut waiting = status();
        waiting.peer = None;
        waiting.role = Role::Master;
        let doc = document(&Published::Running(Box::new(waiting)), now);
        assert_eq!(doc.state, "waiting");
        assert!(doc
            .reason
            .unwrap_or_default()
            .contains("full-table request"));
        assert_eq!(doc.detail.map(|d| d.resync), Some("not-receiving".into()));
    }
}
