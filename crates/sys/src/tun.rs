//! A non-persistent TUN interface whose lifetime is the owning process's: opened on
//! `/dev/net/tun` with `TUNSETIFF` (`IFF_TUN | IFF_NO_PI`) and never made persistent
//! (`TUNSETPERSIST`), so the kernel deletes the interface, and every address on it, as soon as
//! the descriptor closes — on a clean exit, a crash or `SIGKILL` alike. A routing daemon that
//! exports the interface's addresses (BIRD's `direct` protocol) withdraws them with it.
//!
//! Contract: [`Tun::create`] creates and brings up the named interface or returns the kernel's
//! error (an interface of that name that already exists and is not a TUN, a name too long, no
//! `/dev/net/tun`); dropping the [`Tun`] closes the descriptor and so deletes the interface.
//! Nothing is ever read from it: it only carries addresses.

use std::fs::{File, OpenOptions};
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `_IOW('T', 202, int)`: the request is not in the libc crate for every target.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// An open TUN interface; the interface lives as long as this value (and the process).
#[derive(Debug)]
pub struct Tun {
    _device: File,
    name: String,
}

impl Tun {
    /// Creates the TUN interface `name` and sets it up (`ip link set NAME up`).
    pub fn create(name: &str) -> io::Result<Tun> {
        let request = ifreq_named(name)?;
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")?;
        let mut request = request;
        request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one `ifreq`, which lives on this stack frame for the
        // whole call; the descriptor is open.
        if unsafe { libc::ioctl(device.as_raw_fd(), TUNSETIFF, &mut request) } < 0 {
            return Err(io::Error::last_os_error());
        }
        set_up(name)?;
        Ok(Tun {
            _device: device,
            name: name.to_string(),
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A zeroed `ifreq` carrying `name` (at most `IFNAMSIZ - 1` bytes, no NUL).
fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.as_bytes().contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    // SAFETY: `ifreq` is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.as_bytes()) {
        *slot = *byte as libc::c_char;
    }
    Ok(request)
}

/// `ip link set NAME up` through `SIOCGIFFLAGS`/`SIOCSIFFLAGS` on a throwaway socket.
fn set_up(name: &str) -> io::Result<()> {
    let mut request = ifreq_named(name)?;
    // SAFETY: socket(2) takes no pointers; the result is checked before it is owned.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor we just opened and own alone.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: both ioctls read/write the one `ifreq` on this stack frame; the socket is open.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{addr_add, Change};
    use std::net::Ipv4Addr;

    #[test]
    fn names_the_kernel_cannot_take_are_refused_before_any_syscall() {
        assert!(ifreq_named("").is_err());
        assert!(ifreq_named("sixteen-chars-xx").is_err());
        assert!(ifreq_named("fifteen-chars-x").is_ok());
    }

    /// In a network namespace of this test thread's own: the interface exists while the `Tun`
    /// lives, holds an address, and is gone with the address once it is dropped.
    #[test]
    fn the_interface_and_its_addresses_go_when_the_descriptor_closes() {
        std::thread::spawn(|| {
            // SAFETY: unshare(2) takes no pointers; it moves only this thread to a new namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                eprintln!("skipped: unshare(CLONE_NEWNET) needs root");
                return;
            }
            let exists = || index("tuntest0");
            let vip = Ipv4Addr::new(10, 235, 210, 1);
            let holds = || std::net::UdpSocket::bind((vip, 0)).is_ok();
            let tun = match Tun::create("tuntest0") {
                Ok(tun) => tun,
                Err(e) => {
                    eprintln!("skipped: no TUN device here: {e}");
                    return;
                }
            };
            assert_eq!(tun.name(), "tuntest0");
            assert!(exists());
            assert_eq!(addr_add("tuntest0", vip, 32).unwrap(), Change::Done);
            assert!(holds());
            drop(tun);
            assert!(
                !exists(),
                "the kernel deletes a non-persistent TUN on close"
            );
            assert!(!holds());
        })
        .join()
        .unwrap();
    }

    /// Whether the calling thread's namespace has an interface `name`.
    fn index(name: &str) -> bool {
        let Ok(name) = std::ffi::CString::new(name) else {
            return false;
        };
        // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
        unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
    }
}
