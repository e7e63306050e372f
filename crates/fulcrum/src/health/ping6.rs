//! The `ping` probe over IPv6: one ICMPv6 echo request (RFC 4443 §4.1), waiting for its echo
//! reply.
//!
//! Like [`super::ping`], it takes an unprivileged ICMPv6 datagram socket
//! (`socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)`, allowed when `net.ipv4.ping_group_range`
//! covers our group: the one setting serves both families) and falls back to a raw ICMPv6 socket
//! (root or CAP_NET_RAW). Unlike IPv4, both kinds deliver the ICMPv6 message without the IP
//! header, and for ICMPv6 the kernel always computes the checksum of what we send and verifies
//! the checksum of what it delivers (RFC 3542 §3.1), so the request is built with the
//! unspecified source address and received messages are read field by field. A reply counts
//! only when it comes from the target, is an echo reply and carries our sequence number and 16
//! random payload bytes (and, on a raw socket, our identifier: a datagram socket's is the
//! kernel's). Everything else — on a raw socket every ICMPv6 message the host receives,
//! neighbour discovery included — is ignored and counted in the daemon's counter the caller
//! passes in, as for IPv4.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fulcrum_wire::icmpv6;
use socket2::{Domain, Protocol, Socket, Type};

use super::error_text::error_text;

const TOKEN_LEN: usize = 16;

/// Sends one echo request to `addr` (from `source` when given) and waits up to `within` for
/// its reply (every other ICMPv6 message the socket sees meanwhile is counted in `foreign`). A
/// link-local target needs `scope_id`, the interface index it is reached on.
pub async fn echo(
    addr: Ipv6Addr,
    scope_id: u32,
    source: Option<Ipv6Addr>,
    within: Duration,
    foreign: &AtomicU64,
) -> Result<(), String> {
    let (socket, raw) = open()?;
    if let Some(source) = source {
        socket
            .bind(&SocketAddrV6::new(source, 0, 0, scope_id).into())
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("icmpv6 socket: {e}"))?;
    let std_socket: std::net::UdpSocket = socket.into();
    let socket =
        tokio::net::UdpSocket::from_std(std_socket).map_err(|e| format!("icmpv6 socket: {e}"))?;

    let mut random = [0u8; 4 + TOKEN_LEN];
    getrandom::fill(&mut random).map_err(|e| format!("no random bytes: {e}"))?;
    let ident = u16::from_be_bytes([random[0], random[1]]);
    let seq_no = u16::from_be_bytes([random[2], random[3]]);
    let token = &random[4..];
    let request = icmpv6::Repr::EchoRequest {
        ident,
        seq_no,
        data: token,
    };
    let mut packet = [0u8; icmpv6::HEADER_LEN + TOKEN_LEN];
    // The checksum written here is replaced by the kernel's, over the real source address.
    let length = request
        .emit(&mut packet, Ipv6Addr::UNSPECIFIED, addr)
        .map_err(|e| format!("building the echo request: {e}"))?;
    let destination = SocketAddr::V6(SocketAddrV6::new(addr, 0, 0, scope_id));
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

/// An ICMPv6 datagram socket if allowed, else a raw one; `true` when raw.
fn open() -> Result<(Socket, bool), String> {
    match Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::ICMPV6)) {
        Ok(socket) => Ok((socket, false)),
        Err(dgram) => match Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)) {
            Ok(socket) => Ok((socket, true)),
            Err(raw) => Err(format!(
                "no ICMPv6 socket: datagram: {dgram}; raw: {raw} (widen net.ipv4.ping_group_range \
                 or give fulcrum CAP_NET_RAW)"
            )),
        },
    }
}

/// What a received ICMPv6 message is to the probe waiting for it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    OurReply,
    OurRequest,
    Other,
}

/// Classifies one delivered ICMPv6 message (its checksum already verified by the kernel).
fn classify(message: &[u8], raw: bool, ident: u16, seq_no: u16, token: &[u8]) -> Seen {
    let Ok(packet) = icmpv6::Packet::new_checked(message) else {
        return Seen::Other;
    };
    let ours = packet.msg_code() == 0
        && packet.echo_seq_no() == seq_no
        && packet.body() == token
        && (!raw || packet.echo_ident() == ident);
    match packet.msg_type() {
        icmpv6::TYPE_ECHO_REPLY if ours => Seen::OurReply,
        icmpv6::TYPE_ECHO_REQUEST if ours => Seen::OurRequest,
        _ => Seen::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(
        kind: fn(u16, u16, &[u8]) -> icmpv6::Repr<'_>,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> Vec<u8> {
        let mut buffer = vec![0u8; icmpv6::HEADER_LEN + data.len()];
        kind(ident, seq, data)
            .emit(&mut buffer, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST)
            .unwrap();
        buffer
    }

    fn reply(ident: u16, seq_no: u16, data: &[u8]) -> icmpv6::Repr<'_> {
        icmpv6::Repr::EchoReply {
            ident,
            seq_no,
            data,
        }
    }

    fn request(ident: u16, seq_no: u16, data: &[u8]) -> icmpv6::Repr<'_> {
        icmpv6::Repr::EchoRequest {
            ident,
            seq_no,
            data,
        }
    }

    #[test]
    fn only_our_reply_counts() {
        let token = [7u8; TOKEN_LEN];
        let ours = message(reply, 1, 2, &token);
        let cases: [(&str, Vec<u8>, bool, Seen); 9] = [
            (
                "dgram: the identifier is the kernel's",
                ours.clone(),
                false,
                Seen::OurReply,
            ),
            ("raw, our identifier", ours.clone(), true, Seen::OurReply),
            (
                "raw, another identifier",
                message(reply, 9, 2, &token),
                true,
                Seen::Other,
            ),
            (
                "another sequence number",
                message(reply, 1, 3, &token),
                false,
                Seen::Other,
            ),
            (
                "another token",
                message(reply, 1, 2, &[8u8; TOKEN_LEN]),
                false,
                Seen::Other,
            ),
            (
                "our request, looped back",
                message(request, 1, 2, &token),
                true,
                Seen::OurRequest,
            ),
            ("empty", Vec::new(), true, Seen::Other),
            (
                "short of the header",
                ours[..7].to_vec(),
                false,
                Seen::Other,
            ),
            // A neighbour solicitation: what a raw socket sees most.
            (
                "not an echo",
                vec![135, 0, 0, 0, 0, 0, 0, 0],
                true,
                Seen::Other,
            ),
        ];
        for (name, bytes, raw, expected) in cases {
            assert_eq!(classify(&bytes, raw, 1, 2, &token), expected, "{name}");
        }
        let mut with_code = ours.clone();
        with_code[1] = 1;
        assert_eq!(classify(&with_code, false, 1, 2, &token), Seen::Other);
    }

    #[tokio::test]
    async fn loopback_answers() {
        echo(
            Ipv6Addr::LOCALHOST,
            0,
            None,
            Duration::from_secs(2),
            &AtomicU64::new(0),
        )
        .await
        .expect("ping ::1 (needs root or ping_group_range)");
    }
}
