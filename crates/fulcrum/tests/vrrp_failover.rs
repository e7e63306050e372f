//! Two Fulcrums in one VRRP group on a lab switch (proxy mode: each holds the VIP in its kernel
//! while master), for v2 (1 s adverts) and v3 (100 ms):
//! - the node started first becomes MASTER and holds the VIP; the second, at equal priority,
//!   stays BACKUP and does not hold it (`show vrrp`, `ip addr`);
//! - SIGKILL of the master: the backup becomes MASTER within Master_Down_Interval (plus a
//!   margin for the shared machine) and takes the VIP;
//! - SIGTERM of the master: it sends priority 0 and releases the VIP, and the backup becomes
//!   MASTER within Skew_Time (plus the margin) — far less than Master_Down_Interval at v2.
//!
//! Needs root and iproute2. Each test has its own lab.

use std::time::Duration;

use testkit::vrrp::{fulcrum_config, holds_vip, Fulcrum, Group, Link};

const MARGIN: Duration = Duration::from_millis(400);

struct Pair {
    link: Link,
    a: Fulcrum,
    b: Fulcrum,
    a_ns: netlab::Ns,
    b_ns: netlab::Ns,
}

/// Starts A, waits until it is MASTER, then starts B and waits until it is BACKUP.
fn pair(tag: &str, group: Group) -> Pair {
    let link = Link::new(tag);
    let switch = link.lab.switch("sw").expect("switch");
    let a_ns = link.node("a", &switch, "10.235.210.45");
    let b_ns = link.node("b", &switch, "10.235.210.46");
    let notify = format!("notify \"echo >> {}\"\n", link.path("a.notify").display());
    let a = Fulcrum::start(
        &link,
        &a_ns,
        "a",
        &fulcrum_config("NS0A", "10.235.210.45", 200, group, &notify),
    );
    a.wait_state("MASTER", group.master_down(200) + Duration::from_secs(2));
    let b = Fulcrum::start(
        &link,
        &b_ns,
        "b",
        &fulcrum_config("NS0B", "10.235.210.46", 200, group, ""),
    );
    b.wait_state("BACKUP", Duration::from_secs(2));
    // B heard A: it stays backup over more than a master down interval.
    std::thread::sleep(group.master_down(200) + MARGIN);
    assert_eq!(b.state(), "BACKUP", "b: {}", b.show_vrrp());
    assert_eq!(a.state(), "MASTER", "a: {}", a.show_vrrp());
    let shown = b.show_vrrp();
    for line in [
        "vrid 7",
        "priority 200",
        "ipaddr0 10.235.210.1",
        "master 10.235.210.45",
    ] {
        assert!(
            shown.contains(line),
            "b's show vrrp lacks {line:?}:\n{shown}"
        );
    }
    assert!(holds_vip(&a_ns), "the master does not hold the VIP");
    assert!(!holds_vip(&b_ns), "the backup holds the VIP");
    Pair {
        link,
        a,
        b,
        a_ns,
        b_ns,
    }
}

fn sigkill_takeover(tag: &str, group: Group) {
    let p = pair(tag, group);
    p.a.proc.kill();
    let took = p.b.wait_state("MASTER", group.master_down(200) + MARGIN);
    assert!(holds_vip(&p.b_ns), "the new master does not hold the VIP");
    // The last advert left up to one interval before the kill.
    let earliest = group
        .master_down(200)
        .saturating_sub(Duration::from_millis(u64::from(group.advert_ms)) + MARGIN);
    assert!(
        took > earliest,
        "took over in {took:?}, before the master down interval: it did not wait for the timer"
    );
    let notified = testkit::process::read(&p.link.path("a.notify"));
    assert_eq!(notified, "BACKUP\nMASTER\n", "notify lines");
    let _ = &p.a_ns;
}

fn sigterm_takeover(tag: &str, group: Group) {
    let p = pair(tag, group);
    let start = std::time::Instant::now();
    p.a.sigterm();
    let took = start.elapsed() + p.b.wait_state("MASTER", group.skew(200) + MARGIN);
    assert!(
        took < group.master_down(200),
        "took {took:?}; a priority-0 advert should end the wait after the skew time"
    );
    assert!(
        !holds_vip(&p.a_ns),
        "the stopped master left its VIP behind"
    );
    assert!(holds_vip(&p.b_ns), "the new master does not hold the VIP");
    let shown = p.b.show_vrrp();
    assert!(shown.contains("priority-zero-received 1"), "{shown}");
    let notified = testkit::process::read(&p.link.path("a.notify"));
    assert_eq!(notified, "BACKUP\nMASTER\nINIT\n", "notify lines");
    let log = testkit::process::read(&p.a.log);
    assert!(log.contains("vrrp MASTER -> INIT: shutdown"), "{log}");
}

const V2: Group = Group {
    version: 2,
    advert_ms: 1000,
};
const V3: Group = Group {
    version: 3,
    advert_ms: 100,
};

#[test]
fn v2_sigkill_backup_takes_over_after_master_down_interval() {
    sigkill_takeover("vrrpkill2", V2);
}

#[test]
fn v3_sigkill_backup_takes_over_after_master_down_interval() {
    sigkill_takeover("vrrpkill3", V3);
}

#[test]
fn v2_sigterm_backup_takes_over_within_skew_time() {
    sigterm_takeover("vrrpterm2", V2);
}

#[test]
fn v3_sigterm_backup_takes_over_within_skew_time() {
    sigterm_takeover("vrrpterm3", V3);
}
