//! `show vrrp`: the seed's four lines (`state`, `vrid`, `priority`, `ipaddr0`, plus `ipaddrN`
//! for further addresses), then the version, the advert interval (configured, and the master's
//! as this node uses it), the current master, the interface and mode, the transition count and
//! the time of the last transition, and the counters: adverts sent and received, adverts
//! outranked, priority-0 adverts, ignored inputs, send failures and received packets dropped, by
//! reason (only the reasons that occurred, after their total). Then the sender account: the
//! unicast peers (or `multicast`), the authentication, adverts from senders not heard before,
//! refused as not a configured peer, and taken with another address list.
//!
//! With an IPv6 instance running ([`super::v6`]) its block follows after an empty line, headed
//! `family ipv6`, with the same lines; the IPv4 block stays first and unchanged, so readers that
//! take the first `state` line keep reading the IPv4 instance.
//!
//! [`Status`] is also the typed state other parts of the daemon follow (the sync driver's role
//! and peer, the service status, the JSON form in [`super::show_json`]): they read its fields,
//! never this text.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use fulcrum_core::vrrp::group::DropCounters;
use fulcrum_core::vrrp::{
    AdvertDrop, Auth, Counters, Family, Group, Machine, SenderCounters, State,
};

use super::setup::Mode;

/// A snapshot the driver publishes after every step on its watch channel ([`super::Publisher`]).
#[derive(Debug, Clone)]
pub struct Status {
    /// Which instance: the IPv4 one (VRRP v2 or v3) or the IPv6 one (v3).
    pub family: IpFamily,
    /// The machine's state (INIT, BACKUP, MASTER, FAULT).
    pub state: State,
    pub vrid: u8,
    pub priority: u8,
    pub addresses: Vec<IpAddr>,
    pub version: u8,
    pub advert_interval_cs: u16,
    pub master_advert_interval_cs: u16,
    /// The current master's address, as this node knows it (itself when master, else the
    /// sender of the adverts it follows; `None` before the first one).
    pub master: Option<IpAddr>,
    pub interface: String,
    pub mode: Mode,
    /// Whether this node holds the VIPs now (DSR: the plane's active switch).
    pub holds_vip: bool,
    /// Wall-clock time of the last transition.
    pub last_transition: Option<SystemTime>,
    pub counters: Counters,
    pub drops: DropCounters,
    pub send_errors: u64,
    /// Empty: multicast.
    pub peers: Vec<IpAddr>,
    /// `none` or `pass` (never the password).
    pub auth: &'static str,
    pub senders: SenderCounters,
}

/// The address family of a VRRP instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// As the header of its block in `show vrrp` spells it.
    pub fn name(self) -> &'static str {
        match self {
            IpFamily::V4 => "ipv4",
            IpFamily::V6 => "ipv6",
        }
    }
}

/// Where an instance runs: its interface and mode.
pub struct Place<'a> {
    pub interface: &'a str,
    pub mode: Mode,
}

impl Status {
    pub fn of<A: Family + Into<IpAddr>>(
        machine: &Machine<A>,
        group: &Group<A>,
        place: Place<'_>,
        holds_vip: bool,
        drops: DropCounters,
        send_errors: u64,
    ) -> Status {
        let config = machine.config();
        let family = match config.primary_address.into() {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        };
        let now = Instant::now();
        let wall = SystemTime::now();
        Status {
            family,
            state: machine.state(),
            vrid: config.vrid,
            priority: machine.priority(),
            addresses: config.addresses.iter().map(|&a| a.into()).collect(),
            version: config.version.number(),
            advert_interval_cs: config.advert_interval_cs,
            master_advert_interval_cs: machine.master_advert_interval_cs(),
            master: machine.master_address().map(Into::into),
            interface: place.interface.to_string(),
            mode: place.mode,
            holds_vip,
            last_transition: machine
                .last_transition()
                .and_then(|at| wall.checked_sub(now.saturating_duration_since(at))),
            counters: machine.counters(),
            drops,
            send_errors,
            peers: group.peers().iter().map(|&a| a.into()).collect(),
            auth: match config.auth {
                Auth::None => "none",
                Auth::SimpleText(_) => "pass",
                Auth::Other { .. } => "other",
            },
            senders: group.sender_counters(),
        }
    }
}

impl Status {
    /// Whether the machine is master now.
    pub fn is_master(&self) -> bool {
        self.state == State::Master
    }
}

/// The reply to `show vrrp`, from the drivers' last published statuses (`None`: that instance
/// does not run): the IPv4 block, then the IPv6 block if that instance runs.
pub fn show(v4: Option<&Status>, v6: Option<&Status>) -> String {
    let mut out = match (v4, v6) {
        (Some(status), _) => render(status, SystemTime::now()),
        (None, None) => return "vrrp not running (no vrrp block, or see the log)\n".to_string(),
        (None, Some(_)) => "vrrp not running for ipv4\n".to_string(),
    };
    if let Some(status) = v6 {
        let _ = write!(out, "\nfamily {}\n", status.family.name());
        out.push_str(&render(status, SystemTime::now()));
    }
    out
}

