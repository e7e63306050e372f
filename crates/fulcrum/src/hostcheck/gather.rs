//! Reads the facts the host check judges, from the network namespace and process it runs in:
//! interfaces, their flags and addresses (`getifaddrs`), the ARP and bind sysctls
//! (/proc/sys/net/ipv4), this process's effective capabilities and user (/proc/self/status),
//! whether UDP ports can be bound (and, when not, who holds them: /proc/net/udp{,6} inodes
//! matched against /proc/PID/fd), and whether addresses can be bound with `IP_FREEBIND`. Thin:
//! no judgement, every failure to read is a missing fact.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

use super::facts::{Holder, HostFacts, InterfaceFacts, PortState};

/// What to try besides reading: UDP ports to bind, addresses to bind with `IP_FREEBIND`,
/// whether AF_XDP runs, whether the XDP program loads.
pub struct Tries {
    pub udp_ports: BTreeSet<u16>,
    pub freebind: BTreeSet<IpAddr>,
    pub af_xdp: bool,
    pub xdp_program: bool,
    /// Interfaces whose receive offloads to read.
    pub offloads_of: BTreeSet<String>,
}

pub fn gather(tries: &Tries) -> HostFacts {
    let interfaces = interfaces();
    let mut names: Vec<String> = interfaces.keys().cloned().collect();
    names.push("all".to_string());
    let conf = |leaf: &str| -> BTreeMap<String, u32> {
        names
            .iter()
            .filter_map(|i| Some((i.clone(), sysctl(&format!("conf/{i}/{leaf}"))?)))
            .collect()
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    HostFacts {
        arp_ignore: conf("arp_ignore"),
        arp_announce: conf("arp_announce"),
        interfaces,
        nonlocal_bind: sysctl("ip_nonlocal_bind"),
        unprivileged_port_start: sysctl("ip_unprivileged_port_start"),
        effective_caps: status_field(&status, "CapEff:")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok()),
        // `Uid: REAL EFFECTIVE SAVED FS`.
        euid: status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|uid| uid.parse().ok()),
        udp_ports: (tries.udp_ports.iter())
            .map(|p| (*p, try_udp_port(*p)))
            .collect(),
        freebind: (tries.freebind.iter())
            .map(|a| (*a, try_freebind(*a)))
            .collect(),
        af_xdp: tries.af_xdp.then(|| match crate::dsr::xsk::ruled_out() {
            Some(reason) => Err(reason),
            None => fulcrum_xdp::program::probe(),
        }),
        xdp_program: tries.xdp_program.then(fulcrum_xdp::program::probe_program),
        receive_offload: (tries.offloads_of.iter())
            .map(|name| {
                let offload = fulcrum_sys::ethtool::receive_offload(name);
                (name.clone(), offload.map_err(|e| e.to_string()))
            })
            .collect(),
    }
}

fn interfaces() -> BTreeMap<String, InterfaceFacts> {
    let mut out: BTreeMap<String, InterfaceFacts> = BTreeMap::new();
    let Ok(entries) = getifaddrs() else {
        return out;
    };
    for entry in entries {
        let facts = out.entry(entry.interface_name.clone()).or_default();
        facts.up = entry.flags.contains(InterfaceFlags::IFF_UP);
        facts.running = entry.flags.contains(InterfaceFlags::IFF_RUNNING);
        let address = entry.address.as_ref();
        if let Some(v4) = address.and_then(|a| a.as_sockaddr_in()) {
            facts.addresses.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = address.and_then(|a| a.as_sockaddr_in6()) {
            facts.addresses.push(IpAddr::V6(v6.ip()));
        }
    }
    out
}

/// A number under /proc/sys/net/ipv4.
fn sysctl(path: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{path}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The first word after `name` on its line of /proc/self/status.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
}

fn try_udp_port(port: u16) -> PortState {
    match UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
        Ok(_) => PortState::Free,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => PortState::Held(udp_holders(port)),
        Err(e) => PortState::Unknown(e.to_string()),
    }
}

/// The processes with a UDP socket on `port`, in this network namespace.
fn udp_holders(port: u16) -> Vec<Holder> {
    let inodes: BTreeSet<u64> = ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| socket_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut holders = Vec::new();
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).ok().is_some_and(|target| {
                let target = target.to_string_lossy();
                target
                    .strip_prefix("socket:[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|inode| inode.parse().ok())
                    .is_some_and(|inode: u64| inodes.contains(&inode))
            })
        });
        if holds {
            let program = std::fs::read_to_string(process.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_else(|_| "?".to_string());
            holders.push(Holder { pid, program });
        }
    }
    holders
}

/// Socket inodes bound to `port` in a /proc/net/udp table: `sl local_address:PORT rem_address
/// st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`, the port in hex.
pub fn socket_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let local_port = u16::from_str_radix(local_port, 16).ok()?;
            (local_port == port).then(|| fields.get(9)?.parse().ok())?
        })
        .collect()
}

fn try_freebind(address: IpAddr) -> Result<(), String> {
    use socket2::{Domain, Socket, Type};
    let domain = if address.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, None).map_err(|e| e.to_string())?;
    let freebind = if address.is_ipv4() {
        socket.set_freebind_v4(true)
    } else {
        socket.set_freebind_v6(true)
    };
    freebind.map_err(|e| e.to_string())?;
    socket
        .bind(&SocketAddr::new(address, 0).into())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_are_read_for_the_port_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 12: 00000000:28C7 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
            \x20 13: 0100007F:01B7 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0\n\
            garbage\n";
        assert_eq!(socket_inodes(table, 10439), vec![4242]);
        assert_eq!(socket_inodes(table, 439), vec![77]);
        assert!(socket_inodes(table, 53).is_empty());
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tx\nUid:\t0\t1000\t0\t0\nCapEff:\t000001ffffffffff\n";
        assert_eq!(status_field(status, "CapEff:"), Some("000001ffffffffff"));
        assert_eq!(status_field(status, "Uid:"), Some("0"));
        assert_eq!(status_field(status, "Gid:"), None);
    }
}
