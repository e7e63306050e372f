//! One running sync setup: the [`Transport`] that carries datagrams from and to the network's
//! `real` address, port 10439, the core's [`Sender`] and [`Receiver`], and the loop that feeds
//! them real time, the data planes' session events and received datagrams, and carries out
//! what they ask (send, log, apply). Who the peer is, which of sender and receiver runs and when
//! to ask for the full table is the core's [`Coordinator`], fed with the VRRP driver's published
//! state and master; the driver only carries out what it decides. Before anything else a datagram must be small enough and
//! come from the peer's address ([`check_source`]); only then is its HMAC computed. Every
//! datagram sent is stamped with the wall clock, then signed.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fulcrum_core::model::Config;
use fulcrum_core::sync::{
    check_source, Coordinator, DropReason, Entry, Input, Output, PeerSource, ReceiverOutput,
    RequestInfo, RequestVerdict, Role, RoleConfig, SenderOutput, SessionLimits, Sink, Source, PORT,
};
use fulcrum_wire::sync::{set_sent_at, Datagram, Kind};

use super::auth;
use super::link::Link;
use super::setup::Setup;
use super::show::{joined_text, PeerStatus, Status};
use super::transport::Transport;
use crate::plane::tap;

/// The longest the loop waits for a datagram before looking at timers and events.
const TICK: Duration = Duration::from_millis(2);

pub struct Driver {
    setup: Setup,
    transport: Box<dyn Transport>,
    /// One per configured peer, or one for the derived peer.
    links: Vec<Link>,
    coordinator: Coordinator,
    dsr_servers: HashSet<u32>,
    events: Vec<Entry>,
    spare: Vec<Vec<tap::Event>>,
    buf: Vec<u8>,
    send_errors: u64,
    vrrp: crate::vrrp::Subscriber,
    /// The daemon's session tables.
    tap: Arc<tap::SyncTap>,
}

/// Applies what the receiver hands over, a datagram at a time.
struct TableSink {
    entries: Vec<Entry>,
    clear_first: bool,
    role: Role,
}

impl Sink for TableSink {
    fn upsert(&mut self, entry: &Entry) {
        self.entries.push(*entry);
    }
    fn remove(&mut self, entry: &Entry) {
        self.entries.push(*entry);
    }
    fn full_table_started(&mut self) {
        // A pure backup forwards nothing, so all it holds came from the master; a peer without
        // vrrp keeps its own sessions.
        self.clear_first = self.role == Role::Backup;
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Distinct enough across restarts for restart detection.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        return nanos ^ u64::from(std::process::id());
    }
    u64::from_ne_bytes(bytes)
}

fn random_node() -> u32 {
    random_u64() as u32
}

/// The wall clock in ms since the Unix epoch (the datagrams' sent-at).
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The VRRP driver's last published state and master, as the coordinator takes them.
fn vrrp_input(vrrp: &mut crate::vrrp::Subscriber) -> Input {
    let status = vrrp.borrow_and_update();
    Input::Role {
        state: status.as_ref().map(|s| s.state),
        master: status.as_ref().and_then(|s| s.master),
    }
}

fn dsr_servers(config: &Config) -> HashSet<u32> {
    config
        .servers
        .values()
        .filter(|s| {
            s.targets
                .iter()
                .any(|t| config.targets.get(t).is_some_and(|t| t.dsr))
        })
        .map(|s| s.id)
        .collect()
}

