//! Batched datagram I/O: `recvmmsg(2)` and `sendmmsg(2)` over preallocated buffers, with the
//! packet-info control messages that carry a datagram's local address both ways.
//!
//! Contract: a batch allocates once, at construction; receiving and sending allocate nothing.
//! Each received datagram comes with its source address and, when the socket asked for
//! `IP_PKTINFO`/`IPV6_RECVPKTINFO`, the local address it was sent to; each datagram sent may
//! name the local address it must leave from (so a reply to a client comes from the address
//! the client queried, whatever the socket is bound to).

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;

/// Room for one `in_pktinfo` or `in6_pktinfo` control message, 8-byte aligned as cmsghdr needs.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct ControlBuf([u8; 64]);

/// Converts a socket address to the kernel's representation.
pub(crate) fn sockaddr_from(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Reads a socket address the kernel wrote; `None` for a family other than IPv4/IPv6.
fn sockaddr_to(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
            let sin: &libc::sockaddr_in = unsafe { &*(storage as *const _ as *const _) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6, and it is long enough.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(storage as *const _ as *const _) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain data (integers and raw pointers); all-zero is a valid value.
    unsafe { mem::zeroed() }
}

/// Up to `capacity` datagrams received with one `recvmmsg` call.
pub struct RecvBatch {
    buf_size: usize,
    data: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    control: Vec<ControlBuf>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: usize,
}

// SAFETY: the raw pointers inside `iovecs` and `headers` point only into the heap buffers this
// struct owns (never shared), so moving the whole batch to another thread is sound.
unsafe impl Send for RecvBatch {}

/// One received datagram.
#[derive(Debug)]
pub struct Received<'a> {
    pub data: &'a [u8],
    /// The sender; `None` if the kernel reported an address family other than IPv4/IPv6.
    pub source: Option<SocketAddr>,
    /// The local address it was sent to, if the socket asked for packet info.
    pub local: Option<IpAddr>,
    /// The datagram was longer than the buffer and was cut.
    pub truncated: bool,
}

impl RecvBatch {
    /// Room for `capacity` datagrams of up to `buf_size` bytes each.
    pub fn new(capacity: usize, buf_size: usize) -> RecvBatch {
        let capacity = capacity.max(1);
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let zero_addr: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut batch = RecvBatch {
            buf_size,
            data: vec![0; capacity * buf_size],
            addrs: vec![zero_addr; capacity],
            control: vec![ControlBuf([0; 64]); capacity],
            iovecs: Vec::with_capacity(capacity),
            headers: vec![zeroed_mmsghdr(); capacity],
            received: 0,
        };
        let base = batch.data.as_mut_ptr();
        for i in 0..capacity {
            batch.iovecs.push(libc::iovec {
                // SAFETY: i * buf_size is within `data`, which holds capacity * buf_size bytes.
                iov_base: unsafe { base.add(i * buf_size) }.cast(),
                iov_len: buf_size,
            });
        }
        for i in 0..capacity {
            let hdr = &mut batch.headers[i].msg_hdr;
            hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_iov = &mut batch.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = batch.control[i].0.as_mut_ptr().cast();
        }
        batch
    }

    pub fn capacity(&self) -> usize {
        self.headers.len()
    }

    /// Receives what is queued on `socket` without blocking, up to the capacity. `Ok(0)` means
    /// nothing was waiting.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        self.received = 0;
        for (i, header) in self.headers.iter_mut().enumerate() {
            header.msg_hdr.msg_namelen =
                mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_controllen = mem::size_of::<ControlBuf>() as _;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
            debug_assert_eq!(self.iovecs[i].iov_len, self.buf_size);
        }
        let fd: RawFd = socket.as_raw_fd();
        // SAFETY: every header points at buffers owned by `self` with the lengths set above;
        // the kernel writes at most those lengths. `self` is borrowed mutably for the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// How many datagrams the last [`RecvBatch::recv`] returned.
    pub fn len(&self) -> usize {
        self.received
    }

    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// The `i`th datagram of the last receive; `None` past [`RecvBatch::len`].
    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        if i >= self.received {
            return None;
        }
        let header = &self.headers[i];
        let len = (header.msg_len as usize).min(self.buf_size);
        let start = i * self.buf_size;
        Some(Received {
            data: &self.data[start..start + len],
            source: sockaddr_to(&self.addrs[i], header.msg_hdr.msg_namelen),
            local: self.local_of(i),
            truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }

    fn local_of(&self, i: usize) -> Option<IpAddr> {
        pktinfo_of(&self.headers[i].msg_hdr)
    }
}

/// The local address in a received message's `IP_PKTINFO`/`IPV6_PKTINFO`, if any. A control
/// message whose `cmsg_len` is too short for the structure its type names is passed over, never
/// read past.
fn pktinfo_of(hdr: &libc::msghdr) -> Option<IpAddr> {
    if hdr.msg_controllen == 0 || hdr.msg_control.is_null() {
        return None;
    }
    let holds = |c: &libc::cmsghdr, size: usize| {
        // SAFETY: CMSG_LEN is arithmetic on its argument.
        c.cmsg_len >= unsafe { libc::CMSG_LEN(size as u32) } as usize
    };
    // SAFETY: the CMSG_* helpers walk the control buffer within msg_controllen, which the
    // kernel set to what it wrote (never more than the buffer we gave it); a payload is read
    // only when its cmsg_len covers it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            if c.cmsg_level == libc::IPPROTO_IP
                && c.cmsg_type == libc::IP_PKTINFO
                && holds(c, std::mem::size_of::<libc::in_pktinfo>())
            {
                let info: libc::in_pktinfo = ptr::read_unaligned(data.cast());
                return Some(IpAddr::V4(Ipv4Addr::from(
                    info.ipi_addr.s_addr.to_ne_bytes(),
                )));
            }
            if c.cmsg_level == libc::IPPROTO_IPV6
                && c.cmsg_type == libc::IPV6_PKTINFO
                && holds(c, std::mem::size_of::<libc::in6_pktinfo>())
            {
                let info: libc::in6_pktinfo = ptr::read_unaligned(data.cast());
                return Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    None
}

/// Datagrams queued for one `sendmmsg` call, each with its destination and optionally the
/// local address it must leave from. Payloads are copied into one preallocated arena.
pub struct SendBatch {
    arena: Vec<u8>,
    used: usize,
    queued: usize,
    spans: Vec<(usize, usize)>,
    addrs: Vec<libc::sockaddr_storage>,
    addr_lens: Vec<libc::socklen_t>,
    control: Vec<ControlBuf>,
    control_lens: Vec<usize>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: as for RecvBatch: raw pointers point only into buffers this struct owns, and they
// are rebuilt right before each send.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Room for `capacity` datagrams totalling at most `arena_bytes` bytes (at least 65535, so
    /// the largest UDP payload always fits in an empty batch).
    pub fn new(capacity: usize, arena_bytes: usize) -> SendBatch {
        let capacity = capacity.max(1);
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let zero_addr: libc::sockaddr_storage = unsafe { mem::zeroed() };
        SendBatch {
            arena: vec![0; arena_bytes.max(65_535)],
            used: 0,
            queued: 0,
            spans: vec![(0, 0); capacity],
            addrs: vec![zero_addr; capacity],
            addr_lens: vec![0; capacity],
            control: vec![ControlBuf([0; 64]); capacity],
            control_lens: vec![0; capacity],
            iovecs: vec![
                libc::iovec {
                    iov_base: ptr::null_mut(),
                    iov_len: 0
                };
                capacity
            ],
            headers: vec![zeroed_mmsghdr(); capacity],
        }
    }

    pub fn len(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Whether a payload of `len` bytes fits without a flush first.
    pub fn has_room(&self, len: usize) -> bool {
        self.queued < self.headers.len() && self.used + len <= self.arena.len()
    }

    /// Queues `payload` for `dest` (`None`: the socket's connected peer, which spares the
    /// kernel a route lookup per datagram), leaving from `source` when given, and returns the
    /// queued copy so the caller can patch it (a DNS ID, say). `None` (nothing queued) when the
    /// batch is full: flush and push again.
    pub fn push(
        &mut self,
        payload: &[u8],
        dest: Option<SocketAddr>,
        source: Option<IpAddr>,
    ) -> Option<&mut [u8]> {
        self.push_prefixed(&[], payload, dest, source)
    }

    /// As [`push`](Self::push), for one datagram made of `prefix` then `payload` (a PROXY
    /// protocol header before a query), both copied into the arena; returns the queued copy of
    /// `payload` alone.
    pub fn push_prefixed(
        &mut self,
        prefix: &[u8],
        payload: &[u8],
        dest: Option<SocketAddr>,
        source: Option<IpAddr>,
    ) -> Option<&mut [u8]> {
        let len = prefix.len() + payload.len();
        if !self.has_room(len) {
            return None;
        }
        let i = self.queued;
        let start = self.used;
        let body = start + prefix.len();
        self.arena[start..body].copy_from_slice(prefix);
        self.arena[body..start + len].copy_from_slice(payload);
        self.spans[i] = (start, len);
        self.used += len;
        match dest {
            Some(dest) => {
                let (storage, len) = sockaddr_from(&dest);
                self.addrs[i] = storage;
                self.addr_lens[i] = len;
            }
            None => self.addr_lens[i] = 0,
        }
        self.control_lens[i] = match source {
            Some(ip) => write_pktinfo(&mut self.control[i], ip),
            None => 0,
        };
        self.queued += 1;
        Some(&mut self.arena[body..start + len])
    }

    /// Sends everything queued on `socket` and empties the batch. Returns how many datagrams
    /// the kernel took; the rest (socket buffer full, or an error for one destination) are
    /// dropped, as UDP may, and the caller counts them as `len() - sent`.
    pub fn flush(&mut self, socket: &impl AsRawFd) -> usize {
        let total = self.queued;
        let base = self.arena.as_mut_ptr();
        for i in 0..total {
            let (start, len) = self.spans[i];
            self.iovecs[i] = libc::iovec {
                // SAFETY: start + len lies within the arena (checked in push).
                iov_base: unsafe { base.add(start) }.cast(),
                iov_len: len,
            };
            let hdr = &mut self.headers[i].msg_hdr;
            hdr.msg_name = if self.addr_lens[i] == 0 {
                ptr::null_mut()
            } else {
                (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast()
            };
            hdr.msg_namelen = self.addr_lens[i];
            hdr.msg_iov = &mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            if self.control_lens[i] == 0 {
                hdr.msg_control = ptr::null_mut();
                hdr.msg_controllen = 0;
            } else {
                hdr.msg_control = self.control[i].0.as_mut_ptr().cast();
                hdr.msg_controllen = self.control_lens[i] as _;
            }
            hdr.msg_flags = 0;
        }
        let fd = socket.as_raw_fd();
        let mut done = 0;
        let mut failed = 0;
        while done < total {
            // SAFETY: headers[done..total] point at buffers owned by `self`, set up above.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers[done..].as_mut_ptr(),
                    (total - done) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                done += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            if n < 0 && err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if n < 0 && err.kind() == io::ErrorKind::WouldBlock {
                failed += total - done;
                break;
            }
            // The first remaining datagram failed on its own (no route, message too long):
            // skip it and carry on with the rest.
            done += 1;
            failed += 1;
        }
        self.queued = 0;
        self.used = 0;
        total - failed
    }
}

/// Writes an `IP_PKTINFO`/`IPV6_PKTINFO` control message selecting `source`; returns its space.
fn write_pktinfo(buf: &mut ControlBuf, source: IpAddr) -> usize {
    buf.0 = [0; 64];
    // SAFETY: the buffer is 64 bytes, 8-byte aligned; CMSG_SPACE of either pktinfo is at most
    // 40 bytes, so the header and the data written through CMSG_DATA stay inside it.
    unsafe {
        let hdr = buf.0.as_mut_ptr().cast::<libc::cmsghdr>();
        match source {
            IpAddr::V4(ip) => {
                let size = mem::size_of::<libc::in_pktinfo>() as libc::c_uint;
                (*hdr).cmsg_level = libc::IPPROTO_IP;
                (*hdr).cmsg_type = libc::IP_PKTINFO;
                (*hdr).cmsg_len = libc::CMSG_LEN(size) as _;
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(ip.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                ptr::write_unaligned(libc::CMSG_DATA(hdr).cast(), info);
                libc::CMSG_SPACE(size) as usize
            }
            IpAddr::V6(ip) => {
                let size = mem::size_of::<libc::in6_pktinfo>() as libc::c_uint;
                (*hdr).cmsg_level = libc::IPPROTO_IPV6;
                (*hdr).cmsg_type = libc::IPV6_PKTINFO;
                (*hdr).cmsg_len = libc::CMSG_LEN(size) as _;
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                ptr::write_unaligned(libc::CMSG_DATA(hdr).cast(), info);
                libc::CMSG_SPACE(size) as usize
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{bind_udp, UdpOptions};
    use std::time::{Duration, Instant};

    fn recv_at_least(
        batch: &mut RecvBatch,
        sock: &std::net::UdpSocket,
        want: usize,
    ) -> Vec<(Vec<u8>, SocketAddr, Option<IpAddr>)> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while got.len() < want && Instant::now() < deadline {
            let n = batch.recv(sock).unwrap();
            for i in 0..n {
                let r = batch.get(i).unwrap();
                got.push((r.data.to_vec(), r.source.unwrap(), r.local));
            }
            if n == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        got
    }

    #[test]
    fn batch_round_trip_with_local_addresses() {
        let pktinfo = UdpOptions {
            pktinfo: true,
            ..UdpOptions::default()
        };
        // A wildcard-bound receiver learns which of several local addresses each datagram hit.
        let receiver = bind_udp("0.0.0.0:0".parse().unwrap(), pktinfo).unwrap();
        let port = receiver.local_addr().unwrap().port();
        let sender = bind_udp("127.0.0.1:0".parse().unwrap(), UdpOptions::default()).unwrap();
        let mut out = SendBatch::new(8, 0);
        for (i, dst) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().enumerate() {
            let dest = SocketAddr::new(dst.parse().unwrap(), port);
            assert!(out.push(&[i as u8; 5], Some(dest), None).is_some());
        }
        assert_eq!(out.flush(&sender), 3);
        assert!(out.is_empty());
        let mut batch = RecvBatch::new(4, 512);
        let mut got = recv_at_least(&mut batch, &receiver, 3);
        got.sort();
        let locals: Vec<_> = got.iter().map(|g| g.2.unwrap().to_string()).collect();
        assert_eq!(locals, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
        assert_eq!(got[2].0, vec![2u8; 5]);
        assert_eq!(got[0].1, sender.local_addr().unwrap());

        // The reply names its source: it leaves from the address that was queried even though
        // the socket is bound to the wildcard.
        let mut reply = SendBatch::new(4, 0);
        for g in &got {
            assert!(reply.push(&g.0, Some(g.1), g.2).is_some());
        }
        assert_eq!(reply.flush(&receiver), 3);
        let mut back = RecvBatch::new(4, 512);
        let mut replies = recv_at_least(&mut back, &sender, 3);
        replies.sort();
        let sources: Vec<_> = replies.iter().map(|r| r.1.to_string()).collect();
        let want: Vec<_> = (1..=3).map(|i| format!("127.0.0.{i}:{port}")).collect();
        assert_eq!(sources, want);
    }

    #[test]
    fn a_connected_socket_sends_without_a_destination() {
        let receiver = bind_udp("127.0.0.1:0".parse().unwrap(), UdpOptions::default()).unwrap();
        let sender = bind_udp("127.0.0.1:0".parse().unwrap(), UdpOptions::default()).unwrap();
        sender.connect(receiver.local_addr().unwrap()).unwrap();
        let mut out = SendBatch::new(4, 0);
        for i in 0..3u8 {
            assert!(out.push(&[i], None, None).is_some());
        }
        assert_eq!(out.flush(&sender), 3);
        let mut batch = RecvBatch::new(4, 64);
        let got = recv_at_least(&mut batch, &receiver, 3);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|g| g.1 == sender.local_addr().unwrap()));
    }

    #[test]
    fn oversized_datagrams_are_flagged_truncated() {
        let receiver = bind_udp("127.0.0.1:0".parse().unwrap(), UdpOptions::default()).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(&[7u8; 100], receiver.local_addr().unwrap())
            .unwrap();
        let mut batch = RecvBatch::new(2, 40);
        let deadline = Instant::now() + Duration::from_secs(2);
        while batch.recv(&receiver).unwrap() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = batch.get(0).unwrap();
        assert!(r.truncated);
        assert_eq!(r.data.len(), 40);
        assert!(batch.get(1).is_none());
    }

    /// A control buffer with one `IP_PKTINFO` message whose `cmsg_len` says `len`.
    fn pktinfo_header(buf: &mut [u64; 8], len: usize) -> libc::msghdr {
        let size = std::mem::size_of::<libc::in_pktinfo>() as u32;
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_control = buf.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is arithmetic on its argument.
        hdr.msg_controllen = unsafe { libc::CMSG_SPACE(size) } as _;
        // SAFETY: the buffer (64 bytes, 8-aligned) holds a cmsghdr and an in_pktinfo.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::IPPROTO_IP;
            (*c).cmsg_type = libc::IP_PKTINFO;
            (*c).cmsg_len = len as _;
            let info = libc::in_pktinfo {
                ipi_ifindex: 1,
                ipi_spec_dst: libc::in_addr { s_addr: 0 },
                ipi_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes([10, 235, 210, 1]),
                },
            };
            ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
        }
        hdr
    }

    #[test]
    fn pktinfo_is_read_only_when_its_length_covers_it() {
        let size = std::mem::size_of::<libc::in_pktinfo>() as u32;
        // SAFETY: CMSG_LEN is arithmetic on its argument.
        let full = unsafe { libc::CMSG_LEN(size) } as usize;
        let mut buf = [0u64; 8];
        let hdr = pktinfo_header(&mut buf, full);
        assert_eq!(
            pktinfo_of(&hdr),
            Some(IpAddr::V4(Ipv4Addr::new(10, 235, 210, 1)))
        );
        let mut buf = [0u64; 8];
        let short = pktinfo_header(&mut buf, full - 4);
        assert_eq!(pktinfo_of(&short), None);
    }

    #[test]
    fn a_full_batch_refuses_more() {
        let mut out = SendBatch::new(2, 0);
        let dest = Some("127.0.0.1:9".parse().unwrap());
        assert!(out.push(b"a", dest, None).is_some());
        let copy = out.push(b"b", dest, None).unwrap();
        copy[0] = b'B';
        assert!(out.push(b"c", dest, None).is_none());
        let mut big = SendBatch::new(4, 0);
        assert!(big.push(&[0u8; 65_535], dest, None).is_some());
        assert!(big.push(b"x", dest, None).is_none(), "arena full");
    }

    #[test]
    fn sockaddr_round_trip() {
        for text in ["127.0.0.1:53", "[::1]:5353", "[fe80::1%2]:1"] {
            let addr: SocketAddr = text.parse().unwrap();
            let (storage, len) = sockaddr_from(&addr);
            assert_eq!(sockaddr_to(&storage, len), Some(addr));
        }
    }
}
