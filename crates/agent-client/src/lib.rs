//! The balancer's side of the agent protocol: [`query_agent`] sends one request with a fresh
//! random nonce and waits for the reply that echoes it. Anything else that arrives in the
//! meantime (from another address, longer than the request, malformed, unauthenticated, or with
//! another nonce) is counted in [`ClientDrops`] and ignored; the wait goes on until the timeout.
//! The value returned is the agent's: 0 means "down" and the caller treats it so.
//!
//! A crate of its own rather than a module of the daemon because the agent's integration tests
//! query agents with this very client; the packets are `fulcrum_wire::agent`, this is only the
//! socket and the wait.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

use fulcrum_wire::agent::{Repr, NONCE_LEN};

/// Replies the client ignored, by reason.
#[derive(Debug, Default)]
pub struct ClientDrops {
    pub wrong_source: AtomicU64,
    pub oversized: AtomicU64,
    pub malformed: AtomicU64,
    pub unauthenticated: AtomicU64,
    pub wrong_nonce: AtomicU64,
}

impl ClientDrops {
    pub const fn new() -> ClientDrops {
        ClientDrops {
            wrong_source: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            unauthenticated: AtomicU64::new(0),
            wrong_nonce: AtomicU64::new(0),
        }
    }

    /// `(wrong_source, oversized, malformed, unauthenticated, wrong_nonce)`.
    pub fn snapshot(&self) -> [u64; 5] {
        [
            self.wrong_source.load(Ordering::Relaxed),
            self.oversized.load(Ordering::Relaxed),
            self.malformed.load(Ordering::Relaxed),
            self.unauthenticated.load(Ordering::Relaxed),
            self.wrong_nonce.load(Ordering::Relaxed),
        ]
    }
}

/// The process-wide counters [`query_agent`] uses.
pub static CLIENT_DROPS: ClientDrops = ClientDrops::new();

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("no random nonce: {0}")]
    Random(String),
    #[error("no valid reply within {0:?}")]
    Timeout(Duration),
}

/// Asks the agent at `addr` for its value. See the module doc.
pub async fn query_agent(
    addr: SocketAddr,
    key: Option<&[u8]>,
    timeout: Duration,
) -> Result<u32, AgentError> {
    query_agent_from(addr, None, key, timeout, &CLIENT_DROPS).await
}

/// [`query_agent`] with the probe's source address (the `network real` address) and counters.
pub async fn query_agent_from(
    addr: SocketAddr,
    source: Option<IpAddr>,
    key: Option<&[u8]>,
    timeout: Duration,
    drops: &ClientDrops,
) -> Result<u32, AgentError> {
    let local_ip = source.unwrap_or(if addr.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let socket = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| AgentError::Random(e.to_string()))?;
    let request = Repr::Request { nonce }.emit(key);
    socket.send_to(&request, addr).await?;

    let deadline = tokio::time::Instant::now() + timeout;
    // Larger than any valid reply, so that oversized ones are seen as such.
    let mut buffer = [0u8; 2048];
    loop {
        let (length, from) =
            match tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await {
                Err(_elapsed) => return Err(AgentError::Timeout(timeout)),
                Ok(received) => received?,
            };
        if from != addr {
            drops.wrong_source.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if length > request.len() {
            drops.oversized.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match Repr::parse_bytes(&buffer[..length], key) {
            Ok(Repr::Reply {
                nonce: echoed,
                value,
            }) if echoed == nonce => return Ok(value),
            Ok(Repr::Reply { .. }) => {
                drops.wrong_nonce.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Repr::Request { .. }) => {
                drops.malformed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if e.is_unauthenticated() => {
                drops.unauthenticated.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                drops.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
