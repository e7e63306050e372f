//! The `ping` probe: one ICMP echo request, waiting for its echo reply.
//!
//! It uses an unprivileged ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`,
//! allowed when `net.ipv4.ping_group_range` covers our group) and falls back to a raw ICMP
//! socket (root or CAP_NET_RAW); the socket and the wait are [`super::echo`]'s. A raw socket sees every ICMP
//! message the host receives, and a datagram one may see errors: a reply counts only when it
//! comes from the target, is an echo reply with a valid checksum, and carries our 16 random
//! payload bytes (and, on a raw socket, our identifier). Everything else is ignored and counted
//! in the daemon's counter the caller passes in (`show target`'s foreign ICMP line).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use fulcrum_wire::icmp;
use socket2::{Domain, Protocol};

use super::echo::{self, Probe, Seen, TOKEN_LEN};

/// Sends one echo request to `addr` (from `source` when given) and waits up to `within` for
/// its reply; every other ICMP message the socket sees meanwhile is counted in `foreign`.
pub async fn echo(
    addr: Ipv4Addr,
    source: Option<Ipv4Addr>,
    within: Duration,
    foreign: &AtomicU64,
) -> Result<(), String> {
    let source = source.map(|s| SocketAddr::V4(SocketAddrV4::new(s, 0)));
    let (socket, raw) = echo::open(Domain::IPV4, Protocol::ICMPV4, source, "ICMP")?;
    let probe = Probe::random()?;
    let request = icmp::Repr::EchoRequest {
        ident: probe.ident,
        seq_no: probe.seq_no,
        data: &probe.token,
    };
    let mut packet = [0u8; icmp::HEADER_LEN + TOKEN_LEN];
    let length = request
        .emit(&mut packet)
        .map_err(|e| format!("building the echo request: {e}"))?;
    let destination = SocketAddr::V4(SocketAddrV4::new(addr, 0));
    let classify = |bytes: &[u8]| classify(bytes, raw, &probe);
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

/// Classifies `bytes` (with the IPv4 header on a raw socket).
fn classify(bytes: &[u8], raw: bool, probe: &Probe) -> Seen {
    let ours = |ident: u16, seq_no: u16, data: &[u8]| probe.owns(raw, ident, seq_no, data);
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

    fn probe(ident: u16, seq_no: u16, token: [u8; TOKEN_LEN]) -> Probe {
        Probe {
            ident,
            seq_no,
            token,
        }
    }

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
                classify(bytes, is_raw, &probe(ident, 2, token)),
                expected,
                "{name}"
            );
        }
        let other_seq = reply(1, 3, &token);
        assert_eq!(
            classify(&other_seq, false, &probe(1, 2, token)),
            Seen::Other
        );
        let other_token = reply(1, 2, &[8u8; TOKEN_LEN]);
        assert_eq!(
            classify(&other_token, false, &probe(1, 2, token)),
            Seen::Other
        );
        let mut corrupted = ours.clone();
        corrupted[2] ^= 0xff;
        assert_eq!(
            classify(&corrupted, false, &probe(1, 2, token)),
            Seen::Other
        );
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
        assert_eq!(
            classify(&request, true, &probe(1, 2, token)),
            Seen::OurRequest
        );
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
