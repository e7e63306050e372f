//! What the health checks make the proxy data plane do beyond taking targets out, end to end:
//! the real `fulcrum run` in front of real Bind9 instances on loopback, read back through the
//! real `fulcrum control` and queried with the real `dig`.
//!
//! - `set failopen 1`: with every target down by its checks (a `dns` check for a zone the
//!   Bind9 instances do not serve, while they answer for theirs), queries are dropped and
//!   counted without it, and forwarded to all configured targets with it.
//! - `method agent`: two real `fulcrum agent -c` processes report 5 and 50; new clients go to
//!   the target reporting 5; the values flipped, new clients go to the other; and a probe that
//!   brings the same value again does not rebuild the data plane's snapshot (the plane logs a
//!   line for each rebuild an agent value causes).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use testkit::daemon::Daemon;
use testkit::dns::loopback_bind9;
use testkit::health::{dig, two_target_config, DOWN_WITHIN, MARGIN};
use testkit::process::KillOnDrop;
use testkit::show::ServersDoc;
use testkit::{free_port, fulcrum};

/// The drops of server `id` in `show servers`.
fn server_drops(daemon: &Daemon, id: u32) -> u64 {
    let servers: ServersDoc = daemon.show("show servers");
    servers
        .servers
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.counters.drops)
        .unwrap_or_else(|| panic!("no server {id}: {servers:?}"))
}

#[test]
fn failopen_forwards_to_every_target_when_all_are_down_and_without_it_queries_are_dropped() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (
        loopback_bind9("inst-a", ports[0]),
        loopback_bind9("inst-b", ports[1]),
    );
    let vip = SocketAddr::from(([127, 0, 55, 10], free_port()));
    // Neither instance is authoritative for missing.test: both fail `dns`, both still answer.
    let check = "  dns missing.test,1,2";
    let daemon = Daemon::with_config(&two_target_config(vip, ports, [check, check]));
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

/// A script printing `value`, replaced whole (written aside, then renamed) so that the agent
/// never runs half of it.
fn write_value_script(path: &std::path::Path, value: u32) {
    use std::os::unix::fs::PermissionsExt;
    let aside = path.with_extension("new");
    std::fs::write(&aside, format!("#!/bin/sh\necho {value}\n")).expect("write the script");
    std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o755))
        .expect("make the script executable");
    std::fs::rename(&aside, path).expect("replace the script");
}

/// Waits until the log has a line containing `text`.
fn wait_for_line(daemon: &Daemon, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !daemon.logs().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log within {within:?}:\n{}\n{}",
            daemon.control("show targets"),
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn agent_rebuilds(daemon: &Daemon) -> usize {
    daemon
        .logs()
        .lines()
        .filter(|l| l.contains("(method agent): new clients go to"))
        .count()
}

#[test]
fn method_agent_sends_new_clients_to_the_lowest_value_and_follows_a_flip() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (
        loopback_bind9("inst-a", ports[0]),
        loopback_bind9("inst-b", ports[1]),
    );
    let vip = SocketAddr::from(([127, 0, 56, 10], free_port()));
    let dir = tempfile::tempdir().expect("temporary directory");
    let scripts = [dir.path().join("a.sh"), dir.path().join("b.sh")];
    write_value_script(&scripts[0], 5);
    write_value_script(&scripts[1], 50);
    let agent_ports = [free_port(), free_port()];
    let _agents: Vec<KillOnDrop> = scripts
        .iter()
        .zip(agent_ports)
        .map(|(script, port)| {
            KillOnDrop(
                std::process::Command::new(fulcrum())
                    .args(["agent", "-b", "127.0.0.1", "-c"])
                    .arg(script)
                    .arg(port.to_string())
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("start fulcrum agent"),
            )
        })
        .collect();
    let checks = agent_ports.map(|port| format!("  agent {port},1,2"));
    let config = two_target_config(vip, ports, [&checks[0], &checks[1]])
        .replace("method session", "method agent");
    let daemon = Daemon::with_config(&config);
    wait_for_line(
        &daemon,
        "server 1 (method agent): new clients go to target 1 (agent value 5)",
        Duration::from_secs(5),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.control("show target 2").contains("agent value  50") {
        assert!(
            Instant::now() < deadline,
            "{}",
            daemon.control("show target 2")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ask_all = |hosts: std::ops::RangeInclusive<u8>| -> Vec<String> {
        hosts
            .map(|host| {
                dig(vip, Ipv4Addr::new(127, 0, 56, host))
                    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.logs()))
            })
            .collect()
    };
    let first = ask_all(21..=40);
    assert!(
        first.iter().all(|i| i == "inst-a"),
        "lowest value 5 on target 1: {first:?}"
    );

    write_value_script(&scripts[0], 50);
    write_value_script(&scripts[1], 5);
    // The agents cache their command's result for a second; probes come every second.
    wait_for_line(
        &daemon,
        "server 1 (method agent): new clients go to target 2 (agent value 5)",
        Duration::from_secs(6),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.control("show target 1").contains("agent value  50") {
        assert!(
            Instant::now() < deadline,
            "{}",
            daemon.control("show target 1")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rebuilt = agent_rebuilds(&daemon);
    let second = ask_all(41..=60);
    assert!(second.iter().all(|i| i == "inst-b"), "flipped: {second:?}");

    // Three more probes of each agent, each with the value it had: no rebuild.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        agent_rebuilds(&daemon),
        rebuilt,
        "unchanged values rebuilt the snapshot:\n{}",
        daemon.logs()
    );
    let text = daemon.control("show target 1");
    eprintln!("{text}\nagent-caused rebuilds: {rebuilt}");
}
