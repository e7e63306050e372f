//! The PROXY protocol version 2 header a target with `proxyprotocol enable` receives: before
//! every UDP query the worker forwards to it, and once at the start of every TCP connection the
//! proxy opens to it. It carries the client's address and port as source and the address and
//! port the client asked (the VIP) as destination; answers come back without one.
//!
//! Contract: [`Header::new`] encodes into a fixed array on the stack (no allocation per query)
//! and never fails: the header's family is the client's, so a destination of the other family
//! is brought to the client's (an IPv4-mapped IPv6 address either way; the unspecified address
//! of the client's family if it has no such form, which only a dual-stack wildcard listener
//! could produce). [`vip`] is the destination a datagram was sent to: the address the kernel
//! reported for it on a wildcard listener, the server's address otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use fulcrum_wire::proxy_v2::{Repr, Transport, MAX_EMIT_LEN};

/// One encoded header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    bytes: [u8; MAX_EMIT_LEN],
    len: usize,
}

impl Header {
    /// The header for a query or connection of `transport` from `client` to `vip`.
    pub fn new(transport: Transport, client: SocketAddr, vip: SocketAddr) -> Header {
        let source = canonical(client);
        let destination = SocketAddr::new(same_family(vip.ip(), source.ip()), vip.port());
        let repr = Repr::Proxy {
            transport,
            source,
            destination,
            tlvs: &[],
        };
        let mut bytes = [0u8; MAX_EMIT_LEN];
        // Cannot fail: both addresses share a family, no TLVs, and the array holds the longest
        // header; an empty header (which the target refuses) would be the outcome if it did.
        let len = repr.emit(&mut bytes).unwrap_or(0);
        Header { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The destination of a datagram that listener address `server` received, `local` being the
/// address the kernel reported it was sent to (wildcard listeners).
pub fn vip(server: SocketAddr, local: Option<IpAddr>) -> SocketAddr {
    SocketAddr::new(local.unwrap_or(server.ip()), server.port())
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is an IPv4 client.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// `addr` in the family of `like`.
fn same_family(addr: IpAddr, like: IpAddr) -> IpAddr {
    match (addr.to_canonical(), like) {
        (IpAddr::V4(v4), IpAddr::V6(_)) => IpAddr::V6(v4.to_ipv6_mapped()),
        (IpAddr::V6(_), IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (same, _) => same,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn parsed(header: &Header) -> (Transport, SocketAddr, SocketAddr) {
        match Repr::parse(header.as_bytes()) {
            Ok((
                Repr::Proxy {
                    transport,
                    source,
                    destination,
                    tlvs,
                },
                len,
            )) => {
                assert_eq!((len, tlvs.len()), (header.as_bytes().len(), 0));
                (transport, source, destination)
            }
            other => panic!("not a PROXY header: {other:?}"),
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn carries_client_and_vip_in_the_clients_family() {
        let cases = [
            // (transport, client, vip, source in the header, destination in the header)
            (
                Transport::Datagram,
                "192.0.2.7:40000",
                "10.235.210.53:53",
                "192.0.2.7:40000",
                "10.235.210.53:53",
            ),
            (
                Transport::Stream,
                "[2001:db8::7]:40001",
                "[2001:db8::53]:53",
                "[2001:db8::7]:40001",
                "[2001:db8::53]:53",
            ),
            // A dual-stack wildcard listener: an IPv4 client to an IPv4 address, both mapped.
            (
                Transport::Datagram,
                "[::ffff:192.0.2.7]:40002",
                "[::ffff:10.0.0.53]:5353",
                "192.0.2.7:40002",
                "10.0.0.53:5353",
            ),
            (
                Transport::Stream,
                "[2001:db8::7]:40003",
                "10.0.0.53:53",
                "[2001:db8::7]:40003",
                "[::ffff:10.0.0.53]:53",
            ),
            (
                Transport::Datagram,
                "192.0.2.7:40004",
                "[2001:db8::53]:53",
                "192.0.2.7:40004",
                "0.0.0.0:53",
            ),
        ];
        for (transport, client, vip, source, destination) in cases {
            let header = Header::new(transport, addr(client), addr(vip));
            assert_eq!(
                parsed(&header),
                (transport, addr(source), addr(destination)),
                "{client} -> {vip}"
            );
            let expected_len = if addr(source).is_ipv4() { 28 } else { 52 };
            assert_eq!(header.as_bytes().len(), expected_len);
        }
    }

    #[test]
    fn the_vip_is_the_queried_address_on_a_wildcard_listener() {
        let wildcard = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 53);
        let queried = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(vip(wildcard, Some(queried)), SocketAddr::new(queried, 53));
        let bound = addr("10.0.0.53:5353");
        assert_eq!(vip(bound, None), bound);
    }
}
