//! An AF_XDP socket on one receive queue of one interface, with its own UMEM: the frames the
//! XDP program redirects to it arrive in the UMEM without a copy to an skb, and frames written
//! into the UMEM leave through the same interface.
//!
//! Contract: [`XskSocket::open`] registers a UMEM of `rx_frames + tx_frames` chunks, maps the
//! four rings and binds to `(ifindex, queue)` with `XDP_USE_NEED_WAKEUP`, in zero-copy mode
//! where the driver offers it and copy mode otherwise. The receive chunks circulate between the
//! fill ring and the receive ring: [`XskSocket::process`] hands each received frame to a
//! closure, then gives its chunk straight back to the fill ring; the transmit chunks circulate
//! between a free list, the transmit ring and the completion ring. Per batch, not per frame:
//! one pass over each ring's shared indices, and one `sendto` only when the kernel set the
//! transmit ring's need-wakeup flag (copy mode and most drivers). [`XskSocket::wait`] returns
//! at once while frames are ready and `poll`s only when the receive ring is empty.

mod ring;
mod uapi;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use ring::Ring;
use uapi::*;

/// At most this many `sendto` per flush: a 2048-entry ring in copy mode's default budget of 32.
const MAX_KICKS: usize = 64;

/// Bytes per UMEM chunk: one Ethernet frame up to the 1500-byte MTU with the kernel's headroom.
pub const FRAME_SIZE: u32 = 2048;

/// Ring and UMEM sizes of one socket (each a power of two).
#[derive(Debug, Clone, Copy)]
pub struct XskOptions {
    pub rx_frames: u32,
    pub tx_frames: u32,
}

impl Default for XskOptions {
    fn default() -> Self {
        // 4096 receive chunks: the same order of buffering as the AF_PACKET plane's 8192 slots
        // at 2 KB, since the kernel drops (rx_ring_full) while the worker is off the CPU.
        XskOptions {
            rx_frames: 4096,
            tx_frames: 2048,
        }
    }
}

/// Opens and closes an AF_XDP socket: whether the kernel has them and this process may.
pub fn probe_socket() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the descriptor is owned (and closed) right after.
    let raw = check(
        unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) },
        "socket(AF_XDP)",
    )?;
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
    Ok(())
}

/// An AF_XDP socket with its UMEM and rings.
pub struct XskSocket {
    // Field order is drop order: the rings are unmapped before the socket closes.
    fill: Ring<u64>,
    rx: Ring<XdpDesc>,
    tx: XskTx,
    fd: OwnedFd,
    umem: NonNull<u8>,
    umem_len: usize,
    ifindex: u32,
    queue: u32,
    /// The kernel's cumulative drop counters at the last [`XskSocket::take_ring_drops`].
    drops_seen: u64,
}

// SAFETY: the UMEM and ring mappings are owned by this value alone; moving it moves the only
// handle to them.
unsafe impl Send for XskSocket {}

/// The transmit side, as seen by a receive callback: free chunks, the transmit ring and the
/// completion ring that returns chunks once the kernel sent them.
pub struct XskTx {
    ring: Ring<XdpDesc>,
    completion: Ring<u64>,
    umem: NonNull<u8>,
    free: Vec<u64>,
    /// Entries written to the ring and not yet submitted.
    queued: u32,
}

fn check(ret: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(ret)
}

fn setsockopt<T>(fd: &OwnedFd, name: libc::c_int, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size passed.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_XDP,
            name,
            value as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    };
    check(ret, what).map(|_| ())
}

fn getsockopt<T: Default>(fd: &OwnedFd, name: libc::c_int, what: &str) -> io::Result<T> {
    let mut value = T::default();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writing of the size passed.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_XDP,
            name,
            &mut value as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    check(ret, what)?;
    Ok(value)
}

