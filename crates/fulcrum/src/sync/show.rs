//! `show sync`: what the driver last published. Its first line says whether sync runs and,
//! when it does not (or runs without a peer yet), why: [`render_off`] for a driver that is not
//! running with the reason the driver loop found, [`render`] for a running one.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use fulcrum_core::sync::{Joined, PeerSource, ReceiverCounters, Resync, Role, SenderCounters};

use super::link::Link;

/// One peer's line, with several peers.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    pub peer: Option<IpAddr>,
    pub resync: Resync,
    pub sent: u64,
    pub received: u64,
    pub applied: u64,
    pub last_datagram: Option<SystemTime>,
}

impl PeerStatus {
    pub fn of(link: &Link) -> PeerStatus {
        let received = link.receiver.counters();
        PeerStatus {
            peer: link.peer,
            resync: link.receiver.resync(),
            sent: link.sender.counters().datagrams,
            received: received.datagrams,
            applied: received.applied,
            last_datagram: link.last_datagram,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Status {
    pub local: Ipv4Addr,
    /// The transport's name and detail (`dsr-frames on eth1 (...)`, `kernel-udp`).
    pub transport: String,
    /// The first peer (the only one, but for several `syncpeer`s: see `peers`).
    pub peer: Option<(IpAddr, PeerSource)>,
    pub role: Role,
    /// How long the node has had this role.
    pub role_age: Duration,
    pub authenticated: bool,
    pub resync: Resync,
    /// (sent, total) of a full table being sent.
    pub dump: Option<(usize, usize)>,
    pub sent: SenderCounters,
    pub received: ReceiverCounters,
    pub send_errors: u64,
    pub events_lost: u64,
    pub last_datagram: Option<SystemTime>,
    /// How long ago the current resync state began (`Requested`/`Receiving`).
    pub resync_age: Option<Duration>,
    /// Whether the node has the others' sessions (announcing waits for it).
    pub joined: Joined,
    /// Each peer, when there are several (counters above are their sums).
    pub peers: Vec<PeerStatus>,
}

fn resync_name(resync: Resync) -> &'static str {
    match resync {
        Resync::Wanted => "full table wanted",
        Resync::Requested { .. } => "full table requested",
        Resync::Receiving { .. } => "receiving the full table",
        Resync::InSync => "in sync",
    }
}

/// `show sync` while no driver runs: the first line names the reason.
pub fn render_off(reason: &str) -> String {
    format!("sync not running: {reason}\n")
}

/// Why a running driver has no peer yet, by role.
pub(super) fn waiting_for(role: Role) -> &'static str {
    match role {
        Role::Backup => {
            "no peer yet: waiting for the first vrrp advert to learn the master's address"
        }
        Role::Master => "no peer yet: waiting for the backup's full-table request",
        Role::Peer => "no peer yet: no syncpeer",
    }
}

pub fn render(s: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    match s.peer {
        Some(_) => out.push_str("sync running\n"),
        None => {
            let _ = writeln!(out, "sync waiting: {}", waiting_for(s.role));
        }
    }
    let _ = writeln!(out, "transport {}", s.transport);
    match s.peer {
        Some((_, PeerSource::Configured)) if s.peers.len() > 1 => {
            let all: Vec<String> = s
                .peers
                .iter()
                .filter_map(|p| p.peer.map(|a| a.to_string()))
                .collect();
            let _ = writeln!(
                out,
                "peers {} port {} (from syncpeer)",
                all.join(", "),
                fulcrum_core::sync::PORT
            );
        }
        Some((addr, source)) => {
            let source = match source {
                PeerSource::Configured => "syncpeer",
                PeerSource::VrrpMaster => "the vrrp master",
                PeerSource::FullRequest => "its full-table request, address verified by cookie",
            };
            let _ = writeln!(
                out,
                "peer {addr}:{} (from {source})",
                fulcrum_core::sync::PORT
            );
        }
        None => out.push_str("peer unknown\n"),
    }
    let _ = writeln!(out, "local {}:{}", s.local, fulcrum_core::sync::PORT);
    let _ = writeln!(
        out,
        "role {} for {:.1} s",
        s.role.name(),
        s.role_age.as_secs_f64()
    );
    let auth = if s.authenticated {
        "hmac-sha256"
    } else {
        "none"
    };
    let _ = writeln!(out, "authentication {auth}");
    let ago =
        |d: Option<Duration>| d.map_or(String::new(), |d| format!(" ({:.1} s)", d.as_secs_f64()));
    let resync = match (s.role, s.resync) {
        (Role::Master, _) => "not receiving (master)".to_string(),
        (_, Resync::Wanted) => "full table wanted".to_string(),
        (_, Resync::Requested { .. }) => format!("full table requested{}", ago(s.resync_age)),
        (_, Resync::Receiving { sessions, .. }) => {
            format!(
                "receiving the full table: {sessions} sessions so far{}",
                ago(s.resync_age)
            )
        }
        (_, Resync::InSync) => "in sync".to_string(),
    };
    let _ = writeln!(out, "resync {resync}");
    let _ = writeln!(out, "joined {}", joined_text(s.joined));
    for p in &s.peers {
        let addr = p.peer.map_or("unknown".to_string(), |a| a.to_string());
        let last = p.last_datagram.map_or("never".to_string(), |at| {
            let since = now.duration_since(at).unwrap_or_default().as_secs_f64();
            format!("{since:.1} s ago")
        });
        let _ = writeln!(
            out,
            "peer {addr}: {}, sent {} received {} applied {}, last datagram {last}",
            resync_name(p.resync),
            p.sent,
            p.received,
            p.applied
        );
    }
    match s.dump {
        Some((sent, total)) => {
            let _ = writeln!(out, "full-dump sending {sent}/{total} sessions");
        }
        None => out.push_str("full-dump idle\n"),
    }
    let t = &s.sent;
    let _ = writeln!(
        out,
        "sent datagrams {} entries {} full-dumps {} errors {}",
        t.datagrams, t.entries, t.full_dumps, s.send_errors
    );
    let _ = writeln!(
        out,
        "requests coalesced {} deferred {} cookies {}",
        t.requests_coalesced, t.requests_deferred, t.cookies
    );
    let r = &s.received;
    let _ = writeln!(
        out,
        "received datagrams {} applied {} gaps {} peer-restarts {} full-requests {}",
        r.datagrams, r.applied, r.gaps, r.peer_restarts, r.full_requests
    );
    let _ = writeln!(
        out,
        "dropped malformed {} authentication {} stale {} unexpected {} not-from-peer {}",
        r.dropped_malformed,
        r.dropped_authentication,
        r.dropped_stale,
        r.dropped_unexpected,
        r.dropped_not_from_peer
    );
    let _ = writeln!(
        out,
        "dropped out-of-window {} old-boot {} replayed {} unknown-boot {}",
        r.dropped_out_of_window, r.dropped_old_boot, r.dropped_replayed, r.dropped_unknown_boot
    );
    let _ = writeln!(
        out,
        "dropped-entries unknown-server {} unknown-target {} bad-timeout {}",
        r.dropped_unknown_server, r.dropped_unknown_target, r.dropped_bad_timeout
    );
    let _ = writeln!(out, "events-lost {}", s.events_lost);
    match s.last_datagram {
        Some(at) => {
            let since = now.duration_since(at).unwrap_or_default().as_secs_f64();
            let unix = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            let _ = writeln!(out, "last-datagram {unix:.3} ({since:.1} s ago)");
        }
        None => out.push_str("last-datagram never\n"),
    }
    out
}

/// How `show sync` and the log say how the node joined.
pub fn joined_text(joined: Joined) -> String {
    match joined {
        Joined::Alone => "no syncpeer to wait for".to_string(),
        Joined::SyncedFrom(peer) => format!("full table received from {peer}"),
        Joined::NobodyAnswered => format!(
            "no peer answered within {} s: first node up",
            fulcrum_core::sync::JOIN_WAIT.as_secs()
        ),
        Joined::Waiting { since } => format!(
            "waiting for a full table from a peer ({:.1} s of {} s)",
            since.elapsed().as_secs_f64(),
            fulcrum_core::sync::JOIN_WAIT.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_line() {
        let status = Status {
            local: Ipv4Addr::new(127, 0, 0, 1),
            transport: "kernel-udp".to_string(),
            peer: Some((
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
                PeerSource::Configured,
            )),
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
                ..ReceiverCounters::default()
            },
            send_errors: 0,
            events_lost: 0,
            last_datagram: None,
            resync_age: None,
            joined: Joined::Alone,
            peers: Vec::new(),
        };
        let text = render(&status, SystemTime::now());
        for line in [
            "sync running\n",
            "transport kernel-udp\n",
            "peer 127.0.0.2:10439 (from syncpeer)",
            "role backup (receives) for 2.5 s\n",
            "authentication hmac-sha256",
            "resync in sync",
            "received datagrams 3 applied 10 gaps 0",
            "dropped malformed 0 authentication 2",
            "dropped out-of-window 0 old-boot 0 replayed 0 unknown-boot 0",
            "dropped-entries unknown-server 0 unknown-target 0 bad-timeout 0",
            "requests coalesced 0 deferred 0 cookies 0",
            "last-datagram never",
            "joined no syncpeer to wait for",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }

    #[test]
    fn says_why_it_is_not_running_or_has_no_peer() {
        let text = render_off("network 1 has no real address to send sync datagrams from");
        assert_eq!(
            text,
            "sync not running: network 1 has no real address to send sync datagrams from\n"
        );
        let waiting = Status {
            local: Ipv4Addr::new(10, 235, 210, 46),
            transport: "dsr-frames on eth1".to_string(),
            peer: None,
            role: Role::Backup,
            role_age: Duration::ZERO,
            authenticated: false,
            resync: Resync::Wanted,
            dump: None,
            sent: SenderCounters::default(),
            received: ReceiverCounters::default(),
            send_errors: 0,
            events_lost: 0,
            last_datagram: None,
            resync_age: None,
            joined: Joined::Alone,
            peers: Vec::new(),
        };
        let text = render(&waiting, SystemTime::now());
        assert!(
            text.starts_with("sync waiting: no peer yet: waiting for the first vrrp advert"),
            "{text}"
        );
        assert!(text.contains("transport dsr-frames on eth1\n"), "{text}");
        let master = Status {
            role: Role::Master,
            ..waiting
        };
        let text = render(&master, SystemTime::now());
        assert!(
            text.contains("waiting for the backup's full-table request"),
            "{text}"
        );
        assert!(!text.contains("no vrrp"), "{text}");
    }
}
