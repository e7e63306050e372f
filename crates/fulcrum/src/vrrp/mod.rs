//! The VRRP driver: runs the pure [`fulcrum_core::vrrp::Machine`] of the configuration's
//! `vrrp { ... }` block against real time and a real link.
//!
//! Contract: [`spawn`] starts one thread that follows the configuration. With a runnable `vrrp`
//! block ([`setup::Setup`]) it opens a raw IP socket for protocol 112 on the network's
//! interface ([`socket`]), feeds the machine every received packet that passes
//! [`fulcrum_core::vrrp::Group::check`] (the rest are counted by drop reason), calls its timeout
//! on time, and carries out its outputs in order: adverts from the network's `real` address to
//! 224.0.0.18 with TTL 255 (in DSR mode as whole Ethernet frames from the virtual router MAC,
//! RFC 3768 7.3, so the switch learns with every advert where the VIP's MAC lives), taking and releasing the VIPs ([`vip`]: the DSR plane's active
//! switch, or a kernel address in proxy mode), one log line per transition with its reason, and
//! `notify` ([`notify`], never waited for). A configuration change that keeps the group (only
//! the priority or the virtual address list differs) goes to the running machine, group and VIP
//! holder; any other change stops the group cleanly and starts the new one. With unicast peers
//! adverts go to each peer instead of 224.0.0.18 and only theirs are taken; paced notices
//! about new, refused or mismatching senders are logged as warnings. The driver follows the link watcher ([`crate::link`], see [`fault`]):
//! while the interface is down or missing the machine is in FAULT (no adverts, no VIP) and the
//! socket is closed; when it is back, possibly re-created under a new index, the socket is
//! opened again and the machine rejoins as on startup. [`Handle::stop`] (the daemon's SIGTERM path) sends the Shutdown
//! event, so a master sends its priority-0 advert and releases the VIP before the thread ends.
//! After every step the driver publishes a typed [`Status`] (state, master, whether it holds the
//! VIPs, and the counters `show vrrp` prints) on the watch channel it is given ([`Publisher`]);
//! `None` while no group runs. The sync driver, `show vrrp` ([`show`]) and the service status
//! subscribe to that channel; nothing parses the text.
//! IPv6 virtual addresses run as a second instance with the same VRID in its own thread ([`v6`]),
//! which publishes the same [`Status`] on its own channel.

mod fault;
mod notify;
mod setup;
mod show;
mod show_json;
mod socket;
mod socket6;
mod v6;
mod vip;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_core::model::Config;
use fulcrum_core::vrrp::group::DropCounters;
use fulcrum_core::vrrp::{Group, Input, Machine, Output};
use fulcrum_sys::packet::FrameSender;
use tokio::sync::watch;

use crate::link::Links;
use crate::plane::data_plane::VipSwitch;
use crate::plane::slot::PlaneView;

pub use show::{show, Status};
pub use show_json::document;

use notify::Notifier;
use setup::{Mode, Setup};
use socket::VrrpSocket;
use vip::VipHolder;

/// The longest the driver sleeps before looking at the stop flag and the configuration.
const POLL_CAP: Duration = Duration::from_millis(20);
/// Between attempts to open the socket (interface missing, no privilege).
const RETRY: Duration = Duration::from_secs(1);

/// Where the driver publishes its [`Status`] (`None`: no group runs).
pub type Publisher = watch::Sender<Option<Status>>;
/// What other drivers, the control socket and the service status follow.
pub type Subscriber = watch::Receiver<Option<Status>>;

/// The running driver.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The IPv6 instance of the same block ([`v6`]).
    thread6: Option<std::thread::JoinHandle<()>>,
}

/// Starts the driver thread; it idles while the configuration has no `vrrp` block, and
/// publishes its status on `publisher` (the IPv6 instance's on `publisher6`). `vip_switch`: the plane that answers for the VIPs in
/// DSR mode (see [`vip`]).
pub fn spawn(
    changes: watch::Receiver<Arc<Config>>,
    links: watch::Receiver<Links>,
    vip_switch: PlaneView<dyn VipSwitch>,
    publisher: Publisher,
    publisher6: Publisher,
) -> Handle {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread6 = v6::spawn(
        changes.clone(),
        links.clone(),
        vip_switch.clone(),
        publisher6,
        stop.clone(),
    );
    let thread = std::thread::Builder::new()
        .name("vrrp".into())
        .spawn(move || follow(changes, links, &vip_switch, &publisher, &flag))
        .map_err(|e| tracing::error!("vrrp: cannot start the driver thread: {e}"))
        .ok();
    Handle {
        stop,
        thread,
        thread6,
    }
}

