//! VRRP transitions on a node whose TCP proxy is flooded, with 1024 file descriptors (soft and
//! hard, `prlimit --nofile=1024:1024`, as systemd's default soft limit): two Fulcrums in proxy
//! mode on a lab switch (the `testkit::vrrp` lab), each with a health-checked Bind9 target. The
//! backup takes over from a killed master and a client namespace opens 720 idle TCP connections
//! to the VIP there (one address, `set tcpclientconn` raised so only the total cap bounds them;
//! 1440 descriptors without the bounds). While they are held, its health check keeps passing;
//! the old master comes back and preempts (the flooded node removes the VIP: a netlink socket),
//! is killed again, and the flooded node takes over again and adds the VIP (another netlink
//! socket and the gratuitous ARP's packet socket).
//!
//! Needs root, iproute2, prlimit and bind9. The flood is bounded in count (720) and time.

use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use netlab::bind9::Bind9;
use testkit::dns::zone_server;
use testkit::netns::run_in;
use testkit::process::read;
use testkit::vrrp::{holds_vip, Fulcrum, Group, Link, VIP};

const V2: Group = Group {
    version: 2,
    advert_ms: 1000,
};

/// `fulcrum run` under `prlimit --nofile=1024:1024` in `ns`.
fn start_limited(link: &Link, ns: &netlab::Ns, name: &str, config: &str) -> Fulcrum {
    Fulcrum::start_under(link, ns, name, config, &["prlimit", "--nofile=1024:1024"])
}

/// A proxy-mode VRRP node (as `testkit::vrrp::fulcrum_config`) whose target, Bind9 on
/// 127.0.0.1:5353, is health-checked (`tcpopen`: a descriptor per probe), with a second server
/// on the node's own address for the flood.
fn config(name: &str, real: &str, priority: u8) -> String {
    format!(
        "hostname {name}\ninterface eth0\nset tcpclientconn 1000\nset tcpidle 60\n\
         vrrp {{\nvrid 7\npriority {priority}\nnetwork 1\nversion 2\nadvert 1s\n}}\n\
         network 1 {{\naddr 10.235.210.0\nmask 255.255.255.0\nreal {real}\ninterface eth0\n}}\n\
         register network 1\nenable network 1\n\
         server 1 {{\nipaddr {VIP}\nport 53\ntargets 1\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\nipaddr 127.0.0.1\nport 5353\ntcpopen 5353,1,2\n}}\n\
         register target 1\nenable target 1\n"
    )
}

#[test]
fn a_flooded_backup_still_takes_over_and_adds_the_vip() {
    testkit::process::require_on_path("prlimit");
    let link = Link::new("vrrpfdflood");
    let switch = link.lab.switch("sw").expect("switch");
    let a_ns = link.node("a", &switch, "10.235.210.45");
    let b_ns = link.node("b", &switch, "10.235.210.46");
    let client = link.node("c", &switch, "10.235.210.200");
    let _bind9: Vec<Bind9> = [&a_ns, &b_ns]
        .iter()
        .map(|ns| zone_server(Some(ns.name()), 5353, &["@ IN TXT \"x\""]))
        .collect();
    let a = start_limited(&link, &a_ns, "a", &config("NS0A", "10.235.210.45", 200));
    a.wait_state("MASTER", V2.master_down(200) + Duration::from_secs(2));
    let b = start_limited(&link, &b_ns, "b", &config("NS0B", "10.235.210.46", 100));
    b.wait_state("BACKUP", Duration::from_secs(3));
    let b_up = || {
        b.control(&["show target 1"])
            .contains("tcpopen 5353,1,2 up")
    };
    let checked = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        b_up()
    });
    assert!(checked, "b's target never came up:\n{}", read(&b.log));
    a.proc.kill();
    b.wait_state("MASTER", V2.master_down(100) + Duration::from_secs(2));
    assert!(holds_vip(&b_ns), "b took over without the VIP");

    // 720 idle connections to the VIP on b, from the client namespace.
    let held: Vec<TcpStream> = run_in(&client, || {
        let to = SocketAddr::V4(SocketAddrV4::new(VIP.parse().expect("the VIP"), 53));
        (0..720)
            .filter_map(|_| TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok())
            .collect()
    });
    assert_eq!(held.len(), 720, "the kernel accepts every connection");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        b_up(),
        "b's health check failed under the flood:\n{}",
        read(&b.log)
    );

    // The old master returns and preempts: b releases the VIP under the flood.
    let a = start_limited(&link, &a_ns, "a2", &config("NS0A", "10.235.210.45", 200));
    b.wait_state("BACKUP", V2.master_down(200) + Duration::from_secs(3));
    let released = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !holds_vip(&b_ns)
    });
    assert!(released, "b kept the VIP:\n{}", read(&b.log));
    // And dies again: b takes over and adds the VIP, still under the flood.
    a.proc.kill();
    b.wait_state("MASTER", V2.master_down(100) + Duration::from_secs(2));
    let added = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        holds_vip(&b_ns)
    });
    let log = read(&b.log);
    assert!(added, "the flooded new master did not add the VIP:\n{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(b_up(), "b's health check failed under the flood:\n{log}");
    drop(held);
}
