//! The syntax tree: what a text says, statement by statement, with the position of every part
//! that a later error may point at. Values are already typed and range-checked by the parser
//! (a port is a `u16`, a check's timeout exceeds its interval); whatever needs the whole text or
//! the base configuration (references, duplicates, required fields) is the validator's job.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fulcrum_core::model::{
    DnsCheck, InterfaceAccess, InterfaceRef, Method, PingCheck, PortCheck, Protocol, VrrpVersion,
};

use fulcrum_core::protect::{OverLimit, Prefix, Rate};

use crate::diag::Span;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// One item of an id list: `3` (lo == hi) or `3-5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub lo: u32,
    pub hi: u32,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Register,
    Unregister,
    Enable,
    Disable,
}

impl Action {
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Unregister => "unregister",
            Action::Enable => "enable",
            Action::Disable => "disable",
        }
    }
}

/// The things that have ids and can be registered and enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Network,
    Server,
    Target,
    Interface,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Server => "server",
            Kind::Target => "target",
            Kind::Interface => "interface",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    LocalDsr(bool),
    SessionTimeout(u32),
    MaxSessions(u64),
    SyncKey(String),
    AgentKey(String),
    FailOpen(bool),
    /// A BalanceNG setting Fulcrum has no use for: accepted with a warning.
    Ignored {
        name: &'static str,
        value: String,
    },
    TcpMaxConnections(u64),
    TcpClientConnections(u64),
    TcpIdle(u32),
    TcpWriteTimeout(u32),
    TcpLifetime(u32),
    /// `None`: `set metrics off`.
    Metrics(Option<std::net::SocketAddr>),
    UpstreamSockets(u32),
    RateTable(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceOpt {
    Name(String),
    Access(InterfaceAccess),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VrrpOpt {
    Vrid(u8),
    Priority(u8),
    Network(u32),
    Version(VrrpVersion),
    AdvertMs(u32),
    Preempt(bool),
    Notify(String),
    /// One unicast peer per `peer` line; the only option that may repeat.
    Peer(Ipv4Addr),
    AuthPass(String),
}

/// `announce { interface NAME  server N ... }`; `server` may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnounceOpt {
    Interface(String),
    Server(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkOpt {
    Name(String),
    Addr(Ipv4Addr),
    Mask(Ipv4Addr),
    Real(Ipv4Addr),
    Virt(Ipv4Addr),
    Addr6(Ipv6Addr),
    /// A prefix length, 0..=128.
    Mask6(u8),
    Real6(Ipv6Addr),
    Virt6(Ipv6Addr),
    Interface(InterfaceRef),
    SyncPeer(Vec<IpAddr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayOpt {
    IpAddr(Ipv4Addr),
    Ping(PingCheck),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOpt {
    IpAddr(IpAddr),
    Port(u16),
    Protocol(Protocol),
    Method(Method),
    Targets(Vec<IdRange>),
    Stout(u32),
    /// `allow PREFIX,...` and `deny PREFIX,...`: may repeat; a block naming either gives the
    /// server's whole access list.
    Allow(Vec<Prefix>),
    Deny(Vec<Prefix>),
    /// `None`: `ratelimit off`.
    RateLimit(Option<Rate>),
    AnyLimit(Option<Rate>),
    ByteLimit(Option<Rate>),
    /// `rateprefix V4,V6`.
    RatePrefix(u8, u8),
    RateAction(OverLimit),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOpt {
    IpAddr(IpAddr),
    Port(u16),
    Protocol(Protocol),
    Weight(u32),
    Ping(PingCheck),
    TcpOpen(PortCheck),
    Agent(PortCheck),
    Dns(DnsCheck),
    Dsr(bool),
    ProxyProtocol(bool),
    Alert(String),
    UpAlert(String),
}

/// An option inside a block: its value, the option keyword (for duplicate checks) and where the
/// keyword was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt<T> {
    pub keyword: &'static str,
    pub value: T,
    pub span: Span,
}

/// A statement; `span` is where its keyword was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Hostname(String),
    License {
        serial: String,
        key: String,
    },
    Set(Vec<Opt<Setting>>),
    Modules(Vec<String>),
    /// `module NAME`: adds one module to the list.
    Module(String),
    /// `interface eth1`: takes the next free number.
    InterfaceShort(String),
    Interface {
        id: u32,
        opts: Vec<Opt<InterfaceOpt>>,
    },
    Vrrp(Vec<Opt<VrrpOpt>>),
    Announce(Vec<Opt<AnnounceOpt>>),
    Network {
        id: u32,
        opts: Vec<Opt<NetworkOpt>>,
    },
    Gateway(Vec<Opt<GatewayOpt>>),
    Server {
        id: u32,
        opts: Vec<Opt<ServerOpt>>,
    },
    Target {
        id: u32,
        opts: Vec<Opt<TargetOpt>>,
    },
    State {
        action: Action,
        kind: Kind,
        ids: Vec<IdRange>,
    },
}

pub type Statement = Spanned<Stmt>;
