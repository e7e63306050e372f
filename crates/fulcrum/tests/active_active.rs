//! Three active-active Fulcrum nodes behind an ECMP router, all through BIRD (the lab is
//! described in `active_active/lab.rs`): the nodes run in proxy mode, each holding the VIP
//! locally, with `method session`, and sync their sessions with each other (node 1 over IPv6
//! with both others, nodes 2 and 3 over IPv4). A steady load from
//! 300 client addresses (testkit's bounded load) runs while the test checks, in order:
//! - the router's multipath route holds all three nodes and the clients are spread over all
//!   three (the router kernel's own decision per flow, `ip route get`);
//! - node 2 crashes (its namespace silenced by nftables, then SIGKILL of its fulcrum and BIRD):
//!   BFD takes it out of the route,
//!   its clients are answered again within BFD detection plus one second, no client changes
//!   target, and the other nodes' clients keep their node. Node 2 is the middle next hop of the
//!   kernel's hash-threshold multipath route, whose other ranges only grow when it goes; killing
//!   the first or last next hop moves a sixth of the others' flows too (docs/active-active.md);
//! - restart of node 2: it receives the full session table from a peer before it announces
//!   (its log says so, in that order), about a third of the clients move to it, none changes
//!   target;
//! - stopping target 1's Bind9: only its clients change target, each once; starting it again
//!   moves nobody back (sessions), not even after node 3 crashes and comes back, which only
//!   the sessions it synced from its peers can ensure (the hash alone would send target 1's old
//!   clients back to it);
//! - node 1 losing every target (its link to them down): it withdraws, the router keeps the two
//!   others, and `show announce` says why.
//!
//! The scenario lives in `active_active/scenario.rs`, shared with the DSR variant
//! (`active_active_dsr.rs`). Needs root, iproute2, bird2, bind9, nftables. Under about 90 s of
//! wall time.

#[path = "active_active/bench.rs"]
mod bench;
#[path = "active_active/lab.rs"]
mod lab;
#[path = "active_active/node.rs"]
mod node;
#[path = "active_active/scenario.rs"]
mod scenario;
#[path = "active_active/world.rs"]
mod world;

#[test]
fn three_nodes_share_the_vip_and_no_client_changes_target() {
    scenario::run("aa", lab::Mode::Proxy);
}

/// The benchmark behind `bench/active_active.sh` (figures in docs/benchmarks.md), in the mode
/// `FULCRUM_BENCH_MODE` names (`proxy`, the default, or `dsr`: the `AF_PACKET` plane).
#[test]
#[ignore = "a benchmark: run bench/active_active.sh"]
fn bench_active_active() {
    bench::run();
}
