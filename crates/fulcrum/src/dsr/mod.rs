//! The DSR (Direct Server Return) data plane: layer-2 balancing on a raw interface, as the
//! seed's BalanceNG does on `eth1`.
//!
//! Contract: [`Dsr::apply`] turns a [`Config`] into a forwarding table ([`table`]) and, the
//! first time it names a DSR interface, opens that interface with `AF_PACKET` rings
//! (`fulcrum_sys::packet`), one socket per worker in one `PACKET_FANOUT` group. While the node
//! is active ([`Dsr::set_active`]; a node without `vrrp` always is), workers answer ARP for
//! each VIP with the VRRP virtual MAC `00:00:5e:00:01:VRID` (VRID 1 without a `vrrp` block) —
//! a MAC the host's own stack does not own, so the kernel, which holds the VIP on `lo`, drops
//! those frames as `PACKET_OTHERHOST` instead of answering a second time — and forward every
//! IPv4 frame sent to that MAC for a VIP service, unchanged at the IP layer, to the target the
//! server's method and the session table choose: destination MAC rewritten to the target's,
//! source MAC to the interface's own. A target that is this host (with `set localdsr 1`) gets
//! the IP packet through a raw socket into the local stack instead. Target MACs come from
//! Fulcrum's own ARP ([`resolver`]), sent from the network's `real` address by a maintenance
//! thread that also expires sessions; an unresolved target is not operational. Everything else
//! is left to the kernel (which has its own copy of every frame); while session sync runs
//! through the plane ([`sync_link`]), those frames that are sync datagrams for `real` are handed
//! to it, and its datagrams leave as frames from `real`. Nothing here panics on what
//! the wire sends: every frame is counted ([`plane_counters`]) under what became of it. On an
//! interface declared `access xdp`, an XDP program also steers the VIPs' UDP/TCP frames to
//! AF_XDP sockets drained by workers of their own ([`xsk`]), with the same per-frame code; the
//! AF_PACKET sockets keep everything else, and all of it when AF_XDP cannot start.
//!
//! IPv6 runs on the same interface and threads: frames with the IPv6 EtherType go to
//! [`worker6`], which forwards frames sent to the IPv6 virtual MAC `00:00:5e:00:02:VRID` for an
//! IPv6 VIP service with the same sessions and methods ([`forward6`]), answers Neighbor
//! Solicitations in place of ARP and resolves target MACs by Neighbor Discovery from `real6`
//! ([`nd`], [`resolver6`]). The IPv6 VRRP instance has its own switch ([`Dsr::set_active6`]).

mod checksum;
mod checksum6;
mod data_plane;
pub mod driver;
mod forward;
mod forward6;
mod frame_out;
mod health;
mod lifecycle;
mod maintain;
mod nd;
pub mod path;
pub mod plane_counters;
mod protect;
mod resolver;
mod resolver6;
mod steer;
pub mod sync_link;
pub mod table;
mod table6;
mod worker;
mod worker6;
pub mod xsk;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_core::model::Config;
use fulcrum_core::stats::Counters;
use fulcrum_sys::packet::{self as packet, FrameSender, PacketOptions, PacketSocket};
use fulcrum_wire::ethernet::EthernetAddress;

use crate::link::Links;
use crate::plane::control::Control as PlaneControl;
use crate::plane::sessions::Sessions;
use crate::plane::tap::{Plane, SyncTap};
use path::{PathProbe, PathProbes, PathTotals, PathWait};
use plane_counters::{PlaneCounters, PlaneTotals};
use resolver::Resolver;
use sync_link::SyncLink;
use table::{CounterMaps, DsrTable, Facts, NextHop};

/// Receive slots per worker: 8192 x 2 KB = 16 MB, about 80 ms of a 100 kpps share. With the
/// 1024 of the socket's default, a worker kept off the CPU for 10 ms on a busy 2-core machine
/// let the kernel drop 6-20 % of a 200 kpps flood (`drop-ring-full`).
const RX_FRAMES_PER_WORKER: usize = 8192;

