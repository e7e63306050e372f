//! The `ping` probe: one ICMP echo request, waiting for its echo reply.
//!
//! It uses an unprivileged ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`,
//! allowed when `net.ipv4.ping_group_range` covers our group) and falls back to a raw ICMP
//! socket (root or CAP_NET_RAW), both through socket2's safe API and then driven by tokio as a
//! datagram socket (the kernel's recvfrom/sendto are all we need). A raw socket sees every ICMP
//! message the host receives, and a datagram one may see errors: a reply counts only when it
//! comes from the target, is an echo reply with a valid checksum, and carries our 16 random
//! payload bytes (and, on a raw socket, our identifier). Everything else is ignored and counted
//! in the daemon's counter the caller passes in (`show target`'s foreign ICMP line).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fulcrum_wire::icmp;
use socket2::{Domain, Protocol, Socket, Type};

use super::error_text::error_text;

const TOKEN_LEN: usize = 16;

/// Sends one echo request to `addr` (from `source` when given) and waits up to `within` for
/// its reply; every other ICMP message the socket sees meanwhile is counted in `foreign`.
pub async fn echo(
    addr: Ipv4Addr,
    source: Option<Ipv4Addr>,
    within: Duration,
    foreign: &AtomicU64,
) -> Result<(), String> {
    let (socket, raw) = open()?;
    if let Some(source) = source {
        socket
            .bind(&SocketAddrV4::new(source, 0).into())
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("icmp socket: {e}"))?;
    let std_socket: std::net::UdpSocket = socket.into();
    let socket =
        tokio::net::UdpSocket::from_std(std_socket).map_err(|e| format!("icmp socket: {e}"))?;

    let mut random = [0u8; 4 + TOKEN_LEN];
    getrandom::fill(&mut random).map_err(|e| format!("no random bytes: {e}"))?;
    let ident = u16::from_be_bytes([random[0], random[1]]);
    let seq_no = u16::from_be_bytes([random[2], random[3]]);
    let token = &random[4..];
    let request = icmp::Repr::EchoRequest {
        ident,
        seq_no,
        data: token,
    };
    let mut packet = [0u8; icmp::HEADER_LEN + TOKEN_LEN];
    let length = request
        .emit(&mut packet)
        .map_err(|e| format!("building the echo request: {e}"))?;
    let destination = SocketAddr::V4(SocketAddrV4::new(addr, 0));
    socket
        .send_to(&packet[..length], destination)
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
        match classify(bytes, raw, ident, seq_no, token) {
            Seen::OurReply if from.ip() == addr => return Ok(()),
            // A raw socket sees our own request when the target is a local address.
            Seen::OurRequest => {}
            _ => {
                foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An ICMP datagram socket if allowed, else a raw one; `true` when raw.
fn open() -> Result<(Socket, bool), String> {
    match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(socket) => Ok((socket, false)),
        Err(dgram) => match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
            Ok(socket) => Ok((socket, true)),
            Err(raw) => Err(format!(
                "no ICMP socket: datagram: {dgram}; raw: {raw} (widen net.ipv4.ping_group_range \
                 or give fulcrum CAP_NET_RAW)"
            )),
        },
    }
}

/// What a received ICMP message is to the probe waiting for it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    OurReply,
    OurRequest,
    Other,
}

/// Classifies `bytes` (with the IPv4 header on a raw socket). A datagram socket's identifier
/// is the kernel's, so there only the sequence number and the token count.
fn classify(bytes: &[u8], raw: bool, ident: u16, seq_no: u16, token: &[u8]) -> Seen {
    let ours = |got_ident: u16, got_seq: u16, data: &[u8]| {
        got_seq == seq_no && data == token && (!raw || got_ident == ident)
    };
    let Some(message) = icmp_message(bytes, raw) else {
        return Seen::Other;
    };
    let Ok(packet) = icmp::Packet::new_checked(message) else {
        return Seen::Other;
    };
    match icmp::Repr::parse(&packet) {
        Ok(icmp::Repr::EchoReply {
            ident,
            seq_no,
            data,
        }) if ours(ident, seq_no, data) => Seen::OurReply,
        Ok(icmp::Repr::EchoRequest {
            ident,
            seq_no,
            data,
        }) if ours(ident, seq_no, data) => Seen::OurRequest,
        _ => Seen::Other,
    }
}

/// The ICMP message in `bytes`: past the IPv4 header on a raw socket.
fn icmp_message(bytes: &[u8], raw: bool) -> Option<&[u8]> {
    if !raw {
        return Some(bytes);
    }
    let first = bytes.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    match (first >> 4, bytes.get(9), bytes.get(header_len..)) {
        (4, Some(1), Some(message)) if header_len >= 20 => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
        let mut buffer = vec![0u8; icmp::HEADER_LEN + data.len()];
        icmp::Repr::EchoReply {
            ident,
            seq_no,
            data,
        }
        .emit(&mut buffer)
        .unwrap();
        buffer
    }

    fn with_ipv4_header(message: &[u8]) -> Vec<u8> {
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        packet.extend_from_slice(message);
        packet
    }

    #[test]
    fn only_our_reply_counts() {
        let token = [7u8; TOKEN_LEN];
        let ours = reply(1, 2, &token);
        let raw = with_ipv4_header(&ours);
        let cases: [(&str, &[u8], bool, u16, Seen); 6] = [
            (
                "dgram: the identifier is the kernel's",
                &ours,
                false,
                99,
                Seen::OurReply,
            ),
            ("raw, our identifier", &raw, true, 1, Seen::OurReply),
            ("raw, another identifier", &raw, true, 9, Seen::Other),
            ("raw, empty", &[], true, 1, Seen::Other),
            (
                "raw, header length too short",
                &[0x4f],
                true,
                1,
                Seen::Other,
            ),
            (
                "dgram, not ICMP echo",
                &[3, 3, 0, 0, 0, 0, 0, 0],
                false,
                1,
                Seen::Other,
            ),
        ];
        for (name, bytes, is_raw, ident, expected) in cases {
            assert_eq!(
                classify(bytes, is_raw, ident, 2, &token),
                expected,
                "{name}"
            );
        }
        let other_seq = reply(1, 3, &token);
        assert_eq!(classify(&other_seq, false, 1, 2, &token), Seen::Other);
        let other_token = reply(1, 2, &[8u8; TOKEN_LEN]);
        assert_eq!(classify(&other_token, false, 1, 2, &token), Seen::Other);
        let mut corrupted = ours.clone();
        corrupted[2] ^= 0xff;
        assert_eq!(classify(&corrupted, false, 1, 2, &token), Seen::Other);
        // Our own request, seen on a raw socket when pinging a local address.
        let mut request = vec![0u8; icmp::HEADER_LEN + TOKEN_LEN];
        icmp::Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: &token,
        }
        .emit(&mut request)
        .unwrap();
        let request = with_ipv4_header(&request);
        assert_eq!(classify(&request, true, 1, 2, &token), Seen::OurRequest);
    }

    #[tokio::test]
    async fn loopback_answers() {
        echo(
            Ipv4Addr::LOCALHOST,
            None,
            Duration::from_secs(2),
            &AtomicU64::new(0),
        )
        .await
        .expect("ping 127.0.0.1 (needs root or ping_group_range)");
    }
}
