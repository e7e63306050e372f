//! Watching the kernel's interfaces through rtnetlink (`RTNLGRP_LINK`), as `ip monitor link`
//! does: which interfaces exist under which index, and whether each can carry traffic.
//!
//! Contract: [`LinkMonitor::open`] subscribes to link notifications; [`LinkMonitor::recv`]
//! waits at most its timeout and returns the [`LinkEvent`]s of one datagram (none on timeout),
//! or the kernel's error; an overrun of the socket's buffer (`ENOBUFS`) is reported as
//! [`Received::Overrun`], after which the caller takes a fresh [`dump`]. Datagrams that did not come from the kernel (port id 0) are dropped.
//! Messages are read with explicit lengths; a truncated message or attribute ends the walk of
//! its datagram, never a read past it.
//!
//! ```text
//! nlmsghdr (16):  len u32 | type u16 | flags u16 | seq u32 | pid u32
//! ifinfomsg (16): family u8 | pad u8 | type u16 | index i32 | flags u32 | change u32
//! rtattr:         len u16 | type u16 | value, padded to 4   (IFLA_IFNAME: NUL-terminated)
//! ```

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NLMSG_HDR_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
/// `RTMGRP_LINK`: the legacy group bit of `RTNLGRP_LINK`.
const RTMGRP_LINK: u32 = 1;

/// One interface as a notification or a dump describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Administratively up and with a carrier (`IFF_UP` and `IFF_RUNNING`).
    pub up: bool,
}

/// What one message said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The interface exists with these properties (`RTM_NEWLINK`).
    New(Link),
    /// The interface with this index is gone (`RTM_DELLINK`).
    Deleted { index: u32 },
}

/// What one [`LinkMonitor::recv`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Events(Vec<LinkEvent>),
    /// Notifications were lost: take a fresh [`dump`].
    Overrun,
}

/// A `NETLINK_ROUTE` socket subscribed to link notifications.
pub struct LinkMonitor {
    fd: OwnedFd,
    buf: Vec<u8>,
}

fn netlink_socket(groups: u32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative return is a fresh descriptor we own.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: an all-zero sockaddr_nl is valid; pid 0 lets the kernel pick the port id.
    let mut local: libc::sockaddr_nl = unsafe { mem::zeroed() };
    local.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    local.nl_groups = groups;
    // SAFETY: `local` is a live sockaddr_nl of the size passed.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&local as *const libc::sockaddr_nl).cast(),
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn set_timeout(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let timeout = timeout.max(Duration::from_millis(1));
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
    };
    // SAFETY: the pointer and length describe a live timeval for the duration of the call.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One datagram from the kernel into `buf`: `Ok(None)` on timeout; datagrams from another
/// sender (a process may write to our port id) are skipped.
pub(super) fn recv_from_kernel(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: an all-zero sockaddr_nl is valid to be written over.
        let mut from: libc::sockaddr_nl = unsafe { mem::zeroed() };
        let mut from_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `buf` is writable for its length; `from`/`from_len` describe a live
        // sockaddr_nl.
        let got = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_nl).cast(),
                &mut from_len,
            )
        };
        if got < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => Err(e),
            };
        }
        if from.nl_pid == 0 {
            return Ok(Some(got as usize));
        }
    }
}

