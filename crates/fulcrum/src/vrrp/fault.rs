//! The VRRP driver's side of link failure: it follows the link watcher and feeds the machine
//! [`Input::LinkDown`] / [`Input::LinkUp`] (the FAULT state, see `fulcrum_core::vrrp`).
//!
//! Contract: when the watcher says the group's interface is down or missing, the sockets are
//! closed and the machine enters FAULT (a master releases the VIP). When it is up again, the
//! sockets are opened on it (a re-created interface has a new index: sockets bound to the old
//! one would hear and send nothing) and the machine rejoins as on startup; a failed open is
//! retried every second, in FAULT meanwhile. An interface re-created between two looks (a new
//! index while not in FAULT) goes through FAULT too. A socket that comes back with another
//! source address of its own (IPv6: a re-created interface with another MAC has another
//! link-local address) is a new primary address: the machine and group start afresh from it.
//! Without a watcher nothing happens here. The same code serves both families.

use std::time::Instant;

use fulcrum_core::vrrp::{Group, Input, Machine, State};
use tokio::sync::watch;

use super::instance::Instance;
use super::runner::{advert_sender, Runner};
use super::socket::VrrpSocket;
use super::RETRY;
use crate::link::{self, Links};

impl<A: Instance> Runner<A> {
    /// Looks at the link watcher's latest table and follows the group's interface.
    pub(super) fn follow_link(&mut self, links: &mut watch::Receiver<Links>) {
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
                    index.is_some_and(|i| self.socket.as_ref().map(A::Socket::index) != Some(i));
                if !in_fault && moved {
                    tracing::info!("{}: {} was re-created", A::NAME, self.setup.interface);
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
            "{}: {} is down or gone: FAULT until it is back",
            A::NAME,
            self.setup.interface
        );
        self.socket = None;
        self.frames = None;
        self.reopen_at = None;
        self.machine.handle_input(Instant::now(), Input::LinkDown);
        self.carry_out();
    }

    fn leave_fault(&mut self) {
        match A::Socket::open(&self.setup.interface) {
            Ok(socket) => {
                let config = self.setup.machine_on(socket.own_address());
                tracing::info!(
                    "{}: {} is back (index {}, from {}): rejoining",
                    A::NAME,
                    self.setup.interface,
                    socket.index(),
                    config.primary_address
                );
                self.socket = Some(socket);
                self.frames = advert_sender(&self.setup);
                self.reopen_at = None;
                if config.primary_address == self.machine.config().primary_address {
                    self.machine.handle_input(Instant::now(), Input::LinkUp);
                } else {
                    self.machine = Machine::new(config.clone());
                    self.group = Group::new(&config);
                    self.machine.handle_input(Instant::now(), Input::Startup);
                }
                self.carry_out();
            }
            Err(e) => {
                if self.reopen_at.is_none() {
                    tracing::warn!("{}: cannot open the socket again, retrying: {e}", A::NAME);
                }
                self.reopen_at = Some(Instant::now() + RETRY);
            }
        }
    }
}
