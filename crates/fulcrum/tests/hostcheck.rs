//! `fulcrum check --host` on the seed's own host: the seed's topology in network namespaces
//! (netlab: ns0a with eth0 10.235.210.43/24, eth1 up without an address, the VIP on lo,
//! `arp_ignore=1`/`arp_announce=2`), the seed's agent on UDP 439, and the real binary run inside
//! ns0a with the seed's NS0A file unchanged. As the seed sets the host up the check finds
//! nothing wrong (exit 0); then one thing at a time is broken and put back (eth1 down, the VIP
//! removed from lo, `arp_ignore=0`, another program holding the sync port 10439/udp, the check
//! run without CAP_NET_RAW), and each time the check names it with what to do and exits 1; GRO
//! switched on for eth1 (as physical NICs come) is named as a warning. A
//! proxy configuration on the same host binds an address that is not ns0a's with IP_FREEBIND and
//! needs CAP_NET_BIND_SERVICE for port 53. Needs root, iproute2, perl, ethtool and setpriv
//! (util-linux).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use netlab::lab::{Lab, Ns};
use netlab::seed::seed_topology;
use testkit::fulcrum;

/// `tests/fixtures/NAME` as an argument.
fn fixture(name: &str) -> String {
    testkit::fixture(name).display().to_string()
}

fn check_host(node: &Ns) -> Output {
    check_file(node, &fixture("ns0a.conf"), &[])
}

