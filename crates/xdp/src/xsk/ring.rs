//! One of an AF_XDP socket's four single-producer single-consumer rings, mapped from the
//! socket: the fill and transmit rings are produced here and consumed by the kernel, the
//! receive and completion rings the other way round.
//!
//! Contract: indices are free-running `u32`s masked by the power-of-two size; a producer
//! publishes entries with a release store of its index after writing them, a consumer reads
//! entries only after an acquire load of the producer's index, and hands them back with a
//! release store of its own. Batches: [`Ring::reserve`]/[`Ring::submit`] and
//! [`Ring::peek`]/[`Ring::release`] touch the shared indices once per batch, not per entry.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::uapi::RingOffset;

pub struct Ring<T> {
    map: NonNull<u8>,
    map_len: usize,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    size: u32,
    /// Our copy of the index we own (published by `submit`/`release`).
    cached_own: u32,
    /// The last value read of the other side's index.
    cached_other: u32,
}

impl<T: Copy> Ring<T> {
    /// Maps the ring of `size` entries at page offset `pgoff` of `fd`, laid out as `offsets`.
    pub fn map(
        fd: &OwnedFd,
        offsets: RingOffset,
        size: u32,
        pgoff: libc::off_t,
    ) -> io::Result<Self> {
        let map_len = offsets.desc as usize + size as usize * size_of::<T>();
        // SAFETY: a fresh shared mapping of the socket's ring; the kernel sized it with the
        // setsockopt that gave `size`, and checks the length against it.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff,
            )
        };
        if raw == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("mmap(AF_XDP ring): {e}")));
        }
        let base = raw as *mut u8;
        let at = |offset: u64| {
            // SAFETY: the kernel's offsets lie inside the mapping it sized; mmap never
            // returns null on success, so the sum is not null either.
            unsafe { NonNull::new_unchecked(base.add(offset as usize)) }
        };
        // Ring sizes are powers of two (the kernel refuses others), so masks are `size - 1`.
        let ring = Ring {
            // SAFETY: as above, `raw` is a successful mapping.
            map: unsafe { NonNull::new_unchecked(base) },
            map_len,
            producer: at(offsets.producer).cast(),
            consumer: at(offsets.consumer).cast(),
            flags: at(offsets.flags).cast(),
            descs: at(offsets.desc).cast(),
            size,
            cached_own: 0,
            cached_other: 0,
        };
        Ok(ring)
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping (see `map`), 4-byte aligned by the kernel.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    /// Whether the kernel asked for a system call to go on with this ring.
    pub fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        let flags = unsafe { self.flags.as_ref() };
        flags.load(Ordering::Relaxed) & super::uapi::XDP_RING_NEED_WAKEUP != 0
    }

    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: the index is masked to the ring's size, inside the descriptor array.
        unsafe { self.descs.as_ptr().add((index & (self.size - 1)) as usize) }
    }

    /// Producer side: room for up to `want` entries; returns how many can be written.
    pub fn reserve(&mut self, want: u32) -> u32 {
        let used = self.cached_own.wrapping_sub(self.cached_other);
        if self.size - used < want {
            self.cached_other = self.consumer().load(Ordering::Acquire);
        }
        let used = self.cached_own.wrapping_sub(self.cached_other);
        want.min(self.size - used)
    }

    /// Producer side: writes entry `n` past the last submitted one (`n` < what `reserve` gave).
    pub fn write(&mut self, n: u32, value: T) {
        // SAFETY: the slot is one the kernel has consumed (checked by `reserve`), so it does
        // not read it until `submit` publishes it.
        unsafe { self.slot(self.cached_own.wrapping_add(n)).write(value) }
    }

    /// Producer side: entries published and not yet consumed by the kernel.
    pub fn outstanding(&self) -> u32 {
        self.cached_own
            .wrapping_sub(self.consumer().load(Ordering::Acquire))
    }

    /// Producer side: publishes `count` written entries.
    pub fn submit(&mut self, count: u32) {
        self.cached_own = self.cached_own.wrapping_add(count);
        self.producer().store(self.cached_own, Ordering::Release);
    }

    /// Consumer side: how many entries are ready (at most `max`).
    pub fn peek(&mut self, max: u32) -> u32 {
        let mut ready = self.cached_other.wrapping_sub(self.cached_own);
        if ready < max {
            self.cached_other = self.producer().load(Ordering::Acquire);
            ready = self.cached_other.wrapping_sub(self.cached_own);
        }
        ready.min(max)
    }

    /// Consumer side: reads entry `n` past the last released one (`n` < what `peek` gave).
    pub fn read(&self, n: u32) -> T {
        // SAFETY: the kernel published the slot (acquire load in `peek`) and does not reuse it
        // until `release`.
        unsafe { self.slot(self.cached_own.wrapping_add(n)).read() }
    }

    /// Consumer side: hands `count` read entries back.
    pub fn release(&mut self, count: u32) {
        self.cached_own = self.cached_own.wrapping_add(count);
        self.consumer().store(self.cached_own, Ordering::Release);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`; nothing refers to it any more.
        unsafe {
            libc::munmap(self.map.as_ptr() as *mut libc::c_void, self.map_len);
        }
    }
}
