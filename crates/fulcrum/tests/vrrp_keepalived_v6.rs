//! Fulcrum's IPv6 VRRP instance (RFC 5798 over IPv6) and keepalived's (Debian 12's 2.2.7,
//! `version 3`) in one group on a lab switch. Fulcrum runs a dual-stack `vrrp` block in proxy
//! mode (a server on the IPv4 VIP and one on the IPv6 VIP fd00:1::100, so it runs one instance
//! per family with VRID 7); keepalived runs an IPv6 instance only. The nodes carry the seed's
//! IPv4 addresses and, for the dual-stack lab, unique-local IPv6 addresses; adverts come from
//! their link-local addresses. Both directions:
//! - keepalived higher (200 vs 100): Fulcrum, master alone, holds the IPv6 VIP; keepalived
//!   takes over and Fulcrum releases it; after SIGKILL of keepalived Fulcrum takes it again.
//! - Fulcrum higher (200 vs 100): keepalived, master alone, yields to Fulcrum (preemption);
//!   after SIGKILL of Fulcrum keepalived takes over.
//! - `show vrrp` shows the IPv6 instance beside the IPv4 one: MASTER alone (its own link-local
//!   address as master, holding the VIP), BACKUP under keepalived (keepalived's address as
//!   master, adverts received), while the IPv4 block, first and unchanged, stays MASTER.
//!
//! - Equal priority (150): the link is cut with a bridge filter in the switch so both become
//!   master, then restored: the master with the higher link-local address stays (RFC 5798
//!   §6.4.3), the other steps down; with Fulcrum's address higher and with keepalived's.
//!
//! Needs root, iproute2, nft and keepalived; a missing tool fails the test with its name.

use std::process::Stdio;
use std::time::{Duration, Instant};

use netlab::{Ns, Switch};
use testkit::process::{read, require_on_path, wait_for_log};
use testkit::show::{value_of, VrrpDoc};
use testkit::vrrp::{fulcrum_config, Fulcrum, Group, Keepalived, Link};

const LOW: &str = "10.235.210.45";
const HIGH: &str = "10.235.210.46";
const VIP6: &str = "fd00:1::100";
const MARGIN: Duration = Duration::from_millis(1500);
const V3: Group = Group {
    version: 3,
    advert_ms: 100,
};

struct Setup {
    link: Link,
    switch: Switch,
    fulcrum_ns: Ns,
    keepalived_ns: Ns,
}

