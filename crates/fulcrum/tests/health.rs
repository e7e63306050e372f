//! End-to-end tests of the health checks in the running daemon: the real `fulcrum run` in front
//! of real Bind9 instances, a real `fulcrum agent`, real TCP listeners and a real ICMP target in
//! a network namespace the test creates, read back through the real `fulcrum control`.
//!
//! Checks run with short settings (`1,2`: a probe every second, down after two without
//! success), so a target must be reported down within INTERVAL + TIMEOUT = 3 s of its failure
//! (asserted with a margin for a busy shared machine) and up again on its next success. Every
//! process a test starts is killed by PID when its guard drops, also on panic; each test has
//! its own 127.0.N.0/24 client range and free ports, so tests run in parallel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::LoopbackNetns;
use testkit::daemon::Daemon;
use testkit::dns::{loopback_bind9, ZONE};
use testkit::health::{dig, recorder, two_target_config, DOWN_WITHIN, MARGIN};
use testkit::process::KillOnDrop;
use testkit::show::{target_row, TargetsDoc};
use testkit::{free_port, fulcrum};

#[test]
fn a_stopped_bind9_goes_down_its_clients_move_and_it_comes_back_up() {
    let ports = [free_port(), free_port()];
    let mut a = loopback_bind9("inst-a", ports[0]);
    let _b = loopback_bind9("inst-b", ports[1]);
    let vip = SocketAddr::from(([127, 0, 51, 10], free_port()));
    let scripts = tempfile::tempdir().expect("temporary directory");
    let alerts = scripts.path().join("alerts");
    let script = recorder(scripts.path(), &alerts);
    // `alert "SCRIPT"` runs as `sh -c 'SCRIPT "$@"' fulcrum-alert ID ADDR REASON`.
    let checks = |port: u16| {
        format!(
            "  tcpopen {port},1,2\n  dns {ZONE},1,2\n  alert \"{s} down\"\n  upalert \"{s} up\"",
            s = script.display()
        )
    };
    let (ca, cb) = (checks(ports[0]), checks(ports[1]));
    let daemon = Daemon::with_config(&two_target_config(vip, ports, [&ca, &cb]));
    daemon.wait_for(1, true, MARGIN);
    daemon.wait_for(2, true, MARGIN);

    // A client on inst-a (the session method keeps it there).
    let client = (1..=40)
        .map(|i| Ipv4Addr::new(127, 0, 51, 100 + i))
        .find(|source| dig(vip, *source).as_deref() == Ok("inst-a"))
        .unwrap_or_else(|| panic!("no client placed on inst-a:\n{}", daemon.logs()));

    let text = daemon.control("show targets");
    assert!(text.contains("tcpopen"), "{text}");
    assert!(text.contains(&format!("dns {ZONE},1,2 up")), "{text}");

    a.stop();
    let took = daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 1 reported down {took:?} after its Bind9 stopped");
    assert!(daemon.operational(2), "the other target stays up");
    // The session moved at once: the same client is answered, by the other node.
    for _ in 0..3 {
        assert_eq!(
            dig(vip, client).as_deref(),
            Ok("inst-b"),
            "{}",
            daemon.logs()
        );
    }
    daemon.wait_for_log(&format!("target 1 (127.0.0.1:{}) down: ", ports[0]));
    let lines = daemon.wait_for_lines(&alerts, 1);
    assert!(
        lines[0].starts_with("down 1 127.0.0.1 tcpopen "),
        "alert arguments: {lines:?}"
    );
    let detail = daemon.control("show target 1");
    assert!(detail.contains("operational  no"), "{detail}");
    assert!(detail.contains("connection refused"), "{detail}");

    let _a = loopback_bind9("inst-a", ports[0]);
    daemon.wait_for(1, true, Duration::from_secs(1) + MARGIN);
    let lines = daemon.wait_for_lines(&alerts, 2);
    assert!(
        lines[1].starts_with("up 1 127.0.0.1 "),
        "upalert arguments: {lines:?}"
    );
    // Moved sessions stay where they are.
    assert_eq!(dig(vip, client).as_deref(), Ok("inst-b"));
}

