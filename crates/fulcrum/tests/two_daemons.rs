//! Two complete daemons in one test process (`fulcrum::commands::run_until` on one tokio
//! runtime), each with its own configuration file, control socket, proxy address and sync
//! setup, in front of the same two real Bind9 on loopback. Queries go to one; the other's
//! `show` output (server counters, sessions, sync and VRRP status) must stay that of a daemon
//! that saw nothing, which holds only if no daemon state is process-global. Both daemons are
//! stopped through their shutdown futures (and, on panic, by dropping the runtime); the Bind9
//! guards kill their processes by PID.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netlab::bind9::Bind9;
use testkit::control::{control_text, DeserializeOwned};
use testkit::dns::{dig_instance, loopback_bind9, Ask};
use testkit::free_port;
use testkit::show::{ServersDoc, SyncDoc, VrrpDoc};
use tokio::sync::oneshot;
/// This test's loopback range.
const NET: [u8; 3] = [127, 0, 163];

fn addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(NET[0], NET[1], NET[2], host)
}

/// A proxy-mode node: network 1 syncing from `real` to `syncpeer` (nobody listens there), one
/// session server on `vip` in front of the two Bind9.
fn config(name: &str, real: Ipv4Addr, vip: SocketAddr, a: &Bind9, b: &Bind9) -> String {
    format!(
        "hostname {name}\n\
         network 1 {{\n  name \"in-process test\"\n  real {real}\n  syncpeer {peer}\n}}\n\
         register network 1\nenable network 1\n\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {pa}\n  dsr disable\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {pb}\n  dsr disable\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        peer = addr(99),
        ip = vip.ip(),
        port = vip.port(),
        pa = a.addr().port(),
        pb = b.addr().port(),
    )
}

/// One daemon of the two: where its files are and how to stop it.
struct Node {
    socket: PathBuf,
    vip: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    name: &str,
    host: u8,
    a: &Bind9,
    b: &Bind9,
) -> Node {
    let vip = SocketAddr::from((addr(host + 10), free_port()));
    let config_path = dir.join(format!("{name}.conf"));
    std::fs::write(&config_path, config(name, addr(host), vip, a, b)).expect("write a config");
    let socket = dir.join(format!("{name}.sock"));
    let args = fulcrum::commands::RunArgs::new(config_path, socket.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = runtime.spawn(fulcrum::commands::run_until(args, async move {
        let _ = stopped.await;
    }));
    let node = Node {
        socket,
        vip,
        stop: Some(stop),
        task,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.control("show version").contains("PID") {
        assert!(
            Instant::now() < deadline,
            "{name}: the control socket never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

impl Node {
    /// One command through the real `fulcrum control`.
    fn control(&self, command: &str) -> String {
        control_text(&self.socket, command)
    }

    /// One command's JSON document, typed.
    fn show<T: DeserializeOwned>(&self, command: &str) -> T {
        testkit::control::show(&self.socket, command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Server 1's counters in `show servers` (checked to be the server at the node's VIP):
    /// queries, responses, timeouts, drops, sessions.
    fn server_row(&self) -> Vec<u64> {
        let servers: ServersDoc = self.show("show servers");
        let row = servers
            .servers
            .iter()
            .find(|s| s.id == 1 && s.address == self.vip.ip().to_string())
            .unwrap_or_else(|| panic!("no server 1 row: {servers:?}"));
        let c = row.counters;
        vec![c.queries, c.responses, c.timeouts, c.drops, c.sessions]
    }

    /// The entries `show sync` says were sent (0 while sync does not run).
    fn sync_entries_sent(&self) -> u64 {
        let sync: SyncDoc = self.show("show sync");
        sync.detail.map_or(0, |d| d.sent.entries)
    }
}

/// `dig` from `source` to `vip`: the Bind9 instance that answered, or what dig printed.
fn dig(vip: SocketAddr, source: Ipv4Addr) -> Result<String, String> {
    dig_instance(
        vip,
        source,
        Ask {
            tcp: false,
            time: 2,
        },
    )
}

#[test]
fn two_daemons_in_one_process_share_no_state() {
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut busy = start(&runtime, dir.path(), "BUSY", 1, &a, &b);
    let mut idle = start(&runtime, dir.path(), "IDLE", 2, &a, &b);

    const CLIENTS: u8 = 20;
    for n in 0..CLIENTS {
        let answer = dig(busy.vip, addr(100 + n));
        assert!(
            answer.is_ok(),
            "client {n}: {answer:?}\n{}",
            busy.control("show servers")
        );
    }

    let counters = busy.server_row();
    assert_eq!(
        counters[0],
        u64::from(CLIENTS),
        "queries of the busy one: {counters:?}"
    );
    assert_eq!(
        counters[4],
        u64::from(CLIENTS),
        "sessions of the busy one: {counters:?}"
    );
    let sessions = busy.control("show sessions all");
    assert!(sessions.contains(&addr(100).to_string()), "{sessions}");
    // Its sync runs (the peer is silent) and its session tables report to it: every new
    // session goes out as an entry (flushed within a few ms; the bound is generous).
    let deadline = Instant::now() + Duration::from_secs(5);
    while busy.sync_entries_sent() < u64::from(CLIENTS) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sync: SyncDoc = busy.show("show sync");
    assert_eq!(sync.state, "running", "{sync:?}");
    let detail = sync.detail.expect("a running driver's counters");
    assert_eq!(detail.local, addr(1).to_string(), "{detail:?}");
    assert!(detail.sent.entries >= u64::from(CLIENTS), "{detail:?}");

    // The other one saw nothing: its own counters, its own session table, its own sync driver.
    assert_eq!(
        idle.server_row(),
        [0, 0, 0, 0, 0],
        "{}",
        idle.control("show servers")
    );
    let sessions = idle.control("show sessions all");
    assert!(
        !sessions.contains(&NET.map(|o| o.to_string()).join(".")),
        "{sessions}"
    );
    let sync: SyncDoc = idle.show("show sync");
    let detail = sync.detail.expect("a running driver's counters");
    assert_eq!(detail.local, addr(2).to_string(), "{detail:?}");
    assert_eq!(
        detail.sent.entries, 0,
        "the idle one sent sessions: {detail:?}"
    );
    let vrrp: VrrpDoc = idle.show("show vrrp");
    assert!(vrrp.ipv4.is_none() && vrrp.ipv6.is_none(), "{vrrp:?}");
    assert!(idle.control("show config").contains("hostname IDLE"));

    // Stopping one leaves the other serving.
    let _ = busy.stop.take().map(|stop| stop.send(()));
    let stopped = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), &mut busy.task).await });
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the busy daemon did not stop cleanly: {stopped:?}"
    );
    assert!(!busy.socket.exists(), "its control socket was not removed");
    let answer = dig(idle.vip, addr(200));
    assert!(
        answer.is_ok(),
        "the idle daemon after the other stopped: {answer:?}"
    );
    assert_eq!(idle.server_row()[0], 1);
    let _ = idle.stop.take().map(|stop| stop.send(()));
    let stopped = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), &mut idle.task).await });
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}
