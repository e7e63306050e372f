//! Fulcrum and keepalived (Debian 12's 2.2.7) in one VRRP group on a lab switch, for v2 (1 s
//! adverts) and v3 (100 ms). Fulcrum runs in proxy mode (a server on the VIP; it holds the VIP in
//! its kernel while master); keepalived holds it in its own namespace. Each scenario checks
//! that the two elect exactly the master the RFC rules name:
//! - Fulcrum higher (200 vs 100): keepalived, master alone, yields to Fulcrum (preemption);
//!   after SIGKILL of Fulcrum keepalived takes over.
//! - keepalived higher (200 vs 100): Fulcrum, master alone, yields; after SIGKILL of
//!   keepalived (its VRRP child, so no priority-0 advert) Fulcrum takes over.
//! - Equal priority (150): the link is cut with a bridge filter in the switch so both become
//!   master, then restored: the master with the higher primary address stays, the other steps
//!   down; tested with Fulcrum's address higher and with keepalived's higher.
//!
//! - keepalived's `auth_type PASS` (v2) against `authpass`, both ways; a wrong password is
//!   dropped and counted.
//! - keepalived's `unicast_peer` against `peer`, both ways, for v2 and v3.
//!
//! Needs root, iproute2, nft and keepalived; a missing tool fails the test with its name.

use std::time::Duration;

use netlab::{Ns, Switch};
use testkit::process::require_on_path;
use testkit::vrrp::{fulcrum_config, holds_vip, Fulcrum, Group, Keepalived, Link};

const LOW: &str = "10.235.210.45";
const HIGH: &str = "10.235.210.46";
const MARGIN: Duration = Duration::from_millis(1500);

const V2: Group = Group {
    version: 2,
    advert_ms: 1000,
};
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

fn setup(tag: &str, fulcrum_addr: &str, keepalived_addr: &str) -> Setup {
    let link = Link::new(tag);
    let switch = link.lab.switch("sw").expect("switch");
    let fulcrum_ns = link.node("f", &switch, fulcrum_addr);
    let keepalived_ns = link.node("k", &switch, keepalived_addr);
    Setup {
        link,
        switch,
        fulcrum_ns,
        keepalived_ns,
    }
}

fn start_fulcrum(s: &Setup, addr: &str, priority: u8, group: Group) -> Fulcrum {
    start_fulcrum_with(s, addr, priority, group, "")
}

fn start_fulcrum_with(s: &Setup, addr: &str, priority: u8, group: Group, extra: &str) -> Fulcrum {
    Fulcrum::start(
        &s.link,
        &s.fulcrum_ns,
        "f",
        &fulcrum_config("NS0A", addr, priority, group, extra),
    )
}

/// Extra settings for both sides of a scenario: Fulcrum's `vrrp` block lines and keepalived's
/// `vrrp_instance` lines.
#[derive(Clone, Copy, Default)]
struct Extra {
    fulcrum: &'static str,
    keepalived: &'static str,
}

fn fulcrum_higher(tag: &str, group: Group) {
    fulcrum_higher_with(tag, group, Extra::default());
}

fn fulcrum_higher_with(tag: &str, group: Group, extra: Extra) {
    let s = setup(tag, LOW, HIGH);
    let keepalived =
        Keepalived::start_with(&s.link, &s.keepalived_ns, "k", 100, group, extra.keepalived);
    keepalived.wait_state("MASTER", group.master_down(100) + MARGIN);
    let fulcrum = start_fulcrum_with(&s, LOW, 200, group, extra.fulcrum);
    fulcrum.wait_state("MASTER", group.master_down(200) + MARGIN);
    keepalived.wait_state("BACKUP", MARGIN);
    // Stable: one master over several adverts.
    std::thread::sleep(group.master_down(100));
    assert_eq!(fulcrum.state(), "MASTER");
    assert_eq!(keepalived.state(), "BACKUP");
    assert!(holds_vip(&s.fulcrum_ns));
    assert!(!holds_vip(&s.keepalived_ns));

    let shown = fulcrum.show_vrrp();
    fulcrum.proc.kill();
    keepalived.wait_state("MASTER", group.master_down(100) + MARGIN);
    // keepalived logs "Entering MASTER STATE" before it adds the address.
    assert!(
        testkit::cluster::within(MARGIN, || holds_vip(&s.keepalived_ns)).is_some(),
        "keepalived holds the VIP as master"
    );
    assert!(!shown.contains("dropped-"), "{shown}");
}

fn keepalived_higher(tag: &str, group: Group) {
    keepalived_higher_with(tag, group, Extra::default());
}

