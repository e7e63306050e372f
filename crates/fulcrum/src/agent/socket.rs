//! The agent's UDP socket. Bound to every address (the default), it learns each request's
//! destination (`IP_PKTINFO`) and sends the reply from that very address: the balancer accepts a
//! reply only from the address it asked, and the kernel's own choice of source differs when the
//! balancer runs on the same host and asks from another local address (a node that is its own
//! target, probing from the network's `real` address).

use std::io;
use std::net::{IpAddr, SocketAddr};

use fulcrum_sys::{bind_udp, RecvBatch, SendBatch, UdpOptions};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Binds `addr`, asking for each datagram's destination when `addr` is a wildcard.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let options = UdpOptions {
        pktinfo: addr.ip().is_unspecified(),
        ..UdpOptions::default()
    };
    UdpSocket::from_std(bind_udp(addr, options)?)
}

/// Room for one request (bigger than any valid one, so an oversized one parses as malformed).
pub fn receive_batch() -> RecvBatch {
    RecvBatch::new(1, 2048)
}

/// One datagram: its length in `buf`, its sender, and the local address it was sent to (when
/// the socket asked for it).
pub async fn recv(
    socket: &UdpSocket,
    batch: &mut RecvBatch,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    loop {
        socket.readable().await?;
        let received = socket.try_io(Interest::READABLE, || match batch.recv(socket)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        });
        match received {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        let Some(datagram) = batch.get(0) else {
            continue;
        };
        // A sender of another address family cannot be answered.
        let Some(from) = datagram.source else {
            continue;
        };
        let len = datagram.data.len().min(buf.len());
        buf[..len].copy_from_slice(&datagram.data[..len]);
        return Ok((len, from, datagram.local));
    }
}

/// The source a reply should leave from: the request's destination, when it is one of this
/// host's unicast addresses (a broadcast or multicast destination cannot be a source).
pub fn reply_source(local: Option<IpAddr>) -> Option<IpAddr> {
    local.filter(|ip| match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    })
}

/// Sends `payload` to `to`, from `from` when given.
pub async fn send(
    socket: &UdpSocket,
    payload: &[u8],
    to: SocketAddr,
    from: Option<IpAddr>,
) -> io::Result<()> {
    let mut batch = SendBatch::new(1, payload.len().max(1));
    if batch.push(payload, Some(to), from).is_none() {
        return Err(io::Error::other("reply larger than its buffer"));
    }
    socket.writable().await?;
    match batch.flush(socket) {
        1 => Ok(()),
        _ => Err(io::Error::other("the kernel did not take the reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn replies_leave_from_a_unicast_destination_only() {
        let v4 = |a, b, c, d| Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        assert_eq!(reply_source(v4(10, 235, 210, 43)), v4(10, 235, 210, 43));
        assert_eq!(reply_source(v4(255, 255, 255, 255)), None);
        assert_eq!(reply_source(v4(224, 0, 0, 18)), None);
        assert_eq!(reply_source(v4(0, 0, 0, 0)), None);
        assert_eq!(
            reply_source(Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(reply_source(None), None);
    }
}
