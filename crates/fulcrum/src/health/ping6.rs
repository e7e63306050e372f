//! The `ping` probe over IPv6: one ICMPv6 echo request (RFC 4443 §4.1), waiting for its echo
//! reply.
//!
//! Like [`super::ping`] (and through the same [`super::echo`]), it takes an unprivileged ICMPv6 datagram socket
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
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use fulcrum_wire::icmpv6;
use socket2::{Domain, Protocol};

use super::echo::{self, Probe, Seen, TOKEN_LEN};

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
    let source = source.map(|s| SocketAddr::V6(SocketAddrV6::new(s, 0, 0, scope_id)));
    let (socket, raw) = echo::open(Domain::IPV6, Protocol::ICMPV6, source, "ICMPv6")?;
    let probe = Probe::random()?;
    let request = icmpv6::Repr::EchoRequest {
        ident: probe.ident,
        seq_no: probe.seq_no,
        data: &probe.token,
    };
    let mut packet = [0u8; icmpv6::HEADER_LEN + TOKEN_LEN];
    // The checksum written here is replaced by the kernel's, over the real source address.
    let length = request
        .emit(&mut packet, Ipv6Addr::UNSPECIFIED, addr)
        .map_err(|e| format!("building the echo request: {e}"))?;
    let destination = SocketAddr::V6(SocketAddrV6::new(addr, 0, 0, scope_id));
    let classify = |message: &[u8]| classify(message, raw, &probe);
    echo::exchange(
        &socket,
        &packet[..length],
        destination,
        within,
        classify,
        foreign,
    )
    .await
}

/// Classifies one delivered ICMPv6 message (its checksum already verified by the kernel).
fn classify(message: &[u8], raw: bool, probe: &Probe) -> Seen {
    let Ok(packet) = icmpv6::Packet::new_checked(message) else {
        return Seen::Other;
    };
    let ours = packet.msg_code() == 0
        && probe.owns(
            raw,
            packet.echo_ident(),
            packet.echo_seq_no(),
            packet.body(),
        );
    match packet.msg_type() {
        icmpv6::TYPE_ECHO_REPLY if ours => Seen::OurReply,
        icmpv6::TYPE_ECHO_REQUEST if ours => Seen::OurRequest,
        _ => Seen::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(ident: u16, seq_no: u16, token: [u8; TOKEN_LEN]) -> Probe {
        Probe {
            ident,
            seq_no,
            token,
        }
    }

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
            assert_eq!(
                classify(&bytes, raw, &probe(1, 2, token)),
                expected,
                "{name}"
            );
        }
        let mut with_code = ours.clone();
        with_code[1] = 1;
        assert_eq!(
            classify(&with_code, false, &probe(1, 2, token)),
            Seen::Other
        );
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
