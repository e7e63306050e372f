//! Holding and releasing one instance's virtual addresses, in the mode the configuration asks
//! for, the same way for both families.
//!
//! - DSR: the DSR plane answers ARP (IPv6: Neighbor Solicitations) for the VIPs with the
//!   virtual MAC and forwards their traffic while its [`VipSwitch`] for the family is on
//!   ([`Instance::set_active`]); switching it on also makes the plane announce them. The daemon
//!   hands the driver a view of that plane's slot; the plane may start after the driver, so the
//!   driver calls [`VipHolder::enforce`] on every turn of its loop.
//! - Proxy: the kernel holds each VIP as a /32 (IPv6: a /128, added without duplicate address
//!   detection so it answers at once) on the interface, added and removed through rtnetlink as
//!   `ip addr add`/`del` would, so the proxy's sockets bound with `IP_FREEBIND` receive its
//!   traffic; on taking them the driver sends one announcement per VIP from the interface's own
//!   MAC (gratuitous ARP, or an unsolicited Neighbor Advertisement as keepalived sends it), so
//!   neighbours forget the old master at once. Releasing an address that is not there is not an
//!   error (a stale VIP from a previous run is released at startup this way).

use fulcrum_wire::ethernet::EthernetAddress;

use super::instance::Instance;
use super::setup::Mode;
use crate::plane::data_plane::VipSwitch;
use crate::plane::slot::PlaneView;

pub struct VipHolder<A: Instance> {
    mode: Mode,
    interface: String,
    addresses: Vec<A>,
    held: bool,
    /// The plane that answers for the VIPs in DSR mode, once it runs.
    switch: PlaneView<dyn VipSwitch>,
}

impl<A: Instance> VipHolder<A> {
    pub fn new(
        mode: Mode,
        interface: &str,
        addresses: &[A],
        switch: PlaneView<dyn VipSwitch>,
    ) -> VipHolder<A> {
        VipHolder {
            mode,
            interface: interface.to_string(),
            addresses: addresses.to_vec(),
            held: false,
            switch,
        }
    }

    pub fn take(&mut self) {
        self.held = true;
        match self.mode {
            Mode::Dsr => self.enforce(),
            Mode::Proxy => {
                for vip in &self.addresses {
                    self.ip_addr("add", *vip);
                }
                self.announce(&self.addresses);
            }
        }
    }

    pub fn release(&mut self) {
        self.held = false;
        match self.mode {
            Mode::Dsr => self.enforce(),
            Mode::Proxy => {
                for vip in &self.addresses {
                    self.ip_addr("del", *vip);
                }
            }
        }
    }

    /// A new address list while the group runs. Proxy mode while holding: the new addresses are
    /// added (with an announcement each) and the dropped ones removed, the others untouched, so
    /// the VIPs that stay never leave the interface. DSR: the plane's own snapshot carries the
    /// servers' addresses.
    pub fn set_addresses(&mut self, addresses: &[A]) {
        let added: Vec<A> = addresses
            .iter()
            .filter(|a| !self.addresses.contains(a))
            .copied()
            .collect();
        let removed: Vec<A> = self
            .addresses
            .iter()
            .filter(|a| !addresses.contains(a))
            .copied()
            .collect();
        self.addresses = addresses.to_vec();
        if self.mode != Mode::Proxy || !self.held {
            return;
        }
        for vip in &removed {
            self.ip_addr("del", *vip);
        }
        for vip in &added {
            self.ip_addr("add", *vip);
        }
        self.announce(&added);
    }

    /// What the node holds now: DSR, the plane's switch (when the plane runs); proxy, whether
    /// the addresses were added.
    pub fn holds(&self) -> bool {
        match (self.mode, self.switch.current()) {
            (Mode::Dsr, Some(plane)) => A::is_active(&*plane),
            _ => self.held,
        }
    }

    /// DSR: sets the plane's switch to what this node holds (a no-op when it already is).
    pub fn enforce(&self) {
        if self.mode != Mode::Dsr {
            return;
        }
        if let Some(plane) = self.switch.current() {
            if A::is_active(&*plane) != self.held {
                A::set_active(&*plane, self.held);
            }
        }
    }

    /// `ip addr add|del VIP/32 dev IF` (IPv6: `/128 ... nodad`), through rtnetlink (no
    /// process to start while a takeover waits on it).
    fn ip_addr(&self, verb: &str, vip: A) {
        use fulcrum_sys::netlink::{addr_add, addr_del, Change};
        let (name, prefix) = (A::NAME, A::HOST_PREFIX);
        let result = if verb == "add" {
            addr_add(&self.interface, vip, prefix)
        } else {
            addr_del(&self.interface, vip, prefix)
        };
        match result {
            Ok(Change::Done) => {
                tracing::info!("{name}: {verb} {vip}/{prefix} on {}", self.interface)
            }
            // "add" of a present address and "del" of an absent one are the wanted state.
            Ok(Change::AlreadySo) => {}
            Err(e) => tracing::error!(
                "{name}: ip addr {verb} {vip}/{prefix} dev {}: {e}",
                self.interface
            ),
        }
    }

    /// One announcement per address from the interface's own MAC ([`Family::announcements`]).
    ///
    /// [`Family::announcements`]: fulcrum_core::vrrp::Family::announcements
    fn announce(&self, addresses: &[A]) {
        if addresses.is_empty() {
            return;
        }
        let (name, what) = (A::NAME, A::ANNOUNCEMENT);
        let mac = match fulcrum_sys::packet::interface_mac(&self.interface) {
            Ok(mac) => EthernetAddress(mac),
            Err(e) => {
                tracing::warn!("{name}: no {what} on {}: {e}", self.interface);
                return;
            }
        };
        let sender = match fulcrum_sys::packet::FrameSender::open(&self.interface) {
            Ok(sender) => sender,
            Err(e) => {
                tracing::warn!("{name}: no {what} on {}: {e}", self.interface);
                return;
            }
        };
        for (vip, frame) in addresses.iter().zip(A::announcements(mac, addresses)) {
            if let Err(e) = sender.send(&frame) {
                tracing::warn!("{name}: {what} for {vip}: {e}");
            }
        }
    }
}
