//! The rolling upgrade of docs/deploy.md, across two builds of the same version: the seed's pair
//! runs this test build (debug), clients query the VIP steadily, and each node in turn moves to
//! the release build that scripts/package.sh packages (`cargo build --release`, shared with the
//! package test): the backup first (stopped, started on the new binary, back as BACKUP and in
//! sync), then the master (SIGTERM: the upgraded backup takes over within Skew_Time), which
//! rejoins on the new binary as BACKUP with the full table. No client changes node at any point
//! (no session is dropped), and every client is answered again at the end. The clients are
//! placed while target 2 is disabled on the master (then enabled again), so all sit on ns0a: a
//! node that placed them anew instead of following the synced sessions would move about half. Needs root,
//! iproute2, nftables, bind9, dig, and a release build (made here when missing).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use netlab::seed::VIP;
use testkit::cluster::load::{ClientLog, Load, LoadSpec};
use testkit::cluster::{within, Cluster, Node, MARGIN, SKEW};

/// Every client asks every 250 ms for the whole procedure (at most 60 s).
const STEADY: LoadSpec = LoadSpec {
    pace: Duration::from_millis(250),
    queries: 240,
    duration: Duration::from_secs(60),
};

/// The release binary, built the way scripts/package.sh builds it.
fn release_build() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "fulcrum",
            "--bin",
            "fulcrum",
        ])
        .current_dir(&root)
        .status()
        .expect("run cargo build --release");
    assert!(status.success(), "cargo build --release failed");
    // Where cargo put it: CARGO_TARGET_DIR when set (relative to the workspace), else target/.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    target.join("release/fulcrum")
}

fn everyone_answered_since(logs: &[ClientLog], at: Instant) -> bool {
    logs.iter().all(|l| l.answered_since(at) > 0)
}

/// Each client was only ever answered by one node.
fn assert_sticky(logs: &[ClientLog]) {
    for log in logs {
        let nodes = log.nodes();
        assert!(
            nodes.len() <= 1,
            "{} moved between nodes: {:?}",
            log.addr,
            nodes
        );
    }
}

fn runs(node: &Node, binary: &PathBuf) -> bool {
    let pid = node.proc.as_ref().expect("running").pid();
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == *binary)
}

/// Waits until `node` is BACKUP with the master's full table.
fn back_in_sync(c: &Cluster, backup: &Node, master: &Node) {
    backup.wait_state("BACKUP", MARGIN * 2);
    let synced = within(Duration::from_secs(10), || {
        let on_master = master.sessions();
        backup.show_sync().contains("resync in sync")
            && !on_master.is_empty()
            && on_master.is_subset(&backup.sessions())
    });
    assert!(
        synced.is_some(),
        "{} is not in sync after the upgrade:\n{}\n{}",
        backup.name,
        backup.show_sync(),
        c.logs()
    );
}

#[test]
fn the_pair_upgrades_one_node_at_a_time_without_moving_a_client() {
    let new_build = release_build().canonicalize().expect("the release binary");
    let mut c = Cluster::up("clusterupgrade");
    let reply = c.a.control("disable target 2");
    assert!(!reply.contains("rror"), "disable target 2: {reply}");
    // The DSR plane takes the change from its driver a moment after the reply.
    std::thread::sleep(Duration::from_secs(1));
    let load = Load::start(&c.seed.client, &c.seed.client_sources(), VIP, STEADY);
    let started = Instant::now();
    let answered = load.wait_until(Duration::from_secs(15), |logs| {
        everyone_answered_since(logs, started)
    });
    assert!(answered, "not every client was answered:\n{}", c.logs());
    let reply = c.a.control("enable target 2");
    assert!(!reply.contains("rror"), "enable target 2: {reply}");
    for log in load.snapshot() {
        assert_eq!(log.nodes(), ["ns0a"], "{} placed on ns0b", log.addr);
    }

    // 1-2: the backup first.
    c.b.sigterm();
    c.b.binary = new_build.clone();
    c.b.start();
    assert!(runs(&c.b, &new_build));
    back_in_sync(&c, &c.b, &c.a);

    // 3: stop the master; the upgraded backup takes over at once (priority 0 advert).
    c.a.sigterm();
    c.b.wait_state("MASTER", SKEW + MARGIN);

    // 4-5: the old master on the new build rejoins as backup with the full table.
    c.a.binary = new_build.clone();
    c.a.start();
    assert!(runs(&c.a, &new_build));
    back_in_sync(&c, &c.a, &c.b);
    assert_eq!(c.b.state(), "MASTER", "{}", c.b.show_vrrp());

    let rejoined = Instant::now();
    let answered = load.wait_until(Duration::from_secs(10), |logs| {
        everyone_answered_since(logs, rejoined)
    });
    assert!(
        answered,
        "clients unanswered after the upgrade:\n{}",
        c.logs()
    );
    assert_sticky(&load.finish());
}
