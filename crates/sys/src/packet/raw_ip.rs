//! Raw IP sockets (`IPPROTO_RAW`: the header is included, as `IP_HDRINCL`/`IPV6_HDRINCL`
//! would have it) that hand complete IP packets to this host's own stack: the DSR plane's way
//! of delivering a client's packet to a target that is this very host (`set localdsr 1`). The
//! kernel routes the packet by its destination (the VIP, a local address) through loopback, so
//! the local server sees the client's own source address. One socket per family; the two
//! senders differ only in the address they pass to `sendto`.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An `IPPROTO_RAW` socket of one family.
struct RawIpSocket {
    fd: OwnedFd,
}

impl RawIpSocket {
    /// Opens the socket (needs `CAP_NET_RAW`); `family` names it in the error.
    fn open(domain: libc::c_int, family: &str) -> io::Result<RawIpSocket> {
        // SAFETY: plain socket(2); owned below.
        let raw = unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::IPPROTO_RAW,
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("socket({family}, SOCK_RAW, IPPROTO_RAW): {e}"),
            ));
        }
        Ok(RawIpSocket {
            // SAFETY: fresh descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Sends `packet` to `addr`, a `sockaddr_in` or `sockaddr_in6` of the socket's family.
    fn send<A>(&self, packet: &[u8], addr: &A) -> io::Result<()> {
        // SAFETY: `packet` and `addr` are valid for reading for the lengths passed, and `A` is
        // a socket address type of this socket's family (the callers below).
        let ret = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                addr as *const A as *const libc::sockaddr,
                size_of::<A>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

pub struct RawIpv4Sender(RawIpSocket);

impl RawIpv4Sender {
    /// Opens the socket (needs `CAP_NET_RAW`).
    pub fn open() -> io::Result<RawIpv4Sender> {
        RawIpSocket::open(libc::AF_INET, "AF_INET").map(RawIpv4Sender)
    }

    /// Sends one whole IPv4 packet (header included) towards `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_in is valid; fields set below.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(dst).to_be();
        self.0.send(packet, &addr)
    }
}

/// The IPv6 twin of [`RawIpv4Sender`].
pub struct RawIpv6Sender(RawIpSocket);

impl RawIpv6Sender {
    /// Opens the socket (needs `CAP_NET_RAW`).
    pub fn open() -> io::Result<RawIpv6Sender> {
        RawIpSocket::open(libc::AF_INET6, "AF_INET6").map(RawIpv6Sender)
    }

    /// Sends one whole IPv6 packet (fixed header included) towards `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv6Addr) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_in6 is valid; fields set below.
        let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_addr.s6_addr = dst.octets();
        self.0.send(packet, &addr)
    }
}