impl LinkMonitor {
    /// Subscribes to link notifications.
    pub fn open() -> io::Result<LinkMonitor> {
        let fd = netlink_socket(RTMGRP_LINK)
            .map_err(|e| io::Error::new(e.kind(), format!("netlink link monitor: {e}")))?;
        Ok(LinkMonitor {
            fd,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Waits at most `timeout` for one datagram of notifications.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Received> {
        set_timeout(&self.fd, timeout)?;
        match recv_from_kernel(&self.fd, &mut self.buf) {
            Ok(None) => Ok(Received::Events(Vec::new())),
            Ok(Some(len)) => Ok(Received::Events(parse_messages(&self.buf[..len]).0)),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Overrun),
            Err(e) => Err(e),
        }
    }
}

/// Every interface of this network namespace now (`ip link show`), through a socket of its own.
pub fn dump() -> io::Result<Vec<Link>> {
    let fd = netlink_socket(0)?;
    set_timeout(&fd, Duration::from_secs(1))?;
    let seq = 1u32;
    let mut request = Vec::with_capacity(NLMSG_HDR_LEN + IFINFOMSG_LEN);
    request.extend_from_slice(&((NLMSG_HDR_LEN + IFINFOMSG_LEN) as u32).to_ne_bytes());
    request.extend_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    request.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    request.extend_from_slice(&seq.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(&[0u8; IFINFOMSG_LEN]);
    // SAFETY: an all-zero sockaddr_nl is valid; pid 0 addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `request` and `kernel` are live for the call and their lengths are theirs.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut links = Vec::new();
    loop {
        let Some(len) = recv_from_kernel(&fd, &mut buf)? else {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "netlink link dump: no answer within a second",
            ));
        };
        let (events, done) = parse_messages(&buf[..len]);
        links.extend(events.into_iter().filter_map(|event| match event {
            LinkEvent::New(link) => Some(link),
            LinkEvent::Deleted { .. } => None,
        }));
        if done {
            return Ok(links);
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The link events in one datagram, and whether it ended a dump (`NLMSG_DONE`, or an error).
fn parse_messages(datagram: &[u8]) -> (Vec<LinkEvent>, bool) {
    let mut events = Vec::new();
    let mut at = 0;
    while let (Some(len), Some(kind)) = (u32_at(datagram, at), u16_at(datagram, at + 4)) {
        let len = len as usize;
        let Some(message) = datagram.get(at..at.saturating_add(len)) else {
            break;
        };
        if len < NLMSG_HDR_LEN {
            break;
        }
        match kind {
            k if k == libc::NLMSG_DONE as u16 || k == libc::NLMSG_ERROR as u16 => {
                return (events, true)
            }
            k if k == libc::RTM_NEWLINK => {
                if let Some(link) = parse_link(&message[NLMSG_HDR_LEN..]) {
                    events.push(LinkEvent::New(link));
                }
            }
            k if k == libc::RTM_DELLINK => {
                if let Some(index) = u32_at(message, NLMSG_HDR_LEN + 4) {
                    events.push(LinkEvent::Deleted { index });
                }
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    (events, false)
}

/// An `ifinfomsg` and its attributes; `None` without an index or a name.
fn parse_link(body: &[u8]) -> Option<Link> {
    let index = u32_at(body, 4)?;
    let flags = u32_at(body, 8)?;
    let mut at = IFINFOMSG_LEN;
    let mut name = None;
    while let (Some(len), Some(kind)) = (u16_at(body, at), u16_at(body, at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            break;
        }
        let value = body.get(at + 4..at + len)?;
        if kind == IFLA_IFNAME {
            let text = value.split(|&b| b == 0).next().unwrap_or_default();
            name = Some(String::from_utf8_lossy(text).into_owned());
        }
        at += (len + 3) & !3;
    }
    let up_flags = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
    Some(Link {
        index,
        name: name.filter(|n| !n.is_empty())?,
        up: flags & up_flags == up_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, index: u32, flags: u32, name: Option<&str>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&[0, 0, 1, 0]);
        body.extend_from_slice(&index.to_ne_bytes());
        body.extend_from_slice(&flags.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        if let Some(name) = name {
            let value_len = name.len() + 1;
            body.extend_from_slice(&((4 + value_len) as u16).to_ne_bytes());
            body.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((NLMSG_HDR_LEN + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(&body);
        out
    }

    const UP: u32 = (libc::IFF_UP | libc::IFF_RUNNING) as u32;

    #[test]
    fn new_and_deleted_links_are_read_with_their_state() {
        let mut datagram = message(libc::RTM_NEWLINK, 7, UP, Some("eth1"));
        datagram.extend(message(
            libc::RTM_NEWLINK,
            8,
            libc::IFF_UP as u32,
            Some("eth2"),
        ));
        datagram.extend(message(libc::RTM_DELLINK, 9, 0, Some("eth3")));
        let (events, done) = parse_messages(&datagram);
        assert!(!done);
        assert_eq!(
            events,
            vec![
                LinkEvent::New(Link {
                    index: 7,
                    name: "eth1".into(),
                    up: true
                }),
                LinkEvent::New(Link {
                    index: 8,
                    name: "eth2".into(),
                    up: false
                }),
                LinkEvent::Deleted { index: 9 },
            ]
        );
    }

    #[test]
    fn a_dump_ends_at_done_and_a_link_without_a_name_is_skipped() {
        let mut datagram = message(libc::RTM_NEWLINK, 7, UP, None);
        datagram.extend(message(libc::NLMSG_DONE as u16, 0, 0, None));
        assert_eq!(parse_messages(&datagram), (Vec::new(), true));
    }

    #[test]
    fn every_truncation_is_read_without_panicking_and_yields_no_half_link() {
        let full = message(libc::RTM_NEWLINK, 7, UP, Some("eth1"));
        for cut in 0..full.len() {
            let (events, _) = parse_messages(&full[..cut]);
            assert!(events.is_empty(), "cut at {cut}: {events:?}");
        }
        let mut bad = full.clone();
        bad[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(parse_messages(&bad), (Vec::new(), false));
    }

    /// `lo` is in every namespace, up, with index 1.
    #[test]
    fn the_dump_lists_loopback() {
        let links = dump().expect("netlink link dump");
        let lo = links.iter().find(|l| l.name == "lo").expect("lo is listed");
        assert_eq!(lo.index, 1);
    }

    /// In a network namespace of this test thread's own: an interface added, brought up
    /// and deleted is seen by the monitor in that order.
    #[test]
    fn the_monitor_sees_a_link_come_up_and_go() {
        std::thread::spawn(|| {
            // SAFETY: unshare(2) takes no pointers; it moves only this thread to a new namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                eprintln!("skipped: unshare(CLONE_NEWNET) needs root");
                return;
            }
            let mut monitor = LinkMonitor::open().expect("monitor");
            let ip = |args: &[&str]| {
                let status = std::process::Command::new("ip").args(args).status();
                assert!(status.is_ok_and(|s| s.success()), "ip {args:?}");
            };
            // A veth pair (not every kernel has `dummy`): up with a carrier once both ends are.
            ip(&[
                "link", "add", "fdtest0", "type", "veth", "peer", "name", "fdtest1",
            ]);
            ip(&["link", "set", "fdtest1", "up"]);
            ip(&["link", "set", "fdtest0", "up"]);
            ip(&["link", "del", "fdtest0"]);
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let fdtest0_gone =
                |seen: &[LinkEvent]| seen.iter().any(|e| matches!(e, LinkEvent::Deleted { .. }));
            while !fdtest0_gone(&seen) && std::time::Instant::now() < deadline {
                match monitor.recv(Duration::from_millis(100)).expect("recv") {
                    Received::Events(events) => seen.extend(events),
                    Received::Overrun => panic!("overrun with three events"),
                }
            }
            let index = seen
                .iter()
                .find_map(|e| match e {
                    LinkEvent::New(l) if l.name == "fdtest0" => Some(l.index),
                    _ => None,
                })
                .expect("the new link");
            assert!(
                seen.contains(&LinkEvent::New(Link {
                    index,
                    name: "fdtest0".into(),
                    up: true
                })),
                "{seen:?}"
            );
            assert!(seen.contains(&LinkEvent::Deleted { index }), "{seen:?}");
        })
        .join()
        .expect("the namespace thread");
    }
}
