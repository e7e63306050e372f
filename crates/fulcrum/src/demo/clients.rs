//! The demo's clients, in the lab's client namespace behind the router: each its own source
//! address (10.99.1.1, 10.99.1.2, ...; in a dual-stack lab as many more from fd00:10:99::1:1
//! up, asking the IPv6 VIP), asking `whoami.balanceng.net TXT` at the VIP at a steady
//! pace (one query every 250 ms, at most [`MAX_QUERIES`] each) and remembering which node
//! answered, so stickiness, and its survival across a failover, is visible. Also the zone's SOA
//! serial as each node's DNS server answers it (the view's replication line).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

use super::netns;

/// What one client has seen so far.
#[derive(Clone, Debug, Default)]
pub struct ClientStats {
    pub addr: Option<IpAddr>,
    pub sent: u64,
    pub answered: u64,
    /// The node named by the last answer.
    pub last_node: String,
    /// How many times the answering node changed.
    pub switches: u64,
}

pub struct Clients {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<Vec<ClientStats>>>,
    threads: Vec<JoinHandle<()>>,
}

/// The pause between two queries of one client.
const PACE: Duration = Duration::from_millis(250);
const ANSWER_TIMEOUT: Duration = Duration::from_millis(800);
/// A bound on each client's queries whatever the duration (about seven hours at its pace).
pub const MAX_QUERIES: u64 = 100_000;

impl Clients {
    /// Starts one client per `(source, server)` in namespace `netns`, asking `name`.
    pub fn start(
        netns: &str,
        pairs: &[(IpAddr, SocketAddr)],
        name: &str,
    ) -> anyhow::Result<Clients> {
        let name = Name::from_str(name)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(vec![ClientStats::default(); pairs.len()]));
        let mut threads = Vec::new();
        for (index, &(source, server)) in pairs.iter().enumerate() {
            let socket = netns::udp(netns, SocketAddr::new(source, 0))?;
            socket.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            let (stop, stats, name) = (stop.clone(), stats.clone(), name.clone());
            threads.push(std::thread::spawn(move || {
                run_client(index, socket, server, name, &stop, &stats)
            }));
        }
        Ok(Clients {
            stop,
            stats,
            threads,
        })
    }

    pub fn snapshot(&self) -> Vec<ClientStats> {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The IPv4 clients' sources: 10.99.1.1 and up.
    pub fn sources4(count: u8) -> Vec<IpAddr> {
        (1..=count)
            .map(|host| IpAddr::V4(Ipv4Addr::new(10, 99, 1, host)))
            .collect()
    }

    /// Stops every client and closes its socket.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn run_client(
    index: usize,
    socket: UdpSocket,
    server: SocketAddr,
    name: Name,
    stop: &AtomicBool,
    stats: &Mutex<Vec<ClientStats>>,
) {
    let update = |f: &mut dyn FnMut(&mut ClientStats)| {
        let mut all = stats.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mine) = all.get_mut(index) {
            f(mine);
        }
    };
    update(&mut |s| s.addr = socket.local_addr().ok().map(|a| a.ip()));
    let mut id: u16 = (index as u16).wrapping_mul(7919);
    let mut buf = [0u8; 4096];
    for _ in 0..MAX_QUERIES {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        id = id.wrapping_add(1);
        let Some(bytes) = query(id, &name, RecordType::TXT) else {
            return;
        };
        if socket.send_to(&bytes, server).is_ok() {
            update(&mut |s| s.sent += 1);
            if let Some(node) = receive(&socket, id, &mut buf).and_then(|m| txt(&m)) {
                update(&mut |s| {
                    s.answered += 1;
                    if !s.last_node.is_empty() && s.last_node != node {
                        s.switches += 1;
                    }
                    s.last_node = node.clone();
                });
            }
        }
        std::thread::sleep(PACE);
    }
}

fn query(id: u16, name: &Name, kind: RecordType) -> Option<Vec<u8>> {
    let mut query = Message::new();
    query.set_id(id).add_query(Query::query(name.clone(), kind));
    query.to_vec().ok()
}

/// Waits for the answer to query `id` (skipping late answers to earlier ones).
fn receive(socket: &UdpSocket, id: u16, buf: &mut [u8]) -> Option<Message> {
    loop {
        let len = socket.recv(buf).ok()?;
        match Message::from_vec(&buf[..len]) {
            Ok(reply) if reply.id() == id => return Some(reply),
            _ => continue,
        }
    }
}

/// The first TXT string of the answer: the node that answered.
fn txt(reply: &Message) -> Option<String> {
    reply.answers().iter().find_map(|r| match r.data() {
        RData::TXT(txt) => txt
            .txt_data()
            .first()
            .map(|s| String::from_utf8_lossy(s).into_owned()),
        _ => None,
    })
}

/// Asks DNS servers for a zone's SOA serial from the client namespace (10.99.0.1).
pub struct SerialProbe {
    socket: UdpSocket,
    zone: Name,
    id: u16,
}

impl SerialProbe {
    pub fn new(netns: &str, zone: &str) -> anyhow::Result<SerialProbe> {
        let socket = netns::udp(
            netns,
            SocketAddr::new(Ipv4Addr::new(10, 99, 0, 1).into(), 0),
        )?;
        socket.set_read_timeout(Some(Duration::from_millis(300)))?;
        Ok(SerialProbe {
            socket,
            zone: Name::from_str(zone)?,
            id: 0,
        })
    }

    /// The serial `server` (port 53) answers with, if it answers in time.
    pub fn serial(&mut self, server: Ipv4Addr) -> Option<u32> {
        self.id = self.id.wrapping_add(1);
        let bytes = query(self.id, &self.zone, RecordType::SOA)?;
        self.socket
            .send_to(&bytes, SocketAddr::new(server.into(), 53))
            .ok()?;
        let mut buf = [0u8; 4096];
        let reply = receive(&self.socket, self.id, &mut buf)?;
        reply.answers().iter().find_map(|r| match r.data() {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        })
    }
}
