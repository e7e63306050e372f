//! `AF_PACKET` sockets with memory-mapped `TPACKET_V2` receive and transmit rings, bound to one
//! interface, optionally in a `PACKET_FANOUT` group so several worker threads share its traffic
//! (the kernel's flow hash keeps every frame of one flow on one worker).
//!
//! Contract: [`PacketSocket::open`] either returns a socket whose rings are mapped and which
//! receives every frame of the interface (promiscuous if asked, never its own transmissions),
//! or the kernel's error with what was being done. [`PacketSocket::process`] hands each ready
//! receive slot to a closure as a byte slice, together with a [`TxRing`] the closure may fill
//! transmit slots through; the slot goes back to the kernel when the closure returns, and
//! queued transmissions are flushed with one `send` per batch. Frames cut short by the ring's
//! slot size are reported as truncated, never read past their captured length.

mod iface;
#[cfg(test)]
mod link_tests;
mod raw_ip;
mod sender;

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

pub use iface::{interface_index, interface_mac, local_ipv4_addrs, local_ipv6_addrs};
pub use raw_ip::{RawIpv4Sender, RawIpv6Sender};
pub use sender::FrameSender;

/// `TP_STATUS_*` values of a `tpacket2_hdr` (linux/if_packet.h).
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// The frame's transport checksum is left to hardware (only the pseudo-header sum is there).
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_SENDING: u32 = 2;

/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`: where the `sockaddr_ll` sits in a receive
/// slot, and where a transmit slot's frame data starts (the kernel's `tp_hdrlen -
/// sizeof(sockaddr_ll)` for `TPACKET_V2`).
const TPACKET2_HDR_ALIGNED: usize = 32;
/// Offset of `sll_pkttype` inside `struct sockaddr_ll`.
const SLL_PKTTYPE_OFFSET: usize = 10;
const PAGE: usize = 4096;

/// Ring sizes and membership of a [`PacketSocket`].
#[derive(Debug, Clone, Copy)]
pub struct PacketOptions {
    /// Bytes per ring slot (a multiple of 16, at most one block); frames longer than the slot
    /// minus its header are captured truncated.
    pub frame_size: usize,
    /// Receive slots (rounded up to whole blocks).
    pub rx_frames: usize,
    /// Transmit slots (rounded up to whole blocks); 0 for no transmit ring.
    pub tx_frames: usize,
    /// Join this `PACKET_FANOUT` group (hash mode with defragmentation, so all fragments of a
    /// datagram reach one socket).
    pub fanout_group: Option<u16>,
    /// Receive frames for other MAC addresses (needed to receive a virtual MAC on a real NIC).
    pub promiscuous: bool,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions {
            frame_size: 2048,
            rx_frames: 1024,
            tx_frames: 512,
            fanout_group: None,
            promiscuous: true,
        }
    }
}

/// Ring geometry: `block_size` bytes per block, `frames` slots of `frame_size` bytes in all.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    block_size: usize,
    blocks: usize,
    frame_size: usize,
    frames: usize,
}

impl Geometry {
    fn new(frame_size: usize, frames: usize) -> Geometry {
        let block_size = (PAGE * 16).max(frame_size.next_power_of_two());
        let per_block = block_size / frame_size;
        let blocks = frames.div_ceil(per_block).max(1);
        Geometry {
            block_size,
            blocks,
            frame_size,
            frames: blocks * per_block,
        }
    }

    fn bytes(&self) -> usize {
        self.block_size * self.blocks
    }

    fn request(&self) -> libc::tpacket_req {
        libc::tpacket_req {
            tp_block_size: self.block_size as u32,
            tp_block_nr: self.blocks as u32,
            tp_frame_size: self.frame_size as u32,
            tp_frame_nr: self.frames as u32,
        }
    }

    /// Byte offset of slot `index` (frames never straddle blocks).
    fn offset(&self, index: usize) -> usize {
        let per_block = self.block_size / self.frame_size;
        (index / per_block) * self.block_size + (index % per_block) * self.frame_size
    }
}

/// How the kernel saw a received frame (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Addressed to this interface's own MAC.
    Host,
    Broadcast,
    Multicast,
    /// Addressed to another MAC (a virtual MAC among them): the kernel's IP stack ignores it.
    OtherHost,
    /// Sent by this host (only seen when another socket transmitted it).
    Outgoing,
    Unknown(u8),
}

impl PacketType {
    fn from_raw(raw: u8) -> PacketType {
        match raw {
            0 => PacketType::Host,
            1 => PacketType::Broadcast,
            2 => PacketType::Multicast,
            3 => PacketType::OtherHost,
            4 => PacketType::Outgoing,
            other => PacketType::Unknown(other),
        }
    }
}

