//! The kernel transport: one UDP socket bound to `real`:10439, for hosts whose kernel holds the
//! network's `real` address, and a second one bound to `real6`:10439 when a `syncpeer` is IPv6.
//! Receiving waits with a read timeout on the IPv4 socket and reads the IPv6 one without
//! waiting before and after (the driver turns every few ms); a zero wait reads without
//! blocking, so a burst is drained with one wait.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::time::Duration;

use fulcrum_core::sync::PORT;

use super::{Kind, Transport};

pub struct KernelUdp {
    socket: UdpSocket,
    nonblocking: bool,
    /// Bound to `real6`, non-blocking (only with an IPv6 `syncpeer`).
    socket6: Option<UdpSocket>,
}

fn bind_one(addr: SocketAddr) -> Result<UdpSocket, String> {
    // A full table arrives at 20 datagrams a millisecond; a receiver that stalls for a
    // moment (a busy machine) must not lose any, or the whole table is asked for again.
    // 32 MB hold about 7000 datagrams (350 ms of a dump), forced past `rmem_max` as root.
    let options = fulcrum_sys::socket::UdpOptions {
        buffer_bytes: 32 << 20,
        ..Default::default()
    };
    fulcrum_sys::socket::bind_udp(addr, options).map_err(|e| format!("cannot bind {addr}: {e}"))
}

impl KernelUdp {
    pub fn bind(local: Ipv4Addr, local6: Option<Ipv6Addr>) -> Result<KernelUdp, String> {
        let socket = bind_one(SocketAddr::V4(SocketAddrV4::new(local, PORT)))?;
        socket
            .set_nonblocking(false)
            .map_err(|e| format!("cannot set up the sync socket: {e}"))?;
        let socket6 = match local6 {
            Some(local6) => {
                let socket6 = bind_one(SocketAddr::V6(SocketAddrV6::new(local6, PORT, 0, 0)))?;
                socket6
                    .set_nonblocking(true)
                    .map_err(|e| format!("cannot set up the IPv6 sync socket: {e}"))?;
                Some(socket6)
            }
            None => None,
        };
        Ok(KernelUdp {
            socket,
            nonblocking: false,
            socket6,
        })
    }

    fn recv6(&self, buf: &mut [u8]) -> Option<(usize, IpAddr)> {
        let (len, from) = self.socket6.as_ref()?.recv_from(buf).ok()?;
        Some((len, unmapped(from.ip())))
    }
}

/// An IPv4-mapped IPv6 source as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Transport for KernelUdp {
    fn kind(&self) -> Kind {
        Kind::KernelUdp
    }

    fn send(&mut self, peer: IpAddr, datagram: &[u8]) -> Result<(), String> {
        let sent = match peer {
            IpAddr::V4(peer) => self.socket.send_to(datagram, SocketAddrV4::new(peer, PORT)),
            IpAddr::V6(peer) => match &self.socket6 {
                Some(socket6) => socket6.send_to(datagram, SocketAddrV6::new(peer, PORT, 0, 0)),
                None => return Err("no IPv6 sync socket (the network has no `real6`)".into()),
            },
        };
        sent.map(|_| ()).map_err(|e| e.to_string())
    }

    fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Option<(usize, IpAddr)> {
        if let Some(received) = self.recv6(buf) {
            return Some(received);
        }
        let nonblocking = wait.is_zero();
        if nonblocking != self.nonblocking && self.socket.set_nonblocking(nonblocking).is_ok() {
            self.nonblocking = nonblocking;
        }
        if !nonblocking {
            let _ = self.socket.set_read_timeout(Some(wait));
        }
        // A timeout, nothing left, or an ICMP error from an earlier send: no datagram.
        match self.socket.recv_from(buf) {
            Ok((len, from)) => Some((len, unmapped(from.ip()))),
            Err(_) => self.recv6(buf),
        }
    }

    fn detail(&self) -> String {
        match self.socket6.as_ref().and_then(|s| s.local_addr().ok()) {
            Some(addr) => format!(" (and {addr} for IPv6 peers)"),
            None => String::new(),
        }
    }
}
