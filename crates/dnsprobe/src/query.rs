//! One DNS query to one server, with the retry and timeout rules of the Net::DNS 1.36 resolver
//! that mon's dns.monitor uses, and [`check_zone`], the per-server SOA check shared by
//! `fulcrum dns-check` and the balancer's `dns ZONE,I,T` health check. What counts as a reply
//! is [`crate::answer`]'s rule.
//!
//! UDP: `retry` rounds (0 counts as 1, a negative count sends nothing); each round sends the
//! query and waits `retransmit` seconds (0 counts as 1), doubling every round. A reply counts
//! when it parses, is a response and carries our ID; NOERROR and NXDOMAIN end the query, other
//! codes are kept and the rounds go on. A truncated reply is asked again over TCP. Unlike
//! Net::DNS the socket is connected, so only the server's own address is heard and a refused
//! port ends the round at once instead of waiting it out. TCP: one attempt bounded by `timeout`.
//! `Lookup::errorstring` reproduces the resolver's `errorstring` (the reply's RCODE name,
//! `query timed out`, or the socket error) since the script prints it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use fulcrum_wire::proxy_v2;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

use crate::answer::{accept_reply as accept, encode_query, rcode_name, soa_verdict};
use crate::answer::{CheckFailure, SoaInfo};

/// Used for TCP when no `-timeout` is given: the script passes `undef`, which makes Net::DNS
/// wait forever; a health check must not.
pub const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_secs(120);

/// How to query, with dns.monitor's defaults (`retry 2`, `retransmit 5`, no recursion, UDP).
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// Query over TCP only (`-tcp`).
    pub tcp: bool,
    /// UDP rounds (`-retry`).
    pub retry: i64,
    /// Seconds to wait in the first UDP round (`-retransmit`).
    pub retransmit: i64,
    /// Overrides `retransmit` with a precise first wait (health checks: sub-second timeouts).
    pub udp_wait: Option<Duration>,
    /// Bound on the TCP exchange (`-timeout`; [`DEFAULT_TCP_TIMEOUT`] when `None`).
    pub tcp_timeout: Option<Duration>,
    /// Set RD (the script's caching-only mode does; zone checks do not).
    pub recursion_desired: bool,
    /// The probe's source address (the balancer's `network real` address); any when `None`.
    pub source: Option<IpAddr>,
    /// Start every datagram and the TCP stream with a PROXY protocol v2 `LOCAL` header, as
    /// the balancer's health checks to a `proxyprotocol enable` target do (the specification's
    /// header for a proxy's own health checks: the server uses the connection's addresses).
    pub proxy_local: bool,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            tcp: false,
            retry: 2,
            retransmit: 5,
            udp_wait: None,
            tcp_timeout: None,
            recursion_desired: false,
            source: None,
            proxy_local: false,
        }
    }
}

impl QueryOptions {
    /// Bounded options for a health check: one UDP round of exactly `timeout`, TCP (after a
    /// truncated reply) bounded likewise, sent from `source` when given.
    pub fn health_check(timeout: Duration, source: Option<IpAddr>) -> QueryOptions {
        QueryOptions {
            tcp: false,
            retry: 1,
            retransmit: i64::try_from(timeout.as_secs().max(1)).unwrap_or(i64::MAX),
            udp_wait: Some(timeout),
            tcp_timeout: Some(timeout),
            recursion_desired: false,
            source,
            proxy_local: false,
        }
    }
}

/// What a query produced, as the script sees it through Net::DNS's `query`.
#[derive(Debug)]
pub struct Lookup {
    /// The reply, only when it has at least one answer (Net::DNS `query` returns nothing else).
    pub reply: Option<Message>,
    /// Net::DNS's `errorstring` after the query.
    pub errorstring: String,
    /// Time from the first send to the accepted reply.
    pub rtt: Duration,
}

/// The per-server check of dns.monitor's server loop, without the master comparison: `server`
/// must answer an SOA query for `zone` authoritatively with exactly one answer, an SOA.
pub async fn check_zone(
    server: SocketAddr,
    zone: &str,
    opts: &QueryOptions,
) -> Result<SoaInfo, CheckFailure> {
    let lookup = query(server, zone, RecordType::SOA, opts).await;
    let Some(reply) = lookup.reply else {
        return Err(CheckFailure::NoAnswer {
            errorstring: lookup.errorstring,
        });
    };
    soa_verdict(&reply, lookup.rtt)
}

/// Sends one query as Net::DNS's `query($name, $type)` would (see the module doc).
pub async fn query(
    server: SocketAddr,
    name: &str,
    record_type: RecordType,
    opts: &QueryOptions,
) -> Lookup {
    let started = Instant::now();
    let (id, packet) = match build_query(name, record_type, opts.recursion_desired) {
        Ok(built) => built,
        Err(errorstring) => {
            return Lookup {
                reply: None,
                errorstring,
                rtt: Duration::ZERO,
            }
        }
    };
    let sent = if opts.tcp {
        send_tcp(server, id, &packet, opts).await
    } else {
        match send_udp(server, id, &packet, opts).await {
            Sent {
                reply: Some(reply), ..
            } if reply.truncated() => send_tcp(server, id, &packet, opts).await,
            other => other,
        }
    };
    let rtt = started.elapsed();
    match sent.reply {
        Some(reply) if !reply.answers().is_empty() => Lookup {
            reply: Some(reply),
            errorstring: sent.errorstring,
            rtt,
        },
        _ => Lookup {
            reply: None,
            errorstring: if sent.errorstring.is_empty() {
                "query timed out".into()
            } else {
                sent.errorstring
            },
            rtt,
        },
    }
}

