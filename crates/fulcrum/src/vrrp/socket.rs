//! The VRRP socket of either family ([`VrrpSocket`]: what the driver's runner uses), and the
//! IPv4 one ([`VrrpSocket4`]; the IPv6 one is `socket6.rs`): a raw IPv4 socket for protocol 112
//! bound to the group's interface, joined to 224.0.0.18 there, sending whole IPv4 packets (`IP_HDRINCL`, so the source is the network's
//! `real` address and the TTL 255 exactly as `Group::advert_packet` built them) and receiving
//! whole IPv4 packets (a raw socket delivers the IP header, so `Group::check` sees the TTL).
//! Multicast loopback is off: our own adverts never come back through this socket. With unicast
//! peers the same socket sends to each peer and receives theirs (a raw socket gets every
//! protocol-112 packet addressed to this host).

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use fulcrum_wire::vrrp::MULTICAST_ADDR;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

/// The raw VRRP socket of one family, bound to the group's interface.
pub trait VrrpSocket: Sized + Send {
    type Address;
    /// Needs `CAP_NET_RAW`; the interface must exist.
    fn open(interface: &str) -> io::Result<Self>;
    /// The interface's kernel index when the socket was bound (a re-created interface has a
    /// new one, and this socket hears nothing there).
    fn index(&self) -> u32;
    /// The address the kernel sends our adverts from, when the socket decides it (IPv6: the
    /// link-local address); `None` when the packet carries it (IPv4: the network's `real`).
    fn own_address(&self) -> Option<Self::Address>;
    /// Sends one whole advert packet to the family's multicast group on the bound interface.
    fn send(&self, packet: &[u8]) -> io::Result<()>;
    /// Sends one whole advert packet to a unicast peer on the bound interface.
    fn send_to(&self, packet: &[u8], destination: Self::Address) -> io::Result<()>;
    /// Waits at most `timeout` (at least 1 ms) for one whole packet; `Ok(None)` when none came.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;
}

const IPPROTO_VRRP: i32 = 112;

pub struct VrrpSocket4 {
    socket: Socket,
    /// The interface's kernel index when the socket was bound (a re-created interface has a new
    /// one, and this socket hears nothing there).
    index: u32,
}

impl VrrpSocket for VrrpSocket4 {
    type Address = Ipv4Addr;

    fn open(interface: &str) -> io::Result<VrrpSocket4> {
        let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        let index = fulcrum_sys::packet::interface_index(interface)
            .map_err(|e| context(&format!("interface {interface}"), e))?;
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
            .map_err(|e| context("raw socket for IP protocol 112", e))?;
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(|e| context(&format!("bind to device {interface}"), e))?;
        socket
            .set_header_included_v4(true)
            .map_err(|e| context("IP_HDRINCL", e))?;
        socket
            .join_multicast_v4_n(&MULTICAST_ADDR, &InterfaceIndexOrAddress::Index(index))
            .map_err(|e| context(&format!("join {MULTICAST_ADDR} on {interface}"), e))?;
        socket
            .set_multicast_loop_v4(false)
            .map_err(|e| context("IP_MULTICAST_LOOP", e))?;
        socket
            .set_multicast_ttl_v4(255)
            .map_err(|e| context("IP_MULTICAST_TTL", e))?;
        Ok(VrrpSocket4 { socket, index })
    }

    fn index(&self) -> u32 {
        self.index
    }

    /// The packet carries the source (`IP_HDRINCL`).
    fn own_address(&self) -> Option<Ipv4Addr> {
        None
    }

    /// Sends one whole IPv4 packet to 224.0.0.18 on the bound interface.
    fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.send_to(packet, MULTICAST_ADDR)
    }

    /// Sends one whole IPv4 packet to `destination` (a unicast peer; the kernel resolves its
    /// MAC) on the bound interface.
    fn send_to(&self, packet: &[u8], destination: Ipv4Addr) -> io::Result<()> {
        let to = SockAddr::from(SocketAddrV4::new(destination, 0));
        self.socket.send_to(packet, &to).map(|_| ())
    }

    /// Waits at most `timeout` (at least 1 ms) for one packet; `Ok(None)` when none came.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match (&self.socket).read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
