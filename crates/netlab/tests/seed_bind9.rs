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
