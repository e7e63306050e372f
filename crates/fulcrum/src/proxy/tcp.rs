//! The TCP side of the proxy: one tokio runtime on its own thread accepts on every server that
//! serves TCP, picks the target by the same rules as UDP (sessions shared), and relays
//! length-prefixed DNS messages both ways (RFC 1035 section 4.2.2; RFC 7766 pipelining: queries
//! and answers flow independently, so a client may send many before reading). The same
//! runtime sweeps idle sessions once a second.
//!
//! Bad input closes only its own connection: a frame whose length cannot be a DNS message
//! (shorter than a header) is counted `BadFrame` and the connection ends; a well-framed message
//! that is not a query is counted by reason and skipped. The target is connected when the first
//! query arrives, so an idle client holds nothing on the target; a target with `proxyprotocol
//! enable` first receives a PROXY v2 header naming the client and the address it connected to
//! ([`super::proxy_header`]). Every connection is bounded in time
//! ([`TcpLimits`], from `set tcpidle`, `tcpwrite`, `tcplifetime`): no query from the client for
//! the idle timeout, a write to either side blocked for the write timeout (a client that stops
//! reading), or the lifetime reached closes it, each counted. Connections are capped in total
//! (`set tcpmaxconn`, lowered to what the descriptor limit allows) and per client address
//! (`set tcpclientconn`); over a cap new ones are closed at once, counted `ConnLimit` on the
//! server and by cap in `show tcp`, and logged once until the count falls again (the per-client
//! refusals at most once a minute). A server's access list is checked at accept, before the
//! caps (a denied client's connection is closed, counted `Acl`); its rate limits count every
//! query, and one over them is skipped, counted by reason.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fulcrum_core::balance::Pick;
use fulcrum_core::stats::DropReason;
use fulcrum_wire::dns_tcp;
use fulcrum_wire::proxy_v2::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::decide::{check_query, on_connection};
use super::proxy_header::Header;
use super::snapshot::Snapshot;
use super::tcp_limits::{bump, Admission, TcpCounters, TcpLimits};
use super::Shared;
use crate::plane::counters::Slot;
use crate::plane::protect::{ServerGuard, Verdict};

/// How long connecting to a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The thread's body: runs the runtime until `shared.stop` is set.
pub fn run(shared: Arc<Shared>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("proxy: cannot start the TCP runtime: {e}; TCP is not served");
            return;
        }
    };
    runtime.block_on(manage(shared));
}

/// Keeps one accept task per TCP listener in the current snapshot and sweeps sessions.
async fn manage(shared: Arc<Shared>) {
    let pick = Arc::new(Mutex::new(Pick::new(0x51ed_2701_a5a5_0001)));
    let mut accepting: HashMap<u32, (usize, JoinHandle<()>)> = HashMap::new();
    let mut epoch = u64::MAX;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    // The sweep wakes the loop every second, so an idle runtime still beats.
    let beat = crate::service::heartbeat::register("tcp runtime");
    loop {
        beat.bump();
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let current = shared.epoch.load(Ordering::Acquire);
        if current != epoch {
            epoch = current;
            let snapshot = shared.snapshot();
            reconcile(&shared, &snapshot, &mut accepting, &pick);
        }
        tokio::select! {
            _ = shared.tcp_wakeup.notified() => {}
            _ = sweep.tick() => {
                let snapshot = shared.snapshot();
                let now = snapshot.sessions.now();
                snapshot.sessions.expire(now);
            }
        }
    }
    for (_, (_, task)) in accepting.drain() {
        task.abort();
    }
}

fn reconcile(
    shared: &Arc<Shared>,
    snapshot: &Snapshot,
    accepting: &mut HashMap<u32, (usize, JoinHandle<()>)>,
    pick: &Arc<Mutex<Pick>>,
) {
    let mut wanted: HashMap<u32, usize> = HashMap::new();
    for server in &snapshot.servers {
        let Some(listener) = &server.tcp else {
            continue;
        };
        let identity = Arc::as_ptr(listener) as usize;
        wanted.insert(server.id, identity);
        if accepting
            .get(&server.id)
            .is_some_and(|(id, _)| *id == identity)
        {
            continue;
        }
        if let Some((_, old)) = accepting.remove(&server.id) {
            old.abort();
        }
        let listener = match listener.try_clone().and_then(TcpListener::from_std) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(
                    "proxy: server {}: cannot accept on tcp {}: {e}",
                    server.id,
                    server.addr
                );
                continue;
            }
        };
        let task = tokio::spawn(accept_loop(
            listener,
            server.id,
            shared.clone(),
            pick.clone(),
        ));
        accepting.insert(server.id, (identity, task));
    }
    accepting.retain(|id, (identity, task)| {
        let keep = wanted.get(id) == Some(identity);
        if !keep {
            task.abort();
        }
        keep
    });
}

