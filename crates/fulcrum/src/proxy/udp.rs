//! A UDP worker thread: its own `SO_REUSEPORT` listener per server, its own pool of connected
//! sockets per target address ([`super::upstream_pool`]), its own tables of outstanding
//! queries; nothing shared with other workers but the snapshot (read-only), the session shards
//! and its own counter slots.
//!
//! Per wake-up it drains ready sockets with `recvmmsg` (up to [`UDP_BATCH`] datagrams a call) and
//! sends what a batch produced with one `sendmmsg` per destination socket, so under load the
//! system-call cost is spread over many queries. What happens to each datagram is decided by
//! [`super::decide`] (checked with the DNS header view, bad ones counted by reason and dropped;
//! a target, a socket of its pool and a fresh ID towards it; the answer matched only on the
//! socket its query left on, with the client's ID back, leaving from the listener the query
//! came in on, with the queried address as source when the listener is a wildcard, and its
//! response time); this file only carries the verdicts out (a query to a target with
//! `proxyprotocol enable` leaves behind a PROXY v2 header, [`super::proxy_header`], encoded on
//! the stack into the same send-batch slot), keeping the pools' in-flight counts
//! and recording each response time in the target's histogram. The clock is read once per
//! batch (microseconds since the worker started: the queries' send stamp, the answers'
//! arrival, and in whole seconds the session clock). Queries not answered within the
//! snapshot's timeout are counted and forgotten.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_core::balance::Pick;
use fulcrum_sys::{Poller, RecvBatch, SendBatch};
use fulcrum_wire::dns;
use fulcrum_wire::proxy_v2::Transport;

use super::decide::{
    on_answer, on_query, AnswerVerdict, Datagram, ListenerView, Now, QueryVerdict, Upstreams,
};
use super::outstanding::Outstanding;
use super::proxy_header::{self, Header};
use super::snapshot::Snapshot;
use super::upstream_pool::{untoken, UpstreamPool, UPSTREAM_TOKEN};
use super::{Shared, UDP_BATCH};
use crate::plane::counters::CounterSet;
use crate::plane::protect::{truncated_answer, ServerGuard, Verdict};
use fulcrum_core::protect::OverLimit;

/// Largest query accepted over UDP (EDNS clients advertise buffer sizes, they do not send
/// queries this large; anything longer is cut by the kernel and dropped as malformed).
const QUERY_BUF: usize = 4096;
/// Largest UDP payload: answers up to this size pass through.
const RESPONSE_BUF: usize = 65_535;
/// Room for a truncated answer: a header and the longest question.
const TRUNCATED_ANSWER_BUF: usize = dns::HEADER_LEN + dns::MAX_NAME_LEN + 4;
/// Outstanding queries per worker and target address.
const OUTSTANDING_PER_TARGET: usize = 8192;
/// Batches drained from one socket before the others get a turn.
const BATCHES_PER_TURN: usize = 8;
/// How often timeouts are looked for, and the longest a worker sleeps.
const TICK_MS: u64 = 100;

struct Listener {
    server_id: u32,
    /// Index into the snapshot's servers.
    server: usize,
    socket: Arc<UdpSocket>,
    pktinfo: bool,
    counters: Arc<CounterSet>,
    tx: SendBatch,
}

struct UpstreamSocket {
    pool: UpstreamPool,
    table: Outstanding,
    counters: Arc<CounterSet>,
}

impl ListenerView for Listener {
    fn server_id(&self) -> u32 {
        self.server_id
    }

    fn answers_from_queried_address(&self) -> bool {
        self.pktinfo
    }
}

impl Upstreams for [UpstreamSocket] {
    fn draw(&mut self, upstream: usize) -> Option<(u16, &mut Outstanding)> {
        let up = self.get_mut(upstream)?;
        let via = up.pool.pick()?;
        Some((via, &mut up.table))
    }
}

struct Worker {
    index: usize,
    epoch: u64,
    snapshot: Arc<Snapshot>,
    poller: Poller,
    listeners: Vec<Listener>,
    upstreams: Vec<UpstreamSocket>,
    rx: RecvBatch,
    upstream_rx: RecvBatch,
    pick: Pick,
    started: Instant,
    next_tick_ms: u64,
    ready: Vec<u64>,
}

