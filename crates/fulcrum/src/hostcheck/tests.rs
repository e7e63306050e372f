//! The host check's rules on made-up hosts: the seed's ns0a as the seed sets it up finds nothing
//! wrong; each case breaks one thing and lists every warning and error it must produce, word for
//! word.

use std::net::IpAddr;

use fulcrum_core::model::Config;

use super::evaluate::{evaluate, freebind_to_try, udp_ports_to_try, Level};
use super::facts::{Holder, HostFacts, InterfaceFacts, PortState};

const NS0A: &str = include_str!("../../../../tests/fixtures/ns0a.conf");

/// A proxy on a non-local address, port 53, no VRRP, no ping.
const PROXY: &str =
    "target 1 { ipaddr 10.0.0.1 }\nserver 1 { ipaddr 10.0.0.9 port 53 targets 1 }\n\
                     register target 1\nenable target 1\nregister server 1\nenable server 1\n";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn config(text: &str) -> Config {
    fulcrum_config::parse("t.conf", text).unwrap()
}

fn interface(addresses: &[&str]) -> InterfaceFacts {
    InterfaceFacts {
        up: true,
        running: true,
        addresses: addresses.iter().map(|a| ip(a)).collect(),
    }
}

fn agent() -> PortState {
    PortState::Held(vec![Holder {
        pid: 100,
        program: "fulcrum".into(),
    }])
}

fn intruder() -> PortState {
    PortState::Held(vec![Holder {
        pid: 4242,
        program: "nc".into(),
    }])
}

/// ns0a as the seed describes it, with its agent running and Fulcrum not yet started.
fn seed_host() -> HostFacts {
    let mut facts = HostFacts::default();
    facts
        .interfaces
        .insert("lo".into(), interface(&["127.0.0.1", "10.235.210.1"]));
    facts
        .interfaces
        .insert("eth0".into(), interface(&["10.235.210.43"]));
    facts.interfaces.insert("eth1".into(), interface(&[]));
    for (name, ignore, announce) in [("all", 1, 2), ("lo", 0, 0), ("eth0", 1, 2), ("eth1", 0, 0)] {
        facts.arp_ignore.insert(name.into(), ignore);
        facts.arp_announce.insert(name.into(), announce);
    }
    facts.nonlocal_bind = Some(0);
    facts.unprivileged_port_start = Some(1024);
    facts.effective_caps = Some(0x1ff_ffff_ffff);
    facts.euid = Some(0);
    facts.udp_ports.insert(10439, PortState::Free);
    facts.udp_ports.insert(439, agent());
    facts
}

/// Every finding that is not `ok`, rendered.
fn problems(config: &Config, facts: &HostFacts) -> Vec<String> {
    evaluate(config, facts)
        .iter()
        .filter(|f| f.level != Level::Ok)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_seed_host_as_the_seed_sets_it_up_passes() {
    let config = config(NS0A);
    let findings = evaluate(&config, &seed_host());
    let shown: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "ok: interface eth1 exists and is up",
            "ok: interface eth1: the DSR plane runs on AF_PACKET (access raw; `access xdp` would \
             put the VIPs' frames on AF_XDP)",
            "ok: VIP 10.235.210.1 is on lo",
            "ok: net.ipv4.conf.all.arp_ignore is 1, as the seed sets it",
            "ok: net.ipv4.conf.all.arp_announce is 2, as the seed sets it",
            "ok: CAP_NET_ADMIN is held by root (for VRRP's VIP changes)",
            "ok: CAP_NET_RAW is held by root (for server 1's DSR plane, VRRP adverts, ping checks)",
            "ok: udp port 10439 (session sync) is free",
            "ok: udp port 439 (target 1's agent check) is answered by PID 100 (fulcrum)",
        ]
    );
    assert_eq!(
        udp_ports_to_try(&config).into_iter().collect::<Vec<_>>(),
        [439, 10439]
    );
    assert!(freebind_to_try(&config).is_empty());
}

