//! Link events on the DSR interface of the seed's cluster (the lab and nodes of
//! `testkit::cluster`: the seed's NS0A/NS0B configurations, DSR on `eth1`, VRRP vrid 7 at equal
//! priority 200), under a bounded client load through the VIP:
//! - `ip link set eth1 down` on the master: it enters FAULT (`show vrrp`), the backup takes
//!   over within Master_Down_Interval and the VIP answers again; the downed node's threads do
//!   not spin (its CPU time over two seconds stays far below a busy core: a functional check,
//!   not a speed assertion); `ip link set eth1 up`: it rejoins as BACKUP, hears the master and
//!   stays backup; when the master stops, it takes over and its DSR plane forwards again;
//! - `ip link del eth1` on the master and a new eth1 on the switch (the lab adds the node's
//!   `real` address again, as it did at the start): the same, with the DSR and VRRP sockets
//!   opened again on the new interface index.
//!
//! Each scenario runs once per DSR plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`); on
//! AF_XDP the plane's new sockets take the frames again: through the XDP program that stayed
//! attached while eth1 was down (the same program id before and after: detaching at carrier
//! loss and attaching at its return would bounce the link for ever on drivers that reset to
//! attach), or through a program attached to the new eth1.
//!
//! Needs root, iproute2, nftables, bind9 and dig.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use netlab::seed::VIP;
use testkit::cluster::load::{Load, LoadSpec};
use testkit::cluster::{within, Cluster, MARGIN, MASTER_DOWN, SKEW};
use testkit::plane::Plane;

/// Forty clients asking every 250 ms, for at most 40 s.
const LOAD: LoadSpec = LoadSpec {
    pace: Duration::from_millis(250),
    queries: 160,
    duration: Duration::from_secs(40),
};

/// Above this share of one core over the measurement, the process is spinning somewhere.
const BUSY_SHARE: f64 = 0.25;

fn clock_ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf CLK_TCK");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

/// utime + stime of every thread of `pid`, by thread name.
fn thread_ticks(pid: u32) -> BTreeMap<String, u64> {
    let mut ticks = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return ticks;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = format!(
            "{}/{}",
            &stat[open + 1..close],
            task.file_name().to_string_lossy()
        );
        // After the name: state is field 3, utime field 14, stime field 15 (proc(5)).
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let time = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks.insert(name, time(11) + time(12));
    }
    ticks
}

/// The share of one core the process used over `span`, and the busiest threads.
fn cpu_share(pid: u32, span: Duration) -> (f64, String) {
    let before = thread_ticks(pid);
    std::thread::sleep(span);
    let after = thread_ticks(pid);
    let mut used: Vec<(u64, String)> = after
        .iter()
        .map(|(name, t)| {
            (
                t - before.get(name).copied().unwrap_or(0).min(*t),
                name.clone(),
            )
        })
        .collect();
    used.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = used.iter().map(|(t, _)| t).sum();
    let share = total as f64 / clock_ticks_per_second() / span.as_secs_f64();
    let top = used
        .iter()
        .take(5)
        .map(|(t, name)| format!("{name}: {t} ticks"))
        .collect::<Vec<_>>()
        .join(", ");
    (share, top)
}

fn ip(c: &Cluster, args: &[&str]) {
    c.a.ns
        .run(args)
        .unwrap_or_else(|e| panic!("{args:?} in ns0a: {e}"));
}

/// The id of the XDP program attached to ns0a's eth1 (`ip -d link`: `prog/xdp id N`).
fn xdp_program(c: &Cluster) -> Option<u32> {
    let shown =
        c.a.ns
            .run(&["ip", "-d", "link", "show", "dev", "eth1"])
            .ok()?;
    let words: Vec<&str> = shown.split_whitespace().collect();
    words
        .windows(3)
        .find(|w| w[0] == "prog/xdp" && w[1] == "id")
        .and_then(|w| w[2].parse().ok())
}

/// Frames ns0a's DSR plane forwarded to either target.
fn a_forwarded(c: &Cluster) -> u64 {
    c.a.target_queries(1).unwrap_or(0) + c.a.target_queries(2).unwrap_or(0)
}

