//! The probes, one async function per check kind, each turning one [`ProbeRequest`] into one
//! [`ProbeResult`]: `ping` (ICMP echo, [`super::ping`]), `tcpopen` (a TCP handshake, closed at
//! once), `agent` ([`fulcrum_agent_client`], with `set agentkey`), `dns` (the SOA check of
//! `fulcrum dns-check`, [`fulcrum_dnsprobe::check_zone`], against the target alone, behind a
//! PROXY protocol `LOCAL` header when the target takes the protocol) and
//! `dsr-path` (a query to the VIP at the target's MAC, [`super::dsr_path`]).
//!
//! Every probe leaves from the `network real` address of the network the target is on, when
//! one is configured and present on this host (otherwise the kernel picks the source). Probes
//! give up after the request's `reply_within`; they never retry (the next interval does).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_core::health::{CheckKind, Probe, ProbeRequest, ProbeResult};
use fulcrum_core::model::Config;
use tokio::net::TcpSocket;

use crate::dsr::Dsr;
use crate::plane::slot::PlaneView;
use fulcrum_agent_client::{query_agent_from, AgentError, CLIENT_DROPS};
use fulcrum_dnsprobe::{check_zone, QueryOptions};

use super::error_text::error_text;

/// What a probe needs beyond its request, read from the configuration when it is sent.
#[derive(Debug, Clone)]
pub struct ProbeContext {
    /// The `network real` address to send from.
    pub source: Option<IpAddr>,
    /// The port DNS queries go to (the target's, else its server's).
    pub dns_port: u16,
    pub agent_key: Option<Arc<[u8]>>,
    /// The zone the `dsr-path` probe asks for: the target's `dns` check zone, else the root.
    pub dsr_path_zone: String,
    /// The DSR plane the `dsr-path` probe goes through.
    pub dsr: PlaneView<Dsr>,
    /// The daemon's count of ICMP messages ping probes ignored ([`super::Health`]'s).
    pub foreign_icmp: Arc<AtomicU64>,
    /// The target takes the PROXY protocol (`proxyprotocol enable`): the `dns` check's
    /// datagrams and stream start with a `LOCAL` header, as dnsdist's health checks do.
    pub proxy_protocol: bool,
}

impl ProbeContext {
    pub fn of(
        config: &Config,
        target: u32,
        addr: IpAddr,
        dsr: &PlaneView<Dsr>,
        foreign_icmp: Arc<AtomicU64>,
    ) -> ProbeContext {
        let dns_port = config
            .targets
            .get(&target)
            .map_or(53, |t| super::target_port(config, t));
        // The agent trims its key file the same way (see docs/agent-protocol.md).
        let agent_key = config
            .settings
            .agent_key
            .as_deref()
            .map(|k| Arc::from(k.trim().as_bytes()));
        let dsr_path_zone = config
            .targets
            .get(&target)
            .and_then(|t| t.dns.as_ref())
            .map_or_else(|| ".".to_string(), |dns| dns.zone.clone());
        let proxy_protocol = config
            .targets
            .get(&target)
            .is_some_and(|t| t.proxy_protocol);
        ProbeContext {
            source: source_for(config, addr),
            proxy_protocol,
            dns_port,
            agent_key,
            dsr_path_zone,
            dsr: dsr.clone(),
            foreign_icmp,
        }
    }
}

/// The `real` address of a registered network that contains `addr`, if this host has it.
fn source_for(config: &Config, addr: IpAddr) -> Option<IpAddr> {
    let IpAddr::V4(addr) = addr else {
        return None;
    };
    config
        .networks
        .values()
        .filter(|n| n.registered)
        .filter(|n| match (n.addr, n.mask) {
            (Some(net), Some(mask)) => in_subnet(addr, net, mask),
            _ => false,
        })
        .filter_map(|n| n.real)
        .find(|real| is_local(*real))
        .map(IpAddr::V4)
}

fn in_subnet(addr: Ipv4Addr, net: Ipv4Addr, mask: Ipv4Addr) -> bool {
    let (a, n, m) = (u32::from(addr), u32::from(net), u32::from(mask));
    a & m == n & m
}

/// Whether the address is on one of this host's interfaces (binding to it succeeds).
fn is_local(addr: Ipv4Addr) -> bool {
    std::net::UdpSocket::bind((addr, 0)).is_ok()
}