impl Handle {
    /// Shuts the group down (priority-0 advert and VIP release if master) and waits for it.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in [self.thread.take(), self.thread6.take()]
            .into_iter()
            .flatten()
        {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// What ended one run of a group.
enum End {
    Stop,
    Reconfigure,
}

fn follow(
    mut changes: watch::Receiver<Arc<Config>>,
    mut links: watch::Receiver<Links>,
    vip_switch: &PlaneView<dyn VipSwitch>,
    publisher: &Publisher,
    stop: &AtomicBool,
) {
    let mut last_problem: Option<String> = None;
    while !stop.load(Ordering::Acquire) {
        let config = changes.borrow_and_update().clone();
        let setup = match Setup::from_config(&config) {
            Ok(Some(setup)) => setup,
            Ok(None) => {
                publisher.send_replace(None);
                idle(&mut changes, stop);
                continue;
            }
            Err(problem) => {
                if last_problem.as_ref() != Some(&problem) {
                    tracing::error!("vrrp: not running: {problem}");
                    last_problem = Some(problem);
                }
                publisher.send_replace(None);
                idle(&mut changes, stop);
                continue;
            }
        };
        let socket = match VrrpSocket::open(&setup.interface) {
            Ok(socket) => socket,
            Err(e) => {
                let problem = format!("{e}");
                if last_problem.as_ref() != Some(&problem) {
                    tracing::error!("vrrp: cannot open the socket, retrying every second: {e}");
                    last_problem = Some(problem);
                }
                let until = Instant::now() + RETRY;
                while Instant::now() < until && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(POLL_CAP);
                }
                continue;
            }
        };
        last_problem = None;
        let vip = VipHolder::new(
            setup.mode,
            &setup.interface,
            &setup.machine.addresses,
            vip_switch.clone(),
        );
        match run_group(
            setup,
            socket,
            vip,
            &mut changes,
            &mut links,
            publisher,
            stop,
        ) {
            End::Stop => break,
            End::Reconfigure => continue,
        }
    }
}

/// Sleeps until the configuration changes or the driver is stopped.
fn idle(changes: &mut watch::Receiver<Arc<Config>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        if changes.has_changed().unwrap_or(false) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One virtual router on one interface, until stopped or reconfigured.
struct Runner {
    setup: Setup,
    machine: Machine,
    group: Group,
    /// Closed while the link is down (FAULT).
    socket: Option<VrrpSocket>,
    /// DSR mode: adverts leave as frames from the virtual MAC through this sender.
    frames: Option<FrameSender>,
    vip: VipHolder,
    notifier: Notifier,
    drops: DropCounters,
    send_errors: u64,
    /// In FAULT with the link back but the socket not open yet: when to try again.
    reopen_at: Option<Instant>,
    publisher: Publisher,
}

fn run_group(
    setup: Setup,
    socket: VrrpSocket,
    vip: VipHolder,
    changes: &mut watch::Receiver<Arc<Config>>,
    links: &mut watch::Receiver<Links>,
    publisher: &Publisher,
    stop: &AtomicBool,
) -> End {
    tracing::info!(
        "vrrp: vrid {} priority {} version {} advert {} ms on {} from {} ({:?} mode), addresses {:?}, {}",
        setup.machine.vrid,
        setup.machine.priority,
        setup.machine.version.number(),
        u32::from(setup.machine.advert_interval_cs) * 10,
        setup.interface,
        setup.machine.primary_address,
        setup.mode,
        setup.machine.addresses,
        if setup.machine.peers.is_empty() {
            "multicast".to_string()
        } else {
            format!("unicast to {:?}", setup.machine.peers)
        }
    );
    // In DSR mode the virtual MAC answers for the VIP, so the adverts must come from it too
    // (RFC 3768 7.3): a switch then follows the master with every advert, also when two
    // masters meet and the one that stays never sends a gratuitous ARP. From the raw IP socket
    // they would leave with the interface's own MAC.
    let frames = advert_sender(&setup);
    let mut runner = Runner {
        frames,
        machine: Machine::new(setup.machine.clone()),
        group: Group::new(&setup.machine),
        vip,
        notifier: Notifier::new(setup.notify.clone()),
        socket: Some(socket),
        setup,
        drops: DropCounters::default(),
        send_errors: 0,
        reopen_at: None,
        publisher: publisher.clone(),
    };
    runner.machine.handle_input(Instant::now(), Input::Startup);
    runner.carry_out();
    // A link that is already down (or another one than the socket's) is seen at once.
    links.mark_changed();
    let mut buf = [0u8; 2048];
    loop {
        if stop.load(Ordering::Acquire) {
            runner.shutdown();
            return End::Stop;
        }
        if changes.has_changed().unwrap_or(false) {
            let config = changes.borrow().clone();
            match Setup::from_config(&config) {
                Ok(Some(next)) if next.same_group(&runner.setup) => {
                    changes.borrow_and_update();
                    if next.machine.priority != runner.machine.priority() {
                        tracing::info!("vrrp: priority {}", next.machine.priority);
                        runner.machine.handle_input(
                            Instant::now(),
                            Input::SetPriority(next.machine.priority),
                        );
                        runner.carry_out();
                    }
                    if next.machine.addresses != runner.machine.config().addresses {
                        runner.set_addresses(&next.machine.addresses);
                    }
                    runner.setup = next;
                }
                _ => {
                    runner.shutdown();
                    return End::Reconfigure;
                }
            }
        }
        runner.follow_link(links);
        let now = Instant::now();
        let wait = runner
            .machine
            .poll_timeout()
            .map_or(POLL_CAP, |at| at.saturating_duration_since(now))
            .min(POLL_CAP);
        let received = match &runner.socket {
            Some(socket) => socket.recv(&mut buf, wait),
            None => {
                std::thread::sleep(POLL_CAP);
                Ok(None)
            }
        };
        match received {
            Ok(Some(len)) => runner.received(&buf[..len]),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("vrrp: receive: {e}");
                std::thread::sleep(POLL_CAP);
            }
        }
        runner.machine.handle_timeout(Instant::now());
        runner.carry_out();
    }
}

/// DSR mode: the sender of adverts from the virtual MAC (`None` in proxy mode, or when it
/// cannot be opened: the adverts then leave through the raw socket).
fn advert_sender(setup: &Setup) -> Option<FrameSender> {
    match setup.mode {
        Mode::Dsr => FrameSender::open(&setup.interface)
            .map_err(|e| {
                tracing::warn!(
                    "vrrp: adverts from the interface's own MAC, not the virtual MAC: {e}"
                )
            })
            .ok(),
        Mode::Proxy => None,
    }
}

impl Runner {
    fn received(&mut self, packet: &[u8]) {
        let now = Instant::now();
        match self.group.receive(now, packet, self.machine.priority()) {
            Ok(advert) => self.machine.handle_input(now, Input::Advert(advert)),
            Err(reason) => self.drops.count(reason),
        }
        while let Some(notice) = self.group.poll_notice() {
            tracing::warn!("{notice}");
        }
    }

