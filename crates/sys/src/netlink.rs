//! Adding and removing an interface's IPv4 and IPv6 addresses through rtnetlink (`RTM_NEWADDR`
//! / `RTM_DELADDR` on a `NETLINK_ROUTE` socket), as `ip addr add|del A/N dev IF` does, without
//! starting a process: a VRRP takeover is waiting on it. An IPv6 address is added with
//! `IFA_F_NODAD` (as `ip addr add … nodad`): duplicate address detection would keep a taken-over
//! VIP tentative, unusable for a second or more, and the VRRP election already settled who holds
//! it.
//!
//! Contract: [`addr_add`] and [`addr_del`] send one request, wait for the kernel's
//! acknowledgement (at most one second) and return what it said: `Ok(Change::Done)`,
//! `Ok(Change::AlreadySo)` for adding an address that is there or removing one that is not, or
//! the kernel's error. The messages are built and read with explicit lengths; a reply that is too
//! short or of another sequence is skipped, never trusted.
//!
//! ```text
//! nlmsghdr (16): len u32 | type u16 | flags u16 | seq u32 | pid u32
//! ifaddrmsg (8): family u8 | prefixlen u8 | flags u8 | scope u8 | index u32
//! rtattr:        len u16 | type u16 | value, padded to 4   (IFA_LOCAL, IFA_ADDRESS: 4 or 16 bytes)
//! ack:           nlmsghdr (type NLMSG_ERROR) | error i32 (0 or -errno) | the request's header
//! ```
//! Numbers are in host byte order, addresses in network order. [`link`] watches interfaces
//! come, go, and lose or regain their carrier.

pub mod link;

use std::ffi::CString;
use std::io;
use std::mem;
use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

const NLMSG_HDR_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// `ifa_flags`: skip duplicate address detection (IPv6).
const IFA_F_NODAD: u8 = 0x02;

/// What a request changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    /// The address was already there (add) or already gone (delete).
    AlreadySo,
}

static SEQUENCE: AtomicU32 = AtomicU32::new(1);

/// `ip addr add ADDRESS/PREFIX dev INTERFACE`.
pub fn addr_add(interface: &str, address: impl Into<IpAddr>, prefix: u8) -> io::Result<Change> {
    let address = address.into();
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    request(interface, address, prefix, libc::RTM_NEWADDR, flags as u16).map(
        |errno| match errno {
            0 => Ok(Change::Done),
            libc::EEXIST => Ok(Change::AlreadySo),
            e => Err(io::Error::from_raw_os_error(e)),
        },
    )?
}

/// `ip addr del ADDRESS/PREFIX dev INTERFACE`. An interface that does not exist (deleted: the
/// kernel removed its addresses with it) holds no address: `Ok(Change::AlreadySo)`.
pub fn addr_del(interface: &str, address: impl Into<IpAddr>, prefix: u8) -> io::Result<Change> {
    let address = address.into();
    if let Err(e) = interface_index(interface) {
        if e.raw_os_error() == Some(libc::ENODEV) {
            return Ok(Change::AlreadySo);
        }
    }
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK;
    request(interface, address, prefix, libc::RTM_DELADDR, flags as u16).map(
        |errno| match errno {
            0 => Ok(Change::Done),
            libc::EADDRNOTAVAIL | libc::ENOENT | libc::ESRCH => Ok(Change::AlreadySo),
            e => Err(io::Error::from_raw_os_error(e)),
        },
    )?
}

