//! The DSR plane: the seed's topology and configuration (netlab, the seed's Bind9 pair and
//! agents, the real `fulcrum run` in ns0a), with server 1's access list and rate limit given
//! live from the shell. A denied client gets nothing over UDP or TCP, an allowed one inside a
//! denied prefix is served, and a client flooding the VIP is cut to its limit; the DSR plane
//! counts each refusal as its own `drop-acl` / `drop-ratelimit` event. Runs once per DSR plane
//! (`AF_PACKET`, AF_XDP: `testkit::per_plane!`); on AF_XDP the guarded frames went through the
//! AF_XDP path.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use netlab::lab::Lab;
use netlab::seed::{seed_topology, VIP};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testkit::seed_dsr::{ask, seed_config_fast, start_seed_agents, Balancer};

use super::support::{ask_at_rate, QTYPE_TXT};

fn event(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| {
            let mut cells = l.split_whitespace();
            (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

testkit::per_plane! {
fn the_dsr_plane_denies_by_prefix_and_cuts_a_flood_to_its_limit(plane) {
    testkit::seed_dsr::require_tools();
    let lab = Lab::new("protdsr");
    let seed = seed_topology(&lab).unwrap_or_else(|e| panic!("{e}"));
    let _bind9 = seed.start_bind9().unwrap_or_else(|e| panic!("{e}"));
    let scripts = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let _agents = start_seed_agents(&seed, scripts.path());
    let balancer = Balancer::start(&seed.ns0a, &plane.config(&seed_config_fast()));
    plane.assert_running(&balancer.log);
    balancer.wait_ready(&seed);

    let applied = testkit::control::control_ok(
        &balancer.socket,
        &["server 1 { deny 10.99.1.0/25 allow 10.99.1.7 ratelimit 20,20 }"],
        || balancer.logs(),
    );
    assert!(!applied.contains("ERROR"), "{applied}");
    let host = |n: u8| Ipv4Addr::new(10, 99, 1, n);
    // The planes take a change up asynchronously: wait until the DSR plane has its table.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !balancer
        .control("show stats")
        .contains("dsr   server 1 ratelimit: ")
    {
        assert!(Instant::now() < deadline, "{}", balancer.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    for tcp in [false, true] {
        assert!(ask(&seed, host(7), tcp).is_some(), "10.99.1.7 (tcp {tcp})");
        assert!(ask(&seed, host(8), tcp).is_none(), "10.99.1.8 (tcp {tcp})");
        assert!(
            ask(&seed, host(200), tcp).is_some(),
            "10.99.1.200 (tcp {tcp})"
        );
    }
    let vip = SocketAddr::new(IpAddr::V4(VIP), 53);
    let flood = ask_at_rate(&seed.client, IpAddr::V4(host(150)), vip, 500, 2, QTYPE_TXT);
    let allowed = 20.0 + 20.0 * (flood.seconds + 1.0);
    assert!(
        flood.answered >= 20 && (flood.answered as f64) <= allowed,
        "the flooder got {} answers of {} in {:.1} s (at most {allowed:.0})\n{}",
        flood.answered,
        flood.sent,
        flood.seconds,
        balancer.logs()
    );
    let stats = balancer.control("show stats");
    assert!(event(&stats, "drop-acl") >= 2, "{stats}");
    assert!(
        event(&stats, "drop-ratelimit") + flood.answered >= flood.sent - 5,
        "{flood:?}\n{stats}"
    );
    assert!(
        !stats.contains("proxy server 1"),
        "the proxy, which does not serve server 1, holds no table for it:\n{stats}"
    );
    // A denied client is never steered, so it holds no session.
    let sessions = balancer.control("show sessions all");
    assert!(!sessions.contains(" 10.99.1.8 "), "{sessions}");

    // A clean stop writes the workers' frame counts: the guarded frames took this plane.
    let _ = kill(Pid::from_raw(balancer.proc.pid() as i32), Signal::SIGTERM);
    assert!(
        balancer.proc.wait_timeout(Duration::from_secs(10)).is_some(),
        "fulcrum run did not stop on SIGTERM:\n{}",
        balancer.logs()
    );
    plane.assert_carried(&balancer.logs());
}
}