/// A node on the switch with the seed's IPv4 address, a unique-local IPv6 one and the MAC
/// 02:00:00:00:00:`mac` (so its link-local address is fe80::ff:fe00:`mac`, the election's tie
/// breaker), once that link-local address has finished duplicate address detection (both
/// daemons send from it).
fn node(link: &Link, switch: &Switch, name: &str, v4: &str, v6: &str, mac: u8) -> Ns {
    let ns = link.node(name, switch, v4);
    // Down and up: the kernel derives the link-local address from the new MAC.
    ns.ip(&["link", "set", "eth0", "down"]).expect("link down");
    ns.ip(&[
        "link",
        "set",
        "eth0",
        "address",
        &format!("02:00:00:00:00:{mac:02x}"),
    ])
    .expect("MAC");
    ns.ip(&["link", "set", "eth0", "up"]).expect("link up");
    ns.ip(&["-6", "addr", "add", &format!("{v6}/64"), "dev", "eth0"])
        .expect("IPv6 address");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = ns
            .run(&["ip", "-6", "addr", "show", "dev", "eth0"])
            .unwrap_or_default();
        if shown.contains(&format!("fe80::ff:fe00:{mac:x}/64")) && !shown.contains("tentative") {
            return ns;
        }
        assert!(
            Instant::now() < deadline,
            "no usable link-local address:\n{shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fulcrum's node and keepalived's, with the last bytes of their MACs.
fn setup(tag: &str, fulcrum_mac: u8, keepalived_mac: u8) -> Setup {
    let link = Link::new(tag);
    let switch = link.lab.switch("sw").expect("switch");
    let fulcrum_ns = node(&link, &switch, "f", LOW, "fd00:1::45", fulcrum_mac);
    let keepalived_ns = node(&link, &switch, "k", HIGH, "fd00:1::46", keepalived_mac);
    Setup {
        link,
        switch,
        fulcrum_ns,
        keepalived_ns,
    }
}

/// The proxy-mode node of the IPv4 tests with a second server on the IPv6 VIP.
fn start_fulcrum(s: &Setup, priority: u8) -> Fulcrum {
    let config = fulcrum_config("NS0A", LOW, priority, V3, "")
        + &format!(
            "server 2 {{\nipaddr {VIP6}\nport 53\nprotocol udp\ntargets 2\n}}\n\
             register server 2\nenable server 2\n\
             target 2 {{\nipaddr ::1\nport 5353\n}}\n\
             register target 2\nenable target 2\n"
        );
    let fulcrum = Fulcrum::start(&s.link, &s.fulcrum_ns, "f", &config);
    wait_for_log(&fulcrum.log, "vrrp6: vrid 7", Duration::from_secs(10));
    fulcrum
}

/// keepalived's IPv6 instance, as `crates/wire/testdata/capture-ipv6.sh` configures it.
fn start_keepalived(s: &Setup, priority: u8) -> Keepalived {
    require_on_path("keepalived");
    let advert_int = format!("{}", f64::from(V3.advert_ms) / 1000.0);
    let config = format!(
        "global_defs {{\n  router_id k\n}}\n\
         vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  \
         priority {priority}\n  advert_int {advert_int}\n  version 3\n  \
         virtual_ipaddress {{\n    {VIP6}/64\n  }}\n}}\n"
    );
    let conf = s.link.path("k.keepalived.conf");
    std::fs::write(&conf, config).expect("write keepalived.conf");
    let log = s.link.path("k.keepalived.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let vrrp_pidfile = s.link.path("k.vrrp.pid");
    let mut command = s.keepalived_ns.command("keepalived");
    command
        .args(["-n", "-l", "-D", "--vrrp", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(s.link.path("k.keepalived.pid"))
        .arg("-r")
        .arg(&vrrp_pidfile)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file);
    let proc = s.keepalived_ns.spawn(command).expect("start keepalived");
    Keepalived {
        proc,
        log,
        vrrp_pidfile,
    }
}

fn holds_vip6(ns: &Ns) -> bool {
    ns.run(&["ip", "-6", "addr", "show", "dev", "eth0"])
        .map(|text| text.contains(&format!("{VIP6}/")))
        .unwrap_or(false)
}

/// Waits until `ns` holds the IPv6 VIP (`held`) or not.
fn wait_vip6(ns: &Ns, held: bool, limit: Duration, log: &std::path::Path) {
    let start = Instant::now();
    while holds_vip6(ns) != held {
        assert!(
            start.elapsed() < limit,
            "the IPv6 VIP is {} within {limit:?}; log:\n{}",
            if held { "not held" } else { "still held" },
            read(log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keepalived_higher_takes_the_ipv6_vip_and_fulcrum_takes_it_back() {
    let s = setup("v6kah", 0x45, 0x46);
    let fulcrum = start_fulcrum(&s, 100);
    wait_vip6(
        &s.fulcrum_ns,
        true,
        V3.master_down(100) + MARGIN,
        &fulcrum.log,
    );
    let keepalived = start_keepalived(&s, 200);
    keepalived.wait_state("MASTER", V3.master_down(200) + MARGIN);
    wait_vip6(&s.fulcrum_ns, false, MARGIN, &fulcrum.log);
    // Stable over several adverts: keepalived took our adverts as a lower priority's.
    std::thread::sleep(V3.master_down(100));
    assert_eq!(keepalived.state(), "MASTER");
    assert!(!holds_vip6(&s.fulcrum_ns), "{}", read(&fulcrum.log));
    assert!(holds_vip6(&s.keepalived_ns));
    assert!(read(&fulcrum.log).contains("vrrp MASTER -> BACKUP: advert from fe80::"));

    keepalived.sigkill();
    wait_vip6(
        &s.fulcrum_ns,
        true,
        V3.master_down(100) + MARGIN,
        &fulcrum.log,
    );
    assert!(read(&fulcrum.log).contains("vrrp BACKUP -> MASTER: master down timer expired (IPv6)"));
}

#[test]
fn fulcrum_higher_preempts_keepalived_on_ipv6_and_keepalived_takes_over() {
    let s = setup("v6fh", 0x45, 0x46);
    let keepalived = start_keepalived(&s, 100);
    keepalived.wait_state("MASTER", V3.master_down(100) + MARGIN);
    let fulcrum = start_fulcrum(&s, 200);
    wait_vip6(
        &s.fulcrum_ns,
        true,
        V3.master_down(200) + MARGIN,
        &fulcrum.log,
    );
    keepalived.wait_state("BACKUP", MARGIN);
    std::thread::sleep(V3.master_down(100));
    assert_eq!(keepalived.state(), "BACKUP");
    assert!(holds_vip6(&s.fulcrum_ns));
    assert!(!holds_vip6(&s.keepalived_ns));

    fulcrum.proc.kill();
    keepalived.wait_state("MASTER", V3.master_down(100) + MARGIN);
    assert!(holds_vip6(&s.keepalived_ns));
}

/// Drops every frame the bridge forwards while it exists (a cut link).
fn cut(switch: &Switch) {
    switch
        .ns()
        .run(&[
            "nft",
            "add table bridge cut; add chain bridge cut everything { type filter hook forward priority 0; policy drop; }",
        ])
        .expect("nft: cut the link");
}

fn restore(switch: &Switch) {
    switch
        .ns()
        .run(&["nft", "delete table bridge cut"])
        .expect("nft: restore the link");
}

fn equal_priority(tag: &str, fulcrum_mac: u8, keepalived_mac: u8) {
    require_on_path("nft");
    let s = setup(tag, fulcrum_mac, keepalived_mac);
    cut(&s.switch);
    let fulcrum = start_fulcrum(&s, 150);
    let keepalived = start_keepalived(&s, 150);
    wait_vip6(
        &s.fulcrum_ns,
        true,
        V3.master_down(150) + MARGIN,
        &fulcrum.log,
    );
    keepalived.wait_state("MASTER", V3.master_down(150) + MARGIN);
    restore(&s.switch);
    let fulcrum_wins = fulcrum_mac > keepalived_mac;
    // Two masters meet: the lower address yields on the first advert it hears.
    let advert = Duration::from_millis(u64::from(V3.advert_ms));
    if fulcrum_wins {
        keepalived.wait_state("BACKUP", advert * 3 + MARGIN);
    } else {
        wait_vip6(&s.fulcrum_ns, false, advert * 3 + MARGIN, &fulcrum.log);
    }
    std::thread::sleep(V3.master_down(150));
    let expected = if fulcrum_wins { "BACKUP" } else { "MASTER" };
    assert_eq!(keepalived.state(), expected, "{}", read(&keepalived.log));
    assert_eq!(
        holds_vip6(&s.fulcrum_ns),
        fulcrum_wins,
        "{}",
        read(&fulcrum.log)
    );
    assert_eq!(holds_vip6(&s.keepalived_ns), !fulcrum_wins);
    if !fulcrum_wins {
        let log = read(&fulcrum.log);
        let needle = format!(
            "vrrp MASTER -> BACKUP: advert from fe80::ff:fe00:{keepalived_mac:x} with equal \
             priority and higher address (IPv6)"
        );
        assert!(log.contains(&needle), "{log}");
    }
}

#[test]
fn equal_priority_fulcrum_s_higher_link_local_address_stays_master() {
    equal_priority("v6eqf", 0x46, 0x45);
}

#[test]
fn equal_priority_keepalived_s_higher_link_local_address_stays_master() {
    equal_priority("v6eqk", 0x45, 0x46);
}

#[test]
fn fulcrum_s_link_down_hands_over_and_link_up_takes_back() {
    let s = setup("v6lnk", 0x45, 0x46);
    let keepalived = start_keepalived(&s, 100);
    keepalived.wait_state("MASTER", V3.master_down(100) + MARGIN);
    let fulcrum = start_fulcrum(&s, 200);
    wait_vip6(
        &s.fulcrum_ns,
        true,
        V3.master_down(200) + MARGIN,
        &fulcrum.log,
    );
    keepalived.wait_state("BACKUP", MARGIN);

    // Down: the kernel drops the IPv6 addresses with the link; Fulcrum enters FAULT.
    s.fulcrum_ns
        .ip(&["link", "set", "eth0", "down"])
        .expect("link down");
    keepalived.wait_state("MASTER", V3.master_down(100) + MARGIN);
    wait_for_log(&fulcrum.log, "vrrp6: eth0 is down or gone: FAULT", MARGIN);

    // Up: a fresh link-local address after duplicate address detection, the socket reopens,
    // and the higher priority preempts keepalived again.
    s.fulcrum_ns
        .ip(&["link", "set", "eth0", "up"])
        .expect("link up");
    wait_for_log(&fulcrum.log, "vrrp6: eth0 is back", Duration::from_secs(10));
    wait_vip6(
        &s.fulcrum_ns,
        true,
        V3.master_down(200) + MARGIN,
        &fulcrum.log,
    );
    keepalived.wait_state("BACKUP", MARGIN);
    assert!(!holds_vip6(&s.keepalived_ns));
}

/// The IPv6 block of `show vrrp` (after the empty line and its `family ipv6` header).
fn ipv6_block(shown: &str) -> Option<&str> {
    shown
        .split_once("\n\nfamily ipv6\n")
        .map(|(_, block)| block)
}

/// Polls `show vrrp` until its IPv6 block is in `state`; returns the whole text.
fn wait_shown_ipv6_state(fulcrum: &Fulcrum, state: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let shown = fulcrum.show_vrrp();
        if ipv6_block(&shown)
            .and_then(|b| value_of(b, "state"))
            .as_deref()
            == Some(state)
        {
            return shown;
        }
        assert!(
            start.elapsed() < limit,
            "show vrrp has no IPv6 block in {state} within {limit:?}:\n{shown}\nlog:\n{}",
            read(&fulcrum.log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn show_vrrp_shows_the_ipv6_instance_master_then_backup() {
    let s = setup("v6shw", 0x45, 0x46);
    let fulcrum = start_fulcrum(&s, 100);
    let shown = wait_shown_ipv6_state(&fulcrum, "MASTER", V3.master_down(100) + MARGIN);
    let block = ipv6_block(&shown).expect("IPv6 block");
    assert_eq!(
        value_of(&shown, "state").as_deref(),
        Some("MASTER"),
        "{shown}"
    );
    assert_eq!(
        value_of(&shown, "ipaddr0").as_deref(),
        Some("10.235.210.1"),
        "{shown}"
    );
    assert_eq!(value_of(block, "vrid").as_deref(), Some("7"), "{shown}");
    assert_eq!(
        value_of(block, "priority").as_deref(),
        Some("100"),
        "{shown}"
    );
    assert_eq!(value_of(block, "ipaddr0").as_deref(), Some(VIP6), "{shown}");
    assert_eq!(value_of(block, "version").as_deref(), Some("3"), "{shown}");
    assert_eq!(
        value_of(block, "master").as_deref(),
        Some("fe80::ff:fe00:45"),
        "{shown}"
    );
    assert_eq!(
        value_of(block, "holding").as_deref(),
        Some("yes"),
        "{shown}"
    );
    assert_eq!(value_of(block, "dropped").as_deref(), Some("0"), "{shown}");

    let keepalived = start_keepalived(&s, 200);
    keepalived.wait_state("MASTER", V3.master_down(200) + MARGIN);
    let shown = wait_shown_ipv6_state(&fulcrum, "BACKUP", MARGIN);
    let block = ipv6_block(&shown).expect("IPv6 block");
    assert_eq!(
        value_of(block, "master").as_deref(),
        Some("fe80::ff:fe00:46"),
        "{shown}"
    );
    assert_eq!(value_of(block, "holding").as_deref(), Some("no"), "{shown}");
    let received: u64 = value_of(block, "adverts-received")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(received > 0, "{shown}");
    assert!(
        value_of(block, "transitions").is_some_and(|n| n != "0"),
        "{shown}"
    );
    // keepalived runs no IPv4 instance: Fulcrum's stays master and its block comes first.
    assert!(shown.starts_with("state MASTER\nvrid 7\n"), "{shown}");
    // The JSON form says the same per family, typed.
    let doc: VrrpDoc = testkit::control::show(&fulcrum.socket, "show vrrp").expect("show vrrp");
    let (v4, v6) = (doc.ipv4.expect("ipv4"), doc.ipv6.expect("ipv6"));
    assert_eq!((v4.state.as_str(), v6.state.as_str()), ("master", "backup"));
    assert_eq!(v6.addresses, [VIP6]);
    assert_eq!(v6.master.as_deref(), Some("fe80::ff:fe00:46"));
    assert!(!v6.holding && v6.adverts_received > 0 && v6.transitions > 0);
    assert!(holds_vip6(&s.keepalived_ns));
}