/// Counter slots: the `AF_PACKET` workers', the maintenance thread's, then as many for the
/// AF_XDP workers (each slot has one writer).
fn counter_writers(workers: usize) -> usize {
    2 * workers + 1
}

/// Tunables (the configuration language has no words for these).
#[derive(Debug, Clone, Copy)]
pub struct DsrOptions {
    /// Worker threads, each with its own rings (default: up to two, one per core).
    pub workers: usize,
}

impl Default for DsrOptions {
    fn default() -> Self {
        DsrOptions {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        }
    }
}

/// What the threads share.
pub(crate) struct Shared {
    table: ArcSwap<DsrTable>,
    sessions: Arc<Sessions>,
    /// The VRRP driver's switch: false while this node is a backup.
    active: AtomicBool,
    counters: PlaneCounters,
    resolver: Mutex<Resolver>,
    /// A worker learned a MAC that changes the table.
    resolver_changed: AtomicBool,
    /// Gratuitous ARP for the VIPs is due (start, becoming active).
    announce: AtomicBool,
    /// DSR-path health probes in flight.
    path: Arc<PathProbes>,
    /// Session sync through the DSR interface (hosts without `real` in the kernel).
    sync: SyncLink,
    /// The IPv6 side: its VRRP switch and neighbour discovery.
    nd6: nd::Nd6,
}

/// The threads serving one interface.
struct Running {
    interface: String,
    /// The kernel index the sockets are bound to: a re-created interface needs new ones.
    ifindex: u32,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// What the threads were started for: (`access xdp`, frames routed to the node's MAC).
    mode: StartMode,
    /// The XDP program on the interface: the AF_XDP path's, or one without sockets for
    /// routed frames on `AF_PACKET` alone (`None`: no program, or it could not attach).
    steering: Option<steer::Steering>,
    /// AF_XDP sockets (0: `AF_PACKET` only).
    xsk_sockets: usize,
}

/// What a start of the threads depends on besides the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct StartMode {
    /// The interface is declared `access xdp`.
    xdp: bool,
    /// An `announce` block: routers send the VIPs' frames to the interface's own MAC.
    routed: bool,
}

#[derive(Default)]
struct Control {
    /// Configuration, health, agent values and counter sets: as the proxy keeps them.
    plane: PlaneControl,
    running: Option<Running>,
    /// What the link watcher says of the interfaces.
    links: Links,
    /// The interface the plane waits for (down or missing), once logged.
    waiting_for: Option<String>,
}

struct Inner {
    shared: Arc<Shared>,
    control: Mutex<Control>,
    options: DsrOptions,
}

/// The running DSR plane. Share it as `Arc<Dsr>`; all methods take `&self`.
pub struct Dsr {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dsr {
    /// An idle plane: no thread runs until [`Dsr::apply`] names a DSR interface. Its session
    /// table registers with the daemon's `sync` tap.
    pub fn new(options: DsrOptions, sync: &Arc<SyncTap>) -> Dsr {
        let options = DsrOptions {
            workers: options.workers.clamp(1, 64),
        };
        let shared = Arc::new(Shared {
            table: ArcSwap::from_pointee(DsrTable::default()),
            sessions: Arc::new(Sessions::registered(
                sync,
                Plane::Dsr,
                fulcrum_core::model::DEFAULT_MAX_SESSIONS,
                Instant::now(),
            )),
            active: AtomicBool::new(true),
            counters: PlaneCounters::new(counter_writers(options.workers)),
            resolver: Mutex::new(Resolver::default()),
            resolver_changed: AtomicBool::new(false),
            announce: AtomicBool::new(true),
            path: Arc::new(PathProbes::default()),
            sync: SyncLink::default(),
            nd6: nd::Nd6::default(),
        });
        Dsr {
            inner: Arc::new(Inner {
                shared,
                control: Mutex::new(Control::default()),
                options,
            }),
        }
    }

