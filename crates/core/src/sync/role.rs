//! Who this node syncs with and which way sessions flow: the decision node between VRRP and the
//! sync [`Sender`](super::Sender) / [`Receiver`](super::Receiver).
//!
//! Contract: a [`Coordinator`] is fed the VRRP driver's state and master with
//! [`Input::Role`] (every time it publishes; an unchanged input decides nothing) and a
//! full-table requester whose address a cookie round trip verified with
//! [`Input::VerifiedRequester`]. It decides:
//! - the [`Role`]: MASTER sends and takes no sessions, any other VRRP state takes sessions and
//!   sends none (a backup), no VRRP group at all with a `vrrp` block is a backup too (the
//!   group is not running yet), and with no `vrrp` block the node is a *peer* that does both;
//! - the peers: the configured `syncpeer`s first, always (every one of them: a node sends its
//!   session events to each and takes each one's, active-active nodes keeping one table);
//!   without any, a backup follows the VRRP master (never itself), and a master or peer not
//!   following a VRRP master takes a verified requester. A peer learned from (unauthenticated)
//!   VRRP adverts never replaces a configured `syncpeer`;
//! - when to ask for the full table: on becoming a backup ([`Output::RequestFullTable`]);
//! - whether the sender runs ([`Coordinator::sends`]) and the receiver ([`Coordinator::receives`]);
//! - whether the node has joined ([`Coordinator::joined`]): a node with configured peers and no
//!   `vrrp` block holds its VIP announcements back until one peer's full table arrived
//!   ([`Input::PeerInSync`]), or until none answered for [`JOIN_WAIT`] (it is the first node up).
//!   Joining happens once per start: a peer lost later withdraws nothing.
//!
//! Call [`Coordinator::handle_input`] when an input arrives, then drain
//! [`Coordinator::poll_output`] and carry each output out in order. It reads no clock: `now`
//! comes in and only dates the current role ([`Coordinator::role_since`]).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::vrrp::State;

/// Which way sessions flow on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// VRRP master: sends, takes no sessions.
    Master,
    /// VRRP backup (or a group not running yet): takes sessions, sends none.
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
    /// The network's `syncpeer`.
    Configured,
    /// The VRRP master this backup follows.
    VrrpMaster,
    /// A full-table request whose source address a cookie round trip verified.
    FullRequest,
}

/// A joining node with configured peers waits this long for one peer's full table before it
/// announces anyway (no peer answered: it is the first node up).
pub const JOIN_WAIT: Duration = Duration::from_secs(5);

/// Whether the node has the other nodes' sessions, so that it may announce its VIPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// No configured peers (or a `vrrp` block, where VRRP decides who serves): nothing to wait for.
    Alone,
    /// This peer's full table arrived.
    SyncedFrom(IpAddr),
    /// No peer answered within [`JOIN_WAIT`].
    NobodyAnswered,
    /// Waiting for a full table since the driver started.
    Waiting { since: Instant },
}

impl Joined {
    /// The node may announce.
    pub fn ready(self) -> bool {
        !matches!(self, Joined::Waiting { .. })
    }
}

/// What the coordinator is built with (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleConfig {
    /// The address sync sends from (never taken as the peer).
    pub local: Ipv4Addr,
    /// The configured `syncpeer`s: the peers, whatever VRRP says.
    pub syncpeers: Vec<IpAddr>,
    /// There is a `vrrp` block: the role comes from VRRP (never [`Role::Peer`]).
    pub with_vrrp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The VRRP driver's state and master as last published (`state: None`: no group runs).
    Role {
        state: Option<State>,
        master: Option<IpAddr>,
    },
    /// A full-table requester's address, verified by its echo of our cookie.
    VerifiedRequester(IpAddr),
    /// This peer's full table arrived whole.
    PeerInSync(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The role is now this (for the log).
    Role(Role),
    /// Ask the peer for its whole table (restart the receiver).
    RequestFullTable,
    /// The (single, derived) peer is now this address; configured peers never change.
    Peer(IpAddr, PeerSource),
    /// The node has joined (see [`Joined`]): it may announce.
    Joined(Joined),
}

/// The decision node; see the module doc.
#[derive(Debug)]
pub struct Coordinator {
    config: RoleConfig,
    role: Role,
    role_since: Instant,
    /// The derived peer, without configured ones.
    peer: Option<(IpAddr, PeerSource)>,
    started: Instant,
    joined: Option<Joined>,
    outputs: VecDeque<Output>,
}

