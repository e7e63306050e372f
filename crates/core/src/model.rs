//! The validated configuration model: what a configuration file means, with no trace of how it
//! was spelled. The config crate turns text into a [`Config`] (and back, canonically); the daemon
//! builds runtime snapshots from it. Every id is the operator's number from the file (`target 2`).
//!
//! Invariants a `Config` produced by the config crate upholds (the validator checks them):
//! every reference resolves, ids are unique, every server has at least one target, nothing is
//! enabled that is not registered, and every check's timeout is greater than its interval.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Default session timeout in seconds (BalanceNG's `stout` default).
pub const DEFAULT_SESSION_TIMEOUT: u32 = 600;
/// Default bound on the session table.
pub const DEFAULT_MAX_SESSIONS: u64 = 10_000_000;
/// `set tcpmaxconn`: open TCP client connections at most (each holds two descriptors).
pub const DEFAULT_TCP_MAX_CONNECTIONS: u64 = 1000;
/// `set tcpclientconn`: open TCP connections one client address may hold.
pub const DEFAULT_TCP_CLIENT_CONNECTIONS: u64 = 10;
/// `set tcpidle`: seconds a TCP client may stay without sending a query.
pub const DEFAULT_TCP_IDLE: u32 = 10;
/// `set tcpwrite`: seconds an answer may wait for a client that does not read.
pub const DEFAULT_TCP_WRITE_TIMEOUT: u32 = 10;
/// `set tcplifetime`: seconds a TCP connection may last however busy it is.
pub const DEFAULT_TCP_LIFETIME: u32 = 120;
/// `set upstreamsockets`: sockets each proxy worker sends a target's UDP queries from, one
/// drawn at random per query.
pub const DEFAULT_UPSTREAM_SOCKETS: u32 = 4;
/// The most `set upstreamsockets` takes.
pub const MAX_UPSTREAM_SOCKETS: u32 = 64;
/// Default VRRP advertisement interval in milliseconds.
pub const DEFAULT_ADVERT_MS: u32 = 1000;

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub hostname: Option<String>,
    /// Accepted and kept so that `show config` and `save` reproduce it; never checked.
    pub license: Option<License>,
    pub settings: Settings,
    /// `modules a,b,c`: accepted for compatibility, kept in order.
    pub modules: Vec<String>,
    /// Interfaces by number. `interface eth1` (the short form) takes the next free number.
    pub interfaces: BTreeMap<u32, Interface>,
    pub vrrp: Option<Vrrp>,
    /// `announce { ... }`: active-active, the VIPs announced to a local routing daemon.
    pub announce: Option<Announce>,
    pub networks: BTreeMap<u32, Network>,
    pub gateway: Option<Gateway>,
    pub servers: BTreeMap<u32, Server>,
    pub targets: BTreeMap<u32, Target>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub serial: String,
    pub key: String,
}

/// `set NAME VALUE` values. Defaults are BalanceNG's where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `set localdsr 1`: a DSR target that is this host is reached through the local stack.
    pub localdsr: bool,
    /// `set sessiontimeout N`: seconds of idleness before a session expires (per-server `stout`
    /// overrides it).
    pub session_timeout: u32,
    /// `set maxsessions N`: bound on the session table; the oldest are shed first when full.
    pub max_sessions: u64,
    /// `set synckey "..."`: HMAC-SHA256 key for session-sync datagrams.
    pub sync_key: Option<String>,
    /// `set agentkey "..."`: HMAC key for agent-check packets.
    pub agent_key: Option<String>,
    /// `set failopen 1`: when no target of a server is operational, forward to all configured
    /// targets instead of dropping.
    pub failopen: bool,
    /// `set tcpmaxconn N`: open TCP client connections at most (the daemon lowers it to what
    /// its file-descriptor limit allows).
    pub tcp_max_connections: u64,
    /// `set tcpclientconn N`: open TCP connections per client address at most.
    pub tcp_client_connections: u64,
    /// `set tcpidle N`: seconds without a query before a TCP connection is closed.
    pub tcp_idle: u32,
    /// `set tcpwrite N`: seconds an answer may wait on a client that does not read.
    pub tcp_write_timeout: u32,
    /// `set tcplifetime N`: seconds a TCP connection may last at most.
    pub tcp_lifetime: u32,
    /// `set metrics ADDR:PORT`: where to serve Prometheus metrics (`set metrics off`: nowhere;
    /// `fulcrum run --metrics` overrides it).
    pub metrics: Option<SocketAddr>,
    /// `set upstreamsockets N`: sockets (source ports) per proxy worker and target, one drawn
    /// at random per UDP query; rotated on every reconfiguration.
    pub upstream_sockets: u32,
    /// `set ratetable N`: buckets in each rate-limit table (one per limited server and plane,
    /// [`BUCKET_BYTES`](crate::protect::ratelimit::BUCKET_BYTES) each).
    pub rate_table: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            localdsr: false,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            sync_key: None,
            agent_key: None,
            failopen: false,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            tcp_client_connections: DEFAULT_TCP_CLIENT_CONNECTIONS,
            tcp_idle: DEFAULT_TCP_IDLE,
            tcp_write_timeout: DEFAULT_TCP_WRITE_TIMEOUT,
            tcp_lifetime: DEFAULT_TCP_LIFETIME,
            metrics: None,
            upstream_sockets: DEFAULT_UPSTREAM_SOCKETS,
            rate_table: crate::protect::policy::DEFAULT_RATE_TABLE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub id: u32,
    /// The kernel's name for it (`eth1`).
    pub name: String,
    pub access: InterfaceAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterfaceAccess {
    /// Opened with AF_PACKET: Fulcrum owns layer 2 on it (BalanceNG's `access raw`, its default).
    #[default]
    Raw,
    /// The DSR plane's hot path on AF_XDP sockets fed by an XDP program, `AF_PACKET` for the
    /// rest (`access xdp`); `AF_PACKET` alone where AF_XDP cannot run.
    Xdp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VrrpVersion {
    /// RFC 3768 (the seed's era; the default).
    #[default]
    V2,
    /// RFC 5798 for IPv4.
    V3,
}

/// `announce { interface NAME  server N ... }`: the node announces the VIPs of the servers it can
/// serve as /32 (/128) addresses on its own interface NAME, which a local BIRD's `direct`
/// protocol exports to the routers (see `docs/active-active.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The interface the daemon creates and owns for as long as it runs.
    pub interface: String,
    /// The servers announced, in the order written; empty means every active server.
    pub servers: Vec<u32>,
}

