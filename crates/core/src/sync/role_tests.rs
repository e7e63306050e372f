//! The coordinator's table-driven tests (role, peers, full-table requests, joining).

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
