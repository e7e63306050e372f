//! A starting active-active node announces a VIP only once the checks of its targets have had
//! their first results: health counts a target without results as up, so a node announcing at
//! the settle time alone would send new clients to a dead target for up to its checks' timeout
//! (and place them where its peers, which know it is dead, would not). One real `fulcrum run`
//! in a namespace (proxy mode, `announce { }`, no sync peer, so nothing else holds it back) in
//! front of a real Bind9 (target 1) and an address nothing answers on (target 2), both with a
//! `dns` check of timeout 3 s, longer than the one-second settle time. `show announce` is read
//! every 50 ms from the start: the VIP must never be announced while target 2 counts as up, and
//! must be announced, with one target up, once target 2's check has failed.
//!
//! Needs root, iproute2 and bind9. Everything runs inside the lab's namespace; the process is
//! killed by PID and the namespace removed when the lab drops, also on panic.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use fulcrum_control::show::AnnounceDoc;
use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::Lab;

const ZONE: &str = "fulcrum.test";
const VIP: &str = "10.255.0.53";
const TARGET_PORT: u16 = 5353;

#[test]
fn a_starting_node_announces_only_once_its_targets_checks_have_results() {
    testkit::process::require_root();
    let lab = Lab::new("annfirst");
    let ns = lab.netns("node").expect("node namespace");
    let _bind9 = Bind9::start(Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: TARGET_PORT,
        zones: vec![Zone::primary(ZONE, 1, &["@ IN TXT \"t1\""])],
        netns: Some(ns.name().to_string()),
        extra_options: String::new(),
    })
    .expect("start Bind9");
    let root = tempfile::tempdir().expect("temporary directory");
    let conf = root.path().join("fulcrum.conf");
    std::fs::write(
        &conf,
        format!(
            "hostname NODE1\n\
             server 1 {{\nipaddr {VIP}\nport 53\ntargets 1,2\n}}\n\
             register server 1\nenable server 1\n\
             target 1 {{\nipaddr 127.0.0.1\nport {TARGET_PORT}\ndns {ZONE},1,3\n}}\n\
             target 2 {{\nipaddr 127.0.0.2\nport {TARGET_PORT}\ndns {ZONE},1,3\n}}\n\
             register targets 1,2\nenable targets 1,2\n\
             announce {{\ninterface fulcrum-vip\n}}\n"
        ),
    )
    .expect("write the configuration");
    let socket = root.path().join("fulcrum.sock");
    let log = root.path().join("fulcrum.log");
    let started = Instant::now();
    let _fulcrum = testkit::daemon::spawn_run_in(&ns, &[], &conf, &socket, &log);

    let mut seen = Vec::new();
    let announced_at = loop {
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(15),
            "not announced within 15 s: {seen:?}\n{}",
            testkit::process::read(&log)
        );
        if let Ok(doc) = testkit::control::show::<AnnounceDoc>(&socket, "show announce") {
            if let Some(row) = doc.servers.iter().find(|r| r.server == 1) {
                let held = ns
                    .ip(&["-o", "addr", "show", "dev", "fulcrum-vip"])
                    .unwrap_or_default()
                    .contains(VIP);
                seen.push((elapsed.as_millis(), row.state.clone(), row.targets_up, held));
                assert!(
                    !(held && row.targets_up == 2),
                    "the VIP is held while the dead target counts as up: {seen:?}"
                );
                if held {
                    break elapsed;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let doc: AnnounceDoc = testkit::control::show(&socket, "show announce").expect("show announce");
    let row = doc
        .servers
        .iter()
        .find(|r| r.server == 1)
        .expect("server 1");
    assert_eq!(
        (row.state.as_str(), row.targets_up),
        ("announced", 1),
        "{doc:?}"
    );
    println!("announced {announced_at:?} after the start, with 1 target up (target 2's check failed first)");
    drop(lab);
}