    /// A server with its own address was enabled or disabled: the running group sends the new
    /// list from the next advert on and holds the new VIPs, without a restart.
    fn set_addresses(&mut self, addresses: &[std::net::Ipv4Addr]) {
        tracing::info!("vrrp: addresses {addresses:?}");
        self.group.set_addresses(addresses);
        self.machine.set_addresses(addresses.to_vec());
        self.vip.set_addresses(addresses);
        self.carry_out();
    }

    fn shutdown(&mut self) {
        self.machine.handle_input(Instant::now(), Input::Shutdown);
        self.carry_out();
    }

    /// Does what the machine asked, in order, then publishes the status.
    fn carry_out(&mut self) {
        while let Some(output) = self.machine.poll_output() {
            match output {
                Output::SendAdvert { priority } => self.send_advert(priority),
                Output::BecomeMaster => self.vip.take(),
                Output::BecomeBackup => self.vip.release(),
                Output::Transition(transition) => {
                    tracing::info!("{transition}");
                    self.notifier.notify(transition.to.name());
                }
            }
        }
        self.vip.enforce();
        self.publisher.send_replace(Some(Status::of(
            &self.machine,
            &self.group,
            show::Place {
                interface: &self.setup.interface,
                mode: self.setup.mode,
            },
            self.vip.holds(),
            self.drops,
            self.send_errors,
        )));
    }

    fn send_advert(&mut self, priority: u8) {
        if !self.group.peers().is_empty() {
            return self.send_unicast_adverts(priority);
        }
        let sent = match &self.frames {
            Some(frames) => self
                .group
                .advert_frame(priority)
                .map_err(|e| std::io::Error::other(format!("{e:?}")))
                .and_then(|frame| frames.send(&frame)),
            None => self
                .group
                .advert_packet(priority)
                .map_err(|e| std::io::Error::other(format!("{e:?}")))
                .and_then(|packet| match &self.socket {
                    Some(socket) => socket.send(&packet),
                    None => Err(std::io::Error::other("the link is down")),
                }),
        };
        if let Err(e) = sent {
            self.send_errors += 1;
            // One line per burst of failures, not per advert.
            if self.send_errors.is_power_of_two() {
                tracing::warn!(
                    "vrrp: cannot send an advert ({} failures so far): {e}",
                    self.send_errors
                );
            }
        }
    }
}

impl Runner {
    /// One advert to each configured peer through the raw socket (as keepalived's
    /// `unicast_peer`; the kernel resolves each peer's MAC, so they leave from the interface's
    /// own MAC also in DSR mode).
    fn send_unicast_adverts(&mut self, priority: u8) {
        let peers = self.group.peers().to_vec();
        for peer in peers {
            let sent = self
                .group
                .advert_packet_to(priority, peer)
                .map_err(|e| std::io::Error::other(format!("{e:?}")))
                .and_then(|packet| match &self.socket {
                    Some(socket) => socket.send_to(&packet, peer),
                    None => Err(std::io::Error::other("the link is down")),
                });
            if let Err(e) = sent {
                self.send_errors += 1;
                if self.send_errors.is_power_of_two() {
                    tracing::warn!(
                        "vrrp: cannot send an advert to {peer} ({} failures so far): {e}",
                        self.send_errors
                    );
                }
            }
        }
    }
}
