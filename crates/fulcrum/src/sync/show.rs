//! `show sync`: what the driver last published.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use fulcrum_core::sync::{ReceiverCounters, Resync, SenderCounters};

/// Which way sessions flow on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// VRRP master: sends, takes no sessions.
    Master,
    /// VRRP backup: takes sessions, sends none.
    Backup,
    /// No `vrrp` block: sends its sessions and takes the peer's.
    Peer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master (sends)",
            Role::Backup => "backup (receives)",
            Role::Peer => "peer (no vrrp: sends and receives)",
        }
    }
}

/// Where the peer address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSource {
    Configured,
    VrrpMaster,
    FullRequest,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub local: Ipv4Addr,
    pub peer: Option<(Ipv4Addr, PeerSource)>,
    pub role: Role,
    pub authenticated: bool,
    pub resync: Resync,
    /// (sent, total) of a full table being sent.
    pub dump: Option<(usize, usize)>,
    pub sent: SenderCounters,
    pub received: ReceiverCounters,
    /// Datagrams from an address other than the peer.
    pub dropped_sender: u64,
    pub send_errors: u64,
    pub events_lost: u64,
    pub last_datagram: Option<SystemTime>,
    /// How long ago the current resync state began (`Requested`/`Receiving`).
    pub resync_age: Option<Duration>,
}

pub fn render(s: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    match s.peer {
        Some((addr, source)) => {
            let source = match source {
                PeerSource::Configured => "syncpeer",
                PeerSource::VrrpMaster => "the vrrp master",
                PeerSource::FullRequest => "its full-table request",
            };
            let _ = writeln!(
                out,
                "peer {addr}:{} (from {source})",
                fulcrum_core::sync::PORT
            );
        }
        None => out.push_str("peer unknown (no syncpeer; waiting for vrrp or a request)\n"),
    }
    let _ = writeln!(out, "local {}:{}", s.local, fulcrum_core::sync::PORT);
    let _ = writeln!(out, "role {}", s.role.name());
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
        s.dropped_sender
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_line() {
        let status = Status {
            local: Ipv4Addr::new(127, 0, 0, 1),
            peer: Some((Ipv4Addr::new(127, 0, 0, 2), PeerSource::Configured)),
            role: Role::Backup,
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
            dropped_sender: 0,
            send_errors: 0,
            events_lost: 0,
            last_datagram: None,
            resync_age: None,
        };
        let text = render(&status, SystemTime::now());
        for line in [
            "peer 127.0.0.2:10439 (from syncpeer)",
            "role backup (receives)",
            "authentication hmac-sha256",
            "resync in sync",
            "received datagrams 3 applied 10 gaps 0",
            "dropped malformed 0 authentication 2",
            "last-datagram never",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
