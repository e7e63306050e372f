//! What the host check knows about the machine it runs on: plain data, gathered once by
//! [`super::gather`] and judged by [`super::evaluate`], so that the judgement is tested with
//! tables of made-up hosts and the gathering stays a thin reader of /proc, /sys and sockets.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Capability bit numbers (linux/capability.h).
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

/// One network interface as the kernel shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceFacts {
    /// Administratively up (`IFF_UP`, what `ip link set X up` sets).
    pub up: bool,
    /// The link is running (`IFF_RUNNING`: carrier, the peer of a veth is up).
    pub running: bool,
    pub addresses: Vec<IpAddr>,
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its `comm` (the program name, at most 15 bytes).
    pub program: String,
}

/// Whether a UDP port could be bound on every address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortState {
    Free,
    /// In use; the holders that could be found (none when /proc did not tell).
    Held(Vec<Holder>),
    /// Binding failed for another reason (the error's text).
    Unknown(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Every interface by name.
    pub interfaces: BTreeMap<String, InterfaceFacts>,
    /// `net.ipv4.conf.IF.arp_ignore` by interface name, `all` included; missing if unreadable.
    pub arp_ignore: BTreeMap<String, u32>,
    /// `net.ipv4.conf.IF.arp_announce`, likewise.
    pub arp_announce: BTreeMap<String, u32>,
    /// `net.ipv4.ip_nonlocal_bind`.
    pub nonlocal_bind: Option<u32>,
    /// `net.ipv4.ip_unprivileged_port_start`: ports from here on need no capability.
    pub unprivileged_port_start: Option<u32>,
    /// `CapEff` of this process (a bit per capability); `None` if unreadable.
    pub effective_caps: Option<u64>,
    /// The effective user id.
    pub euid: Option<u32>,
    /// UDP ports tried, by number.
    pub udp_ports: BTreeMap<u16, PortState>,
    /// Whether AF_XDP can run here (`fulcrum_xdp::program::probe`); only tried when an
    /// interface asks for it (`access xdp`).
    pub af_xdp: Option<Result<(), String>>,
    /// Whether the XDP program loads here (`fulcrum_xdp::program::probe_program`); only tried
    /// for an active-active DSR node, which needs it for the frames routed to it.
    pub xdp_program: Option<Result<(), String>>,
    /// The receive offloads of the DSR interfaces, by name (`fulcrum_sys::ethtool`).
    pub receive_offload: BTreeMap<String, Result<fulcrum_sys::ethtool::ReceiveOffload, String>>,
    /// Addresses tried with `IP_FREEBIND`: `Ok` if a socket could be bound to it.
    pub freebind: BTreeMap<IpAddr, Result<(), String>>,
}

impl HostFacts {
    /// Whether the process holds a capability (an unreadable set counts as not held).
    pub fn has_cap(&self, cap: u32) -> bool {
        self.effective_caps.is_some_and(|set| set & (1 << cap) != 0)
    }

    /// The interfaces holding an address.
    pub fn interfaces_with(&self, address: IpAddr) -> Vec<&str> {
        self.interfaces
            .iter()
            .filter(|(_, i)| i.addresses.contains(&address))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}