/// One received frame, valid for the duration of the callback.
#[derive(Debug)]
pub struct RxFrame<'a> {
    /// The captured bytes, starting at the Ethernet header.
    pub data: &'a [u8],
    /// The frame's length on the wire; larger than `data.len()` when the slot cut it short.
    pub wire_len: usize,
    pub packet_type: PacketType,
    /// The UDP/TCP checksum is not filled in yet (the sender offloaded it): complete it before
    /// sending the frame anywhere.
    pub checksum_incomplete: bool,
}

impl RxFrame<'_> {
    pub fn is_truncated(&self) -> bool {
        self.wire_len > self.data.len()
    }
}

/// The transmit ring, as seen by a receive callback.
pub struct TxRing {
    base: Option<NonNull<u8>>,
    geometry: Geometry,
    next: usize,
    queued: usize,
}

impl TxRing {
    /// Largest frame a slot holds.
    pub fn max_frame(&self) -> usize {
        self.geometry.frame_size - TPACKET2_HDR_ALIGNED
    }

    /// Queues one frame of `len` bytes written by `fill`. False (nothing queued) when the ring
    /// is full, has no slots, or `len` does not fit a slot.
    pub fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        let Some(base) = self.base else {
            return false;
        };
        if len == 0 || len > self.max_frame() || self.geometry.frames == 0 {
            return false;
        }
        // SAFETY: the slot lies inside the mapped transmit area (offset < bytes()); the header
        // is 4-byte aligned (slots are 16-byte aligned), and the kernel only reads it while the
        // status says SEND_REQUEST/SENDING, which we check with acquire ordering first.
        unsafe {
            let slot = base.as_ptr().add(self.geometry.offset(self.next));
            let status = &*(slot as *const AtomicU32);
            let state = status.load(Ordering::Acquire);
            if state & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
                return false;
            }
            let data = std::slice::from_raw_parts_mut(slot.add(TPACKET2_HDR_ALIGNED), len);
            fill(data);
            let header = slot as *mut libc::tpacket2_hdr;
            std::ptr::addr_of_mut!((*header).tp_len).write_volatile(len as u32);
            // A slot the kernel refused earlier (WRONG_FORMAT) is simply reused.
            status.store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        }
        self.next = (self.next + 1) % self.geometry.frames;
        self.queued += 1;
        true
    }
}

/// An `AF_PACKET` socket on one interface with its rings mapped.
pub struct PacketSocket {
    fd: OwnedFd,
    map: NonNull<u8>,
    map_len: usize,
    rx: Geometry,
    rx_next: usize,
    tx: TxRing,
    ifindex: u32,
}

// SAFETY: the mapping is owned by this value alone; moving it to another thread moves the only
// handle to the rings.
unsafe impl Send for PacketSocket {}

fn check(ret: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(ret)
}

fn setsockopt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size passed.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    };
    check(ret, what).map(|_| ())
}

