//! The socket proxy data plane (UDP and TCP) for targets without `dsr enable`.
//!
//! Contract: [`Proxy::apply`] turns a [`Config`] into an immutable forwarding snapshot
//! (listeners bound, target sets and choosers built) and publishes it; UDP worker threads (one
//! per core by default, see [`udp`]) and the TCP runtime ([`tcp`]) pick it up within one tick.
//! What becomes of each datagram, connection and message is decided by the pure functions in
//! [`decide`] (`on_query`, `on_answer`, `on_connection`); the threads only carry the verdicts
//! out. `docs/proxy.md` walks through the whole plane.
//! Nothing on the per-packet path takes a lock except one session-shard mutex for servers
//! with `method session`, and nothing allocates. Counters are per writer thread and summed on
//! read. Everything from the network is counted and dropped when malformed, never a panic.

mod data_plane;
mod decide;
mod proxy_header;
mod snapshot;
mod tcp;
mod tcp_limits;
#[cfg(test)]
mod tcp_tests;
mod udp;
mod upstream_pool;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fulcrum_core::model::{Config, Method};
use fulcrum_core::outstanding;
use fulcrum_core::stats::Counters;

use crate::plane::control::{log_fail_open_change, preferred_text, Control};
use crate::plane::sessions::Sessions;
use crate::plane::tap::{Plane, SyncTap};
use crate::plane::targets::agent_value_of;
use snapshot::{BuildContext, Snapshot, Transport};
use tcp_limits::{ClientTable, TcpCounters, TcpLimits};

/// Tunables of the data plane (the configuration language has no words for these yet).
#[derive(Debug, Clone, Copy)]
pub struct ProxyOptions {
    /// UDP worker threads (default: one per available core, or `FULCRUM_PROXY_WORKERS`).
    pub workers: usize,
    /// How long a UDP query may wait for its answer.
    pub udp_timeout: Duration,
    /// TCP client connections the file-descriptor limit allows (`crate::limits::tcp_budget`);
    /// `set tcpmaxconn` above it is lowered to it.
    pub tcp_descriptor_budget: u64,
}

/// Datagrams per `recvmmsg`/`sendmmsg` of a UDP worker, on its listeners and on the sockets of
/// its upstream pools alike.
pub const UDP_BATCH: usize = 32;

/// Overrides the default number of UDP workers (for benchmarks and small machines).
pub const WORKERS_ENV: &str = "FULCRUM_PROXY_WORKERS";

impl Default for ProxyOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = std::env::var(WORKERS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(cores);
        ProxyOptions {
            workers,
            udp_timeout: Duration::from_secs(2),
            tcp_descriptor_budget: crate::limits::tcp_budget(crate::limits::current().soft),
        }
    }
}

/// What the worker threads share.
pub(crate) struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Bumped after each new snapshot; workers compare it once per loop.
    epoch: AtomicU64,
    stop: AtomicBool,
    started: Instant,
    options: ProxyOptions,
    tcp_wakeup: tokio::sync::Notify,
    tcp_connections: Arc<AtomicUsize>,
    tcp_clients: Arc<ClientTable>,
    tcp_limits: ArcSwap<TcpLimits>,
    tcp_counters: TcpCounters,
    /// The epoch each UDP worker forwards by (so `apply` can wait until all have switched).
    worker_epochs: Box<[AtomicU64]>,
}

impl Shared {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counter slot the TCP runtime writes (the UDP workers own the ones before it).
    fn tcp_writer(&self) -> usize {
        self.options.workers
    }
}

/// The running proxy data plane. Cheap to share (`Arc<Proxy>`); all methods take `&self`.
pub struct Proxy {
    shared: Arc<Shared>,
    control: Mutex<Control>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::new()
    }
}

impl Proxy {
    /// Creates an idle data plane (no listeners until [`Proxy::apply`]) with default options.
    pub fn new() -> Proxy {
        Proxy::with_options(ProxyOptions::default())
    }

    /// Creates an idle data plane whose sessions no sync driver sees (a tap of its own).
    pub fn with_options(options: ProxyOptions) -> Proxy {
        Proxy::with_sync(options, &SyncTap::new())
    }

