//! The seed document's topology, built in a [`Lab`]: two DNS nodes on one switch, each with an
//! `eth1` reserved for Fulcrum and the VIP on `lo` with ARP suppressed, and a router behind
//! which a client namespace holds many source addresses (the seed's clients come from other
//! networks).
//!
//! ```text
//!   client (eth0 10.99.0.1/16 + 10.99.1.1..N)            switch "sw" (bridge br0)
//!      |                                                /    |     |     |     \
//!   router eth1 10.99.0.254/16   router eth0 10.235.210.254  |     |     |      |
//!                                        ns0a eth0 .43/24  eth1   ns0b eth0 .44/24  eth1
//!                                        lo 10.235.210.1/32       lo 10.235.210.1/32
//! ```
//!
//! Routes are specific (no default route anywhere): the client reaches 10.235.210.0/24 via the
//! router, the nodes reach 10.99.0.0/16 via 10.235.210.254. [`SeedLab::start_bind9`] starts the
//! seed's Bind9 pair with the `bind9` fixture (separately, since not every test wants it).

use std::net::{IpAddr, Ipv4Addr};

use crate::bind9::{Bind9, Bind9Error, Bind9Options, Zone};
use crate::lab::{Lab, LabError, Ns, Switch};

/// The seed's virtual address, on both nodes' `lo`.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
/// `ns0a`'s eth0 address (the seed's NS0A).
pub const NS0A_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
/// `ns0b`'s eth0 address (the seed's NS0B).
pub const NS0B_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);
/// The router's address on the nodes' network.
pub const ROUTER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 254);
/// The router's address on the client network.
pub const ROUTER_CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 254);
/// The client namespace's primary address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// The nodes' network.
pub const NODE_NET: &str = "10.235.210.0/24";
/// The clients' network.
pub const CLIENT_NET: &str = "10.99.0.0/16";
/// How many extra source addresses the client holds (10.99.1.1 ..= 10.99.1.200).
pub const CLIENT_SOURCES: u8 = 200;

/// The seed's zone, served by both nodes.
pub const SEED_ZONE: &str = "balanceng.net";
/// The serial both nodes start with.
pub const SEED_SERIAL: u32 = 2026112501;

/// The seed topology's handles. Everything lives as long as the [`Lab`] that built it.
#[derive(Debug, Clone)]
pub struct SeedLab {
    pub switch: Switch,
    pub ns0a: Ns,
    pub ns0b: Ns,
    pub router: Ns,
    pub client: Ns,
}

impl SeedLab {
    /// The client's extra source addresses, 10.99.1.1 ..= 10.99.1.200.
    pub fn client_sources(&self) -> Vec<Ipv4Addr> {
        (1..=CLIENT_SOURCES)
            .map(|host| Ipv4Addr::new(10, 99, 1, host))
            .collect()
    }

    /// Both DNS nodes, `ns0a` first.
    pub fn nodes(&self) -> [&Ns; 2] {
        [&self.ns0a, &self.ns0b]
    }

    /// Starts Bind9 in both nodes, as in the seed: listening on 127.0.0.1, the VIP and the
    /// node's eth0 address, serving [`SEED_ZONE`] (primary on both, same serial) with a TXT
    /// record at the apex naming the node (`"ns0a"`, `"ns0b"`) so a test sees who answered.
    pub fn start_bind9(&self) -> Result<SeedBind9, Bind9Error> {
        let start = |node: &Ns, addr: Ipv4Addr| {
            let txt = format!("@ IN TXT \"{}\"", node.short_name());
            Bind9::start(Bind9Options {
                // The VIP first: it becomes the zone's `ns1` and is where readiness is checked.
                listen: vec![
                    IpAddr::V4(VIP),
                    IpAddr::V4(addr),
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                ],
                port: 53,
                zones: vec![Zone::primary(SEED_ZONE, SEED_SERIAL, &[&txt])],
                netns: Some(node.name().to_string()),
                extra_options: String::new(),
            })
        };
        Ok(SeedBind9 {
            ns0a: start(&self.ns0a, NS0A_ADDR)?,
            ns0b: start(&self.ns0b, NS0B_ADDR)?,
        })
    }
}

/// The seed's two Bind9 instances; each is killed by PID when dropped.
pub struct SeedBind9 {
    pub ns0a: Bind9,
    pub ns0b: Bind9,
}

/// Builds the seed topology in `lab` (about a second: a few dozen `ip` commands).
pub fn seed_topology(lab: &Lab) -> Result<SeedLab, LabError> {
    let switch = lab.switch("sw")?;
    let ns0a = seed_node(lab, &switch, "ns0a", NS0A_ADDR)?;
    let ns0b = seed_node(lab, &switch, "ns0b", NS0B_ADDR)?;

    let router = lab.netns("router")?;
    lab.link(&router, "eth0", &switch)?;
    router.addr("eth0", &format!("{ROUTER_ADDR}/24"))?;
    router.sysctl("net.ipv4.ip_forward", "1")?;

    let client = lab.netns("client")?;
    lab.veth(&router, "eth1", &client, "eth0")?;
    router.addr("eth1", &format!("{ROUTER_CLIENT_ADDR}/16"))?;
    client.addr("eth0", &format!("{CLIENT_ADDR}/16"))?;
    let extra: Vec<String> = (1..=CLIENT_SOURCES)
        .map(|host| format!("addr add 10.99.1.{host}/16 dev eth0"))
        .collect();
    client.ip_batch(&extra)?;
    client.route(NODE_NET, &ROUTER_CLIENT_ADDR.to_string())?;

    for node in [&ns0a, &ns0b] {
        node.route(CLIENT_NET, &ROUTER_ADDR.to_string())?;
    }
    Ok(SeedLab {
        switch,
        ns0a,
        ns0b,
        router,
        client,
    })
}

/// One DNS node: eth0 with its address, eth1 up without one (Fulcrum's), the VIP on `lo`, and
/// the seed's ARP settings so that only Fulcrum answers ARP for the VIP.
fn seed_node(lab: &Lab, switch: &Switch, name: &str, addr: Ipv4Addr) -> Result<Ns, LabError> {
    let node = lab.netns(name)?;
    lab.link(&node, "eth0", switch)?;
    lab.link(&node, "eth1", switch)?;
    node.addr("eth0", &format!("{addr}/24"))?;
    node.lo_alias(&format!("{VIP}/32"))?;
    for scope in ["all", "eth0"] {
        node.sysctl(&format!("net.ipv4.conf.{scope}.arp_ignore"), "1")?;
        node.sysctl(&format!("net.ipv4.conf.{scope}.arp_announce"), "2")?;
    }
    Ok(node)
}
