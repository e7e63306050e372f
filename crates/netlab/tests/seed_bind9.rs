//! The seed's Bind9 pair in the seed topology (root, iproute2, bind9 and dig required): each
//! node answers on its eth0 address, the VIP and 127.0.0.1 with a TXT naming itself, the
//! client reaches both through the router, and nobody answers the VIP on the switch (that is
//! Fulcrum's job on eth1).

use netlab::seed::{NS0A_ADDR, NS0B_ADDR, SEED_SERIAL, SEED_ZONE, VIP};
use netlab::{seed_topology, Lab, Ns};

/// `dig +short TXT` for the seed zone at `server`, from `from`; `None` when nothing answered.
fn txt(from: &Ns, server: &str) -> Option<String> {
    let at = format!("@{server}");
    let output = from
        .exec(&[
            "dig", "+short", "+norec", "+time=1", "+tries=1", &at, SEED_ZONE, "TXT",
        ])
        .expect("dig must run: is bind9-dnsutils installed?");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty() && !text.starts_with(';')).then_some(text)
}

#[test]
fn seed_nodes_serve_the_zone_and_name_themselves() {
    let lab = Lab::new("seedbind9");
    let seed = seed_topology(&lab).expect("seed topology");
    let bind = seed.start_bind9().expect("Bind9 in ns0a and ns0b");
    assert_eq!(bind.ns0a.query_serial(SEED_ZONE), Some(SEED_SERIAL));
    assert_eq!(bind.ns0b.query_serial(SEED_ZONE), Some(SEED_SERIAL));

    for (node, addr, name) in [
        (&seed.ns0a, NS0A_ADDR, "\"ns0a\""),
        (&seed.ns0b, NS0B_ADDR, "\"ns0b\""),
    ] {
        for server in [addr.to_string(), VIP.to_string(), "127.0.0.1".to_string()] {
            assert_eq!(
                txt(node, &server).as_deref(),
                Some(name),
                "{node} asking {server}"
            );
        }
        assert_eq!(
            txt(&seed.client, &addr.to_string()).as_deref(),
            Some(name),
            "client asking {addr} through the router"
        );
    }
    assert_eq!(
        txt(&seed.client, &VIP.to_string()),
        None,
        "the VIP answered without Fulcrum: ARP suppression is broken"
    );

    let prefix = lab.prefix().to_string();
    drop(bind);
    drop(lab);
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&prefix),
        "namespaces left behind"
    );
}

/// The demo's replication: ns0b's Bind9 is a secondary of ns0a's, kept current by NOTIFY and
/// zone transfer (the seed copied zone files over SSH instead).
#[test]
fn a_secondary_follows_its_primary_through_notify() {
    use netlab::bind9::{Bind9, Bind9Options, Zone};
    use std::net::{IpAddr, SocketAddr};
    use std::time::{Duration, Instant};

    let lab = Lab::new("seednotify");
    let seed = seed_topology(&lab).expect("seed topology");
    let options = |node: &Ns, addr, zone: Zone| Bind9Options {
        listen: vec![IpAddr::V4(addr)],
        port: 53,
        zones: vec![zone],
        netns: Some(node.name().to_string()),
        extra_options: String::new(),
    };
    let to_b = SocketAddr::new(IpAddr::V4(NS0B_ADDR), 53);
    let from_a = SocketAddr::new(IpAddr::V4(NS0A_ADDR), 53);
    let mut primary = Bind9::start(options(
        &seed.ns0a,
        NS0A_ADDR,
        Zone::primary(SEED_ZONE, SEED_SERIAL, &["www IN A 192.0.2.1"]).notifying(&[to_b]),
    ))
    .expect("primary in ns0a");
    let secondary = Bind9::start(options(
        &seed.ns0b,
        NS0B_ADDR,
        Zone::secondary(SEED_ZONE, &[from_a]),
    ))
    .expect("secondary in ns0b (returns once the first transfer is done)");
    assert_eq!(secondary.query_serial(SEED_ZONE), Some(SEED_SERIAL));

    // The zone's refresh is an hour: only a NOTIFY brings the new serial within seconds.
    primary
        .set_serial(SEED_ZONE, SEED_SERIAL + 1)
        .expect("new serial on the primary");
    let deadline = Instant::now() + Duration::from_secs(10);
    while secondary.query_serial(SEED_ZONE) != Some(SEED_SERIAL + 1) {
        assert!(
            Instant::now() < deadline,
            "the secondary did not follow; its log:\n{}\nthe primary's:\n{}",
            secondary.log(),
            primary.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        secondary.log().contains("notify from"),
        "no NOTIFY in the secondary's log:\n{}",
        secondary.log()
    );
}
