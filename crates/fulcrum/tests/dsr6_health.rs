//! The `dsr-path` check over IPv6, end to end: the seed's topology with unique-local IPv6 added
//! inside the lab (`netlab::seed6`), the seed's Bind9 pair on both families with both VIPs on
//! `lo`, and the real `fulcrum run` in `ns0a` with the seed's NS0A configuration (checks at 1 s)
//! plus an IPv6 server on the IPv6 VIP over both nodes' IPv6 addresses (ns0a's own share
//! through its local stack, `set localdsr 1`), as `dsr6.rs` runs it.
//!
//! What it proves: each IPv6 DSR target gets a `dsr-path` check on the IPv6 VIP that passes
//! (ns0b's through the plane: a query from `real6` to the IPv6 VIP in a frame to the MAC Neighbor
//! Discovery learned, answered from the IPv6 VIP; ns0a's through its local stack); when ns0b
//! loses the IPv6 VIP from its `lo`, its IPv6 target is taken out by that check alone (its
//! `ping` and `tcpopen`, at its own address, still pass) with the reason in the log, while its
//! IPv4 target stays up; with the VIP back, the target comes back up by the same check.
//!
//! Needs root, iproute2, bind9, dig, tcpdump and nftables.

use std::time::{Duration, Instant};

use netlab::lab::Lab;
use netlab::seed::seed_topology;
use netlab::seed6::{NS0A_ADDR6, NS0B_ADDR6, VIP6};
use netlab::SeedLab;
use testkit::seed_dsr::{require_tools, seed_config_fast, start_seed_agents, Balancer};
use testkit::seed_dsr6::ask6;
use testkit::show::TargetsDoc;

/// `real6` of network 1: the probes' source (not on any host).
const REAL6: &str = "fd00:10:235:210::45";
/// INTERVAL + TIMEOUT of the `1,2` checks, and a margin for the busy shared machine.
const DOWN_WITHIN: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_secs(3);

/// The seed's NS0A configuration (checks at 1 s) made dual-stack: the network's IPv6 prefix
/// and `real6`, and server 2 on the IPv6 VIP over target 3 (ns0a) and target 4 (ns0b).
fn dual_config() -> String {
    seed_config_fast()
        .replace(
            "real 10.235.210.45\n",
            &format!("real 10.235.210.45\naddr6 fd00:10:235:210::\nmask6 64\nreal6 {REAL6}\n"),
        )
        .replace(
            "// end of configuration",
            &format!(
                "server 2 {{\nipaddr {VIP6}\nport 53\nmethod session\ntargets 3,4\n}}\n\
                 register server 2\nenable server 2\n\
                 target 3 {{\nipaddr {NS0A_ADDR6}\nport 53\nping 1,2\ntcpopen 53,1,2\ndsr enable\n}}\n\
                 target 4 {{\nipaddr {NS0B_ADDR6}\nport 53\nping 1,2\ntcpopen 53,1,2\ndsr enable\n}}\n\
                 register targets 3,4\nenable targets 3,4\n"
            ),
        )
}

/// The state of target `id`'s check described as `line` in `show targets`, if it has one.
fn check_state(balancer: &Balancer, id: u32, line: &str) -> Option<String> {
    let targets: TargetsDoc = balancer.show("show targets");
    targets
        .targets
        .iter()
        .filter(|t| t.id == id)
        .flat_map(|t| &t.checks)
        .find(|c| c.check == line)
        .map(|c| c.state.clone())
}

fn wait_answered6(seed: &SeedLab, balancer: &Balancer, within: Duration) {
    let deadline = Instant::now() + within;
    while ask6(seed, netlab::seed6::CLIENT_ADDR6, false, 1).is_none() {
        assert!(
            Instant::now() < deadline,
            "no answer through the IPv6 VIP within {within:?}:\n{}",
            balancer.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_ipv6_dsr_target_that_lost_the_ipv6_vip_from_its_lo_is_taken_out_by_the_dsr_path_check() {
    require_tools();
    let lab = Lab::new("dsr6_path");
    let seed = seed_topology(&lab).expect("build the seed topology");
    seed.add_ipv6().expect("add IPv6 to the seed topology");
    let _bind9 = seed.start_bind9_dual().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());
    let balancer = Balancer::start(&seed.ns0a, &dual_config());
    wait_answered6(&seed, &balancer, Duration::from_secs(30));

    let path_line = format!("dsr-path [{VIP6}]:53,1,2");
    let deadline = Instant::now() + Duration::from_secs(15);
    let passing = |id| check_state(&balancer, id, &path_line).as_deref() == Some("up");
    while !(passing(3) && passing(4)) {
        assert!(
            Instant::now() < deadline,
            "no passing IPv6 dsr-path check on both IPv6 targets:\n{}\n{}",
            balancer.control("show targets"),
            balancer.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let detail = balancer.control("show target 4");
    assert!(
        detail.contains(&format!("from [{VIP6}]:53 at ")),
        "ns0b's probe goes through the plane to its MAC: {detail}"
    );
    let detail = balancer.control("show target 3");
    assert!(
        detail.contains(&format!("from [{VIP6}]:53 through the local stack")),
        "ns0a's own probe goes through its local stack: {detail}"
    );

    let vip_on_lo = format!("{VIP6}/128");
    seed.ns0b
        .ip(&["-6", "addr", "del", &vip_on_lo, "dev", "lo"])
        .expect("remove the IPv6 VIP from ns0b's lo");
    let took = balancer.wait_for(4, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 4 reported down {took:?} after losing the IPv6 VIP");
    let why = format!("down: dsr-path no answer from [{VIP6}]:53 at ");
    let line = balancer.wait_for_log(&why, Duration::from_secs(2));
    eprintln!("{line}");
    let label = format!("target 4 ([{NS0B_ADDR6}]:53) ");
    assert!(
        line.contains(&format!("{label}{why}"))
            && line.contains("does the target hold the VIP on its lo?"),
        "the log line must say why: {line}"
    );
    let detail = balancer.control("show target 4");
    assert!(
        detail.contains(&format!("{path_line} down for ")),
        "{detail}"
    );
    for check in ["ping 1,2 up", "tcpopen 53,1,2 up"] {
        assert!(detail.contains(check), "only the DSR path fails: {detail}");
    }
    assert!(balancer.operational(2), "ns0b's IPv4 target stays up");
    assert!(balancer.operational(3), "ns0a's IPv6 target stays up");

    seed.ns0b
        .ip(&["-6", "addr", "add", &vip_on_lo, "dev", "lo"])
        .expect("put the IPv6 VIP back on ns0b's lo");
    let took = balancer.wait_for(4, true, Duration::from_secs(2) + MARGIN);
    eprintln!("target 4 reported up {took:?} after getting the IPv6 VIP back");
    balancer.wait_for_log(&format!("{label}up: dsr-path ok"), Duration::from_secs(2));
    let detail = balancer.control("show target 4");
    assert!(detail.contains(&format!("{path_line} up for ")), "{detail}");
    assert!(
        detail.contains("dsr-path probes (all targets): "),
        "{detail}"
    );
}
