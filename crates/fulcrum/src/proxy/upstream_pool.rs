//! The sockets one UDP worker sends a target's queries from: a pool of `set upstreamsockets`
//! connected sockets, each bound to its own ephemeral port, one drawn at random per query (as
//! dnsdist's `sockets=` with randomised outgoing sockets). An off-path host that wants its
//! forged answer taken must hit the query's source port as well as its random ID: the answer is
//! taken only on the socket its query left on (`Pending::via`).
//!
//! Contract: [`UpstreamPool::pick`] draws an active socket (`None` when none could be opened);
//! [`UpstreamPool::push`] queues a query on it and [`UpstreamPool::flush`] sends every queue
//! with one `sendmmsg` per socket; [`UpstreamPool::sent`], [`UpstreamPool::settled`] keep the
//! count of queries in flight per socket. [`UpstreamPool::rotate`] (on every reload) opens a
//! fresh set of sockets and retires the old ones: a retired socket takes no new query but
//! still receives the answers to its queries in flight, and is closed by
//! [`UpstreamPool::close_drained`] once none is left (at the latest after the query timeout),
//! so a reload loses no answer. Sockets are registered with the worker's poller under
//! [`token`]`(upstream, slot)`; a slot number stays the same while its socket lives.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use fulcrum_sys::{Poller, SendBatch};

use super::UDP_BATCH;

/// Poller tokens of upstream sockets have this bit set.
pub const UPSTREAM_TOKEN: u64 = 1 << 32;

/// The poller token of socket `slot` of upstream `upstream`.
pub fn token(upstream: usize, slot: u16) -> u64 {
    UPSTREAM_TOKEN | (u64::from(slot) << 16) | (upstream as u64 & 0xffff)
}

/// The upstream index and socket slot of an upstream token.
pub fn untoken(token: u64) -> (usize, u16) {
    ((token & 0xffff) as usize, ((token >> 16) & 0xffff) as u16)
}

struct PoolSocket {
    socket: UdpSocket,
    tx: SendBatch,
    in_flight: usize,
    retired: bool,
}

pub struct UpstreamPool {
    addr: SocketAddr,
    slots: Vec<Option<PoolSocket>>,
    /// Slots of the sockets new queries may use.
    active: Vec<u16>,
    /// xorshift64* state of the per-query draw.
    rng: u64,
}

fn unspecified_like(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

fn open_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let options = fulcrum_sys::UdpOptions {
        buffer_bytes: 4 << 20,
        ..Default::default()
    };
    let socket = fulcrum_sys::bind_udp(unspecified_like(&addr), options)?;
    // Connected: the kernel delivers only the target's datagrams to this socket.
    socket.connect(addr)?;
    Ok(socket)
}

impl UpstreamPool {
    /// A pool of `size` sockets to `addr` (at least one); an error only when none can be opened.
    pub fn open(addr: SocketAddr, size: usize) -> std::io::Result<UpstreamPool> {
        let mut pool = UpstreamPool {
            addr,
            slots: Vec::new(),
            active: Vec::new(),
            rng: crate::plane::sessions::random_seed() | 1,
        };
        pool.open_active(size)?;
        Ok(pool)
    }