    /// Brings the plane in line with `config`. Returns one message per problem (a local target
    /// without `localdsr`, an interface that cannot be opened, ...); the rest is applied.
    pub fn apply(&self, config: &Config) -> Vec<String> {
        let mut control = lock(&self.inner.control);
        (self.inner.shared.sessions).apply_bound("dsr", config.settings.max_sessions);
        control.plane.config = Some(config.clone());
        self.inner.rebuild(&mut control)
    }

    /// Follows the link watcher: the plane stops while its interface is down or missing, and
    /// starts on the interface's current index when it is up (new sockets for a re-created one).
    pub fn set_links(&self, links: Links) {
        let mut control = lock(&self.inner.control);
        control.links = links;
        self.inner.rebuild(&mut control);
    }

    /// How a DSR-path probe reaches `target` now (the health driver's `dsr-path` check).
    pub fn path_route(&self, target: u32) -> PathRoute {
        let table = self.inner.shared.table.load();
        match table.targets.iter().find(|t| t.id == target) {
            None => PathRoute::NotBalanced,
            Some(t) => match t.next_hop {
                NextHop::Local => PathRoute::Local,
                NextHop::Mac(mac) => PathRoute::Mac(mac),
                NextHop::Unresolved => PathRoute::Unresolved,
            },
        }
    }

    /// Sends a DSR-path probe carrying `payload` to `vip:vip_port` at the target's `mac`, from
    /// the network's `real` address (`real6` for an IPv6 VIP); the answers come through the
    /// returned wait.
    pub fn send_path_probe(
        &self,
        vip: IpAddr,
        vip_port: u16,
        mac: EthernetAddress,
        payload: &[u8],
    ) -> Result<PathWait, String> {
        let table = self.inner.shared.table.load();
        let source = match vip {
            IpAddr::V4(_) => table.source.map(IpAddr::V4),
            IpAddr::V6(_) => table.source6.map(IpAddr::V6),
        };
        let Some(source) = source else {
            let real = if vip.is_ipv4() { "real" } else { "real6" };
            return Err(format!(
                "the DSR network has no `{real}` address to probe from"
            ));
        };
        self.inner.shared.path.send(&PathProbe {
            source,
            vip,
            vip_port,
            mac,
            payload,
        })
    }

    /// Counters of the DSR-path probes.
    pub fn path_totals(&self) -> PathTotals {
        self.inner.shared.path.totals()
    }

    /// A DSR-path prober got an answer that was not a response to its query.
    pub fn count_path_ignored(&self) {
        self.inner.shared.path.count_ignored();
    }

    /// The VRRP driver's switch: a backup answers no ARP for the VIPs and forwards nothing.
    pub fn set_active(&self, active: bool) {
        let was = self.inner.shared.active.swap(active, Ordering::AcqRel);
        if active && !was {
            self.inner.shared.announce.store(true, Ordering::Release);
        }
    }

    pub fn is_active(&self) -> bool {
        self.inner.shared.active.load(Ordering::Acquire)
    }

    /// Sessions held by the DSR plane.
    pub fn session_count(&self) -> u64 {
        let table = self.inner.shared.table.load();
        table
            .servers
            .iter()
            .map(|s| self.inner.shared.sessions.count_of_server(s.id))
            .sum()
    }

    /// Sessions created and expired since the plane started (for the metrics).
    pub fn session_totals(&self) -> (u64, u64) {
        self.inner.shared.sessions.created_expired()
    }

    /// Counters of a DSR server (`queries` are frames received for it), if it has any here.
    pub fn server_counters(&self, server: u32) -> Option<Counters> {
        let mut counters = lock(&self.inner.control).plane.server_counters_of(server)?;
        counters.sessions = self.inner.shared.sessions.count_of_server(server);
        Some(counters)
    }

    /// Counters of a DSR target (`queries` are frames forwarded to it; DSR never sees
    /// responses), if it has any here.
    pub fn target_counters(&self, target: u32) -> Option<Counters> {
        let mut counters = lock(&self.inner.control).plane.target_counters_of(target)?;
        counters.sessions = self.inner.shared.sessions.count_on(target);
        Some(counters)
    }

