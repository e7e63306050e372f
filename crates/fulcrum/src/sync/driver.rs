//! One running sync setup: the [`Transport`] that carries datagrams from and to the network's
//! `real` address, port 10439, the core's [`Sender`] and [`Receiver`], and the loop that feeds
//! them real time, the data planes' session events and received datagrams, and carries out
//! what they ask (send, log, apply). Who the peer is, which of sender and receiver runs and when
//! to ask for the full table is the core's [`Coordinator`], fed with the VRRP driver's published
//! state and master; the driver only carries out what it decides. Before anything else a datagram must be small enough and
//! come from the peer's address ([`check_source`]); only then is its HMAC computed. Every
//! datagram sent is stamped with the wall clock, then signed.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fulcrum_core::model::Config;
use fulcrum_core::sync::{
    check_source, Coordinator, DropReason, Entry, Input, Output, PeerSource, Receiver,
    ReceiverConfig, ReceiverOutput, RequestInfo, RequestVerdict, Resync, Role, RoleConfig, Sender,
    SenderConfig, SenderOutput, SessionLimits, Sink, Source, PORT, REPLAY_WINDOW,
};
use fulcrum_wire::sync::{set_sent_at, Datagram, Kind};

use super::auth;
use super::setup::Setup;
use super::show::Status;
use super::transport::Transport;
use crate::plane::tap;

/// The longest the loop waits for a datagram before looking at timers and events.
const TICK: Duration = Duration::from_millis(2);

pub struct Driver {
    setup: Setup,
    transport: Box<dyn Transport>,
    sender: Sender,
    receiver: Receiver,
    coordinator: Coordinator,
    dsr_servers: HashSet<u32>,
    events: Vec<Entry>,
    spare: Vec<Vec<tap::Event>>,
    buf: Vec<u8>,
    send_errors: u64,
    last_datagram: Option<SystemTime>,
    resync_since: Option<Instant>,
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
        let sender = Sender::new(SenderConfig::new(node, keyed), now);
        let receiver = Receiver::new(
            ReceiverConfig {
                node,
                with_mac: keyed,
                replay_window: keyed.then_some(REPLAY_WINDOW),
                limits: SessionLimits::from_config(config),
                seed: random_u64(),
            },
            now,
        );
        let mut vrrp = vrrp;
        let mut coordinator = Coordinator::new(
            RoleConfig {
                local: setup.local,
                syncpeer: setup.peer,
                with_vrrp: setup.with_vrrp,
            },
            now,
        );
        coordinator.handle_input(now, vrrp_input(&mut vrrp));
        tap.set_enabled(true);
        tracing::info!(
            "sync: listening on {}:{PORT} ({}), peer {}, role {}, {}",
            setup.local,
            transport.kind().name(),
            coordinator
                .peer()
                .map_or("unknown yet".to_string(), |(p, _)| p.to_string()),
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
            sender,
            receiver,
            coordinator,
            dsr_servers: dsr_servers(config),
            events: Vec::new(),
            spare: Vec::new(),
            buf: vec![0; 65536],
            send_errors: 0,
            last_datagram: None,
            resync_since: None,
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
        self.receiver.set_limits(SessionLimits::from_config(config));
    }

    fn sends(&self) -> bool {
        self.coordinator.sends()
    }

    fn receives(&self) -> bool {
        self.coordinator.receives()
    }

    fn peer(&self) -> Option<Ipv4Addr> {
        self.coordinator.peer().map(|(p, _)| p)
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
        if self.sends() {
            for i in 0..self.events.len() {
                let entry = self.events[i];
                self.sender.handle_event(now, entry);
            }
            self.sender.handle_timeout(now);
        }
        if self.receives() && self.peer().is_some() {
            self.receiver.handle_timeout(now);
        }
        self.carry_out(now);
    }

