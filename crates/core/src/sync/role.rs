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
mod tests {
    use super::*;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
    const OTHER: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 46);
    const THIRD: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 47);

    fn vrrp(state: State, master: Option<Ipv4Addr>) -> Input {
        Input::Role {
            state: Some(state),
            master: master.map(IpAddr::V4),
        }
    }

    const NOT_RUNNING: Input = Input::Role {
        state: None,
        master: None,
    };

    struct Case {
        name: &'static str,
        syncpeer: Option<Ipv4Addr>,
        with_vrrp: bool,
        inputs: Vec<Input>,
        outputs: Vec<Output>,
        role: Role,
        peer: Option<(Ipv4Addr, PeerSource)>,
        learns_peer: bool,
    }

    fn cases() -> Vec<Case> {
        use Output::{Peer, RequestFullTable};
        use PeerSource::{Configured, FullRequest, VrrpMaster};
        vec![
            Case {
                name: "no vrrp block: a peer that sends and receives to its syncpeer",
                syncpeer: Some(OTHER),
                with_vrrp: false,
                inputs: vec![NOT_RUNNING],
                outputs: vec![],
                role: Role::Peer,
                peer: Some((OTHER, Configured)),
                learns_peer: false,
            },
            Case {
                name: "a vrrp block whose group does not run yet: a backup without a peer",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![NOT_RUNNING],
                outputs: vec![],
                role: Role::Backup,
                peer: None,
                learns_peer: false,
            },
            Case {
                name: "a backup follows the vrrp master it hears",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![vrrp(State::Backup, None), vrrp(State::Backup, Some(OTHER))],
                outputs: vec![Peer(OTHER.into(), VrrpMaster)],
                role: Role::Backup,
                peer: Some((OTHER, VrrpMaster)),
                learns_peer: false,
            },
            Case {
                name: "the same input twice decides nothing twice",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![
                    vrrp(State::Backup, Some(OTHER)),
                    vrrp(State::Backup, Some(OTHER)),
                ],
                outputs: vec![Peer(OTHER.into(), VrrpMaster)],
                role: Role::Backup,
                peer: Some((OTHER, VrrpMaster)),
                learns_peer: false,
            },
            Case {
                name: "a configured syncpeer wins over the vrrp master in any advert",
                syncpeer: Some(OTHER),
                with_vrrp: true,
                inputs: vec![vrrp(State::Backup, Some(THIRD))],
                outputs: vec![],
                role: Role::Backup,
                peer: Some((OTHER, Configured)),
                learns_peer: false,
            },
            Case {
                name: "never itself as the peer",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![vrrp(State::Backup, Some(LOCAL))],
                outputs: vec![],
                role: Role::Backup,
                peer: None,
                learns_peer: false,
            },
            Case {
                name: "a master learns a verified requester",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![
                    vrrp(State::Master, Some(LOCAL)),
                    Input::VerifiedRequester(OTHER.into()),
                ],
                outputs: vec![Output::Role(Role::Master), Peer(OTHER.into(), FullRequest)],
                role: Role::Master,
                peer: Some((OTHER, FullRequest)),
                learns_peer: true,
            },
            Case {
                name: "a backup takes no requester as its peer",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![
                    vrrp(State::Backup, None),
                    Input::VerifiedRequester(OTHER.into()),
                ],
                outputs: vec![],
                role: Role::Backup,
                peer: None,
                learns_peer: false,
            },
            Case {
                name: "a requester at the node's own address is never its peer",
                syncpeer: None,
                with_vrrp: false,
                inputs: vec![Input::VerifiedRequester(LOCAL.into())],
                outputs: vec![],
                role: Role::Peer,
                peer: None,
                learns_peer: true,
            },
            Case {
                name: "a node with a syncpeer takes no requester as its peer",
                syncpeer: Some(OTHER),
                with_vrrp: false,
                inputs: vec![Input::VerifiedRequester(THIRD.into())],
                outputs: vec![],
                role: Role::Peer,
                peer: Some((OTHER, Configured)),
                learns_peer: false,
            },
            Case {
                name: "a backup promoted keeps the old master (now its backup) as the peer",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![
                    vrrp(State::Backup, Some(OTHER)),
                    vrrp(State::Master, Some(LOCAL)),
                    Input::VerifiedRequester(THIRD.into()),
                ],
                outputs: vec![Peer(OTHER.into(), VrrpMaster), Output::Role(Role::Master)],
                role: Role::Master,
                peer: Some((OTHER, VrrpMaster)),
                learns_peer: false,
            },
            Case {
                name: "a master demoted asks for the full table and follows the new master",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![
                    vrrp(State::Master, Some(LOCAL)),
                    Input::VerifiedRequester(OTHER.into()),
                    vrrp(State::Backup, Some(THIRD)),
                ],
                outputs: vec![
                    Output::Role(Role::Master),
                    Peer(OTHER.into(), FullRequest),
                    Output::Role(Role::Backup),
                    RequestFullTable,
                    Peer(THIRD.into(), VrrpMaster),
                ],
                role: Role::Backup,
                peer: Some((THIRD, VrrpMaster)),
                learns_peer: false,
            },
            Case {
                name: "fault is no master: a backup that asks for the table again",
                syncpeer: Some(OTHER),
                with_vrrp: true,
                inputs: vec![vrrp(State::Master, Some(LOCAL)), vrrp(State::Fault, None)],
                outputs: vec![
                    Output::Role(Role::Master),
                    Output::Role(Role::Backup),
                    RequestFullTable,
                ],
                role: Role::Backup,
                peer: Some((OTHER, Configured)),
                learns_peer: false,
            },
            Case {
                name: "an IPv6 master is not a sync peer (sync runs over IPv4)",
                syncpeer: None,
                with_vrrp: true,
                inputs: vec![Input::Role {
                    state: Some(State::Backup),
                    master: Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
                }],
                outputs: vec![],
                role: Role::Backup,
                peer: None,
                learns_peer: false,
            },
        ]
    }

    #[test]
    fn decides_role_peer_and_full_table_requests() {
        let start = Instant::now();
        for case in cases() {
            let config = RoleConfig {
                local: LOCAL,
                syncpeers: case.syncpeer.into_iter().map(IpAddr::V4).collect(),
                with_vrrp: case.with_vrrp,
            };
            let mut node = Coordinator::new(config, start);
            let mut outputs = Vec::new();
            for input in &case.inputs {
                node.handle_input(start, *input);
                while let Some(output) = node.poll_output() {
                    outputs.push(output);
                }
            }
            assert_eq!(outputs, case.outputs, "{}", case.name);
            assert_eq!(node.role(), case.role, "{}", case.name);
            let peers: Vec<_> = case.peer.into_iter().map(|(p, s)| (p.into(), s)).collect();
            assert_eq!(node.peers(), peers, "{}", case.name);
            assert_eq!(node.learns_peer(), case.learns_peer, "{}", case.name);
            assert_eq!(node.sends(), case.role != Role::Backup, "{}", case.name);
            assert_eq!(node.receives(), case.role != Role::Master, "{}", case.name);
        }
    }

    #[test]
    fn a_node_with_peers_joins_on_the_first_full_table_or_after_the_wait() {
        let start = Instant::now();
        let peers = vec![IpAddr::V4(OTHER), IpAddr::V4(THIRD)];
        let config = |syncpeers: Vec<IpAddr>, with_vrrp| RoleConfig {
            local: LOCAL,
            syncpeers,
            with_vrrp,
        };
        let mut node = Coordinator::new(config(peers.clone(), false), start);
        assert_eq!(node.joined(), Joined::Waiting { since: start });
        assert_eq!(node.poll_timeout(), Some(start + JOIN_WAIT));
        node.handle_timeout(start + JOIN_WAIT - Duration::from_millis(1));
        assert!(!node.joined().ready());
        node.handle_input(start, Input::PeerInSync(THIRD.into()));
        assert_eq!(node.joined(), Joined::SyncedFrom(THIRD.into()));
        assert_eq!(
            node.poll_output(),
            Some(Output::Joined(Joined::SyncedFrom(THIRD.into())))
        );
        node.handle_input(start, Input::PeerInSync(OTHER.into()));
        assert_eq!(
            node.joined(),
            Joined::SyncedFrom(THIRD.into()),
            "joined once"
        );
        assert_eq!(node.poll_output(), None);
        assert_eq!(node.poll_timeout(), None);
        assert_eq!(node.peers().len(), 2, "every configured peer");

        let mut first_up = Coordinator::new(config(peers, false), start);
        first_up.handle_timeout(start + JOIN_WAIT);
        assert_eq!(first_up.joined(), Joined::NobodyAnswered);

        for (syncpeers, with_vrrp) in [(Vec::new(), false), (vec![IpAddr::V4(OTHER)], true)] {
            let node = Coordinator::new(config(syncpeers, with_vrrp), start);
            assert_eq!(node.joined(), Joined::Alone, "nothing to wait for");
        }
    }

    #[test]
    fn a_role_is_dated_from_the_input_that_changed_it() {
        let start = Instant::now();
        let later = start + std::time::Duration::from_secs(5);
        let config = RoleConfig {
            local: LOCAL,
            syncpeers: Vec::new(),
            with_vrrp: true,
        };
        let mut node = Coordinator::new(config, start);
        node.handle_input(later, vrrp(State::Backup, None));
        assert_eq!(node.role_since(), start, "still a backup");
        node.handle_input(later, vrrp(State::Master, Some(LOCAL)));
        assert_eq!(node.role_since(), later);
    }
}