#[test]
fn each_broken_thing_is_named_with_what_to_do() {
    type Break = fn(&mut HostFacts);
    let cases: Vec<(&str, Break, Vec<&str>)> = vec![
        ("eth1 down", |f| f.interfaces.get_mut("eth1").unwrap().up = false, vec![
            "error: interface eth1 is down: bring it up with `ip link set eth1 up`",
        ]),
        ("eth1 without link", |f| f.interfaces.get_mut("eth1").unwrap().running = false, vec![
            "warning: interface eth1 is up but has no link: check its cable or its peer",
        ]),
        ("eth1 missing", |f| { f.interfaces.remove("eth1"); }, vec![
            "error: interface eth1 does not exist: create it or correct its name in the configuration (`ip link` lists the interfaces)",
        ]),
        ("VIP not on lo", |f| { f.interfaces.get_mut("lo").unwrap().addresses.pop(); }, vec![
            "error: VIP 10.235.210.1 is not on lo: add it with `ip addr add 10.235.210.1/32 dev lo` (the seed's lo:0), or the local target drops the queries it is handed",
        ]),
        ("VIP on eth0 instead of lo", |f| {
            f.interfaces.get_mut("lo").unwrap().addresses.pop();
            f.interfaces.get_mut("eth0").unwrap().addresses.push("10.235.210.1".parse().unwrap());
        }, vec![
            "error: VIP 10.235.210.1 is not on lo (it is on eth0 instead): add it with `ip addr add 10.235.210.1/32 dev lo` (the seed's lo:0), or the local target drops the queries it is handed",
        ]),
        ("arp_ignore 0 everywhere", |f| { f.arp_ignore.insert("all".into(), 0); f.arp_ignore.insert("eth0".into(), 0); }, vec![
            "error: net.ipv4.conf.all.arp_ignore is 0: the kernel answers ARP for the VIP on lo on eth0, eth1; set it with `sysctl -w net.ipv4.conf.all.arp_ignore=1` and in /etc/sysctl.conf, as the seed does",
        ]),
        ("arp_ignore 0 for all, 1 on eth0 only", |f| { f.arp_ignore.insert("all".into(), 0); }, vec![
            "error: net.ipv4.conf.all.arp_ignore is 0: the kernel answers ARP for the VIP on lo on eth1; set it with `sysctl -w net.ipv4.conf.all.arp_ignore=1` and in /etc/sysctl.conf, as the seed does",
        ]),
        ("arp_announce unreadable", |f| { f.arp_announce.clear(); }, vec![
            "warning: cannot read net.ipv4.conf.all.arp_announce: check it is 2, as the seed sets it",
        ]),
        ("no raw sockets", |f| { f.effective_caps = Some(1 << 12); f.euid = Some(1000); }, vec![
            "error: CAP_NET_RAW is missing for uid 1000 (needed for server 1's DSR plane, VRRP adverts, ping checks): run as root with the full capability set, or grant it (systemd: AmbientCapabilities=CAP_NET_RAW)",
        ]),
        ("capabilities unreadable", |f| f.effective_caps = None, vec![
            "warning: cannot read this process's capabilities (CapEff in /proc/self/status): CAP_NET_ADMIN is needed for VRRP's VIP changes",
            "warning: cannot read this process's capabilities (CapEff in /proc/self/status): CAP_NET_RAW is needed for server 1's DSR plane, VRRP adverts, ping checks",
        ]),
        ("sync port held by another program", |f| { f.udp_ports.insert(10439, intruder()); }, vec![
            "error: udp port 10439 (session sync) is held by PID 4242 (nc): stop it, or session sync cannot bind",
        ]),
        ("sync port held by an unseen process", |f| { f.udp_ports.insert(10439, PortState::Held(vec![])); }, vec![
            "error: udp port 10439 (session sync) is in use by another process: find it with `ss -ulpn sport = :10439` and stop it, or session sync cannot bind",
        ]),
        ("sync port held by Fulcrum itself", |f| { f.udp_ports.insert(10439, agent()); }, vec![]),
        ("agent not running", |f| { f.udp_ports.insert(439, PortState::Free); }, vec![
            "warning: nothing listens on udp port 439 (target 1's agent check): start the agent (`fulcrum agent -c SCRIPT 439`), or the check takes the target down",
        ]),
        ("agent port held by another program", |f| { f.udp_ports.insert(439, intruder()); }, vec![
            "error: udp port 439 (target 1's agent check) is held by PID 4242 (nc), not an agent: stop it and start `fulcrum agent -c SCRIPT 439`",
        ]),
        ("BalanceNG's own agent", |f| { f.udp_ports.insert(439, PortState::Held(vec![Holder { pid: 7, program: "bngagent".into() }])); }, vec![]),
    ];
    let config = config(NS0A);
    for (what, break_it, expected) in cases {
        let mut facts = seed_host();
        break_it(&mut facts);
        assert_eq!(problems(&config, &facts), expected, "{what}");
    }
}

