//! The seed topology made dual-stack, inside the lab only: unique-local IPv6 addresses beside
//! the seed's IPv4 ones, the IPv6 VIP on both nodes' `lo` beside the IPv4 one, the router
//! forwarding IPv6 between the nodes' network and the clients', and Bind9 listening on both
//! families. The seed's hosts have no IPv6 (2008); these are the same hosts with a second
//! family and nothing else: no setting beyond addresses, routes and the router's forwarding
//! (IPv6 needs no counterpart of the seed's `arp_ignore`: Linux answers a neighbour
//! solicitation only for an address on the interface it arrives on, so a VIP on `lo` is never
//! answered on `eth0` or `eth1`).
//!
//! ```text
//!   client eth0 fd00:10:99::1/64 + fd00:10:99::1:1..N
//!   router eth1 fd00:10:99::fe/64         router eth0 fd00:10:235:210::fe/64
//!   ns0a eth0 fd00:10:235:210::43/64      ns0b eth0 fd00:10:235:210::44/64
//!   lo fd00:10:235:210::1/128 on both nodes
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::bind9::{Bind9, Bind9Error, Bind9Options, Zone};
use crate::lab::{LabError, Ns};
use crate::seed::{SeedBind9, SeedLab, NS0A_ADDR, NS0B_ADDR, SEED_SERIAL, SEED_ZONE, VIP};

/// The IPv6 VIP, on both nodes' `lo`.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 1);
/// `ns0a`'s eth0 IPv6 address.
pub const NS0A_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 0x43);
/// `ns0b`'s eth0 IPv6 address.
pub const NS0B_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 0x44);
/// The router's IPv6 address on the nodes' network.
pub const ROUTER_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x235, 0x210, 0, 0, 0, 0xfe);
/// The router's IPv6 address on the client network.
pub const ROUTER_CLIENT_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x99, 0, 0, 0, 0, 0xfe);
/// The client namespace's primary IPv6 address.
pub const CLIENT_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x99, 0, 0, 0, 0, 1);
/// The nodes' IPv6 network.
pub const NODE_NET6: &str = "fd00:10:235:210::/64";
/// The clients' IPv6 network.
pub const CLIENT_NET6: &str = "fd00:10:99::/64";
/// How many extra IPv6 source addresses the client holds (fd00:10:99::1:1 ..= ::1:N).
pub const CLIENT_SOURCES6: u16 = 200;

impl SeedLab {
    /// Adds the IPv6 side (see the module doc) and returns once no address in the lab is
    /// tentative any more (duplicate address detection done), so every one can be used.
    pub fn add_ipv6(&self) -> Result<(), LabError> {
        for (node, addr) in [(&self.ns0a, NS0A_ADDR6), (&self.ns0b, NS0B_ADDR6)] {
            node.addr("eth0", &format!("{addr}/64"))?;
            node.lo_alias(&format!("{VIP6}/128"))?;
            node.route(CLIENT_NET6, &ROUTER_ADDR6.to_string())?;
        }
        self.router.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        self.router.addr("eth0", &format!("{ROUTER_ADDR6}/64"))?;
        self.router
            .addr("eth1", &format!("{ROUTER_CLIENT_ADDR6}/64"))?;
        self.client.addr("eth0", &format!("{CLIENT_ADDR6}/64"))?;
        let extra: Vec<String> = self
            .client_sources6()
            .iter()
            .map(|a| format!("addr add {a}/64 dev eth0"))
            .collect();
        self.client.ip_batch(&extra)?;
        self.client
            .route(NODE_NET6, &ROUTER_CLIENT_ADDR6.to_string())?;
        for ns in [&self.ns0a, &self.ns0b, &self.router, &self.client] {
            wait_for_dad(ns)?;
        }
        Ok(())
    }

    /// The client's extra IPv6 source addresses, fd00:10:99::1:1 ..= fd00:10:99::1:200.
    pub fn client_sources6(&self) -> Vec<Ipv6Addr> {
        (1..=CLIENT_SOURCES6)
            .map(|host| Ipv6Addr::new(0xfd00, 0x10, 0x99, 0, 0, 0, 1, host))
            .collect()
    }

    /// [`SeedLab::start_bind9`] on both families: each node's Bind9 also listens on the IPv6
    /// VIP, its eth0 IPv6 address and `::1`.
    pub fn start_bind9_dual(&self) -> Result<SeedBind9, Bind9Error> {
        Ok(SeedBind9 {
            ns0a: start_dual(&self.ns0a, NS0A_ADDR, NS0A_ADDR6)?,
            ns0b: start_dual(&self.ns0b, NS0B_ADDR, NS0B_ADDR6)?,
        })
    }
}

/// One node's Bind9 on both families, as [`SeedLab::start_bind9_dual`] starts it (also after
/// a test stopped it).
pub fn start_dual(node: &Ns, addr: Ipv4Addr, addr6: Ipv6Addr) -> Result<Bind9, Bind9Error> {
    let txt = format!("@ IN TXT \"{}\"", node.short_name());
    Bind9::start(Bind9Options {
        // The IPv4 VIP first: it becomes the zone's `ns1` and is where readiness is checked.
        listen: vec![
            IpAddr::V4(VIP),
            IpAddr::V4(addr),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(VIP6),
            IpAddr::V6(addr6),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        port: 53,
        zones: vec![Zone::primary(SEED_ZONE, SEED_SERIAL, &[&txt])],
        netns: Some(node.name().to_string()),
        extra_options: String::new(),
    })
}

/// Waits (up to 15 s) until no address in `ns` is tentative.
pub fn wait_for_dad(ns: &Ns) -> Result<(), LabError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let tentative = ns.run(&["ip", "-6", "addr", "show", "tentative"])?;
        if tentative.trim().is_empty() || Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