    /// A pool with no socket: every [`pick`](Self::pick) is `None`.
    pub fn closed(addr: SocketAddr) -> UpstreamPool {
        UpstreamPool {
            addr,
            slots: Vec::new(),
            active: Vec::new(),
            rng: 1,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Opens `size` sockets (at least one) as the active set; the first error is returned
    /// only when none could be opened.
    fn open_active(&mut self, size: usize) -> std::io::Result<()> {
        let mut first_error = None;
        let mut opened = Vec::new();
        for _ in 0..size.max(1) {
            match open_socket(self.addr) {
                Ok(socket) => opened.push(PoolSocket {
                    socket,
                    tx: SendBatch::new(UDP_BATCH, 64 * 1024),
                    in_flight: 0,
                    retired: false,
                }),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if opened.is_empty() {
            return Err(first_error.unwrap_or_else(|| std::io::Error::other("no socket")));
        }
        self.active.clear();
        for socket in opened {
            let slot = match self.slots.iter().position(Option::is_none) {
                Some(free) => {
                    self.slots[free] = Some(socket);
                    free
                }
                None => {
                    self.slots.push(Some(socket));
                    self.slots.len() - 1
                }
            };
            self.active.push(slot as u16);
        }
        Ok(())
    }

    /// Retires every socket and opens `size` fresh ones. When none can be opened the old ones
    /// stay in use (logged by the caller).
    pub fn rotate(&mut self, size: usize) -> std::io::Result<()> {
        let old = self.active.clone();
        self.open_active(size)?;
        for slot in old {
            if let Some(socket) = self
                .slots
                .get_mut(usize::from(slot))
                .and_then(Option::as_mut)
            {
                socket.retired = true;
            }
        }
        Ok(())
    }

    /// Registers every socket with `poller` as upstream `upstream`.
    pub fn watch(&self, poller: &Poller, upstream: usize) -> std::io::Result<()> {
        for (slot, socket) in self.slots.iter().enumerate() {
            if let Some(socket) = socket {
                poller.add(socket.socket.as_raw_fd(), token(upstream, slot as u16))?;
            }
        }
        Ok(())
    }

    /// Takes every socket off `poller`.
    pub fn unwatch(&self, poller: &Poller) {
        for socket in self.slots.iter().flatten() {
            let _ = poller.delete(socket.socket.as_raw_fd());
        }
    }

    /// A socket drawn at random from the active set.
    pub fn pick(&mut self) -> Option<u16> {
        let count = self.active.len();
        match count {
            0 => None,
            1 => Some(self.active[0]),
            _ => {
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let draw = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
                Some(self.active[(draw as usize) % count])
            }
        }
    }

    /// The descriptor of socket `slot`, to receive on.
    pub fn fd(&self, slot: u16) -> Option<RawFd> {
        self.socket(slot).map(|s| s.socket.as_raw_fd())
    }

    fn socket(&self, slot: u16) -> Option<&PoolSocket> {
        self.slots.get(usize::from(slot)).and_then(Option::as_ref)
    }

    fn socket_mut(&mut self, slot: u16) -> Option<&mut PoolSocket> {
        self.slots
            .get_mut(usize::from(slot))
            .and_then(Option::as_mut)
    }

    /// Queues `prefix` then `message` as one datagram on socket `slot` (flushing its queue
    /// first when full) and returns the queued copy of `message` to finish (the caller writes
    /// the upstream ID in), `None` if it cannot be sent. `prefix` is a PROXY protocol header,
    /// or empty.
    pub fn push(&mut self, slot: u16, prefix: &[u8], message: &[u8]) -> Option<&mut [u8]> {
        let socket = self.socket_mut(slot)?;
        if !socket.tx.has_room(prefix.len() + message.len()) {
            socket.tx.flush(&socket.socket);
        }
        socket.tx.push_prefixed(prefix, message, None, None)
    }

    /// Sends every socket's queue.
    pub fn flush(&mut self) {
        for socket in self.slots.iter_mut().flatten() {
            if !socket.tx.is_empty() {
                socket.tx.flush(&socket.socket);
            }
        }
    }

    /// A query is now outstanding on `slot`.
    pub fn sent(&mut self, slot: u16) {
        if let Some(socket) = self.socket_mut(slot) {
            socket.in_flight += 1;
        }
    }

    /// A query that left on `slot` was answered or forgotten.
    pub fn settled(&mut self, slot: u16) {
        if let Some(socket) = self.socket_mut(slot) {
            socket.in_flight = socket.in_flight.saturating_sub(1);
        }
    }

    /// Closes the retired sockets with no query left in flight (closing takes them off the
    /// poller); returns how many were closed.
    pub fn close_drained(&mut self) -> usize {
        let mut closed = 0;
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.retired && s.in_flight == 0) {
                *slot = None;
                closed += 1;
            }
        }
        closed
    }

    /// The local ports of the active sockets.
    #[cfg(test)]
    pub fn active_ports(&self) -> Vec<u16> {
        self.active
            .iter()
            .filter_map(|&slot| self.socket(slot))
            .filter_map(|s| s.socket.local_addr().ok())
            .map(|a| a.port())
            .collect()
    }

    /// Sockets open, active and retired.
    #[cfg(test)]
    pub fn open_sockets(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    #[test]
    fn picks_spread_over_every_socket_of_the_pool() {
        let (_target, addr) = target();
        let mut pool = UpstreamPool::open(addr, 4).unwrap();
        assert_eq!(pool.open_sockets(), 4);
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            let slot = pool.pick().unwrap();
            seen[usize::from(slot)] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        let mut ports = pool.active_ports();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 4, "each socket has its own port");
    }

    #[test]
    fn a_rotated_socket_stays_open_until_its_queries_settle() {
        let (_target, addr) = target();
        let mut pool = UpstreamPool::open(addr, 2).unwrap();
        let before = pool.active_ports();
        let busy = pool.pick().unwrap();
        pool.sent(busy);
        pool.rotate(2).unwrap();
        let after = pool.active_ports();
        assert!(after.iter().all(|p| !before.contains(p)), "fresh ports");
        assert_eq!(
            pool.close_drained(),
            1,
            "the idle old socket closes at once"
        );
        assert!(pool.fd(busy).is_some(), "the busy one still receives");
        for _ in 0..100 {
            assert_ne!(pool.pick(), Some(busy), "no new query on a retired socket");
        }
        pool.settled(busy);
        assert_eq!(pool.close_drained(), 1);
        assert_eq!((pool.fd(busy), pool.open_sockets()), (None, 2));
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(untoken(token(7, 3)), (7, 3));
        assert_ne!(token(0, 0) & UPSTREAM_TOKEN, 0);
    }
}