/// The interface `announce` creates when the block names none.
pub const DEFAULT_ANNOUNCE_INTERFACE: &str = "fulcrum-vip";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    pub vrid: u8,
    /// 1..=255; 255 means the address owner.
    pub priority: u8,
    /// The network whose `real` address sends adverts and whose interface carries them.
    pub network: u32,
    pub version: VrrpVersion,
    /// Advertisement interval in milliseconds (v2 allows whole seconds only; v3 centiseconds).
    pub advert_ms: u32,
    pub preempt: bool,
    /// Run on every transition with the new state as its argument.
    pub notify: Option<String>,
    /// Unicast peers (keepalived's `unicast_peer`): when any are given, adverts go to each of
    /// them by unicast instead of 224.0.0.18, and adverts from any other address are refused.
    pub peers: Vec<Ipv4Addr>,
    /// VRRPv2 simple-text authentication (keepalived's `auth_type PASS`), at most 8 bytes.
    /// Interoperability only: the password travels in clear in every advert.
    pub auth_pass: Option<String>,
}

/// Where a network's traffic goes in or out: by interface number or by kernel name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceRef {
    Id(u32),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub id: u32,
    pub name: Option<String>,
    pub addr: Option<Ipv4Addr>,
    pub mask: Option<Ipv4Addr>,
    /// The node's own address on this network (probes, VRRP adverts and ARP leave from it).
    pub real: Option<Ipv4Addr>,
    /// A virtual address on this network owned by the active node.
    pub virt: Option<Ipv4Addr>,
    /// The network's IPv6 prefix (BalanceNG's `addr6`), with `mask6` its length.
    pub addr6: Option<Ipv6Addr>,
    /// Prefix length of `addr6`, 0..=128.
    pub mask6: Option<u8>,
    /// The node's own IPv6 address on this network (`real6`).
    pub real6: Option<Ipv6Addr>,
    /// A virtual IPv6 address on this network owned by the active node (`virt6`).
    pub virt6: Option<Ipv6Addr>,
    pub interface: Option<InterfaceRef>,
    /// Where session-sync datagrams go, every peer (IPv4 or IPv6; `syncpeer A,B,...`).
    pub syncpeers: Vec<IpAddr>,
    pub registered: bool,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub ipaddr: Ipv4Addr,
    pub ping: Option<PingCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    Udp,
    Tcp,
    #[default]
    Any,
}

impl Protocol {
    pub fn udp(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Any)
    }
    pub fn tcp(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Any)
    }
}

fulcrum_wire::counted_enum! {
    /// How a server picks a target for a new client; the names are the configuration keywords.
    #[derive(Default)]
    pub enum Method {
        /// Weighted round robin.
        Rr => "rr",
        /// Weighted random.
        Random => "random",
        /// Maglev consistent hash of the client address.
        Hash => "hash",
        /// First operational target in id order.
        First => "first",
        /// Fewest sessions.
        Least => "least",
        /// Sticky per client address; a new client is placed by `Hash`.
        #[default]
        Session => "session",
        /// Lowest agent value.
        Agent => "agent",
    }
}