#[test]
fn an_agent_reporting_zero_takes_its_target_down() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (
        loopback_bind9("inst-a", ports[0]),
        loopback_bind9("inst-b", ports[1]),
    );
    let vip = SocketAddr::from(([127, 0, 52, 10], free_port()));
    let work = tempfile::tempdir().expect("temporary directory");
    let value = work.path().join("value");
    std::fs::write(&value, "7\n").expect("write the agent value");
    let key = work.path().join("key");
    std::fs::write(&key, "health-test-secret\n").expect("write the key");
    let agent_port = free_port();
    let _agent = KillOnDrop(
        Command::new(fulcrum())
            .args(["agent", "-b", "127.0.0.1", "-k"])
            .arg(&key)
            .arg("-c")
            .arg(format!("cat {}", value.display()))
            .arg(agent_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fulcrum agent"),
    );
    let checks = format!("  agent {agent_port},1,2");
    let config =
        two_target_config(vip, ports, [&checks, ""]) + "set agentkey \"health-test-secret\"\n";
    let daemon = Daemon::with_config(&config);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.control("show target 1").contains("value 7") {
        assert!(
            Instant::now() < deadline,
            "no agent value:\n{}\n{}",
            daemon.control("show target 1"),
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(daemon.operational(1));

    std::fs::write(&value, "0\n").expect("write the agent value");
    // The agent caches its command's result for up to a second.
    let took = daemon.wait_for(1, false, DOWN_WITHIN + Duration::from_secs(1) + MARGIN);
    eprintln!("target 1 reported down {took:?} after its agent turned to 0");
    assert!(daemon.operational(2));
    let detail = daemon.control("show target 1");
    assert!(detail.contains("value 0"), "{detail}");
    daemon.wait_for_log("down: agent value 0 for ");

    std::fs::write(&value, "3\n").expect("write the agent value");
    daemon.wait_for(1, true, Duration::from_secs(2) + MARGIN);
}

#[test]
fn a_closed_tcp_port_fails_tcpopen_and_a_zone_not_served_fails_dns() {
    let ports = [free_port(), free_port()];
    let (_a, _b) = (
        loopback_bind9("inst-a", ports[0]),
        loopback_bind9("inst-b", ports[1]),
    );
    let vip = SocketAddr::from(([127, 0, 53, 10], free_port()));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
    let open_port = listener.local_addr().expect("local address").port();
    let tcp_check = format!("  tcpopen {open_port},1,2");
    // inst-b is not authoritative for this zone: REFUSED, no SOA.
    let dns_check = "  dns missing.test,1,2";
    let daemon = Daemon::with_config(&two_target_config(vip, ports, [&tcp_check, dns_check]));
    let took = daemon.wait_for(2, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 2 (zone not served) reported down after {took:?}");
    let detail = daemon.control("show target 2");
    assert!(detail.contains("SOA query failed"), "{detail}");
    assert!(daemon.operational(1), "{}", daemon.control("show targets"));
    // With every other target down, the session method still places clients on target 1.
    assert_eq!(
        dig(vip, Ipv4Addr::new(127, 0, 53, 20)).as_deref(),
        Ok("inst-a")
    );

    drop(listener);
    let took = daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 1 (port closed) reported down after {took:?}");
    let detail = daemon.control("show target 1");
    assert!(detail.contains("connection refused"), "{detail}");
    // No target operational: queries are dropped (and counted by the data plane). The data
    // plane learns of the transition just after the scheduler, so allow it a moment.
    std::thread::sleep(Duration::from_millis(200));
    let answer = dig(vip, Ipv4Addr::new(127, 0, 53, 21));
    assert!(
        answer.is_err(),
        "answered {answer:?} with no target up:\n{}\n{}",
        daemon.control("show targets"),
        daemon.logs()
    );

    // Fixing the configuration live brings target 2 back (the `dns` check is replaced).
    daemon.control(&format!("target 2 {{ dns {ZONE},1,2 }}"));
    daemon.wait_for(2, true, Duration::from_secs(1) + MARGIN);
    // Target 1's unchanged check kept its state through that change: still down, its
    // failures still counted (a restart from scratch would show it `pending` and up).
    assert!(!daemon.operational(1), "{}", daemon.control("show targets"));
    let targets: TargetsDoc = daemon.show("show targets");
    let check = target_row(&targets, 1)
        .and_then(|t| {
            t.checks
                .iter()
                .find(|c| c.check == format!("tcpopen {open_port},1,2"))
        })
        .unwrap_or_else(|| panic!("no tcpopen check: {targets:?}"));
    assert_eq!(check.state, "down", "{check:?}");
    assert!(check.failures > 0, "{check:?}");
}

const PING_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77));
const PING_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77));

