//! Holding and releasing the virtual addresses, in the mode the configuration asks for.
//!
//! - DSR: the DSR plane answers ARP for the VIPs with the virtual MAC and forwards their
//!   traffic while its [`VipSwitch`] is on; switching it on also makes the plane send
//!   gratuitous ARP. The daemon hands the driver a view of that plane's slot; the plane may
//!   start after the driver, so the driver calls [`VipHolder::enforce`] on every turn of its
//!   loop.
//! - Proxy: the kernel holds each VIP as a /32 on the interface (added and removed through
//!   rtnetlink, as `ip addr add`/`del` would, so the proxy's sockets bound with `IP_FREEBIND`
//!   receive its traffic); on taking them the driver sends one gratuitous ARP per VIP from the
//!   interface's own MAC, so neighbours forget the old master at once. Releasing an address that is not there is not an error (a stale VIP from
//!   a previous run is released at startup this way).

use std::net::Ipv4Addr;

use fulcrum_wire::arp;
use fulcrum_wire::ethernet::EthernetAddress;

use super::setup::Mode;
use crate::plane::data_plane::VipSwitch;
use crate::plane::slot::PlaneView;

pub struct VipHolder {
    mode: Mode,
    interface: String,
    addresses: Vec<Ipv4Addr>,
    held: bool,
    /// The plane that answers for the VIPs in DSR mode, once it runs.
    switch: PlaneView<dyn VipSwitch>,
}

impl VipHolder {
    pub fn new(
        mode: Mode,
        interface: &str,
        addresses: &[Ipv4Addr],
        switch: PlaneView<dyn VipSwitch>,
    ) -> VipHolder {
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
                self.gratuitous_arp_for(&self.addresses);
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
    /// added (with a gratuitous ARP each) and the dropped ones removed, the others untouched, so
    /// the VIPs that stay never leave the interface. DSR: the plane's own snapshot carries the
    /// servers' addresses.
    pub fn set_addresses(&mut self, addresses: &[Ipv4Addr]) {
        let added: Vec<Ipv4Addr> = addresses
            .iter()
            .filter(|a| !self.addresses.contains(a))
            .copied()
            .collect();
        let removed: Vec<Ipv4Addr> = self
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
        self.gratuitous_arp_for(&added);
    }

    /// What the node holds now: DSR, the plane's switch (when the plane runs); proxy, whether
    /// the addresses were added.
    pub fn holds(&self) -> bool {
        match (self.mode, self.switch.current()) {
            (Mode::Dsr, Some(plane)) => plane.is_active(),
            _ => self.held,
        }
    }

    /// DSR: sets the plane's switch to what this node holds (a no-op when it already is).
    pub fn enforce(&self) {
        if self.mode != Mode::Dsr {
            return;
        }
        if let Some(plane) = self.switch.current() {
            if plane.is_active() != self.held {
                plane.set_active(self.held);
            }
        }
    }

    /// `ip addr add|del VIP/32 dev IF`, through rtnetlink (no process to start while a
    /// takeover waits on it).
    fn ip_addr(&self, verb: &str, vip: Ipv4Addr) {
        use fulcrum_sys::netlink::{addr_add, addr_del, Change};
        let result = if verb == "add" {
            addr_add(&self.interface, vip, 32)
        } else {
            addr_del(&self.interface, vip, 32)
        };
        match result {
            Ok(Change::Done) => tracing::info!("vrrp: {verb} {vip}/32 on {}", self.interface),
            // "add" of a present address and "del" of an absent one are the wanted state.
            Ok(Change::AlreadySo) => {}
            Err(e) => tracing::error!("vrrp: ip addr {verb} {vip}/32 dev {}: {e}", self.interface),
        }
    }

    fn gratuitous_arp_for(&self, addresses: &[Ipv4Addr]) {
        if addresses.is_empty() {
            return;
        }
        let mac = match fulcrum_sys::packet::interface_mac(&self.interface) {
            Ok(mac) => EthernetAddress(mac),
            Err(e) => {
                tracing::warn!("vrrp: no gratuitous ARP on {}: {e}", self.interface);
                return;
            }
        };
        let sender = match fulcrum_sys::packet::FrameSender::open(&self.interface) {
            Ok(sender) => sender,
            Err(e) => {
                tracing::warn!("vrrp: no gratuitous ARP on {}: {e}", self.interface);
                return;
            }
        };
        for vip in addresses {
            let frame = arp::Repr::gratuitous(mac, *vip).to_frame(mac, EthernetAddress::BROADCAST);
            if let Err(e) = sender.send(&frame) {
                tracing::warn!("vrrp: gratuitous ARP for {vip}: {e}");
            }
        }
    }
}