fn keepalived_higher_with(tag: &str, group: Group, extra: Extra) -> String {
    let s = setup(tag, LOW, HIGH);
    let fulcrum = start_fulcrum_with(&s, LOW, 100, group, extra.fulcrum);
    fulcrum.wait_state("MASTER", group.master_down(100) + MARGIN);
    let keepalived =
        Keepalived::start_with(&s.link, &s.keepalived_ns, "k", 200, group, extra.keepalived);
    keepalived.wait_state("MASTER", group.master_down(200) + MARGIN);
    fulcrum.wait_state("BACKUP", MARGIN);
    std::thread::sleep(group.master_down(100));
    assert_eq!(fulcrum.state(), "BACKUP", "{}", fulcrum.show_vrrp());
    assert_eq!(keepalived.state(), "MASTER");
    assert!(
        !holds_vip(&s.fulcrum_ns),
        "the backup Fulcrum holds the VIP"
    );
    let shown = fulcrum.show_vrrp();
    assert!(shown.contains(&format!("master {HIGH}")), "{shown}");

    keepalived.sigkill();
    fulcrum.wait_state("MASTER", group.master_down(100) + MARGIN);
    assert!(holds_vip(&s.fulcrum_ns));
    shown
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

fn equal_priority(tag: &str, group: Group, fulcrum_addr: &str, keepalived_addr: &str) {
    require_on_path("nft");
    let s = setup(tag, fulcrum_addr, keepalived_addr);
    cut(&s.switch);
    let fulcrum = start_fulcrum(&s, fulcrum_addr, 150, group);
    let keepalived = Keepalived::start(&s.link, &s.keepalived_ns, "k", 150, group);
    fulcrum.wait_state("MASTER", group.master_down(150) + MARGIN);
    keepalived.wait_state("MASTER", group.master_down(150) + MARGIN);
    restore(&s.switch);
    let fulcrum_wins = fulcrum_addr > keepalived_addr;
    // Two masters meet: the lower address yields on the first advert it hears.
    let advert = Duration::from_millis(u64::from(group.advert_ms));
    if fulcrum_wins {
        keepalived.wait_state("BACKUP", advert * 3 + MARGIN);
    } else {
        fulcrum.wait_state("BACKUP", advert * 3 + MARGIN);
    }
    std::thread::sleep(group.master_down(150));
    let (fulcrum_state, keepalived_state) = if fulcrum_wins {
        ("MASTER", "BACKUP")
    } else {
        ("BACKUP", "MASTER")
    };
    assert_eq!(fulcrum.state(), fulcrum_state, "{}", fulcrum.show_vrrp());
    assert_eq!(keepalived.state(), keepalived_state);
    assert_eq!(holds_vip(&s.fulcrum_ns), fulcrum_wins);
    if !fulcrum_wins {
        let log = testkit::process::read(&fulcrum.log);
        assert!(
            log.contains(&format!(
                "vrrp MASTER -> BACKUP: advert from {keepalived_addr} with equal priority and higher address"
            )),
            "{log}"
        );
    }
}

#[test]
fn v2_fulcrum_higher_priority_wins_and_keepalived_takes_over() {
    fulcrum_higher("vkafh2", V2);
}

#[test]
fn v3_fulcrum_higher_priority_wins_and_keepalived_takes_over() {
    fulcrum_higher("vkafh3", V3);
}

#[test]
fn v2_keepalived_higher_priority_wins_and_fulcrum_takes_over() {
    keepalived_higher("vkakh2", V2);
}

#[test]
fn v3_keepalived_higher_priority_wins_and_fulcrum_takes_over() {
    keepalived_higher("vkakh3", V3);
}

#[test]
fn v2_equal_priority_higher_address_wins() {
    equal_priority("vkaeqf2", V2, HIGH, LOW);
    equal_priority("vkaeqk2", V2, LOW, HIGH);
}

#[test]
fn v3_equal_priority_higher_address_wins() {
    equal_priority("vkaeqf3", V3, HIGH, LOW);
    equal_priority("vkaeqk3", V3, LOW, HIGH);
}

const PASS: Extra = Extra {
    fulcrum: "authpass \"secret\"\n",
    keepalived: "  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n",
};

#[test]
fn v2_pass_authentication_both_ways() {
    fulcrum_higher_with("vkapf", V2, PASS);
    let shown = keepalived_higher_with("vkapk", V2, PASS);
    assert!(shown.contains("auth pass\n"), "{shown}");
    assert!(!shown.contains("dropped-"), "{shown}");
}

#[test]
fn v2_a_wrong_password_is_dropped_and_counted() {
    let s = setup("vkapw", LOW, HIGH);
    let keepalived =
        Keepalived::start_with(&s.link, &s.keepalived_ns, "k", 200, V2, PASS.keepalived);
    keepalived.wait_state("MASTER", V2.master_down(200) + MARGIN);
    let fulcrum = start_fulcrum_with(&s, LOW, 100, V2, "authpass \"wrong\"\n");
    // Fulcrum hears no valid advert: it becomes master beside keepalived, as keepalived does
    // with a password mismatch, and counts every advert it dropped.
    fulcrum.wait_state("MASTER", V2.master_down(100) + MARGIN);
    let dropped: u64 = fulcrum
        .vrrp_value("dropped-bad-auth")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "{}", fulcrum.show_vrrp());
}

/// Each side lists the other as its only unicast peer; keepalived then neither sends to nor
/// listens on 224.0.0.18, so each election below needs the unicast adverts both ways.
const UNICAST: Extra = Extra {
    fulcrum: "peer 10.235.210.46\n",
    keepalived: "  unicast_peer {\n    10.235.210.45\n  }\n",
};

#[test]
fn v2_unicast_peers_both_ways() {
    fulcrum_higher_with("vkauf2", V2, UNICAST);
    let shown = keepalived_higher_with("vkauk2", V2, UNICAST);
    assert!(shown.contains(&format!("peers {HIGH}\n")), "{shown}");
    assert!(!shown.contains("dropped-"), "{shown}");
}

#[test]
fn v3_unicast_peers_both_ways() {
    fulcrum_higher_with("vkauf3", V3, UNICAST);
    let shown = keepalived_higher_with("vkauk3", V3, UNICAST);
    assert!(shown.contains(&format!("peers {HIGH}\n")), "{shown}");
}
