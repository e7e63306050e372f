//! A raw IPv4 socket (`IPPROTO_RAW`, header included) that hands complete IP packets to this
//! host's own stack: the DSR plane's way of delivering a client's packet to a target that is
//! this very host (`set localdsr 1`). The kernel routes the packet by its destination (the VIP,
//! a local address) through loopback, so the local server sees the client's own source address.

use std::io;
use std::mem::size_of;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub struct RawIpv4Sender {
    fd: OwnedFd,
}

impl RawIpv4Sender {
    /// Opens the socket (needs `CAP_NET_RAW`).
    pub fn open() -> io::Result<RawIpv4Sender> {
        // SAFETY: plain socket(2); owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::IPPROTO_RAW,
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("socket(SOCK_RAW, IPPROTO_RAW): {e}"),
            ));
        }
        Ok(RawIpv4Sender {
            // SAFETY: fresh descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Sends one whole IPv4 packet (header included) towards `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_in is valid; fields set below.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(dst).to_be();
        // SAFETY: `packet` and `addr` are valid for reading for the lengths passed.
        let ret = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                &addr as *const libc::sockaddr_in as *const libc::sockaddr,
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