/// Carries out one probe.
pub async fn run(request: &ProbeRequest, context: &ProbeContext) -> ProbeResult {
    let started = Instant::now();
    let within = request.reply_within;
    let outcome: Result<(String, Option<u32>), String> = match &request.probe {
        Probe::Ping => match request.addr {
            IpAddr::V4(addr) => {
                let source = match context.source {
                    Some(IpAddr::V4(s)) => Some(s),
                    _ => None,
                };
                super::ping::echo(addr, source, within, &context.foreign_icmp)
                    .await
                    .map(|()| ("echo reply".to_string(), None))
            }
            IpAddr::V6(addr) => {
                let source = match context.source {
                    Some(IpAddr::V6(s)) => Some(s),
                    _ => None,
                };
                super::ping6::echo(addr, 0, source, within, &context.foreign_icmp)
                    .await
                    .map(|()| ("echo reply".to_string(), None))
            }
        },
        Probe::TcpOpen { port } => tcp_open(SocketAddr::new(request.addr, *port), context, within)
            .await
            .map(|()| ("connected".to_string(), None)),
        Probe::Agent { port } => {
            let key = context.agent_key.as_deref();
            let addr = SocketAddr::new(request.addr, *port);
            match query_agent_from(addr, context.source, key, within, &CLIENT_DROPS).await {
                // The scheduler judges the value (0 is down).
                Ok(value) => Ok((String::new(), Some(value))),
                Err(AgentError::Timeout(_)) => Err("no reply".to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Probe::Dns { zone } => {
            let server = SocketAddr::new(request.addr, context.dns_port);
            let options = QueryOptions {
                proxy_local: context.proxy_protocol,
                ..QueryOptions::health_check(within, context.source)
            };
            match check_zone(server, zone, &options).await {
                Ok(soa) => Ok((format!("serial {}", soa.serial), None)),
                Err(failure) => Err(failure.summary()),
            }
        }
        Probe::DsrPath { vip, port } => {
            let zone = &context.dsr_path_zone;
            super::dsr_path::probe(&context.dsr, request.target, *vip, *port, zone, within)
                .await
                .map(|detail| (detail, None))
        }
    };
    let kind: CheckKind = request.probe.kind();
    match outcome {
        Ok((detail, value)) => ProbeResult {
            target: request.target,
            check: kind,
            id: request.id,
            ok: true,
            rtt: Some(started.elapsed()),
            value,
            detail,
        },
        Err(detail) => ProbeResult {
            target: request.target,
            check: kind,
            id: request.id,
            ok: false,
            rtt: None,
            value: None,
            detail,
        },
    }
}

/// A TCP handshake within `within`; the connection is closed at once.
async fn tcp_open(
    addr: SocketAddr,
    context: &ProbeContext,
    within: Duration,
) -> Result<(), String> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(source) = context.source.filter(|s| s.is_ipv4() == addr.is_ipv4()) {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    match tokio::time::timeout(within, socket.connect(addr)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(e)) => Err(error_text(&e)),
        Err(_) => Err("no reply".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_membership() {
        let net = Ipv4Addr::new(10, 235, 210, 0);
        let mask = Ipv4Addr::new(255, 255, 255, 0);
        assert!(in_subnet(Ipv4Addr::new(10, 235, 210, 44), net, mask));
        assert!(!in_subnet(Ipv4Addr::new(10, 235, 211, 44), net, mask));
    }

    #[test]
    fn real_address_used_only_when_local() {
        let text = "network 1 { addr 127.0.0.0 mask 255.0.0.0 real 127.0.0.9 }\n\
                    network 2 { addr 10.235.210.0 mask 255.255.255.0 real 10.235.210.45 }\n\
                    register networks 1,2\n";
        let config = fulcrum_config::parse("t.conf", text).unwrap();
        let local = source_for(&config, "127.0.0.44".parse().unwrap());
        assert_eq!(local, Some("127.0.0.9".parse().unwrap()));
        // 10.235.210.45 is not on this host (the seed's address; never configured here).
        assert_eq!(source_for(&config, "10.235.210.44".parse().unwrap()), None);
        assert_eq!(source_for(&config, "192.0.2.1".parse().unwrap()), None);
    }
}
