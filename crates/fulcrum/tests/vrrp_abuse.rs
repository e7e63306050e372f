//! Forged VRRP adverts from a third host on the segment. Two Fulcrums in proxy mode (A priority
//! 200 MASTER, B priority 100 BACKUP, v3 at 100 ms) and a namespace X that is no member of the
//! group. X sends, from a raw socket with `IP_HDRINCL` (as any host on the segment can), every
//! 20 ms for 3 s, to 224.0.0.18 and to both nodes: priority-255 adverts from its own address
//! with the group's VIP, and priority-254 adverts from an unlisted spoofed address with an
//! unlisted VIP and a 40.95 s interval (the one that would stretch a v3 takeover to minutes).
//! - With `peer` lists on both nodes, a thread polling `show vrrp` every 50 ms sees A MASTER and
//!   B BACKUP throughout; both count the refused adverts (`adverts-not-a-peer`) and log a paced
//!   warning naming X.
//! - Without peer lists, the RFCs give no ground to refuse a priority-255 advert: A steps down
//!   (and the slow stranger's interval holds both nodes as backups for minutes), but the forger
//!   is no longer silent: A logs it as a sender not heard before and counts it, and counts the
//!   stranger's differing address list.
//!
//! Needs root and iproute2.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_core::vrrp::{Auth, Config, Group as VrrpGroup, Version};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use testkit::netns::spawn_in;
use testkit::process::wait_for_log;
use testkit::vrrp::{fulcrum_config, Fulcrum, Group, Link};
use testkit::vrrp_states::watch;

const A: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
const B: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 46);
const X: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 47);
const SPOOFED: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 99);
const V3: Group = Group {
    version: 3,
    advert_ms: 100,
};
const MARGIN: Duration = Duration::from_millis(1500);

/// The forger's packets, built with the real advert builder and its own settings.
fn forged_packets() -> Vec<(Vec<u8>, Ipv4Addr)> {
    let owner = Config {
        version: Version::V3,
        vrid: 7,
        priority: 255,
        advert_interval_cs: 10,
        preempt: true,
        primary_address: X,
        addresses: vec![Ipv4Addr::new(10, 235, 210, 1)],
        auth: Auth::None,
        peers: Vec::new(),
    };
    let slow_stranger = Config {
        priority: 254,
        advert_interval_cs: 4095,
        primary_address: SPOOFED,
        addresses: vec![Ipv4Addr::new(10, 235, 210, 77)],
        ..owner.clone()
    };
    let mut packets = Vec::new();
    for config in [owner, slow_stranger] {
        let mut group = VrrpGroup::new(&config);
        for to in [fulcrum_wire::vrrp::MULTICAST_ADDR, A, B] {
            let packet = group
                .advert_packet_to(config.priority, to)
                .expect("a forged advert");
            packets.push((packet, to));
        }
    }
    packets
}

