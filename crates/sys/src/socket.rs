//! Sockets with the options the proxy needs and `std::net` cannot set before `bind`:
//! `SO_REUSEPORT` (one listener per worker thread on the same address), `IP_FREEBIND` (bind a
//! virtual address before VRRP has added it), `IP_PKTINFO`/`IPV6_RECVPKTINFO` (learn which local
//! address a datagram was sent to, so the reply leaves from it), large buffers, non-blocking.

use std::io;
use std::mem;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::mmsg::sockaddr_from;

/// Options for [`bind_udp`].
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpOptions {
    /// `SO_REUSEPORT`: several sockets (one per worker) share the address; the kernel spreads
    /// datagrams over them by flow hash.
    pub reuseport: bool,
    /// Ask for each datagram's destination address (`IP_PKTINFO` / `IPV6_RECVPKTINFO`).
    pub pktinfo: bool,
    /// `IP_FREEBIND`: allow binding an address that is not (yet) on an interface.
    pub freebind: bool,
    /// Receive and send buffer size in bytes (0: the kernel's default). Tried with the
    /// privileged `SO_RCVBUFFORCE` first so root gets it beyond `rmem_max`.
    pub buffer_bytes: usize,
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn new_socket(addr: &SocketAddr, kind: libc::c_int) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) takes no pointers; a non-negative return is a fresh descriptor we own.
    let fd =
        cvt(unsafe { libc::socket(family, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int for the duration of the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn bind_fd(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = sockaddr_from(addr);
    // SAFETY: `storage` is a valid sockaddr of `len` bytes for the family of `addr`.
    cvt(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })
        .map(drop)
}

fn common_options(fd: RawFd, addr: &SocketAddr, reuseport: bool, freebind: bool) -> io::Result<()> {
    if reuseport {
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    match addr {
        SocketAddr::V4(_) => {
            if freebind {
                set_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1)?;
            }
        }
        SocketAddr::V6(_) => {
            // Keep the families apart: an IPv6 server must not also catch IPv4 traffic.
            set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
            if freebind {
                set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_FREEBIND, 1)?;
            }
        }
    }
    Ok(())
}

fn set_buffers(fd: RawFd, bytes: usize) {
    if bytes == 0 {
        return;
    }
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // Best effort: without CAP_NET_ADMIN the forced form fails and the plain one is capped
        // by the sysctl maximum, which still works, only with more drops under bursts.
        if set_int(fd, libc::SOL_SOCKET, force, value).is_err() {
            let _ = set_int(fd, libc::SOL_SOCKET, plain, value);
        }
    }
}

/// A non-blocking UDP socket bound to `addr` with `options`.
pub fn bind_udp(addr: SocketAddr, options: UdpOptions) -> io::Result<UdpSocket> {
    let fd = new_socket(&addr, libc::SOCK_DGRAM)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    common_options(raw, &addr, options.reuseport, options.freebind)?;
    if options.pktinfo {
        match addr {
            SocketAddr::V4(_) => set_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?,
            SocketAddr::V6(_) => set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?,
        }
    }
    set_buffers(raw, options.buffer_bytes);
    bind_fd(raw, &addr)?;
    Ok(UdpSocket::from(fd))
}

/// A non-blocking TCP listener on `addr` (`SO_REUSEADDR`, optionally `SO_REUSEPORT` and
/// `IP_FREEBIND`), listening with `backlog`.
pub fn bind_tcp_listener(
    addr: SocketAddr,
    reuseport: bool,
    freebind: bool,
    backlog: i32,
) -> io::Result<TcpListener> {
    let fd = new_socket(&addr, libc::SOCK_STREAM)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // TCP only: for UDP, SO_REUSEADDR would let any other socket share the address.
    set_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    common_options(raw, &addr, reuseport, freebind)?;
    bind_fd(raw, &addr)?;
    // SAFETY: listen(2) on a descriptor we own; no pointers.
    cvt(unsafe { libc::listen(raw, backlog) })?;
    Ok(TcpListener::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_reuseport_sockets_share_an_address() {
        let options = UdpOptions {
            reuseport: true,
            pktinfo: true,
            freebind: true,
            buffer_bytes: 1 << 20,
        };
        let first = bind_udp("127.0.0.1:0".parse().unwrap(), options).unwrap();
        let addr = first.local_addr().unwrap();
        let second = bind_udp(addr, options).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        let plain = UdpOptions::default();
        assert!(
            bind_udp(addr, plain).is_err(),
            "without SO_REUSEPORT the address is taken"
        );
    }

    #[test]
    fn freebind_binds_an_address_not_on_any_interface() {
        // 192.0.2.0/24 is TEST-NET-1: never assigned, and nothing is sent to it here.
        let options = UdpOptions {
            freebind: true,
            ..UdpOptions::default()
        };
        let sock = bind_udp("192.0.2.77:0".parse().unwrap(), options).unwrap();
        assert_eq!(sock.local_addr().unwrap().ip().to_string(), "192.0.2.77");
        assert!(bind_udp("192.0.2.77:0".parse().unwrap(), UdpOptions::default()).is_err());
    }

    #[test]
    fn tcp_listener_accepts() {
        let listener = bind_tcp_listener("127.0.0.1:0".parse().unwrap(), true, false, 16).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        listener.set_nonblocking(false).unwrap();
        let (_conn, peer) = listener.accept().unwrap();
        assert!(peer.ip().is_loopback());
    }
}