#[test]
fn ping_over_a_raw_socket_fails_once_the_address_is_gone() {
    // Nobody may open ICMP datagram sockets: the probe falls back to a raw socket.
    ping_scenario("raw", "1 0", PING_V4);
}

#[test]
fn ping_over_a_datagram_socket_fails_once_the_address_is_gone() {
    // Every group may open ICMP datagram sockets (what systemd sets on most hosts).
    ping_scenario("dgram", "0 2147483647", PING_V4);
}

#[test]
fn ping6_over_a_raw_socket_fails_once_the_address_is_gone() {
    ping_scenario("raw6", "1 0", PING_V6);
}

#[test]
fn ping6_over_a_datagram_socket_fails_once_the_address_is_gone() {
    // The one sysctl, net.ipv4.ping_group_range, governs ICMPv6 datagram sockets too.
    ping_scenario("dgram6", "0 2147483647", PING_V6);
}

/// Pings `addr` on the `lo` of a namespace of the test's own, where the daemon runs with
/// `net.ipv4.ping_group_range` set to `group_range`, then removes the address.
fn ping_scenario(tag: &str, group_range: &str, addr: IpAddr) {
    let name = format!("fulcrum-health-{tag}-{}", std::process::id());
    let netns = LoopbackNetns::create(&name, &[addr])
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    let status = netns
        .command("/usr/sbin/sysctl")
        .args([
            "-q",
            "-w",
            &format!("net.ipv4.ping_group_range={group_range}"),
        ])
        .status()
        .expect("run sysctl (Debian package procps)");
    assert!(status.success(), "setting ping_group_range in {name}");
    let config = format!(
        "target 1 {{\n  ipaddr {addr}\n  port 53\n  ping 1,2\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port 53\n  ping 1,2\n}}\n\
         register targets 1,2\nenable targets 1,2\n"
    );
    let daemon = Daemon::with_config_in(&config, Some(&netns));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.control("show target 1").contains("ping 1,2 up") {
        assert!(
            Instant::now() < deadline,
            "ping never succeeded:\n{}\n{}",
            daemon.control("show target 1"),
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("/usr/sbin/ip")
        .args([
            "-n",
            &name,
            "addr",
            "del",
            &format!("{addr}/{}", if addr.is_ipv4() { 32 } else { 128 }),
            "dev",
            "lo",
        ])
        .status()
        .expect("run ip");
    assert!(status.success(), "removing {addr} from {name}");
    let took = daemon.wait_for(1, false, DOWN_WITHIN + MARGIN);
    eprintln!("target 1 reported down {took:?} after its address went away");
    assert!(daemon.operational(2));
    daemon.wait_for_log(&format!(
        "target 1 ({}) down: ping ",
        SocketAddr::new(addr, 53)
    ));
    drop(daemon);
}