async fn accept_loop(
    listener: TcpListener,
    server_id: u32,
    shared: Arc<Shared>,
    pick: Arc<Mutex<Pick>>,
) {
    let mut at_cap_logged = false;
    let mut client_cap_logged: Option<Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!("proxy: server {server_id}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let snapshot = shared.snapshot();
        let Some(server) = snapshot.server(server_id) else {
            continue;
        };
        let slot = server.counters.slot(shared.tcp_writer());
        // The access list before anything else: a denied client's connection is closed at once.
        if server.guard.as_ref().is_some_and(|g| !g.admits(peer.ip())) {
            slot.drop(DropReason::Acl);
            continue;
        }
        let limits = **shared.tcp_limits.load();
        let cap = limits.max_connections;
        let open = shared.tcp_connections.load(Ordering::Relaxed);
        if open >= cap {
            slot.drop(DropReason::ConnLimit);
            bump(&shared.tcp_counters.refused_cap);
            if !at_cap_logged {
                tracing::warn!(
                    "proxy: {cap} TCP connections open, the cap: refusing new ones until some close"
                );
                at_cap_logged = true;
            }
            continue;
        }
        if at_cap_logged && open < cap * 9 / 10 {
            tracing::info!("proxy: TCP connections back under the cap ({open} open)");
            at_cap_logged = false;
        }
        let Some(admission) =
            shared
                .tcp_clients
                .admit(peer.ip(), limits.per_client, &shared.tcp_connections)
        else {
            slot.drop(DropReason::ConnLimit);
            bump(&shared.tcp_counters.refused_client_cap);
            if client_cap_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(
                    "proxy: {} holds {} TCP connections, its cap: refusing more ({} refused \
                     so far, all clients)",
                    peer.ip(),
                    limits.per_client,
                    shared
                        .tcp_counters
                        .refused_client_cap
                        .load(Ordering::Relaxed)
                );
                client_cap_logged = Some(Instant::now());
            }
            continue;
        };
        bump(&shared.tcp_counters.accepted);
        let chosen = {
            let mut state = pick.lock().unwrap_or_else(|p| p.into_inner());
            let sessions = &snapshot.sessions;
            on_connection(server, peer.ip(), sessions.now(), sessions, &mut state)
        };
        let Some(ti) = chosen else {
            slot.drop(DropReason::NoTarget);
            continue;
        };
        let target = server.targets[ti].addr;
        // The VIP is the address the client connected to (the listener may be a wildcard).
        let header = server.targets[ti].proxy_protocol.then(|| {
            let vip = stream.local_addr().unwrap_or(server.addr);
            Header::new(Transport::Stream, peer, vip)
        });
        let writer = shared.tcp_writer();
        let snapshot = snapshot.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _admission: Admission = admission;
            let Some(server) = snapshot.server(server_id) else {
                return;
            };
            let target_counters = server.targets[ti].counters.clone();
            let server_slot = server.counters.slot(writer);
            let target_slot = target_counters.slot(writer);
            let slots = (server_slot, target_slot);
            let upstream = Upstream {
                addr: target,
                header,
            };
            let guard = server
                .guard
                .as_deref()
                .map(|g| (g, peer.ip(), shared.started));
            let relayed = relay(
                stream,
                upstream,
                &limits,
                slots,
                &shared.tcp_counters,
                guard,
            );
            if tokio::time::timeout(limits.lifetime, relayed)
                .await
                .is_err()
            {
                bump(&shared.tcp_counters.closed_lifetime);
            }
        });
    }
}

/// Where a connection is relayed to: the target's address and, with `proxyprotocol enable`,
/// the PROXY header the connection to it starts with.
struct Upstream {
    addr: SocketAddr,
    header: Option<Header>,
}

