//! Three active-active Fulcrum nodes behind an ECMP router, all through BIRD, in DSR mode: the
//! router, the nodes and the three Bind9 targets share one switch (the lab is described in
//! `active_active/lab.rs`); the router routes the VIP to a node's own address (its BGP next
//! hop), the node's DSR plane takes those frames from its kernel and rewrites them to a target's
//! MAC, and the target, holding the VIP on `lo` as the seed's DNS hosts do, answers the client
//! straight through the router. Once per DSR plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`),
//! the two runs one after the other. Under the same steady load from 300 client addresses it
//! checks everything the proxy test (`active_active.rs`) checks, in the same scenario
//! (`active_active/scenario.rs`):
//! - the clients are spread over all three nodes;
//! - node 2 crashes (network silenced, SIGKILL of fulcrum and BIRD): BFD takes it out of the
//!   route, its clients are answered again within BFD detection plus one second, no client
//!   changes target, the other nodes' clients keep their node;
//! - node 2 restarts: it has a peer's full session table before it announces, about a third of
//!   the clients move to it, none changes target;
//! - target 1's Bind9 stops: only its clients change target, once; it comes back and nobody
//!   moves back, not even after node 3's crash and restart;
//! - node 1 loses its side of the switch, as the proxy lab's node 1 whose `eth1` goes down:
//!   a bridge filter on the switch cuts its port off the targets' and its peers' ports, both
//!   ways, while its link carries BGP and BFD to the router on. Its health checks all fail and
//!   it withdraws with the reason `no target up`. (Cutting only its kernel's output to the
//!   targets, nftables in the node, would not do: its DSR plane's frames bypass the node's
//!   netfilter, and its sync would carry its moves onto the peers' sessions.)
//!
//! and, for DSR itself:
//! - every node forwarded frames through its DSR plane (`show stats`' `forwarded` frame
//!   event), and on AF_XDP the AF_XDP path carried them (the log of each node's clean stop);
//! - no node's kernel ever took a VIP frame: an nftables counter of the datagrams for the VIP
//!   each node's kernel receives on `eth1` stays 0, and `Udp NoPorts` and ICMP
//!   `OutDestUnreachs` of every node namespace's `/proc/net/snmp` stay at their values from
//!   before the load while no node starts (a starting node refuses its peers' sync datagrams
//!   and the router's BFD until it binds them), for node 1 through the whole test.
//!
//! Needs root, iproute2, bird2, bind9, nftables. Under about 90 s of wall time per plane.

#[path = "active_active/lab.rs"]
mod lab;
#[path = "active_active/node.rs"]
mod node;
#[path = "active_active/scenario.rs"]
mod scenario;
#[path = "active_active/world.rs"]
mod world;

use std::sync::Mutex;

/// The two planes' runs never overlap: two labs of three nodes and four BIRDs at once on a
/// small machine starve BIRD long enough for BFD to take live peers for dead.
static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

testkit::per_plane! {
fn three_dsr_nodes_share_the_vip_and_no_client_changes_target(plane) {
    // A run that failed poisons the lock; the next one's lab is its own.
    let _turn = ONE_LAB_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let name = match plane {
        testkit::plane::Plane::AfPacket => "aadsrpk",
        testkit::plane::Plane::AfXdp => "aadsrxdp",
    };
    scenario::run(name, lab::Mode::Dsr(plane));
}
}