    /// Carries out the coordinator's decisions: log the role and the peer, ask for the table.
    fn carry_out_role(&mut self, now: Instant) {
        while let Some(output) = self.coordinator.poll_output() {
            match output {
                Output::Role(role) => tracing::info!("sync: role is now {}", role.name()),
                Output::RequestFullTable => self.receiver.restart(now),
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
        while let Some(output) = self.sender.poll_output() {
            match output {
                SenderOutput::Send(mut bytes) => self.send(&mut bytes),
                SenderOutput::Snapshot => self.sender.start_dump(now, self.tap.snapshot()),
                SenderOutput::Log(line) => tracing::info!("{line}"),
            }
        }
        while let Some(output) = self.receiver.poll_output() {
            match output {
                ReceiverOutput::Send(mut bytes) => {
                    // A full-table request (the receiver sends nothing else).
                    self.resync_since = Some(now);
                    self.send(&mut bytes);
                }
                ReceiverOutput::Log(line) => tracing::info!("{line}"),
            }
        }
    }

    fn send(&mut self, bytes: &mut [u8]) {
        let Some(peer) = self.peer() else {
            return;
        };
        self.send_to(peer, bytes);
    }

    /// Stamps, signs and sends one datagram.
    fn send_to(&mut self, peer: Ipv4Addr, bytes: &mut [u8]) {
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

    fn handle(&mut self, len: usize, from: Ipv4Addr) {
        let now = Instant::now();
        if from.is_unspecified() {
            // No usable source (see the transports): never a peer.
            self.receiver.count_drop(DropReason::NotFromPeer);
            return;
        }
        let Some(bytes) = self.buf.get(..len) else {
            return;
        };
        // Size and source first: no HMAC is computed for a datagram that cannot be the peer's.
        let known_peer = self.peer();
        let source = check_source(bytes, from, known_peer, self.learns_peer());
        if let Source::Drop(reason) = source {
            self.receiver.count_drop(reason);
            return;
        }
        let Ok(datagram) = Datagram::new_checked(bytes) else {
            self.receiver.count_drop(DropReason::Malformed);
            return;
        };
        if !auth::verify(self.setup.key.as_deref(), &datagram) {
            self.receiver.count_drop(DropReason::Authentication);
            return;
        }
        self.last_datagram = Some(SystemTime::now());
        if datagram.kind() == Kind::FullRequest {
            if !self.sends() {
                // A backup holds the master's sessions, not its own: nothing to offer.
                self.receiver.count_drop(DropReason::Unexpected);
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
            self.sender.flush(now);
            let from_peer = source == Source::Peer;
            let random = random_u64() as u32;
            match self
                .sender
                .handle_full_request(now, wall_ms(), &request, from_peer, random)
            {
                RequestVerdict::Dropped(reason) => self.receiver.count_drop(reason),
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
        if !self.receives() {
            self.receiver.count_drop(DropReason::Unexpected);
            return;
        }
        let mut sink = TableSink {
            entries: std::mem::take(&mut self.events),
            clear_first: false,
            role: self.coordinator.role(),
        };
        sink.entries.clear();
        self.receiver
            .handle_datagram(now, wall_ms(), &datagram, &mut sink);
        if sink.clear_first {
            self.tap.clear();
        }
        self.tap.apply(&sink.entries, &self.dsr_servers);
        self.events = sink.entries;
        self.events.clear();
        if matches!(self.receiver.resync(), Resync::InSync) {
            self.resync_since = None;
        }
        self.carry_out(now);
    }

    /// Whether a verified full-table requester may become the peer (the coordinator decides).
    fn learns_peer(&self) -> bool {
        self.coordinator.learns_peer()
    }

    pub fn status(&self) -> Status {
        Status {
            local: self.setup.local,
            transport: format!(
                "{}{}",
                self.transport.kind().name(),
                self.transport.detail()
            ),
            peer: self.coordinator.peer(),
            role: self.coordinator.role(),
            role_age: self.coordinator.role_since().elapsed(),
            authenticated: self.setup.key.is_some(),
            resync: self.receiver.resync(),
            dump: self.sender.dump_progress(),
            sent: self.sender.counters(),
            received: self.receiver.counters(),
            send_errors: self.send_errors,
            events_lost: self.tap.lost(),
            last_datagram: self.last_datagram,
            resync_age: self.resync_since.map(|at| at.elapsed()),
        }
    }
}
