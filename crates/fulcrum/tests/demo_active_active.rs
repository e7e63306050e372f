//! `fulcrum demo --nodes 3` end to end, the real thing: the active-active lab (a BIRD router,
//! three nodes with BIRD and `fulcrum run`, three Bind9 targets, the demo's clients), live for
//! 24 s. From its plain output the test checks that the router's view shows all three nodes
//! carrying the route with each node announcing, that after node 2's crash the router's view
//! drops it while the clients keep their targets, that it comes back having joined from a
//! peer's full table, and that the demo exits 0 and leaves no namespace behind. Needs root,
//! iproute2, bird2, bind9 and nftables.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::fulcrum;

/// Far beyond the demo's setup, its 24 s and its teardown.
const LIMIT: Duration = Duration::from_secs(150);

fn namespaces() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_three_node_demo_shows_the_router_and_every_node_through_a_crash() {
    testkit::process::require_root();
    let child = Command::new(fulcrum())
        .args([
            "demo",
            "--nodes",
            "3",
            "--duration",
            "24",
            "--clients",
            "30",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fulcrum demo --nodes 3");
    let pid = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        if started.elapsed() > LIMIT {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = waiter
        .join()
        .expect("the waiting thread")
        .expect("the demo's output");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let errors = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{text}\n{errors}");
    let crash = text
        .find(">> node2 crashes")
        .unwrap_or_else(|| panic!("no crash in:\n{text}"));
    let restart = text
        .find(">> node2 starts again")
        .unwrap_or_else(|| panic!("no restart in:\n{text}"));
    let (before, during, after) = (&text[..crash], &text[crash..restart], &text[restart..]);
    let all = "router: 10.255.0.53 via +node1 +node2 +node3";
    assert!(before.contains(all), "{before}");
    assert!(
        before.contains("node2: server 1 10.255.0.53: announced, 3 target(s) up"),
        "{before}"
    );
    assert!(
        before.contains("birdc: "),
        "the router's BIRD routes\n{before}"
    );
    assert!(
        during.contains("router: 10.255.0.53 via +node1 -node2 +node3")
            && during.contains("node2: down"),
        "{during}"
    );
    assert!(after.contains(all), "node 2 back in the route\n{after}");
    assert!(
        after.contains("joined: synced from 10.1.0.1"),
        "node 2 joined from a peer's table\n{after}"
    );
    assert!(text.contains("target changes 0"), "{text}");
    assert!(text.contains("lab removed"), "{text}");
    let prefix = text
        .lines()
        .find_map(|l| l.strip_prefix("fulcrum demo: lab: namespaces "))
        .map(|p| p.trim_end_matches('*').to_string())
        .unwrap_or_else(|| panic!("the lab's namespaces are named:\n{text}"));
    assert!(prefix.len() > 8, "{prefix}");
    assert!(
        !namespaces().lines().any(|n| n.starts_with(&prefix)),
        "no namespace of the demo left:\n{}",
        namespaces()
    );
}
