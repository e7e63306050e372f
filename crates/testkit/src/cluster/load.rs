//! A steady DNS load from many client addresses, bounded in count and time: one UDP socket per
//! source address, created inside the client namespace (a thread enters it with `setns`, so the
//! sockets live there while this process drives them), each asking the VIP for the zone's TXT
//! at its own pace and recording which node answered. Runs on a current-thread tokio runtime on
//! one thread of its own; stops at its deadline, after its query budget, or when told to.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use netlab::Ns;

/// The hard bounds of every load, whatever the caller asks.
const MAX_DURATION: Duration = Duration::from_secs(45);
const MAX_QUERIES_PER_CLIENT: u32 = 400;

/// What one load does.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Between two queries of one client (also how long a client waits for an answer).
    pub pace: Duration,
    /// Queries per client at most.
    pub queries: u32,
    /// The load ends this long after it started at the latest.
    pub duration: Duration,
}

/// One answer a client got: when its query left, and the node its TXT named.
#[derive(Debug, Clone)]
pub struct Answer {
    pub sent: Instant,
    pub node: String,
}

/// What one client saw.
#[derive(Debug, Clone)]
pub struct ClientLog {
    pub addr: Ipv4Addr,
    /// The client's UDP source port (fixed for the load: routers hashing on ports see one flow).
    pub port: u16,
    pub sent: u32,
    pub answers: Vec<Answer>,
}

impl ClientLog {
    /// The distinct nodes that answered, in order of first answer.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = Vec::new();
        for a in &self.answers {
            if !nodes.contains(&a.node) {
                nodes.push(a.node.clone());
            }
        }
        nodes
    }

    /// Answers to queries sent at or after `at`.
    pub fn answered_since(&self, at: Instant) -> usize {
        self.answers.iter().filter(|a| a.sent >= at).count()
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    logs: Arc<Mutex<Vec<ClientLog>>>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Binds one UDP socket per source address inside `ns` (by entering it on a thread of its own).
fn bind_in(ns: &Ns, sources: &[Ipv4Addr]) -> Vec<UdpSocket> {
    let name = ns.name().to_string();
    let sources = sources.to_vec();
    crate::netns::run_in(ns, move || {
        sources
            .iter()
            .map(|&source| {
                let socket = UdpSocket::bind((source, 0))
                    .unwrap_or_else(|e| panic!("bind {source} in {name}: {e}"));
                socket.set_nonblocking(true).expect("non-blocking socket");
                socket
            })
            .collect()
    })
}

impl Load {
    /// Starts the load from every address of `sources` (in `client`) to `vip`:53.
    pub fn start(client: &Ns, sources: &[Ipv4Addr], vip: Ipv4Addr, spec: LoadSpec) -> Load {
        let sockets = bind_in(client, sources);
        let stop = Arc::new(AtomicBool::new(false));
        let logs = Arc::new(Mutex::new(
            sources
                .iter()
                .zip(&sockets)
                .map(|(&addr, socket)| ClientLog {
                    addr,
                    port: socket.local_addr().map_or(0, |a| a.port()),
                    sent: 0,
                    answers: Vec::new(),
                })
                .collect::<Vec<_>>(),
        ));
        let (flag, shared) = (stop.clone(), logs.clone());
        let server = SocketAddr::from((vip, 53));
        let thread = std::thread::spawn(move || run(sockets, server, spec, &flag, &shared));
        Load {
            stop,
            logs,
            thread: Some(thread),
        }
    }

    /// What every client saw so far.
    pub fn snapshot(&self) -> Vec<ClientLog> {
        lock(&self.logs).clone()
    }

    /// Waits until `check` holds for the logs so far, at most `limit`; false if it never did.
    pub fn wait_until(&self, limit: Duration, check: impl Fn(&[ClientLog]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if check(&self.snapshot()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the load has run its course (budget or deadline) and returns what every
    /// client saw.
    pub fn wait(mut self) -> Vec<ClientLog> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.snapshot()
    }

    /// Ends the load (waiting for the queries in flight) and returns what every client saw.
    pub fn finish(mut self) -> Vec<ClientLog> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.snapshot()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    sockets: Vec<UdpSocket>,
    server: SocketAddr,
    spec: LoadSpec,
    stop: &Arc<AtomicBool>,
    logs: &Arc<Mutex<Vec<ClientLog>>>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the load");
    let name = Name::from_str(&format!("{}.", netlab::seed::SEED_ZONE)).expect("the zone name");
    let deadline = Instant::now() + spec.duration.min(MAX_DURATION);
    let queries = spec.queries.min(MAX_QUERIES_PER_CLIENT);
    let count = sockets.len().max(1) as u32;
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for (index, socket) in sockets.into_iter().enumerate() {
            let socket = tokio::net::UdpSocket::from_std(socket).expect("a tokio socket");
            let (stop, logs, name) = (stop.clone(), logs.clone(), name.clone());
            // Clients start spread over one pace, so the load is steady rather than bursts.
            let offset = spec.pace * index as u32 / count;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let mut id = (index as u16).wrapping_mul(7919);
                let mut buf = vec![0u8; 4096];
                for _ in 0..queries {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                    id = id.wrapping_add(1);
                    let sent = Instant::now();
                    let mut query = Message::new();
                    query
                        .set_id(id)
                        .add_query(Query::query(name.clone(), RecordType::TXT));
                    let bytes = query.to_vec().expect("encode a query");
                    if socket.send_to(&bytes, server).await.is_err() {
                        tokio::time::sleep(spec.pace).await;
                        continue;
                    }
                    lock(&logs)[index].sent += 1;
                    let until = tokio::time::Instant::from_std(sent + spec.pace);
                    if let Ok(Some(node)) =
                        tokio::time::timeout_at(until, answer(&socket, id, &mut buf)).await
                    {
                        lock(&logs)[index].answers.push(Answer { sent, node });
                    }
                    tokio::time::sleep_until(until).await;
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// The node named by the answer to query `id` (late answers to earlier queries are skipped).
async fn answer(socket: &tokio::net::UdpSocket, id: u16, buf: &mut [u8]) -> Option<String> {
    loop {
        let len = socket.recv(buf).await.ok()?;
        let Ok(reply) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if reply.id() != id {
            continue;
        }
        return reply.answers().iter().find_map(|r| match r.data() {
            RData::TXT(txt) => Some(txt.to_string().trim_matches('"').to_string()),
            _ => None,
        });
    }
}