impl XskSocket {
    /// Opens a socket on queue `queue` of the interface `ifindex` (needs `CAP_NET_RAW` and
    /// `CAP_BPF`-level privileges, as the XDP program does).
    pub fn open(ifindex: u32, queue: u32, options: XskOptions) -> io::Result<XskSocket> {
        let rx_frames = options.rx_frames.max(64).next_power_of_two();
        let tx_frames = options.tx_frames.max(64).next_power_of_two();
        // SAFETY: plain socket(2) call; the descriptor is owned right after.
        let raw = check(
            unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) },
            "socket(AF_XDP)",
        )?;
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem_len = (rx_frames + tx_frames) as usize * FRAME_SIZE as usize;
        // SAFETY: a fresh private anonymous mapping; checked below.
        let area = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                umem_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if area == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("mmap(UMEM): {e}")));
        }
        // SAFETY: a successful mapping is never null.
        let umem = unsafe { NonNull::new_unchecked(area as *mut u8) };
        let unmap_on_error = |e: io::Error| {
            // SAFETY: the mapping made above, which nothing else refers to yet.
            unsafe { libc::munmap(area, umem_len) };
            e
        };
        let sockets = (|| {
            let reg = UmemReg {
                addr: area as u64,
                len: umem_len as u64,
                chunk_size: FRAME_SIZE,
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            setsockopt(&fd, XDP_UMEM_REG, &reg, "XDP_UMEM_REG")?;
            setsockopt(&fd, XDP_UMEM_FILL_RING, &rx_frames, "XDP_UMEM_FILL_RING")?;
            setsockopt(
                &fd,
                XDP_UMEM_COMPLETION_RING,
                &tx_frames,
                "XDP_UMEM_COMPLETION_RING",
            )?;
            setsockopt(&fd, XDP_RX_RING, &rx_frames, "XDP_RX_RING")?;
            setsockopt(&fd, XDP_TX_RING, &tx_frames, "XDP_TX_RING")?;
            let offsets: MmapOffsets = getsockopt(&fd, XDP_MMAP_OFFSETS, "XDP_MMAP_OFFSETS")?;
            let mut fill =
                Ring::<u64>::map(&fd, offsets.fill, rx_frames, XDP_UMEM_PGOFF_FILL_RING)?;
            let completion = Ring::<u64>::map(
                &fd,
                offsets.completion,
                tx_frames,
                XDP_UMEM_PGOFF_COMPLETION_RING,
            )?;
            let rx = Ring::<XdpDesc>::map(&fd, offsets.rx, rx_frames, XDP_PGOFF_RX_RING)?;
            let tx = Ring::<XdpDesc>::map(&fd, offsets.tx, tx_frames, XDP_PGOFF_TX_RING)?;
            // Copy mode sends at most a budget of frames per `sendto` (32 by default): as many
            // as the ring holds where the kernel lets us choose; the kicks in `flush` cover the
            // kernels that do not.
            let _ = setsockopt(
                &fd,
                XDP_MAX_TX_SKB_BUDGET,
                &tx_frames,
                "XDP_MAX_TX_SKB_BUDGET",
            );
            // The first `rx_frames` chunks receive; the rest transmit.
            let granted = fill.reserve(rx_frames);
            for n in 0..granted {
                fill.write(n, u64::from(n) * u64::from(FRAME_SIZE));
            }
            fill.submit(granted);
            let free = (rx_frames..rx_frames + tx_frames)
                .map(|n| u64::from(n) * u64::from(FRAME_SIZE))
                .collect();
            let address = SockaddrXdp {
                family: AF_XDP as u16,
                flags: XDP_USE_NEED_WAKEUP,
                ifindex,
                queue_id: queue,
                shared_umem_fd: 0,
            };
            // SAFETY: `address` is a live sockaddr_xdp of the size passed.
            let ret = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    &address as *const SockaddrXdp as *const libc::sockaddr,
                    size_of::<SockaddrXdp>() as libc::socklen_t,
                )
            };
            check(ret, &format!("bind(AF_XDP, queue {queue})"))?;
            Ok((fill, completion, rx, tx, free))
        })();
        let (fill, completion, rx, tx, free) = sockets.map_err(unmap_on_error)?;
        Ok(XskSocket {
            fill,
            rx,
            tx: XskTx {
                ring: tx,
                completion,
                umem,
                free,
                queued: 0,
            },
            fd,
            umem,
            umem_len,
            ifindex,
            queue,
            drops_seen: 0,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Waits up to `timeout_ms` for received frames; true when some are ready. No system call
    /// while the receive ring holds frames.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<bool> {
        if self.rx.peek(1) > 0 {
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
        Ok(self.rx.peek(1) > 0)
    }

    /// Hands up to `max` received frames to `handle` (the bytes from the Ethernet header on),
    /// returns their chunks to the fill ring, then sends what `handle` queued. Returns the
    /// frames seen.
    pub fn process(
        &mut self,
        max: u32,
        mut handle: impl FnMut(&[u8], &mut XskTx),
    ) -> io::Result<usize> {
        self.tx.reclaim();
        let ready = self.rx.peek(max);
        // The fill ring holds every receive chunk not in flight, so it has room for these.
        let room = self.fill.reserve(ready);
        for n in 0..ready {
            let desc = self.rx.read(n);
            let umem_len = self.umem_len as u64;
            let valid = desc
                .addr
                .checked_add(u64::from(desc.len))
                .is_some_and(|end| end <= umem_len);
            if valid {
                // SAFETY: the kernel filled this chunk and handed it over (acquire in `peek`);
                // the bounds were checked against the UMEM above; it is not written until it
                // goes back to the fill ring below, after `handle` returned.
                let frame = unsafe {
                    std::slice::from_raw_parts(
                        self.umem.as_ptr().add(desc.addr as usize),
                        desc.len as usize,
                    )
                };
                handle(frame, &mut self.tx);
            }
            if n < room {
                // The chunk's start: in aligned mode the kernel may report an offset into it.
                self.fill.write(n, desc.addr & !u64::from(FRAME_SIZE - 1));
            }
        }
        self.rx.release(ready);
        self.fill.submit(room.min(ready));
        if ready > 0 && self.fill.needs_wakeup() {
            self.kick_rx();
        }
        self.flush()?;
        Ok(ready as usize)
    }

    /// Queues one frame outside a receive callback and sends it.
    pub fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> io::Result<bool> {
        self.tx.reclaim();
        let queued = self.tx.send(len, fill);
        self.flush()?;
        Ok(queued)
    }

    /// Publishes the queued transmit descriptors and, while the kernel asks for it (copy mode
    /// and most drivers), kicks it with `sendto` until it took them all: copy mode sends at most
    /// its budget per call. One call per batch where the budget covers the batch.
    fn flush(&mut self) -> io::Result<()> {
        if self.tx.queued == 0 {
            return Ok(());
        }
        self.tx.ring.submit(self.tx.queued);
        self.tx.queued = 0;
        // Bounded: a ring's worth of 32-frame budgets.
        for _ in 0..MAX_KICKS {
            if !self.tx.ring.needs_wakeup() || self.tx.ring.outstanding() == 0 {
                break;
            }
            if !self.kick_tx()? {
                break;
            }
        }
        Ok(())
    }

    /// One `sendto`; false when the kernel cannot take more now.
    fn kick_tx(&mut self) -> io::Result<bool> {
        // SAFETY: a zero-length sendto with no buffer: the kernel walks the transmit ring.
        let ret = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if ret < 0 {
            let e = io::Error::last_os_error();
            // A busy device queue: the ring is walked on the next kick.
            if matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN | libc::EINTR)
            ) {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(true)
    }

    /// Lets a driver that sleeps with an empty fill ring refill its queue.
    fn kick_rx(&self) {
        // SAFETY: a zero-length non-blocking recvfrom with no buffer.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }

    /// Frames the kernel dropped for this socket (receive ring full, no fill chunk, too long
    /// for a chunk) since the last call.
    pub fn take_ring_drops(&mut self) -> io::Result<u64> {
        let stats: XdpStatistics = getsockopt(&self.fd, XDP_STATISTICS, "XDP_STATISTICS")?;
        // A frame that found the fill ring empty is counted both in `rx_dropped` and in
        // `rx_fill_ring_empty_descs`: the first alone, with the full receive ring's.
        let total = stats.rx_dropped + stats.rx_ring_full;
        let new = total.saturating_sub(self.drops_seen);
        self.drops_seen = total;
        Ok(new)
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl XskTx {
    /// Takes back the chunks the kernel finished sending.
    fn reclaim(&mut self) {
        let done = self.completion.peek(u32::MAX);
        for n in 0..done {
            let addr = self.completion.read(n) & !u64::from(FRAME_SIZE - 1);
            self.free.push(addr);
        }
        self.completion.release(done);
    }

    /// Largest frame a chunk holds.
    pub fn max_frame(&self) -> usize {
        FRAME_SIZE as usize
    }

    /// Queues one frame of `len` bytes written by `fill`. False (nothing queued) when no chunk
    /// or ring slot is free or `len` does not fit a chunk.
    pub fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        if len == 0 || len > self.max_frame() {
            return false;
        }
        if self.ring.reserve(self.queued + 1) <= self.queued {
            return false;
        }
        if self.free.is_empty() {
            self.reclaim();
        }
        let Some(addr) = self.free.pop() else {
            return false;
        };
        // SAFETY: `addr` is a transmit chunk on the free list: inside the UMEM (made so in
        // `open`), not in any ring, so neither the kernel nor a receive slice refers to it.
        let out =
            unsafe { std::slice::from_raw_parts_mut(self.umem.as_ptr().add(addr as usize), len) };
        fill(out);
        self.ring.write(
            self.queued,
            XdpDesc {
                addr,
                len: len as u32,
                options: 0,
            },
        );
        self.queued += 1;
        true
    }
}

impl Drop for XskSocket {
    fn drop(&mut self) {
        // This body runs before the fields drop (the rings unmap, then the socket closes): the
        // UMEM goes first, which is sound because the kernel pinned its pages at registration
        // and holds them until the socket is closed.
        // SAFETY: unmapping the UMEM mapped in `open`; no slice into it outlives `process` or
        // `send`, and no `XskTx` exists apart from this socket.
        unsafe {
            libc::munmap(self.umem.as_ptr() as *mut libc::c_void, self.umem_len);
        }
    }
}