    /// Creates an idle data plane and starts its threads; its session table registers with the
    /// daemon's `sync` tap.
    pub fn with_sync(options: ProxyOptions, sync: &Arc<SyncTap>) -> Proxy {
        let options = ProxyOptions {
            workers: options.workers.clamp(1, 256),
            ..options
        };
        let started = Instant::now();
        let sessions = Arc::new(Sessions::registered(
            sync,
            Plane::Proxy,
            fulcrum_core::model::DEFAULT_MAX_SESSIONS,
            started,
        ));
        let timeout_ms = options.udp_timeout.as_millis() as u64;
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(Snapshot::empty(sessions, timeout_ms))),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            started,
            options,
            tcp_wakeup: tokio::sync::Notify::new(),
            tcp_connections: Arc::new(AtomicUsize::new(0)),
            tcp_clients: Arc::new(ClientTable::default()),
            tcp_limits: ArcSwap::from_pointee(TcpLimits::from_settings(
                &fulcrum_core::model::Settings::default(),
                options.tcp_descriptor_budget,
            )),
            tcp_counters: TcpCounters::default(),
            worker_epochs: (0..options.workers).map(|_| AtomicU64::new(0)).collect(),
        });
        let mut threads = Vec::new();
        for index in 0..options.workers {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("fulcrum-udp-{index}"))
                .spawn(move || udp::run(index, shared));
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => tracing::error!("proxy: cannot start udp worker {index}: {e}"),
            }
        }
        let tcp_shared = shared.clone();
        match std::thread::Builder::new()
            .name("fulcrum-tcp".into())
            .spawn(move || tcp::run(tcp_shared))
        {
            Ok(handle) => threads.push(handle),
            Err(e) => tracing::error!("proxy: cannot start the tcp thread: {e}"),
        }
        Proxy {
            shared,
            control: Mutex::new(Control::default()),
            threads: Mutex::new(threads),
        }
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings listeners and the forwarding snapshot in line with `config`: binds newly enabled
    /// servers, closes disabled ones, swaps in the new target set. Returns one message per
    /// problem (a server whose address cannot be bound, ...); the rest is applied anyway.
    pub fn apply(&self, config: &Config) -> Vec<String> {
        let mut control = self.control();
        control.config = Some(config.clone());
        self.rebuild(&mut control)
    }

    fn rebuild(&self, control: &mut Control) -> Vec<String> {
        let Some(config) = control.config.as_ref() else {
            return Vec::new();
        };
        let previous = self.shared.snapshot();
        let sessions = previous.sessions.clone();
        sessions.apply_bound("proxy", config.settings.max_sessions);
        let (mut snapshot, problems) = snapshot::build(BuildContext {
            config,
            operational: &control.operational,
            agent_values: &control.agent_values,
            previous: &previous,
            sessions,
            workers: self.shared.options.workers,
            udp_timeout_ms: self.shared.options.udp_timeout.as_millis() as u64,
            server_counters: &mut control.server_counters,
            target_counters: &mut control.target_counters,
            counter_writers: self.shared.options.workers + 1,
        });
        control
            .guards
            .refresh(config, snapshot.servers.iter().map(|s| s.id), true);
        for server in &mut snapshot.servers {
            server.guard = control.guards.get(server.id);
        }
        log_fail_open(&previous, &snapshot);
        drop(previous);
        let limits =
            TcpLimits::from_settings(&config.settings, self.shared.options.tcp_descriptor_budget);
        if **self.shared.tcp_limits.load() != limits {
            if limits.max_connections < config.settings.tcp_max_connections as usize {
                tracing::warn!(
                    "proxy: at most {} TCP connections (set tcpmaxconn {}): the file-descriptor \
                     limit allows no more; raise LimitNOFILE to allow more",
                    limits.max_connections,
                    config.settings.tcp_max_connections
                );
            }
            self.shared.tcp_limits.store(Arc::new(limits));
        }
        *self
            .shared
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        let epoch = self.shared.epoch.fetch_add(1, Ordering::Release) + 1;
        self.shared.tcp_wakeup.notify_one();
        self.wait_for_workers(epoch);
        for problem in &problems {
            tracing::warn!("proxy: {problem}");
        }
        problems
    }

    /// Waits (a worker tick at most, bounded) until every running UDP worker forwards by
    /// `epoch`, so that a caller of `apply` can rely on the new configuration at once.
    fn wait_for_workers(&self, epoch: u64) {
        let deadline = Instant::now() + Duration::from_secs(1);
        let running = self.threads.lock().unwrap_or_else(|p| p.into_inner()).len();
        if running == 0 {
            return;
        }
        while Instant::now() < deadline {
            let behind = self
                .shared
                .worker_epochs
                .iter()
                .any(|seen| seen.load(Ordering::Acquire) < epoch);
            if !behind {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Marks a target operational or not (health checks). Sessions on a target going down are
    /// moved at once by the server's method.
    pub fn set_operational(&self, target: u32, operational: bool) {
        let mut control = self.control();
        // Every verdict, changed here or not: sync must know what this node holds down.
        (self.shared.snapshot().sessions).note_target_operational(target, operational);
        if !control.note_operational(target, operational) {
            return;
        }
        self.rebuild(&mut control);
        if operational {
            return;
        }
        let snapshot = self.shared.snapshot();
        for server in &snapshot.servers {
            if server.method != Method::Session || !server.targets.iter().any(|t| t.id == target) {
                continue;
            }
            (snapshot.sessions).move_off(
                "proxy",
                server.id,
                target,
                server.chooser(Transport::Udp),
            );
        }
    }

    /// A target's agent reported `value` (`None`, or 0, which means down: no value to rank it
    /// by). The snapshot is rebuilt only when this changes where `method agent` sends new
    /// clients; otherwise the value is kept for the next rebuild.
    pub fn set_agent_value(&self, target: u32, value: Option<u32>) {
        let mut control = self.control();
        if !control.note_agent_value(target, value) {
            return;
        }
        let Some(config) = control.config.as_ref() else {
            return;
        };
        let snapshot = self.shared.snapshot();
        let value_of = |id| agent_value_of(config, &control.agent_values, id);
        let changed: Vec<u32> = snapshot
            .servers
            .iter()
            .filter(|s| {
                [Transport::Udp, Transport::Tcp]
                    .iter()
                    .any(|&t| s.chooser(t).agent_values_matter(&value_of))
            })
            .map(|s| s.id)
            .collect();
        drop(snapshot);
        if changed.is_empty() {
            return;
        }
        self.rebuild(&mut control);
        let snapshot = self.shared.snapshot();
        for id in changed {
            if let Some(server) = snapshot.server(id) {
                tracing::info!(
                    "proxy: server {id} (method agent): new clients go to {}",
                    preferred_text(server.chooser(Transport::Udp), &control.agent_values)
                );
            }
        }
    }

    /// Sessions in the table (for the service status line).
    pub fn session_count(&self) -> u64 {
        self.shared.snapshot().sessions.len() as u64
    }

    /// Sessions created and expired since start (for the metrics).
    pub fn session_totals(&self) -> (u64, u64) {
        self.shared.snapshot().sessions.created_expired()
    }

    /// `show sessions [N|all]` in the seed's format; `limit` None means all.
    #[cfg(test)]
    pub fn show_sessions(&self, limit: Option<usize>) -> String {
        self.shared.snapshot().sessions.show(limit)
    }

    pub fn server_counters(&self, server: u32) -> Counters {
        let mut counters = self
            .control()
            .server_counters_of(server)
            .unwrap_or_default();
        counters.sessions = self.shared.snapshot().sessions.count_of_server(server);
        counters
    }

    pub fn target_counters(&self, target: u32) -> Counters {
        let mut counters = self
            .control()
            .target_counters_of(target)
            .unwrap_or_default();
        counters.sessions = self.shared.snapshot().sessions.count_on(target);
        counters
    }

    /// The response-time histogram of a target's UDP answers (for the metrics).
    pub fn target_response_times(&self, target: u32) -> crate::plane::counters::ResponseTimes {
        let set = self.control().target_counters.get(&target).cloned();
        set.map(|s| s.response_times()).unwrap_or_default()
    }

    /// Open TCP client connections.
    #[cfg_attr(not(test), allow(dead_code))]
    /// `show tcp`: limits in force, open connections and the counters.
    pub fn show_tcp(&self) -> String {
        tcp_limits::render(&self.tcp_document())
    }

    /// `show tcp` as the typed document of the JSON format.
    pub fn tcp_document(&self) -> fulcrum_control::show::TcpDoc {
        tcp_limits::document(
            &self.shared.tcp_limits.load(),
            self.tcp_connections(),
            self.shared.tcp_clients.clients(),
            &self.shared.tcp_counters,
            crate::limits::current(),
        )
    }

    pub fn tcp_connections(&self) -> usize {
        self.shared.tcp_connections.load(Ordering::Relaxed)
    }

    /// Stops every listener and worker; returns when they are gone.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.tcp_wakeup.notify_one();
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for handle in threads {
            let _ = handle.join();
        }
        // Drop the sockets now rather than with the last reference to the proxy.
        let sessions = self.shared.snapshot().sessions.clone();
        *self
            .shared
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(Snapshot::empty(sessions, 0));
    }
}

/// One line when a server starts or stops failing open (`set failopen 1`).
fn log_fail_open(previous: &Snapshot, next: &Snapshot) {
    for server in &next.servers {
        let was = previous
            .server(server.id)
            .map_or([false; 2], |s| s.fail_open);
        log_fail_open_change("proxy", server.id, was, server.fail_open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod proxy_header_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_pool_tests;
