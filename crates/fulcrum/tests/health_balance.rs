//! What the health checks make the proxy data plane do beyond taking targets out, end to end:
//! the real `fulcrum run` in front of real Bind9 instances on loopback, read back through the
//! real `fulcrum control` and queried with the real `dig`.
//!
//! - `set failopen 1`: with every target down by its checks (a `dns` check for a zone the
//!   Bind9 instances do not serve, while they answer for theirs), queries are dropped and
//!   counted without it, and forwarded to all configured targets with it.

mod health_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use health_support::{bind9, dig, free_port, two_target_config, Daemon, DOWN_WITHIN, MARGIN};

/// The `drops` column of server `id` in `show servers`.
fn server_drops(daemon: &Daemon, id: u32) -> u64 {
    let text = daemon.control("show servers");
    let row: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .find(|cells| cells.len() > 10 && cells[0] == id.to_string())
        .unwrap_or_else(|| panic!("no row for server {id}:\n{text}"));
    // ... queries responses timeouts drops sessions
    row[row.len() - 2]
        .parse()
        .unwrap_or_else(|_| panic!("drops cell in {row:?}"))
}

#[test]
fn failopen_forwards_to_every_target_when_all_are_down_and_without_it_queries_are_dropped() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (bind9("inst-a", ports[0]), bind9("inst-b", ports[1]));
    let vip = SocketAddr::from(([127, 0, 55, 10], free_port()));
    // Neither instance is authoritative for missing.test: both fail `dns`, both still answer.
    let check = "  dns missing.test,1,2";
    let daemon = Daemon::start(&two_target_config(vip, ports, [check, check]));
    daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    daemon.wait_for(2, false, DOWN_WITHIN + MARGIN);
    // The data plane learns of the transition just after the scheduler.
    std::thread::sleep(Duration::from_millis(200));

    let before = server_drops(&daemon, 1);
    let answer = dig(vip, Ipv4Addr::new(127, 0, 55, 20));
    assert!(answer.is_err(), "answered {answer:?} with no target up");
    let deadline = Instant::now() + Duration::from_secs(2);
    while server_drops(&daemon, 1) == before {
        assert!(
            Instant::now() < deadline,
            "the dropped query was not counted:\n{}",
            daemon.control("show servers")
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    daemon.control("set failopen 1");
    daemon.wait_for_log("failopen: forwarding to all its targets");
    let mut answered_by = std::collections::BTreeMap::new();
    for host in 21..=60u8 {
        let client = Ipv4Addr::new(127, 0, 55, host);
        let instance = dig(vip, client).unwrap_or_else(|e| {
            panic!(
                "not answered failing open: {e}\n{}\n{}",
                daemon.control("show targets"),
                daemon.logs()
            )
        });
        *answered_by.entry(instance).or_insert(0u32) += 1;
    }
    assert_eq!(
        answered_by.len(),
        2,
        "both configured targets take clients: {answered_by:?}"
    );
    assert!(!daemon.operational(1) && !daemon.operational(2));
    eprintln!("failing open, 40 clients answered by {answered_by:?}");
}
