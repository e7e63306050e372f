//! The immutable forwarding snapshot the data plane reads, built from a [`Config`] by
//! [`build`], and the one way to choose a target ([`ServerEntry::choose`], the core's
//! stick-or-pick rule) that UDP and TCP share.
//!
//! Contract: a snapshot holds only what forwarding needs, per active server (registered and
//! enabled, serving at least one of UDP/TCP): its bound sockets, its method's [`Chooser`] for
//! each protocol, its session timeout and its proxied targets (those with `dsr` off; DSR
//! targets belong to the layer-2 data plane). A target takes new clients only if registered,
//! enabled, operational (health checks) and serving the protocol; a client's existing session
//! is honoured while its target is registered, operational and serving the protocol, so
//! `disable target N` drains it gently (no new clients, the present ones stay until idle).
//! With `set failopen 1`, a server none of whose targets is operational for a protocol
//! forwards to all its registered, enabled targets serving it, health ignored
//! ([`fail_open`]), and honours its clients' sessions on them, until one is operational again.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;

use fulcrum_core::balance::{fail_open, stick_or_pick, Candidate, Chooser, Pick, Rule};
use fulcrum_core::model::{Config, Method, Protocol, Server};

use crate::plane::counters::CounterSet;
use crate::plane::sessions::Sessions;
use crate::plane::targets::{candidate, configured, operational_of};
pub use crate::plane::Transport;

/// One proxied target of one server.
pub struct ServerTarget {
    pub id: u32,
    /// Address and port queries go to (the target's port, or the server's).
    pub addr: SocketAddr,
    /// Index into [`Snapshot::upstreams`].
    pub upstream: usize,
    pub counters: Arc<CounterSet>,
    /// `proxyprotocol enable`: what is sent to it starts with a PROXY v2 header.
    pub proxy_protocol: bool,
    /// May keep the clients it has, per transport (registered, operational, protocol).
    sticky: [bool; 2],
}

pub struct ServerEntry {
    pub id: u32,
    pub addr: SocketAddr,
    pub protocol: Protocol,
    pub method: Method,
    /// Session timeout in seconds.
    pub stout: u32,
    /// Per transport: the chooser for new clients.
    choosers: [Chooser; 2],
    /// Per transport: no target is operational and `set failopen 1` forwards to all of them.
    pub fail_open: [bool; 2],
    pub targets: Vec<ServerTarget>,
    pub counters: Arc<CounterSet>,
    /// One `SO_REUSEPORT` socket per UDP worker (empty when the server does not serve UDP).
    pub udp: Vec<Arc<UdpSocket>>,
    /// Ask the kernel for each datagram's local address (the server listens on a wildcard).
    pub wants_pktinfo: bool,
    pub tcp: Option<Arc<TcpListener>>,
    /// The server's access list and rate limits (`None`: it has none); set by the plane.
    pub guard: Option<Arc<crate::plane::protect::ServerGuard>>,
}

impl ServerEntry {
    fn index_of(&self, id: u32) -> Option<usize> {
        self.targets.iter().position(|t| t.id == id)
    }

    /// The index in `targets` of the target for a query from `client` at `now` (the session
    /// table's clock): the core's stick-or-pick rule with `method session` as the only sticky
    /// method. `None`: no target can take it.
    pub fn choose(
        &self,
        client: IpAddr,
        transport: Transport,
        now: u32,
        sessions: &Sessions,
        pick: &mut Pick,
    ) -> Option<usize> {
        let t = transport as usize;
        let rule = Rule {
            server: self.id,
            chooser: &self.choosers[t],
            sticky: self.method == Method::Session,
            fail_open: self.fail_open[t],
            timeout: self.stout,
        };
        let may_keep = |id: u32| self.index_of(id).is_some_and(|i| self.targets[i].sticky[t]);
        let id = stick_or_pick(&rule, client, now, may_keep, sessions, pick)?;
        self.index_of(id)
    }

    /// The chooser for new clients over `transport` (for moving sessions off a failed target).
    pub fn chooser(&self, transport: Transport) -> &Chooser {
        &self.choosers[transport as usize]
    }
}

/// Everything the data plane forwards by, swapped whole on each change.
pub struct Snapshot {
    /// The session table (replaced only when `set maxsessions` changes).
    pub sessions: Arc<Sessions>,
    pub servers: Vec<ServerEntry>,
    /// Distinct target addresses; each UDP worker keeps a pool of connected sockets per entry.
    pub upstreams: Vec<Upstream>,
    /// Per-query timeout for UDP, milliseconds.
    pub udp_timeout_ms: u64,
    /// Sockets in each worker's pool per target (`set upstreamsockets`).
    pub upstream_sockets: usize,
}

impl Snapshot {
    /// Nothing to forward.
    pub fn empty(sessions: Arc<Sessions>, udp_timeout_ms: u64) -> Snapshot {
        Snapshot {
            sessions,
            servers: Vec::new(),
            upstreams: Vec::new(),
            udp_timeout_ms,
            upstream_sockets: 1,
        }
    }

    pub fn server(&self, id: u32) -> Option<&ServerEntry> {
        self.servers.iter().find(|s| s.id == id)
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub counters: Arc<CounterSet>,
}

/// Inputs to [`build`] that are not in the configuration.
pub struct BuildContext<'a> {
    pub config: &'a Config,
    /// Health state by target id (absent: operational).
    pub operational: &'a HashMap<u32, bool>,
    /// The last non-zero value each target's agent reported (`method agent`).
    pub agent_values: &'a HashMap<u32, u32>,
    pub previous: &'a Snapshot,
    pub sessions: Arc<Sessions>,
    pub workers: usize,
    pub udp_timeout_ms: u64,
    /// Counter sets by id, kept across snapshots so counters survive reconfiguration.
    pub server_counters: &'a mut HashMap<u32, Arc<CounterSet>>,
    pub target_counters: &'a mut HashMap<u32, Arc<CounterSet>>,
    pub counter_writers: usize,
}