impl PacketSocket {
    /// Opens `ifname` (needs `CAP_NET_RAW`).
    pub fn open(ifname: &str, options: PacketOptions) -> io::Result<PacketSocket> {
        let ifindex = interface_index(ifname)?;
        let frame_size = options.frame_size.max(256).next_multiple_of(16);
        // Protocol 0: no frame is queued before the rings exist and the socket is bound.
        // SAFETY: plain socket(2) call; the descriptor is owned below.
        let raw = check(
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) },
            "socket(AF_PACKET)",
        )?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let version: libc::c_int = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &version,
            "PACKET_VERSION",
        )?;
        let one: libc::c_int = 1;
        // Our own transmissions must not come back to us as received frames.
        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &one,
            "PACKET_IGNORE_OUTGOING",
        )?;
        if options.tx_frames > 0 {
            // A frame the device refuses (longer than its MTU) is dropped and the walk goes on;
            // without this the kernel leaves it WRONG_FORMAT at the ring's head and sends
            // nothing after it again. Only settable before the rings exist.
            setsockopt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_LOSS,
                &one,
                "PACKET_LOSS",
            )?;
        }
        let rx = Geometry::new(frame_size, options.rx_frames.max(1));
        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &rx.request(),
            "PACKET_RX_RING",
        )?;
        let tx = Geometry::new(frame_size, options.tx_frames.max(1));
        let has_tx = options.tx_frames > 0;
        if has_tx {
            setsockopt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_TX_RING,
                &tx.request(),
                "PACKET_TX_RING",
            )?;
        }
        let map_len = rx.bytes() + if has_tx { tx.bytes() } else { 0 };
        // No MAP_LOCKED: the ring pages are the kernel's own (inserted into the mapping at mmap
        // time, never on the LRU), so locking adds nothing but RLIMIT_MEMLOCK accounting, which
        // fails (EAGAIN) for the unprivileged service user holding only the unit's capabilities.
        // SAFETY: mapping the rings just configured on `fd`; the result is checked.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("mmap of the packet rings: {e}"),
            ));
        }
        let map = NonNull::new(map as *mut u8)
            .ok_or_else(|| io::Error::other("mmap of the packet rings returned null"))?;
        let tx_base = if has_tx {
            // SAFETY: the transmit ring follows the receive ring inside the mapping.
            NonNull::new(unsafe { map.as_ptr().add(rx.bytes()) })
        } else {
            None
        };
        let socket = PacketSocket {
            fd,
            map,
            map_len,
            rx,
            rx_next: 0,
            tx: TxRing {
                base: tx_base,
                geometry: tx,
                next: 0,
                queued: 0,
            },
            ifindex,
        };
        socket.bind(ifindex)?;
        if options.promiscuous {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as libc::c_int,
                mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(
                &socket.fd,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mreq,
                "PACKET_ADD_MEMBERSHIP(promisc)",
            )?;
        }
        if let Some(group) = options.fanout_group {
            let mode = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
            let arg: u32 = u32::from(group) | (mode << 16);
            setsockopt(
                &socket.fd,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                &arg,
                "PACKET_FANOUT",
            )?;
        }
        Ok(socket)
    }

    fn bind(&self, ifindex: u32) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a valid sockaddr_ll of the size passed.
        let ret = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        check(ret, "bind(AF_PACKET)").map(|_| ())
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface's MTU now (the longest IP packet one frame may carry).
    pub fn mtu(&self) -> io::Result<usize> {
        // SAFETY: an all-zero ifreq is valid; the name is set below.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: `name` has room for IF_NAMESIZE bytes, what if_indextoname writes at most.
        if unsafe { libc::if_indextoname(self.ifindex, name.as_mut_ptr()) }.is_null() {
            return Err(io::Error::last_os_error());
        }
        let name_len = request.ifr_name.len();
        request.ifr_name.copy_from_slice(&name[..name_len]);
        // SAFETY: SIOCGIFMTU reads the name and writes the MTU into the ifreq passed.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SIOCGIFMTU as _,
                &mut request as *mut libc::ifreq,
            )
        };
        check(ret, "SIOCGIFMTU")?;
        // SAFETY: the kernel filled the union's MTU member.
        let mtu = unsafe { request.ifr_ifru.ifru_mtu };
        usize::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
    }

    /// Waits up to `timeout_ms` for a received frame; true if one is ready. A pending socket
    /// error (the interface went down: `ENETDOWN`) is returned as the error and cleared, so the
    /// next wait blocks again instead of returning at once for ever.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        if self.rx_ready() {
            return Ok(true);
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ret = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        if ret > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(self
                .take_error()
                .unwrap_or_else(|| io::Error::other(format!("poll: revents {:#x}", pfd.revents))));
        }
        Ok(ret > 0)
    }

    /// Reads and clears the socket's pending error (`SO_ERROR`), if it has one.
    pub fn take_error(&self) -> Option<io::Error> {
        let mut error: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `error` and `len` are valid for writing of the size passed.
        let ret = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut error as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        if ret < 0 {
            return Some(io::Error::last_os_error());
        }
        (error != 0).then(|| io::Error::from_raw_os_error(error))
    }

    fn rx_slot(&self, index: usize) -> *mut u8 {
        // SAFETY: offset(index) < rx.bytes() <= map_len for index < rx.frames.
        unsafe { self.map.as_ptr().add(self.rx.offset(index)) }
    }

    fn rx_status(&self, index: usize) -> &AtomicU32 {
        // SAFETY: the status word is the first, 4-byte aligned field of the slot's header.
        unsafe { &*(self.rx_slot(index) as *const AtomicU32) }
    }

    fn rx_ready(&self) -> bool {
        self.rx_status(self.rx_next).load(Ordering::Acquire) & TP_STATUS_USER != 0
    }

    /// Hands up to `max` ready frames to `handle`, returns each slot to the kernel after its
    /// call, then flushes what `handle` queued on the transmit ring. Returns the frames seen.
    pub fn process(
        &mut self,
        max: usize,
        mut handle: impl FnMut(RxFrame<'_>, &mut TxRing),
    ) -> io::Result<usize> {
        let mut seen = 0;
        while seen < max && self.rx_ready() {
            let slot = self.rx_slot(self.rx_next);
            let slot_len = self.rx.frame_size;
            // SAFETY: the kernel handed this slot to us (TP_STATUS_USER, acquire); until we
            // store TP_STATUS_KERNEL it does not write to it. Offsets read from the header are
            // checked against the slot length before any slice is made.
            let frame = unsafe {
                let header = &*(slot as *const libc::tpacket2_hdr);
                let mac = usize::from(header.tp_mac);
                let snaplen = header.tp_snaplen as usize;
                let wire_len = header.tp_len as usize;
                let pkttype = *slot.add(TPACKET2_HDR_ALIGNED + SLL_PKTTYPE_OFFSET);
                let status = header.tp_status;
                let captured = if mac <= slot_len {
                    snaplen.min(slot_len - mac)
                } else {
                    0
                };
                RxFrame {
                    data: std::slice::from_raw_parts(slot.add(mac.min(slot_len)), captured),
                    wire_len: wire_len.max(captured),
                    packet_type: PacketType::from_raw(pkttype),
                    checksum_incomplete: status & TP_STATUS_CSUMNOTREADY != 0,
                }
            };
            handle(frame, &mut self.tx);
            self.rx_status(self.rx_next)
                .store(TP_STATUS_KERNEL, Ordering::Release);
            self.rx_next = (self.rx_next + 1) % self.rx.frames;
            seen += 1;
        }
        self.flush()?;
        Ok(seen)
    }

    /// Queues one frame outside a receive callback (ARP requests from the control path).
    pub fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> io::Result<bool> {
        let queued = self.tx.send(len, fill);
        self.flush()?;
        Ok(queued)
    }

    /// Asks the kernel to transmit every queued slot.
    fn flush(&mut self) -> io::Result<()> {
        if self.tx.queued == 0 {
            return Ok(());
        }
        self.tx.queued = 0;
        // SAFETY: a zero-length send with no buffer: the kernel walks the transmit ring.
        let ret =
            unsafe { libc::send(self.fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            // The ring is drained later; a full device queue is not an error of ours.
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) || e.raw_os_error() == Some(libc::ENOBUFS)
            {
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    }

    /// Frames the kernel dropped because the receive ring was full, since the last call.
    pub fn take_ring_drops(&self) -> io::Result<u64> {
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `stats` and `len` are valid for writing of the size passed.
        let ret = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut stats as *mut libc::tpacket_stats as *mut libc::c_void,
                &mut len,
            )
        };
        check(ret, "PACKET_STATISTICS")?;
        Ok(u64::from(stats.tp_drops))
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `open`; nothing refers to it any more
        // (callbacks' slices cannot outlive `process`).
        unsafe {
            libc::munmap(self.map.as_ptr() as *mut libc::c_void, self.map_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_never_straddles_blocks() {
        let g = Geometry::new(2048, 1000);
        assert_eq!(g.block_size % PAGE, 0);
        assert!(g.frames >= 1000);
        assert_eq!(g.frames, g.blocks * (g.block_size / 2048));
        for i in 0..g.frames {
            let start = g.offset(i);
            assert_eq!(start / g.block_size, (start + 2047) / g.block_size);
            assert!(start + 2048 <= g.bytes());
        }
    }

    #[test]
    fn packet_types_map_from_the_kernel_values() {
        assert_eq!(PacketType::from_raw(3), PacketType::OtherHost);
        assert_eq!(PacketType::from_raw(0), PacketType::Host);
        assert_eq!(PacketType::from_raw(9), PacketType::Unknown(9));
    }

    /// Loopback needs no namespace: a frame sent on `lo` through the transmit ring comes back
    /// on the receive ring of a second socket.
    #[test]
    fn loopback_round_trip_through_the_rings() {
        // SAFETY: geteuid(2) takes no arguments and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            panic!("this test needs root (CAP_NET_RAW) to open AF_PACKET sockets");
        }
        let options = PacketOptions {
            rx_frames: 64,
            tx_frames: 64,
            promiscuous: false,
            ..PacketOptions::default()
        };
        let mut rx = PacketSocket::open("lo", options).unwrap();
        let mut tx = PacketSocket::open("lo", options).unwrap();
        let marker = *b"fulcrum-ring-test";
        let mut frame = vec![0u8; 14 + marker.len()];
        frame[12] = 0x88; // local experimental EtherType 0x88b5
        frame[13] = 0xb5;
        frame[14..].copy_from_slice(&marker);
        assert!(tx
            .send(frame.len(), |buf| buf.copy_from_slice(&frame))
            .unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut found = false;
        while !found && std::time::Instant::now() < deadline {
            rx.wait(100).unwrap();
            rx.process(64, |f, _| {
                if f.data.ends_with(&marker) {
                    found = true;
                }
            })
            .unwrap();
        }
        assert!(found, "the frame sent on lo never reached the receive ring");
        assert_eq!(tx.ifindex(), 1);
    }
}
