//! IPv6 DSR end to end: the seed's topology with unique-local IPv6 added inside the lab
//! (`netlab::seed6`), the seed's Bind9 pair listening on both families with both VIPs on `lo`,
//! and the real `fulcrum run` in `ns0a` with the seed's NS0A configuration plus an IPv6 server
//! on the IPv6 VIP over both nodes' IPv6 addresses (ns0a's own share through its local stack,
//! `set localdsr 1`). Clients behind the router ask the IPv6 VIP with the real `dig -6`.
//!
//! What it proves:
//! - IPv6 clients are balanced over both nodes and each sticks to one across UDP and TCP;
//!   answers go straight from the target to the client (a capture on ns0a's eth1 sees
//!   requests to the VIP, never an answer from it but the `dsr-path` probes' to `real6`); `show sessions` lists the IPv6 clients; a
//!   query the client's stack fragments reaches its client's node whole and is answered; a
//!   Packet Too Big about an answer a target sent from the VIP reaches that target (one about a
//!   client without a session does not); a
//!   target whose Bind9 stops goes down and its clients move to the other node;
//! - Neighbor Solicitations for the IPv6 VIP are answered only while Fulcrum's IPv6 VRRP
//!   instance is master: under a rival IPv6 VRRP router of higher priority (keepalived, version
//!   3, VRID 7) the router cannot resolve the VIP and IPv6 clients get no answer, while the
//!   IPv4 instance, master alone, keeps the IPv4 VIP served; once the rival is killed, Fulcrum
//!   takes over the IPv6 VIP (with unsolicited advertisements) and IPv6 clients are answered.
//!
//! Each test runs once per DSR plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`). The AF_XDP
//! program steers IPv4 frames only, so on an `access xdp` interface the IPv6 frames checked
//! here still go through the `AF_PACKET` workers: the AF_XDP variant proves that IPv6 keeps
//! working beside a running AF_XDP path, and where IPv4 clients are asked, that their frames
//! went through AF_XDP.
//!
//! Needs root, iproute2, bind9, dig, tcpdump, nftables, python3 and keepalived.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use netlab::lab::Lab;
use netlab::seed::seed_topology;
use netlab::seed6::{wait_for_dad, NS0A_ADDR6, NS0B_ADDR6, VIP6};
use netlab::{Proc, SeedLab};
use testkit::process::{read, require_on_path, wait_for_log};
use testkit::seed_dsr::{ask, require_tools, seed_config_fast, start_seed_agents, Balancer};
use testkit::seed_dsr6::ask6;
use testkit::vrrp::Keepalived;

/// `real6` of network 1: where Fulcrum's solicitations leave from (not on any host).
const REAL6: &str = "fd00:10:235:210::45";
/// The IPv6 VRRP virtual MAC of VRID 7 (RFC 5798 §7.3).
const VIRTUAL_MAC6: &str = "00:00:5e:00:02:07";

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

fn dual_lab(name: &str) -> (Lab, SeedLab) {
    require_tools();
    let lab = Lab::new(name);
    let seed = seed_topology(&lab).expect("build the seed topology");
    seed.add_ipv6().expect("add IPv6 to the seed topology");
    (lab, seed)
}

/// One UDP query of `len` bytes from `source` to the IPv6 VIP (the question, then an EDNS
/// padding option, RFC 7830, so the message stays valid): which node's TXT came back.
fn big_query6(seed: &SeedLab, source: Ipv6Addr, len: usize) -> Option<String> {
    let script = format!(
        "import socket, struct\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         s.bind(('{source}', 0))\n\
         s.settimeout(3)\n\
         q = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]) + b'\\x09balanceng\\x03net\\x00\\x00\\x10\\x00\\x01'\n\
         pad = {len} - len(q) - 15\n\
         opt = b'\\x00' + struct.pack('!HHIH', 41, 4096, 0, 4 + pad) + struct.pack('!HH', 12, pad) + bytes(pad)\n\
         s.sendto(q + opt, ('{VIP6}', 53))\n\
         data = s.recvfrom(65535)[0]\n\
         print('ns0b' if b'ns0b' in data else 'ns0a' if b'ns0a' in data else 'other')\n"
    );
    let output = seed
        .client
        .exec(&["python3", "-c", &script])
        .expect("run python3 in the client namespace");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && matches!(text.as_str(), "ns0a" | "ns0b")).then_some(text)
}

