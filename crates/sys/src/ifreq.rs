//! The start of every interface ioctl here: a datagram socket to issue it on and an `ifreq`
//! naming the interface, after checking that the name fits.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A socket for interface ioctls and a zeroed `ifreq` carrying `ifname`.
pub(crate) fn socket_and_request(ifname: &str) -> io::Result<(OwnedFd, libc::ifreq)> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    // SAFETY: plain socket(2); owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: an all-zero ifreq is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok((fd, request))
}