/// The scenario: `break_link` on the master ns0a, check, `restore`, check, then stop ns0b and
/// check that ns0a serves the VIP again through its DSR plane.
/// `same_index`: eth1 comes back as the same interface (down and up), not a new one.
fn link_event(
    tag: &str,
    plane: Plane,
    same_index: bool,
    break_link: fn(&Cluster),
    restore: fn(&Cluster),
) {
    let mut c = Cluster::up_on(tag, plane);
    let sources = c.seed.client_sources();
    let load = Load::start(&c.seed.client, &sources[..40], VIP, LOAD);
    let everyone = |limit| {
        let since = Instant::now();
        load.wait_until(limit, |logs| {
            logs.iter().all(|l| l.answered_since(since) > 0)
        })
    };
    assert!(
        everyone(Duration::from_secs(10)),
        "the load is not answered:\n{}",
        c.logs()
    );
    let pid = c.a.proc.as_ref().expect("ns0a runs").pid();
    let program_before = xdp_program(&c);
    assert_eq!(
        program_before.is_some(),
        plane == Plane::AfXdp,
        "an XDP program on eth1 exactly on AF_XDP"
    );

    break_link(&c);
    c.a.wait_state("FAULT", Duration::from_secs(3));
    c.b.wait_state("MASTER", MASTER_DOWN + MARGIN);
    assert!(
        everyone(Duration::from_secs(10)),
        "the VIP is not answered after ns0b took over:\n{}",
        c.logs()
    );
    let shown = c.a.show_vrrp();
    assert!(
        shown.contains("holding no"),
        "ns0a in FAULT holds the VIP:\n{shown}"
    );
    let (share, top) = cpu_share(pid, Duration::from_secs(2));
    eprintln!(
        "ns0a with its link down: {:.1} % of a core ({top})",
        share * 100.0
    );
    assert!(
        share < BUSY_SHARE,
        "ns0a used {:.0} % of a core with its link down (busiest: {top})",
        share * 100.0
    );

    restore(&c);
    c.a.wait_state("BACKUP", Duration::from_secs(5));
    // It hears the master on the (new) interface: it stays backup past a master down interval.
    std::thread::sleep(MASTER_DOWN + MARGIN);
    assert_eq!(c.a.state(), "BACKUP", "{}\n{}", c.a.show_vrrp(), c.logs());
    assert_eq!(c.b.state(), "MASTER", "{}", c.b.show_vrrp());
    let shown = c.a.show_vrrp();
    assert!(shown.contains("master 10.235.210.46"), "{shown}");

    // ns0b stops: ns0a takes over and forwards the VIP's queries through its new sockets.
    let forwarded_before = a_forwarded(&c);
    c.b.sigterm();
    c.a.wait_state("MASTER", SKEW + MARGIN);
    assert!(
        everyone(Duration::from_secs(10)),
        "the VIP is not answered after ns0a took over again:\n{}",
        c.logs()
    );
    let forwarding = within(Duration::from_secs(5), || {
        a_forwarded(&c) > forwarded_before
    });
    assert!(
        forwarding.is_some(),
        "ns0a's DSR plane forwards nothing:\n{}\n{}",
        c.a.control("show targets"),
        c.logs()
    );
    let log = testkit::cluster::read(&c.a.log());
    assert!(log.contains("vrrp MASTER -> FAULT: link down"), "{log}");
    if plane == Plane::AfXdp {
        // The AF_XDP path started again with the plane's new sockets, on the same interface.
        assert!(
            log.matches(testkit::plane::XDP_STARTED).count() >= 2,
            "{log}"
        );
        assert!(!log.contains(testkit::plane::XDP_UNAVAILABLE), "{log}");
        let program_after = xdp_program(&c);
        assert!(program_after.is_some(), "a program on eth1 again");
        if same_index {
            assert_eq!(
                program_after, program_before,
                "the program stayed attached through the link's loss"
            );
        }
    }
    load.finish();
}

testkit::per_plane! {
fn link_down_and_up_on_the_master_fault_takeover_and_recovery_without_spinning(plane) {
    link_event(
        "dsrlinkdown",
        plane,
        true,
        |c| ip(c, &["ip", "link", "set", "eth1", "down"]),
        |c| ip(c, &["ip", "link", "set", "eth1", "up"]),
    );
}
}

testkit::per_plane! {
fn eth1_deleted_and_created_again_on_the_master_its_sockets_follow_the_new_index(plane) {
    link_event(
        "dsrlinkdel",
        plane,
        false,
        |c| ip(c, &["ip", "link", "del", "eth1"]),
        |c| {
            c.lab
                .link(&c.a.ns, "eth1", &c.seed.switch)
                .expect("a new eth1 on the switch");
            c.a.ns
                .addr("eth1", "10.235.210.45/32")
                .expect("the real address on the new eth1");
        },
    );
}
}
