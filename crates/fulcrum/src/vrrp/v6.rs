//! The IPv6 instance of a `vrrp` block (RFC 5798 over IPv6): when the block's network has a
//! `virt6` or an active server has an IPv6 address, a second thread runs a
//! `Machine<Ipv6Addr>` with the same VRID, priority, interval and preemption as the IPv4
//! instance (always version 3: there is no VRRPv2 for IPv6), on the same interface, from its
//! link-local address ([`socket6`](super::socket6)).
//!
//! Contract: [`spawn`] starts the thread; it idles without IPv6 virtual addresses. It feeds the
//! machine every received packet that passes `Group<Ipv6Addr>::check` (the rest are counted by
//! drop reason), calls its timeout on time, and carries out its outputs in order: adverts to
//! ff02::12 with hop limit 255; in proxy mode, taking the VIPs as kernel addresses (/128, added
//! without duplicate address detection so they answer at once) followed by one unsolicited
//! Neighbor Advertisement per VIP from the interface's MAC (as keepalived sends it), and
//! releasing them; in DSR mode, flipping the DSR plane's IPv6 switch
//! ([`VipSwitch::set_active6`]), so the plane answers Neighbor Solicitations for the IPv6 VIPs
//! with the IPv6 virtual MAC and forwards their traffic only while this instance is master,
//! and sends the unsolicited advertisements itself on becoming master (the plane may start
//! after the driver, so the switch is enforced on every turn, as the IPv4 instance's
//! [`super::vip::VipHolder`] does); one log line per transition; `notify`. A configuration change that keeps
//! the group (priority, address list) goes to the running machine; any other stops it cleanly
//! (priority-0 advert, VIPs released) and starts the new one. Stopping sends the Shutdown
//! event. The link watcher drives the FAULT state as for IPv4 (`fault.rs`). After every
//! step it publishes the same typed [`Status`] as the IPv4 instance on its own channel (`None`
//! while it does not run), which `show vrrp` and the metrics read.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fulcrum_core::model::Config;
use fulcrum_core::vrrp::group::DropCounters;
use fulcrum_core::vrrp::{Family, Group, Input, Machine, Output, State};
use fulcrum_sys::netlink::{addr_add, addr_del, Change};
use fulcrum_wire::ethernet::EthernetAddress;
use tokio::sync::watch;

use super::notify::Notifier;
use super::setup::Mode;
use super::show::Place;
use super::socket6::VrrpSocket6;
use super::{idle, End, Publisher, Status, POLL_CAP, RETRY};
use crate::link::{self, Links};
use crate::plane::data_plane::VipSwitch;
use crate::plane::slot::PlaneView;
pub use setup6::Setup6;

mod setup6;

/// Starts the IPv6 instance's thread; it ends when `stop` is set.
/// `vip_switch`: the plane that answers for the IPv6 VIPs in DSR mode.
pub fn spawn(
    changes: watch::Receiver<Arc<Config>>,
    links: watch::Receiver<Links>,
    vip_switch: PlaneView<dyn VipSwitch>,
    publisher: Publisher,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("vrrp6".into())
        .spawn(move || follow(changes, links, &vip_switch, &publisher, &stop))
        .map_err(|e| tracing::error!("vrrp6: cannot start the driver thread: {e}"))
        .ok()
}

fn follow(
    mut changes: watch::Receiver<Arc<Config>>,
    mut links: watch::Receiver<Links>,
    vip_switch: &PlaneView<dyn VipSwitch>,
    publisher: &Publisher,
    stop: &AtomicBool,
) {
    let mut last_problem: Option<String> = None;
    let mut report = |problem: String| {
        if last_problem.as_ref() != Some(&problem) {
            tracing::error!("vrrp6: {problem}");
            last_problem = Some(problem);
        }
    };
    while !stop.load(Ordering::Acquire) {
        let config = changes.borrow_and_update().clone();
        let setup = match Setup6::from_config(&config) {
            Ok(Some(setup)) => setup,
            Ok(None) => {
                publisher.send_replace(None);
                idle(&mut changes, stop);
                continue;
            }
            Err(problem) => {
                report(format!("not running: {problem}"));
                publisher.send_replace(None);
                idle(&mut changes, stop);
                continue;
            }
        };
        let socket = match VrrpSocket6::open(&setup.interface) {
            Ok(socket) => socket,
            Err(e) => {
                report(format!(
                    "cannot open the socket, retrying every second: {e}"
                ));
                let until = Instant::now() + RETRY;
                while Instant::now() < until && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(POLL_CAP);
                }
                continue;
            }
        };
        let runner = Runner6::new(setup, socket, vip_switch.clone(), publisher.clone());
        match runner.run(&mut changes, &mut links, stop) {
            End::Stop => break,
            End::Reconfigure => continue,
        }
    }
}

