//! The agent's UDP socket. Bound to a wildcard IPv4 address (the default), it learns each
//! request's destination address (`IP_PKTINFO`) and sends the reply from that address, because
//! the balancer accepts a reply only from the address it asked. Without this, the kernel picks
//! the reply's source by route: a node asking its own agent from its network's `real` address
//! (the seed's nodes are their own targets, `set localdsr 1`) got its reply from `real` and
//! counted the agent as silent.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use nix::libc;
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrIn,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

pub struct AgentSocket {
    socket: UdpSocket,
    /// Whether destination addresses are learned (wildcard IPv4 bind).
    pktinfo: bool,
}

impl AgentSocket {
    pub async fn bind(addr: SocketAddr) -> io::Result<AgentSocket> {
        let socket = UdpSocket::bind(addr).await?;
        let pktinfo = matches!(addr, SocketAddr::V4(a) if a.ip().is_unspecified());
        if pktinfo {
            setsockopt(&socket, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
        }
        Ok(AgentSocket { socket, pktinfo })
    }

    /// One datagram: its length, sender, and (wildcard bind) the address it was sent to.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<Ipv4Addr>)> {
        if !self.pktinfo {
            let (len, from) = self.socket.recv_from(buf).await?;
            return Ok((len, from, None));
        }
        let fd = self.socket.as_raw_fd();
        self.socket
            .async_io(Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(buf)];
                let mut space = nix::cmsg_space!(libc::in_pktinfo);
                let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut space), MsgFlags::empty())
                    .map_err(io::Error::from)?;
                let local = msg
                    .cmsgs()
                    .map_err(io::Error::from)?
                    .find_map(|cmsg| match cmsg {
                        ControlMessageOwned::Ipv4PacketInfo(info) => {
                            Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)))
                        }
                        _ => None,
                    });
                let from = msg
                    .address
                    .map(|a| SocketAddr::V4(SocketAddrV4::from(a)))
                    .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
                Ok((msg.bytes, from, local))
            })
            .await
    }

    /// Sends `data` to `to`, from `local` when given (the request's destination address).
    pub async fn send(
        &self,
        data: &[u8],
        to: SocketAddr,
        local: Option<Ipv4Addr>,
    ) -> io::Result<usize> {
        let (Some(local), SocketAddr::V4(to)) = (local, to) else {
            return self.socket.send_to(data, to).await;
        };
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(local).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        let to = SockaddrIn::from(to);
        let fd = self.socket.as_raw_fd();
        self.socket
            .async_io(Interest::WRITABLE, || {
                sendmsg(
                    fd,
                    &[IoSlice::new(data)],
                    &[ControlMessage::Ipv4PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&to),
                )
                .map_err(io::Error::from)
            })
            .await
    }
}
