//! What a worker's decision needs from the ring it transmits on: queue one frame written in
//! place. The `AF_PACKET` plane's transmit ring and the AF_XDP plane's UMEM both offer it, so
//! `worker::handle` with its refragmenting and the IPv6 worker are one code for both planes.

use fulcrum_sys::packet::TxRing;
use fulcrum_xdp::xsk::XskTx;

/// A transmit ring seen from a receive callback.
pub trait FrameOut {
    /// Queues one frame of `len` bytes written by `fill`; false (nothing queued) when the ring
    /// is full or the frame does not fit a slot.
    fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool;
}

impl FrameOut for TxRing {
    fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        TxRing::send(self, len, fill)
    }
}

impl FrameOut for XskTx {
    fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        XskTx::send(self, len, fill)
    }
}