/// Net::DNS `send`: the reply (NOERROR/NXDOMAIN, or the last other one) and `errorstring`.
struct Sent {
    reply: Option<Message>,
    errorstring: String,
}

fn build_query(
    name: &str,
    record_type: RecordType,
    recursion_desired: bool,
) -> Result<(u16, Vec<u8>), String> {
    let mut id_bytes = [0u8; 2];
    getrandom::fill(&mut id_bytes).map_err(|e| format!("no random query ID: {e}"))?;
    let (sent, packet) = encode_query(
        u16::from_be_bytes(id_bytes),
        name,
        record_type,
        recursion_desired,
    )?;
    Ok((sent.id, packet))
}

/// A random query ID and the SOA query for `zone` without recursion, as the `dsr-path` probe
/// sends it.
pub fn soa_probe(zone: &str) -> Result<(crate::answer::Sent, Vec<u8>), String> {
    let mut id_bytes = [0u8; 2];
    getrandom::fill(&mut id_bytes).map_err(|e| format!("no random query ID: {e}"))?;
    encode_query(u16::from_be_bytes(id_bytes), zone, RecordType::SOA, false)
}

/// The PROXY protocol v2 `LOCAL` header (no addresses; 16 bytes).
fn local_header() -> [u8; proxy_v2::FIXED_LEN] {
    let mut header = [0u8; proxy_v2::FIXED_LEN];
    // Cannot fail: no TLVs and the array is exactly a LOCAL header's length.
    let _ = proxy_v2::Repr::Local { tlvs: &[] }.emit(&mut header);
    header
}

/// The text Perl prints for `$!`: the OS message without Rust's "(os error N)".
fn os_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

async fn send_udp(server: SocketAddr, id: u16, packet: &[u8], opts: &QueryOptions) -> Sent {
    let mut sent = Sent {
        reply: None,
        errorstring: String::new(),
    };
    let local = local_addr(server, opts.source);
    let socket = match UdpSocket::bind(local).await {
        Ok(socket) => socket,
        Err(e) => {
            sent.errorstring = os_text(&e);
            return sent;
        }
    };
    if let Err(e) = socket.connect(server).await {
        sent.errorstring = os_text(&e);
        return sent;
    }
    let header = opts.proxy_local.then(local_header);
    let datagram = match &header {
        Some(header) => [header.as_slice(), packet].concat(),
        None => packet.to_vec(),
    };
    let rounds = if opts.retry == 0 { 1 } else { opts.retry };
    let first_wait = if opts.retransmit == 0 {
        1
    } else {
        opts.retransmit.max(0)
    };
    let mut wait = opts
        .udp_wait
        .unwrap_or(Duration::from_secs(u64::try_from(first_wait).unwrap_or(0)));
    let mut buffer = vec![0u8; 65535];
    for _ in 0..rounds.max(0) {
        if let Err(e) = socket.send(&datagram).await {
            sent.errorstring = os_text(&e);
        } else {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let received = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await;
                let length = match received {
                    Err(_elapsed) => break,
                    // A refused port (ICMP) ends this round; Net::DNS would sit it out.
                    Ok(Err(_refused)) => break,
                    Ok(Ok(length)) => length,
                };
                let Some(reply) = accept(&buffer[..length], id) else {
                    continue;
                };
                let rcode = reply.response_code();
                sent.errorstring = rcode_name(rcode);
                if rcode == ResponseCode::NoError || rcode == ResponseCode::NXDomain {
                    sent.reply = Some(reply);
                    return sent;
                }
                sent.reply = Some(reply);
                break;
            }
        }
        wait = wait.saturating_mul(2);
    }
    sent
}

/// Where queries to `server` leave from: `source` (port chosen by the kernel) or any address.
fn local_addr(server: SocketAddr, source: Option<IpAddr>) -> SocketAddr {
    let any = if server.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    SocketAddr::new(source.unwrap_or(any), 0)
}

async fn send_tcp(server: SocketAddr, id: u16, packet: &[u8], opts: &QueryOptions) -> Sent {
    let limit = opts.tcp_timeout.unwrap_or(DEFAULT_TCP_TIMEOUT);
    let local = local_addr(server, opts.source);
    let header = opts.proxy_local.then(local_header);
    let exchange = exchange_tcp(
        local,
        server,
        header.as_ref().map_or(&[][..], |h| h),
        packet,
    );
    match tokio::time::timeout(limit, exchange).await {
        Err(_elapsed) => Sent {
            reply: None,
            errorstring: "query timed out".into(),
        },
        Ok(Err(e)) => Sent {
            reply: None,
            errorstring: os_text(&e),
        },
        Ok(Ok(buffer)) => match accept(&buffer, id) {
            Some(reply) => Sent {
                errorstring: rcode_name(reply.response_code()),
                reply: Some(reply),
            },
            None => Sent {
                reply: None,
                errorstring: "query timed out".into(),
            },
        },
    }
}

/// One query over a fresh connection from `local`, the stream opening with `header` (a PROXY
/// header, or empty).
async fn exchange_tcp(
    local: SocketAddr,
    server: SocketAddr,
    header: &[u8],
    packet: &[u8],
) -> std::io::Result<Vec<u8>> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(local)?;
    let mut stream = socket.connect(server).await?;
    let length = u16::try_from(packet.len())
        .map_err(|_| std::io::Error::other("query longer than 65535 bytes"))?;
    let mut framed = Vec::with_capacity(header.len() + packet.len() + 2);
    framed.extend_from_slice(header);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

#[cfg(test)]
mod tests;
