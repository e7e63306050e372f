//! The demo's clients: each its own source address, asking `whoami.ZONE TXT` through Fulcrum at
//! a steady pace and remembering which node answered, so stickiness is visible.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

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
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

impl Clients {
    /// Starts `count` clients on 127.0.1.1, 127.0.1.2, ... querying `server`.
    pub fn start(count: u8, server: SocketAddr, zone: &str) -> anyhow::Result<Clients> {
        let name = Name::from_str(&format!("whoami.{zone}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(vec![ClientStats::default(); usize::from(count)]));
        let mut threads = Vec::new();
        for index in 0..count {
            let source = SocketAddr::new(Ipv4Addr::new(127, 0, 1, index + 1).into(), 0);
            let socket = UdpSocket::bind(source)?;
            socket.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            let (stop, stats, name) = (stop.clone(), stats.clone(), name.clone());
            threads.push(std::thread::spawn(move || {
                run_client(usize::from(index), socket, server, name, &stop, &stats)
            }));
        }
        Ok(Clients {
            stop,
            stats,
            threads,
        })
    }

    pub fn snapshot(&self) -> Vec<ClientStats> {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

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
        if let Ok(mut all) = stats.lock() {
            if let Some(mine) = all.get_mut(index) {
                f(mine);
            }
        }
    };
    update(&mut |s| s.addr = socket.local_addr().ok().map(|a| a.ip()));
    let mut id: u16 = (index as u16).wrapping_mul(7919);
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        id = id.wrapping_add(1);
        let mut query = Message::new();
        query
            .set_id(id)
            .add_query(Query::query(name.clone(), RecordType::TXT));
        let Ok(bytes) = query.to_vec() else { return };
        if socket.send_to(&bytes, server).is_ok() {
            update(&mut |s| s.sent += 1);
            if let Some(node) = receive_answer(&socket, id, &mut buf) {
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

/// Waits for the answer to query `id` and returns the node its TXT names.
fn receive_answer(socket: &UdpSocket, id: u16, buf: &mut [u8]) -> Option<String> {
    loop {
        let len = socket.recv(buf).ok()?;
        let Ok(reply) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if reply.id() != id {
            continue; // a late answer to an earlier query
        }
        return reply.answers().iter().find_map(|r| match r.data() {
            RData::TXT(txt) => Some(txt.to_string().trim_matches('"').to_string()),
            _ => None,
        });
    }
}
