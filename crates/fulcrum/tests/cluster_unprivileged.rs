//! The seed's pair with both nodes' `fulcrum run` started as fulcrum.service starts it: not
//! root, holding only CAP_NET_RAW, CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (setpriv to user
//! nobody, every other capability dropped from the bounding set, no-new-privs). VRRP elects
//! a master that holds the VIP, the DSR plane answers the client through it, and the backup
//! learns the sessions by sync: every privileged part works with those three capabilities.
//! Each node reports to a systemd-style notify listener: READY=1, then STATUS= lines naming its
//! VRRP role, its targets up and (on the master, once the client asked) its sessions.
//! Needs root (to build the lab), iproute2, Bind9, dig and nftables.

use std::time::Duration;

use testkit::cluster::*;

/// The capability bits of the three (CAP_NET_BIND_SERVICE 10, CAP_NET_ADMIN 12, CAP_NET_RAW 13).
const UNIT_CAP_MASK: u64 = (1 << 10) | (1 << 12) | (1 << 13);

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn both_nodes_serve_vrrp_dsr_and_sync_as_nobody_with_the_units_three_capabilities() {
    let mut c = Cluster::new("clusterpriv");
    let notify_dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut notify_a = testkit::package::NotifyListener::bind(notify_dirs[0].path());
    let mut notify_b = testkit::package::NotifyListener::bind(notify_dirs[1].path());
    c.a.unprivileged = true;
    c.b.unprivileged = true;
    c.a.notify_socket = Some(notify_a.path.clone());
    c.b.notify_socket = Some(notify_b.path.clone());
    let started = std::time::Instant::now();
    let c = Cluster::up_from(c);

    for node in [&c.a, &c.b] {
        let pid = node.proc.as_ref().expect("running").pid();
        let uid = status_field(pid, "Uid:");
        assert!(uid.starts_with("65534"), "{}: Uid {uid}", node.name);
        let effective = u64::from_str_radix(&status_field(pid, "CapEff:"), 16).unwrap();
        assert_eq!(
            effective, UNIT_CAP_MASK,
            "{}: CapEff {effective:x}",
            node.name
        );
    }
    assert!(c.a.show_vrrp().starts_with("state MASTER\n"));
    assert!(
        c.a.show_vrrp().contains("holding yes"),
        "{}",
        c.a.show_vrrp()
    );
    assert!(c.b.show_vrrp().starts_with("state BACKUP\n"));

    // Up already had the VIP answer through DSR; the client's session reaches the backup.
    assert!(
        c.dig().is_some(),
        "no answer through the VIP:\n{}",
        c.logs()
    );
    let learned = within(Duration::from_secs(10), || {
        let on_master = c.a.sessions();
        !on_master.is_empty() && on_master.is_subset(&c.b.sessions())
    });
    assert!(
        learned.is_some(),
        "the backup did not learn the master's sessions:\n{}\n{}",
        c.b.show_sync(),
        c.logs()
    );

    let limit = Duration::from_secs(10);
    for (notify, role) in [(&mut notify_a, "MASTER"), (&mut notify_b, "BACKUP")] {
        notify.wait_for(started, limit, |m| m == "READY=1", "READY=1", || c.logs());
        let status = format!("STATUS=vrrp {role}, 2/2 targets up, ");
        notify.wait_for(
            started,
            limit,
            |m| m.starts_with(&status),
            &status,
            || c.logs(),
        );
    }
    notify_a.wait_for(
        started,
        limit,
        |m| m.starts_with("STATUS=vrrp MASTER, 2/2 targets up, ") && !m.ends_with(" 0 sessions"),
        "a STATUS= counting the master's sessions",
        || c.logs(),
    );
}