fn interface_index(interface: &str) -> io::Result<u32> {
    let name = CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name with a NUL"))?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

/// The request's bytes: header, ifaddrmsg, IFA_LOCAL and IFA_ADDRESS (IPv6: IFA_ADDRESS only,
/// as iproute2 sends it, and `IFA_F_NODAD`).
fn encode(kind: u16, flags: u16, seq: u32, index: u32, address: IpAddr, prefix: u8) -> Vec<u8> {
    let (family, octets, attributes, address_flags): (u8, Vec<u8>, &[u16], u8) = match address {
        IpAddr::V4(v4) => (
            libc::AF_INET as u8,
            v4.octets().to_vec(),
            &[IFA_LOCAL, IFA_ADDRESS],
            0,
        ),
        IpAddr::V6(v6) => (
            libc::AF_INET6 as u8,
            v6.octets().to_vec(),
            &[IFA_ADDRESS],
            IFA_F_NODAD,
        ),
    };
    let attribute_len = 4 + octets.len();
    let len = NLMSG_HDR_LEN + IFADDRMSG_LEN + attributes.len() * attribute_len;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.push(family);
    out.push(prefix);
    out.push(address_flags);
    out.push(libc::RT_SCOPE_UNIVERSE);
    out.extend_from_slice(&index.to_ne_bytes());
    for attribute in attributes {
        out.extend_from_slice(&(attribute_len as u16).to_ne_bytes());
        out.extend_from_slice(&attribute.to_ne_bytes());
        out.extend_from_slice(&octets);
    }
    out
}

/// The errno of the acknowledgement for `seq` in `reply` (0 for success), if it holds one.
fn ack_errno(reply: &[u8], seq: u32) -> Option<i32> {
    let mut at = 0;
    while let Some(header) = reply.get(at..at + NLMSG_HDR_LEN) {
        let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let this_seq = u32::from_ne_bytes([header[8], header[9], header[10], header[11]]);
        if len < NLMSG_HDR_LEN || at + len > reply.len() {
            return None;
        }
        if kind == libc::NLMSG_ERROR as u16 && this_seq == seq {
            let error = reply.get(at + NLMSG_HDR_LEN..at + NLMSG_HDR_LEN + 4)?;
            let error = i32::from_ne_bytes([error[0], error[1], error[2], error[3]]);
            return Some(-error);
        }
        at += (len + 3) & !3;
    }
    None
}

fn request(interface: &str, address: IpAddr, prefix: u8, kind: u16, flags: u16) -> io::Result<i32> {
    let index = interface_index(interface)?;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let message = encode(kind, flags, seq, index, address, prefix);
    // SAFETY: socket(2) takes no pointers; a non-negative return is a fresh descriptor we own.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: the pointer and length describe a live timeval for the duration of the call.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: an all-zero sockaddr_nl is valid; pid 0 addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `message` and `kernel` are live for the call and their lengths are theirs.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut reply = [0u8; 8192];
    loop {
        // Only the kernel's messages count: any process may write to our port id.
        let Some(got) = link::recv_from_kernel(&socket, &mut reply)? else {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the kernel did not acknowledge within 1 s",
            ));
        };
        if let Some(errno) = ack_errno(&reply[..got], seq) {
            return Ok(errno);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_laid_out_as_rtnetlink_wants() {
        let bytes = encode(20, 0x605, 7, 3, Ipv4Addr::new(10, 235, 210, 1).into(), 32);
        assert_eq!(bytes.len(), 40);
        assert_eq!(&bytes[0..4], &40u32.to_ne_bytes());
        assert_eq!(&bytes[4..6], &20u16.to_ne_bytes());
        assert_eq!(&bytes[8..12], &7u32.to_ne_bytes());
        assert_eq!(&bytes[16..20], &[libc::AF_INET as u8, 32, 0, 0]);
        assert_eq!(&bytes[20..24], &3u32.to_ne_bytes());
        assert_eq!(&bytes[24..26], &8u16.to_ne_bytes());
        assert_eq!(&bytes[26..28], &IFA_LOCAL.to_ne_bytes());
        assert_eq!(&bytes[34..36], &IFA_ADDRESS.to_ne_bytes());
        assert_eq!(&bytes[28..32], &[10, 235, 210, 1]);
        assert_eq!(&bytes[36..40], &[10, 235, 210, 1]);
    }

    #[test]
    fn an_ipv6_request_carries_one_address_and_nodad() {
        let vip: std::net::Ipv6Addr = "fd00:235::1".parse().unwrap();
        let bytes = encode(20, 0x605, 7, 3, vip.into(), 128);
        assert_eq!(bytes.len(), 16 + 8 + 20);
        assert_eq!(&bytes[0..4], &44u32.to_ne_bytes());
        assert_eq!(&bytes[16..20], &[libc::AF_INET6 as u8, 128, IFA_F_NODAD, 0]);
        assert_eq!(&bytes[24..26], &20u16.to_ne_bytes());
        assert_eq!(&bytes[26..28], &IFA_ADDRESS.to_ne_bytes());
        assert_eq!(&bytes[28..44], &vip.octets());
    }

    fn ack(seq: u32, error: i32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&36u32.to_ne_bytes());
        out.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&error.to_ne_bytes());
        out.extend_from_slice(&[0; 16]);
        out
    }

    #[test]
    fn acknowledgements_are_read_by_sequence_and_length() {
        assert_eq!(ack_errno(&ack(5, 0), 5), Some(0));
        assert_eq!(ack_errno(&ack(5, -libc::EEXIST), 5), Some(libc::EEXIST));
        assert_eq!(ack_errno(&ack(4, 0), 5), None, "another request's");
        let mut two = ack(4, 0);
        two.extend(ack(5, -1));
        assert_eq!(ack_errno(&two, 5), Some(1));
        for cut in 0..36 {
            assert_eq!(ack_errno(&ack(5, 0)[..cut], 5), None, "cut at {cut}");
        }
    }

    /// `ip link set lo up` in the calling thread's namespace (a new one has `lo` down, and
    /// there every bind succeeds, so nothing could be told).
    fn lo_up() {
        // SAFETY: plain socket and ioctl calls on a zeroed ifreq naming "lo"; the descriptor is
        // closed before returning.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            assert!(fd >= 0);
            let mut request: libc::ifreq = mem::zeroed();
            for (i, byte) in b"lo".iter().enumerate() {
                request.ifr_name[i] = *byte as libc::c_char;
            }
            assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request), 0);
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &request), 0);
            libc::close(fd);
        }
    }

    /// In a network namespace of this test thread's own (root): add, add again, delete, delete
    /// again, with a bind to the address telling whether the kernel holds it.
    #[test]
    fn adds_and_removes_an_address_in_a_private_namespace() {
        std::thread::spawn(|| {
            // SAFETY: unshare(2) takes no pointers; it moves only this thread to a new namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                eprintln!("skipped: unshare(CLONE_NEWNET) needs root");
                return;
            }
            lo_up();
            let vip = Ipv4Addr::new(10, 235, 210, 1);
            let holds = || std::net::UdpSocket::bind((vip, 0)).is_ok();
            assert!(!holds());
            assert_eq!(addr_add("lo", vip, 32).unwrap(), Change::Done);
            assert!(holds());
            assert_eq!(addr_add("lo", vip, 32).unwrap(), Change::AlreadySo);
            assert_eq!(addr_del("lo", vip, 32).unwrap(), Change::Done);
            assert!(!holds());
            assert_eq!(addr_del("lo", vip, 32).unwrap(), Change::AlreadySo);
            assert_eq!(
                addr_del("no-such-if0", vip, 32).unwrap(),
                Change::AlreadySo,
                "a deleted interface holds no address"
            );
            assert!(addr_add("no-such-if0", vip, 32).is_err());

            // IPv6 on a link that runs duplicate address detection (a veth pair, both ends up;
            // `lo` never runs it): usable at once, where DAD would keep it tentative for ~1 s.
            let ip = |args: &[&str]| {
                let status = std::process::Command::new("ip").args(args).status();
                assert!(status.is_ok_and(|s| s.success()), "ip {args:?}");
            };
            ip(&[
                "link", "add", "nodad0", "type", "veth", "peer", "name", "nodad1",
            ]);
            ip(&["link", "set", "nodad0", "up"]);
            ip(&["link", "set", "nodad1", "up"]);
            let vip6: std::net::Ipv6Addr = "fd00:235::1".parse().unwrap();
            let holds6 = || std::net::UdpSocket::bind((vip6, 0)).is_ok();
            assert!(!holds6());
            assert_eq!(addr_add("nodad0", vip6, 64).unwrap(), Change::Done);
            assert!(holds6(), "added without duplicate address detection");
            assert_eq!(addr_add("nodad0", vip6, 64).unwrap(), Change::AlreadySo);
            assert_eq!(addr_del("nodad0", vip6, 64).unwrap(), Change::Done);
            assert!(!holds6());
            assert_eq!(addr_del("nodad0", vip6, 64).unwrap(), Change::AlreadySo);
        })
        .join()
        .expect("the namespace thread");
    }
}