impl Method {
    /// The configuration keyword: the method's [`name`](Method::name).
    pub fn keyword(self) -> &'static str {
        self.name()
    }

    pub fn from_keyword(word: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.keyword() == word)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub id: u32,
    /// The virtual address clients query.
    pub ipaddr: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub method: Method,
    /// Target ids in the order written.
    pub targets: Vec<u32>,
    /// Per-server session timeout in seconds; `None` means `set sessiontimeout`.
    pub stout: Option<u32>,
    /// `allow`, `deny`, `ratelimit`, `anylimit`, `rateprefix`, `rateaction`.
    pub protection: crate::protect::Policy,
    pub registered: bool,
    pub enabled: bool,
}

/// `ping INTERVAL,TIMEOUT` (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingCheck {
    pub interval: u32,
    pub timeout: u32,
}

/// `tcpopen PORT,INTERVAL,TIMEOUT` and `agent PORT,INTERVAL,TIMEOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortCheck {
    pub port: u16,
    pub interval: u32,
    pub timeout: u32,
}

/// `dns ZONE,INTERVAL,TIMEOUT`: an authoritative SOA query for ZONE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    pub zone: String,
    pub interval: u32,
    pub timeout: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: u32,
    pub ipaddr: IpAddr,
    /// `None`: the port of the server that uses it.
    pub port: Option<u16>,
    pub protocol: Protocol,
    /// Relative weight for `rr` and `random` (default 1; 0 takes no new clients).
    pub weight: u32,
    pub ping: Option<PingCheck>,
    pub tcpopen: Option<PortCheck>,
    pub agent: Option<PortCheck>,
    pub dns: Option<DnsCheck>,
    /// `dsr enable`: forwarded at layer 2; otherwise proxied.
    pub dsr: bool,
    /// `proxyprotocol enable`: proxied queries and connections start with a PROXY protocol
    /// version 2 header carrying the client's address and the VIP (proxy mode only).
    pub proxy_protocol: bool,
    pub alert: Option<String>,
    pub upalert: Option<String>,
    pub registered: bool,
    pub enabled: bool,
}

impl Target {
    /// A target with every option at its default, as `target N { ipaddr A }` gives.
    pub fn new(id: u32, ipaddr: IpAddr) -> Target {
        Target {
            id,
            ipaddr,
            port: None,
            protocol: Protocol::Any,
            weight: 1,
            ping: None,
            tcpopen: None,
            agent: None,
            dns: None,
            dsr: false,
            proxy_protocol: false,
            alert: None,
            upalert: None,
            registered: false,
            enabled: false,
        }
    }
}

impl Server {
    /// A server with every option at its default, as `server N { ipaddr A }` gives.
    pub fn new(id: u32, ipaddr: IpAddr) -> Server {
        Server {
            id,
            ipaddr,
            port: 53,
            protocol: Protocol::Any,
            method: Method::Session,
            targets: Vec::new(),
            stout: None,
            protection: crate::protect::Policy::default(),
            registered: false,
            enabled: false,
        }
    }
}

impl Network {
    pub fn new(id: u32) -> Network {
        Network {
            id,
            name: None,
            addr: None,
            mask: None,
            real: None,
            virt: None,
            addr6: None,
            mask6: None,
            real6: None,
            virt6: None,
            interface: None,
            syncpeers: Vec::new(),
            registered: false,
            enabled: false,
        }
    }
}

impl Config {
    /// The session timeout that applies to a server, in seconds.
    pub fn server_stout(&self, server: &Server) -> u32 {
        server.stout.unwrap_or(self.settings.session_timeout)
    }

    /// The port a target is reached on for a given server.
    pub fn target_port(&self, server: &Server, target: &Target) -> u16 {
        target.port.unwrap_or(server.port)
    }

    /// The kernel name of the interface a network uses, whether the network names it (`interface
    /// eth1`) or refers to a numbered interface (`interface 1`); `None` if it names none or an
    /// undefined number.
    pub fn network_interface_name<'a>(&'a self, network: &'a Network) -> Option<&'a str> {
        match network.interface.as_ref()? {
            InterfaceRef::Name(name) => Some(name),
            InterfaceRef::Id(id) => self.interfaces.get(id).map(|i| i.name.as_str()),
        }
    }

    /// Servers that are registered and enabled.
    pub fn active_servers(&self) -> impl Iterator<Item = &Server> {
        self.servers.values().filter(|s| s.registered && s.enabled)
    }

    /// Counts for a one-line summary (`fulcrum check`).
    pub fn summary(&self) -> String {
        format!(
            "{} server(s), {} target(s), {} network(s), vrrp {}",
            self.servers.len(),
            self.targets.len(),
            self.networks.len(),
            match &self.vrrp {
                Some(v) => format!("vrid {} priority {}", v.vrid, v.priority),
                None => "off".to_string(),
            }
        )
    }
}