struct Runner6 {
    setup: Setup6,
    machine: Machine<Ipv6Addr>,
    group: Group<Ipv6Addr>,
    /// Closed while the link is down (FAULT).
    socket: Option<VrrpSocket6>,
    /// In FAULT with the link back but the socket not open yet: when to try again.
    reopen_at: Option<Instant>,
    notifier: Notifier,
    held: bool,
    drops: DropCounters,
    send_errors: u64,
    publisher: Publisher,
    /// The plane that answers for the IPv6 VIPs in DSR mode, once it runs.
    switch: PlaneView<dyn VipSwitch>,
}

impl Runner6 {
    fn new(
        setup: Setup6,
        socket: VrrpSocket6,
        switch: PlaneView<dyn VipSwitch>,
        publisher: Publisher,
    ) -> Runner6 {
        let config = setup.machine(socket.link_local());
        tracing::info!(
            "vrrp6: vrid {} priority {} version 3 advert {} ms on {} from {}, addresses {:?}",
            config.vrid,
            config.priority,
            u32::from(config.advert_interval_cs) * 10,
            setup.interface,
            config.primary_address,
            config.addresses,
        );
        Runner6 {
            machine: Machine::new(config.clone()),
            group: Group::new(&config),
            notifier: Notifier::new(setup.notify.clone()),
            setup,
            socket: Some(socket),
            reopen_at: None,
            held: false,
            drops: DropCounters::default(),
            send_errors: 0,
            publisher,
            switch,
        }
    }

    fn run(
        mut self,
        changes: &mut watch::Receiver<Arc<Config>>,
        links: &mut watch::Receiver<Links>,
        stop: &AtomicBool,
    ) -> End {
        self.machine.handle_input(Instant::now(), Input::Startup);
        self.carry_out();
        links.mark_changed();
        let mut buf = [0u8; 2048];
        loop {
            if stop.load(Ordering::Acquire) {
                self.shutdown();
                return End::Stop;
            }
            if changes.has_changed().unwrap_or(false) {
                let config = changes.borrow().clone();
                match Setup6::from_config(&config) {
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
                    tracing::warn!("vrrp6: receive: {e}");
                    std::thread::sleep(POLL_CAP);
                }
            }
            self.machine.handle_timeout(Instant::now());
            self.carry_out();
            self.enforce();
        }
    }

