//! The seed's two-node cluster made dual-stack, end to end: the cluster of `cluster.rs` (the
//! seed topology, Bind9 pair, agents and the real `fulcrum run` on both nodes with the seed's
//! NS0A/NS0B configurations, DSR mode, VRRP vrid 7 at equal priority 200, sessions synced as
//! frames on eth1) with unique-local IPv6 added inside the lab only, the IPv6 VIP on both nodes'
//! `lo` beside the IPv4 one, Bind9 on both families, and each configuration given `real6` and
//! server 2 on the IPv6 VIP over both nodes (`testkit::cluster::Cluster::new_dual_stack`). So each
//! `vrrp` block runs two instances with one VRID, one per family.
//!
//! IPv6 clients behind the router ask the IPv6 VIP with `dig -6` over UDP and TCP: half of them
//! placed while target 4 (ns0b) is disabled on the master, so they all sit on ns0a where the
//! method alone would put about half (a new master that placed clients anew instead of
//! following the synced sessions would move some), the others spread over both nodes by the
//! method; each sticks to its node across UDP and TCP. SIGKILL of the master: the backup takes
//! over both VIPs, the IPv6 VIP answers again, and every IPv6 client keeps its node.
//!
//! Runs once per DSR plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`). The AF_XDP program
//! steers IPv4 frames only, so the IPv6 frames checked here go through the `AF_PACKET` workers
//! of an `access xdp` interface: the AF_XDP variant proves the IPv6 path keeps working (and
//! synced, and taken over) beside both nodes' running AF_XDP paths.
//!
//! Needs root, iproute2, nftables, bind9 and dig.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use testkit::cluster::{within, Cluster, MARGIN, MASTER_DOWN};
use testkit::process::read;
use testkit::seed_dsr6::ask6;

const IPV6_MASTER: &str = "BACKUP -> MASTER: master down timer expired (IPv6)";

/// Asks the IPv6 VIP from each of `clients` over UDP then TCP: the node that answered both.
fn place(c: &Cluster, clients: &[Ipv6Addr]) -> HashMap<Ipv6Addr, String> {
    clients
        .iter()
        .map(|&client| {
            let udp = ask6(&c.seed, client, false, 2);
            let tcp = ask6(&c.seed, client, true, 2);
            let node = udp
                .clone()
                .unwrap_or_else(|| panic!("no answer for {client} over UDP:\n{}", c.logs()));
            assert_eq!(
                udp,
                tcp,
                "{client} moved between UDP and TCP:\n{}",
                c.logs()
            );
            (client, node)
        })
        .collect()
}

testkit::per_plane! {
fn ipv6_clients_are_balanced_sticky_and_keep_their_node_when_the_master_is_killed(plane) {
    let mut c = Cluster::up_from(Cluster::new_dual_stack_on("cl6kill", plane));
    // The IPv6 instances: ns0a, started first, is master for IPv6 too; ns0b its backup.
    let ipv6_master = within(MASTER_DOWN + MARGIN, || {
        read(&c.a.log()).contains(IPV6_MASTER)
    });
    assert!(
        ipv6_master.is_some(),
        "ns0a is not master for IPv6:\n{}",
        c.logs()
    );
    let answered = within(Duration::from_secs(10), || {
        ask6(&c.seed, netlab::seed6::CLIENT_ADDR6, false, 1).is_some()
    });
    assert!(
        answered.is_some(),
        "the IPv6 VIP never answered:\n{}",
        c.logs()
    );
    // `show vrrp`: each node's IPv6 instance runs in DSR mode, the master holding the IPv6 VIP
    // (its plane's IPv6 switch on), the backup not.
    for (node, holding) in [(&c.a, "yes"), (&c.b, "no")] {
        let shown = node.show_vrrp();
        let block = shown.split_once("\n\nfamily ipv6\n").map(|(_, b)| b);
        let block = block.unwrap_or_else(|| panic!("{}: no IPv6 block:\n{shown}", node.name));
        let expected = format!("interface eth1 (dsr)\nholding {holding}\n");
        assert!(block.contains(&expected), "{}:\n{shown}", node.name);
    }

    let clients: Vec<Ipv6Addr> = c.seed.client_sources6().into_iter().take(40).collect();
    let (pinned, spread) = clients.split_at(20);
    let reply = c.a.control("disable target 4");
    assert!(!reply.contains("rror"), "disable target 4: {reply}");
    // The plane takes the change from its driver a moment after the reply.
    std::thread::sleep(Duration::from_secs(1));
    let mut node_of = place(&c, pinned);
    assert!(
        node_of.values().all(|n| n == "ns0a"),
        "placed on ns0b while target 4 was disabled: {node_of:?}"
    );
    let reply = c.a.control("enable target 4");
    assert!(!reply.contains("rror"), "enable target 4: {reply}");
    std::thread::sleep(Duration::from_secs(1));
    node_of.extend(place(&c, spread));
    let on_b = spread.iter().filter(|s| node_of[s] == "ns0b").count();
    assert!(
        (3..=17).contains(&on_b),
        "the method puts IPv6 clients on both nodes: {on_b} of 20 on ns0b"
    );

    // The backup holds every IPv6 client's session before the master dies.
    let synced = within(Duration::from_secs(10), || {
        let shown = c.b.control("show sessions all");
        clients
            .iter()
            .all(|client| shown.contains(&format!(" {client} ")))
    });
    assert!(
        synced.is_some(),
        "ns0b lacks IPv6 sessions:\n{}\n{}",
        c.b.control("show sessions all"),
        c.logs()
    );
    assert!(!read(&c.b.log()).contains(IPV6_MASTER), "{}", c.logs());

    c.a.sigkill();
    c.b.wait_state("MASTER", MASTER_DOWN + MARGIN);
    let took_ipv6 = within(MARGIN, || read(&c.b.log()).contains(IPV6_MASTER));
    assert!(
        took_ipv6.is_some(),
        "ns0b did not take the IPv6 VIP:\n{}",
        c.logs()
    );
    let answered = within(Duration::from_secs(10), || {
        ask6(&c.seed, clients[0], false, 1).is_some()
    });
    assert!(
        answered.is_some(),
        "the IPv6 VIP does not answer after the takeover:\n{}",
        c.logs()
    );
    for client in &clients {
        let node = ask6(&c.seed, *client, false, 2)
            .unwrap_or_else(|| panic!("no answer for {client} after the takeover:\n{}", c.logs()));
        assert_eq!(
            node,
            node_of[client],
            "{client} moved after the takeover:\n{}",
            c.logs()
        );
    }
}
}