fn role_of(state: Option<State>, with_vrrp: bool) -> Role {
    match state {
        Some(State::Master) => Role::Master,
        Some(_) => Role::Backup,
        None if with_vrrp => Role::Backup,
        None => Role::Peer,
    }
}

impl Coordinator {
    /// Starts as a backup with a `vrrp` block (until VRRP says master), else as a peer; the peer
    /// is the `syncpeer` if configured.
    pub fn new(config: RoleConfig, now: Instant) -> Coordinator {
        let joined = (config.with_vrrp || config.syncpeers.is_empty()).then_some(Joined::Alone);
        Coordinator {
            role: role_of(None, config.with_vrrp),
            role_since: now,
            peer: None,
            started: now,
            joined,
            config,
            outputs: VecDeque::new(),
        }
    }

    /// Takes one input; drain [`Coordinator::poll_output`] afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Role { state, master } => self.follow_vrrp(now, state, master),
            Input::VerifiedRequester(from) => {
                // Our own address can pass the cookie round trip (the answer comes back to us);
                // it is never a peer.
                if from != IpAddr::V4(self.config.local)
                    && self.learns_peer()
                    && self.peer != Some((from, PeerSource::FullRequest))
                {
                    self.set_peer(from, PeerSource::FullRequest);
                }
            }
            Input::PeerInSync(peer) => {
                if self.joined.is_none() {
                    self.join(Joined::SyncedFrom(peer));
                }
            }
        }
    }

    fn join(&mut self, joined: Joined) {
        self.joined = Some(joined);
        self.outputs.push_back(Output::Joined(joined));
    }

    /// Call when [`Coordinator::poll_timeout`] has come: a node that heard from no peer joins.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.joined.is_none() && now >= self.started + JOIN_WAIT {
            self.join(Joined::NobodyAnswered);
        }
    }

    /// When [`Coordinator::handle_timeout`] is next due (`None`: joined).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.joined.is_none().then_some(self.started + JOIN_WAIT)
    }

    /// Whether the node has joined, and how.
    pub fn joined(&self) -> Joined {
        self.joined.unwrap_or(Joined::Waiting {
            since: self.started,
        })
    }

    fn follow_vrrp(&mut self, now: Instant, state: Option<State>, master: Option<IpAddr>) {
        let role = role_of(state, self.config.with_vrrp);
        if role != self.role {
            self.role = role;
            self.role_since = now;
            self.outputs.push_back(Output::Role(role));
            if role == Role::Backup {
                self.outputs.push_back(Output::RequestFullTable);
            }
        }
        if !self.config.syncpeers.is_empty() || role != Role::Backup {
            return;
        }
        let Some(IpAddr::V4(master)) = master else {
            return;
        };
        let master = IpAddr::V4(master);
        if master != IpAddr::V4(self.config.local) && self.peer.map(|(p, _)| p) != Some(master) {
            self.set_peer(master, PeerSource::VrrpMaster);
        }
    }

    fn set_peer(&mut self, peer: IpAddr, source: PeerSource) {
        self.peer = Some((peer, source));
        self.outputs.push_back(Output::Peer(peer, source));
    }

    /// The next thing to carry out, in order.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// When the current role began.
    pub fn role_since(&self) -> Instant {
        self.role_since
    }

    /// Every peer: the configured ones, else the derived one if known.
    pub fn peers(&self) -> Vec<(IpAddr, PeerSource)> {
        if self.config.syncpeers.is_empty() {
            return self.peer.into_iter().collect();
        }
        self.config
            .syncpeers
            .iter()
            .map(|p| (*p, PeerSource::Configured))
            .collect()
    }

    /// The configured peers (fixed while the driver runs).
    pub fn configured(&self) -> &[IpAddr] {
        &self.config.syncpeers
    }

    /// The sender runs (session events are sent, full-table requests answered).
    pub fn sends(&self) -> bool {
        self.role != Role::Backup
    }

    /// The receiver runs (the peer's sessions are taken).
    pub fn receives(&self) -> bool {
        self.role != Role::Master
    }

    /// A master or peer with no `syncpeer` and no VRRP master to follow takes a verified
    /// full-table requester as its peer (see [`super::RequestGate`]).
    pub fn learns_peer(&self) -> bool {
        self.config.syncpeers.is_empty()
            && self.sends()
            && !matches!(self.peer, Some((_, PeerSource::VrrpMaster)))
    }
}

#[cfg(test)]
#[path = "role_tests.rs"]
mod tests;