fn render(s: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "state {}", s.state.name());
    let _ = writeln!(out, "vrid {}", s.vrid);
    let _ = writeln!(out, "priority {}", s.priority);
    for (n, addr) in s.addresses.iter().enumerate() {
        let _ = writeln!(out, "ipaddr{n} {addr}");
    }
    let _ = writeln!(out, "version {}", s.version);
    let _ = writeln!(
        out,
        "advert {} ms (master's {} ms)",
        u32::from(s.advert_interval_cs) * 10,
        u32::from(s.master_advert_interval_cs) * 10
    );
    match s.master {
        Some(master) => {
            let _ = writeln!(out, "master {master}");
        }
        None => out.push_str("master unknown\n"),
    }
    let mode = match s.mode {
        Mode::Dsr => "dsr",
        Mode::Proxy => "proxy",
    };
    let _ = writeln!(out, "interface {} ({mode})", s.interface);
    let _ = writeln!(out, "holding {}", if s.holds_vip { "yes" } else { "no" });
    let _ = writeln!(out, "transitions {}", s.counters.transitions);
    match s.last_transition {
        Some(at) => {
            let ago = now.duration_since(at).unwrap_or_default().as_secs_f64();
            let unix = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            let _ = writeln!(out, "last-transition {unix:.3} ({ago:.1} s ago)");
        }
        None => out.push_str("last-transition never\n"),
    }
    let c = &s.counters;
    let _ = writeln!(out, "adverts-sent {}", c.adverts_sent);
    let _ = writeln!(out, "adverts-received {}", c.adverts_received);
    let _ = writeln!(out, "adverts-outranked {}", c.adverts_outranked);
    let _ = writeln!(out, "priority-zero-received {}", c.priority_zero_received);
    let _ = writeln!(out, "inputs-ignored {}", c.inputs_ignored);
    let _ = writeln!(out, "send-errors {}", s.send_errors);
    let _ = writeln!(out, "dropped {}", s.drops.total());
    for reason in AdvertDrop::ALL {
        let n = s.drops.get(reason);
        if n > 0 {
            let _ = writeln!(out, "dropped-{} {n}", reason.name());
        }
    }
    if s.peers.is_empty() {
        out.push_str("peers multicast\n");
    } else {
        let peers: Vec<String> = s.peers.iter().map(IpAddr::to_string).collect();
        let _ = writeln!(out, "peers {}", peers.join(" "));
    }
    let _ = writeln!(out, "auth {}", s.auth);
    let _ = writeln!(out, "adverts-new-sender {}", s.senders.new_sender);
    let _ = writeln!(out, "adverts-not-a-peer {}", s.senders.not_a_peer);
    let _ = writeln!(
        out,
        "adverts-address-mismatch {}",
        s.senders.address_mismatch
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    #[test]
    fn starts_with_the_seeds_four_lines() {
        let mut drops = DropCounters::default();
        drops.count(AdvertDrop::BadTtl);
        let status = Status {
            family: IpFamily::V4,
            state: State::Master,
            vrid: 7,
            priority: 200,
            addresses: vec![Ipv4Addr::new(10, 235, 210, 1).into()],
            version: 2,
            advert_interval_cs: 100,
            master_advert_interval_cs: 100,
            master: Some(Ipv4Addr::new(10, 235, 210, 45).into()),
            interface: "eth1".into(),
            mode: Mode::Proxy,
            holds_vip: true,
            last_transition: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)),
            counters: Counters::default(),
            drops,
            send_errors: 0,
            peers: vec![Ipv4Addr::new(10, 235, 210, 46).into()],
            auth: "pass",
            senders: SenderCounters {
                new_sender: 1,
                not_a_peer: 2,
                address_mismatch: 3,
            },
        };
        let text = render(&status, SystemTime::UNIX_EPOCH + Duration::from_secs(102));
        assert!(
            text.starts_with("state MASTER\nvrid 7\npriority 200\nipaddr0 10.235.210.1\n"),
            "{text}"
        );
        assert!(text.contains("master 10.235.210.45\n"), "{text}");
        assert!(
            text.contains("interface eth1 (proxy)\nholding yes\n"),
            "{text}"
        );
        assert!(
            text.contains("last-transition 100.000 (2.0 s ago)\n"),
            "{text}"
        );
        assert!(text.contains("dropped 1\ndropped-bad-ttl 1\n"), "{text}");
        assert!(
            text.ends_with(
                "peers 10.235.210.46\nauth pass\nadverts-new-sender 1\n\
                 adverts-not-a-peer 2\nadverts-address-mismatch 3\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_ipv6_block_follows_the_ipv4_one_unchanged() {
        let v4 = Status {
            family: IpFamily::V4,
            state: State::Backup,
            vrid: 7,
            priority: 200,
            addresses: vec![Ipv4Addr::new(10, 235, 210, 1).into()],
            version: 3,
            advert_interval_cs: 100,
            master_advert_interval_cs: 100,
            master: None,
            interface: "eth1".into(),
            mode: Mode::Proxy,
            holds_vip: false,
            last_transition: None,
            counters: Counters::default(),
            drops: DropCounters::default(),
            send_errors: 0,
            peers: Vec::new(),
            auth: "none",
            senders: SenderCounters::default(),
        };
        let mut v6 = v4.clone();
        v6.family = IpFamily::V6;
        v6.state = State::Master;
        v6.addresses = vec![Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into()];
        v6.master = Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x45).into());
        v6.drops.count(AdvertDrop::BadTtl);
        let only_v4 = show(Some(&v4), None);
        let both = show(Some(&v4), Some(&v6));
        assert!(both.starts_with(&only_v4), "{both}");
        let block = &both[only_v4.len()..];
        assert!(
            block.starts_with(
                "\nfamily ipv6\nstate MASTER\nvrid 7\npriority 200\nipaddr0 fd00::1\n"
            ),
            "{block}"
        );
        assert!(block.contains("master fe80::45\n"), "{block}");
        assert!(block.contains("dropped 1\ndropped-bad-ttl 1\n"), "{block}");
        assert!(
            show(None, Some(&v6)).starts_with("vrrp not running for ipv4\n\nfamily ipv6\n"),
            "{}",
            show(None, Some(&v6))
        );
    }
}
