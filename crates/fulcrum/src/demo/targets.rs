//! The demo's DNS targets, one per node, answering on the VIP (DSR delivers the client's packet
//! unchanged), the node's eth0 address (health checks) and 127.0.0.1 (the agent's check):
//!
//! - Bind9, when `named` and `dig` are installed: ns0a's Bind9 is the primary of the seed's
//!   zone and sends NOTIFY to ns0b's, a secondary that transfers the zone from it (the seed
//!   copied zone files over SSH). Each also serves a small zone of its own,
//!   `whoami.balanceng.net`, whose TXT names the node, so a client sees who answered.
//! - Otherwise the built-in responder ([`super::responder`]) in each node's namespace.
//!
//! In a dual-stack lab each also answers on the IPv6 VIP, the node's eth0 IPv6 address and `::1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::seed::{NS0A_ADDR, SEED_SERIAL, SEED_ZONE, VIP};
use netlab::seed6::VIP6;
use tokio::task::JoinHandle;

use super::lab::NodeSpec;
use super::{netns, responder};

/// What the clients ask: the TXT names the node that answered.
pub const WHOAMI: &str = "whoami.balanceng.net";

pub enum Targets {
    Bind9 {
        primary: Box<Bind9>,
        secondary: Box<Bind9>,
        serial: u32,
    },
    Builtin(Vec<JoinHandle<anyhow::Result<()>>>),
}

impl Targets {
    /// Starts the targets on both nodes (Bind9 unless `builtin` or it is not installed).
    pub fn start(nodes: &[NodeSpec; 2], builtin: bool) -> anyhow::Result<Targets> {
        let have_bind9 = ["/usr/sbin/named", "/usr/bin/dig"]
            .iter()
            .all(|tool| Path::new(tool).exists());
        if builtin || !have_bind9 {
            return Targets::start_builtin(nodes);
        }
        let [a, b] = nodes;
        let primary = Bind9::start(options(
            a,
            Zone::primary(SEED_ZONE, SEED_SERIAL, &["www IN A 10.235.210.1"])
                .notifying(&[SocketAddr::new(IpAddr::V4(b.addr), 53)]),
        ))?;
        let secondary = Bind9::start(options(
            b,
            Zone::secondary(SEED_ZONE, &[SocketAddr::new(IpAddr::V4(NS0A_ADDR), 53)]),
        ))?;
        Ok(Targets::Bind9 {
            primary: Box::new(primary),
            secondary: Box::new(secondary),
            serial: SEED_SERIAL,
        })
    }

    fn start_builtin(nodes: &[NodeSpec; 2]) -> anyhow::Result<Targets> {
        let mut tasks = Vec::new();
        for node in nodes {
            let zone =
                responder::Zone::new(&format!("{SEED_ZONE}."), node.name, node.addr, SEED_SERIAL)?;
            for ip in listen(node) {
                let addr = SocketAddr::new(ip, 53);
                let udp = netns::udp(node.ns.name(), addr)?;
                let tcp = netns::tcp_listener(node.ns.name(), addr)?;
                tasks.push(tokio::spawn(responder::serve(zone.clone(), udp, tcp)));
            }
        }
        Ok(Targets::Builtin(tasks))
    }

    pub fn describe(&self) -> String {
        match self {
            Targets::Bind9 {
                primary, secondary, ..
            } => format!(
                "Bind9 (named pids {} and {}; ns0b's a secondary of ns0a's: NOTIFY + zone transfer)",
                pid(primary),
                pid(secondary)
            ),
            Targets::Builtin(_) => {
                "the built-in responder (install bind9 and dnsutils for Bind9)".to_string()
            }
        }
    }

    /// Bind9 only: a new serial on ns0a's primary (ns0b follows through NOTIFY). Returns it.
    pub fn bump_serial(&mut self) -> anyhow::Result<Option<u32>> {
        match self {
            Targets::Bind9 {
                primary, serial, ..
            } => {
                *serial += 1;
                primary.set_serial(SEED_ZONE, *serial)?;
                Ok(Some(*serial))
            }
            Targets::Builtin(_) => Ok(None),
        }
    }
}

fn pid(named: &Bind9) -> String {
    named.pid().map_or("-".into(), |p| p.to_string())
}

fn options(node: &NodeSpec, replicated: Zone) -> Bind9Options {
    let whoami = format!("@ IN TXT \"{}\"", node.name);
    Bind9Options {
        listen: listen(node),
        port: 53,
        // The replicated zone first: a secondary is ready once its first transfer is done.
        zones: vec![replicated, Zone::primary(WHOAMI, 1, &[&whoami])],
        netns: Some(node.ns.name().to_string()),
        extra_options: String::new(),
    }
}

/// Where a node's target answers. The IPv4 VIP first: it becomes the zones' `ns1` and is where
/// Bind9's readiness is checked.
fn listen(node: &NodeSpec) -> Vec<IpAddr> {
    let mut addrs = vec![
        IpAddr::V4(VIP),
        IpAddr::V4(node.addr),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    ];
    if let Some(addr6) = node.addr6 {
        addrs.extend([
            IpAddr::V6(VIP6),
            IpAddr::V6(addr6),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
    }
    addrs
}

impl Drop for Targets {
    fn drop(&mut self) {
        // Bind9 stops on its own drop; the responders' sockets close with their tasks.
        if let Targets::Builtin(tasks) = self {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}
