//! Changing the VIP set of a running pair never makes a second master. Two Fulcrums in proxy
//! mode (A priority 200 is MASTER, B priority 100 BACKUP) serve 10.235.210.1; a second server
//! with its own address 10.235.210.2 is defined, registered and enabled live on the master
//! first, then on the backup, as an operator would. A thread polls `show vrrp` on both every
//! 50 ms from before the first change until after the second: B is never MASTER and A never
//! leaves MASTER (before, the group restarted: A sent priority 0 and released its VIP, and with
//! the two address lists different each dropped the other's adverts, so both became MASTER).
//! A holds the new VIP as soon as it is enabled there; B counts the adverts it took while its
//! list differed; after SIGKILL of A, B takes over with both VIPs. For v2 (1 s adverts, the
//! seed's) and v3 (100 ms).
//!
//! Needs root and iproute2.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netlab::Ns;
use testkit::vrrp::{fulcrum_config, Fulcrum, Group, Link, VIP};
use testkit::vrrp_states::watch;

const SECOND_VIP: &str = "10.235.210.2";
const MARGIN: Duration = Duration::from_millis(1500);
const ADD_SERVER: &str = "server 2 {\nipaddr 10.235.210.2\nport 53\nprotocol udp\ntargets 1\n}";

fn holds(ns: &Ns, addr: &str) -> bool {
    ns.run(&["ip", "-4", "addr", "show", "dev", "eth0"])
        .map(|text| text.contains(&format!("{addr}/32")))
        .unwrap_or(false)
}

fn enable_second_server(node: &Fulcrum) {
    let reply = node.control(&[ADD_SERVER, "register server 2", "enable server 2"]);
    assert!(
        !reply.to_lowercase().contains("error"),
        "the live change was refused: {reply}"
    );
}

fn vip_change(tag: &str, group: Group) {
    let link = Link::new(tag);
    let switch = link.lab.switch("sw").expect("switch");
    let a_ns = link.node("a", &switch, "10.235.210.45");
    let b_ns = link.node("b", &switch, "10.235.210.46");
    let a = Fulcrum::start(
        &link,
        &a_ns,
        "a",
        &fulcrum_config("NS0A", "10.235.210.45", 200, group, ""),
    );
    a.wait_state("MASTER", group.master_down(200) + MARGIN);
    let b = Fulcrum::start(
        &link,
        &b_ns,
        "b",
        &fulcrum_config("NS0B", "10.235.210.46", 100, group, ""),
    );
    b.wait_state("BACKUP", MARGIN);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(a.socket.clone(), b.socket.clone(), stop.clone(), 2400);
    std::thread::sleep(Duration::from_millis(300));

    enable_second_server(&a);
    // The master holds the new VIP at once, and still the old one.
    let deadline = std::time::Instant::now() + MARGIN;
    while !holds(&a_ns, SECOND_VIP) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        holds(&a_ns, SECOND_VIP),
        "A did not add {SECOND_VIP}:\n{}",
        a.show_vrrp()
    );
    assert!(holds(&a_ns, VIP), "A released {VIP}");
    // Long enough for B's master down timer to run out several times over had it dropped A's
    // adverts for their different address list.
    std::thread::sleep(group.master_down(100) * 2 + MARGIN);
    let mismatches: u64 = b
        .vrrp_value("adverts-address-mismatch")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(mismatches > 0, "B counted no mismatch:\n{}", b.show_vrrp());

    enable_second_server(&b);
    std::thread::sleep(group.master_down(100) + MARGIN);
    stop.store(true, Ordering::Release);
    let seen = watcher.join().expect("the watcher thread");

    assert!(seen.len() > 20, "too few polls: {seen:?}");
    let doubles = seen
        .iter()
        .filter(|(x, y)| x == "MASTER" && y == "MASTER")
        .count();
    assert_eq!(
        doubles,
        0,
        "two masters in {doubles} polls: {seen:?}\nA log:\n{}\nB log:\n{}",
        testkit::process::read(&a.log),
        testkit::process::read(&b.log)
    );
    assert!(
        seen.iter().all(|(x, y)| x == "MASTER" && y == "BACKUP"),
        "a state other than A MASTER, B BACKUP: {seen:?}"
    );
    let shown = a.show_vrrp();
    assert!(shown.contains(&format!("ipaddr1 {SECOND_VIP}")), "{shown}");
    assert!(!holds(&b_ns, SECOND_VIP), "the backup holds {SECOND_VIP}");

    a.proc.kill();
    b.wait_state("MASTER", group.master_down(100) + MARGIN);
    assert!(
        holds(&b_ns, VIP) && holds(&b_ns, SECOND_VIP),
        "B took over without both VIPs"
    );
}

#[test]
fn v2_a_new_server_vip_on_master_then_backup_never_makes_two_masters() {
    vip_change(
        "vvipc2",
        Group {
            version: 2,
            advert_ms: 1000,
        },
    );
}

#[test]
fn v3_a_new_server_vip_on_master_then_backup_never_makes_two_masters() {
    vip_change(
        "vvipc3",
        Group {
            version: 3,
            advert_ms: 100,
        },
    );
}
