//! The seed's two-node cluster (DSR, VRRP vrid 7 v2 at equal priority 200; see
//! `testkit::cluster`) while an operator adds a second DSR server with its own address,
//! 10.235.210.2, to the same targets: defined, registered and enabled live on the master first,
//! then on the backup. A thread polls `show vrrp` on both nodes every 50 ms from before the
//! first change until a master down interval after the second: ns0a stays MASTER and ns0b
//! BACKUP at every poll (before, the new address list restarted the group: the master sent
//! priority 0 and the backup took over, and with the lists different each node dropped the
//! other's adverts). The master advertises both addresses at once; the backup counts the adverts
//! it took while its own list differed.
//!
//! Needs root, iproute2, nftables, bind9 and dig.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use testkit::cluster::{within, Cluster, Node, MARGIN, MASTER_DOWN};
use testkit::vrrp_states::watch;

const SERVER_2: &str = "server 2 {\nipaddr 10.235.210.2\nport 53\nmethod session\ntargets 1,2\n}";

fn add_server_2(node: &Node) {
    for line in [SERVER_2, "register server 2", "enable server 2"] {
        let reply = node.control(line);
        assert!(
            !reply.to_lowercase().contains("error"),
            "{}: {line:?} was refused: {reply}",
            node.name
        );
    }
}

#[test]
fn a_second_dsr_server_enabled_live_on_master_then_backup_keeps_one_master() {
    let c = Cluster::up("cvipc");
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(c.a.socket.clone(), c.b.socket.clone(), stop.clone(), 2400);
    std::thread::sleep(Duration::from_millis(300));

    add_server_2(&c.a);
    let advertised = within(MARGIN, || {
        c.a.show_vrrp().contains("ipaddr1 10.235.210.2\n")
    });
    assert!(advertised.is_some(), "{}", c.a.show_vrrp());
    // Two master down intervals with the lists different.
    std::thread::sleep(MASTER_DOWN * 2);
    let mismatches: u64 =
        c.b.show_vrrp()
            .lines()
            .find_map(|l| l.strip_prefix("adverts-address-mismatch ")?.parse().ok())
            .unwrap_or(0);
    assert!(mismatches > 0, "{}", c.b.show_vrrp());

    add_server_2(&c.b);
    std::thread::sleep(MASTER_DOWN + MARGIN);
    stop.store(true, Ordering::Release);
    let seen = watcher.join().expect("the watcher thread");
    assert!(seen.len() > 40, "too few polls: {seen:?}");
    assert!(
        seen.iter().all(|(a, b)| a == "MASTER" && b == "BACKUP"),
        "the VIP change moved the group: {seen:?}\n{}",
        c.logs()
    );
    // The VIP still answers, from the master.
    assert_eq!(c.dig().as_deref(), Some("ns0a"), "{}", c.logs());
}
