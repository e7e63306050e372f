//! The kernel transport: one UDP socket bound to `real`:10439, for hosts whose kernel holds the
//! network's `real` address. Receiving waits with a read timeout; a zero wait reads without
//! blocking, so a burst is drained with one wait.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use fulcrum_core::sync::PORT;

use super::{Kind, Transport};

pub struct KernelUdp {
    socket: UdpSocket,
    nonblocking: bool,
}

impl KernelUdp {
    pub fn bind(local: Ipv4Addr) -> io::Result<KernelUdp> {
        // A full table arrives at 20 datagrams a millisecond; a receiver that stalls for a
        // moment (a busy machine) must not lose any, or the whole table is asked for again.
        // 32 MB hold about 7000 datagrams (350 ms of a dump), forced past `rmem_max` as root.
        let options = fulcrum_sys::socket::UdpOptions {
            buffer_bytes: 32 << 20,
            ..Default::default()
        };
        let socket =
            fulcrum_sys::socket::bind_udp(SocketAddr::V4(SocketAddrV4::new(local, PORT)), options)?;
        socket.set_nonblocking(false)?;
        Ok(KernelUdp {
            socket,
            nonblocking: false,
        })
    }
}

impl Transport for KernelUdp {
    fn kind(&self) -> Kind {
        Kind::KernelUdp
    }

    fn send(&mut self, peer: Ipv4Addr, datagram: &[u8]) -> Result<(), String> {
        self.socket
            .send_to(datagram, SocketAddrV4::new(peer, PORT))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Option<(usize, Ipv4Addr)> {
        let nonblocking = wait.is_zero();
        if nonblocking != self.nonblocking && self.socket.set_nonblocking(nonblocking).is_ok() {
            self.nonblocking = nonblocking;
        }
        if !nonblocking {
            let _ = self.socket.set_read_timeout(Some(wait));
        }
        // A timeout, nothing left, or an ICMP error from an earlier send: no datagram.
        match self.socket.recv_from(buf).ok()? {
            (len, SocketAddr::V4(from)) => Some((len, *from.ip())),
            // Bound to an IPv4 address: never happens; the driver drops an unspecified source
            // like a stranger's datagram.
            (len, SocketAddr::V6(_)) => Some((len, Ipv4Addr::UNSPECIFIED)),
        }
    }

    fn detail(&self) -> String {
        String::new()
    }
}
