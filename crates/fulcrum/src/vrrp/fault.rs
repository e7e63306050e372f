//! The VRRP driver's side of link failure: it follows the link watcher and feeds the machine
//! [`Input::LinkDown`] / [`Input::LinkUp`] (the FAULT state, see `fulcrum_core::vrrp`).
//!
//! Contract: when the watcher says the group's interface is down or missing, the sockets are
//! closed and the machine enters FAULT (a master releases the VIP). When it is up again, the
//! sockets are opened on it (a re-created interface has a new index: sockets bound to the old
//! one would hear and send nothing) and the machine rejoins as on startup; a failed open is
//! retried every second, in FAULT meanwhile. An interface re-created between two looks (a new
//! index while not in FAULT) goes through FAULT too. Without a watcher nothing happens here.

use std::time::Instant;

use fulcrum_core::vrrp::{Input, State};
use tokio::sync::watch;

use super::socket::VrrpSocket;
use super::{advert_sender, Runner, RETRY};
use crate::link::{self, Links};

impl Runner {
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
                    index.is_some_and(|i| self.socket.as_ref().map(VrrpSocket::index) != Some(i));
                if !in_fault && moved {
                    tracing::info!("vrrp: {} was re-created", self.setup.interface);
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
            "vrrp: {} is down or gone: FAULT until it is back",
            self.setup.interface
        );
        self.socket = None;
        self.frames = None;
        self.reopen_at = None;
        self.machine.handle_input(Instant::now(), Input::LinkDown);
        self.carry_out();
    }

    fn leave_fault(&mut self) {
        match VrrpSocket::open(&self.setup.interface) {
            Ok(socket) => {
                tracing::info!(
                    "vrrp: {} is back (index {}): rejoining",
                    self.setup.interface,
                    socket.index()
                );
                self.socket = Some(socket);
                self.frames = advert_sender(&self.setup);
                self.reopen_at = None;
                self.machine.handle_input(Instant::now(), Input::LinkUp);
                self.carry_out();
            }
            Err(e) => {
                if self.reopen_at.is_none() {
                    tracing::warn!("vrrp: cannot open the socket again, retrying: {e}");
                }
                self.reopen_at = Some(Instant::now() + RETRY);
            }
        }
    }
}