/// The worker thread's body: runs until `shared.stop` is set.
pub fn run(index: usize, shared: Arc<Shared>) {
    let poller = match Poller::new(64) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("udp worker {index}: cannot create epoll: {e}; this worker is idle");
            return;
        }
    };
    let mut worker = Worker {
        index,
        epoch: u64::MAX,
        snapshot: shared.snapshot(),
        poller,
        listeners: Vec::new(),
        upstreams: Vec::new(),
        rx: RecvBatch::new(UDP_BATCH, QUERY_BUF),
        upstream_rx: RecvBatch::new(UDP_BATCH, RESPONSE_BUF),
        pick: Pick::new(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0x1000_0001)),
        started: shared.started,
        next_tick_ms: 0,
        ready: Vec::with_capacity(64),
    };
    let beat = crate::service::heartbeat::register(format!("udp worker {index}"));
    while !shared.stop.load(Ordering::Relaxed) {
        beat.bump();
        let epoch = shared.epoch.load(Ordering::Acquire);
        if epoch != worker.epoch {
            worker.reload(epoch, shared.snapshot());
            if let Some(seen) = shared.worker_epochs.get(index) {
                seen.store(epoch, Ordering::Release);
            }
        }
        worker.poll_once();
        let now = worker.now_ms();
        if now >= worker.next_tick_ms {
            worker.expire(now);
            worker.next_tick_ms = now + TICK_MS;
        }
    }
}

fn micros_since(started: Instant) -> u64 {
    started.elapsed().as_micros() as u64
}