    /// The plane's own counters.
    pub fn totals(&self) -> PlaneTotals {
        self.inner.shared.counters.totals()
    }

    /// Whether the plane takes the frames routers send to the interface's own MAC for its VIPs
    /// where it must (an active-active node: its XDP program is attached); true on a node
    /// whose VIPs are not routed to it.
    pub fn takes_routed_frames(&self) -> bool {
        lock(&self.inner.control)
            .running
            .as_ref()
            .is_none_or(|r| !r.mode.routed || r.steering.is_some())
    }

    /// The interface the plane runs on, if any.
    pub fn interface(&self) -> Option<String> {
        lock(&self.inner.control)
            .running
            .as_ref()
            .map(|r| r.interface.clone())
    }

    /// Stops every thread; returns when they are gone.
    pub fn shutdown(&self) {
        let running = lock(&self.inner.control).running.take();
        if let Some(running) = running {
            running.stop.store(true, Ordering::Relaxed);
            for handle in running.threads {
                let _ = handle.join();
            }
            self.inner.shared.path.set_sender(None);
            self.inner.shared.sync.set_sender(None);
            tracing::info!(
                "dsr: stopped on {}; counters:\n{}",
                running.interface,
                self.totals().render()
            );
        }
    }
}

impl Drop for Dsr {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn rebuild(self: &Arc<Self>, control: &mut Control) -> Vec<String> {
        let Some(config) = control.plane.config.clone() else {
            return Vec::new();
        };
        let local_addrs = packet::local_ipv4_addrs().unwrap_or_else(|e| {
            tracing::warn!("dsr: cannot list this host's addresses ({e}); assuming none");
            Vec::new()
        });
        let local_addrs6 = packet::local_ipv6_addrs().unwrap_or_else(|e| {
            tracing::warn!("dsr: cannot list this host's IPv6 addresses ({e}); assuming none");
            Vec::new()
        });
        let macs = lock(&self.shared.resolver).macs();
        let macs6 = lock(&self.shared.nd6.resolver).macs();
        let writers = counter_writers(self.options.workers);
        let (mut table, mut problems) = table::build(
            &config,
            &Facts {
                local_addrs: &local_addrs,
                local_addrs6: &local_addrs6,
                macs: &macs,
                macs6: &macs6,
                operational: &control.plane.operational,
                agent_values: &control.plane.agent_values,
            },
            CounterMaps {
                servers: &mut control.plane.server_counters,
                targets: &mut control.plane.target_counters,
                writers,
            },
        );
        let served = table.servers.iter().map(|s| s.id);
        control.plane.guards.refresh(&config, served, false);
        let services = table.servers.iter().map(|s| protect::Service {
            id: s.id,
            vip: s.vip,
            port: s.port,
            protocol: s.protocol,
            counters: s.counters.clone(),
        });
        let virtual_macs = [table.virtual_mac, table.virtual_mac6];
        table.guards = protect::FrameGuards::new(services, virtual_macs, &control.plane.guards);
        let mut wanted = table.to_resolve();
        wanted.extend(self.shared.sync.peers());
        lock(&self.shared.resolver).set_wanted(&wanted);
        lock(&self.shared.nd6.resolver).set_wanted(&table.to_resolve6());
        let interface = table.interface.clone();
        health::log_fail_open(&self.shared.table.load(), &table);
        self.shared.table.store(Arc::new(table));
        self.follow_interface(control, interface, &mut problems);
        if let Some(steering) = control.running.as_mut().and_then(|r| r.steering.as_mut()) {
            if let Err(e) = steering.follow(&self.shared.table.load()) {
                problems.push(format!("cannot steer the VIPs with XDP: {e}"));
            }
        }
        for problem in &problems {
            tracing::error!("dsr: {problem}");
        }
        problems
    }