    fn follow_change(&mut self, next: Setup6) {
        if next.block.priority != self.machine.priority() {
            tracing::info!("vrrp6: priority {}", next.block.priority);
            self.machine
                .handle_input(Instant::now(), Input::SetPriority(next.block.priority));
        }
        if next.addresses != self.setup.addresses {
            tracing::info!("vrrp6: addresses {:?}", next.addresses);
            // DSR: the plane's own snapshot carries the servers' addresses.
            if self.held && self.setup.mode == Mode::Proxy {
                for vip in self.setup.addresses.clone() {
                    if !next.addresses.contains(&vip) {
                        self.ip_addr(false, vip);
                    }
                }
                let added: Vec<Ipv6Addr> = next
                    .addresses
                    .iter()
                    .filter(|a| !self.setup.addresses.contains(a))
                    .copied()
                    .collect();
                for vip in &added {
                    self.ip_addr(true, *vip);
                }
                self.announce(&added);
            }
            self.group.set_addresses(&next.addresses);
            self.machine.set_addresses(next.addresses.clone());
        }
        self.setup = next;
        self.carry_out();
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

    fn carry_out(&mut self) {
        while let Some(output) = self.machine.poll_output() {
            match output {
                Output::SendAdvert { priority } => self.send_advert(priority),
                Output::BecomeMaster => self.take(),
                Output::BecomeBackup => self.release(),
                Output::Transition(transition) => {
                    tracing::info!("{transition} (IPv6)");
                    self.notifier.notify(transition.to.name());
                }
            }
        }
        self.publisher.send_replace(Some(Status::of(
            &self.machine,
            &self.group,
            Place {
                interface: &self.setup.interface,
                mode: self.setup.mode,
            },
            self.holds(),
            self.drops,
            self.send_errors,
        )));
    }

    /// As the IPv4 instance does (`fault.rs`): FAULT while the interface is down or missing,
    /// back as on startup once it is up and the socket opens again. A new link-local address
    /// (a re-created interface with another MAC) is a new primary address: the machine and
    /// group start afresh from it.
    fn follow_link(&mut self, links: &mut watch::Receiver<Links>) {
        let changed = links.has_changed().unwrap_or(false);
        let retry_due = self.reopen_at.is_some_and(|at| Instant::now() >= at);
        if !changed && !retry_due {
            return;
        }
        let seen = link::lookup(&links.borrow_and_update(), &self.setup.interface);
        let in_fault = self.machine.state() == State::Fault;
        match seen.usable() {
            None if !in_fault => self.enter_fault(),
            None => self.reopen_at = None,
            Some(index) => {
                let moved =
                    index.is_some_and(|i| self.socket.as_ref().map(VrrpSocket6::index) != Some(i));
                if !in_fault && moved {
                    tracing::info!("vrrp6: {} was re-created", self.setup.interface);
                    self.enter_fault();
                }
                if self.machine.state() == State::Fault {
                    self.leave_fault();
                }
            }
        }
    }

    fn enter_fault(&mut self) {
        tracing::warn!(
            "vrrp6: {} is down or gone: FAULT until it is back",
            self.setup.interface
        );
        self.socket = None;
        self.reopen_at = None;
        self.machine.handle_input(Instant::now(), Input::LinkDown);
        self.carry_out();
    }

    fn leave_fault(&mut self) {
        match VrrpSocket6::open(&self.setup.interface) {
            Ok(socket) => {
                tracing::info!(
                    "vrrp6: {} is back ({}): rejoining",
                    self.setup.interface,
                    socket.link_local()
                );
                let link_local = socket.link_local();
                self.socket = Some(socket);
                self.reopen_at = None;
                if link_local == self.machine.config().primary_address {
                    self.machine.handle_input(Instant::now(), Input::LinkUp);
                } else {
                    let config = self.setup.machine(link_local);
                    self.machine = Machine::new(config.clone());
                    self.group = Group::new(&config);
                    self.machine.handle_input(Instant::now(), Input::Startup);
                }
                self.carry_out();
            }
            Err(e) => {
                if self.reopen_at.is_none() {
                    tracing::warn!("vrrp6: cannot open the socket again, retrying: {e}");
                }
                self.reopen_at = Some(Instant::now() + RETRY);
            }
        }
    }

    fn send_advert(&mut self, priority: u8) {
        let sent = self
            .group
            .advert_packet(priority)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))
            .and_then(|packet| match &self.socket {
                Some(socket) => socket.send(&packet),
                None => Err(std::io::Error::other("the link is down")),
            });
        if let Err(e) = sent {
            self.send_errors += 1;
            if self.send_errors.is_power_of_two() {
                tracing::warn!(
                    "vrrp6: cannot send an advert ({} failures so far): {e}",
                    self.send_errors
                );
            }
        }
    }

    fn take(&mut self) {
        self.held = true;
        if self.setup.mode == Mode::Dsr {
            return self.enforce();
        }
        for vip in self.setup.addresses.clone() {
            self.ip_addr(true, vip);
        }
        self.announce(&self.setup.addresses);
    }

    fn release(&mut self) {
        self.held = false;
        if self.setup.mode == Mode::Dsr {
            return self.enforce();
        }
        for vip in self.setup.addresses.clone() {
            self.ip_addr(false, vip);
        }
    }

    /// DSR: sets the plane's IPv6 switch to what this instance holds (a no-op when it already
    /// is).
    fn enforce(&self) {
        if self.setup.mode != Mode::Dsr {
            return;
        }
        if let Some(plane) = self.switch.current() {
            if plane.is_active6() != self.held {
                plane.set_active6(self.held);
            }
        }
    }

    /// What the node holds now: DSR, the plane's IPv6 switch (when the plane runs); proxy,
    /// whether the addresses were added.
    fn holds(&self) -> bool {
        match (self.setup.mode, self.switch.current()) {
            (Mode::Dsr, Some(plane)) => plane.is_active6(),
            _ => self.held,
        }
    }

    /// `ip -6 addr add|del VIP/128 dev IF nodad`, through rtnetlink.
    fn ip_addr(&self, add: bool, vip: Ipv6Addr) {
        let (verb, result) = if add {
            ("add", addr_add(&self.setup.interface, vip, 128))
        } else {
            ("del", addr_del(&self.setup.interface, vip, 128))
        };
        match result {
            Ok(Change::Done) => {
                tracing::info!("vrrp6: {verb} {vip}/128 on {}", self.setup.interface)
            }
            Ok(Change::AlreadySo) => {}
            Err(e) => tracing::error!(
                "vrrp6: ip addr {verb} {vip}/128 dev {}: {e}",
                self.setup.interface
            ),
        }
    }

    /// One unsolicited Neighbor Advertisement per address, from the interface's MAC (the kernel
    /// holds the VIP there in proxy mode), so neighbours forget the old master at once.
    fn announce(&self, addresses: &[Ipv6Addr]) {
        if addresses.is_empty() {
            return;
        }
        let interface = &self.setup.interface;
        let sent = fulcrum_sys::packet::interface_mac(interface).and_then(|mac| {
            let sender = fulcrum_sys::packet::FrameSender::open(interface)?;
            for frame in Ipv6Addr::announcements(EthernetAddress(mac), addresses) {
                sender.send(&frame)?;
            }
            Ok(())
        });
        if let Err(e) = sent {
            tracing::warn!("vrrp6: unsolicited neighbour advertisements on {interface}: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