/// `fulcrum check --host -c FILE` in `node`, run by `setpriv` with `drop` removed from the
/// capability bounding set (as a service without them would run) when `drop` is not empty.
fn check_file(node: &Ns, file: &str, drop: &[&str]) -> Output {
    let mut command = if drop.is_empty() {
        node.command(fulcrum())
    } else {
        let mut setpriv = node.command("setpriv");
        setpriv
            .arg(format!("--bounding-set=-{}", drop.join(",-")))
            .arg(fulcrum());
        setpriv
    };
    command
        .args(["check", "--host", "-c", file])
        .output()
        .expect("run fulcrum check --host")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}stderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the check until `done` holds for its output (a process started just before may still
/// be binding), at most five seconds.
fn check_until(node: &Ns, done: impl Fn(&Output) -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let output = check_host(node);
        if done(&output) || Instant::now() > deadline {
            return output;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The check exits 1 and its only problem is `line`.
fn assert_only_error(output: &Output, line: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", text(output));
    let problems: Vec<String> = stdout_lines(output)
        .into_iter()
        .filter(|l| l.starts_with("error: ") || l.starts_with("warning: "))
        .collect();
    assert_eq!(problems, [line], "{}", text(output));
    assert!(
        stdout_lines(output).contains(&"host check: 1 error, 0 warnings".to_string()),
        "{}",
        text(output)
    );
}

fn assert_clean(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", text(output));
    let lines = stdout_lines(output);
    assert!(
        lines.contains(&"host check: 0 errors, 0 warnings".to_string()),
        "{}",
        text(output)
    );
}

#[test]
fn the_seed_host_passes_and_each_broken_thing_is_named() {
    let lab = Lab::new("hostcheck");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let ns0a = &seed.ns0a;

    // The seed's rc.local: the agent answering on UDP 439.
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = dir.path().join("agentcheck.sh");
    std::fs::write(&script, "#!/bin/sh\necho 1\n").expect("write the agent script");
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .expect("chmod the agent script");
    let mut agent = ns0a.command(fulcrum());
    agent
        .arg("agent")
        .arg("-c")
        .arg(&script)
        .arg("439")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _agent = ns0a.spawn(agent).expect("start fulcrum agent");

    let agent_ok = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .contains("ok: udp port 439 (target 1's agent check) is answered by PID")
    };
    let clean = check_until(ns0a, agent_ok);
    assert_clean(&clean);
    let lines = stdout_lines(&clean);
    for expected in [
        "ok: interface eth1 exists and is up",
        "ok: VIP 10.235.210.1 is on lo",
        "ok: net.ipv4.conf.all.arp_ignore is 1, as the seed sets it",
        "ok: net.ipv4.conf.all.arp_announce is 2, as the seed sets it",
        "ok: udp port 10439 (session sync) is free",
    ] {
        assert!(
            lines.contains(&expected.to_string()),
            "{expected}\n{}",
            text(&clean)
        );
    }
    // The licence line is accepted and ignored, with a warning naming it.
    assert!(
        String::from_utf8_lossy(&clean.stderr)
            .contains(":4:1: warning: license is accepted and ignored"),
        "{}",
        text(&clean)
    );

    ns0a.ip(&["link", "set", "eth1", "down"])
        .expect("eth1 down");
    assert_only_error(
        &check_host(ns0a),
        "error: interface eth1 is down: bring it up with `ip link set eth1 up`",
    );
    ns0a.ip(&["link", "set", "eth1", "up"]).expect("eth1 up");
    assert_clean(&check_until(ns0a, |o| o.status.success()));

    ns0a.ip(&["addr", "del", "10.235.210.1/32", "dev", "lo"])
        .expect("remove the VIP from lo");
    assert_only_error(
        &check_host(ns0a),
        "error: VIP 10.235.210.1 is not on lo: add it with `ip addr add 10.235.210.1/32 dev lo` \
         (the seed's lo:0), or the local target drops the queries it is handed",
    );
    ns0a.lo_alias("10.235.210.1/32").expect("put the VIP back");
    assert_clean(&check_host(ns0a));

    ns0a.sysctl("net.ipv4.conf.all.arp_ignore", "0")
        .expect("arp_ignore 0");
    // The lab sets eth0's own value too, as the seed's hosts get it from `all` at boot; eth1
    // takes `all` alone.
    assert_only_error(
        &check_host(ns0a),
        "error: net.ipv4.conf.all.arp_ignore is 0: the kernel answers ARP for the VIP on lo on \
         eth1; set it with `sysctl -w net.ipv4.conf.all.arp_ignore=1` and in /etc/sysctl.conf, \
         as the seed does",
    );
    ns0a.sysctl("net.ipv4.conf.all.arp_ignore", "1")
        .expect("arp_ignore 1");
    assert_clean(&check_host(ns0a));

    let mut holder = ns0a.command("perl");
    holder
        .args([
            "-MIO::Socket::INET",
            "-e",
            "my $s = IO::Socket::INET->new(LocalPort => 10439, Proto => 'udp') or die $!; sleep 60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let holder = ns0a
        .spawn(holder)
        .expect("start a process holding UDP 10439");
    let held = check_until(ns0a, |o| !o.status.success());
    assert_only_error(
        &held,
        &format!(
            "error: udp port 10439 (session sync) is held by PID {} (perl): stop it, or session \
             sync cannot bind",
            holder.pid()
        ),
    );
    holder.kill();
    assert_clean(&check_until(ns0a, |o| o.status.success()));

    // GRO, which physical NICs come with: the kernel would merge a client's TCP segments into
    // frames longer than the MTU before the plane sees them.
    ns0a.run(&["ethtool", "-K", "eth1", "gro", "on"])
        .expect("GRO on for eth1");
    let merged = check_host(ns0a);
    let lines = stdout_lines(&merged);
    assert!(
        lines.iter().any(|l| l.starts_with(
            "warning: interface eth1: generic receive offload (GRO) is on: the kernel or the NIC \
             merges a client's TCP segments"
        )),
        "{}",
        text(&merged)
    );
    ns0a.run(&["ethtool", "-K", "eth1", "gro", "off"])
        .expect("GRO off for eth1");
    assert_clean(&check_host(ns0a));

    assert_only_error(
        &check_file(ns0a, &fixture("ns0a.conf"), &["net_raw"]),
        "error: CAP_NET_RAW is missing for root (needed for server 1's DSR plane, VRRP adverts, \
         ping checks): run as root with the full capability set, or grant it (systemd: \
         AmbientCapabilities=CAP_NET_RAW)",
    );
}

/// Proxy mode on the same host: a server address that is not ns0a's is bound with
/// IP_FREEBIND, and port 53 needs CAP_NET_BIND_SERVICE.
#[test]
fn a_proxied_address_elsewhere_is_bindable_with_freebind() {
    let lab = Lab::new("hostcheck_proxy");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("proxy.conf");
    std::fs::write(
        &file,
        "server 1 {\n  ipaddr 10.235.210.99\n  port 53\n  targets 1\n}\n\
         target 1 {\n  ipaddr 10.235.210.44\n}\n\
         register server 1\nenable server 1\nregister target 1\nenable target 1\n",
    )
    .expect("write the proxy configuration");
    let file = file.display().to_string();

    let output = check_file(&seed.ns0a, &file, &[]);
    assert_clean(&output);
    let lines = stdout_lines(&output);
    for expected in [
        "ok: server 1's address 10.235.210.99 is not on this host; IP_FREEBIND lets Fulcrum bind \
         it, and queries arrive once the address is routed here (VRRP's takeover)",
        "ok: CAP_NET_BIND_SERVICE is held by root (for server 1's port 53)",
    ] {
        assert!(
            lines.contains(&expected.to_string()),
            "{expected}\n{}",
            text(&output)
        );
    }

    assert_only_error(
        &check_file(&seed.ns0a, &file, &["net_bind_service"]),
        "error: CAP_NET_BIND_SERVICE is missing for root (needed for server 1's port 53): run as \
         root with the full capability set, or grant it (systemd: \
         AmbientCapabilities=CAP_NET_BIND_SERVICE)",
    );
}