impl Worker {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Takes up a new snapshot: re-registers listeners, keeps upstream tables (and their
    /// outstanding queries) whose address is still in use with their socket pools rotated,
    /// opens the new ones.
    fn reload(&mut self, epoch: u64, snapshot: Arc<Snapshot>) {
        for l in &self.listeners {
            let _ = self.poller.delete(l.socket.as_raw_fd());
        }
        self.listeners.clear();
        for (server_index, server) in snapshot.servers.iter().enumerate() {
            let Some(socket) = server.udp.get(self.index) else {
                continue;
            };
            let token = self.listeners.len() as u64;
            if let Err(e) = self.poller.add(socket.as_raw_fd(), token) {
                tracing::error!(
                    "udp worker {}: cannot watch server {}: {e}",
                    self.index,
                    server.id
                );
                continue;
            }
            self.listeners.push(Listener {
                server_id: server.id,
                server: server_index,
                socket: socket.clone(),
                pktinfo: server.wants_pktinfo,
                counters: server.counters.clone(),
                tx: SendBatch::new(UDP_BATCH, 256 * 1024),
            });
        }
        let mut old: Vec<UpstreamSocket> = std::mem::take(&mut self.upstreams);
        for l in &old {
            l.pool.unwatch(&self.poller);
        }
        let sockets = snapshot.upstream_sockets;
        for up in snapshot.upstreams.iter() {
            let reused = old
                .iter()
                .position(|o| o.pool.addr() == up.addr)
                .map(|at| old.swap_remove(at));
            let mut entry = match reused {
                Some(mut entry) => {
                    if let Err(e) = entry.pool.rotate(sockets) {
                        tracing::warn!(
                            "udp worker {}: cannot open fresh sockets to {}: {e}; keeping the \
                             old ones",
                            self.index,
                            up.addr
                        );
                    }
                    entry
                }
                None => UpstreamSocket {
                    pool: UpstreamPool::open(up.addr, sockets).unwrap_or_else(|e| {
                        // Keep indexes aligned with the snapshot: queries to a target without
                        // a socket are dropped as having no target.
                        tracing::error!(
                            "udp worker {}: cannot open a socket to {}: {e}",
                            self.index,
                            up.addr
                        );
                        UpstreamPool::closed(up.addr)
                    }),
                    table: Outstanding::new(
                        OUTSTANDING_PER_TARGET,
                        (
                            crate::plane::sessions::random_seed(),
                            crate::plane::sessions::random_seed(),
                        ),
                    ),
                    counters: up.counters.clone(),
                },
            };
            entry.counters = up.counters.clone();
            if let Err(e) = entry.pool.watch(&self.poller, self.upstreams.len()) {
                tracing::error!("udp worker {}: cannot watch {}: {e}", self.index, up.addr);
            }
            self.upstreams.push(entry);
        }
        self.snapshot = snapshot;
        self.epoch = epoch;
    }

    fn poll_once(&mut self) {
        let timeout = TICK_MS as i32;
        self.ready.clear();
        match self.poller.wait(timeout) {
            Ok(tokens) => self.ready.extend(tokens),
            Err(e) => {
                tracing::error!("udp worker {}: epoll_wait: {e}", self.index);
                std::thread::sleep(std::time::Duration::from_millis(TICK_MS));
                return;
            }
        }
        for i in 0..self.ready.len() {
            let token = self.ready[i];
            if token & UPSTREAM_TOKEN != 0 {
                let (upstream, slot) = untoken(token);
                self.drain_upstream(upstream, slot);
            } else {
                self.drain_listener((token & 0xffff_ffff) as usize);
            }
        }
    }

    /// Client queries on listener `li`: each decided by [`on_query`], the verdict carried out.
    fn drain_listener(&mut self, li: usize) {
        let started = self.started;
        let w = self.index;
        let Worker {
            listeners,
            upstreams,
            rx,
            snapshot,
            pick,
            ..
        } = self;
        let Some(listener) = listeners.get_mut(li) else {
            return;
        };
        let Some(server) = snapshot.servers.get(listener.server) else {
            return;
        };
        let slot = listener.counters.slot(w);
        for _ in 0..BATCHES_PER_TURN {
            let received = match rx.recv(listener.socket.as_ref()) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // One clock read per batch: the send time the answer's response time starts from,
            // and the session clock (the session table counts whole seconds from the same
            // start, `Shared::started`).
            let micros = micros_since(started);
            let now = Now::from_micros(micros);
            for i in 0..received {
                let Some(packet) = rx.get(i) else { break };
                slot.query(packet.data.len());
                if let Some(guard) = &server.guard {
                    let answer_from = packet.local.filter(|_| listener.pktinfo);
                    let query = (packet.source, packet.data);
                    if refused(
                        guard,
                        query,
                        answer_from,
                        micros / 1000,
                        slot,
                        (listener.socket.as_ref(), &mut listener.tx),
                    ) {
                        continue;
                    }
                }
                let datagram = Datagram {
                    data: packet.data,
                    source: packet.source,
                    local: packet.local,
                    truncated: packet.truncated,
                };
                let sessions = &snapshot.sessions;
                let upstreams_view = upstreams.as_mut_slice();
                match on_query(
                    server,
                    li as u16,
                    &datagram,
                    now,
                    sessions,
                    pick,
                    upstreams_view,
                ) {
                    QueryVerdict::Forward {
                        target,
                        upstream,
                        via,
                        wire_id,
                    } => {
                        let Some(up) = upstreams.get_mut(upstream) else {
                            continue;
                        };
                        up.pool.sent(via);
                        let target = &server.targets[target];
                        let header = match (target.proxy_protocol, packet.source) {
                            (true, Some(client)) => {
                                let vip = proxy_header::vip(server.addr, packet.local);
                                Some(Header::new(Transport::Datagram, client, vip))
                            }
                            _ => None,
                        };
                        let prefix = header.as_ref().map_or(&[][..], Header::as_bytes);
                        if let Some(copy) = up.pool.push(via, prefix, packet.data) {
                            dns::set_id(copy, wire_id);
                            target.counters.slot(w).forwarded(packet.data.len());
                        }
                    }
                    QueryVerdict::Drop { reason, target } => {
                        slot.drop(reason);
                        if let Some(target) = target {
                            server.targets[target].counters.slot(w).drop(reason);
                        }
                    }
                }
            }
            for up in upstreams.iter_mut() {
                up.pool.flush();
            }
            if !listener.tx.is_empty() {
                listener.tx.flush(listener.socket.as_ref());
            }
            if received < rx.capacity() {
                break;
            }
        }
    }

    /// Target answers on socket `via` of upstream `ui`: each decided by [`on_answer`], the
    /// verdict carried out.
    fn drain_upstream(&mut self, ui: usize, via: u16) {
        let started = self.started;
        let w = self.index;
        let Worker {
            listeners,
            upstreams,
            upstream_rx: rx,
            snapshot,
            ..
        } = self;
        let Some(up) = upstreams.get_mut(ui) else {
            return;
        };
        let Some(fd) = up.pool.fd(via) else {
            return;
        };
        let target_slot = up.counters.slot(w);
        for _ in 0..BATCHES_PER_TURN {
            let received = match rx.recv(&fd) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now_us = micros_since(started);
            for i in 0..received {
                let Some(packet) = rx.get(i) else { break };
                target_slot.answered(packet.data.len());
                let verdict = on_answer(packet.data, via, now_us, &mut up.table, listeners);
                if verdict.settled() {
                    up.pool.settled(via);
                }
                let (li, client, source, client_id) = match verdict {
                    AnswerVerdict::Answer {
                        listener,
                        client,
                        source,
                        client_id,
                        response_us,
                    } => {
                        target_slot.response_time(response_us);
                        (listener, client, source, client_id)
                    }
                    AnswerVerdict::Drop(reason) => {
                        target_slot.drop(reason);
                        continue;
                    }
                    AnswerVerdict::ServerGone => continue,
                };
                let listener = &mut listeners[li];
                if let Some(guard) = snapshot
                    .servers
                    .get(listener.server)
                    .and_then(|s| s.guard.as_ref())
                {
                    guard.charge_answer(client.ip(), packet.data.len(), now_us / 1000);
                }
                if !listener.tx.has_room(packet.data.len()) {
                    listener.tx.flush(listener.socket.as_ref());
                }
                if let Some(copy) = listener.tx.push(packet.data, Some(client), source) {
                    dns::set_id(copy, client_id);
                    listener.counters.slot(w).response(packet.data.len());
                }
            }
            for l in listeners.iter_mut().filter(|l| !l.tx.is_empty()) {
                l.tx.flush(l.socket.as_ref());
            }
            if received < rx.capacity() {
                break;
            }
        }
    }

    /// Forgets queries older than the timeout, counting each on its server and target.
    fn expire(&mut self, now_ms: u64) {
        let w = self.index;
        let timeout = self.snapshot.udp_timeout_ms;
        let listeners = &self.listeners;
        for up in self.upstreams.iter_mut() {
            let target_slot = up.counters.slot(w);
            let pool = &mut up.pool;
            let (now_us, timeout_us) = (now_ms.saturating_mul(1000), timeout.saturating_mul(1000));
            up.table.expire(now_us, timeout_us, |pending| {
                pool.settled(pending.via);
                target_slot.timeout();
                if let Some(l) = listeners.iter().find(|l| l.server_id == pending.server) {
                    l.counters.slot(w).timeout();
                }
            });
            pool.close_drained();
        }
    }
}

/// The server's access list and rate limits on one client datagram ([`ServerGuard::check`]):
/// true when it is refused, counted on the server under its reason and, where the server asks
/// for `rateaction tc`, answered with an empty truncated answer (queued on the listener's `tx`,
/// flushed first if full) that sends the client to TCP.
fn refused(
    guard: &ServerGuard,
    (source, data): (Option<std::net::SocketAddr>, &[u8]),
    answer_from: Option<std::net::IpAddr>,
    now_ms: u64,
    slot: &crate::plane::counters::Slot,
    (socket, tx): (&UdpSocket, &mut SendBatch),
) -> bool {
    let Some(client) = source else {
        return false;
    };
    let Verdict::Refuse { reason, action } = guard.check(client.ip(), Some(data), now_ms) else {
        return false;
    };
    slot.drop(reason);
    if action == OverLimit::Truncate {
        let mut answer = [0u8; TRUNCATED_ANSWER_BUF];
        if let Some(len) = truncated_answer(data, &mut answer) {
            if !tx.has_room(len) {
                tx.flush(socket);
            }
            if tx.push(&answer[..len], Some(client), answer_from).is_some() {
                slot.response(len);
            }
        }
    }
    true
}
