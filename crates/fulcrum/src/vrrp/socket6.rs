//! The VRRP socket of the IPv6 instance (RFC 5798 over IPv6): a raw IPv6 socket for next header
//! 112 bound to the group's interface and to that interface's link-local address (the source of
//! adverts, RFC 5798 §5.1.2.1), joined to ff02::12 there, hop limit 255 for multicast and
//! unicast, traffic class 0xc0 as keepalived sends, multicast loopback off.
//!
//! A raw IPv6 socket never carries the IPv6 header (there is no `IP_HDRINCL` reading for IPv6),
//! so the receive side asks the kernel for each packet's hop limit (`IPV6_RECVHOPLIMIT`) and
//! destination (`IPV6_RECVPKTINFO`) and rebuilds the fixed header in front of the message from
//! what the kernel reports: source, destination, hop limit, next header 112 and the payload
//! length. `Group::check` then applies every receive check to a whole packet, as for IPv4. A
//! packet without the hop-limit report gets hop limit 0 and is dropped as `bad-ttl`. On send
//! the kernel writes the header from the socket's settings, so only the VRRP message of the
//! packet `Group::advert_packet` built leaves, its checksum already over the same addresses.

use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

use fulcrum_wire::ipv6;
use fulcrum_wire::vrrp::MULTICAST_ADDR_V6;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::socket::VrrpSocket;

const IPPROTO_VRRP: i32 = 112;
/// IPv6 traffic class of adverts: precedence "internetwork control", as keepalived sends.
const ADVERT_TCLASS: u32 = 0xc0;

pub struct VrrpSocket6 {
    socket: Socket,
    index: u32,
    link_local: Ipv6Addr,
}

/// The interface's link-local unicast address (the first, as the kernel lists them).
pub fn link_local_of(interface: &str) -> io::Result<Ipv6Addr> {
    let addresses = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    addresses
        .filter(|a| a.interface_name == interface)
        .filter_map(|a| a.address?.as_sockaddr_in6().map(|s| s.ip()))
        .find(Ipv6Addr::is_unicast_link_local)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{interface} has no IPv6 link-local address"),
            )
        })
}

impl VrrpSocket for VrrpSocket6 {
    type Address = Ipv6Addr;

    /// Needs `CAP_NET_RAW`; the interface must exist and have a usable link-local address
    /// (not tentative: binding waits for duplicate address detection to end).
    fn open(interface: &str) -> io::Result<VrrpSocket6> {
        let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        let index = fulcrum_sys::packet::interface_index(interface)
            .map_err(|e| context(&format!("interface {interface}"), e))?;
        let link_local = link_local_of(interface)?;
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
            .map_err(|e| context("raw IPv6 socket for next header 112", e))?;
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(|e| context(&format!("bind to device {interface}"), e))?;
        socket
            .bind(&SockAddr::from(SocketAddrV6::new(link_local, 0, 0, index)))
            .map_err(|e| context(&format!("bind to {link_local}%{interface}"), e))?;
        socket
            .join_multicast_v6(&MULTICAST_ADDR_V6, index)
            .map_err(|e| context(&format!("join {MULTICAST_ADDR_V6} on {interface}"), e))?;
        socket
            .set_multicast_loop_v6(false)
            .map_err(|e| context("IPV6_MULTICAST_LOOP", e))?;
        socket
            .set_multicast_hops_v6(255)
            .map_err(|e| context("IPV6_MULTICAST_HOPS", e))?;
        socket
            .set_unicast_hops_v6(255)
            .map_err(|e| context("IPV6_UNICAST_HOPS", e))?;
        socket
            .set_tclass_v6(ADVERT_TCLASS)
            .map_err(|e| context("IPV6_TCLASS", e))?;
        socket::setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)
            .map_err(|e| context("IPV6_RECVHOPLIMIT", e.into()))?;
        socket::setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|e| context("IPV6_RECVPKTINFO", e.into()))?;
        Ok(VrrpSocket6 {
            socket,
            index,
            link_local,
        })
    }

    /// The interface's kernel index when the socket was bound.
    fn index(&self) -> u32 {
        self.index
    }

    /// The link-local address: the source of our adverts, and our primary address in the
    /// election.
    fn own_address(&self) -> Option<Ipv6Addr> {
        Some(self.link_local)
    }

    /// Sends the message of one whole IPv6 packet to ff02::12 on the bound interface.
    fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.send_to(packet, MULTICAST_ADDR_V6)
    }

    /// Sends the message of one whole IPv6 packet to `destination` on the bound interface.
    fn send_to(&self, packet: &[u8], destination: Ipv6Addr) -> io::Result<()> {
        let message = packet
            .get(ipv6::HEADER_LEN..)
            .ok_or_else(|| io::Error::other("advert shorter than an IPv6 header"))?;
        let to = SockAddr::from(SocketAddrV6::new(destination, 0, 0, self.index));
        self.socket.send_to(message, &to).map(|_| ())
    }

    /// Waits at most `timeout` (at least 1 ms) for one packet and writes it into `buf` as a whole
    /// IPv6 packet (see the module doc); `Ok(None)` when none came.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let Some(body) = buf.get_mut(ipv6::HEADER_LEN..) else {
            return Err(io::Error::other(
                "receive buffer shorter than an IPv6 header",
            ));
        };
        let Some((source, destination, hop_limit, len)) = self.recv_message(body)? else {
            return Ok(None);
        };
        let repr = ipv6::Repr {
            src_addr: source,
            dst_addr: destination,
            next_header: ipv6::next_header::VRRP,
            payload_len: len,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
        };
        repr.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))
            .map_err(|e| io::Error::other(format!("rebuilding the IPv6 header: {e:?}")))?;
        Ok(Some(ipv6::HEADER_LEN + len))
    }
}

impl VrrpSocket6 {
    /// One message into `body`: its source, destination, hop limit and length.
    fn recv_message(&self, body: &mut [u8]) -> io::Result<Option<(Ipv6Addr, Ipv6Addr, u8, usize)>> {
        let mut control = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
        let mut iov = [IoSliceMut::new(body)];
        let received = socket::recvmsg::<SockaddrIn6>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::empty(),
        );
        let msg = match received {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(source) = msg.address.map(|a| a.ip()) else {
            return Ok(None);
        };
        let mut destination = Ipv6Addr::UNSPECIFIED;
        let mut hop_limit = 0u8;
        for cmsg in msg.cmsgs().into_iter().flatten() {
            match cmsg {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    destination = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                }
                ControlMessageOwned::Ipv6HopLimit(limit) => {
                    hop_limit = u8::try_from(limit).unwrap_or(0);
                }
                _ => {}
            }
        }
        Ok(Some((source, destination, hop_limit, msg.bytes)))
    }
}