/// A Packet Too Big (with `mtu`) from the router to the IPv6 VIP, quoting a UDP answer the VIP
/// sent from port 53 to `client` (the kernel fills the ICMPv6 checksum of a raw socket).
fn packet_too_big_from_the_router(seed: &SeedLab, client: Ipv6Addr, mtu: u32) {
    let script = format!(
        "import socket, struct\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)\n\
         udp = struct.pack('!HHHH', 53, 4000, 20, 0) + bytes(12)\n\
         ip = struct.pack('!IHBB', 0x60000000, len(udp), 17, 63) + socket.inet_pton(socket.AF_INET6, '{VIP6}') + socket.inet_pton(socket.AF_INET6, '{client}')\n\
         s.sendto(struct.pack('!BBHI', 2, 0, 0, {mtu}) + ip + udp, ('{VIP6}', 0))\n"
    );
    let output = seed
        .router
        .exec(&["python3", "-c", &script])
        .expect("run python3 in the router namespace");
    assert!(
        output.status.success(),
        "sending the Packet Too Big failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn wait_answered6(seed: &SeedLab, balancer: &Balancer, within: Duration) {
    let deadline = Instant::now() + within;
    while ask6(seed, netlab::seed6::CLIENT_ADDR6, false, 1).is_none() {
        assert!(
            balancer.proc.try_wait().is_none(),
            "fulcrum run exited:\n{}",
            balancer.logs()
        );
        assert!(
            Instant::now() < deadline,
            "no answer through the IPv6 VIP within {within:?}:\n{}",
            balancer.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The DSR plane's counter `name` as `show stats` has it now.
fn plane_counter(balancer: &Balancer, name: &str) -> u64 {
    let stats = balancer.control("show stats");
    stats
        .lines()
        .find_map(|line| {
            let mut cells = line.split_whitespace();
            (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} counter in `show stats`:\n{stats}"))
}

/// SIGTERM, then the plane's counters from the log it writes on stopping.
fn stop_and_count(balancer: &Balancer) -> impl Fn(&str) -> u64 {
    let _ = Command::new("kill")
        .args(["-TERM", &balancer.proc.pid().to_string()])
        .status();
    assert!(
        balancer
            .proc
            .wait_timeout(Duration::from_secs(10))
            .is_some(),
        "fulcrum run did not stop on SIGTERM:\n{}",
        balancer.logs()
    );
    let text = balancer.logs();
    move |name: &str| -> u64 {
        text.lines()
            .find_map(|line| {
                let mut cells = line.split_whitespace();
                (cells.next() == Some(name)).then(|| cells.next()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {name} counter in the log:\n{text}"))
    }
}

testkit::per_plane! {
fn ipv6_clients_are_balanced_sticky_and_moved_off_a_target_that_goes_down(plane) {
    let (_lab, seed) = dual_lab("dsr6_bal");
    let mut bind9 = seed.start_bind9_dual().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());
    let balancer = Balancer::start(&seed.ns0a, &plane.config(&dual_config()));
    plane.assert_running(&balancer.log);
    let logs = || balancer.logs();
    wait_answered6(&seed, &balancer, Duration::from_secs(30));

    let capture = seed
        .ns0a
        .capture(
            "eth1",
            &[
                "ip6", "and", "(udp", "port", "53", "or", "tcp", "port", "53)",
            ],
        )
        .expect("capture on ns0a's eth1");
    let clients: Vec<Ipv6Addr> = seed.client_sources6().into_iter().take(40).collect();
    let mut node_of: HashMap<Ipv6Addr, String> = HashMap::new();
    for (i, &client) in clients.iter().enumerate() {
        for tcp in [false, true, false] {
            let answer = ask6(&seed, client, tcp, 2)
                .unwrap_or_else(|| panic!("no answer for {client} (tcp: {tcp}):\n{}", logs()));
            let first = node_of.entry(client).or_insert_with(|| answer.clone());
            assert_eq!(*first, answer, "client {client} (#{i}) moved between nodes");
        }
    }
    let lines = capture.stop();
    let on_a = node_of.values().filter(|n| *n == "ns0a").count();
    let on_b = node_of.values().filter(|n| *n == "ns0b").count();
    assert!(
        on_a >= 5 && on_b >= 5,
        "both nodes serve IPv6 clients: ns0a {on_a}, ns0b {on_b}"
    );
    let vip_port = format!("{VIP6}.53");
    let requests = lines
        .iter()
        .filter(|l| l.contains(&format!("> {vip_port}:")))
        .count();
    // The dsr-path probes ask the IPv6 VIP from `real6`, which gets their answers.
    let answers: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("{vip_port} >")) && !l.contains(&format!("> {REAL6}.")))
        .collect();
    assert!(requests > 0, "the capture saw no request:\n{lines:#?}");
    assert!(
        answers.is_empty(),
        "answers crossed Fulcrum's interface instead of going straight to the client:\n{answers:#?}"
    );
    let sessions = balancer.control("show sessions all");
    for client in &clients {
        assert!(
            sessions.contains(&format!(" {client} ")),
            "show sessions lacks {client}:\n{sessions}"
        );
    }

    // A Packet Too Big from the router about an answer ns0b sent from the VIP to one of its
    // clients reaches ns0b, unchanged; one about a client without a session stays with the
    // kernel.
    let on_b = clients.iter().copied().find(|c| node_of[c] == "ns0b");
    let on_b = on_b.unwrap_or_else(|| panic!("no client on ns0b"));
    let errors = seed
        .ns0b
        .capture("eth0", &["icmp6", "and", "ip6[40]", "==", "2"])
        .expect("capture on ns0b's eth0");
    std::thread::sleep(Duration::from_secs(1));
    // Errors forwarded so far are not this step's: a client's Port Unreachable about an answer
    // that came after its `dig` gave up follows the session too (seen on AF_XDP: the answers to
    // the first two queries while the plane started came late, together).
    let errors_before = plane_counter(&balancer, "icmp6-errors-fwd");
    let stranger: Ipv6Addr = "fd00:10:99::1:99".parse().expect("an address");
    // Told apart by the MTU they carry.
    for (client, mtu) in [(on_b, 1280), (stranger, 1400)] {
        packet_too_big_from_the_router(&seed, client, mtu);
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = errors.stop();
    let errors_forwarded = plane_counter(&balancer, "icmp6-errors-fwd") - errors_before;
    let carrying = |mtu: u32| {
        let text = format!("packet too big, mtu {mtu}");
        seen.iter().filter(|l| l.contains(&text)).count()
    };
    assert_eq!(
        carrying(1280),
        1,
        "the error about {on_b} did not reach ns0b:\n{seen:#?}"
    );
    assert_eq!(
        carrying(1400),
        0,
        "an error without a session was forwarded:\n{seen:#?}"
    );

    // A 2000-byte query over IPv6 from a client on ns0b: its stack sends it as two fragments
    // (IPv6 routers never fragment, and nothing on the way reassembles), the plane steers the
    // second, which carries no ports, by the client's session too, and ns0b reassembles and
    // answers. The capture sees fragments (next header 44 right after the fixed header).
    let fragments = seed
        .ns0b
        .capture("eth0", &["ip6[6]", "==", "44"])
        .expect("capture on ns0b's eth0");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        big_query6(&seed, on_b, 2000).as_deref(),
        Some("ns0b"),
        "the fragmented query was not answered by its client's node:\n{}",
        logs()
    );
    let pieces = fragments.stop();
    let from_client = pieces
        .iter()
        .filter(|l| l.contains(&on_b.to_string()))
        .count();
    assert!(
        from_client >= 2,
        "ns0b did not get the query as fragments:\n{pieces:#?}"
    );

    // ns0b's Bind9 stops: target 4 goes down and its clients are answered by ns0a.
    let moved: Vec<Ipv6Addr> = clients
        .iter()
        .copied()
        .filter(|c| node_of[c] == "ns0b")
        .collect();
    bind9.ns0b.stop();
    balancer.wait_for(4, false, Duration::from_secs(15));
    // The health verdict reaches the plane a moment after `show targets` has it.
    wait_for_log(
        &balancer.log,
        "sessions moved off target 4",
        Duration::from_secs(10),
    );
    for client in &moved {
        let answer = ask6(&seed, *client, false, 2)
            .unwrap_or_else(|| panic!("no answer for {client} after ns0b went down:\n{}", logs()));
        assert_eq!(
            answer, "ns0a",
            "client {client} was not moved off the down target"
        );
    }

    let counter = stop_and_count(&balancer);
    assert!(counter("forwarded") > 0);
    assert!(counter("delivered-locally") > 0);
    assert!(counter("nd-solicits-sent") > 0);
    assert!(counter("nd-answered") + counter("nd-announced") > 0);
    assert_eq!(
        errors_forwarded,
        1,
        "one Packet Too Big had a session:\n{}",
        logs()
    );
    assert_eq!(counter("drop-local-failed"), 0);
    assert_eq!(counter("drop-tx-full"), 0);
}
}

/// keepalived's IPv6 instance on a host of its own on the switch, VRID 7, version 3.
fn start_rival(lab: &Lab, seed: &SeedLab, dir: &std::path::Path) -> (Proc, std::path::PathBuf) {
    require_on_path("keepalived");
    let rival = lab.netns("rival").expect("rival namespace");
    lab.link(&rival, "eth0", &seed.switch)
        .expect("rival on the switch");
    rival
        .addr("eth0", "fd00:10:235:210::99/64")
        .expect("rival's address");
    wait_for_dad(&rival).expect("rival's addresses usable");
    let config = "global_defs {\n  router_id rival\n}\n\
         vrrp_instance VI_6 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  \
         priority 250\n  advert_int 1\n  version 3\n  \
         virtual_ipaddress {\n    fd00:10:235:210::98/64\n  }\n}\n";
    let keepalived = Keepalived::spawn(&rival, dir, "rival", config);
    (keepalived.proc, keepalived.log)
}

/// The router's neighbour entry for the IPv6 VIP after asking for it (a ping from the router).
fn router_resolves_vip6(seed: &SeedLab) -> Option<String> {
    let vip = VIP6.to_string();
    let _ = seed.router.run(&["ip", "-6", "neigh", "flush", "to", &vip]);
    let _ = seed
        .router
        .exec(&["ping", "-6", "-c", "1", "-W", "1", &vip]);
    let shown = seed
        .router
        .run(&["ip", "-6", "neigh", "show", "to", &vip])
        .unwrap_or_default();
    shown
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
}

testkit::per_plane! {
fn neighbour_solicitations_for_the_ipv6_vip_are_answered_only_while_master(plane) {
    let (lab, seed) = dual_lab("dsr6_nd");
    let _bind9 = seed.start_bind9_dual().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());
    let (rival, rival_log) = start_rival(&lab, &seed, scripts.path());
    wait_for_log(&rival_log, "Entering MASTER STATE", Duration::from_secs(10));

    let balancer = Balancer::start(&seed.ns0a, &plane.config(&dual_config()));
    plane.assert_running(&balancer.log);
    let logs = || balancer.logs();
    // The IPv4 instance, alone, becomes master: the IPv4 VIP is served.
    balancer.wait_ready(&seed);
    let ipv6_master = "BACKUP -> MASTER: master down timer expired (IPv6)";
    assert!(!logs().contains(ipv6_master), "{}", logs());
    // The IPv6 instance is backup under the rival: nobody answers for the IPv6 VIP.
    for _ in 0..3 {
        assert_eq!(router_resolves_vip6(&seed), None, "{}", logs());
        assert_eq!(ask6(&seed, netlab::seed6::CLIENT_ADDR6, false, 1), None);
    }
    assert!(ask(&seed, std::net::Ipv4Addr::new(10, 99, 1, 1), false).is_some());

    // The rival dies: Fulcrum's IPv6 instance takes over and the IPv6 VIP is served.
    let child = std::fs::read_to_string(scripts.path().join("rival.vrrp.pid"))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .expect("keepalived wrote its VRRP child's PID");
    let _ = Command::new("kill")
        .args(["-KILL", &child.to_string()])
        .status();
    rival.kill();
    wait_for_log(&balancer.log, ipv6_master, Duration::from_secs(10));
    wait_answered6(&seed, &balancer, Duration::from_secs(10));
    assert_eq!(
        router_resolves_vip6(&seed).as_deref(),
        Some(VIRTUAL_MAC6),
        "{}",
        logs()
    );

    let counter = stop_and_count(&balancer);
    assert!(
        counter("drop-not-active") > 0,
        "solicitations were refused while backup"
    );
    assert!(
        counter("nd-announced") > 0,
        "unsolicited advertisements on becoming master"
    );
    assert!(counter("nd-answered") > 0);
    // The IPv4 query above went through the AF_XDP path of an `access xdp` interface.
    plane.assert_carried(&balancer.logs());
    let _ = read(&rival_log);
}
}
