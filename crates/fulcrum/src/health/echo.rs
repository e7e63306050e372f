//! What the ICMP and ICMPv6 `ping` probes share: the socket (an unprivileged datagram socket
//! where `net.ipv4.ping_group_range` allows it, else a raw one), the random identifier, sequence
//! number and token of one probe, and the wait for its reply. Each family says how to build its
//! request and how to read what arrives ([`super::ping`], [`super::ping6`]).
//!
//! Contract: [`exchange`] sends one request and waits until the deadline for a message the
//! family's classifier calls our reply from the target's address; our own request seen on a
//! raw socket (a local target) is skipped, everything else is counted in the daemon's foreign
//! ICMP counter and ignored. The kernel's recvfrom/sendto on a socket2 socket driven by tokio
//! are all it needs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::error_text::error_text;

/// Random payload bytes a reply must carry back.
pub const TOKEN_LEN: usize = 16;

/// One probe's random identity.
pub struct Probe {
    pub ident: u16,
    pub seq_no: u16,
    pub token: [u8; TOKEN_LEN],
}

impl Probe {
    pub fn random() -> Result<Probe, String> {
        let mut random = [0u8; 4 + TOKEN_LEN];
        getrandom::fill(&mut random).map_err(|e| format!("no random bytes: {e}"))?;
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(&random[4..]);
        Ok(Probe {
            ident: u16::from_be_bytes([random[0], random[1]]),
            seq_no: u16::from_be_bytes([random[2], random[3]]),
            token,
        })
    }

    /// Whether an echo's fields are this probe's. A datagram socket's identifier is the
    /// kernel's, so there only the sequence number and the token count.
    pub fn owns(&self, raw: bool, ident: u16, seq_no: u16, data: &[u8]) -> bool {
        seq_no == self.seq_no && data == self.token && (!raw || ident == self.ident)
    }
}

/// What a received message is to the probe waiting for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    OurReply,
    OurRequest,
    Other,
}

/// The family's ICMP socket: a datagram one if allowed, else raw (`true`), bound to `source`
/// when given, non-blocking under tokio. `name` is the protocol as messages call it.
pub fn open(
    domain: Domain,
    protocol: Protocol,
    source: Option<SocketAddr>,
    name: &str,
) -> Result<(tokio::net::UdpSocket, bool), String> {
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(socket) => (socket, false),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(socket) => (socket, true),
            Err(raw) => {
                return Err(format!(
                    "no {name} socket: datagram: {dgram}; raw: {raw} (widen \
                     net.ipv4.ping_group_range or give fulcrum CAP_NET_RAW)"
                ))
            }
        },
    };
    if let Some(source) = source {
        socket
            .bind(&source.into())
            .map_err(|e| format!("bind {}: {e}", source.ip()))?;
    }
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("{name} socket: {e}"))?;
    let std_socket: std::net::UdpSocket = socket.into();
    let socket =
        tokio::net::UdpSocket::from_std(std_socket).map_err(|e| format!("{name} socket: {e}"))?;
    Ok((socket, raw))
}

/// Sends `request` to `destination` and waits up to `within` for the message `classify` calls
/// our reply, from the destination's address; see the module doc.
pub async fn exchange(
    socket: &tokio::net::UdpSocket,
    request: &[u8],
    destination: SocketAddr,
    within: Duration,
    classify: impl Fn(&[u8]) -> Seen,
    foreign: &AtomicU64,
) -> Result<(), String> {
    socket
        .send_to(request, destination)
        .await
        .map_err(|e| error_text(&e))?;
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 1500];
    loop {
        let (received, from) =
            match tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await {
                Err(_elapsed) => return Err("no reply".to_string()),
                Ok(Err(e)) => return Err(error_text(&e)),
                Ok(Ok(received)) => received,
            };
        let Some(bytes) = buffer.get(..received) else {
            continue;
        };
        match classify(bytes) {
            Seen::OurReply if from.ip() == destination.ip() => return Ok(()),
            // A raw socket sees our own request when the target is a local address.
            Seen::OurRequest => {}
            _ => {
                foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