#[test]
fn without_localdsr_the_vip_and_arp_are_not_checked() {
    let config = config(&NS0A.replace("set localdsr 1\n", ""));
    let mut facts = seed_host();
    facts.interfaces.get_mut("lo").unwrap().addresses.pop();
    facts.arp_ignore.insert("all".into(), 0);
    assert_eq!(problems(&config, &facts), Vec::<String>::new());
}

#[test]
fn a_proxied_address_must_be_local_or_bindable() {
    let proxy = config(PROXY);
    assert_eq!(
        freebind_to_try(&proxy).into_iter().collect::<Vec<_>>(),
        [ip("10.0.0.9")]
    );
    assert!(udp_ports_to_try(&proxy).is_empty());
    type Setup = fn(&mut HostFacts);
    let cases: Vec<(&str, Setup, Vec<&str>)> = vec![
        ("local", |f| f.interfaces.get_mut("eth0").unwrap().addresses.push("10.0.0.9".parse().unwrap()), vec![]),
        ("freebind works", |f| { f.freebind.insert("10.0.0.9".parse().unwrap(), Ok(())); }, vec![]),
        ("nonlocal_bind set", |f| {
            f.freebind.insert("10.0.0.9".parse().unwrap(), Err("Operation not permitted".into()));
            f.nonlocal_bind = Some(1);
        }, vec![]),
        ("neither", |f| { f.freebind.insert("10.0.0.9".parse().unwrap(), Err("Operation not permitted".into())); }, vec![
            "error: server 1's address 10.0.0.9 is not on this host and binding it with IP_FREEBIND failed (Operation not permitted): add the address, or set net.ipv4.ip_nonlocal_bind=1",
        ]),
        ("port 53 without CAP_NET_BIND_SERVICE", |f| {
            f.freebind.insert("10.0.0.9".parse().unwrap(), Ok(()));
            f.effective_caps = Some(0);
            f.euid = Some(1000);
        }, vec![
            "error: CAP_NET_BIND_SERVICE is missing for uid 1000 (needed for server 1's port 53): run as root with the full capability set, or grant it (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)",
        ]),
        ("port 53 allowed to everyone", |f| {
            f.freebind.insert("10.0.0.9".parse().unwrap(), Ok(()));
            f.effective_caps = Some(0);
            f.unprivileged_port_start = Some(53);
        }, vec![]),
    ];
    for (what, setup, expected) in cases {
        let mut facts = seed_host();
        setup(&mut facts);
        assert_eq!(problems(&proxy, &facts), expected, "{what}");
    }
}

#[test]
fn access_xdp_says_which_plane_the_interface_gets_and_why() {
    // The top-level declaration only (the network block names eth1 too).
    let xdp = NS0A.replacen(
        "interface eth1\n",
        "interface 1 {\nname eth1\naccess xdp\n}\n",
        1,
    );
    let config = config(&xdp);
    assert!(super::evaluate::af_xdp_to_try(&config));
    assert!(!super::evaluate::af_xdp_to_try(&self::config(NS0A)));
    let plane_of = |facts: &HostFacts| -> Vec<String> {
        evaluate(&config, facts)
            .iter()
            .map(ToString::to_string)
            .filter(|f| f.contains("the DSR plane"))
            .collect()
    };
    let mut facts = seed_host();
    facts.af_xdp = Some(Ok(()));
    assert_eq!(
        plane_of(&facts),
        ["ok: interface eth1: the DSR plane runs on AF_XDP for the VIPs' UDP and TCP frames and \
          AF_PACKET for the rest (access xdp; the XDP program loads here, native mode where the \
          driver has it, else generic)"]
    );
    facts.af_xdp = Some(Err("the kernel refused the XDP program: EPERM".into()));
    assert_eq!(
        plane_of(&facts),
        [
            "warning: interface eth1: access xdp, but the DSR plane will run on AF_PACKET alone: \
          AF_XDP is unavailable here (the kernel refused the XDP program: EPERM); it needs \
          CAP_BPF besides CAP_NET_ADMIN and CAP_NET_RAW (systemd: AmbientCapabilities=CAP_BPF, \
          and AF_XDP in RestrictAddressFamilies=)"
        ]
    );
}