/// Builds the snapshot for `ctx.config`, reusing the previous snapshot's sockets for servers
/// whose address and protocol are unchanged, binding the rest. Returns one message per server
/// that could not be bound (it is left out; everything else is applied).
pub fn build(ctx: BuildContext<'_>) -> (Snapshot, Vec<String>) {
    let BuildContext {
        config,
        operational,
        agent_values,
        previous,
        sessions,
        workers,
        udp_timeout_ms,
        server_counters,
        target_counters,
        counter_writers,
    } = ctx;
    let mut problems = Vec::new();
    let mut snapshot = Snapshot::empty(sessions, udp_timeout_ms);
    snapshot.upstream_sockets = config.settings.upstream_sockets.max(1) as usize;
    let mut upstream_index: HashMap<SocketAddr, usize> = HashMap::new();
    for server in config.active_servers() {
        if !server.protocol.udp() && !server.protocol.tcp() {
            continue;
        }
        let targets = server_targets(
            config,
            server,
            operational,
            target_counters,
            counter_writers,
        );
        // A server whose every target is DSR is the layer-2 plane's alone.
        if targets.is_empty() {
            continue;
        }
        let addr = SocketAddr::new(server.ipaddr, server.port);
        let old = previous
            .servers
            .iter()
            .find(|s| s.addr == addr && s.protocol == server.protocol);
        let (udp, tcp) = match old {
            Some(old) if old.udp.len() == workers || !server.protocol.udp() => {
                (old.udp.clone(), old.tcp.clone())
            }
            _ => match bind_server(addr, server.protocol, workers) {
                Ok(bound) => bound,
                Err(message) => {
                    problems.push(format!("server {}: {message}", server.id));
                    continue;
                }
            },
        };
        let mut entry_targets = Vec::new();
        for built in targets {
            let upstream = *upstream_index.entry(built.addr).or_insert_with(|| {
                snapshot.upstreams.push(Upstream {
                    addr: built.addr,
                    counters: built.counters.clone(),
                });
                snapshot.upstreams.len() - 1
            });
            entry_targets.push(ServerTarget { upstream, ..built });
        }
        let mut fail_open_on = [false; 2];
        let choosers = [Transport::Udp, Transport::Tcp].map(|transport| {
            let mut candidates: Vec<Candidate> = entry_targets
                .iter()
                .map(|t| candidate(config, t.id, transport, true, operational, agent_values))
                .collect();
            if config.settings.failopen {
                let usable = |id| configured(config, id, transport);
                fail_open_on[transport as usize] = fail_open(&mut candidates, usable);
            }
            Chooser::new(server.method, candidates)
        });
        snapshot.servers.push(ServerEntry {
            id: server.id,
            addr,
            protocol: server.protocol,
            method: server.method,
            stout: config.server_stout(server),
            choosers,
            fail_open: fail_open_on,
            targets: entry_targets,
            counters: server_counters
                .entry(server.id)
                .or_insert_with(|| Arc::new(CounterSet::new(counter_writers)))
                .clone(),
            udp,
            wants_pktinfo: server.ipaddr.is_unspecified(),
            tcp,
            guard: None,
        });
    }
    (snapshot, problems)
}

/// The server's proxied targets in the order written (upstream index not yet assigned).
fn server_targets(
    config: &Config,
    server: &Server,
    operational: &HashMap<u32, bool>,
    target_counters: &mut HashMap<u32, Arc<CounterSet>>,
    counter_writers: usize,
) -> Vec<ServerTarget> {
    server
        .targets
        .iter()
        .filter_map(|id| config.targets.get(id))
        .filter(|t| !t.dsr)
        .map(|t| {
            let keeps = t.registered && operational_of(operational, t.id);
            ServerTarget {
                id: t.id,
                addr: SocketAddr::new(t.ipaddr, config.target_port(server, t)),
                upstream: 0,
                counters: target_counters
                    .entry(t.id)
                    .or_insert_with(|| Arc::new(CounterSet::new(counter_writers)))
                    .clone(),
                proxy_protocol: t.proxy_protocol,
                sticky: [keeps && t.protocol.udp(), keeps && t.protocol.tcp()],
            }
        })
        .collect()
}

type Bound = (Vec<Arc<UdpSocket>>, Option<Arc<TcpListener>>);

fn bind_server(addr: SocketAddr, protocol: Protocol, workers: usize) -> Result<Bound, String> {
    let mut udp = Vec::new();
    if protocol.udp() {
        let options = fulcrum_sys::UdpOptions {
            reuseport: true,
            pktinfo: addr.ip().is_unspecified(),
            freebind: true,
            buffer_bytes: 4 << 20,
        };
        for _ in 0..workers {
            let socket = fulcrum_sys::bind_udp(addr, options)
                .map_err(|e| format!("cannot bind udp {addr}: {e}"))?;
            udp.push(Arc::new(socket));
        }
    }
    let tcp = if protocol.tcp() {
        // SO_REUSEPORT so a rebind succeeds while an older snapshot still holds the old socket.
        let listener = fulcrum_sys::bind_tcp_listener(addr, true, true, 1024)
            .map_err(|e| format!("cannot bind tcp {addr}: {e}"))?;
        Some(Arc::new(listener))
    } else {
        None
    };
    Ok((udp, tcp))
}

#[cfg(test)]
pub(crate) mod tests;
