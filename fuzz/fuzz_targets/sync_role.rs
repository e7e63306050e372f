//! Fuzzes the sync decision node (`fulcrum_core::sync::Coordinator`): who the peer is and which
//! way sessions flow, fed arbitrary sequences of VRRP states and masters (as adverts from anyone
//! on the segment can make them) and verified full-table requesters. Bytes: the first picks the
//! configuration (`syncpeer` or not, `vrrp` block or not), then each 3-byte record is one input:
//! a kind (VRRP role, or requester), a state and an address from a small set (the local address
//! among them, so the node is tempted to follow itself). Beyond "no panic":
//! - with `syncpeer` the peer is always that address, learned from nowhere else;
//! - the peer is never the node's own address;
//! - every `Peer` output is the peer the node then reports, and a full-table request follows
//!   only a change of role to backup;
//! - a master never receives, a backup never sends, and only a node without a `vrrp` block is a
//!   peer that does both.
//!
//! Run: `cargo +nightly fuzz run sync_role`.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use fulcrum_core::sync::{Coordinator, Input, Output, PeerSource, Role, RoleConfig};
use fulcrum_core::vrrp::State;
use libfuzzer_sys::fuzz_target;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);
const CONFIGURED: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);

fn address(byte: u8) -> Ipv4Addr {
    match byte % 4 {
        0 => LOCAL,
        1 => CONFIGURED,
        2 => Ipv4Addr::new(10, 235, 210, 46),
        _ => Ipv4Addr::new(192, 0, 2, byte),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, records)) = data.split_first() else {
        return;
    };
    let config = RoleConfig {
        local: LOCAL,
        syncpeers: if first & 1 == 1 {
            vec![IpAddr::V4(CONFIGURED)]
        } else {
            Vec::new()
        },
        with_vrrp: first & 2 == 2,
    };
    let start = Instant::now();
    let mut node = Coordinator::new(config.clone(), start);
    for (i, record) in records.chunks_exact(3).enumerate() {
        let now = start + Duration::from_millis(i as u64);
        let input = if record[0] & 1 == 0 {
            let state = match record[1] % 5 {
                0 => None,
                1 => Some(State::Initialize),
                2 => Some(State::Backup),
                3 => Some(State::Master),
                _ => Some(State::Fault),
            };
            let master = (record[2] & 0x80 == 0).then(|| IpAddr::V4(address(record[2])));
            Input::Role { state, master }
        } else {
            Input::VerifiedRequester(IpAddr::V4(address(record[2])))
        };
        let role_before = node.role();
        node.handle_input(now, input);
        let mut last_role_output = None;
        let mut last_peer_output = None;
        while let Some(output) = node.poll_output() {
            match output {
                Output::Role(role) => last_role_output = Some(role),
                Output::RequestFullTable => assert_eq!(
                    last_role_output,
                    Some(Role::Backup),
                    "a full table is asked for only on becoming a backup"
                ),
                Output::Peer(peer, source) => last_peer_output = Some((peer, source)),
                Output::Joined(_) => {}
            }
        }
        if let Some(role) = last_role_output {
            assert_ne!(role, role_before);
            assert_eq!(role, node.role());
        }
        if let Some(peer) = last_peer_output {
            assert_eq!(node.peers(), vec![peer]);
        }
        match config.syncpeers.first() {
            Some(&configured) => {
                assert_eq!(node.peers(), vec![(configured, PeerSource::Configured)]);
                assert!(last_peer_output.is_none(), "a configured peer is never replaced");
            }
            None => assert!(node
                .peers()
                .iter()
                .all(|(peer, _)| *peer != IpAddr::V4(LOCAL))),
        }
        match node.role() {
            Role::Master => assert!(node.sends() && !node.receives()),
            Role::Backup => assert!(!node.sends() && node.receives()),
            Role::Peer => {
                assert!(!config.with_vrrp);
                assert!(node.sends() && node.receives());
            }
        }
    }
});