#[test]
fn an_active_active_dsr_node_needs_the_xdp_program() {
    // The seed's node without its VRRP block (a VIP has one owner), announcing instead.
    let vrrp = "vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n";
    assert!(NS0A.contains(vrrp));
    let announcing = NS0A.replace(vrrp, "") + "announce {\ninterface fulcrum-vip\n}\n";
    let config = config(&announcing);
    assert!(super::dsr_plane::routed_dsr(&config));
    assert!(!super::dsr_plane::routed_dsr(&self::config(NS0A)));
    let routed_of = |facts: &HostFacts| -> Vec<String> {
        evaluate(&config, facts)
            .iter()
            .map(ToString::to_string)
            .filter(|f| f.contains("active-active DSR"))
            .collect()
    };
    let mut facts = seed_host();
    facts.xdp_program = Some(Ok(()));
    assert_eq!(
        routed_of(&facts),
        ["ok: active-active DSR: the XDP program loads here, so the frames routers send to this \
          node's MAC for the DSR VIPs reach the plane"]
    );
    facts.xdp_program = Some(Err("the kernel refused the XDP program: EPERM".into()));
    assert_eq!(
        routed_of(&facts),
        [
            "error: active-active DSR needs the XDP program to take the frames routers send to \
          this node's MAC for the DSR VIPs, and it does not load here (the kernel refused the \
          XDP program: EPERM): the node would withdraw every DSR VIP; it needs CAP_BPF besides \
          CAP_NET_ADMIN (systemd: AmbientCapabilities=CAP_BPF)"
        ]
    );
}

#[test]
fn receive_offloads_that_merge_tcp_segments_are_a_warning_unless_xdp_runs_there() {
    use fulcrum_sys::ethtool::ReceiveOffload;
    let seed = config(NS0A);
    let offload_findings = |config: &Config, facts: &HostFacts| -> Vec<String> {
        evaluate(config, facts)
            .iter()
            .map(ToString::to_string)
            .filter(|f| f.contains("offload"))
            .collect()
    };
    let mut facts = seed_host();
    facts.receive_offload.insert(
        "eth1".into(),
        Ok(ReceiveOffload {
            gro: true,
            lro: false,
        }),
    );
    assert_eq!(
        offload_findings(&seed, &facts),
        [
            "warning: interface eth1: generic receive offload (GRO) is on: the kernel or the NIC \
          merges a client's TCP segments before the DSR plane sees them; the plane cuts a merged \
          frame up to its 2 KiB ring slot into segments again, a longer one is lost (counted as \
          drop-truncated); run `ethtool -K eth1 gro off lro off` (and keep it in the \
          interface's configuration)"
        ]
    );
    facts
        .receive_offload
        .insert("eth1".into(), Ok(ReceiveOffload::default()));
    assert_eq!(
        offload_findings(&seed, &facts),
        ["ok: interface eth1: no receive offload merges TCP segments (GRO and LRO off)"]
    );
    // With the XDP program on eth1 the kernel skips GRO there: nothing to say.
    let xdp = config(&NS0A.replacen(
        "interface eth1\n",
        "interface 1 {\nname eth1\naccess xdp\n}\n",
        1,
    ));
    facts.receive_offload.insert(
        "eth1".into(),
        Ok(ReceiveOffload {
            gro: true,
            lro: true,
        }),
    );
    facts.af_xdp = Some(Ok(()));
    assert_eq!(offload_findings(&xdp, &facts), Vec::<String>::new());
    facts.af_xdp = Some(Err("EPERM".into()));
    assert_eq!(
        offload_findings(&xdp, &facts).len(),
        1,
        "AF_PACKET alone: warned"
    );
}