/// Sends the forged adverts from inside X's namespace for `duration`, every 20 ms.
fn forge(ns_name: String, duration: Duration) -> std::thread::JoinHandle<Result<u64, String>> {
    spawn_in(&ns_name, move || {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))
            .map_err(|e| e.to_string())?;
        socket
            .set_header_included_v4(true)
            .map_err(|e| e.to_string())?;
        socket
            .bind_device(Some(b"eth0"))
            .map_err(|e| e.to_string())?;
        let packets = forged_packets();
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < duration {
            for (packet, to) in &packets {
                let to = SockAddr::from(SocketAddrV4::new(*to, 0));
                if socket.send_to(packet, &to).is_ok() {
                    sent += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(sent)
    })
}

struct Trio {
    link: Link,
    a: Fulcrum,
    b: Fulcrum,
    x_name: String,
}

fn trio(tag: &str, peers: bool) -> Trio {
    let link = Link::new(tag);
    let switch = link.lab.switch("sw").expect("switch");
    let a_ns = link.node("a", &switch, &A.to_string());
    let b_ns = link.node("b", &switch, &B.to_string());
    let x_ns = link.node("x", &switch, &X.to_string());
    let (a_extra, b_extra) = if peers {
        (format!("peer {B}\n"), format!("peer {A}\n"))
    } else {
        (String::new(), String::new())
    };
    let a = Fulcrum::start(
        &link,
        &a_ns,
        "a",
        &fulcrum_config("NS0A", &A.to_string(), 200, V3, &a_extra),
    );
    a.wait_state("MASTER", V3.master_down(200) + MARGIN);
    let b = Fulcrum::start(
        &link,
        &b_ns,
        "b",
        &fulcrum_config("NS0B", &B.to_string(), 100, V3, &b_extra),
    );
    b.wait_state("BACKUP", MARGIN);
    std::thread::sleep(V3.master_down(100) + MARGIN);
    assert_eq!(a.state(), "MASTER", "{}", a.show_vrrp());
    assert_eq!(b.state(), "BACKUP", "{}", b.show_vrrp());
    Trio {
        x_name: x_ns.name().to_string(),
        link,
        a,
        b,
    }
}

fn counter(node: &Fulcrum, key: &str) -> u64 {
    node.vrrp_value(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn with_peer_lists_forged_adverts_are_refused_and_the_master_stays() {
    let t = trio("vabpeer", true);
    assert!(t.a.show_vrrp().contains(&format!("peers {B}\n")));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(t.a.socket.clone(), t.b.socket.clone(), stop.clone(), 1200);
    let sent = forge(t.x_name.clone(), Duration::from_secs(3))
        .join()
        .expect("the forger thread")
        .expect("the forger sends");
    assert!(sent > 100, "the forger sent only {sent} packets");
    // After the flood: one more master down interval of the backup.
    std::thread::sleep(V3.master_down(100) + MARGIN);
    stop.store(true, Ordering::Release);
    let seen = watcher.join().expect("the watcher thread");
    assert!(seen.len() > 20, "too few polls: {seen:?}");
    assert!(
        seen.iter().all(|(a, b)| a == "MASTER" && b == "BACKUP"),
        "the forger moved the group: {seen:?}\nA:\n{}",
        testkit::process::read(&t.a.log)
    );
    for node in [&t.a, &t.b] {
        let shown = node.show_vrrp();
        assert!(counter(node, "adverts-not-a-peer") > 0, "{shown}");
        assert!(counter(node, "dropped-not-a-peer") > 0, "{shown}");
        assert_eq!(counter(node, "adverts-new-sender"), 0, "{shown}");
        // Paced: a few lines, not one per forged packet.
        let log = wait_for_log(
            &node.log,
            &format!("vrrp: advert from {X} (priority 255) refused: not a configured peer"),
            MARGIN,
        );
        assert!(
            log.contains(&format!("advert from {SPOOFED} (priority 254) refused")),
            "{log}"
        );
        let lines = log.matches("refused: not a configured peer").count();
        assert!(
            lines <= 4,
            "{lines} refusal lines for {sent} forged adverts:\n{log}"
        );
    }
    drop(t.link);
}

#[test]
fn without_peer_lists_a_forged_owner_advert_is_seen_and_counted() {
    let t = trio("vabopen", false);
    let sent = forge(t.x_name.clone(), Duration::from_secs(2))
        .join()
        .expect("the forger thread")
        .expect("the forger sends");
    assert!(sent > 50, "the forger sent only {sent} packets");
    // RFC 3768/5798: a priority-255 advert outranks every master.
    let log = wait_for_log(
        &t.a.log,
        &format!("vrrp: advert from {X} (priority 255), a sender not heard before"),
        MARGIN,
    );
    assert!(
        log.contains(&format!("vrrp MASTER -> BACKUP: advert from {X}")),
        "{log}"
    );
    assert!(
        counter(&t.a, "adverts-new-sender") >= 2,
        "{}",
        t.a.show_vrrp()
    );
    assert!(
        counter(&t.a, "adverts-address-mismatch") > 0,
        "the spoofed advert's list went uncounted:\n{}",
        t.a.show_vrrp()
    );
    drop(t.b);
}
