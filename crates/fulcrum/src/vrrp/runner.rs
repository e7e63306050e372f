//! One instance's group on one interface, until stopped or reconfigured: the same loop for the
//! IPv4 and the IPv6 instance ([`Instance`] says what differs).
//!
//! Contract: [`Runner::run`] starts the machine, then on every turn looks at the stop flag, the
//! configuration and the link watcher ([`fault`](super::fault)), waits for a packet at most until
//! the machine's next timeout (or [`POLL_CAP`]), feeds the machine every received packet that
//! passes [`Group::check`](fulcrum_core::vrrp::Group::check) (the rest are counted by drop
//! reason), calls its timeout, and carries out its outputs in order: adverts (to each unicast
//! peer, or to the family's multicast group; IPv4 in DSR mode as whole frames from the virtual
//! router MAC), taking and releasing the VIPs ([`VipHolder`]), one log line per transition and
//! `notify`. A configuration change that keeps the group goes to the running machine; any
//! other ends the run after the Shutdown event (priority-0 advert, VIPs released), as stopping
//! does. After every step it publishes the typed [`Status`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fulcrum_core::model::Config;
use fulcrum_core::vrrp::group::DropCounters;
use fulcrum_core::vrrp::{Group, Input, Machine, Output};
use fulcrum_sys::packet::FrameSender;
use tokio::sync::watch;

use super::instance::Instance;
use super::notify::Notifier;
use super::setup::{Mode, Setup};
use super::show::{self, Status};
use super::socket::VrrpSocket;
use super::vip::VipHolder;
use super::{End, Publisher, POLL_CAP};
use crate::link::Links;
use crate::plane::data_plane::VipSwitch;
use crate::plane::slot::PlaneView;

/// One virtual router of one family on one interface.
pub(super) struct Runner<A: Instance> {
    pub(super) setup: Setup<A>,
    pub(super) machine: Machine<A>,
    pub(super) group: Group<A>,
    /// Closed while the link is down (FAULT).
    pub(super) socket: Option<A::Socket>,
    /// DSR mode: adverts leave as frames from the virtual MAC through this sender.
    pub(super) frames: Option<FrameSender>,
    vip: VipHolder<A>,
    notifier: Notifier,
    drops: DropCounters,
    send_errors: u64,
    /// In FAULT with the link back but the socket not open yet: when to try again.
    pub(super) reopen_at: Option<Instant>,
    publisher: Publisher,
}

impl<A: Instance> Runner<A> {
    pub(super) fn new(
        setup: Setup<A>,
        socket: A::Socket,
        vip_switch: PlaneView<dyn VipSwitch>,
        publisher: Publisher,
    ) -> Runner<A> {
        let config = setup.machine_on(socket.own_address());
        tracing::info!(
            "{}: vrid {} priority {} version {} advert {} ms on {} from {} ({:?} mode), addresses {:?}, {}",
            A::NAME,
            config.vrid,
            config.priority,
            config.version.number(),
            u32::from(config.advert_interval_cs) * 10,
            setup.interface,
            config.primary_address,
            setup.mode,
            config.addresses,
            if config.peers.is_empty() {
                "multicast".to_string()
            } else {
                format!("unicast to {:?}", config.peers)
            }
        );
        Runner {
            frames: advert_sender(&setup),
            machine: Machine::new(config.clone()),
            group: Group::new(&config),
            vip: VipHolder::new(setup.mode, &setup.interface, &config.addresses, vip_switch),
            notifier: Notifier::new(setup.notify.clone()),
            socket: Some(socket),
            setup,
            drops: DropCounters::default(),
            send_errors: 0,
            reopen_at: None,
            publisher,
        }
    }