    /// Opens the sockets (so an error is reported to the caller) and starts the threads; with
    /// `mode.xdp`, also the AF_XDP path, or logs why the interface runs on `AF_PACKET` alone;
    /// with `mode.routed`, makes sure the XDP program hands routed frames to the plane.
    fn start(self: &Arc<Self>, interface: &str, mode: StartMode) -> std::io::Result<Running> {
        let own_mac = EthernetAddress(packet::interface_mac(interface)?);
        let sender = FrameSender::open(interface)?;
        let path_sender = FrameSender::open(interface)?;
        let sync_sender = FrameSender::open(interface)?;
        let group = (std::process::id() as u16) ^ 0x5d5e;
        let mut sockets: Vec<PacketSocket> = Vec::new();
        for _ in 0..self.options.workers {
            sockets.push(PacketSocket::open(
                interface,
                PacketOptions {
                    fanout_group: Some(group),
                    rx_frames: RX_FRAMES_PER_WORKER,
                    ..PacketOptions::default()
                },
            )?);
        }
        let ifindex = sockets.first().map_or(0, PacketSocket::ifindex);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (index, socket) in sockets.into_iter().enumerate() {
            let local = match packet::RawIpv4Sender::open() {
                Ok(sender) => Some(sender),
                Err(e) => {
                    tracing::warn!("dsr: no local delivery ({e})");
                    None
                }
            };
            let local6 = packet::RawIpv6Sender::open()
                .map_err(|e| tracing::warn!("dsr: no local IPv6 delivery ({e})"))
                .ok();
            let job = worker::Worker {
                index,
                socket,
                local,
                local6,
                own_mac,
                stop: stop.clone(),
            };
            let shared = self.shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("fulcrum-dsr-{index}"))
                    .spawn(move || worker::run(job, shared))?,
            );
        }
        let xdp = if mode.xdp {
            let how = xsk::Start {
                interface,
                ifindex,
                workers: self.options.workers,
                first_slot: self.options.workers + 1,
                own_mac,
                stop: &stop,
            };
            match xsk::start(how, &self.shared) {
                Ok(path) => Some(path),
                Err(reason) => {
                    tracing::warn!(
                        "dsr: AF_XDP unavailable on {interface}, AF_PACKET only: {reason}"
                    );
                    None
                }
            }
        } else {
            None
        };
        let (steering, xsk_sockets) = match xdp {
            Some(path) => {
                threads.extend(path.threads);
                (Some(path.steering), path.sockets)
            }
            None if mode.routed => {
                let table = self.shared.table.load();
                match steer::Steering::for_routed_frames(ifindex, own_mac, &table) {
                    Ok(steering) => {
                        tracing::info!(
                            "dsr: frames routed to {interface}'s own MAC for a VIP are the plane's (XDP program in {} mode)",
                            steering.mode()
                        );
                        (Some(steering), 0)
                    }
                    Err(reason) => {
                        tracing::error!(
                            "dsr: cannot take the frames routers send to {interface}'s own MAC, so this active-active node cannot serve its DSR VIPs (withdrawn): {reason}"
                        );
                        (None, 0)
                    }
                }
            }
            None => (None, 0),
        };
        let inner = self.clone();
        let maintenance_stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("fulcrum-dsr-arp".into())
                .spawn(move || inner.maintain(sender, own_mac, maintenance_stop))?,
        );
        self.shared.path.set_sender(Some((path_sender, own_mac)));
        self.shared.sync.set_sender(Some((sync_sender, own_mac)));
        Ok(Running {
            interface: interface.to_string(),
            ifindex,
            stop,
            threads,
            mode,
            steering,
            xsk_sockets,
        })
    }
}

/// How a DSR-path probe reaches a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRoute {
    /// At this MAC on the DSR interface.
    Mac(EthernetAddress),
    /// This host (`set localdsr 1`): through the local stack.
    Local,
    /// No MAC resolved (ARP unanswered).
    Unresolved,
    /// The plane does not balance to this target.
    NotBalanced,
}
