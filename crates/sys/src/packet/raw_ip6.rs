//! A raw IPv6 socket (`IPPROTO_RAW`, which on Linux means the header is included, as
//! `IPV6_HDRINCL` would) that hands complete IPv6 packets to this host's own stack: the DSR
//! plane's way of delivering a client's packet to a target that is this very host (`set
//! localdsr 1`), the IPv6 twin of [`super::RawIpv4Sender`]. The kernel routes the packet by its
//! destination (the VIP, a local address) through loopback, so the local server sees the
//! client's own source address.

use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub struct RawIpv6Sender {
    fd: OwnedFd,
}

impl RawIpv6Sender {
    /// Opens the socket (needs `CAP_NET_RAW`).
    pub fn open() -> io::Result<RawIpv6Sender> {
        // SAFETY: plain socket(2); owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::IPPROTO_RAW,
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("socket(AF_INET6, SOCK_RAW, IPPROTO_RAW): {e}"),
            ));
        }
        Ok(RawIpv6Sender {
            // SAFETY: fresh descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Sends one whole IPv6 packet (fixed header included) towards `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv6Addr) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_in6 is valid; fields set below.
        let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_addr.s6_addr = dst.octets();
        // SAFETY: `packet` and `addr` are valid for reading for the lengths passed.
        let ret = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                &addr as *const libc::sockaddr_in6 as *const libc::sockaddr,
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