    pub(super) fn run(
        mut self,
        changes: &mut watch::Receiver<Arc<Config>>,
        links: &mut watch::Receiver<Links>,
        stop: &AtomicBool,
    ) -> End {
        self.machine.handle_input(Instant::now(), Input::Startup);
        self.carry_out();
        // A link that is already down (or another one than the socket's) is seen at once.
        links.mark_changed();
        let mut buf = [0u8; 2048];
        loop {
            if stop.load(Ordering::Acquire) {
                self.shutdown();
                return End::Stop;
            }
            if changes.has_changed().unwrap_or(false) {
                let config = changes.borrow().clone();
                match Setup::from_config(&config) {
                    Ok(Some(next)) if next.same_group(&self.setup) => {
                        changes.borrow_and_update();
                        self.follow_change(next);
                    }
                    _ => {
                        self.shutdown();
                        return End::Reconfigure;
                    }
                }
            }
            self.follow_link(links);
            let now = Instant::now();
            let wait = self
                .machine
                .poll_timeout()
                .map_or(POLL_CAP, |at| at.saturating_duration_since(now))
                .min(POLL_CAP);
            let received = match &self.socket {
                Some(socket) => socket.recv(&mut buf, wait),
                None => {
                    std::thread::sleep(POLL_CAP);
                    Ok(None)
                }
            };
            match received {
                Ok(Some(len)) => self.received(&buf[..len]),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("{}: receive: {e}", A::NAME);
                    std::thread::sleep(POLL_CAP);
                }
            }
            self.machine.handle_timeout(Instant::now());
            self.carry_out();
        }
    }

    /// The same group with another priority or address list: the running machine, group and
    /// VIP holder take it over. A server with its own address was enabled or disabled: the
    /// group sends the new list from the next advert on and holds the new VIPs, without a
    /// restart.
    fn follow_change(&mut self, next: Setup<A>) {
        if next.machine.priority != self.machine.priority() {
            tracing::info!("{}: priority {}", A::NAME, next.machine.priority);
            self.machine
                .handle_input(Instant::now(), Input::SetPriority(next.machine.priority));
            self.carry_out();
        }
        if next.machine.addresses != self.machine.config().addresses {
            let addresses = &next.machine.addresses;
            tracing::info!("{}: addresses {addresses:?}", A::NAME);
            self.group.set_addresses(addresses);
            self.machine.set_addresses(addresses.clone());
            self.vip.set_addresses(addresses);
            self.carry_out();
        }
        self.setup = next;
    }

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

    fn shutdown(&mut self) {
        self.machine.handle_input(Instant::now(), Input::Shutdown);
        self.carry_out();
    }

    /// Does what the machine asked, in order, then publishes the status.
    pub(super) fn carry_out(&mut self) {
        while let Some(output) = self.machine.poll_output() {
            match output {
                Output::SendAdvert { priority } => self.send_advert(priority),
                Output::BecomeMaster => self.vip.take(),
                Output::BecomeBackup => self.vip.release(),
                Output::Transition(transition) => {
                    tracing::info!("{transition}{}", A::TRANSITION_SUFFIX);
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
            self.count_send_error(None, e);
        }
    }

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
                self.count_send_error(Some(peer), e);
            }
        }
    }

    /// Counts a failed advert; one line per burst of failures, not per advert.
    fn count_send_error(&mut self, peer: Option<A>, e: std::io::Error) {
        self.send_errors += 1;
        if self.send_errors.is_power_of_two() {
            let to = peer.map(|peer| format!(" to {peer}")).unwrap_or_default();
            tracing::warn!(
                "{}: cannot send an advert{to} ({} failures so far): {e}",
                A::NAME,
                self.send_errors
            );
        }
    }
}

/// DSR mode, IPv4: the sender of adverts from the virtual MAC (`None` otherwise, or when it
/// cannot be opened: the adverts then leave through the raw socket). In DSR mode the virtual
/// MAC answers for the VIP, so the adverts must come from it too (RFC 3768 7.3): a switch then
/// follows the master with every advert, also when two masters meet and the one that stays
/// never sends a gratuitous ARP. From the raw IP socket they would leave with the interface's
/// own MAC.
pub(super) fn advert_sender<A: Instance>(setup: &Setup<A>) -> Option<FrameSender> {
    if !A::ADVERTS_AS_FRAMES || setup.mode != Mode::Dsr {
        return None;
    }
    FrameSender::open(&setup.interface)
        .map_err(|e| {
            tracing::warn!(
                "{}: adverts from the interface's own MAC, not the virtual MAC: {e}",
                A::NAME
            )
        })
        .ok()
}