/// Relays one client connection to `target` until either side closes, the client idles past
/// the idle timeout, a write blocks past the write timeout, or a frame is broken (the caller
/// bounds the whole with the lifetime).
async fn relay(
    client: TcpStream,
    target: Upstream,
    limits: &TcpLimits,
    (server, target_slot): (&Slot, &Slot),
    counters: &TcpCounters,
    guard: Option<(&ServerGuard, IpAddr, Instant)>,
) {
    let idle = limits.idle;
    let write = limits.write;
    let mut client = client;
    // The target is connected only once the client has sent its first query: an idle client
    // costs one descriptor and nothing on the target (whose own TCP client limit is small).
    let mut buf = vec![0u8; dns_tcp::MAX_FRAME_LEN];
    let first = match read_query_frame(&mut client, &mut buf, idle, server, counters).await {
        Some(Some(len)) => len,
        Some(None) | None => {
            // A FIN before the reset that unread bytes cause, as when a relay ends.
            let _ = client.shutdown().await;
            return;
        }
    };
    let connect = TcpStream::connect(target.addr);
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        _ => {
            target_slot.timeout();
            server.timeout();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut target_read, mut target_write) = upstream.into_split();
    // Ends with true when the client closed its sending side cleanly (it may still be waiting
    // for answers to queries it pipelined), false on anything that ends the connection.
    let queries = async {
        if let Some(header) = &target.header {
            let written = target_write.write_all(header.as_bytes());
            match tokio::time::timeout(write, written).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return false,
                Err(_) => {
                    bump(&counters.closed_write_timeout);
                    return false;
                }
            }
        }
        let mut pending = Some(first);
        loop {
            let frame = match pending.take() {
                Some(len) => len,
                None => {
                    match read_query_frame(&mut client_read, &mut buf, idle, server, counters).await
                    {
                        Some(Some(len)) => len,
                        Some(None) => {
                            let _ = target_write.shutdown().await;
                            return true;
                        }
                        None => return false,
                    }
                }
            };
            let message = &buf[2..2 + frame];
            server.query(message.len());
            if let Err(reason) = check_query(message) {
                server.drop(reason);
                continue;
            }
            // Over a limit, a TCP query is dropped (truncation means nothing here).
            if let Some((guard, client, started)) = guard {
                let now_ms = started.elapsed().as_millis() as u64;
                if let Verdict::Refuse { reason, .. } = guard.check(client, Some(message), now_ms) {
                    server.drop(reason);
                    continue;
                }
            }
            target_slot.forwarded(message.len());
            match tokio::time::timeout(write, target_write.write_all(&buf[..2 + frame])).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return false,
                Err(_) => {
                    bump(&counters.closed_write_timeout);
                    return false;
                }
            }
        }
    };
    let answers = async {
        let mut buf = vec![0u8; dns_tcp::MAX_FRAME_LEN];
        loop {
            let frame = match read_frame(&mut target_read, &mut buf).await {
                Ok(Some(len)) => len,
                Ok(None) | Err(FrameError::Io) => return,
                Err(FrameError::BadLength) => {
                    target_slot.drop(DropReason::BadFrame);
                    return;
                }
            };
            target_slot.answered(frame);
            if let Some((guard, client, started)) = guard {
                guard.charge_answer(client, frame, started.elapsed().as_millis() as u64);
            }
            // Counted before the write so that a client holding the answer sees it counted.
            server.response(frame);
            match tokio::time::timeout(write, client_write.write_all(&buf[..2 + frame])).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    bump(&counters.closed_write_timeout);
                    return;
                }
            }
        }
    };
    tokio::pin!(answers);
    // Whichever direction ends first ends the connection (dropping both halves closes it),
    // except that a client which only closed its sending side still gets the answers to what
    // it sent, for up to the idle timeout.
    tokio::select! {
        half_closed = queries => {
            if half_closed {
                let _ = tokio::time::timeout(idle, &mut answers).await;
            }
        }
        _ = &mut answers => {}
    }
}

/// One frame from the client within the idle timeout: `Some(Some(len))`, `Some(None)` when the
/// client closed its sending side cleanly, `None` when the connection must end (idle, broken
/// frame, error; counted).
async fn read_query_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    buf: &mut [u8],
    idle: Duration,
    server: &Slot,
    counters: &TcpCounters,
) -> Option<Option<usize>> {
    match tokio::time::timeout(idle, read_frame(stream, buf)).await {
        Ok(Ok(frame)) => Some(frame),
        Err(_) => {
            bump(&counters.closed_idle);
            None
        }
        Ok(Err(FrameError::Io)) => None,
        Ok(Err(FrameError::BadLength)) => {
            server.drop(DropReason::BadFrame);
            None
        }
    }
}

enum FrameError {
    Io,
    BadLength,
}

/// Reads one length-prefixed message into `buf` (prefix included); `Ok(None)` on a clean end
/// of stream between messages. A length below a DNS header ([`dns_tcp::message_len`]) is
/// [`FrameError::BadLength`].
async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    buf: &mut [u8],
) -> Result<Option<usize>, FrameError> {
    let mut prefix = [0u8; dns_tcp::PREFIX_LEN];
    match stream.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(_) => return Err(FrameError::Io),
    }
    let len = dns_tcp::message_len(prefix).map_err(|_| FrameError::BadLength)?;
    let Some(body) = buf.get_mut(dns_tcp::PREFIX_LEN..dns_tcp::PREFIX_LEN + len) else {
        return Err(FrameError::BadLength);
    };
    stream.read_exact(body).await.map_err(|_| FrameError::Io)?;
    buf[..2].copy_from_slice(&prefix);
    Ok(Some(len))
}
