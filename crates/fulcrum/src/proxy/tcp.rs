//! The TCP side of the proxy: one tokio runtime on its own thread accepts on every server that
//! serves TCP, picks the target by the same rules as UDP (sessions shared), and relays
//! length-prefixed DNS messages both ways (RFC 1035 section 4.2.2; RFC 7766 pipelining: queries
//! and answers flow independently, so a client may send many before reading). The same
//! runtime sweeps idle sessions once a second.
//!
//! Bad input closes only its own connection: a frame whose length cannot be a DNS message
//! (shorter than a header) is counted `BadFrame` and the connection ends; a well-framed message
//! that is not a query is counted by reason and skipped. A connection idle (no query from the
//! client) for the idle timeout is closed. Connections are capped; at the cap new ones are
//! refused, counted `ConnLimit`, and one log line says so until the count falls again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fulcrum_core::stats::DropReason;
use fulcrum_wire::dns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::counters::Slot;
use super::snapshot::{PickState, Snapshot, Transport};
use super::Shared;

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
    let pick = Arc::new(Mutex::new(PickState::new(0x51ed_2701_a5a5_0001)));
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
    pick: &Arc<Mutex<PickState>>,
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

/// Decrements the connection count when a relay ends, however it ends.
struct ConnectionGuard(Arc<Shared>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.tcp_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    listener: TcpListener,
    server_id: u32,
    shared: Arc<Shared>,
    pick: Arc<Mutex<PickState>>,
) {
    let cap = shared.options.max_tcp_connections;
    let mut at_cap_logged = false;
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
        let open = shared.tcp_connections.load(Ordering::Relaxed);
        if open >= cap {
            slot.drop(DropReason::ConnLimit);
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
        shared.tcp_connections.fetch_add(1, Ordering::Relaxed);
        let guard = ConnectionGuard(shared.clone());
        let chosen = {
            let mut state = pick.lock().unwrap_or_else(|p| p.into_inner());
            server.choose(peer.ip(), Transport::Tcp, &snapshot.sessions, &mut state)
        };
        let Some(ti) = chosen else {
            slot.drop(DropReason::NoTarget);
            continue;
        };
        let target = server.targets[ti].addr;
        let idle = shared.options.tcp_idle;
        let writer = shared.tcp_writer();
        let snapshot = snapshot.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let Some(server) = snapshot.server(server_id) else {
                return;
            };
            let target_counters = server.targets[ti].counters.clone();
            let server_slot = server.counters.slot(writer);
            let target_slot = target_counters.slot(writer);
            relay(stream, target, idle, server_slot, target_slot).await;
        });
    }
}

/// Relays one client connection to `target` until either side closes, the client idles past
/// `idle`, or a frame is broken.
async fn relay(
    client: TcpStream,
    target: SocketAddr,
    idle: Duration,
    server: &Slot,
    target_slot: &Slot,
) {
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
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
        let mut buf = vec![0u8; 65_537];
        loop {
            let frame =
                match tokio::time::timeout(idle, read_frame(&mut client_read, &mut buf)).await {
                    Ok(Ok(Some(len))) => len,
                    Ok(Ok(None)) => {
                        let _ = target_write.shutdown().await;
                        return true;
                    }
                    Err(_) | Ok(Err(FrameError::Io)) => return false,
                    Ok(Err(FrameError::BadLength)) => {
                        server.drop(DropReason::BadFrame);
                        return false;
                    }
                };
            let message = &buf[2..2 + frame];
            server.query(message.len());
            if let Err(e) = dns::classify_query(message) {
                server.drop(super::udp::query_drop_reason(e));
                continue;
            }
            target_slot.forwarded(message.len());
            if target_write.write_all(&buf[..2 + frame]).await.is_err() {
                return false;
            }
        }
    };
    let answers = async {
        let mut buf = vec![0u8; 65_537];
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
            // Counted before the write so that a client holding the answer sees it counted.
            server.response(frame);
            if client_write.write_all(&buf[..2 + frame]).await.is_err() {
                return;
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

enum FrameError {
    Io,
    BadLength,
}

/// Reads one length-prefixed message into `buf` (prefix included); `Ok(None)` on a clean end
/// of stream between messages. A length below a DNS header is [`FrameError::BadLength`].
async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    buf: &mut [u8],
) -> Result<Option<usize>, FrameError> {
    let mut prefix = [0u8; 2];
    match stream.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(_) => return Err(FrameError::Io),
    }
    let len = usize::from(u16::from_be_bytes(prefix));
    if len < dns::HEADER_LEN {
        return Err(FrameError::BadLength);
    }
    let Some(body) = buf.get_mut(2..2 + len) else {
        return Err(FrameError::BadLength);
    };
    stream.read_exact(body).await.map_err(|_| FrameError::Io)?;
    buf[..2].copy_from_slice(&prefix);
    Ok(Some(len))
}