impl Driver {
    pub fn open(
        setup: Setup,
        config: &Config,
        transport: Box<dyn Transport>,
        vrrp: crate::vrrp::Subscriber,
        tap: Arc<tap::SyncTap>,
    ) -> Driver {
        let now = Instant::now();
        let node = random_node();
        let keyed = setup.key.is_some();
        let limits = SessionLimits::from_config(config);
        let configured: Vec<Option<IpAddr>> = setup.peers.iter().copied().map(Some).collect();
        let addresses = if configured.is_empty() {
            vec![None]
        } else {
            configured
        };
        let links = addresses
            .into_iter()
            .map(|peer| Link::new(peer, node, keyed, limits.clone(), random_u64(), now))
            .collect();
        let mut vrrp = vrrp;
        let mut coordinator = Coordinator::new(
            RoleConfig {
                local: setup.local,
                syncpeers: setup.peers.clone(),
                with_vrrp: setup.with_vrrp,
            },
            now,
        );
        coordinator.handle_input(now, vrrp_input(&mut vrrp));
        tap.set_enabled(true);
        let peers: Vec<String> = coordinator
            .peers()
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        tracing::info!(
            "sync: listening on {}:{PORT} ({}), peers {}, role {}, {}",
            setup.local,
            transport.kind().name(),
            if peers.is_empty() {
                "unknown yet".to_string()
            } else {
                peers.join(", ")
            },
            coordinator.role().name(),
            if setup.key.is_some() {
                "datagrams authenticated (hmac-sha256)"
            } else {
                "no synckey: datagrams not authenticated"
            }
        );
        Driver {
            setup,
            transport,
            links,
            coordinator,
            dsr_servers: dsr_servers(config),
            events: Vec::new(),
            spare: Vec::new(),
            buf: vec![0; 65536],
            send_errors: 0,
            vrrp,
            tap,
        }
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// A new configuration with the same setup (server set may differ).
    pub fn reconfigure(&mut self, config: &Config) {
        self.dsr_servers = dsr_servers(config);
        let limits = SessionLimits::from_config(config);
        for link in &mut self.links {
            link.receiver.set_limits(limits.clone());
        }
    }

    fn sends(&self) -> bool {
        self.coordinator.sends()
    }

    fn receives(&self) -> bool {
        self.coordinator.receives()
    }

    /// One turn of the loop: waits up to a tick for datagrams, then runs timers and events.
    pub fn turn(&mut self) {
        self.receive_for(TICK);
        let now = Instant::now();
        if self.vrrp.has_changed().unwrap_or(false) {
            let input = vrrp_input(&mut self.vrrp);
            self.coordinator.handle_input(now, input);
        }
        self.events.clear();
        self.tap.drain(&mut self.events, &mut self.spare);
        let (sends, receives) = (self.sends(), self.receives());
        for link in &mut self.links {
            if sends {
                for entry in &self.events {
                    link.sender.handle_event(now, *entry);
                }
                link.sender.handle_timeout(now);
            }
            if receives && link.peer.is_some() {
                link.receiver.handle_timeout(now);
            }
        }
        self.coordinator.handle_timeout(now);
        self.carry_out(now);
    }

    /// Carries out the coordinator's decisions: log the role and the peer, ask for the table.
    fn carry_out_role(&mut self, now: Instant) {
        while let Some(output) = self.coordinator.poll_output() {
            if let Output::Peer(peer, _) = output {
                // Only a derived peer changes, and then there is exactly one link.
                if let Some(link) = self.links.first_mut() {
                    link.peer = Some(peer);
                }
            }
            match output {
                Output::Role(role) => tracing::info!("sync: role is now {}", role.name()),
                Output::RequestFullTable => {
                    for link in &mut self.links {
                        link.receiver.restart(now);
                    }
                }
                Output::Joined(joined) => tracing::info!("sync: joined ({})", joined_text(joined)),
                Output::Peer(peer, PeerSource::VrrpMaster) => {
                    tracing::info!("sync: peer is the vrrp master {peer}")
                }
                Output::Peer(peer, PeerSource::FullRequest) => tracing::info!(
                    "sync: peer is {peer} (its full-table request echoed our cookie)"
                ),
                Output::Peer(peer, PeerSource::Configured) => {
                    tracing::info!("sync: peer is {peer} (syncpeer)")
                }
            }
        }
    }

    fn carry_out(&mut self, now: Instant) {
        self.carry_out_role(now);
        for i in 0..self.links.len() {
            while let Some(output) = self.links[i].sender.poll_output() {
                match output {
                    SenderOutput::Send(mut bytes) => self.send(i, &mut bytes),
                    SenderOutput::Snapshot => {
                        let rows = self.tap.snapshot();
                        self.links[i].sender.start_dump(now, rows);
                    }
                    SenderOutput::Log(line) => tracing::info!("{line}"),
                }
            }
            while let Some(output) = self.links[i].receiver.poll_output() {
                match output {
                    ReceiverOutput::Send(mut bytes) => {
                        // A full-table request (the receiver sends nothing else).
                        self.links[i].resync_since = Some(now);
                        self.send(i, &mut bytes);
                    }
                    ReceiverOutput::Log(line) => match self.links[i].peer {
                        Some(peer) if self.links.len() > 1 => tracing::info!("{line} ({peer})"),
                        _ => tracing::info!("{line}"),
                    },
                }
            }
        }
    }

    /// Sends to link `i`'s peer, if known.
    fn send(&mut self, i: usize, bytes: &mut [u8]) {
        let Some(peer) = self.links.get(i).and_then(|l| l.peer) else {
            return;
        };
        self.send_to(peer, bytes);
    }

    /// Stamps, signs and sends one datagram.
    fn send_to(&mut self, peer: IpAddr, bytes: &mut [u8]) {
        set_sent_at(bytes, wall_ms());
        if let Some(key) = &self.setup.key {
            auth::sign(key, bytes);
        }
        if let Err(e) = self.transport.send(peer, bytes) {
            self.send_errors += 1;
            // The peer being down gives ECONNREFUSED on loopback; log rarely.
            if self.send_errors.is_power_of_two() {
                tracing::warn!(
                    "sync: cannot send to {peer} ({} failures so far): {e}",
                    self.send_errors
                );
            }
        }
    }

    /// Waits up to `wait` for a datagram, then takes what else has arrived (bounded).
    fn receive_for(&mut self, wait: Duration) {
        let mut budget = 4096;
        let mut wait = wait;
        while budget > 0 {
            let Some((len, from)) = self.transport.recv(&mut self.buf, wait) else {
                break;
            };
            self.handle(len, from);
            budget -= 1;
            // The rest of a burst is read without waiting again.
            wait = Duration::ZERO;
        }
    }

    fn handle(&mut self, len: usize, from: IpAddr) {
        let now = Instant::now();
        if from.is_unspecified() {
            // No usable source (see the transports): never a peer.
            self.count_drop(DropReason::NotFromPeer);
            return;
        }
        let Some(bytes) = self.buf.get(..len) else {
            return;
        };
        // The link of the peer at `from`; a node that learns its peer has exactly one.
        let learns = self.learns_peer();
        let i = self
            .links
            .iter()
            .position(|l| l.peer == Some(from))
            .unwrap_or(0);
        let Some(link) = self.links.get_mut(i) else {
            return;
        };
        // Size and source first: no HMAC is computed for a datagram that cannot be the peer's.
        let source = check_source(bytes, from, link.peer.filter(|p| *p == from), learns);
        if let Source::Drop(reason) = source {
            link.receiver.count_drop(reason);
            return;
        }
        let Ok(datagram) = Datagram::new_checked(bytes) else {
            link.receiver.count_drop(DropReason::Malformed);
            return;
        };
        if !auth::verify(self.setup.key.as_deref(), &datagram) {
            link.receiver.count_drop(DropReason::Authentication);
            return;
        }
        link.last_datagram = Some(SystemTime::now());
        if datagram.kind() == Kind::FullRequest {
            if !self.coordinator.sends() {
                // A backup holds the master's sessions, not its own: nothing to offer.
                link.receiver.count_drop(DropReason::Unexpected);
                return;
            }
            let request = RequestInfo {
                from,
                node: datagram.node(),
                sequence: datagram.sequence(),
                sent_at: datagram.sent_at(),
                request: datagram.request(),
                cookie: datagram.cookie(),
            };
            link.sender.flush(now);
            let from_peer = source == Source::Peer;
            let random = random_u64() as u32;
            match link
                .sender
                .handle_full_request(now, wall_ms(), &request, from_peer, random)
            {
                RequestVerdict::Dropped(reason) => link.receiver.count_drop(reason),
                RequestVerdict::Cookie(mut bytes) => self.send_to(from, &mut bytes),
                RequestVerdict::Started | RequestVerdict::Coalesced | RequestVerdict::Deferred => {
                    if !from_peer {
                        self.coordinator
                            .handle_input(now, Input::VerifiedRequester(from));
                    }
                }
            }
            self.carry_out(now);
            return;
        }
        if !self.coordinator.receives() {
            link.receiver.count_drop(DropReason::Unexpected);
            return;
        }
        let mut sink = TableSink {
            entries: std::mem::take(&mut self.events),
            clear_first: false,
            role: self.coordinator.role(),
        };
        sink.entries.clear();
        link.receiver
            .handle_datagram(now, wall_ms(), &datagram, &mut sink);
        let in_sync = link.in_sync();
        if in_sync {
            link.resync_since = None;
        }
        if sink.clear_first {
            self.tap.clear();
        }
        self.tap.apply(&sink.entries, &self.dsr_servers);
        self.events = sink.entries;
        self.events.clear();
        if in_sync {
            self.coordinator.handle_input(now, Input::PeerInSync(from));
        }
        self.carry_out(now);
    }

    /// Counts a datagram dropped before its peer was known (on the first link's receiver).
    fn count_drop(&mut self, reason: DropReason) {
        if let Some(link) = self.links.first_mut() {
            link.receiver.count_drop(reason);
        }
    }

    /// Whether a verified full-table requester may become the peer (the coordinator decides).
    fn learns_peer(&self) -> bool {
        self.coordinator.learns_peer()
    }

    pub fn status(&self) -> Status {
        let first = self.links.first();
        let mut sent = fulcrum_core::sync::SenderCounters::default();
        let mut received = fulcrum_core::sync::ReceiverCounters::default();
        for link in &self.links {
            sent.add(&link.sender.counters());
            received.add(&link.receiver.counters());
        }
        let peers = self.coordinator.peers();
        Status {
            local: self.setup.local,
            transport: format!(
                "{}{}",
                self.transport.kind().name(),
                self.transport.detail()
            ),
            peer: peers.first().copied(),
            role: self.coordinator.role(),
            role_age: self.coordinator.role_since().elapsed(),
            authenticated: self.setup.key.is_some(),
            resync: first.map_or(fulcrum_core::sync::Resync::Wanted, |l| l.receiver.resync()),
            dump: first.and_then(|l| l.sender.dump_progress()),
            sent,
            received,
            send_errors: self.send_errors,
            events_lost: self.tap.lost(),
            last_datagram: self.links.iter().filter_map(|l| l.last_datagram).max(),
            resync_age: first.and_then(|l| l.resync_since.map(|at| at.elapsed())),
            joined: self.coordinator.joined(),
            peers: if self.links.len() > 1 {
                self.links.iter().map(PeerStatus::of).collect()
            } else {
                Vec::new()
            },
        }
    }
}
